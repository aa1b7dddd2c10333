// Third-party identifiers of accounts and their validation sessions
// (migrations/0018_threepids.sql). Addresses arrive here canonical
// (lower-cased e-mail); tokens arrive as SHA-256 hashes.
import type { Queryable } from "./database.ts";

/** What names a session besides its sid: one per client secret, address and purpose. */
export interface SessionKey {
  clientSecret: string;
  medium: string;
  address: string;
  purpose: string;
}

export interface ValidationSession extends SessionKey {
  sessionId: string;
  sendAttempt: number;
  tokenHash: Buffer | null;
  tokenExpiresTs: number;
  nextLink: string | null;
  validatedTs: number | null;
  mailSentAttempt: number | null;
  mailFailures: number;
}

interface SessionRow {
  session_id: string;
  client_secret: string;
  medium: string;
  address: string;
  purpose: string;
  send_attempt: number;
  token_hash: Buffer | null;
  token_expires_ts: number;
  next_link: string | null;
  validated_ts: number | null;
  mail_sent_attempt: number | null;
  mail_failures: number;
}

const SESSION_COLUMNS = `session_id, client_secret, medium, address, purpose, send_attempt, token_hash, token_expires_ts, next_link, validated_ts, mail_sent_attempt, mail_failures`;

const sessionOf = (r: SessionRow): ValidationSession => ({
  sessionId: r.session_id,
  clientSecret: r.client_secret,
  medium: r.medium,
  address: r.address,
  purpose: r.purpose,
  sendAttempt: r.send_attempt,
  tokenHash: r.token_hash,
  tokenExpiresTs: r.token_expires_ts,
  nextLink: r.next_link,
  validatedTs: r.validated_ts,
  mailSentAttempt: r.mail_sent_attempt,
  mailFailures: r.mail_failures,
});

export async function getValidationSession(q: Queryable, sessionId: string): Promise<ValidationSession | undefined> {
  const { rows } = await q.query<SessionRow>(`SELECT ${SESSION_COLUMNS} FROM threepid_validation_sessions WHERE session_id = $1`, [sessionId]);
  return rows[0] && sessionOf(rows[0]);
}

/** The session of (client secret, address, purpose); `lock` row-locks it for the caller's transaction. */
export async function findValidationSession(q: Queryable, key: SessionKey, lock = false): Promise<ValidationSession | undefined> {
  const { rows } = await q.query<SessionRow>(
    `SELECT ${SESSION_COLUMNS} FROM threepid_validation_sessions WHERE client_secret = $1 AND medium = $2 AND address = $3 AND purpose = $4${lock ? " FOR UPDATE" : ""}`,
    [key.clientSecret, key.medium, key.address, key.purpose],
  );
  return rows[0] && sessionOf(rows[0]);
}

export interface NewSend extends SessionKey {
  sessionId: string;
  sendAttempt: number;
  tokenHash: Buffer;
  tokenExpiresTs: number;
  nextLink: string | null;
  now: number;
}

/**
 * Starts a session, or gives an existing one a new send attempt with a new
 * token (the old link stops working). Concurrent first requests of the same
 * key meet on the unique key; the loser updates the winner's row.
 */
export async function recordSend(q: Queryable, s: NewSend): Promise<string> {
  const { rows } = await q.query<{ session_id: string }>(
    `INSERT INTO threepid_validation_sessions (session_id, client_secret, medium, address, purpose, send_attempt, token_hash, token_expires_ts, next_link, created_ts)
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)
     ON CONFLICT (client_secret, medium, address, purpose) DO UPDATE
       SET send_attempt = EXCLUDED.send_attempt, token_hash = EXCLUDED.token_hash, token_expires_ts = EXCLUDED.token_expires_ts,
           next_link = EXCLUDED.next_link, mail_failures = 0, mail_error = NULL
     RETURNING session_id`,
    [s.sessionId, s.clientSecret, s.medium, s.address, s.purpose, s.sendAttempt, s.tokenHash, s.tokenExpiresTs, s.nextLink, s.now],
  );
  return rows[0]!.session_id;
}

