// Push rule conditions: the spec's own vectors (read from the spec data at
// test time) plus the cases the spec prose states without a vector.
import { expect } from "chai";
import {
  buildDotPath,
  conditionProblem,
  getEventProperty,
  globMatches,
  matchesCondition,
  parseCondition,
  parseDotPath,
  parseMemberCountIs,
  type PushCondition,
  type PushContext,
} from "../../../server/push/conditions.ts";
import type { JsonObject, JsonValue } from "../../../server/protocol/json.ts";
import { loadTestVectors, type TestVector } from "../../support/spec-data.ts";

function vector(id: string): TestVector {
  const found = loadTestVectors().vectors.find((v) => v.id === id);
  if (found === undefined) throw new Error(`test vector ${id} is missing`);
  return found;
}

const ctx: PushContext = { userId: "@alice:example.org", displayName: "Alice", roomMemberCount: 5, senderPowerLevel: 0 };

const PUSH_CONDITION_VECTORS = [
  "push-condition-event-match-topic",
  "push-condition-event-match-body",
  "push-condition-event-property-is",
  "push-condition-event-property-contains",
];

interface ConditionInputs {
  condition: PushCondition;
  event: JsonObject;
}

/** Sets `value` at the property `names` of a copy of `event`. */
function withProperty(event: JsonObject, names: readonly string[], value: JsonValue): JsonObject {
  const copy = structuredClone(event);
  let node: JsonObject = copy;
  for (const name of names.slice(0, -1)) node = node[name] as JsonObject;
  node[names[names.length - 1]!] = value;
  return copy;
}

