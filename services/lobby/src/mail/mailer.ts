/**
 * Outgoing mail, as the lobby's features see it: one small interface with named implementations.
 * {@link LogMailer} (development: the message goes to the log) and {@link MemoryMailer} (tests and
 * embedders: messages are kept in memory) ship here; a real transport (SMTP, a provider's API)
 * implements {@link Mailer} in the slice that wires it. The lobby never builds mail headers itself:
 * `to` is a validated address with no whitespace, so nothing in a message can inject a header.
 */

/** One plain-text message. */
export interface MailMessage {
  /** The recipient's address (validated by the account store: no whitespace, one `@`). */
  readonly to: string;
  /** A one-line subject. */
  readonly subject: string;
  /** The plain-text body. */
  readonly text: string;
}

/** Sends mail. Implementations resolve once the message is handed over, and reject when it was not. */
export interface Mailer {
  send(message: MailMessage): Promise<void>;
}