/** A new token for a session whose mail was never accepted (the worker's start-up sweep). */
export async function replaceUnsentToken(q: Queryable, sessionId: string, sendAttempt: number, tokenHash: Buffer): Promise<boolean> {
  const { rowCount } = await q.query(
    `UPDATE threepid_validation_sessions SET token_hash = $3
      WHERE session_id = $1 AND send_attempt = $2 AND validated_ts IS NULL AND mail_sent_attempt IS DISTINCT FROM send_attempt`,
    [sessionId, sendAttempt, tokenHash],
  );
  return (rowCount ?? 0) > 0;
}

export async function recordMailSent(q: Queryable, sessionId: string, sendAttempt: number): Promise<void> {
  await q.query(`UPDATE threepid_validation_sessions SET mail_sent_attempt = $2, mail_error = NULL WHERE session_id = $1 AND send_attempt = $2`, [sessionId, sendAttempt]);
}

export async function recordMailFailure(q: Queryable, sessionId: string, sendAttempt: number, error: string): Promise<void> {
  await q.query(`UPDATE threepid_validation_sessions SET mail_failures = mail_failures + 1, mail_error = $3 WHERE session_id = $1 AND send_attempt = $2`, [
    sessionId,
    sendAttempt,
    error.slice(0, 500),
  ]);
}

/** Marks the session validated and spends its token. */
export async function markValidated(q: Queryable, sessionId: string, now: number): Promise<void> {
  await q.query(`UPDATE threepid_validation_sessions SET validated_ts = $2, token_hash = NULL WHERE session_id = $1`, [sessionId, now]);
}

/**
 * Takes a validated, unexpired session for `purpose` (deleting it, so it
 * proves the address once), or undefined when there is none.
 */
export async function consumeValidatedSession(
  q: Queryable,
  key: { sessionId: string; clientSecret: string; purpose: string },
  now: number,
): Promise<{ medium: string; address: string; validatedTs: number } | undefined> {
  const { rows } = await q.query<{ medium: string; address: string; validated_ts: number }>(
    `DELETE FROM threepid_validation_sessions
      WHERE session_id = $1 AND client_secret = $2 AND purpose = $3 AND validated_ts IS NOT NULL AND token_expires_ts > $4
      RETURNING medium, address, validated_ts`,
    [key.sessionId, key.clientSecret, key.purpose, now],
  );
  const r = rows[0];
  return r && { medium: r.medium, address: r.address, validatedTs: r.validated_ts };
}

/** A validated, unexpired session, left in place (a UIA stage checks it before the operation consumes it). */
export async function validatedSession(q: Queryable, key: { sessionId: string; clientSecret: string; purpose: string }, now: number): Promise<{ medium: string; address: string } | undefined> {
  const { rows } = await q.query<{ medium: string; address: string }>(
    `SELECT medium, address FROM threepid_validation_sessions
      WHERE session_id = $1 AND client_secret = $2 AND purpose = $3 AND validated_ts IS NOT NULL AND token_expires_ts > $4`,
    [key.sessionId, key.clientSecret, key.purpose, now],
  );
  return rows[0];
}

/** Sessions still waiting for their mail, for the worker's start-up sweep. */
export async function unsentSessions(q: Queryable, now: number, limit: number): Promise<Array<{ sessionId: string; sendAttempt: number }>> {
  const { rows } = await q.query<{ session_id: string; send_attempt: number }>(
    `SELECT session_id, send_attempt FROM threepid_validation_sessions
      WHERE validated_ts IS NULL AND token_expires_ts > $1 AND mail_sent_attempt IS DISTINCT FROM send_attempt
      ORDER BY token_expires_ts LIMIT $2`,
    [now, limit],
  );
  return rows.map((r) => ({ sessionId: r.session_id, sendAttempt: r.send_attempt }));
}

