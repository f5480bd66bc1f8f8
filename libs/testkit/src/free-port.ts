import net from "node:net";

/**
 * A TCP port that was free a moment ago: binds port 0 on `host`, reads the port the OS chose, closes.
 * Another process may take it before you bind it; prefer listening on port 0 yourself where you can.
 * @param host address to bind. Default `127.0.0.1`.
 */
export function freePort(host = "127.0.0.1"): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.unref();
    server.once("error", reject);
    server.listen({ host, port: 0, exclusive: true }, () => {
      const address = server.address();
      const port = typeof address === "object" && address !== null ? address.port : 0;
      server.close((error) => (error ? reject(error) : resolve(port)));
    });
  });
}
