// End-to-end encryption helpers for integration tests: a device identity
// with a real ed25519 key, signed device keys, one-time and fallback keys,
// and cross-signing keys, all signed the way clients sign them.
import { randomBytes } from "node:crypto";
import { encodeUnpaddedBase64 } from "../../server/protocol/base64.ts";
import type { JsonObject } from "../../server/protocol/json.ts";
import { generateSigningKey, keyFromSeed, publicKeyBase64, signJson, type SigningKey } from "../../server/protocol/signing.ts";
import type { TestUser } from "./accounts.ts";
import type { TestClient } from "./http-client.ts";

export const V3 = "/_matrix/client/v3";
const ALGORITHMS = ["m.olm.v1.curve25519-aes-sha2", "m.megolm.v1.aes-sha2"];

/** A random curve25519-sized public key (the server never uses it). */
export const fakeCurveKey = (): string => encodeUnpaddedBase64(randomBytes(32));

export class TestDevice {
  readonly user: TestUser;
  readonly key: SigningKey;
  private keyCounter = 0;

  constructor(user: TestUser) {
    this.user = user;
    this.key = generateSigningKey(user.device_id);
  }

  get ed25519(): string {
    return publicKeyBase64(this.key);
  }

  deviceKeys(extra: JsonObject = {}): JsonObject {
    const { user_id, device_id } = this.user;
    return signJson(
      {
        user_id,
        device_id,
        algorithms: ALGORITHMS,
        keys: { [`curve25519:${device_id}`]: fakeCurveKey(), [`ed25519:${device_id}`]: this.ed25519 },
        ...extra,
      },
      user_id,
      this.key,
    );
  }

  /** `n` signed_curve25519 one-time keys, each signed by this device. */
  oneTimeKeys(n: number): Record<string, JsonObject> {
    const out: Record<string, JsonObject> = {};
    for (let i = 0; i < n; i++) out[`signed_curve25519:${this.nextKeyId()}`] = this.signedKey();
    return out;
  }

  fallbackKey(): Record<string, JsonObject> {
    return { [`signed_curve25519:${this.nextKeyId()}`]: this.signedKey({ fallback: true }) };
  }

  signedKey(extra: JsonObject = {}): JsonObject {
    return signJson({ key: fakeCurveKey(), ...extra }, this.user.user_id, this.key);
  }

  nextKeyId(): string {
    this.keyCounter += 1;
    return `AAAA${this.keyCounter.toString(36).padStart(4, "0")}`;
  }

  async upload(api: TestClient, body: JsonObject): Promise<{ status: number; body: Record<string, any> }> {
    return api.post<Record<string, any>>(`${V3}/keys/upload`, body, { token: this.user.access_token });
  }
}

/** A cross-signing key pair with its public key as key version. */
export function crossSigningKey(): SigningKey {
  const seed = randomBytes(32);
  const probe = keyFromSeed(seed, "probe");
  // The key ID of a cross-signing key is its own public key; Base64 may hold + and /, which
  // signing.ts's key versions do not allow, so draw until the key fits.
  const pub = publicKeyBase64(probe);
  return /^[A-Za-z0-9_]+$/.test(pub) ? keyFromSeed(seed, pub) : crossSigningKey();
}

/** A CrossSigningKey object for `usage`, signed by `signer` (the master key) when given. */
export function crossSigningKeyJson(user: TestUser, usage: string, key: SigningKey, signer?: SigningKey): JsonObject {
  const pub = publicKeyBase64(key);
  const obj: JsonObject = { user_id: user.user_id, usage: [usage], keys: { [`ed25519:${pub}`]: pub } };
  return signer ? signJson(obj, user.user_id, signer) : obj;
}

/** Master, self-signing and user-signing keys of a user, with the upload body. */
export function crossSigningSet(user: TestUser): { master: SigningKey; selfSigning: SigningKey; userSigning: SigningKey; body: JsonObject } {
  const master = crossSigningKey();
  const selfSigning = crossSigningKey();
  const userSigning = crossSigningKey();
  return {
    master,
    selfSigning,
    userSigning,
    body: {
      master_key: crossSigningKeyJson(user, "master", master),
      self_signing_key: crossSigningKeyJson(user, "self_signing", selfSigning, master),
      user_signing_key: crossSigningKeyJson(user, "user_signing", userSigning, master),
    },
  };
}
