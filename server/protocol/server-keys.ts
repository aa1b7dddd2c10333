// Server key responses (GET /_matrix/key/v2/server, and each entry of a
// notary's /_matrix/key/v2/query answer) and when a key may be used.
// https://spec.matrix.org/v1.19/server-server-api/#retrieving-server-keys
import { decodeBase64 } from "./base64.ts";
import { ProtocolError } from "./errors.ts";
import { isJsonObject, type JsonObject } from "./json.ts";
import { verifyJsonSignature } from "./signing.ts";

/** "Servers MUST use the lesser of this field and 7 days into the future." */
export const MAX_KEY_VALIDITY_MS = 7 * 24 * 3600_000;

const KEY_ID = /^ed25519:[a-zA-Z0-9_]+$/;

export interface VerifyKey {
  keyId: string;
  /** Unpadded Base64, as published. */
  key: string;
  /** Raw 32-byte ed25519 public key. */
  publicKey: Buffer;
}

export interface ServerKeys {
  serverName: string;
  /** As published (not yet capped). */
  validUntilTs: number;
  verifyKeys: VerifyKey[];
  oldVerifyKeys: Array<VerifyKey & { expiredTs: number }>;
}

function bad(message: string): ProtocolError {
  return new ProtocolError("bad_format", `server keys: ${message}`);
}

function publicKeyOf(keyId: string, key: unknown): VerifyKey {
  if (!KEY_ID.test(keyId)) throw bad(`unsupported key id ${JSON.stringify(keyId)}`);
  if (typeof key !== "string") throw bad(`${keyId} has no key`);
  const publicKey = decodeBase64(key);
  if (publicKey.length !== 32) throw bad(`${keyId} is not a 32-byte ed25519 key`);
  return { keyId, key, publicKey };
}

/**
 * Checks the shape of a key response and that `server_name` is the server
 * asked about. Keys with algorithms other than ed25519 are skipped.
 */
export function parseServerKeys(response: unknown, expectedServerName: string): ServerKeys {
  if (!isJsonObject(response)) throw bad("the response is not an object");
  if (response.server_name !== expectedServerName) throw bad(`server_name is ${JSON.stringify(response.server_name)}, not ${expectedServerName}`);
  const validUntil = response.valid_until_ts;
  if (typeof validUntil !== "number" || !Number.isSafeInteger(validUntil)) throw bad("valid_until_ts is missing");
  if (!isJsonObject(response.verify_keys)) throw bad("verify_keys is missing");
  const verifyKeys: VerifyKey[] = [];
  for (const [keyId, entry] of Object.entries(response.verify_keys)) {
    if (!keyId.startsWith("ed25519:")) continue;
    verifyKeys.push(publicKeyOf(keyId, isJsonObject(entry) ? entry.key : undefined));
  }
  const oldVerifyKeys: ServerKeys["oldVerifyKeys"] = [];
  const old = response.old_verify_keys ?? {};
  if (!isJsonObject(old)) throw bad("old_verify_keys is not an object");
  for (const [keyId, entry] of Object.entries(old)) {
    if (!keyId.startsWith("ed25519:") || !isJsonObject(entry)) continue;
    const expiredTs = entry.expired_ts;
    if (typeof expiredTs !== "number" || !Number.isSafeInteger(expiredTs)) throw bad(`${keyId} has no expired_ts`);
    oldVerifyKeys.push({ ...publicKeyOf(keyId, entry.key), expiredTs });
  }
  return { serverName: expectedServerName, validUntilTs: validUntil, verifyKeys, oldVerifyKeys };
}

/**
 * The response must carry the server's own signature by at least one of the
 * keys it lists in verify_keys, and every such signature present must verify.
 */
export function checkSelfSigned(response: JsonObject, keys: ServerKeys): void {
  const signatures = isJsonObject(response.signatures) ? response.signatures[keys.serverName] : undefined;
  if (!isJsonObject(signatures)) throw new ProtocolError("bad_signature", `server keys: not signed by ${keys.serverName}`);
  let verified = 0;
  for (const key of keys.verifyKeys) {
    if (signatures[key.keyId] === undefined) continue;
    if (!verifyJsonSignature(response, keys.serverName, key.keyId, key.publicKey)) {
      throw new ProtocolError("bad_signature", `server keys: the signature by ${key.keyId} does not verify`);
    }
    verified += 1;
  }
  if (verified === 0) throw new ProtocolError("bad_signature", `server keys: not signed by any key of ${keys.serverName}`);
}

/** True when one of the notary's configured keys signed the response. */
export function signedByNotary(response: JsonObject, notaryName: string, notaryKeys: ReadonlyArray<{ keyId: string; publicKey: Uint8Array }>): boolean {
  return notaryKeys.some((k) => verifyJsonSignature(response, notaryName, k.keyId, k.publicKey));
}

/** valid_until_ts as a verifier may use it: never more than 7 days after the response arrived. */
export function effectiveValidUntil(validUntilTs: number, receivedTs: number): number {
  return Math.min(validUntilTs, receivedTs + MAX_KEY_VALIDITY_MS);
}

export interface KeyValidity {
  /** For a current key: effectiveValidUntil of the freshest response listing it. */
  validUntilTs?: number | null;
  /** For an old key: when the server stopped using it. */
  expiredTs?: number | null;
}

/**
 * Whether a key may verify a signature made at `atTs` (an event's
 * origin_server_ts, or now for a request). Room versions 1–4 do not enforce
 * key validity: any key the server ever published answers there.
 */
export function keyAnswersAt(key: KeyValidity, atTs: number, enforceValidity: boolean): boolean {
  if (!enforceValidity) return true;
  if (key.expiredTs !== undefined && key.expiredTs !== null) return atTs <= key.expiredTs;
  return key.validUntilTs !== undefined && key.validUntilTs !== null && atTs <= key.validUntilTs;
}
