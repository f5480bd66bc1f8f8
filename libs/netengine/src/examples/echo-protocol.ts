import type { ProtocolHandler, SessionEvent } from "../handler.js";
import type { DisconnectInfo } from "../reasons.js";
import type { Session } from "../session/session.js";

/**
 * The seed's EchoServerProtocol: every frame is sent back to its sender. Any frame is valid, so
 * the first one establishes the session (ends its pre-auth deadline). Echoing is the default
 * action: a chained sink can inspect frames and `preventDefault()` to stop an echo.
 */
export class EchoServerProtocol implements ProtocolHandler {
  onFrame(session: Session, _frame: Uint8Array, _ev: SessionEvent): void {
    session.markEstablished();
  }

  defaultFrame(session: Session, frame: Uint8Array): void {
    session.send(frame);
  }
}

/** Callbacks through which the echo client talks to its application. */
export interface EchoClientApplication {
  connected?(session: Session): void;
  echoed(session: Session, frame: Uint8Array): void;
  disconnected?(session: Session, info: DisconnectInfo): void;
}

/**
 * The seed's EchoClientProtocol: hands the application each echoed frame. The application sends
 * with `session.send()`.
 */
export class EchoClientProtocol implements ProtocolHandler {
  readonly #app: EchoClientApplication;

  constructor(app: EchoClientApplication) {
    this.#app = app;
  }

  onConnected(session: Session): void {
    this.#app.connected?.(session);
  }

  onFrame(session: Session, frame: Uint8Array): void {
    this.#app.echoed(session, frame);
  }

  onDisconnected(session: Session, info: DisconnectInfo): void {
    this.#app.disconnected?.(session, info);
  }
}
