// Proving control of an e-mail address (spec "Adding Account Administrative
// Contact Information", "m.login.email.identity"): requestToken starts or
// re-sends a session, the worker mails a link, following the link validates
// the session, and one operation (registration, password reset, adding the
// address) then consumes it.
//
// Tokens are 32 random bytes, stored as SHA-256 and valid for
// email.validation_token_lifetime_ms; following the link spends the token.
// A request with a send_attempt no higher than the session's sends nothing
// and answers the same sid (the spec's retry rule). Only a new mail costs a
// rate-limit token, keyed by the address so nobody can flood an inbox.
import { createHash, randomBytes, timingSafeEqual } from "node:crypto";
import type { EmailConfig, EmailPurpose } from "../config/schema.ts";
import { invalidParam, MatrixError } from "../errors/matrix-error.ts";
import type { Database, Queryable } from "../storage/database.ts";
import { consumeValidatedSession, deleteExpiredSessions, findValidationSession, getValidationSession, markValidated, recordSend, validatedSession } from "../storage/threepids.ts";
import type { EmailValidationPayload } from "../../workers/email/queue.ts";

/** The worker port: queue one validation mail (workers/email/queue.ts). */
export interface EmailJobs {
  validation(payload: EmailValidationPayload): Promise<void>;
}

export const EMAIL = "email";
/** Synapse's bound on an address (RFC 5321's path limit). */
const MAX_ADDRESS_LENGTH = 254;
const POLL_MS = 100;

/** Synapse's canonical form: trimmed, the whole address lower-cased (case variants are one address). */
export function canonicalEmail(raw: string): string {
  const address = raw.trim();
  const parts = address.split("@");
  if (address.length > MAX_ADDRESS_LENGTH || parts.length !== 2 || !parts[0] || !parts[1] || /\s/.test(address) || !parts[1].includes(".")) {
    throw invalidParam("The email address given was not valid");
  }
  return address.toLowerCase();
}

const hashToken = (token: string) => createHash("sha256").update(token).digest();

export interface TokenRequest {
  purpose: EmailPurpose;
  clientSecret: string;
  address: string;
  sendAttempt: number;
  nextLink?: string;
}

export interface EmailValidationDeps {
  db: Database;
  email: EmailConfig;
  jobs: EmailJobs;
  /** Spends a rate-limit token for a new mail to `address`; throws 429 when none is left. */
  limitMail(address: string): Promise<void>;
  clock?: () => number;
}

