// Sends one validation mail. Idempotent: PostgreSQL says whether this
// session's current token is still the one in the payload and whether its
// mail went out already; failures are recorded there (requestToken answers
// from them) and thrown so BullMQ retries.
import { createHash } from "node:crypto";
import type { EmailConfig, EmailPurpose } from "../../server/config/schema.ts";
import type { Mailer } from "../../server/mail/mailer.ts";
import { validationMail } from "../../server/mail/mailer.ts";
import type { Database } from "../../server/storage/database.ts";
import { getValidationSession, recordMailFailure, recordMailSent } from "../../server/storage/threepids.ts";
import type { JobHandler } from "../bullmq.ts";
import type { EmailValidationPayload } from "./queue.ts";

export interface EmailHandlerDeps {
  db: Database;
  mailer: Mailer;
  email: EmailConfig;
  serverName: string;
  /** Builds the link the mail carries (the submit_token page on our client listener). */
  link(session: { sessionId: string; clientSecret: string }, token: string): string;
}

export function createEmailValidationHandler(deps: EmailHandlerDeps): JobHandler<EmailValidationPayload> {
  return async (payload) => {
    const session = await getValidationSession(deps.db, payload.sessionId);
    const hash = createHash("sha256").update(payload.token).digest();
    // Gone, validated, or re-sent with another token: nothing to do.
    if (!session || session.sendAttempt !== payload.sendAttempt || !session.tokenHash?.equals(hash)) return;
    if (session.mailSentAttempt === session.sendAttempt) return;
    const mail = validationMail(deps.email, session.purpose as EmailPurpose, {
      to: session.address,
      serverName: deps.serverName,
      link: deps.link(session, payload.token),
      token: payload.token,
    });
    try {
      await deps.mailer.send(mail);
    } catch (err) {
      // The SMTP error text names the server and the reply, never our credentials.
      await recordMailFailure(deps.db, session.sessionId, session.sendAttempt, err instanceof Error ? err.message : String(err));
      throw err;
    }
    await recordMailSent(deps.db, session.sessionId, session.sendAttempt);
  };
}
