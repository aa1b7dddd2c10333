import { expect } from "chai";
import { createHash } from "node:crypto";
import { decodeBase64, encodeUnpaddedBase64 } from "../../../server/protocol/base64.ts";
import { ProtocolError } from "../../../server/protocol/errors.ts";
import {
  addContentHash,
  checkContentHash,
  computeContentHash,
  computeEventId,
  computeReferenceHash,
  roomIdForCreateEvent,
  signEvent,
  verifyEventSignature,
} from "../../../server/protocol/hashes.ts";
import type { JsonObject } from "../../../server/protocol/json.ts";
import { ROOM_VERSIONS } from "../../../server/protocol/room-versions.ts";
import type { RoomVersion } from "../../../server/protocol/room-versions.ts";
import { getSignature, keyFromSeed } from "../../../server/protocol/signing.ts";
import { loadTestVectors } from "../../support/spec-data.ts";
import type { TestVector } from "../../support/spec-data.ts";

interface Common {
  signing_key_seed_base64: string;
  server_name: string;
  key_id: string;
}

const vectors = loadTestVectors();
const common = vectors.common as unknown as Common;
const key = keyFromSeed(decodeBase64(common.signing_key_seed_base64), common.key_id.split(":")[1] as string);

function vector(id: string): TestVector {
  const found = vectors.vectors.find((v) => v.id === id);
  if (found === undefined) throw new Error(`test vector ${id} is missing`);
  return found;
}

function version(id: string): RoomVersion {
  const v = ROOM_VERSIONS.get(id);
  if (v === undefined) throw new Error(`room version ${id} is missing`);
  return v;
}

const allVersions = [...ROOM_VERSIONS.values()];
const v1 = version("1");
const v3 = version("3");
const v4 = version("4");
const v11 = version("11");
const v12 = version("12");

/** SHA-256 of a hand-written canonical JSON text: an oracle independent of the code under test. */
function sha256(text: string): Buffer {
  return createHash("sha256").update(text, "utf8").digest();
}

// A message event in the shape of rooms 3+, with the fields the hashes must ignore.
const message: JsonObject = {
  type: "m.room.message",
  room_id: "!r:example.org",
  sender: "@u:example.org",
  origin: "example.org",
  content: { body: "hello", msgtype: "m.text" },
  origin_server_ts: 1000,
  depth: 5,
  prev_events: [],
  auth_events: [],
  hashes: { sha256: "X" },
  signatures: { "example.org": { "ed25519:1": "sig" } },
  unsigned: { age: 4 },
};
// Its redacted form without signatures, spelled out canonically (rules v1–v9 keep `origin`).
const messageRedactedText =
  '{"auth_events":[],"content":{},"depth":5,"hashes":{"sha256":"X"},"origin":"example.org","origin_server_ts":1000,' +
  '"prev_events":[],"room_id":"!r:example.org","sender":"@u:example.org","type":"m.room.message"}';
// Rules v11 drop `origin`.
const messageRedactedTextV11 = messageRedactedText.replace(',"origin":"example.org"', "");

