// Checks of uploaded keys (spec "End-to-end encryption"): shapes, key IDs and
// signatures, each failure the spec's 400 (M_INVALID_SIGNATURE for a
// signature that does not verify, M_BAD_JSON for a wrong type, M_INVALID_PARAM
// for a wrong value). No I/O: callers pass what is stored.
import { badJson, invalidParam, MatrixError } from "../errors/matrix-error.ts";
import { decodeBase64 } from "../protocol/base64.ts";
import { canonicalJson } from "../protocol/canonical-json.ts";
import { isValidUserId } from "../protocol/identifiers.ts";
import { isJsonObject, type JsonObject, type JsonValue } from "../protocol/json.ts";
import { ProtocolError } from "../protocol/errors.ts";
import { verifyJsonSignature } from "../protocol/signing.ts";
import type { OneTimeKey } from "../storage/e2e-keys.ts";

export const invalidSignature = (message: string): MatrixError => new MatrixError(400, "M_INVALID_SIGNATURE", message);

/** Device IDs, key IDs and algorithm names: non-empty, bounded, no NUL (PostgreSQL text cannot hold it). */
const MAX_ID_LENGTH = 255;
export function isPlainId(id: string): boolean {
  return id.length > 0 && id.length <= MAX_ID_LENGTH && !id.includes("\u0000") && id.isWellFormed();
}

/** `<algorithm>:<key_id>`: an algorithm of [A-Za-z0-9._-] and a key ID without colon or whitespace. */
const ALGORITHM = /^[A-Za-z0-9._-]+$/;
const KEY_ID = /^[^\s:]+$/;

export function parseKeyName(name: string): { algorithm: string; keyId: string } {
  const colon = name.indexOf(":");
  const algorithm = name.slice(0, colon);
  const keyId = name.slice(colon + 1);
  if (colon <= 0 || !ALGORITHM.test(algorithm) || !KEY_ID.test(keyId) || !isPlainId(name)) {
    throw invalidParam(`Malformed key ID ${JSON.stringify(name)}: expected <algorithm>:<key_id>`);
  }
  return { algorithm, keyId };
}

/** Canonical JSON text of client input; a value canonical JSON cannot encode is M_BAD_JSON. */
export function canonicalText(value: JsonValue): string {
  try {
    return canonicalJson(value);
  } catch (err) {
    if (err instanceof ProtocolError) throw badJson(err.message);
    throw err;
  }
}

/** An unpadded Base64 ed25519 public key, decoded; M_INVALID_PARAM when it is not 32 bytes of Base64. */
export function ed25519PublicKey(text: string, what: string): Buffer {
  let bytes: Buffer;
  try {
    bytes = decodeBase64(text);
  } catch {
    throw invalidParam(`${what} is not Base64`);
  }
  if (bytes.length !== 32) throw invalidParam(`${what} is not an ed25519 public key`);
  return bytes;
}

function objectField(obj: JsonObject, key: string, what: string): JsonObject {
  const value = obj[key];
  if (!isJsonObject(value)) throw badJson(`${what}.${key} must be an object`);
  return value;
}

function stringMap(obj: JsonObject, what: string): Record<string, string> {
  for (const [k, v] of Object.entries(obj)) if (typeof v !== "string") throw badJson(`${what}.${k} must be a string`);
  return obj as Record<string, string>;
}

export interface CheckedDeviceKeys {
  /** The object as stored: without `unsigned`, which the server fills in itself. */
  keys: JsonObject;
  /** Its canonical JSON text. */
  json: string;
  /** The device's ed25519 public key. */
  ed25519: Buffer;
}

/**
 * Device keys as POST /keys/upload takes them: user_id and device_id of the
 * requester, key IDs `<algorithm>:<device_id>`, an ed25519 key, and a
 * self-signature by that key that verifies.
 */
export function checkDeviceKeys(raw: unknown, userId: string, deviceId: string): CheckedDeviceKeys {
  if (!isJsonObject(raw)) throw badJson("device_keys must be an object");
  if (raw.user_id !== userId) throw invalidParam("device_keys.user_id must be the logged-in user");
  if (raw.device_id !== deviceId) throw invalidParam("device_keys.device_id must be the logged-in device");
  const algorithms = raw.algorithms;
  if (!Array.isArray(algorithms) || !algorithms.every((a) => typeof a === "string")) throw badJson("device_keys.algorithms must be an array of strings");
  const keys = stringMap(objectField(raw, "keys", "device_keys"), "device_keys.keys");
  for (const name of Object.keys(keys)) {
    const { keyId } = parseKeyName(name);
    if (keyId !== deviceId) throw invalidParam(`Device key ${JSON.stringify(name)} must be named <algorithm>:${deviceId}`);
  }
  const signingKeyId = `ed25519:${deviceId}`;
  const ed25519Text = keys[signingKeyId];
  if (ed25519Text === undefined) throw invalidParam(`device_keys.keys has no ${signingKeyId}`);
  const ed25519 = ed25519PublicKey(ed25519Text, signingKeyId);
  const signatures = objectField(raw, "signatures", "device_keys");
  for (const [signer, byKey] of Object.entries(signatures)) {
    if (!isJsonObject(byKey)) throw badJson(`device_keys.signatures.${signer} must be an object`);
    stringMap(byKey, `device_keys.signatures.${signer}`);
  }
  const { unsigned: _unsigned, ...stored } = raw;
  if (!verifyJsonSignature(stored, userId, signingKeyId, ed25519)) throw invalidSignature(`device_keys has no valid signature by ${signingKeyId}`);
  return { keys: stored, json: canonicalText(stored), ed25519 };
}

