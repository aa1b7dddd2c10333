import { expect } from "chai";
import fc from "fast-check";
import { decodeBase64, encodeUnpaddedBase64 } from "../../../server/protocol/base64.ts";
import { ProtocolError } from "../../../server/protocol/errors.ts";
import type { JsonObject, JsonValue } from "../../../server/protocol/json.ts";
import {
  formatSigningKeyFile,
  generateSigningKey,
  getSignature,
  keyFromSeed,
  parseSigningKeyFile,
  publicKeyBase64,
  signJson,
  verifyJsonSignature,
} from "../../../server/protocol/signing.ts";
import type { SigningKey } from "../../../server/protocol/signing.ts";
import { loadTestVectors } from "../../support/spec-data.ts";
import type { TestVector } from "../../support/spec-data.ts";

interface Common {
  signing_key_seed_base64: string;
  server_name: string;
  key_id: string;
}

const vectors = loadTestVectors();
const common = vectors.common as unknown as Common;

function vector(id: string): TestVector {
  const found = vectors.vectors.find((v) => v.id === id);
  if (found === undefined) throw new Error(`test vector ${id} is missing`);
  return found;
}

function commonKey(): SigningKey {
  const [algorithm, version] = common.key_id.split(":");
  expect(algorithm).to.equal("ed25519");
  return keyFromSeed(decodeBase64(common.signing_key_seed_base64), version as string);
}

const integerJson: fc.Arbitrary<JsonValue> = fc.letrec<{ value: JsonValue }>((tie) => ({
  value: fc.oneof(
    { depthSize: "small", withCrossShrink: true },
    fc.constant(null),
    fc.boolean(),
    fc.maxSafeInteger(),
    fc.string({ unit: "binary" }),
    fc.array(tie("value"), { maxLength: 4 }),
    fc.dictionary(fc.string({ unit: "binary" }), tie("value"), { maxKeys: 4 }),
  ),
})).value;
const signableObject = fc.dictionary(
  fc.string({ unit: "binary" }).filter((k) => k !== "signatures" && k !== "unsigned"),
  integerJson,
  { maxKeys: 6 },
);

