// What a local user's keys look like to other servers: each device's keys
// with the user's own signatures merged in (their self-signing key's, from
// e2e_signatures), and the master and self-signing keys with theirs. No
// signatures by other users (those are private to the signer) and no device
// display names (Synapse's default, allow_device_name_lookup_over_federation
// off: a name like "Alice's work laptop" says more than encryption needs).
// Read inside the change's transaction for the EDUs, and for GET /user/devices.
import type { JsonObject } from "../protocol/json.ts";
import { listDevices } from "../storage/accounts.ts";
import { crossSigningKeysOfUsers, visibleSignatures, type SignatureRow } from "../storage/cross-signing.ts";
import type { Queryable } from "../storage/database.ts";
import { deviceKeysOfUsers } from "../storage/e2e-keys.ts";

/** A device as published: its keys (absent when it has none), or deleted. */
export interface PublishedDevice {
  deviceId: string;
  keys?: JsonObject;
  deleted: boolean;
}

export interface PublishedCrossSigning {
  master?: JsonObject;
  selfSigning?: JsonObject;
}

/** Adds signatures from e2e_signatures to a key object's own. */
export function withSignatures(key: JsonObject, extra: readonly SignatureRow[]): JsonObject {
  if (extra.length === 0) return key;
  const signatures = structuredClone((key.signatures ?? {}) as Record<string, Record<string, string>>);
  for (const s of extra) (signatures[s.signerUserId] ??= {})[s.signerKeyId] = s.signature;
  return { ...key, signatures };
}

/** Signatures on the user's keys as the user sees them: their own only (never another user's). */
const ownSignatures = (q: Queryable, userId: string): Promise<SignatureRow[]> => visibleSignatures(q, [userId], userId);

/**
 * The user's devices (all of them, or the named ones; a named device that
 * no longer exists is reported deleted), with their published keys.
 */
export async function publishedDevices(q: Queryable, userId: string, deviceIds?: readonly string[]): Promise<PublishedDevice[]> {
  // One after the other: `q` may be a transaction's client, which runs one query at a time.
  const devices = await listDevices(q, userId);
  const keys = await deviceKeysOfUsers(q, new Map([[userId, deviceIds ?? []]]));
  const signatures = await ownSignatures(q, userId);
  const existing = new Set(devices.map((d) => d.deviceId));
  const keysOf = new Map(keys.map((k) => [k.deviceId, k.keys]));
  return (deviceIds ?? [...existing]).map((deviceId) => {
    if (!existing.has(deviceId)) return { deviceId, deleted: true };
    const key = keysOf.get(deviceId);
    const sigs = signatures.filter((s) => s.targetKeyId === deviceId);
    return key ? { deviceId, keys: withSignatures(key, sigs), deleted: false } : { deviceId, deleted: false };
  });
}

/** The user's master and self-signing keys as published (the user-signing key never leaves the server). */
export async function publishedCrossSigning(q: Queryable, userId: string): Promise<PublishedCrossSigning> {
  const keys = await crossSigningKeysOfUsers(q, [userId], ["master", "self_signing"]);
  const signatures = await ownSignatures(q, userId);
  const out: PublishedCrossSigning = {};
  for (const k of keys) {
    const key = withSignatures(k.key, signatures.filter((s) => s.targetKeyId === k.publicKey));
    if (k.keyType === "master") out.master = key;
    else out.selfSigning = key;
  }
  return out;
}