/** How to check signed keys: the uploading device's ed25519 key, when known. */
export interface KeySigner {
  userId: string;
  deviceId: string;
  ed25519?: Buffer | undefined;
}

/**
 * One-time or fallback keys, `<algorithm>:<key_id>` → key. A `signed_*`
 * algorithm needs an object whose signature by the device verifies; other
 * algorithms take a plain string or an object with a `key`.
 */
export function checkKeyMap(raw: unknown, field: string, signer: KeySigner): OneTimeKey[] {
  if (raw === undefined || raw === null) return [];
  if (!isJsonObject(raw)) throw badJson(`${field} must be an object`);
  const out: OneTimeKey[] = [];
  for (const [name, value] of Object.entries(raw)) {
    const { algorithm, keyId } = parseKeyName(name);
    if (typeof value === "string") {
      if (algorithm.startsWith("signed_")) throw invalidSignature(`${field}.${name}: a ${algorithm} key must be a signed object`);
    } else if (isJsonObject(value)) {
      if (typeof value.key !== "string") throw badJson(`${field}.${name}.key must be a string`);
      if (algorithm.startsWith("signed_") || value.signatures !== undefined) checkSignedKey(value, `${field}.${name}`, signer);
    } else {
      throw badJson(`${field}.${name} must be a string or an object`);
    }
    out.push({ algorithm, keyId, json: canonicalText(value) });
  }
  return out;
}

function checkSignedKey(key: JsonObject, what: string, signer: KeySigner): void {
  if (!isJsonObject(key.signatures)) throw badJson(`${what}.signatures must be an object`);
  const keyId = `ed25519:${signer.deviceId}`;
  if (!signer.ed25519) throw invalidSignature(`${what}: upload the device keys first, so its signature can be checked`);
  if (!verifyJsonSignature(key, signer.userId, keyId, signer.ed25519)) throw invalidSignature(`${what} has no valid signature by ${keyId}`);
}

export type CrossSigningUsage = "master" | "self_signing" | "user_signing";

export interface CheckedCrossSigningKey {
  usage: CrossSigningUsage;
  key: JsonObject;
  json: string;
  /** The unpadded Base64 public key (also its key ID after "ed25519:"). */
  publicKey: string;
  publicKeyBytes: Buffer;
}

/**
 * A CrossSigningKey of `userId` for `usage`: exactly one `ed25519:<public key>`
 * whose value is that public key. Signatures are the caller's to check.
 */
export function checkCrossSigningKey(raw: unknown, userId: string, usage: CrossSigningUsage, field: string): CheckedCrossSigningKey {
  if (!isJsonObject(raw)) throw badJson(`${field} must be an object`);
  if (raw.user_id !== userId) throw invalidParam(`${field}.user_id must be ${userId}`);
  if (!Array.isArray(raw.usage) || !raw.usage.every((u) => typeof u === "string")) throw badJson(`${field}.usage must be an array of strings`);
  if (!raw.usage.includes(usage)) throw invalidParam(`${field}.usage must include ${usage}`);
  const keys = stringMap(objectField(raw, "keys", field), `${field}.keys`);
  const names = Object.keys(keys);
  if (names.length !== 1) throw invalidParam(`${field}.keys must hold exactly one key`);
  const name = names[0]!;
  const { algorithm, keyId } = parseKeyName(name);
  if (algorithm !== "ed25519" || keys[name] !== keyId) throw invalidParam(`${field}.keys must be {"ed25519:<public key>": "<public key>"}`);
  const publicKeyBytes = ed25519PublicKey(keyId, `${field} public key`);
  if (raw.signatures !== undefined && !isJsonObject(raw.signatures)) throw badJson(`${field}.signatures must be an object`);
  return { usage, key: raw, json: canonicalText(raw), publicKey: keyId, publicKeyBytes };
}

/** A user ID that names a user on some server, or M_INVALID_PARAM. */
export function checkUserId(userId: string, what: string): string {
  if (!isValidUserId(userId)) throw invalidParam(`${what}: ${JSON.stringify(userId)} is not a valid user ID`);
  return userId;
}

/** The object without `signatures` and `unsigned`, as canonical JSON: what a signature covers. */
export function signedContent(obj: JsonObject): string {
  const { signatures: _s, unsigned: _u, ...rest } = obj;
  return canonicalText(rest);
}
