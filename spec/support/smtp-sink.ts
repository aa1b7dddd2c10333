// Starts the SMTP sink (smtp-sink-process.ts) as a child process and collects
// what it receives, so e-mail tests go through real SMTP: our worker connects,
// the sink accepts, the test reads the mail and follows its link.
import { spawn, type ChildProcess } from "node:child_process";
import { resolve } from "node:path";
import { repoRoot } from "./repo-root.ts";

export interface ReceivedMail {
  from: string | null;
  to: string[];
  raw: string;
  subject: string;
  /** The decoded text body. */
  text: string;
}

export interface SmtpSink {
  port: number;
  mails: ReceivedMail[];
  /** The first mail to `address` after `since` mails, waiting for it. */
  waitForMail(address: string, options?: { since?: number; timeoutMs?: number }): Promise<ReceivedMail>;
  stop(): Promise<void>;
}

/** Quoted-printable (what nodemailer uses for long lines) back to text. */
function decodeQuotedPrintable(text: string): string {
  const bytes = text.replace(/=\r?\n/g, "").replace(/=([0-9A-F]{2})/gi, (_m, hex: string) => String.fromCharCode(parseInt(hex, 16)));
  return Buffer.from(bytes, "latin1").toString("utf8");
}

function parseMail(from: string | null, to: string[], raw: string): ReceivedMail {
  const split = raw.indexOf("\r\n\r\n");
  const head = raw.slice(0, split).replace(/\r\n[ \t]+/g, " ");
  const bodyText = raw.slice(split + 4);
  const header = (name: string) => new RegExp(`^${name}:\\s*(.*)$`, "im").exec(head)?.[1]?.trim() ?? "";
  const encoding = header("Content-Transfer-Encoding").toLowerCase();
  const text = encoding === "quoted-printable" ? decodeQuotedPrintable(bodyText) : encoding === "base64" ? Buffer.from(bodyText, "base64").toString("utf8") : bodyText;
  return { from, to, raw, subject: header("Subject"), text };
}

export async function startSmtpSink(port = 0): Promise<SmtpSink> {
  const child: ChildProcess = spawn(process.execPath, [resolve(repoRoot, "spec/support/smtp-sink-process.ts"), String(port)], { stdio: ["ignore", "pipe", "inherit"] });
  const mails: ReceivedMail[] = [];
  const waiters = new Set<() => void>();
  let partial = "";
  const listening = new Promise<number>((ready, fail) => {
    child.once("exit", (code) => fail(new Error(`SMTP sink exited (${code})`)));
    child.stdout!.on("data", (chunk: Buffer) => {
      partial += chunk.toString("utf8");
      const lines = partial.split("\n");
      partial = lines.pop() ?? "";
      for (const line of lines) {
        const entry = JSON.parse(line) as { event: string; port?: number; from?: string | null; to?: string[]; raw?: string };
        if (entry.event === "listening") ready(entry.port!);
        if (entry.event === "mail") {
          mails.push(parseMail(entry.from ?? null, entry.to ?? [], entry.raw ?? ""));
          for (const wake of waiters) wake();
        }
      }
    });
  });
  const boundPort = await listening;
  return {
    port: boundPort,
    mails,
    async waitForMail(address, options = {}) {
      const since = options.since ?? 0;
      const deadline = Date.now() + (options.timeoutMs ?? 15_000);
      for (;;) {
        const found = mails.slice(since).find((m) => m.to.includes(address));
        if (found) return found;
        const left = deadline - Date.now();
        if (left <= 0) throw new Error(`no mail to ${address} within the time (${mails.length} received)`);
        await new Promise<void>((wake) => {
          const timer = setTimeout(done, left);
          function done() {
            clearTimeout(timer);
            waiters.delete(done);
            wake();
          }
          waiters.add(done);
        });
      }
    },
    async stop() {
      if (child.exitCode !== null || child.signalCode !== null) return;
      const exited = new Promise((done) => child.once("exit", done));
      child.kill("SIGTERM");
      await exited;
    },
  };
}

/** The validation link in a mail's text. */
export function linkIn(mail: ReceivedMail): URL {
  const match = /https?:\/\/\S+\/_synapse\/client\/email\/submit_token\?\S+/.exec(mail.text);
  if (!match) throw new Error(`no validation link in: ${mail.text}`);
  return new URL(match[0]);
}
