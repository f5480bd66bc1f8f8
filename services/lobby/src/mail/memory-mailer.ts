import type { Mailer, MailMessage } from "./mailer.js";

/**
 * A mailer that keeps every message in memory, in the order sent: for tests and for embedders that
 * deliver mail themselves. Messages are copied and frozen on `send`.
 */
export class MemoryMailer implements Mailer {
  readonly #sent: MailMessage[] = [];

  /** Every message sent so far, oldest first. */
  get messages(): readonly MailMessage[] {
    return [...this.#sent];
  }

  /** The messages sent to `address` (compared exactly), oldest first. */
  sentTo(address: string): readonly MailMessage[] {
    return this.#sent.filter((m) => m.to === address);
  }

  /** Forgets every message. */
  clear(): void {
    this.#sent.length = 0;
  }

  async send(message: MailMessage): Promise<void> {
    this.#sent.push(Object.freeze({ to: message.to, subject: message.subject, text: message.text }));
  }
}
