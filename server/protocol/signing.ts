// Ed25519 signing keys and signed JSON (appendices: "Signing JSON > Signing
// Details" and "Checking for a Signature"). node:crypto provides ed25519; it
// wants DER-wrapped keys, so raw 32-byte seeds and public keys get a fixed
// ASN.1 prefix (RFC 8410).
import { Buffer } from "node:buffer";
import { createPrivateKey, createPublicKey, randomInt, randomBytes, sign, verify } from "node:crypto";
import type { KeyObject } from "node:crypto";
import { decodeBase64, encodeUnpaddedBase64 } from "./base64.ts";
import { canonicalJsonBytes } from "./canonical-json.ts";
import { ProtocolError } from "./errors.ts";
import { isJsonObject } from "./json.ts";
import type { JsonObject, JsonValue } from "./json.ts";

const PKCS8_ED25519_PREFIX = Buffer.from("302e020100300506032b657004220420", "hex");
const SPKI_ED25519_PREFIX = Buffer.from("302a300506032b6570032100", "hex");

export const ED25519 = "ed25519";
const SEED_BYTES = 32;
const SIGNATURE_BYTES = 64;
/** Key versions (the part after "ed25519:") use [a-zA-Z0-9_] per the key server API. */
const KEY_VERSION = /^[a-zA-Z0-9_]+$/;

export interface SigningKey {
  readonly algorithm: typeof ED25519;
  /** e.g. "a_AbCd" */
  readonly version: string;
  /** e.g. "ed25519:a_AbCd" */
  readonly keyId: string;
  /** The 32-byte secret seed; this is what the key file stores. */
  readonly seed: Buffer;
  /** The 32-byte raw public key. */
  readonly publicKey: Buffer;
  readonly privateKey: KeyObject;
}

export function keyFromSeed(seed: Uint8Array, version: string): SigningKey {
  if (seed.byteLength !== SEED_BYTES) throw new ProtocolError("bad_format", `an ed25519 seed is ${SEED_BYTES} bytes`);
  if (!KEY_VERSION.test(version)) throw new ProtocolError("bad_id", `invalid key version ${JSON.stringify(version)}`);
  const seedCopy = Buffer.from(seed);
  const privateKey = createPrivateKey({
    key: Buffer.concat([PKCS8_ED25519_PREFIX, seedCopy]),
    format: "der",
    type: "pkcs8",
  });
  const spki = createPublicKey(privateKey).export({ format: "der", type: "spki" });
  return {
    algorithm: ED25519,
    version,
    keyId: `${ED25519}:${version}`,
    seed: seedCopy,
    publicKey: Buffer.from(spki.subarray(SPKI_ED25519_PREFIX.length)),
    privateKey,
  };
}

/** A fresh key with a Synapse-style version ("a_" and four random letters) unless one is given. */
export function generateSigningKey(version?: string): SigningKey {
  const letters = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ";
  const chosen = version ?? `a_${Array.from({ length: 4 }, () => letters[randomInt(letters.length)]).join("")}`;
  return keyFromSeed(randomBytes(SEED_BYTES), chosen);
}

export function publicKeyBase64(key: SigningKey): string {
  return encodeUnpaddedBase64(key.publicKey);
}

export function signBytes(key: SigningKey, bytes: Uint8Array): Buffer {
  return sign(null, bytes, key.privateKey);
}

/**
 * Public keys as Node key objects, by their bytes: a join's state holds
 * thousands of events signed by the same few keys, and building the key
 * object each time cost about as much as half a verification. Bounded; the
 * oldest goes first.
 */
const publicKeyObjects = new Map<string, KeyObject>();
const PUBLIC_KEY_OBJECTS = 1024;

function publicKeyObject(publicKey: Uint8Array): KeyObject {
  const id = Buffer.from(publicKey).toString("base64");
  let key = publicKeyObjects.get(id);
  if (!key) {
    key = createPublicKey({ key: Buffer.concat([SPKI_ED25519_PREFIX, publicKey]), format: "der", type: "spki" });
    if (publicKeyObjects.size >= PUBLIC_KEY_OBJECTS) publicKeyObjects.delete(publicKeyObjects.keys().next().value!);
    publicKeyObjects.set(id, key);
  }
  return key;
}

