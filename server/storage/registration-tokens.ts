// Registration tokens and the per-session reservations behind their `pending`
// count (migrations/0007_registration_tokens.sql).
import type { Queryable } from "./database.ts";

export interface RegistrationToken {
  token: string;
  usesAllowed: number | null;
  pending: number;
  completed: number;
  expiryTime: number | null;
}

interface TokenRow {
  token: string;
  uses_allowed: number | null;
  pending: number;
  completed: number;
  expiry_time: number | null;
}

const fromRow = (r: TokenRow): RegistrationToken => ({
  token: r.token,
  usesAllowed: r.uses_allowed,
  pending: r.pending,
  completed: r.completed,
  expiryTime: r.expiry_time,
});

const COLUMNS = `token, uses_allowed, pending, completed, expiry_time`;

/** The validity rule, as SQL over a registration_tokens row (Synapse's rule). */
const VALID = `(uses_allowed IS NULL OR pending + completed < uses_allowed) AND (expiry_time IS NULL OR expiry_time > $1)`;

// Expired reservations give their pending use back, in one statement.
const SQL_RELEASE_EXPIRED = `
  WITH gone AS (
    DELETE FROM registration_token_reservations WHERE expires_ts <= $1 RETURNING token
  ), counts AS (
    SELECT token, count(*)::int AS n FROM gone GROUP BY token
  )
  UPDATE registration_tokens t SET pending = GREATEST(t.pending - counts.n, 0) FROM counts WHERE t.token = counts.token`;

const SQL_INSERT = `INSERT INTO registration_tokens (token, uses_allowed, expiry_time) VALUES ($1, $2, $3)
  ON CONFLICT DO NOTHING RETURNING ${COLUMNS}`;
const SQL_GET = `SELECT ${COLUMNS} FROM registration_tokens WHERE token = $1`;
const SQL_LIST_ALL = `SELECT ${COLUMNS} FROM registration_tokens ORDER BY token`;
const SQL_LIST_VALID = `SELECT ${COLUMNS} FROM registration_tokens WHERE ${VALID} ORDER BY token`;
const SQL_LIST_INVALID = `SELECT ${COLUMNS} FROM registration_tokens WHERE NOT (${VALID}) ORDER BY token`;
const SQL_DELETE = `DELETE FROM registration_tokens WHERE token = $1`;
const SQL_IS_VALID = `SELECT 1 FROM registration_tokens WHERE token = $2 AND ${VALID}`;
const SQL_RESERVATION = `SELECT token FROM registration_token_reservations WHERE session_id = $1`;
const SQL_EXTEND_RESERVATION = `UPDATE registration_token_reservations SET expires_ts = $2 WHERE session_id = $1`;
// Takes a pending use only while the token is still valid; the row lock of the
// UPDATE serialises concurrent reservations of the last use.
const SQL_TAKE_PENDING = `UPDATE registration_tokens SET pending = pending + 1 WHERE token = $2 AND ${VALID} RETURNING token`;
const SQL_INSERT_RESERVATION = `INSERT INTO registration_token_reservations (session_id, token, expires_ts) VALUES ($1, $2, $3)`;
const SQL_CONSUME_RESERVATION = `
  WITH r AS (DELETE FROM registration_token_reservations WHERE session_id = $1 RETURNING token)
  UPDATE registration_tokens t SET pending = GREATEST(t.pending - 1, 0), completed = t.completed + 1 FROM r WHERE t.token = r.token
  RETURNING t.token`;

export async function releaseExpiredReservations(q: Queryable, now: number): Promise<void> {
  await q.query(SQL_RELEASE_EXPIRED, [now]);
}

/** Undefined when the token already exists. */
export async function insertRegistrationToken(
  q: Queryable,
  token: { token: string; usesAllowed: number | null; expiryTime: number | null },
): Promise<RegistrationToken | undefined> {
  const { rows } = await q.query<TokenRow>(SQL_INSERT, [token.token, token.usesAllowed, token.expiryTime]);
  return rows[0] && fromRow(rows[0]);
}

export async function getRegistrationToken(q: Queryable, token: string): Promise<RegistrationToken | undefined> {
  const { rows } = await q.query<TokenRow>(SQL_GET, [token]);
  return rows[0] && fromRow(rows[0]);
}

/** All tokens, or only the valid (true) or invalid (false) ones at `now`. */
export async function listRegistrationTokens(q: Queryable, valid: boolean | undefined, now: number): Promise<RegistrationToken[]> {
  const { rows } =
    valid === undefined ? await q.query<TokenRow>(SQL_LIST_ALL) : await q.query<TokenRow>(valid ? SQL_LIST_VALID : SQL_LIST_INVALID, [now]);
  return rows.map(fromRow);
}

/** Sets the given fields (undefined = unchanged); undefined when there is no such token. */
export async function updateRegistrationToken(
  q: Queryable,
  token: string,
  changes: { usesAllowed?: number | null; expiryTime?: number | null },
): Promise<RegistrationToken | undefined> {
  const sets: string[] = [];
  const params: unknown[] = [token];
  if (changes.usesAllowed !== undefined) {
    params.push(changes.usesAllowed);
    sets.push(`uses_allowed = $${params.length}`);
  }
  if (changes.expiryTime !== undefined) {
    params.push(changes.expiryTime);
    sets.push(`expiry_time = $${params.length}`);
  }
  if (sets.length === 0) return getRegistrationToken(q, token);
  const { rows } = await q.query<TokenRow>(`UPDATE registration_tokens SET ${sets.join(", ")} WHERE token = $1 RETURNING ${COLUMNS}`, params);
  return rows[0] && fromRow(rows[0]);
}

export async function deleteRegistrationToken(q: Queryable, token: string): Promise<boolean> {
  const res = await q.query(SQL_DELETE, [token]);
  return res.rowCount === 1;
}

export async function isRegistrationTokenValid(q: Queryable, token: string, now: number): Promise<boolean> {
  const { rows } = await q.query(SQL_IS_VALID, [now, token]);
  return rows.length > 0;
}

/** The token a UIA session has reserved, if any. */
export async function reservationOf(q: Queryable, sessionId: string): Promise<string | undefined> {
  const { rows } = await q.query<{ token: string }>(SQL_RESERVATION, [sessionId]);
  return rows[0]?.token;
}

export async function extendReservation(q: Queryable, sessionId: string, expiresTs: number): Promise<void> {
  await q.query(SQL_EXTEND_RESERVATION, [sessionId, expiresTs]);
}

/** Reserves one use of a valid token for the session; false when the token is invalid or used up. */
export async function reserveToken(q: Queryable, sessionId: string, token: string, now: number, expiresTs: number): Promise<boolean> {
  const { rows } = await q.query(SQL_TAKE_PENDING, [now, token]);
  if (rows.length === 0) return false;
  await q.query(SQL_INSERT_RESERVATION, [sessionId, token, expiresTs]);
  return true;
}

/** Turns the session's pending use into a completed one; false when it holds none. */
export async function consumeReservation(q: Queryable, sessionId: string): Promise<boolean> {
  const { rows } = await q.query(SQL_CONSUME_RESERVATION, [sessionId]);
  return rows.length > 0;
}
