import { expect } from "chai";
import fc from "fast-check";
import type { JsonObject, JsonValue } from "../../../server/protocol/json.ts";
import { redactEvent } from "../../../server/protocol/redaction.ts";
import { ROOM_VERSIONS } from "../../../server/protocol/room-versions.ts";
import type { RoomVersion } from "../../../server/protocol/room-versions.ts";

function version(id: string): RoomVersion {
  const v = ROOM_VERSIONS.get(id);
  if (v === undefined) throw new Error(`room version ${id} is missing`);
  return v;
}

const all = [...ROOM_VERSIONS.values()];
const ids = (pred: (v: RoomVersion) => boolean): string[] => all.filter(pred).map((v) => v.id);

function event(type: string, content: JsonObject, extra: JsonObject = {}): JsonObject {
  return {
    event_id: "$e:example.org",
    type,
    room_id: "!r:example.org",
    sender: "@u:example.org",
    content,
    hashes: { sha256: "h" },
    signatures: { "example.org": { "ed25519:1": "s" } },
    depth: 3,
    prev_events: [],
    auth_events: [],
    origin_server_ts: 1000,
    ...extra,
  };
}

function redactedContent(e: JsonObject, versionId: string): JsonValue | undefined {
  return redactEvent(e, version(versionId)).content;
}

/** Asserts the redacted content per room version: `kept` for the listed versions, `otherwise` for the rest. */
function expectContent(e: JsonObject, keptIn: string[], kept: JsonObject, otherwise: JsonObject): void {
  for (const v of all) {
    expect(redactedContent(e, v.id), `room ${v.id}`).to.deep.equal(keptIn.includes(v.id) ? kept : otherwise);
  }
}

const powerLevels: JsonObject = {
  ban: 50,
  events: { "m.room.name": 100 },
  events_default: 0,
  invite: 0,
  kick: 50,
  redact: 50,
  state_default: 50,
  users: { "@u:example.org": 100 },
  users_default: 0,
  notifications: { room: 50 },
};
const { invite: _invite, notifications: _notifications, ...powerLevelsWithoutInvite } = powerLevels;
const { notifications: _n, ...powerLevelsWithInvite } = powerLevels;

