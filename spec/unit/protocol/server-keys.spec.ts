// Server key responses and key validity (server-server API, "Retrieving server keys").
import { expect } from "chai";
import { ProtocolError } from "../../../server/protocol/errors.ts";
import { getRoomVersion } from "../../../server/protocol/room-versions.ts";
import { checkSelfSigned, effectiveValidUntil, keyAnswersAt, MAX_KEY_VALIDITY_MS, parseServerKeys, signedByNotary } from "../../../server/protocol/server-keys.ts";
import { generateSigningKey, publicKeyBase64, signJson } from "../../../server/protocol/signing.ts";
import type { JsonObject } from "../../../server/protocol/json.ts";

const key = generateSigningKey("k1");
const old = generateSigningKey("k0");
const response = (over: JsonObject = {}): JsonObject =>
  signJson(
    {
      server_name: "a.example",
      valid_until_ts: 2_000_000,
      verify_keys: { [key.keyId]: { key: publicKeyBase64(key) } },
      old_verify_keys: { [old.keyId]: { key: publicKeyBase64(old), expired_ts: 1_000 } },
      ...over,
    },
    "a.example",
    key,
  );

describe("server keys", () => {
  it("parses verify_keys and old_verify_keys and checks the self-signature", () => {
    const r = response();
    const keys = parseServerKeys(r, "a.example");
    expect(keys.validUntilTs).to.equal(2_000_000);
    expect(keys.verifyKeys.map((k) => k.keyId)).to.deep.equal([key.keyId]);
    expect(keys.verifyKeys[0]!.publicKey.equals(key.publicKey)).to.equal(true);
    expect(keys.oldVerifyKeys).to.have.length(1);
    expect(keys.oldVerifyKeys[0]!.expiredTs).to.equal(1_000);
    expect(() => checkSelfSigned(r, keys)).to.not.throw();
  });

  it("refuses another server_name, a missing valid_until_ts and malformed keys", () => {
    expect(() => parseServerKeys(response(), "b.example")).to.throw(ProtocolError, /server_name/);
    expect(() => parseServerKeys({ ...response(), valid_until_ts: "soon" }, "a.example")).to.throw(ProtocolError);
    expect(() => parseServerKeys({ ...response(), verify_keys: { "ed25519:x": { key: "AAAA" } } }, "a.example")).to.throw(ProtocolError, /32-byte/);
    expect(() => parseServerKeys({ ...response(), verify_keys: { "ed25519:bad id": { key: publicKeyBase64(key) } } }, "a.example")).to.throw(ProtocolError);
  });

  it("refuses a response not signed by its own keys, or signed wrongly", () => {
    const unsigned = { ...response(), signatures: {} };
    expect(() => checkSelfSigned(unsigned, parseServerKeys(unsigned, "a.example"))).to.throw(ProtocolError, /not signed/);
    const byOther = signJson({ ...response(), signatures: undefined } as unknown as JsonObject, "a.example", generateSigningKey("zz"));
    expect(() => checkSelfSigned(byOther, parseServerKeys(byOther, "a.example"))).to.throw(ProtocolError);
    const tampered = { ...response(), valid_until_ts: 9_999_999 };
    expect(() => checkSelfSigned(tampered, parseServerKeys(tampered, "a.example"))).to.throw(ProtocolError, /does not verify/);
  });

  it("checks a notary's signature against its configured key", () => {
    const notary = generateSigningKey("n");
    const countersigned = signJson(response(), "notary.example", notary);
    expect(signedByNotary(countersigned, "notary.example", [{ keyId: notary.keyId, publicKey: notary.publicKey }])).to.equal(true);
    expect(signedByNotary(countersigned, "notary.example", [{ keyId: notary.keyId, publicKey: generateSigningKey("n").publicKey }])).to.equal(false);
    expect(signedByNotary(response(), "notary.example", [{ keyId: notary.keyId, publicKey: notary.publicKey }])).to.equal(false);
  });

  it("caps valid_until_ts at 7 days after receipt", () => {
    expect(effectiveValidUntil(5_000, 1_000)).to.equal(5_000);
    expect(effectiveValidUntil(Number.MAX_SAFE_INTEGER, 1_000)).to.equal(1_000 + MAX_KEY_VALIDITY_MS);
  });

  it("lets a key answer only within its validity where the room version enforces it (v5+), and always before", () => {
    const enforce = (version: string) => getRoomVersion(version)!.enforceKeyValidity;
    expect([1, 2, 3, 4].map((v) => enforce(String(v)))).to.deep.equal([false, false, false, false]);
    expect([5, 10, 12].map((v) => enforce(String(v)))).to.deep.equal([true, true, true]);
    const current = { validUntilTs: 10_000, expiredTs: null };
    expect(keyAnswersAt(current, 10_000, true)).to.equal(true);
    expect(keyAnswersAt(current, 10_001, true)).to.equal(false);
    expect(keyAnswersAt(current, 10_001, false)).to.equal(true);
    const retired = { validUntilTs: null, expiredTs: 5_000 };
    expect(keyAnswersAt(retired, 4_999, true)).to.equal(true);
    expect(keyAnswersAt(retired, 5_001, true)).to.equal(false);
    expect(keyAnswersAt(retired, 5_001, false)).to.equal(true);
  });
});