/** False (never throws) for a malformed key or signature. */
export function verifyBytes(publicKey: Uint8Array, bytes: Uint8Array, signature: Uint8Array): boolean {
  if (publicKey.byteLength !== 32 || signature.byteLength !== SIGNATURE_BYTES) return false;
  try {
    return verify(null, bytes, publicKeyObject(publicKey), signature);
  } catch {
    return false;
  }
}

/** The object as signatures cover it: without `signatures` and `unsigned`. */
function signable(obj: JsonObject): JsonObject {
  const { signatures: _signatures, unsigned: _unsigned, ...rest } = obj;
  return rest;
}

/**
 * Returns a copy of `obj` with signatures[signingName][key.keyId] set. Other
 * signatures are kept; `signatures` and `unsigned` are not covered.
 */
export function signJson(obj: JsonObject, signingName: string, key: SigningKey): JsonObject {
  const existing = obj.signatures;
  if (existing !== undefined && !isJsonObject(existing)) {
    throw new ProtocolError("bad_format", "signatures must be an object");
  }
  const ours = existing?.[signingName];
  if (ours !== undefined && !isJsonObject(ours)) {
    throw new ProtocolError("bad_format", `signatures.${signingName} must be an object`);
  }
  const signature = encodeUnpaddedBase64(signBytes(key, canonicalJsonBytes(signable(obj))));
  const signatures: JsonObject = { ...existing, [signingName]: { ...ours, [key.keyId]: signature } };
  const signed: JsonObject = { ...signable(obj), signatures };
  if (obj.unsigned !== undefined) signed.unsigned = obj.unsigned;
  return signed;
}

/** The Base64 signature stored under signatures[signingName][keyId], if any. */
export function getSignature(obj: JsonObject, signingName: string, keyId: string): string | undefined {
  const signatures: JsonValue | undefined = obj.signatures;
  if (!isJsonObject(signatures)) return undefined;
  const byServer = signatures[signingName];
  if (!isJsonObject(byServer)) return undefined;
  const signature = byServer[keyId];
  return typeof signature === "string" ? signature : undefined;
}

/**
 * Checks one signature per "Checking for a Signature": false when it is
 * missing, not Base64, not 64 bytes, or does not match the canonical JSON of
 * the object without `signatures` and `unsigned`.
 */
export function verifyJsonSignature(
  obj: JsonObject,
  signingName: string,
  keyId: string,
  publicKey: Uint8Array,
): boolean {
  const text = getSignature(obj, signingName, keyId);
  if (text === undefined) return false;
  let signature: Buffer;
  let bytes: Buffer;
  try {
    signature = decodeBase64(text);
    bytes = canonicalJsonBytes(signable(obj));
  } catch (err) {
    if (err instanceof ProtocolError) return false;
    throw err;
  }
  return verifyBytes(publicKey, bytes, signature);
}

// ---------------------------------------------------------------- key files

/**
 * Reads Synapse's signing key file: one key per line, `ed25519 <version>
 * <unpadded Base64 seed>`. Blank lines are skipped; anything else malformed
 * throws ProtocolError("bad_format").
 */
export function parseSigningKeyFile(text: string): SigningKey[] {
  const keys: SigningKey[] = [];
  text.split(/\r?\n/).forEach((line, index) => {
    if (line.trim() === "") return;
    const parts = line.trim().split(/\s+/);
    const [algorithm, version, seed] = parts;
    if (parts.length !== 3 || algorithm === undefined || version === undefined || seed === undefined) {
      throw new ProtocolError("bad_format", `signing key file line ${index + 1}: expected "<algorithm> <version> <seed>"`);
    }
    if (algorithm !== ED25519) {
      throw new ProtocolError("bad_format", `signing key file line ${index + 1}: unsupported algorithm ${algorithm}`);
    }
    keys.push(keyFromSeed(decodeBase64(seed), version));
  });
  return keys;
}

export function formatSigningKeyFile(keys: SigningKey | readonly SigningKey[]): string {
  const list: readonly SigningKey[] = Array.isArray(keys) ? keys : [keys as SigningKey];
  return list.map((key) => `${key.algorithm} ${key.version} ${encodeUnpaddedBase64(key.seed)}\n`).join("");
}
