// Token-authenticated registration (spec: "Token-authenticated registration",
// the m.login.registration_token stage). Accounting follows Synapse: passing
// the stage reserves a use (`pending`), creating the account turns it into a
// `completed` use, and an abandoned session's reservation lapses.
import { randomInt } from "node:crypto";
import { MatrixError } from "../errors/matrix-error.ts";
import type { Database, Queryable } from "../storage/database.ts";
import {
  consumeReservation,
  extendReservation,
  isRegistrationTokenValid,
  releaseExpiredReservations,
  reservationOf,
  reserveToken,
} from "../storage/registration-tokens.ts";

/**
 * How long a reservation outlives the stage. UIA sessions expire 15 minutes
 * after their last request; four times that leaves any live flow its use
 * while an abandoned one gives it back within the hour.
 */
export const RESERVATION_TTL_MS = 60 * 60 * 1000;

/** Characters Synapse allows in a token, and its limit on length. */
export const TOKEN_CHARS = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789._~-";
export const MAX_TOKEN_LENGTH = 64;
const TOKEN_PATTERN = /^[A-Za-z0-9._~-]{1,64}$/;

export function isWellFormedToken(token: string): boolean {
  return TOKEN_PATTERN.test(token);
}

export function generateToken(length: number): string {
  let out = "";
  for (let i = 0; i < length; i++) out += TOKEN_CHARS[randomInt(TOKEN_CHARS.length)];
  return out;
}

/**
 * The m.login.registration_token stage. A repeated call for a session that
 * already holds a use of the same token succeeds without taking another.
 */
export async function checkRegistrationTokenStage(db: Database, auth: Record<string, unknown>, now = Date.now()): Promise<void> {
  const token = auth.token;
  if (token === undefined) throw new MatrixError(400, "M_MISSING_PARAM", "Missing registration token");
  if (typeof token !== "string") throw new MatrixError(400, "M_INVALID_PARAM", "Registration token must be a string");
  const session = auth.session;
  if (typeof session !== "string") throw new MatrixError(400, "M_MISSING_PARAM", "Missing UIA session");
  await db.transaction(async (tx) => {
    await releaseExpiredReservations(tx, now);
    const held = await reservationOf(tx, session);
    if (held !== undefined) {
      if (held !== token) throw new MatrixError(400, "M_INVALID_PARAM", "Registration token has changed");
      await extendReservation(tx, session, now + RESERVATION_TTL_MS);
      return;
    }
    if (!(await reserveToken(tx, session, token, now, now + RESERVATION_TTL_MS))) {
      throw new MatrixError(401, "M_UNAUTHORIZED", "Invalid registration token");
    }
  });
}

/**
 * Inside the account-creating transaction: the session's pending use becomes
 * completed. Throws when the reservation has lapsed, so the transaction (and
 * the account) is rolled back rather than exceed the token's uses.
 */
export async function completeRegistrationToken(tx: Queryable, sessionId: string | undefined): Promise<void> {
  if (sessionId === undefined || !(await consumeReservation(tx, sessionId))) {
    throw new MatrixError(403, "M_FORBIDDEN", "The registration token reservation has expired; start registration again");
  }
}

/** Point-in-time validity for GET /register/m.login.registration_token/validity. */
export async function registrationTokenValid(db: Database, token: string, now = Date.now()): Promise<boolean> {
  await releaseExpiredReservations(db, now);
  return isRegistrationTokenValid(db, token, now);
}