describe("protocol/signing", () => {
  const key = commonKey();

  describe("vectors json-signing-1 and json-signing-2", () => {
    for (const id of ["json-signing-1", "json-signing-2"]) {
      it(`${id}: byte-exact signature with the spec's key`, () => {
        const v = vector(id);
        const input = (v.inputs as { json: JsonObject }).json;
        const expected = v.expected as { signed_json: JsonObject; signature: string };
        const signed = signJson(input, common.server_name, key);
        expect(signed).to.deep.equal(expected.signed_json);
        expect(getSignature(signed, common.server_name, common.key_id)).to.equal(expected.signature);
        expect(verifyJsonSignature(expected.signed_json, common.server_name, common.key_id, key.publicKey)).to.equal(true);
      });
    }
  });

  describe("signJson", () => {
    it("does not cover unsigned or existing signatures, and keeps both", () => {
      const plain = signJson({ a: 1 }, "domain", key);
      const decorated = signJson(
        { a: 1, unsigned: { age: 5 }, signatures: { other: { "ed25519:x": "sig" }, domain: { "ed25519:old": "o" } } },
        "domain",
        key,
      );
      const ours = getSignature(plain, "domain", "ed25519:1");
      expect(ours).to.be.a("string");
      expect(decorated).to.deep.equal({
        a: 1,
        unsigned: { age: 5 },
        signatures: { other: { "ed25519:x": "sig" }, domain: { "ed25519:old": "o", "ed25519:1": ours as string } },
      });
    });

    it("does not modify its input", () => {
      const input: JsonObject = { a: 1, signatures: { other: { "ed25519:x": "sig" } } };
      signJson(input, "domain", key);
      expect(input).to.deep.equal({ a: 1, signatures: { other: { "ed25519:x": "sig" } } });
    });

    it("rejects a non-object signatures member", () => {
      expect(() => signJson({ signatures: "x" }, "domain", key)).to.throw(ProtocolError).with.property("code", "bad_format");
      expect(() => signJson({ signatures: { domain: [] } }, "domain", key)).to.throw(ProtocolError);
    });
  });

  describe("verifyJsonSignature", () => {
    const signed = signJson({ one: 1, two: "Two" }, "domain", key);

    it("accepts the signature with the right server, key ID and public key", () => {
      expect(verifyJsonSignature(signed, "domain", "ed25519:1", key.publicKey)).to.equal(true);
    });

    it("ignores changes to unsigned", () => {
      expect(verifyJsonSignature({ ...signed, unsigned: { age: 1 } }, "domain", "ed25519:1", key.publicKey)).to.equal(true);
    });

    it("fails for the wrong server name, key ID or public key", () => {
      expect(verifyJsonSignature(signed, "other", "ed25519:1", key.publicKey)).to.equal(false);
      expect(verifyJsonSignature(signed, "domain", "ed25519:2", key.publicKey)).to.equal(false);
      expect(verifyJsonSignature(signed, "domain", "ed25519:1", generateSigningKey().publicKey)).to.equal(false);
      expect(verifyJsonSignature(signed, "domain", "ed25519:1", new Uint8Array(31))).to.equal(false);
    });

    it("fails for a missing, malformed or altered signature", () => {
      const withSig = (sig: JsonValue): JsonObject => ({ ...signed, signatures: { domain: { "ed25519:1": sig } } });
      const good = getSignature(signed, "domain", "ed25519:1") as string;
      const altered = decodeBase64(good);
      altered[0] = (altered[0] as number) ^ 1;
      expect(verifyJsonSignature({ one: 1, two: "Two" }, "domain", "ed25519:1", key.publicKey)).to.equal(false);
      expect(verifyJsonSignature(withSig("not base64!"), "domain", "ed25519:1", key.publicKey)).to.equal(false);
      expect(verifyJsonSignature(withSig(good.slice(0, 40)), "domain", "ed25519:1", key.publicKey)).to.equal(false);
      expect(verifyJsonSignature(withSig(7), "domain", "ed25519:1", key.publicKey)).to.equal(false);
      expect(verifyJsonSignature(withSig(encodeUnpaddedBase64(altered)), "domain", "ed25519:1", key.publicKey)).to.equal(false);
      expect(verifyJsonSignature({ ...signed, signatures: "x" }, "domain", "ed25519:1", key.publicKey)).to.equal(false);
    });

    it("accepts a padded signature (decoders should accept padding)", () => {
      const good = getSignature(signed, "domain", "ed25519:1") as string;
      const padded: JsonObject = { ...signed, signatures: { domain: { "ed25519:1": `${good}==` } } };
      expect(verifyJsonSignature(padded, "domain", "ed25519:1", key.publicKey)).to.equal(true);
    });
  });

  describe("keys", () => {
    it("derives the key from the seed", () => {
      expect(key.keyId).to.equal(common.key_id);
      expect(key.version).to.equal("1");
      // The spec's seed text ends in "A1": its two spare bits are not zero, so
      // it only decodes with a decoder that ignores them; re-encoding gives "A0".
      expect(key.seed.equals(decodeBase64(common.signing_key_seed_base64))).to.equal(true);
      expect(encodeUnpaddedBase64(key.seed)).to.equal(common.signing_key_seed_base64.replace(/1$/, "0"));
      expect(key.publicKey).to.have.length(32);
      expect(publicKeyBase64(key)).to.equal(encodeUnpaddedBase64(key.publicKey)).and.to.have.length(43);
    });

    it("generates distinct keys with Synapse-style versions", () => {
      const a = generateSigningKey();
      const b = generateSigningKey();
      expect(a.keyId).to.match(/^ed25519:a_[A-Za-z]{4}$/);
      expect(a.seed).to.have.length(32);
      expect(a.seed.equals(b.seed)).to.equal(false);
      expect(generateSigningKey("auto").keyId).to.equal("ed25519:auto");
      const signed = signJson({ x: 1 }, "example.org", a);
      expect(verifyJsonSignature(signed, "example.org", a.keyId, a.publicKey)).to.equal(true);
      expect(verifyJsonSignature(signed, "example.org", a.keyId, b.publicKey)).to.equal(false);
    });

    it("rejects a seed of the wrong size and a bad key version", () => {
      expect(() => keyFromSeed(new Uint8Array(31), "1")).to.throw(ProtocolError).with.property("code", "bad_format");
      expect(() => keyFromSeed(new Uint8Array(32), "a:b")).to.throw(ProtocolError).with.property("code", "bad_id");
      expect(() => keyFromSeed(new Uint8Array(32), "")).to.throw(ProtocolError);
    });
  });

  describe("Synapse signing key files", () => {
    it("formats one line per key: algorithm, version, unpadded seed", () => {
      const other = generateSigningKey("a_Test");
      const seed = encodeUnpaddedBase64(key.seed);
      expect(formatSigningKeyFile(key)).to.equal(`ed25519 1 ${seed}\n`);
      expect(formatSigningKeyFile([key, other])).to.equal(`ed25519 1 ${seed}\ned25519 a_Test ${encodeUnpaddedBase64(other.seed)}\n`);
      // The spec's own spelling of the seed (non-zero spare bits) reads back as the same key.
      expect(parseSigningKeyFile(`ed25519 1 ${common.signing_key_seed_base64}`)[0]?.seed.equals(key.seed)).to.equal(true);
    });

    it("parses what it formats, skipping blank lines and accepting padding", () => {
      const other = generateSigningKey();
      const text = `\n${formatSigningKeyFile(key)}\r\n  ed25519 ${other.version} ${other.seed.toString("base64")}  \n\n`;
      const parsed = parseSigningKeyFile(text);
      expect(parsed.map((k) => k.keyId)).to.deep.equal([key.keyId, other.keyId]);
      expect(parsed[0]?.publicKey.equals(key.publicKey)).to.equal(true);
      expect(parsed[1]?.publicKey.equals(other.publicKey)).to.equal(true);
    });

    it("rejects malformed lines", () => {
      for (const text of ["ed25519 1", "ed25519 1 AAAA extra", "rsa 1 " + common.signing_key_seed_base64, "ed25519 1 AAAA", "ed25519 1 !!!"]) {
        expect(() => parseSigningKeyFile(text), text).to.throw(ProtocolError);
      }
    });
  });

  describe("properties", () => {
    it("a signature verifies, and survives changes to unsigned", () => {
      fc.assert(
        fc.property(signableObject, integerJson, (obj, extra) => {
          const signed = signJson(obj, "example.org", key);
          expect(verifyJsonSignature(signed, "example.org", "ed25519:1", key.publicKey)).to.equal(true);
          const moved = { ...signed, unsigned: { extra } };
          expect(verifyJsonSignature(moved, "example.org", "ed25519:1", key.publicKey)).to.equal(true);
        }),
        { numRuns: 50 },
      );
    });

    it("any change to a signed member makes verification fail", () => {
      const mutation = fc.oneof(
        fc.record({ kind: fc.constant("add" as const), key: fc.string({ unit: "binary" }), value: integerJson }),
        fc.record({ kind: fc.constant("change" as const), index: fc.nat(), value: integerJson }),
        fc.record({ kind: fc.constant("remove" as const), index: fc.nat() }),
      );
      fc.assert(
        fc.property(signableObject, mutation, (obj, m) => {
          const signed = signJson(obj, "example.org", key);
          const keys = Object.keys(obj);
          const tampered: JsonObject = { ...signed };
          if (m.kind === "add") {
            // "__proto__" by assignment sets the prototype instead of adding a member.
            fc.pre(m.key !== "signatures" && m.key !== "unsigned" && m.key !== "__proto__" && !Object.hasOwn(obj, m.key));
            tampered[m.key] = m.value;
          } else {
            fc.pre(keys.length > 0);
            const k = keys[m.index % keys.length] as string;
            if (m.kind === "remove") delete tampered[k];
            else {
              fc.pre(JSON.stringify(m.value) !== JSON.stringify(obj[k]));
              tampered[k] = m.value;
            }
          }
          expect(verifyJsonSignature(tampered, "example.org", "ed25519:1", key.publicKey)).to.equal(false);
        }),
        { numRuns: 100 },
      );
    });
  });
});
