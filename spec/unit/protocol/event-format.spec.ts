import { expect } from "chai";
import { canonicalJson, canonicalJsonBytes, parseJson } from "../../../server/protocol/canonical-json.ts";
import { ProtocolError } from "../../../server/protocol/errors.ts";
import {
  MAX_PDU_BYTES,
  authEventIds,
  parsePdu,
  prevEventIds,
  toWirePdu,
} from "../../../server/protocol/event-format.ts";
import type { PduFields } from "../../../server/protocol/event-format.ts";
import { checkContentHash, computeEventId, roomIdForCreateEvent, signEvent, verifyEventSignature } from "../../../server/protocol/hashes.ts";
import type { JsonObject } from "../../../server/protocol/json.ts";
import { ROOM_VERSIONS } from "../../../server/protocol/room-versions.ts";
import type { RoomVersion } from "../../../server/protocol/room-versions.ts";
import { keyFromSeed } from "../../../server/protocol/signing.ts";

function version(id: string): RoomVersion {
  const v = ROOM_VERSIONS.get(id);
  if (v === undefined) throw new Error(`room version ${id} is missing`);
  return v;
}

const all = [...ROOM_VERSIONS.values()];
const key = keyFromSeed(new Uint8Array(32).fill(7), "test");
const hash43 = "Nhcu5BS-UMnFX7hBVfVSoXiD7OgH6iRT-xyIuqDnpYQ";
const hash43Standard = "Nhcu5BS+UMnFX7hBVfVSoXiD7OgH6iRT/xyIuqDnpYQ";

/** An event ID in the format of the version, distinguished by `tag`. */
function idFor(v: RoomVersion, tag: string): string {
  if (v.eventFormat === "v1") return `$${tag}:example.org`;
  const base = v.eventFormat === "v3" ? hash43Standard : hash43;
  return `$${tag}${base.slice(tag.length)}`;
}

function roomFor(v: RoomVersion): string {
  return v.roomIdFromCreateEvent ? `!${hash43}` : "!room:example.org";
}

function fieldsFor(v: RoomVersion, overrides: Partial<PduFields> = {}): PduFields {
  return {
    roomId: roomFor(v),
    sender: "@alice:example.org",
    type: "m.room.message",
    content: { body: "hi", msgtype: "m.text" },
    originServerTs: 1000,
    depth: 3,
    prevEventIds: [idFor(v, "p")],
    authEventIds: [idFor(v, "a"), idFor(v, "b")],
    ...(v.eventFormat === "v1" ? { eventId: "$ev:example.org" } : {}),
    ...overrides,
  };
}

function build(v: RoomVersion, overrides: Partial<PduFields> = {}): JsonObject {
  return signEvent(toWirePdu(fieldsFor(v, overrides), v), "example.org", key, v);
}

function expectCode(fn: () => unknown, code: string, message?: string): void {
  expect(fn, message).to.throw(ProtocolError).with.property("code", code);
}

function without(pdu: JsonObject, field: string): JsonObject {
  const copy = { ...pdu };
  delete copy[field];
  return copy;
}

