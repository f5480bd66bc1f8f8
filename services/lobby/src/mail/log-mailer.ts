import type { Logger } from "pino";
import type { Mailer, MailMessage } from "./mailer.js";

/**
 * The development mailer: every message is logged (at `info`, whole, body included) through the
 * logger it is given, as a `mail` child logger. Never use it in production: password-reset messages
 * carry live reset tokens, and the log would then hold them.
 */
export class LogMailer implements Mailer {
  readonly #logger: Logger;

  /** @param logger the lobby's logger; messages go to its `{ subsystem: "mail" }` child. */
  constructor(logger: Logger) {
    this.#logger = logger.child({ subsystem: "mail" });
  }

  async send(message: MailMessage): Promise<void> {
    this.#logger.info(
      { to: message.to, subject: message.subject, text: message.text },
      "mail (not sent: development mailer)",
    );
  }
}