describe("push/conditions", () => {
  describe("spec test vectors", () => {
    for (const id of PUSH_CONDITION_VECTORS) {
      it(`vector ${id}`, () => {
        const v = vector(id);
        const inputs = v.inputs as ConditionInputs;
        const expected = v.expected as { event_matches: boolean };
        expect(matchesCondition(inputs.condition, inputs.event, ctx), "the vector's own event").to.equal(expected.event_matches);

        const cases = (v.cases ?? []) as Record<string, JsonValue>[];
        expect(cases, "cases").to.have.length.greaterThan(0);
        const keyNames = parseDotPath(inputs.condition.key!);
        for (const c of cases) {
          let condition = inputs.condition;
          let event = inputs.event;
          for (const [field, value] of Object.entries(c)) {
            if (field === "expected_match" || field === "why") continue;
            if (field === "condition_value") {
              condition = { ...condition, value: value as PushCondition["value"] };
            } else if (field === keyNames.join(".")) {
              // The case names the property the condition's key addresses, unescaped.
              event = withProperty(event, keyNames, value);
            } else {
              throw new Error(`vector ${id}: unknown case field ${field}`);
            }
          }
          expect(matchesCondition(condition, event, ctx), JSON.stringify(c)).to.equal(c.expected_match);
        }
      });
    }

    it("covers every push_rules vector the spec data holds", () => {
      const ids = loadTestVectors()
        .vectors.filter((v) => v.group === "push_rules" || v.id.startsWith("push-"))
        .map((v) => v.id);
      expect(ids).to.have.members(PUSH_CONDITION_VECTORS);
    });

    it("vector dot-separated-property-paths", () => {
      const cases = vector("dot-separated-property-paths").cases as { property_names: string[]; expected_path: string }[];
      expect(cases).to.have.length.greaterThan(0);
      for (const c of cases) {
        expect(buildDotPath(c.property_names), c.expected_path).to.equal(c.expected_path);
        expect(parseDotPath(c.expected_path), c.expected_path).to.deep.equal(c.property_names);
      }
    });
  });

  describe("dot-separated property paths", () => {
    it("keeps other escape sequences literally", () => {
      expect(parseDotPath("content.m\\x")).to.deep.equal(["content", "m\\x"]);
      expect(parseDotPath("a\\")).to.deep.equal(["a\\"]);
      expect(parseDotPath("a..b")).to.deep.equal(["a", "", "b"]);
    });

    it("walks objects only", () => {
      const event = { content: { "m.relates_to": { rel_type: "m.replace" }, list: ["a"] } } as JsonObject;
      expect(getEventProperty(event, "content.m\\.relates_to.rel_type")).to.equal("m.replace");
      expect(getEventProperty(event, "content.m.relates_to.rel_type")).to.equal(undefined);
      expect(getEventProperty(event, "content.list.0")).to.equal(undefined);
      expect(getEventProperty(event, "content.toString")).to.equal(undefined);
    });
  });

  describe("glob matching", () => {
    it("matches the whole value case-insensitively", () => {
      expect(globMatches("m.notice", "m.notice")).to.equal(true);
      expect(globMatches("m.notice", "M.NOTICE")).to.equal(true);
      expect(globMatches("m.notice", "mxnotice"), ". is literal").to.equal(false);
      expect(globMatches("m.room.*", "m.room.message")).to.equal(true);
      expect(globMatches("m.room.*", "xm.room.message")).to.equal(false);
      expect(globMatches("a?c", "abc")).to.equal(true);
      expect(globMatches("a?c", "ac")).to.equal(false);
      expect(globMatches("*", "")).to.equal(true);
      expect(globMatches("", "")).to.equal(true);
      expect(globMatches("", "x")).to.equal(false);
      expect(globMatches("(a|b)+[x]", "(a|b)+[x]"), "regex syntax is literal").to.equal(true);
      expect(globMatches("a*b", "a\nb"), "* spans newlines").to.equal(true);
      expect(globMatches("?", "😀"), "? is one character, not one UTF-16 unit").to.equal(true);
      expect(globMatches("ÄPFEL", "äpfel")).to.equal(true);
    });

    it("content.body matches substrings at word boundaries", () => {
      expect(globMatches("cake", "I like cake!", true)).to.equal(true);
      expect(globMatches("cake", "CAKE", true)).to.equal(true);
      expect(globMatches("cake", "cakes", true)).to.equal(false);
      expect(globMatches("cake", "cheesecake", true)).to.equal(false);
      expect(globMatches("cake", "under_cake", true), "_ is a word character").to.equal(false);
      expect(globMatches("cake", "über-cake", true)).to.equal(true);
      expect(globMatches("cake*lie", "the cake is a lie.", true)).to.equal(true);
    });

    it("survives patterns that would backtrack badly", () => {
      const started = Date.now();
      const body = "a ".repeat(30_000);
      expect(globMatches("*".repeat(50) + "b", body)).to.equal(false);
      expect(globMatches("*a*a*a*a*a*a*a*a*b", body)).to.equal(false);
      expect(globMatches("*a*a*a*a*a*a*a*a*b", body, true)).to.equal(false);
      expect(globMatches("a*a*a*a*a*a*a*a*a", body, true)).to.equal(true);
      expect(Date.now() - started).to.be.lessThan(2000);
    });
  });

  describe("event_match", () => {
    const event = { type: "m.room.message", content: { body: "hello", msgtype: "m.text", n: 1, nested: { x: "y" } } } as JsonObject;

    it("only matches string values", () => {
      expect(matchesCondition({ kind: "event_match", key: "content.n", pattern: "*" }, event, ctx)).to.equal(false);
      expect(matchesCondition({ kind: "event_match", key: "content.nested", pattern: "*" }, event, ctx)).to.equal(false);
      expect(matchesCondition({ kind: "event_match", key: "content.absent", pattern: "*" }, event, ctx)).to.equal(false);
      expect(matchesCondition({ kind: "event_match", key: "content.msgtype", pattern: "*" }, event, ctx)).to.equal(true);
    });

    it("does not match without a key or pattern", () => {
      expect(matchesCondition({ kind: "event_match", key: "type" }, event, ctx)).to.equal(false);
      expect(matchesCondition({ kind: "event_match", pattern: "*" }, event, ctx)).to.equal(false);
    });

    it("state_key pattern \"\" matches only state events with an empty state key", () => {
      const cond: PushCondition = { kind: "event_match", key: "state_key", pattern: "" };
      expect(matchesCondition(cond, { type: "m.room.tombstone", state_key: "" }, ctx)).to.equal(true);
      expect(matchesCondition(cond, { type: "m.room.tombstone" }, ctx)).to.equal(false);
      expect(matchesCondition(cond, { type: "m.room.tombstone", state_key: "x" }, ctx)).to.equal(false);
    });
  });

  describe("event_property_is / event_property_contains", () => {
    const event = {
      content: { flag: true, none: null, n: 3, big: 2 ** 60, f: 1.5, s: "x", arr: [1, "two", null, false, [3], { a: 1 }], obj: {} },
    } as JsonObject;
    const is = (key: string, value: PushCondition["value"]) => matchesCondition({ kind: "event_property_is", key, value }, event, ctx);
    const contains = (key: string, value: PushCondition["value"]) =>
      matchesCondition({ kind: "event_property_contains", key, value }, event, ctx);

    it("event_property_is compares non-compound values exactly", () => {
      expect(is("content.flag", true)).to.equal(true);
      expect(is("content.flag", "true")).to.equal(false);
      expect(is("content.none", null)).to.equal(true);
      expect(is("content.absent", null), "absent is not null").to.equal(false);
      expect(is("content.n", 3)).to.equal(true);
      expect(is("content.n", "3")).to.equal(false);
      expect(is("content.s", "x")).to.equal(true);
      expect(is("content.s", "X"), "case-sensitive").to.equal(false);
      expect(is("content.big", 2 ** 60), "outside the canonical JSON integer range").to.equal(false);
      expect(is("content.f", 1.5), "floats are not canonical JSON").to.equal(false);
      expect(is("content.obj", null)).to.equal(false);
      expect(matchesCondition({ kind: "event_property_is", key: "content.flag" }, event, ctx), "no value").to.equal(false);
    });

    it("event_property_contains looks for an exact array element", () => {
      expect(contains("content.arr", 1)).to.equal(true);
      expect(contains("content.arr", "two")).to.equal(true);
      expect(contains("content.arr", "tw")).to.equal(false);
      expect(contains("content.arr", null)).to.equal(true);
      expect(contains("content.arr", false)).to.equal(true);
      expect(contains("content.arr", 3), "nested arrays are ignored").to.equal(false);
      expect(contains("content.s", "x"), "not an array").to.equal(false);
      expect(contains("content.absent", "x")).to.equal(false);
    });
  });

  describe("contains_display_name", () => {
    const cond: PushCondition = { kind: "contains_display_name" };
    const body = (text: unknown) => ({ type: "m.room.message", content: { body: text } }) as JsonObject;

    it("matches the display name as a whole word, case-insensitively", () => {
      expect(matchesCondition(cond, body("hi Alice!"), ctx)).to.equal(true);
      expect(matchesCondition(cond, body("ALICE"), ctx)).to.equal(true);
      expect(matchesCondition(cond, body("Alicea"), ctx)).to.equal(false);
      expect(matchesCondition(cond, body("malice"), ctx)).to.equal(false);
      expect(matchesCondition(cond, body(5), ctx)).to.equal(false);
    });

    it("treats the display name literally and never matches without one", () => {
      const dotted: PushContext = { ...ctx, displayName: "a.b*" };
      expect(matchesCondition(cond, body("hey a.b* there"), dotted)).to.equal(true);
      expect(matchesCondition(cond, body("hey axbzz there"), dotted)).to.equal(false);
      expect(matchesCondition(cond, body("Alice"), { ...ctx, displayName: "" })).to.equal(false);
      expect(matchesCondition(cond, body("Alice"), { ...ctx, displayName: null })).to.equal(false);
    });
  });

  describe("room_member_count", () => {
    it("parses the is parameter", () => {
      expect(parseMemberCountIs("2")).to.deep.equal({ op: "==", count: 2 });
      expect(parseMemberCountIs("==2")).to.deep.equal({ op: "==", count: 2 });
      expect(parseMemberCountIs("<=10")).to.deep.equal({ op: "<=", count: 10 });
      expect(parseMemberCountIs(">3")).to.deep.equal({ op: ">", count: 3 });
      for (const bad of ["", "=2", "< 2", "2.5", "-1", "two", "!=2", ">=", "99999999999999999999"]) {
        expect(parseMemberCountIs(bad), bad).to.equal(null);
      }
    });

    it("compares the member count", () => {
      const at = (is: string, roomMemberCount: number) =>
        matchesCondition({ kind: "room_member_count", is }, {}, { ...ctx, roomMemberCount });
      expect(at("2", 2)).to.equal(true);
      expect(at("2", 3)).to.equal(false);
      expect(at("==2", 2)).to.equal(true);
      expect(at("<2", 1)).to.equal(true);
      expect(at("<2", 2)).to.equal(false);
      expect(at(">2", 3)).to.equal(true);
      expect(at(">2", 2)).to.equal(false);
      expect(at("<=2", 2)).to.equal(true);
      expect(at("<=2", 3)).to.equal(false);
      expect(at(">=2", 2)).to.equal(true);
      expect(at(">=2", 1)).to.equal(false);
      expect(at("bogus", 2)).to.equal(false);
      expect(matchesCondition({ kind: "room_member_count" }, {}, ctx)).to.equal(false);
    });
  });

  describe("sender_notification_permission", () => {
    const cond: PushCondition = { kind: "sender_notification_permission", key: "room" };

    it("defaults the room level to 50", () => {
      expect(matchesCondition(cond, {}, { ...ctx, senderPowerLevel: 50 })).to.equal(true);
      expect(matchesCondition(cond, {}, { ...ctx, senderPowerLevel: 49 })).to.equal(false);
    });

    it("uses the room's notifications levels", () => {
      const levels = { room: 10, custom: 75 };
      expect(matchesCondition(cond, {}, { ...ctx, senderPowerLevel: 10, notificationPowerLevels: levels })).to.equal(true);
      expect(matchesCondition(cond, {}, { ...ctx, senderPowerLevel: 9, notificationPowerLevels: levels })).to.equal(false);
      const custom: PushCondition = { kind: "sender_notification_permission", key: "custom" };
      expect(matchesCondition(custom, {}, { ...ctx, senderPowerLevel: 75, notificationPowerLevels: levels })).to.equal(true);
      expect(matchesCondition(custom, {}, { ...ctx, senderPowerLevel: 74, notificationPowerLevels: levels })).to.equal(false);
    });

    it("does not match a key with no level", () => {
      const other: PushCondition = { kind: "sender_notification_permission", key: "other" };
      expect(matchesCondition(other, {}, { ...ctx, senderPowerLevel: 100 })).to.equal(false);
      expect(matchesCondition({ kind: "sender_notification_permission" }, {}, { ...ctx, senderPowerLevel: 100 })).to.equal(false);
    });
  });

  describe("unknown and malformed conditions", () => {
    it("never match", () => {
      expect(matchesCondition({ kind: "org.example.always" }, { type: "m.room.message" }, ctx)).to.equal(false);
    });

    it("are checked against the PushCondition schema", () => {
      expect(conditionProblem({ kind: "event_match", key: "type", pattern: "x" })).to.equal(null);
      expect(conditionProblem({ kind: "org.example", extra: [1] })).to.equal(null);
      expect(conditionProblem({ key: "type" })).to.be.a("string");
      expect(conditionProblem({ kind: "event_match", key: 1 })).to.be.a("string");
      expect(conditionProblem({ kind: "event_property_is", value: 1.5 })).to.be.a("string");
      expect(conditionProblem({ kind: "event_property_is", value: [] })).to.be.a("string");
      expect(conditionProblem("event_match")).to.be.a("string");
      expect(parseCondition({ kind: "org.example", extra: [1] })).to.deep.equal({ kind: "org.example", extra: [1] });
      expect(parseCondition({ kind: 1 })).to.equal(null);
    });
  });
});
