// Cross-signing keys of local users and the signatures uploaded on keys
// (migrations/0012_e2ee.sql).
import type { JsonObject } from "../protocol/json.ts";
import type { Queryable } from "./database.ts";

export type CrossSigningKeyType = "master" | "self_signing" | "user_signing";

export interface CrossSigningKeyRow {
  userId: string;
  keyType: CrossSigningKeyType;
  publicKey: string;
  key: JsonObject;
  /** Canonical JSON text as stored. */
  json: string;
}

export async function crossSigningKeysOfUsers(q: Queryable, userIds: readonly string[], types?: readonly CrossSigningKeyType[]): Promise<CrossSigningKeyRow[]> {
  if (userIds.length === 0) return [];
  const { rows } = await q.query<{ user_id: string; key_type: CrossSigningKeyType; public_key: string; key_json: string }>(
    `SELECT user_id, key_type, public_key, key_json FROM e2e_cross_signing_keys
      WHERE user_id = ANY($1::text[]) AND ($2::text[] IS NULL OR key_type = ANY($2::text[]))`,
    [userIds, types ?? null],
  );
  return rows.map((r) => ({ userId: r.user_id, keyType: r.key_type, publicKey: r.public_key, key: JSON.parse(r.key_json) as JsonObject, json: r.key_json }));
}

/** Replaces the user's key of that type; signatures made by the replaced key go with it. */
export async function putCrossSigningKey(q: Queryable, userId: string, keyType: CrossSigningKeyType, publicKey: string, json: string, now: number): Promise<void> {
  const { rows } = await q.query<{ public_key: string }>(
    `SELECT public_key FROM e2e_cross_signing_keys WHERE user_id = $1 AND key_type = $2 FOR UPDATE`,
    [userId, keyType],
  );
  const old = rows[0]?.public_key;
  if (old !== undefined && old !== publicKey) {
    await q.query(`DELETE FROM e2e_signatures WHERE signer_user_id = $1 AND signer_key_id = $2`, [userId, `ed25519:${old}`]);
  }
  await q.query(
    `INSERT INTO e2e_cross_signing_keys (user_id, key_type, public_key, key_json, uploaded_ts) VALUES ($1, $2, $3, $4, $5)
     ON CONFLICT (user_id, key_type) DO UPDATE SET public_key = EXCLUDED.public_key, key_json = EXCLUDED.key_json, uploaded_ts = EXCLUDED.uploaded_ts`,
    [userId, keyType, publicKey, json, now],
  );
}

export interface SignatureRow {
  targetUserId: string;
  targetKeyId: string;
  signerUserId: string;
  signerKeyId: string;
  signature: string;
}

export async function putSignatures(q: Queryable, signatures: readonly SignatureRow[], now: number): Promise<void> {
  if (signatures.length === 0) return;
  await q.query(
    `INSERT INTO e2e_signatures (target_user_id, target_key_id, signer_user_id, signer_key_id, signature, created_ts)
     SELECT *, $6::bigint FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[])
     ON CONFLICT (target_user_id, target_key_id, signer_user_id, signer_key_id) DO UPDATE SET signature = EXCLUDED.signature, created_ts = EXCLUDED.created_ts`,
    [
      signatures.map((s) => s.targetUserId),
      signatures.map((s) => s.targetKeyId),
      signatures.map((s) => s.signerUserId),
      signatures.map((s) => s.signerKeyId),
      signatures.map((s) => s.signature),
      now,
    ],
  );
}

/** Drops the signatures on deleted devices, so a device ID used again does not inherit them. */
export async function deleteSignaturesOnDevices(q: Queryable, userId: string, deviceIds: readonly string[]): Promise<void> {
  await q.query(`DELETE FROM e2e_signatures WHERE target_user_id = $1 AND target_key_id = ANY($2::text[])`, [userId, deviceIds]);
}

/**
 * Signatures on the keys of these users that `viewer` may see: the users'
 * own signatures, and the viewer's (the spec keeps a user's signatures on
 * other users' keys private to that user).
 */
export async function visibleSignatures(q: Queryable, targetUserIds: readonly string[], viewer: string): Promise<SignatureRow[]> {
  if (targetUserIds.length === 0) return [];
  const { rows } = await q.query<{ target_user_id: string; target_key_id: string; signer_user_id: string; signer_key_id: string; signature: string }>(
    `SELECT target_user_id, target_key_id, signer_user_id, signer_key_id, signature FROM e2e_signatures
      WHERE target_user_id = ANY($1::text[]) AND (signer_user_id = target_user_id OR signer_user_id = $2)`,
    [targetUserIds, viewer],
  );
  return rows.map((r) => ({ targetUserId: r.target_user_id, targetKeyId: r.target_key_id, signerUserId: r.signer_user_id, signerKeyId: r.signer_key_id, signature: r.signature }));
}
