/**
 * Edge suite, TLS: echo over TLS and wss with a certificate made at test time, through the engine's
 * connector and through independent clients, and the deny list refusing before the handshake.
 * Runs over TCP (TLS) and WebSocket (wss).
 */
import assert from "node:assert/strict";
import { mkdtemp, rm } from "node:fs/promises";
import { createServer, isIP, type Socket } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it, type TestContext } from "node:test";
import {
  AddressList,
  connect,
  EchoClientProtocol,
  NetEngineError,
  NetEngineErrorCode,
  parseIp,
  RejectReason,
  type Session,
  TransportKind,
} from "../src/index.js";
import {
  captureClientHello,
  delay,
  EdgeKit,
  LOOPBACK,
  RecordingEcho,
  selfSignedCert,
  TRANSPORTS,
  type TransportName,
  waitUntil,
  within,
} from "./helpers/edge-kit.js";

let dir: string | undefined;
let pem: { key: Buffer; cert: Buffer } | undefined;
let clientHello: Buffer;

before(async () => {
  dir = await mkdtemp(join(tmpdir(), "netengine-edge-tls-"));
  pem = await selfSignedCert(dir);
  clientHello = await captureClientHello();
});
after(async () => {
  if (dir !== undefined) await rm(dir, { recursive: true, force: true });
});

/** The certificate, or undefined after marking the test skipped. */
function certOrSkip(t: TestContext): { key: Buffer; cert: Buffer } | undefined {
  if (pem === undefined) t.skip("openssl is not available: cannot make a test certificate");
  return pem;
}

const SECURE: Record<TransportName, TransportKind> = {
  tcp: TransportKind.Tls,
  ws: TransportKind.SecureWebSocket,
};

/** Echoes through the engine's own connector and returns the client session's transport. */
async function engineEcho(
  kit: EdgeKit,
  transport: TransportName,
  port: number,
  tls: import("node:tls").ConnectionOptions,
): Promise<void> {
  const echoed: Buffer[] = [];
  const session: Session = await connect({
    transport,
    host: LOOPBACK,
    port,
    tls,
    handler: new EchoClientProtocol({ echoed: (_s, frame) => void echoed.push(Buffer.from(frame)) }),
  });
  kit.defer(() => session.close());
  assert.equal(session.transport, SECURE[transport]);
  session.send(Buffer.from("secret"));
  await waitUntil(() => echoed.length === 1, 10_000, "the echo over TLS");
  assert.equal(echoed[0]?.toString(), "secret");
}

/**
 * The host name of the server_name extension (RFC 6066) of a ClientHello record, or undefined when
 * the hello carries none.
 */
function sniHostName(hello: Buffer): string | undefined {
  // record header (5), handshake header (4), version (2), random (32)
  let pos = 5 + 4 + 2 + 32;
  pos += 1 + (hello[pos] as number); // session id
  pos += 2 + hello.readUInt16BE(pos); // cipher suites
  pos += 1 + (hello[pos] as number); // compression methods
  const end = pos + 2 + hello.readUInt16BE(pos);
  pos += 2;
  while (pos + 4 <= end) {
    const type = hello.readUInt16BE(pos);
    const length = hello.readUInt16BE(pos + 2);
    if (type === 0) {
      // server_name_list (2), name_type (1), host_name length (2), host_name
      const nameLength = hello.readUInt16BE(pos + 4 + 3);
      return hello.subarray(pos + 4 + 5, pos + 4 + 5 + nameLength).toString("latin1");
    }
    pos += 4 + length;
  }
  return undefined;
}

/** The ClientHello the engine's connector sends to `127.0.0.1` (captured by a plain TCP server). */
async function connectorClientHello(kit: EdgeKit, transport: TransportName): Promise<Buffer> {
  const sockets: Socket[] = [];
  const server = createServer((s) => void sockets.push(s));
  await new Promise<void>((resolve) => server.listen(0, LOOPBACK, resolve));
  kit.defer(() => new Promise((resolve) => server.close(resolve)));
  kit.defer(() => {
    for (const s of sockets) s.destroy();
  });
  const hello = new Promise<Buffer>((resolve) =>
    server.once("connection", (s: Socket) => s.once("data", (chunk: Buffer) => resolve(chunk))),
  );
  const attempt = connect({
    transport,
    host: LOOPBACK,
    port: (server.address() as { port: number }).port,
    tls: { rejectUnauthorized: false },
    connectTimeoutMs: 10_000,
    handler: new EchoClientProtocol({ echoed() {} }),
  }).catch(() => undefined);
  const bytes = await within(hello, 10_000, "the connector's ClientHello");
  for (const s of sockets) s.destroy();
  await attempt;
  return bytes;
}

