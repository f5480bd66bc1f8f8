import { isIP, connect as netConnect, type Socket } from "node:net";
import { createSecureContext, type SecureContext, TLSSocket, connect as tlsConnect } from "node:tls";
import { NetEngineError, NetEngineErrorCode } from "../errors.js";
import type { SessionHub } from "../hub.js";
import { type Admission, BaseListener } from "../listener.js";
import type { ListenOptions, ResolvedSessionOptions } from "../options.js";
import { TransportKind } from "../session/session.js";
import { TcpSession } from "./tcp-session.js";

/** A TCP (or TLS) listener: sessions framed by the configured framer. */
export class TcpListener<U = unknown> extends BaseListener<U> {
  readonly transport: TransportKind;
  readonly #secureContext: SecureContext | undefined;

  constructor(options: ListenOptions<U>) {
    super(options);
    this.#secureContext = options.tls === undefined ? undefined : createSecureContext(options.tls);
    this.transport = this.#secureContext === undefined ? TransportKind.Tcp : TransportKind.Tls;
  }

  protected adopt(raw: Socket, admission: Admission): void {
    const remoteAddress = raw.remoteAddress ?? "";
    const remotePort = raw.remotePort ?? 0;
    let socket: Socket = raw;
    if (this.#secureContext !== undefined) {
      // The guard ran on the raw socket; TLS starts only for admitted peers.
      socket = new TLSSocket(raw, { isServer: true, secureContext: this.#secureContext });
      socket.on("error", () => {});
      // The TLS socket owns the handle now; closing the raw one fires the admission's release.
      socket.once("close", () => raw.destroy());
    }
    socket.setNoDelay(this.options.noDelay);
    const session = new TcpSession<U>(this.hub, socket, this.options.framer, {
      transport: this.transport,
      role: "server",
      remoteAddress,
      remotePort,
    });
    this.openSession(session, admission);
    if (socket === raw) raw.resume();
  }
}

/** Connects one TCP (or TLS) session. Internal: `Connector` calls it. */
export function connectTcp<U>(
  hub: SessionHub<U>,
  options: ResolvedSessionOptions<U>,
  target: { host: string; port: number; tls: boolean | import("node:tls").ConnectionOptions | undefined },
  connectTimeoutMs: number,
): Promise<TcpSession<U>> {
  return new Promise((resolve, reject) => {
    const secure = target.tls !== undefined && target.tls !== false;
    const tlsOptions = typeof target.tls === "object" ? target.tls : {};
    const socket: Socket = secure
      ? tlsConnect({
          // SNI carries host names only (RFC 6066 §3); certificate checks fall back to `host`.
          ...(isIP(target.host) === 0 ? { servername: target.host } : {}),
          ...tlsOptions,
          host: target.host,
          port: target.port,
        })
      : netConnect({ host: target.host, port: target.port, noDelay: options.noDelay });
    const timer = setTimeout(
      () => fail(new Error(`connect timeout after ${connectTimeoutMs} ms`)),
      connectTimeoutMs,
    );
    const fail = (error: Error): void => {
      clearTimeout(timer);
      socket.destroy();
      reject(
        new NetEngineError(
          NetEngineErrorCode.ConnectFailed,
          `cannot connect to ${target.host}:${target.port}`,
          {
            cause: error,
            context: { host: target.host, port: target.port, transport: secure ? "tls" : "tcp" },
          },
        ),
      );
    };
    socket.once("error", fail);
    socket.once(secure ? "secureConnect" : "connect", () => {
      clearTimeout(timer);
      socket.off("error", fail);
      socket.setNoDelay(options.noDelay);
      const session = new TcpSession<U>(hub, socket, options.framer, {
        transport: secure ? TransportKind.Tls : TransportKind.Tcp,
        role: "client",
        remoteAddress: socket.remoteAddress ?? target.host,
        remotePort: socket.remotePort ?? target.port,
      });
      hub.open(session);
      resolve(session);
    });
  });
}
