#!/usr/bin/env node
/**
 * Echo server and client from the command line, over TCP and WebSocket.
 *
 *   echo-cli server [--transport tcp|ws|both] [--host H] [--port P] [--ws-port P]
 *   echo-cli client [--transport tcp|ws] [--host H] --port P [--message TEXT] [--count N]
 *
 * Frames on TCP are length-prefixed (4-byte big-endian length). The server stops gracefully on
 * SIGINT / SIGTERM: it stops accepting and says goodbye to every session.
 */
import { parseArgs } from "node:util";
import { connect, listen } from "../engine.js";
import type { Listener } from "../listener.js";
import { EchoClientProtocol, EchoServerProtocol } from "./echo-protocol.js";

const usage = `usage:
  echo-cli server [--transport tcp|ws|both] [--host H] [--port P] [--ws-port P]
  echo-cli client [--transport tcp|ws] [--host H] --port P [--message TEXT] [--count N]`;

async function main(argv: string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: {
      transport: { type: "string", default: "tcp" },
      host: { type: "string", default: "127.0.0.1" },
      port: { type: "string" },
      "ws-port": { type: "string" },
      message: { type: "string", default: "hello, netengine" },
      count: { type: "string", default: "3" },
      help: { type: "boolean", default: false },
    },
  });
  const mode = positionals[0];
  if (values.help || (mode !== "server" && mode !== "client")) {
    console.error(usage);
    return values.help ? 0 : 2;
  }
  const transport = values.transport;
  if (transport !== "tcp" && transport !== "ws" && !(mode === "server" && transport === "both")) {
    console.error(`unknown --transport ${transport}\n${usage}`);
    return 2;
  }
  const port = parsePort(values.port, mode === "server" ? 7400 : undefined);
  if (port === undefined) {
    console.error(`--port must be a port number\n${usage}`);
    return 2;
  }
  if (mode === "server") {
    const wsPort = parsePort(values["ws-port"], transport === "both" ? port + 1 : port);
    if (wsPort === undefined) {
      console.error(`--ws-port must be a port number\n${usage}`);
      return 2;
    }
    return server(transport as "tcp" | "ws" | "both", values.host, port, wsPort);
  }
  const count = Number(values.count);
  if (!Number.isSafeInteger(count) || count < 1) {
    console.error(`--count must be a positive integer\n${usage}`);
    return 2;
  }
  return client(transport as "tcp" | "ws", values.host, port, values.message, count);
}

function parsePort(text: string | undefined, fallback: number | undefined): number | undefined {
  if (text === undefined) return fallback;
  const port = Number(text);
  return Number.isInteger(port) && port >= 0 && port <= 65535 ? port : undefined;
}

async function server(
  transport: "tcp" | "ws" | "both",
  host: string,
  port: number,
  wsPort: number,
): Promise<number> {
  const handler = new EchoServerProtocol();
  const listeners: Listener[] = [];
  try {
    if (transport !== "ws") listeners.push(await listen({ transport: "tcp", host, port, handler }));
    if (transport !== "tcp") listeners.push(await listen({ transport: "ws", host, port: wsPort, handler }));
  } catch (error) {
    await Promise.all(listeners.map((l) => l.close({ goodbye: false })));
    throw error;
  }
  for (const l of listeners) console.log(`echo server listening: ${l.transport}://${l.host}:${l.port}`);
  console.log("stop with Ctrl-C (SIGINT) or SIGTERM");
  await new Promise<void>((resolve) => {
    process.once("SIGINT", resolve);
    process.once("SIGTERM", resolve);
  });
  console.log("shutting down: goodbye to every session");
  await Promise.all(listeners.map((l) => l.close({ goodbye: true, timeoutMs: 3000 })));
  for (const l of listeners) console.log(`${l.transport}: ${JSON.stringify(l.stats())}`);
  return 0;
}

async function client(
  transport: "tcp" | "ws",
  host: string,
  port: number,
  message: string,
  count: number,
): Promise<number> {
  let received = 0;
  let done: () => void = () => {};
  const finished = new Promise<void>((resolve) => (done = resolve));
  const session = await connect({
    transport,
    host,
    port,
    handler: new EchoClientProtocol({
      echoed(_session, frame) {
        received++;
        console.log(
          `echo ${received}/${count}: ${Buffer.from(frame.buffer, frame.byteOffset, frame.byteLength).toString("utf8")}`,
        );
        if (received === count) done();
      },
      disconnected(_session, info) {
        console.log(`disconnected: ${info.reason}`);
        done();
      },
    }),
  });
  for (let i = 1; i <= count; i++) session.send(Buffer.from(`${message} #${i}`));
  await finished;
  await session.goodbye();
  return received === count ? 0 : 1;
}

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (error: unknown) => {
    console.error(error);
    process.exitCode = 1;
  },
);
