// OpenID tokens (migrations/0014_federation.sql openid_tokens), stored hashed.
import type { Queryable } from "./database.ts";

export async function insertOpenIdToken(q: Queryable, hash: Buffer, userId: string, expiresTs: number, now: number): Promise<void> {
  await q.query(`DELETE FROM openid_tokens WHERE expires_ts < $1`, [now]);
  await q.query(`INSERT INTO openid_tokens (token_hash, user_id, expires_ts) VALUES ($1, $2, $3)`, [hash, userId, expiresTs]);
}

/** The user of a token that has not expired. Tokens may be checked many times until then (spec). */
export async function openIdTokenUser(q: Queryable, hash: Buffer, now: number): Promise<string | undefined> {
  const { rows } = await q.query<{ user_id: string }>(`SELECT user_id FROM openid_tokens WHERE token_hash = $1 AND expires_ts > $2`, [hash, now]);
  return rows[0]?.user_id;
}