for (const { transport } of TRANSPORTS) {
  describe(`edge over ${transport}: TLS`, () => {
    it("tls - echoes through the connector with rejectUnauthorized: false", async (t) => {
      const cert = certOrSkip(t);
      if (cert === undefined) return;
      const kit = new EdgeKit(t);
      const echo = new RecordingEcho();
      const listener = await kit.listen({ transport, handler: echo, tls: cert });
      assert.equal(listener.transport, SECURE[transport]);
      await engineEcho(kit, transport, listener.port, { rejectUnauthorized: false });
      assert.equal(echo.accepted[0]?.transport, SECURE[transport]);
    });

    it("tls - echoes through the connector trusting the certificate as its CA", async (t) => {
      const cert = certOrSkip(t);
      if (cert === undefined) return;
      const kit = new EdgeKit(t);
      const listener = await kit.listen({ transport, handler: new RecordingEcho(), tls: cert });
      await engineEcho(kit, transport, listener.port, { ca: cert.cert, servername: "localhost" });
    });

    it("tls - an independent client (node:tls / ws over wss) echoes", async (t) => {
      const cert = certOrSkip(t);
      if (cert === undefined) return;
      const kit = new EdgeKit(t);
      const listener = await kit.listen({ transport, handler: new RecordingEcho(), tls: cert });
      const client = await kit.openClient(transport, listener.port, {
        tls: { ca: cert.cert, servername: "localhost" },
      });
      for (const text of ["a", "bb", "ccc"]) client.send(Buffer.from(text));
      for (const text of ["a", "bb", "ccc"]) assert.equal((await client.nextFrame()).toString(), text);
    });

    it("tls - a client that does not trust the certificate cannot connect", async (t) => {
      const cert = certOrSkip(t);
      if (cert === undefined) return;
      const kit = new EdgeKit(t);
      const echo = new RecordingEcho();
      const listener = await kit.listen({ transport, handler: echo, tls: cert });
      await assert.rejects(
        connect({
          transport,
          host: LOOPBACK,
          port: listener.port,
          tls: true,
          handler: new EchoClientProtocol({ echoed() {} }),
        }),
        (error: unknown) =>
          error instanceof NetEngineError && error.code === NetEngineErrorCode.ConnectFailed,
      );
      assert.equal(echo.frames.length, 0);
    });

    it("tls - the connector sends no IP address as SNI server name (RFC 6066 3)", async (t) => {
      const kit = new EdgeKit(t);
      const hello = await connectorClientHello(kit, transport);
      assert.equal(hello[0], 0x16, "not a TLS handshake record");
      const name = sniHostName(hello);
      assert.ok(name === undefined || isIP(name) === 0, `SNI server name is the IP address ${name}`);
    });

    it("tls - closed TLS sessions release their per-IP slots", async (t) => {
      const cert = certOrSkip(t);
      if (cert === undefined) return;
      const kit = new EdgeKit(t);
      const echo = new RecordingEcho();
      const listener = await kit.listen({
        transport,
        handler: echo,
        tls: cert,
        guard: { maxConnectionsPerIp: 2, maxNewConnectionsPerIpPerSecond: 1000, tolerance: false },
      });
      const ip = parseIp(LOOPBACK);
      for (let i = 0; i < 5; i++) {
        const client = await kit.openClient(transport, listener.port, { tls: { rejectUnauthorized: false } });
        client.send(Buffer.from(`round ${i}`));
        assert.equal((await client.nextFrame()).toString(), `round ${i}`);
        client.end();
        await within(client.closed, 10_000, "the client's close");
        await waitUntil(() => listener.guard?.openConnections(ip) === 0, 10_000, "the slot to be released");
      }
      assert.equal(listener.stats().rejected.too_many_connections, 0);
      assert.equal(echo.accepted.length, 5);
    });

    it("tls - the deny list refuses before the TLS handshake", async (t) => {
      const cert = certOrSkip(t);
      if (cert === undefined) return;
      const kit = new EdgeKit(t);

      // Control: the same ClientHello to a listener that lets the client in gets a ServerHello.
      const open = await kit.listen({ transport, handler: new RecordingEcho(), tls: cert });
      const control = await kit.rawSocket(open.port);
      control.socket.write(clientHello);
      await waitUntil(() => control.bytesReceived() > 0, 10_000, "the control's ServerHello");
      assert.equal(control.received[0]?.[0], 0x16, "the control's answer is not a TLS handshake record");

      const echo = new RecordingEcho();
      const denied = await kit.listen({
        transport,
        handler: echo,
        tls: cert,
        guard: { deny: new AddressList(["127.0.0.0/8"]) },
      });
      const raw = await kit.rawSocket(denied.port);
      raw.socket.write(clientHello);
      await within(raw.closed, 10_000, "the denied socket to be closed");
      await delay(100);
      assert.equal(raw.bytesReceived(), 0, "the denied peer got TLS bytes back");
      assert.equal(echo.accepted.length, 0);

      await assert.rejects(
        connect({
          transport,
          host: LOOPBACK,
          port: denied.port,
          tls: { rejectUnauthorized: false },
          handler: new EchoClientProtocol({ echoed() {} }),
        }),
        (error: unknown) =>
          error instanceof NetEngineError && error.code === NetEngineErrorCode.ConnectFailed,
      );
      const stats = denied.stats();
      assert.equal(stats.rejected[RejectReason.Denied], 2);
      assert.equal(stats.accepted, 0);
      assert.equal(stats.sessionsOpened, 0);
    });
  });
}