export function createEmailValidation(deps: EmailValidationDeps) {
  const { db, email } = deps;
  const now = deps.clock ?? Date.now;

  /** Waits for the first attempt of this mail: sent, failed, or still queued when the wait ends. */
  async function firstOutcome(sessionId: string, sendAttempt: number): Promise<"sent" | "failed" | "queued"> {
    const deadline = now() + email.send_wait_ms;
    for (;;) {
      const session = await getValidationSession(db, sessionId);
      if (!session || session.sendAttempt !== sendAttempt) return "queued";
      if (session.mailSentAttempt === sendAttempt) return "sent";
      if (session.mailFailures > 0) return "failed";
      if (now() >= deadline) return "queued";
      await new Promise((done) => setTimeout(done, POLL_MS));
    }
  }

  return {
    /**
     * Starts or re-sends a validation and answers its sid. When the mail
     * server refuses the first attempt, answers 502 M_EMAIL_SEND_ERROR: the job
     * keeps retrying, and a repeat with the same send_attempt answers the sid.
     */
    async requestToken(request: TokenRequest): Promise<string> {
      const key = { clientSecret: request.clientSecret, medium: EMAIL, address: request.address, purpose: request.purpose };
      const existing = await findValidationSession(db, key);
      if (existing && request.sendAttempt <= existing.sendAttempt) return existing.sessionId;
      await deps.limitMail(request.address);
      const token = randomBytes(32).toString("base64url");
      const at = now();
      const sessionId = await db.transaction(async (tx) => {
        const current = await findValidationSession(tx, key, true);
        // Another request with this attempt won the race: its mail is the one.
        if (current && request.sendAttempt <= current.sendAttempt) return { sessionId: current.sessionId, queued: false };
        const sid = await recordSend(tx, {
          sessionId: current?.sessionId ?? randomBytes(24).toString("base64url"),
          ...key,
          sendAttempt: request.sendAttempt,
          tokenHash: hashToken(token),
          tokenExpiresTs: at + email.validation_token_lifetime_ms,
          nextLink: request.nextLink ?? null,
          now: at,
        });
        return { sessionId: sid, queued: true };
      });
      if (!sessionId.queued) return sessionId.sessionId;
      await deps.jobs.validation({ sessionId: sessionId.sessionId, sendAttempt: request.sendAttempt, token });
      if ((await firstOutcome(sessionId.sessionId, request.sendAttempt)) === "failed") {
        throw new MatrixError(502, "M_EMAIL_SEND_ERROR", "The validation email could not be sent; it will be tried again");
      }
      // Expired sessions go lazily, here rather than on a timer.
      void deleteExpiredSessions(db, at).catch(() => undefined);
      return sessionId.sessionId;
    },

    /**
     * The link was followed (or the token submitted): validates the session
     * and spends the token. Unknown session, wrong secret or token, a spent
     * token and an expired one are all refused alike.
     */
    async submitToken(params: { sessionId: string; clientSecret: string; token: string }): Promise<{ nextLink: string | null }> {
      const session = await getValidationSession(db, params.sessionId);
      const refused = () => new MatrixError(400, "M_THREEPID_AUTH_FAILED", "This validation link is invalid, used or expired");
      if (!session || session.clientSecret !== params.clientSecret || session.tokenHash === null) throw refused();
      const offered = hashToken(params.token);
      if (!timingSafeEqual(offered, session.tokenHash)) throw refused();
      if (session.tokenExpiresTs <= now()) throw refused();
      await markValidated(db, session.sessionId, now());
      return { nextLink: session.nextLink };
    },

    /** The address a validated session proves for `purpose`, leaving the session for `consume`. */
    async check(creds: { sessionId: string; clientSecret: string }, purpose: EmailPurpose): Promise<string> {
      const found = await validatedSession(db, { ...creds, purpose }, now());
      if (!found) throw new MatrixError(400, "M_THREEPID_AUTH_FAILED", "No validated email session found; follow the link in the email first");
      return found.address;
    },

    /** Takes the validated session once; a second use finds nothing. */
    async consume(creds: { sessionId: string; clientSecret: string }, purpose: EmailPurpose, q: Queryable = db): Promise<{ address: string; validatedTs: number }> {
      const found = await consumeValidatedSession(q, { ...creds, purpose }, now());
      if (!found) throw new MatrixError(400, "M_THREEPID_AUTH_FAILED", "No validated email session found; follow the link in the email first");
      return { address: found.address, validatedTs: found.validatedTs };
    },
  };
}

export type EmailValidation = ReturnType<typeof createEmailValidation>;

/** `threepid_creds` (or the older `threePidCreds`) of an m.login.email.identity auth dict. */
export function threepidCreds(auth: Record<string, unknown>): { sessionId: string; clientSecret: string } {
  const creds = auth.threepid_creds ?? auth.threePidCreds;
  if (creds === null || typeof creds !== "object" || Array.isArray(creds)) throw new MatrixError(400, "M_MISSING_PARAM", "threepid_creds is required");
  const { sid, client_secret: clientSecret } = creds as Record<string, unknown>;
  if (typeof sid !== "string" || typeof clientSecret !== "string") throw new MatrixError(400, "M_MISSING_PARAM", "threepid_creds needs sid and client_secret");
  return { sessionId: sid, clientSecret };
}