describe("protocol/hashes", () => {
  describe("vectors event-signing-1 and event-signing-2", () => {
    const preV11 = allVersions.filter((v) => v.redactionRules !== "v11");

    it("the redaction rules of rooms 1–10 are the ones that reproduce the vectors", () => {
      expect(preV11.map((v) => v.id)).to.deep.equal(["1", "2", "3", "4", "5", "6", "7", "8", "9", "10"]);
    });

    for (const id of ["event-signing-1", "event-signing-2"]) {
      describe(id, () => {
        const v = vector(id);
        const input = (v.inputs as { event: JsonObject }).event;
        const expected = v.expected as { signed_event: JsonObject; content_hash_sha256: string; signature: string };

        it("content hash", () => {
          expect(encodeUnpaddedBase64(computeContentHash(input))).to.equal(expected.content_hash_sha256);
          expect(addContentHash(input).hashes).to.deep.equal({ sha256: expected.content_hash_sha256 });
        });

        for (const rv of preV11) {
          it(`signed event, byte-exact, with room ${rv.id} redaction rules`, () => {
            const signed = signEvent(input, common.server_name, key, rv);
            expect(signed).to.deep.equal(expected.signed_event);
            expect(getSignature(signed, common.server_name, common.key_id)).to.equal(expected.signature);
            expect(verifyEventSignature(expected.signed_event, common.server_name, common.key_id, key.publicKey, rv)).to.equal(true);
            expect(checkContentHash(expected.signed_event)).to.equal(true);
          });
        }

        for (const rv of [v11, v12]) {
          it(`room ${rv.id} strips "origin" on redaction, so its signature differs (content hash does not)`, () => {
            const signed = signEvent(input, common.server_name, key, rv);
            expect(signed.hashes).to.deep.equal({ sha256: expected.content_hash_sha256 });
            expect(getSignature(signed, common.server_name, common.key_id)).to.be.a("string").that.does.not.equal(expected.signature);
            expect(verifyEventSignature(signed, common.server_name, common.key_id, key.publicKey, rv)).to.equal(true);
            expect(verifyEventSignature(expected.signed_event, common.server_name, common.key_id, key.publicKey, rv)).to.equal(false);
          });
        }
      });
    }
  });

  describe("content hash", () => {
    it("ignores unsigned, signatures and existing hashes", () => {
      const base = computeContentHash(message);
      expect(computeContentHash({ ...message, unsigned: { age: 99 }, signatures: {}, hashes: { sha256: "Y" } }).equals(base)).to.equal(true);
      const { unsigned: _u, signatures: _s, hashes: _h, ...rest } = message;
      expect(base.equals(computeContentHash(rest))).to.equal(true);
    });

    it("covers the full, unredacted content", () => {
      const other = { ...message, content: { body: "bye", msgtype: "m.text" } };
      expect(computeContentHash(other).equals(computeContentHash(message))).to.equal(false);
    });

    it("addContentHash keeps other hash algorithms and does not touch its input", () => {
      const input = { ...message, hashes: { sha512: "keep" } };
      const hashed = addContentHash(input);
      expect(hashed.hashes).to.deep.equal({ sha512: "keep", sha256: encodeUnpaddedBase64(computeContentHash(message)) });
      expect(input.hashes).to.deep.equal({ sha512: "keep" });
    });

    it("checkContentHash detects tampering and malformed hashes", () => {
      const hashed = addContentHash(message);
      expect(checkContentHash(hashed)).to.equal(true);
      expect(checkContentHash({ ...hashed, content: { body: "tampered" } })).to.equal(false);
      expect(checkContentHash(message)).to.equal(false);
      expect(checkContentHash({ ...message, hashes: { sha256: "!!" } })).to.equal(false);
      expect(checkContentHash({ ...message, hashes: "x" })).to.equal(false);
      const { hashes: _h, ...noHashes } = message;
      expect(checkContentHash(noHashes)).to.equal(false);
    });
  });

  describe("event signatures", () => {
    const signed = signEvent(message, "example.org", key, v4);

    it("signatures cover the redacted form: a changed body breaks the hash, not the signature", () => {
      const tampered = { ...signed, content: { body: "tampered" } };
      expect(verifyEventSignature(tampered, "example.org", "ed25519:1", key.publicKey, v4)).to.equal(true);
      expect(checkContentHash(tampered)).to.equal(false);
    });

    it("a changed protected field breaks the signature", () => {
      const changes: JsonObject[] = [{ type: "m.room.topic" }, { depth: 6 }, { sender: "@v:example.org" }, { hashes: { sha256: "Z" } }];
      for (const change of changes) {
        expect(verifyEventSignature({ ...signed, ...change }, "example.org", "ed25519:1", key.publicKey, v4)).to.equal(false);
      }
    });

    it("keeps signatures from other servers already on the event", () => {
      const withThird: JsonObject = { ...signed, signatures: { ...(signed.signatures as JsonObject), "third.org": { "ed25519:t": "t" } } };
      const resigned = signEvent(withThird, "other.org", key, v4);
      expect(Object.keys(resigned.signatures as JsonObject)).to.deep.equal(["example.org", "third.org", "other.org"]);
      expect(resigned.signatures).to.have.nested.property("third\\.org.ed25519:t", "t");
      expect(verifyEventSignature(resigned, "example.org", "ed25519:1", key.publicKey, v4)).to.equal(true);
      expect(verifyEventSignature(resigned, "other.org", "ed25519:1", key.publicKey, v4)).to.equal(true);
    });
  });

  describe("reference hashes and event IDs", () => {
    it("the reference hash is SHA-256 of the redacted event without signatures and unsigned", () => {
      expect(computeReferenceHash(message, v4).equals(sha256(messageRedactedText))).to.equal(true);
      expect(computeReferenceHash(message, v11).equals(sha256(messageRedactedTextV11))).to.equal(true);
    });

    it("room 3 event IDs use standard unpadded Base64, rooms 4+ the URL-safe alphabet", () => {
      const hash = sha256(messageRedactedText);
      expect(computeEventId(message, v3)).to.equal(`$${hash.toString("base64").replace(/=+$/, "")}`);
      for (const rv of allVersions.filter((v) => v.eventFormat === "v4" && v.redactionRules !== "v11")) {
        expect(computeEventId(message, rv), `room ${rv.id}`).to.equal(`$${hash.toString("base64url")}`);
      }
      expect(computeEventId(message, v11)).to.equal(`$${sha256(messageRedactedTextV11).toString("base64url")}`);
    });

    it("the two alphabets differ exactly where the hash has + or /", () => {
      // Find an event whose hash has one of the two characters (about 1 in 3 do).
      let event: JsonObject = message;
      for (let depth = 1; depth < 100 && !/[+/]/.test(computeEventId(event, v3)); depth++) event = { ...message, depth };
      const standard = computeEventId(event, v3);
      const urlSafe = computeEventId(event, v4);
      expect(standard).to.have.length(44);
      expect(urlSafe).to.match(/^\$[A-Za-z0-9_-]{43}$/);
      expect(urlSafe).to.equal(standard.replace(/\+/g, "-").replace(/\//g, "_"));
      expect(urlSafe).to.not.equal(standard);
    });

    it("ignores signatures, unsigned and a legacy top-level age_ts", () => {
      const id = computeEventId(message, v4);
      expect(computeEventId({ ...message, signatures: {}, unsigned: { age_ts: 1, redacted_because: {} } }, v4)).to.equal(id);
      expect(computeEventId({ ...message, age_ts: 12345 }, v4)).to.equal(id);
      expect(computeEventId(signEvent(message, "example.org", key, v4), v4)).to.equal(computeEventId(addContentHash(message), v4));
    });

    it("ignores content the redaction algorithm strips, but not the content hash", () => {
      const id = computeEventId(message, v4);
      expect(computeEventId({ ...message, content: { body: "changed" } }, v4)).to.equal(id);
      expect(computeEventId({ ...message, hashes: { sha256: "Y" } }, v4)).to.not.equal(id);
    });

    it("event format v1 carries its ID in the event", () => {
      expect(computeEventId({ ...message, event_id: "$abc:example.org" }, v1)).to.equal("$abc:example.org");
      expect(() => computeEventId(message, v1)).to.throw(ProtocolError).with.property("code", "bad_format");
    });
  });

  describe("room 12 room IDs", () => {
    const create: JsonObject = {
      type: "m.room.create",
      state_key: "",
      sender: "@alice:example.org",
      content: { room_version: "12", "m.federate": true },
      origin_server_ts: 1000,
      depth: 1,
      prev_events: [],
      auth_events: [],
      hashes: { sha256: "H" },
      signatures: { "example.org": { "ed25519:1": "sig" } },
    };

    it('is "!" and the create event\'s event ID without "$"', () => {
      const roomId = roomIdForCreateEvent(create, v12);
      expect(roomId).to.equal(`!${computeEventId(create, v12).slice(1)}`);
      expect(roomId).to.match(/^![A-Za-z0-9_-]{43}$/);
    });

    it("hashes the whole create content (v11 redaction keeps it)", () => {
      const text =
        '{"auth_events":[],"content":{"m.federate":true,"room_version":"12"},"depth":1,"hashes":{"sha256":"H"},' +
        '"origin_server_ts":1000,"prev_events":[],"sender":"@alice:example.org","state_key":"","type":"m.room.create"}';
      expect(roomIdForCreateEvent(create, v12)).to.equal(`!${sha256(text).toString("base64url")}`);
    });

    it("before room 12 the room ID is the create event's room_id", () => {
      expect(roomIdForCreateEvent({ ...create, room_id: "!old:example.org" }, v11)).to.equal("!old:example.org");
      expect(() => roomIdForCreateEvent(create, v11)).to.throw(ProtocolError).with.property("code", "bad_format");
    });
  });
});
