// Single-use login tokens (migrations/0008_login_tokens.sql).
import type { Queryable } from "./database.ts";

export async function insertLoginToken(q: Queryable, hash: Buffer, userId: string, expiresTs: number): Promise<void> {
  await q.query(`INSERT INTO login_tokens (token_hash, user_id, expires_ts) VALUES ($1, $2, $3)`, [hash, userId, expiresTs]);
}

/** Deletes the token and returns its user if it was still valid: a token works once. */
export async function consumeLoginToken(q: Queryable, hash: Buffer, now: number): Promise<string | undefined> {
  const { rows } = await q.query<{ user_id: string; expires_ts: number }>(`DELETE FROM login_tokens WHERE token_hash = $1 RETURNING user_id, expires_ts`, [hash]);
  const row = rows[0];
  return row && row.expires_ts > now ? row.user_id : undefined;
}