describe("protocol/redaction", () => {
  it("the registry maps rooms to redaction algorithms as the room pages say", () => {
    expect(all.map((v) => `${v.id}:${v.redactionRules}`)).to.deep.equal([
      "1:v1", "2:v1", "3:v1", "4:v1", "5:v1", "6:v6", "7:v6", "8:v8", "9:v9", "10:v9", "11:v11", "12:v11",
    ]);
  });

  describe("top-level keys", () => {
    const full = event("m.room.message", { body: "hi" }, {
      state_key: "",
      origin: "example.org",
      membership: "join",
      prev_state: [],
      unsigned: { age: 1 },
      redacts: "$x:example.org",
      age_ts: 5,
      custom: true,
    });

    it("all versions keep the common keys and drop unsigned, redacts and unknown keys", () => {
      for (const v of all) {
        const out = redactEvent(full, v);
        for (const k of ["event_id", "type", "room_id", "sender", "state_key", "content", "hashes", "signatures", "depth", "prev_events", "auth_events", "origin_server_ts"]) {
          expect(out, `room ${v.id}`).to.have.property(k);
        }
        for (const k of ["unsigned", "redacts", "age_ts", "custom"]) expect(out, `room ${v.id}`).to.not.have.property(k);
      }
    });

    it("v1–v9 rules protect origin, membership and prev_state; v11 rules (rooms 11, 12) do not", () => {
      for (const v of all) {
        const out = redactEvent(full, v);
        const protectedHere = v.redactionRules !== "v11";
        for (const k of ["origin", "membership", "prev_state"]) expect(Object.hasOwn(out, k), `room ${v.id} ${k}`).to.equal(protectedHere);
      }
      expect(ids((v) => v.redactionRules === "v11")).to.deep.equal(["11", "12"]);
    });

    it("the exact redacted event for rooms 1–10 and for rooms 11–12", () => {
      const common = {
        event_id: "$e:example.org",
        type: "m.room.message",
        room_id: "!r:example.org",
        sender: "@u:example.org",
        state_key: "",
        content: {},
        hashes: { sha256: "h" },
        signatures: { "example.org": { "ed25519:1": "s" } },
        depth: 3,
        prev_events: [],
        auth_events: [],
        origin_server_ts: 1000,
      };
      expect(redactEvent(full, version("10"))).to.deep.equal({ ...common, origin: "example.org", membership: "join", prev_state: [] });
      expect(redactEvent(full, version("11"))).to.deep.equal(common);
    });
  });

  describe("content keys", () => {
    it("m.room.member keeps membership in all versions", () => {
      expectContent(event("m.room.member", { membership: "join", displayname: "U" }), [], {}, { membership: "join" });
    });

    it("v9 rules add m.room.member join_authorised_via_users_server (rooms 9+, not 8)", () => {
      const e = event("m.room.member", { membership: "join", join_authorised_via_users_server: "@a:example.org", avatar_url: "mxc://x/y" });
      expectContent(e, ids((v) => Number(v.id) >= 9), { membership: "join", join_authorised_via_users_server: "@a:example.org" }, { membership: "join" });
    });

    it("v11 rules keep only the signed part of m.room.member third_party_invite", () => {
      const signed = { mxid: "@u:example.org", token: "t", signatures: { "id.example.org": { "ed25519:0": "s" } } };
      const e = event("m.room.member", { membership: "invite", third_party_invite: { display_name: "u@example.org", signed } });
      expectContent(e, ["11", "12"], { membership: "invite", third_party_invite: { signed } }, { membership: "invite" });
    });

    it("v11 rules: a third_party_invite object without signed leaves {}; a non-object is dropped", () => {
      const noSigned = event("m.room.member", { membership: "invite", third_party_invite: { display_name: "x" } });
      expect(redactedContent(noSigned, "11")).to.deep.equal({ membership: "invite", third_party_invite: {} });
      const notObject = event("m.room.member", { membership: "invite", third_party_invite: "x" });
      expect(redactedContent(notObject, "11")).to.deep.equal({ membership: "invite" });
    });

    it("m.room.create keeps only creator before v11 rules and all content from v11 rules", () => {
      const content = { creator: "@u:example.org", room_version: "11", "m.federate": false, predecessor: { room_id: "!p:example.org" } };
      expectContent(event("m.room.create", content, { state_key: "" }), ["11", "12"], content, { creator: "@u:example.org" });
    });

    it("m.room.join_rules keeps join_rule; v8 rules add allow (rooms 8+)", () => {
      const allow = [{ type: "m.room_membership", room_id: "!other:example.org" }];
      const e = event("m.room.join_rules", { join_rule: "restricted", allow, extra: 1 });
      expectContent(e, ids((v) => Number(v.id) >= 8), { join_rule: "restricted", allow }, { join_rule: "restricted" });
      expect(redactedContent(e, "7")).to.deep.equal({ join_rule: "restricted" });
      expect(redactedContent(e, "8")).to.deep.equal({ join_rule: "restricted", allow });
    });

    it("m.room.power_levels keeps its eight keys; v11 rules add invite; notifications is never kept", () => {
      expectContent(event("m.room.power_levels", powerLevels, { state_key: "" }), ["11", "12"], powerLevelsWithInvite, powerLevelsWithoutInvite);
    });

    it("v1 rules keep m.room.aliases aliases (rooms 1–5); v6 rules drop it", () => {
      const e = event("m.room.aliases", { aliases: ["#a:example.org"] }, { state_key: "example.org" });
      expectContent(e, ["1", "2", "3", "4", "5"], { aliases: ["#a:example.org"] }, {});
    });

    it("m.room.history_visibility keeps history_visibility in all versions", () => {
      expectContent(event("m.room.history_visibility", { history_visibility: "shared", x: 1 }), [], {}, { history_visibility: "shared" });
    });

    it("v11 rules keep m.room.redaction content.redacts", () => {
      const e = event("m.room.redaction", { redacts: "$target", reason: "spam" });
      expectContent(e, ["11", "12"], { redacts: "$target" }, {});
    });

    it("other event types lose all content", () => {
      for (const type of ["m.room.message", "m.room.name", "m.room.topic", "m.room.third_party_invite", "com.example"]) {
        expectContent(event(type, { body: "x", name: "n", membership: "join", join_rule: "public" }), [], {}, {});
      }
    });

    it("keeps only own keys of content (not inherited ones)", () => {
      const content = Object.create({ membership: "join" }) as JsonObject;
      expect(redactedContent(event("m.room.member", content), "11")).to.deep.equal({});
    });

    it("always yields a content object", () => {
      const { content: _c, ...noContent } = event("m.room.member", {});
      expect(redactEvent(noContent, version("11")).content).to.deep.equal({});
      expect(redactEvent({ ...noContent, content: "x" }, version("1")).content).to.deep.equal({});
    });
  });

  describe("room 12", () => {
    it("uses exactly the v11 algorithm", () => {
      const samples = [
        event("m.room.create", { room_version: "12", additional_creators: ["@b:example.org"] }, { state_key: "", origin: "x" }),
        event("m.room.member", { membership: "join", join_authorised_via_users_server: "@a:e", third_party_invite: { signed: {}, x: 1 } }),
        event("m.room.power_levels", powerLevels),
        event("m.room.redaction", { redacts: "$t" }, { redacts: "$t" }),
        event("m.room.join_rules", { join_rule: "knock_restricted", allow: [] }),
      ];
      for (const e of samples) expect(redactEvent(e, version("12"))).to.deep.equal(redactEvent(e, version("11")));
    });
  });

  describe("properties", () => {
    const json = fc.jsonValue({ maxDepth: 2 }) as fc.Arbitrary<JsonValue>;
    const anyEvent = fc.record({
      type: fc.constantFrom("m.room.member", "m.room.create", "m.room.join_rules", "m.room.power_levels", "m.room.aliases", "m.room.redaction", "m.room.message"),
      content: fc.dictionary(
        fc.constantFrom("membership", "creator", "join_rule", "allow", "ban", "invite", "aliases", "redacts", "third_party_invite", "body"),
        json,
      ),
      origin: fc.string(),
      unsigned: fc.dictionary(fc.string(), json),
      extra: json,
    });

    it("is idempotent and does not modify its input", () => {
      fc.assert(
        fc.property(anyEvent, fc.constantFrom(...all), (e, v) => {
          const input = e as JsonObject;
          const before = structuredClone(input);
          const once = redactEvent(input, v);
          expect(redactEvent(once, v)).to.deep.equal(once);
          expect(input).to.deep.equal(before);
          expect(once).to.not.have.property("unsigned");
        }),
      );
    });
  });
});
