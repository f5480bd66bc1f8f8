export { LogMailer } from "./log-mailer.js";
export type { Mailer, MailMessage } from "./mailer.js";
export { MemoryMailer } from "./memory-mailer.js";
