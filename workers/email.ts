// The email worker (role worker:email): sends validation mails over SMTP, and
// at start re-queues the mails PostgreSQL says were never accepted (a Redis
// that lost its jobs loses no mail). PostgreSQL holds only token hashes, so a
// re-queued mail carries a new token, and the lost job, should it still run,
// finds itself superseded.
import { randomBytes, createHash } from "node:crypto";
import type { Logger } from "../server/observability/logger.ts";
import type { Database } from "../server/storage/database.ts";
import { replaceUnsentToken, unsentSessions } from "../server/storage/threepids.ts";
import type { JobHandler, JobQueues } from "./bullmq.ts";
import { emailValidationQueue, type EmailValidationPayload } from "./email/queue.ts";

export interface EmailWorkersDeps {
  queues: JobQueues;
  db: Database;
  handler: JobHandler<EmailValidationPayload>;
  attempts: number;
  log: Logger;
}

const SWEEP_BATCH = 1000;

export async function sweepEmailJobs(deps: Pick<EmailWorkersDeps, "queues" | "db" | "attempts" | "log">): Promise<number> {
  let queued = 0;
  for (const session of await unsentSessions(deps.db, Date.now(), SWEEP_BATCH)) {
    const token = randomBytes(32).toString("base64url");
    if (!(await replaceUnsentToken(deps.db, session.sessionId, session.sendAttempt, createHash("sha256").update(token).digest()))) continue;
    await deps.queues.enqueue(emailValidationQueue, { sessionId: session.sessionId, sendAttempt: session.sendAttempt, token }, { attempts: deps.attempts });
    queued += 1;
  }
  if (queued > 0) deps.log.info({ mails: queued }, "validation mails re-queued from PostgreSQL");
  return queued;
}

export async function startEmailWorkers(deps: EmailWorkersDeps): Promise<void> {
  // SMTP servers take a handful of connections; a few mails at once is plenty.
  deps.queues.work(emailValidationQueue, deps.handler, 2);
  await sweepEmailJobs(deps);
}