export async function deleteExpiredSessions(q: Queryable, now: number): Promise<void> {
  await q.query(`DELETE FROM threepid_validation_sessions WHERE token_expires_ts <= $1`, [now]);
}

export interface ThreepidRow {
  medium: string;
  address: string;
  validatedTs: number;
  addedTs: number;
}

export async function threepidOwner(q: Queryable, medium: string, address: string): Promise<string | undefined> {
  const { rows } = await q.query<{ user_id: string }>(`SELECT user_id FROM user_threepids WHERE medium = $1 AND address = $2`, [medium, address]);
  return rows[0]?.user_id;
}

export async function threepidsOfUser(q: Queryable, userId: string): Promise<ThreepidRow[]> {
  const { rows } = await q.query<{ medium: string; address: string; validated_ts: number; added_ts: number }>(
    `SELECT medium, address, validated_ts, added_ts FROM user_threepids WHERE user_id = $1 ORDER BY added_ts, address`,
    [userId],
  );
  return rows.map((r) => ({ medium: r.medium, address: r.address, validatedTs: r.validated_ts, addedTs: r.added_ts }));
}

/** Binds an identifier to an account; false when it belongs to an account already (any, this one included). */
export async function insertThreepid(q: Queryable, t: { userId: string; medium: string; address: string; validatedTs: number; addedTs: number }): Promise<boolean> {
  const { rowCount } = await q.query(
    `INSERT INTO user_threepids (medium, address, user_id, validated_ts, added_ts) VALUES ($1, $2, $3, $4, $5) ON CONFLICT (medium, address) DO NOTHING`,
    [t.medium, t.address, t.userId, t.validatedTs, t.addedTs],
  );
  return (rowCount ?? 0) > 0;
}

export async function deleteThreepid(q: Queryable, userId: string, medium: string, address: string): Promise<boolean> {
  const { rowCount } = await q.query(`DELETE FROM user_threepids WHERE user_id = $1 AND medium = $2 AND address = $3`, [userId, medium, address]);
  return (rowCount ?? 0) > 0;
}

/** A deactivated account gives its addresses up (they may be used again, as in Synapse). */
export async function deleteThreepidsOfUser(q: Queryable, userId: string): Promise<void> {
  await q.query(`DELETE FROM user_threepids WHERE user_id = $1`, [userId]);
}

export async function recordIdServerBinding(q: Queryable, b: { userId: string; medium: string; address: string; idServer: string }): Promise<void> {
  await q.query(`INSERT INTO user_threepid_id_servers (user_id, medium, address, id_server) VALUES ($1, $2, $3, $4) ON CONFLICT DO NOTHING`, [
    b.userId,
    b.medium,
    b.address,
    b.idServer,
  ]);
}

export async function idServersOf(q: Queryable, userId: string, medium: string, address: string): Promise<string[]> {
  const { rows } = await q.query<{ id_server: string }>(
    `SELECT id_server FROM user_threepid_id_servers WHERE user_id = $1 AND medium = $2 AND address = $3 ORDER BY id_server`,
    [userId, medium, address],
  );
  return rows.map((r) => r.id_server);
}

export async function forgetIdServerBinding(q: Queryable, b: { userId: string; medium: string; address: string; idServer: string }): Promise<void> {
  await q.query(`DELETE FROM user_threepid_id_servers WHERE user_id = $1 AND medium = $2 AND address = $3 AND id_server = $4`, [b.userId, b.medium, b.address, b.idServer]);
}

/** Every identity-server binding of a user (deactivation unbinds them all). */
export async function idServerBindingsOf(q: Queryable, userId: string): Promise<Array<{ medium: string; address: string; idServer: string }>> {
  const { rows } = await q.query<{ medium: string; address: string; id_server: string }>(
    `SELECT medium, address, id_server FROM user_threepid_id_servers WHERE user_id = $1 ORDER BY medium, address, id_server`,
    [userId],
  );
  return rows.map((r) => ({ medium: r.medium, address: r.address, idServer: r.id_server }));
}
