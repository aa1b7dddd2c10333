// Queue email-validation: one job per validation mail. The job id carries the
// token's hash prefix, so a mail re-made with a new token (a new send_attempt,
// or the start-up sweep) is a new job, while the old one finds itself
// superseded and sends nothing.
import { createHash } from "node:crypto";
import type { QueueDefinition } from "../bullmq.ts";

export interface EmailValidationPayload {
  sessionId: string;
  sendAttempt: number;
  /** The token the link carries. PostgreSQL holds only its hash; this payload lives until the mail is accepted. */
  token: string;
}

export const emailValidationQueue: QueueDefinition<EmailValidationPayload> = {
  name: "email-validation",
  jobId: (p) => `mail-${p.sessionId}-${p.sendAttempt}-${createHash("sha256").update(p.token).digest("hex").slice(0, 16)}`,
  // A mail server down for a while: 2 s, 4 s, 8 s … between attempts (email.send_attempts in all).
  options: { backoff: { type: "exponential", delay: 2000 } },
};
