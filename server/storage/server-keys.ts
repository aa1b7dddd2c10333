// Remote servers' signing keys and the signed responses they came in
// (migrations/0010_server_keys.sql).
import type { Database, Queryable } from "./database.ts";

export interface StoredServerKey {
  keyId: string;
  publicKey: string;
  validUntilTs: number | null;
  expiredTs: number | null;
  fetchedTs: number;
  source: string;
}

export interface StoredKeyResponse {
  source: string;
  fetchedTs: number;
  validUntilTs: number;
  json: string;
}

export interface KeyResponseToStore {
  serverName: string;
  source: string;
  fetchedTs: number;
  /** As published. */
  validUntilTs: number;
  json: string;
  keys: Array<{ keyId: string; publicKey: string; validUntilTs: number | null; expiredTs: number | null }>;
}

/**
 * Stores one verified response and the keys it lists, in one transaction. A
 * key keeps the longest validity any response gave it, and once a response
 * lists it as old it stays expired at that time.
 */
export async function persistKeyResponse(db: Database, r: KeyResponseToStore): Promise<void> {
  await db.transaction(async (tx) => {
    await tx.query(
      `INSERT INTO server_key_responses (server_name, source, fetched_ts, valid_until_ts, response_json) VALUES ($1, $2, $3, $4, $5)
       ON CONFLICT (server_name, source) DO UPDATE SET fetched_ts = EXCLUDED.fetched_ts, valid_until_ts = EXCLUDED.valid_until_ts, response_json = EXCLUDED.response_json
       WHERE server_key_responses.fetched_ts <= EXCLUDED.fetched_ts`,
      [r.serverName, r.source, r.fetchedTs, r.validUntilTs, r.json],
    );
    for (const key of r.keys) {
      await tx.query(
        `INSERT INTO server_signing_keys (server_name, key_id, public_key, valid_until_ts, expired_ts, fetched_ts, source) VALUES ($1, $2, $3, $4, $5, $6, $7)
         ON CONFLICT (server_name, key_id) DO UPDATE SET
           public_key = EXCLUDED.public_key,
           valid_until_ts = GREATEST(server_signing_keys.valid_until_ts, EXCLUDED.valid_until_ts),
           expired_ts = LEAST(server_signing_keys.expired_ts, EXCLUDED.expired_ts),
           fetched_ts = GREATEST(server_signing_keys.fetched_ts, EXCLUDED.fetched_ts),
           source = EXCLUDED.source`,
        [r.serverName, key.keyId, key.publicKey, key.validUntilTs, key.expiredTs, r.fetchedTs, r.source],
      );
    }
  });
}

export async function getServerKeys(q: Queryable, serverName: string): Promise<StoredServerKey[]> {
  const { rows } = await q.query<{ key_id: string; public_key: string; valid_until_ts: number | null; expired_ts: number | null; fetched_ts: number; source: string }>(
    `SELECT key_id, public_key, valid_until_ts, expired_ts, fetched_ts, source FROM server_signing_keys WHERE server_name = $1`,
    [serverName],
  );
  return rows.map((r) => ({ keyId: r.key_id, publicKey: r.public_key, validUntilTs: r.valid_until_ts, expiredTs: r.expired_ts, fetchedTs: r.fetched_ts, source: r.source }));
}

/** Stored responses for a server, newest first. */
export async function getKeyResponses(q: Queryable, serverName: string): Promise<StoredKeyResponse[]> {
  const { rows } = await q.query<{ source: string; fetched_ts: number; valid_until_ts: number; response_json: string }>(
    `SELECT source, fetched_ts, valid_until_ts, response_json FROM server_key_responses WHERE server_name = $1 ORDER BY fetched_ts DESC`,
    [serverName],
  );
  return rows.map((r) => ({ source: r.source, fetchedTs: r.fetched_ts, validUntilTs: r.valid_until_ts, json: r.response_json }));
}