describe("protocol/event-format", () => {
  describe("round trip through toWirePdu, signEvent and parsePdu", () => {
    for (const v of all) {
      it(`room ${v.id}`, () => {
        const pdu = build(v, { stateKey: undefined });
        const parsed = parsePdu(pdu, v);
        const expectedId = v.eventFormat === "v1" ? "$ev:example.org" : computeEventId(pdu, v);
        expect(parsed).to.deep.equal({
          eventId: expectedId,
          roomId: roomFor(v),
          type: "m.room.message",
          stateKey: undefined,
          sender: "@alice:example.org",
          content: { body: "hi", msgtype: "m.text" },
          originServerTs: 1000,
          depth: 3,
          prevEventIds: [idFor(v, "p")],
          authEventIds: [idFor(v, "a"), idFor(v, "b")],
          redacts: undefined,
          pdu,
        });
        expect(parsed.pdu).to.equal(pdu);
        const idShape = { v1: /^\$ev:example\.org$/, v3: /^\$[A-Za-z0-9+/]{43}$/, v4: /^\$[A-Za-z0-9_-]{43}$/ }[v.eventFormat];
        expect(parsed.eventId).to.match(idShape);
        expect(checkContentHash(pdu)).to.equal(true);
        expect(verifyEventSignature(pdu, "example.org", key.keyId, key.publicKey, v)).to.equal(true);
      });
    }

    it("keeps an empty state key as a state event", () => {
      const v = version("10");
      expect(parsePdu(build(v, { type: "m.room.name", stateKey: "", content: { name: "n" } }), v).stateKey).to.equal("");
    });
  });

  describe("toWirePdu", () => {
    it("event format v1: event_id and [id, {sha256}] pairs ({} when the hash is unknown)", () => {
      const v = version("1");
      const pdu = toWirePdu(
        fieldsFor(v, { eventHashes: { "$p:example.org": "abc", constructor: "x" }, authEventIds: ["$a:example.org", "constructor"] }),
        v,
      );
      expect(pdu).to.deep.equal({
        type: "m.room.message",
        sender: "@alice:example.org",
        content: { body: "hi", msgtype: "m.text" },
        origin_server_ts: 1000,
        depth: 3,
        room_id: "!room:example.org",
        event_id: "$ev:example.org",
        prev_events: [["$p:example.org", { sha256: "abc" }]],
        auth_events: [["$a:example.org", {}], ["constructor", { sha256: "x" }]],
      });
      const noHashes = toWirePdu(fieldsFor(v, { authEventIds: ["toString"] }), v);
      expect(noHashes.auth_events).to.deep.equal([["toString", {}]]);
    });

    it("event formats v3/v4: plain ID lists and no event_id", () => {
      const v = version("4");
      expect(toWirePdu(fieldsFor(v, { origin: "example.org", stateKey: "k" }), v)).to.deep.equal({
        type: "m.room.message",
        sender: "@alice:example.org",
        content: { body: "hi", msgtype: "m.text" },
        origin_server_ts: 1000,
        depth: 3,
        state_key: "k",
        room_id: "!room:example.org",
        origin: "example.org",
        prev_events: [idFor(v, "p")],
        auth_events: [idFor(v, "a"), idFor(v, "b")],
      });
    });

    it("room 12 create events have no room_id, whatever the caller passes", () => {
      const v = version("12");
      const pdu = toWirePdu(fieldsFor(v, { type: "m.room.create", stateKey: "", content: { room_version: "12" }, prevEventIds: [], authEventIds: [] }), v);
      expect(pdu).to.not.have.property("room_id");
      const v11pdu = toWirePdu(fieldsFor(version("11"), { type: "m.room.create", stateKey: "", content: {} }), version("11"));
      expect(v11pdu).to.have.property("room_id", "!room:example.org");
    });

    it("redacts goes top-level before room 11 and into content from room 11", () => {
      const fields = { type: "m.room.redaction", content: { reason: "spam" } };
      const v10 = version("10");
      const v11 = version("11");
      const old = toWirePdu(fieldsFor(v10, { ...fields, redacts: idFor(v10, "t") }), v10);
      expect(old.redacts).to.equal(idFor(v10, "t"));
      expect(old.content).to.deep.equal({ reason: "spam" });
      const newer = toWirePdu(fieldsFor(v11, { ...fields, redacts: idFor(v11, "t") }), v11);
      expect(newer).to.not.have.property("redacts");
      expect(newer.content).to.deep.equal({ reason: "spam", redacts: idFor(v11, "t") });
    });

    it("requires room_id (except room 12 create events) and, for format v1, event_id", () => {
      expectCode(() => toWirePdu(fieldsFor(version("12"), { roomId: undefined }), version("12")), "bad_format");
      expectCode(() => toWirePdu(fieldsFor(version("1"), { eventId: undefined }), version("1")), "bad_format");
    });
  });

  describe("prev_events / auth_events", () => {
    it("normalises v1 pairs and v3+ lists to IDs", () => {
      const v1 = version("1");
      const pairs: JsonObject = { prev_events: [["$p:example.org", { sha256: "x" }]], auth_events: [["$a:example.org", {}], ["$b:example.org", {}]] };
      expect(prevEventIds(pairs, v1)).to.deep.equal(["$p:example.org"]);
      expect(authEventIds(pairs, v1)).to.deep.equal(["$a:example.org", "$b:example.org"]);
      const v4 = version("4");
      expect(prevEventIds({ prev_events: [idFor(v4, "p")] }, v4)).to.deep.equal([idFor(v4, "p")]);
    });

    it("rejects the other format's shape", () => {
      expectCode(() => prevEventIds({ prev_events: ["$p:example.org"] }, version("1")), "bad_format");
      expectCode(() => prevEventIds({ prev_events: [[idFor(version("4"), "p"), {}]] }, version("4")), "bad_format");
      expectCode(() => prevEventIds({ prev_events: [["$p:example.org", {}, 1]] }, version("2")), "bad_format");
      expectCode(() => prevEventIds({ prev_events: [["$p:example.org", "hash"]] }, version("2")), "bad_format");
      expectCode(() => prevEventIds({ prev_events: [[1, {}]] }, version("2")), "bad_format");
      expectCode(() => authEventIds({}, version("4")), "bad_format");
    });

    it("rejects IDs that do not fit the event format", () => {
      expectCode(() => prevEventIds({ prev_events: ["$p:example.org"] }, version("4")), "bad_id");
      expectCode(() => prevEventIds({ prev_events: [`$${hash43Standard}`] }, version("4")), "bad_id");
      expectCode(() => prevEventIds({ prev_events: [`$${hash43}`] }, version("3")), "bad_id");
      expectCode(() => prevEventIds({ prev_events: [["$nodomain", {}]] }, version("1")), "bad_id");
    });

    it("allows at most 20 prev_events and 10 auth_events", () => {
      const v = version("10");
      const ids = (n: number): string[] => Array.from({ length: n }, (_, i) => idFor(v, `x${i}`));
      expect(() => parsePdu(build(v, { prevEventIds: ids(20), authEventIds: ids(10) }), v)).to.not.throw();
      expectCode(() => parsePdu(build(v, { prevEventIds: ids(21) }), v), "bad_format");
      expectCode(() => parsePdu(build(v, { authEventIds: ids(11) }), v), "bad_format");
    });
  });

  describe("room IDs and room 12 create events", () => {
    const v12 = version("12");
    const create = build(v12, { type: "m.room.create", stateKey: "", content: { room_version: "12" }, prevEventIds: [], authEventIds: [], depth: 1 });

    it("derives the room ID of a create event from its hash", () => {
      const parsed = parsePdu(create, v12);
      expect(parsed.roomId).to.equal(roomIdForCreateEvent(create, v12));
      expect(parsed.roomId).to.equal(`!${parsed.eventId.slice(1)}`);
    });

    it("accepts events in that room and checks options.roomId", () => {
      const roomId = roomIdForCreateEvent(create, v12);
      const message = build(v12, { roomId, authEventIds: [] });
      expect(parsePdu(message, v12, { roomId }).roomId).to.equal(roomId);
      expectCode(() => parsePdu(message, v12, { roomId: `!${hash43}` }), "bad_format");
    });

    it("requires the hash form of room ID in room 12 and the server form before", () => {
      expectCode(() => parsePdu(build(v12, { roomId: "!room:example.org" }), v12), "bad_id");
      expectCode(() => parsePdu(build(version("11"), { roomId: `!${hash43}` }), version("11")), "bad_id");
    });

    it("still requires room_id on m.room.create events that are not the create event", () => {
      const notCreate = without(build(v12, { type: "m.room.create", stateKey: "x", content: {} }), "room_id");
      expectCode(() => parsePdu(notCreate, v12), "bad_format");
    });

    it("leaves a create event that carries room_id to the auth rules, with its derived room ID", () => {
      const withRoomId = signEvent({ ...without(create, "hashes"), room_id: "!fake:example.org" }, "example.org", key, v12);
      const parsed = parsePdu(withRoomId, v12);
      expect(parsed.roomId).to.equal(roomIdForCreateEvent(withRoomId, v12));
      expect(parsed.pdu.room_id).to.equal("!fake:example.org");
      expectCode(() => parsePdu({ ...create, room_id: 5 }, v12), "bad_format");
    });
  });

  describe("redacts", () => {
    it("comes from the top level before room 11", () => {
      const v = version("10");
      expect(parsePdu(build(v, { type: "m.room.redaction", content: {}, redacts: idFor(v, "t") }), v).redacts).to.equal(idFor(v, "t"));
      expectCode(() => parsePdu({ ...build(v, { type: "m.room.redaction", content: {} }), redacts: 5 }, v), "bad_format");
    });

    it("comes from content from room 11; a top-level one is ignored", () => {
      const v = version("11");
      expect(parsePdu(build(v, { type: "m.room.redaction", content: {}, redacts: idFor(v, "t") }), v).redacts).to.equal(idFor(v, "t"));
      const topLevelOnly = { ...build(v, { type: "m.room.redaction", content: {} }), redacts: idFor(v, "t") };
      expect(parsePdu(topLevelOnly, v).redacts).to.equal(undefined);
      expect(parsePdu(build(v, { type: "m.room.redaction", content: { redacts: 5 } }), v).redacts).to.equal(undefined);
    });

    it("is undefined for other event types", () => {
      const v = version("10");
      expect(parsePdu(build(v, { redacts: idFor(v, "t") }), v).redacts).to.equal(undefined);
    });
  });

  describe("event IDs", () => {
    it("format v1 takes event_id from the event and validates it", () => {
      const v = version("2");
      expect(parsePdu(build(v), v).eventId).to.equal("$ev:example.org");
      expectCode(() => parsePdu(without(build(v), "event_id"), v), "bad_format");
      expectCode(() => parsePdu({ ...build(v), event_id: "$nodomain" }, v), "bad_id");
      expectCode(() => parsePdu({ ...build(v), event_id: `$${"a".repeat(256 - 13)}:example.org` }, v), "too_large");
    });

    it("formats v3+ compute it, over whatever the object contains", () => {
      const v = version("5");
      const pdu = { ...build(v), event_id: "$claimed:example.org" };
      const parsed = parsePdu(pdu, v);
      expect(parsed.eventId).to.equal(computeEventId(pdu, v));
      expect(parsed.eventId).to.not.equal(computeEventId(build(v), v));
    });

    it("checks options.eventId", () => {
      const v = version("11");
      const pdu = build(v);
      const id = computeEventId(pdu, v);
      expect(parsePdu(pdu, v, { eventId: id }).eventId).to.equal(id);
      expectCode(() => parsePdu(pdu, v, { eventId: idFor(v, "zz") }), "bad_id");
    });
  });

  describe("size limits", () => {
    const v = version("11");

    it(`accepts a PDU of exactly ${MAX_PDU_BYTES} bytes of canonical JSON and rejects one byte more`, () => {
      const small: JsonObject = build(v, { content: { body: "" } });
      const room = MAX_PDU_BYTES - canonicalJsonBytes(small).length;
      const exact: JsonObject = { ...small, content: { body: "x".repeat(room) } };
      expect(canonicalJsonBytes(exact).length).to.equal(MAX_PDU_BYTES);
      expect(() => parsePdu(exact, v)).to.not.throw();
      expectCode(() => parsePdu({ ...small, content: { body: "x".repeat(room + 1) } }, v), "too_large");
      // Counted in UTF-8 bytes, and including signatures.
      expectCode(() => parsePdu({ ...small, content: { body: "é".repeat(Math.ceil((room + 1) / 2)) } }, v), "too_large");
      const withSignature = { ...exact, signatures: { ...(exact.signatures as JsonObject), "x.org": { "ed25519:x": "s" } } };
      expectCode(() => parsePdu(withSignature, v), "too_large");
    });

    it("limits type and state_key to 255 bytes (not characters)", () => {
      expect(() => parsePdu(build(v, { type: `${"é".repeat(127)}a` }), v)).to.not.throw();
      expectCode(() => parsePdu(build(v, { type: "é".repeat(128) }), v), "too_large");
      expect(() => parsePdu(build(v, { stateKey: "k".repeat(255) }), v)).to.not.throw();
      expectCode(() => parsePdu(build(v, { stateKey: "é".repeat(128) }), v), "too_large");
    });

    it("limits sender and room_id to 255 bytes", () => {
      const long = (sigil: string): string => `${sigil}${"a".repeat(256 - 13)}:example.org`;
      expectCode(() => parsePdu(build(v, { sender: long("@") }), v), "too_large");
      expectCode(() => parsePdu(build(v, { roomId: long("!") }), v), "too_large");
    });
  });

  describe("required fields and types", () => {
    const v = version("11");
    const good = build(v);

    for (const field of ["type", "sender", "content", "origin_server_ts", "depth", "hashes", "signatures", "prev_events", "auth_events", "room_id"]) {
      it(`rejects a PDU without ${field}`, () => {
        expectCode(() => parsePdu(without(good, field), v), "bad_format");
      });
    }

    it("rejects mistyped fields", () => {
      const bad: JsonObject[] = [
        { type: 1 },
        { state_key: 5 },
        { state_key: null },
        { content: [] },
        { content: "x" },
        { origin_server_ts: "1000" },
        { depth: -1 },
        { depth: "3" },
        { hashes: {} },
        { hashes: { sha256: 1 } },
        { signatures: [] },
        { signatures: { "example.org": "x" } },
        { signatures: { "example.org": { "ed25519:1": 1 } } },
        { unsigned: "x" },
        { prev_events: "x" },
        { room_id: 1 },
      ];
      for (const change of bad) expectCode(() => parsePdu({ ...good, ...change }, v), "bad_format", canonicalJson(change));
    });

    it("rejects non-integer timestamps and depths even where floats are legal JSON (rooms 1–5)", () => {
      const v5 = version("5");
      const changes: JsonObject[] = [{ origin_server_ts: 1.5 }, { depth: 1.5 }];
      for (const change of changes) {
        expectCode(() => parsePdu({ ...build(v5), ...change }, v5), "bad_format", canonicalJson(change));
        expectCode(() => parsePdu({ ...good, ...change }, v), "bad_json", canonicalJson(change));
      }
    });

    it("rejects a sender or room ID that is not an identifier", () => {
      expectCode(() => parsePdu(build(v, { sender: "alice" }), v), "bad_id");
      expectCode(() => parsePdu(build(v, { sender: "@alice:bad host" }), v), "bad_id");
      expectCode(() => parsePdu(build(v, { roomId: "room" }), v), "bad_id");
    });

    it("accepts historical user IDs as sender", () => {
      expect(parsePdu(build(v, { sender: "@Old User:example.org" }), v).sender).to.equal("@Old User:example.org");
    });

    it("rejects what is not a JSON object", () => {
      for (const value of [null, [], "x", 1, undefined]) expectCode(() => parsePdu(value, v), "bad_format");
    });
  });

  describe("canonical JSON enforcement (room 6+)", () => {
    it("rejects floats and unsafe integers from room 6, accepts them before", () => {
      for (const content of [{ n: 1.5 }, { n: 2 ** 53 }, { n: [-0] }]) {
        expect(() => parsePdu(build(version("5")), version("5"))).to.not.throw();
        expect(() => parsePdu({ ...build(version("5")), content }, version("5"))).to.not.throw();
        expectCode(() => parsePdu({ ...build(version("6")), content }, version("6")), "bad_json");
      }
    });

    it("rejects 1.0 written in the original text, even after a lenient parse", () => {
      for (const id of ["5", "6"]) {
        const v = version(id);
        const text = canonicalJson(build(v)).replace('"depth":3', '"depth":3.0');
        const value = parseJson(text);
        if (v.strictCanonicalJson) expectCode(() => parsePdu(value, v), "bad_json");
        else expect(parsePdu(value, v).depth).to.equal(3);
      }
    });

    it("rejects values canonical JSON cannot encode in every room", () => {
      expectCode(() => parsePdu({ ...build(version("1")), content: { s: "\ud800" } }, version("1")), "bad_json");
      expectCode(() => parsePdu({ ...build(version("1")), content: { n: Number.NaN } }, version("1")), "bad_json");
    });
  });
});
