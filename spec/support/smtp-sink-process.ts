// A real SMTP server (nodemailer's smtp-server) run as its own process by
// spec/support/smtp-sink.ts: it accepts every message on 127.0.0.1 and prints
// one JSON line per message (envelope and raw text) on stdout.
import { SMTPServer } from "smtp-server";

const port = Number(process.argv[2] ?? 0);
const server = new SMTPServer({
  authOptional: true,
  disabledCommands: ["AUTH", "STARTTLS"],
  logger: false,
  onData(stream, session, callback) {
    const chunks: Buffer[] = [];
    stream.on("data", (c: Buffer) => chunks.push(c));
    stream.on("end", () => {
      const to = session.envelope.rcptTo.map((r) => r.address);
      const from = session.envelope.mailFrom === false ? null : session.envelope.mailFrom.address;
      process.stdout.write(`${JSON.stringify({ event: "mail", from, to, raw: Buffer.concat(chunks).toString("utf8") })}\n`);
      callback();
    });
  },
});
server.listen(port, "127.0.0.1", () => {
  const address = server.server.address();
  process.stdout.write(`${JSON.stringify({ event: "listening", port: typeof address === "object" && address ? address.port : port })}\n`);
});
process.on("SIGTERM", () => server.close(() => process.exit(0)));
