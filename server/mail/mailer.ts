// Outgoing mail over SMTP (nodemailer), and the validation mails' text from
// the configured templates. Only the email worker sends; HTTP handlers queue.
import type { EmailConfig, EmailPurpose } from "../config/schema.ts";

export interface Mail {
  to: string;
  subject: string;
  text: string;
}

export interface Mailer {
  send(mail: Mail): Promise<void>;
  close(): void;
}

/** Loads nodemailer only here (about 20 MiB of RSS that a server without e-mail never needs). */
export async function createSmtpMailer(config: EmailConfig): Promise<Mailer> {
  const { default: nodemailer } = await import("nodemailer");
  const transport = nodemailer.createTransport({
    host: config.smtp_host,
    port: config.smtp_port,
    secure: config.force_tls,
    requireTLS: config.require_transport_security,
    ...(config.smtp_user !== undefined ? { auth: { user: config.smtp_user, pass: config.smtp_pass ?? "" } } : {}),
    connectionTimeout: config.smtp_timeout_ms,
    greetingTimeout: config.smtp_timeout_ms,
    socketTimeout: config.smtp_timeout_ms,
  });
  return {
    async send(mail) {
      await transport.sendMail({ from: config.notif_from, to: mail.to, subject: mail.subject, text: mail.text });
    },
    close() {
      transport.close();
    },
  };
}

/** "1 hour", "15 minutes": the link's lifetime as the mail states it. */
function describeLifetime(ms: number): string {
  const units: Array<[number, string]> = [
    [86_400_000, "day"],
    [3_600_000, "hour"],
    [60_000, "minute"],
    [1000, "second"],
  ];
  for (const [size, name] of units) {
    if (ms >= size && ms % size === 0) return `${ms / size} ${name}${ms / size === 1 ? "" : "s"}`;
  }
  return `${Math.round(ms / 1000)} seconds`;
}

/** The validation mail for a purpose: {server_name}, {link}, {token} and {lifetime} filled in. */
export function validationMail(config: EmailConfig, purpose: EmailPurpose, values: { to: string; serverName: string; link: string; token: string }): Mail {
  const template = config.templates[purpose];
  const fill = (text: string) =>
    text.replace(/\{(server_name|link|token|lifetime)\}/g, (_m, name: string) =>
      name === "server_name" ? values.serverName : name === "link" ? values.link : name === "token" ? values.token : describeLifetime(config.validation_token_lifetime_ms),
    );
  return { to: values.to, subject: fill(template.subject), text: fill(template.text) };
}
