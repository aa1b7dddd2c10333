// User push rules merged with the defaults, the PUT/DELETE semantics of
// /pushrules/global/{kind}/{ruleId}, and the GET shapes checked against the
// spec's OpenAPI definitions.
import { expect } from "chai";
import { MatrixError } from "../../../server/errors/matrix-error.ts";
import type { PushContext } from "../../../server/push/conditions.ts";
import { defaultPushRuleset, PUSH_RULE_KINDS, type PushRuleKind } from "../../../server/push/default-rules.ts";
import { evaluatePushRules, pushOutcome } from "../../../server/push/evaluator.ts";
import {
  buildPushRuleset,
  deletePushRule,
  emptyStoredPushRules,
  getPushRule,
  parseActionsBody,
  parseEnabledBody,
  parsePushRuleKind,
  parseStoredPushRules,
  pushRulesResponse,
  putPushRule,
  setPushRuleActions,
  setPushRuleEnabled,
  type StoredPushRules,
} from "../../../server/push/rule-set.ts";
import type { JsonObject } from "../../../server/protocol/json.ts";
import { expectSpecResponse } from "../../support/openapi.ts";

const ALICE = "@alice:example.org";
const ROOM = "!room:example.org";
const ctx: PushContext = { userId: ALICE, displayName: "Alice", roomMemberCount: 3, senderPowerLevel: 0 };
const message = (body: string): JsonObject => ({
  type: "m.room.message",
  content: { msgtype: "m.text", body },
  sender: "@bob:example.org",
  room_id: ROOM,
});

function expectError(fn: () => unknown, status: number, errcode: string, method = "PUT", kind = "content"): MatrixError {
  let caught: unknown;
  try {
    fn();
  } catch (err) {
    caught = err;
  }
  expect(caught, "expected a MatrixError").to.be.instanceOf(MatrixError);
  const err = caught as MatrixError;
  expect(err.status, err.message).to.equal(status);
  expect(err.errcode, err.message).to.equal(errcode);
  expectSpecResponse(method, `/_matrix/client/v3/pushrules/global/${kind}/x`, status, err.toJSON());
  return err;
}

/** Puts content rules with the given ids in order, each with default positioning. */
function withContentRules(...ids: string[]): StoredPushRules {
  let stored = emptyStoredPushRules();
  for (const id of ids) stored = putPushRule(stored, "content", id, { pattern: id, actions: ["notify"] });
  return stored;
}

const ids = (stored: StoredPushRules, kind: PushRuleKind) => buildPushRuleset(ALICE, stored)[kind].map((r) => r.rule_id);

describe("push/rule-set", () => {
  describe("GET /pushrules/ shape", () => {
    it("the defaults alone match the spec schema and equal the predefined rules", () => {
      const body = pushRulesResponse(ALICE, emptyStoredPushRules());
      expectSpecResponse("GET", "/_matrix/client/v3/pushrules/", 200, body);
      expect(body.global).to.deep.equal(defaultPushRuleset(ALICE));
    });

    it("a ruleset with user rules of every kind matches the spec schema", () => {
      let stored = emptyStoredPushRules();
      stored = putPushRule(stored, "override", "o1", {
        conditions: [
          { kind: "event_match", key: "content.body", pattern: "beer" },
          { kind: "room_member_count", is: "<=10" },
        ],
        actions: ["notify", { set_tweak: "sound", value: "beeroclock.wav" }],
      });
      stored = putPushRule(stored, "content", "cake", { pattern: "cake", actions: ["notify", { set_tweak: "sound", value: "cakealarm.wav" }] });
      stored = putPushRule(stored, "room", ROOM, { actions: [] });
      stored = putPushRule(stored, "sender", "@spambot:matrix.org", { actions: [] });
      stored = putPushRule(stored, "underride", "u1", { actions: ["notify"] });
      stored = setPushRuleEnabled(stored, "override", ".m.rule.master", true);
      const body = pushRulesResponse(ALICE, stored);
      expectSpecResponse("GET", "/_matrix/client/v3/pushrules/", 200, body);
      expectSpecResponse("GET", "/_matrix/client/v3/pushrules/global/", 200, body.global);
      for (const kind of PUSH_RULE_KINDS) {
        for (const rule of body.global[kind]) {
          const path = `/_matrix/client/v3/pushrules/global/${kind}/${encodeURIComponent(rule.rule_id)}`;
          expectSpecResponse("GET", path, 200, getPushRule(body.global, kind, rule.rule_id));
          expectSpecResponse("GET", `${path}/enabled`, 200, { enabled: rule.enabled });
          expectSpecResponse("GET", `${path}/actions`, 200, { actions: rule.actions });
        }
      }
    });

    it("shows each kind's own keys: conditions for override/underride, pattern for content, neither for room/sender", () => {
      let stored = emptyStoredPushRules();
      stored = putPushRule(stored, "override", "o", { actions: [], pattern: "ignored" });
      stored = putPushRule(stored, "content", "c", { pattern: "p", actions: [], conditions: [] });
      stored = putPushRule(stored, "room", ROOM, { actions: ["notify"], pattern: "x", conditions: [] });
      stored = putPushRule(stored, "sender", "@bob:example.org", { actions: [] });
      const rs = buildPushRuleset(ALICE, stored);
      expect(getPushRule(rs, "override", "o")).to.deep.equal({ rule_id: "o", default: false, enabled: true, actions: [], conditions: [] });
      expect(getPushRule(rs, "content", "c")).to.deep.equal({ rule_id: "c", default: false, enabled: true, actions: [], pattern: "p" });
      expect(getPushRule(rs, "room", ROOM)).to.deep.equal({ rule_id: ROOM, default: false, enabled: true, actions: ["notify"] });
      expect(getPushRule(rs, "sender", "@bob:example.org")).to.deep.equal({
        rule_id: "@bob:example.org",
        default: false,
        enabled: true,
        actions: [],
      });
    });

    it("GET of a missing rule is 404 M_NOT_FOUND", () => {
      const rs = buildPushRuleset(ALICE, emptyStoredPushRules());
      expectError(() => getPushRule(rs, "content", "nope"), 404, "M_NOT_FOUND", "GET");
      expectError(() => getPushRule(rs, "underride", ".m.rule.master"), 404, "M_NOT_FOUND", "GET", "underride");
    });

    it("an unknown kind is 404 M_UNRECOGNIZED", () => {
      expect(parsePushRuleKind("underride")).to.equal("underride");
      const err = expectError(() => parsePushRuleKind("global"), 404, "M_UNRECOGNIZED", "GET");
      expect(err.message).to.contain("global");
    });
  });

  describe("merging with the defaults", () => {
    it("puts user rules before the defaults of their kind, but after .m.rule.master", () => {
      let stored = emptyStoredPushRules();
      stored = putPushRule(stored, "override", "mine", { actions: ["notify"] });
      stored = putPushRule(stored, "underride", "low", { actions: ["notify"] });
      const rs = buildPushRuleset(ALICE, stored);
      expect(rs.override.map((r) => r.rule_id).slice(0, 3)).to.deep.equal([".m.rule.master", "mine", ".m.rule.suppress_notices"]);
      expect(rs.underride.map((r) => r.rule_id)[0]).to.equal("low");
      expect(rs.underride.map((r) => r.rule_id)[1]).to.equal(".m.rule.call");
    });

    it("an enabled master rule outranks user override rules", () => {
      let stored = putPushRule(emptyStoredPushRules(), "override", "mine", { actions: ["notify"] });
      expect(evaluatePushRules(buildPushRuleset(ALICE, stored), message("x"), ctx)!.rule.rule_id).to.equal("mine");
      stored = setPushRuleEnabled(stored, "override", ".m.rule.master", true);
      const outcome = pushOutcome(buildPushRuleset(ALICE, stored), message("x"), ctx);
      expect(outcome).to.include({ ruleId: ".m.rule.master", notify: false });
    });

    it("a user content rule beats the default underride rules", () => {
      const stored = putPushRule(emptyStoredPushRules(), "content", "cake", {
        pattern: "cake",
        actions: ["notify", { set_tweak: "highlight" }],
      });
      const rs = buildPushRuleset(ALICE, stored);
      expect(pushOutcome(rs, message("cake please"), ctx)).to.include({ ruleId: "cake", highlight: true });
      expect(pushOutcome(rs, message("tea please"), ctx)).to.include({ ruleId: ".m.rule.message", highlight: false });
    });

    it("a room rule with no actions mutes the room", () => {
      const stored = putPushRule(emptyStoredPushRules(), "room", ROOM, { actions: [] });
      expect(pushOutcome(buildPushRuleset(ALICE, stored), message("x"), ctx)).to.include({ ruleId: ROOM, notify: false });
    });
  });

  describe("default rules: enabled and actions only", () => {
    it("disabling a default rule makes it stop matching", () => {
      const stored = setPushRuleEnabled(emptyStoredPushRules(), "underride", ".m.rule.message", false);
      const rs = buildPushRuleset(ALICE, stored);
      expect(getPushRule(rs, "underride", ".m.rule.message")).to.include({ enabled: false, default: true });
      expect(evaluatePushRules(rs, message("x"), ctx)).to.equal(null);
      const again = setPushRuleEnabled(stored, "underride", ".m.rule.message", true);
      expect(evaluatePushRules(buildPushRuleset(ALICE, again), message("x"), ctx)!.rule.rule_id).to.equal(".m.rule.message");
    });

    it("disabling .m.rule.suppress_notices lets notices through", () => {
      const notice: JsonObject = { ...message("bot"), content: { msgtype: "m.notice", body: "bot" } };
      const stored = setPushRuleEnabled(emptyStoredPushRules(), "override", ".m.rule.suppress_notices", false);
      expect(pushOutcome(buildPushRuleset(ALICE, stored), notice, ctx)).to.include({ ruleId: ".m.rule.message", notify: true });
    });

    it("changing a default rule's actions changes the outcome and keeps its conditions", () => {
      const stored = setPushRuleActions(emptyStoredPushRules(), "underride", ".m.rule.message", [
        "notify",
        { set_tweak: "sound", value: "default" },
        "dont_notify",
      ]);
      const rs = buildPushRuleset(ALICE, stored);
      const rule = getPushRule(rs, "underride", ".m.rule.message");
      expect(rule.actions).to.deep.equal(["notify", { set_tweak: "sound", value: "default" }]);
      expect(rule.conditions).to.deep.equal([{ kind: "event_match", key: "type", pattern: "m.room.message" }]);
      expect(pushOutcome(rs, message("x"), ctx).tweaks).to.deep.equal({ sound: "default" });
    });

    it("cannot be created, replaced or deleted", () => {
      const stored = emptyStoredPushRules();
      expectError(() => putPushRule(stored, "override", ".m.rule.master", { actions: [] }), 400, "M_UNKNOWN", "PUT", "override");
      expectError(() => putPushRule(stored, "content", ".mine", { pattern: "x", actions: [] }), 400, "M_UNKNOWN");
      expectError(() => deletePushRule(stored, "override", ".m.rule.master"), 400, "M_UNKNOWN", "DELETE", "override");
    });

    it("enabled/actions of an unknown rule, or a default rule under the wrong kind, is 404 M_NOT_FOUND", () => {
      const stored = emptyStoredPushRules();
      expectError(() => setPushRuleEnabled(stored, "override", "nope", true), 404, "M_NOT_FOUND");
      expectError(() => setPushRuleEnabled(stored, "underride", ".m.rule.master", true), 404, "M_NOT_FOUND");
      expectError(() => setPushRuleActions(stored, "content", ".m.rule.call", []), 404, "M_NOT_FOUND");
      expectError(() => setPushRuleEnabled(stored, "override", ".m.rule.nonexistent", true), 404, "M_NOT_FOUND");
    });
  });

  describe("PUT with before/after", () => {
    it("a new rule without a position becomes the most important user rule", () => {
      expect(ids(withContentRules("a", "b", "c"), "content")).to.deep.equal(["c", "b", "a"]);
    });

    it("before makes the rule the next-most important relative to the given rule", () => {
      const stored = putPushRule(withContentRules("a", "b", "c"), "content", "x", { pattern: "x", actions: [] }, { before: "a" });
      expect(ids(stored, "content")).to.deep.equal(["c", "b", "x", "a"]);
      const first = putPushRule(stored, "content", "y", { pattern: "y", actions: [] }, { before: "c" });
      expect(ids(first, "content")).to.deep.equal(["y", "c", "b", "x", "a"]);
    });

    it("after makes the rule the next-less important relative to the given rule", () => {
      const stored = putPushRule(withContentRules("a", "b", "c"), "content", "x", { pattern: "x", actions: [] }, { after: "c" });
      expect(ids(stored, "content")).to.deep.equal(["c", "x", "b", "a"]);
      const last = putPushRule(stored, "content", "z", { pattern: "z", actions: [] }, { after: "a" });
      expect(ids(last, "content")).to.deep.equal(["c", "x", "b", "a", "z"]);
    });

    it("with both, before decides", () => {
      const stored = putPushRule(withContentRules("a", "b", "c"), "content", "x", { pattern: "x", actions: [] }, { before: "a", after: "c" });
      expect(ids(stored, "content")).to.deep.equal(["c", "b", "x", "a"]);
    });

    it("empty before/after values are ignored", () => {
      const stored = putPushRule(withContentRules("a"), "content", "x", { pattern: "x", actions: [] }, { before: "", after: "" });
      expect(ids(stored, "content")).to.deep.equal(["x", "a"]);
    });

    it("updating a rule keeps its place and enabled flag unless moved", () => {
      let stored = withContentRules("a", "b", "c");
      stored = setPushRuleEnabled(stored, "content", "b", false);
      stored = putPushRule(stored, "content", "b", { pattern: "new", actions: ["notify"] });
      expect(ids(stored, "content")).to.deep.equal(["c", "b", "a"]);
      expect(getPushRule(buildPushRuleset(ALICE, stored), "content", "b")).to.deep.equal({
        rule_id: "b",
        default: false,
        enabled: false,
        actions: ["notify"],
        pattern: "new",
      });
      stored = putPushRule(stored, "content", "b", { pattern: "new", actions: [] }, { after: "a" });
      expect(ids(stored, "content")).to.deep.equal(["c", "a", "b"]);
    });

    it("a deleted and re-created rule is enabled again", () => {
      let stored = setPushRuleEnabled(withContentRules("a"), "content", "a", false);
      stored = deletePushRule(stored, "content", "a");
      stored = putPushRule(stored, "content", "a", { pattern: "a", actions: [] });
      expect(getPushRule(buildPushRuleset(ALICE, stored), "content", "a").enabled).to.equal(true);
    });

    it("the relative rule must be a user rule of the same kind (400 M_UNKNOWN)", () => {
      const stored = putPushRule(withContentRules("a"), "override", "o", { actions: [] });
      const body = { pattern: "x", actions: [] };
      const missing = expectError(() => putPushRule(stored, "content", "x", body, { before: "nope" }), 400, "M_UNKNOWN");
      expect(missing.message).to.equal("before/after rule not found: nope");
      expectError(() => putPushRule(stored, "content", "x", body, { after: "o" }), 400, "M_UNKNOWN");
      expectError(() => putPushRule(stored, "override", "x", { actions: [] }, { before: ".m.rule.master" }), 400, "M_UNKNOWN", "PUT", "override");
      expectError(() => putPushRule(stored, "underride", "x", { actions: [] }, { after: ".m.rule.message" }), 400, "M_UNKNOWN", "PUT", "underride");
      expectError(() => putPushRule(stored, "content", "a", body, { before: "a" }), 400, "M_UNKNOWN");
    });

    it("does not change the stored rules it was given", () => {
      const stored = withContentRules("a");
      const snapshot = structuredClone(stored);
      putPushRule(stored, "content", "b", { pattern: "b", actions: [] }, { after: "a" });
      setPushRuleEnabled(stored, "content", "a", false);
      setPushRuleActions(stored, "underride", ".m.rule.call", []);
      deletePushRule(stored, "content", "a");
      expect(stored).to.deep.equal(snapshot);
    });
  });

  describe("PUT validation", () => {
    const stored = emptyStoredPushRules();

    it("rejects reserved or malformed rule ids with 400 M_UNKNOWN", () => {
      for (const id of [".hidden", "a/b", "a\\b", ""]) {
        expectError(() => putPushRule(stored, "content", id, { pattern: "x", actions: [] }), 400, "M_UNKNOWN");
      }
    });

    it("rejects malformed bodies with 400 M_BAD_JSON", () => {
      const bad: [PushRuleKind, unknown][] = [
        ["content", { pattern: "x" }],
        ["content", { actions: [] }],
        ["content", { pattern: 5, actions: [] }],
        ["content", "notify"],
        ["override", { actions: "notify" }],
        ["override", { actions: ["beep"] }],
        ["override", { actions: [{ value: "x" }] }],
        ["override", { actions: [], conditions: {} }],
        ["override", { actions: [], conditions: [{ key: "type" }] }],
        ["override", { actions: [], conditions: [{ kind: "event_property_is", key: "a", value: 1.5 }] }],
        ["underride", { actions: [], conditions: [{ kind: "event_match", key: "type", pattern: 3 }] }],
      ];
      for (const [kind, body] of bad) {
        const err = expectError(() => putPushRule(stored, kind, "r", body), 400, "M_BAD_JSON", "PUT", kind);
        expect(err.message, JSON.stringify(body)).to.be.a("string").and.not.equal("");
      }
    });

    it("strips historical actions and keeps unknown tweaks and condition kinds", () => {
      const next = putPushRule(stored, "override", "r", {
        actions: ["notify", "coalesce", { set_tweak: "org.example.led", value: "blue" }],
        conditions: [{ kind: "org.example.future", extra: { a: 1 } }],
      });
      const rule = getPushRule(buildPushRuleset(ALICE, next), "override", "r");
      expect(rule.actions).to.deep.equal(["notify", { set_tweak: "org.example.led", value: "blue" }]);
      expect(rule.conditions).to.deep.equal([{ kind: "org.example.future", extra: { a: 1 } }]);
      expect(evaluatePushRules(buildPushRuleset(ALICE, next), message("x"), ctx)!.rule.rule_id, "unknown condition never matches").to.equal(
        ".m.rule.message",
      );
    });

    it("parses the enabled and actions bodies", () => {
      expect(parseEnabledBody({ enabled: false })).to.equal(false);
      expectError(() => parseEnabledBody({ enabled: "false" }), 400, "M_BAD_JSON");
      expectError(() => parseEnabledBody({}), 400, "M_BAD_JSON");
      expect(parseActionsBody({ actions: ["notify", "dont_notify"] })).to.deep.equal(["notify"]);
      expectError(() => parseActionsBody({ actions: "notify" }), 400, "M_BAD_JSON");
      expectError(() => parseActionsBody([]), 400, "M_BAD_JSON");
    });
  });

  describe("DELETE", () => {
    it("removes a user rule; a missing one is 404 M_NOT_FOUND", () => {
      const stored = deletePushRule(withContentRules("a", "b"), "content", "a");
      expect(ids(stored, "content")).to.deep.equal(["b"]);
      expectError(() => deletePushRule(stored, "content", "a"), 404, "M_NOT_FOUND", "DELETE");
      expectError(() => deletePushRule(stored, "room", "b"), 404, "M_NOT_FOUND", "DELETE", "room");
    });
  });

  describe("persistence", () => {
    it("round-trips through JSON", () => {
      let stored = withContentRules("a", "b");
      stored = putPushRule(stored, "override", "o", { actions: ["notify"], conditions: [{ kind: "room_member_count", is: "2" }] });
      stored = setPushRuleEnabled(stored, "content", "a", false);
      stored = setPushRuleEnabled(stored, "override", ".m.rule.master", true);
      stored = setPushRuleActions(stored, "underride", ".m.rule.message", ["notify", { set_tweak: "highlight" }]);
      const back = parseStoredPushRules(JSON.parse(JSON.stringify(stored)));
      expect(back).to.deep.equal(stored);
      expect(buildPushRuleset(ALICE, back)).to.deep.equal(buildPushRuleset(ALICE, stored));
    });

    it("drops what it cannot read", () => {
      const back = parseStoredPushRules({
        rules: {
          content: [{ rule_id: "ok", pattern: "x", actions: [] }, { rule_id: "nopattern", actions: [] }, { rule_id: "ok", pattern: "dup", actions: [] }],
          override: [{ rule_id: ".m.rule.sneaky", actions: [] }, { rule_id: "badcond", actions: [], conditions: [{ key: "x" }] }, "junk"],
          room: "junk",
        },
        defaults: {
          override: { ".m.rule.master": { enabled: true, actions: "bad" }, ".m.rule.unknown": { enabled: true } },
          underride: { ".m.rule.master": { enabled: true } },
        },
      });
      const expected = emptyStoredPushRules();
      expected.rules.content = [{ rule_id: "ok", enabled: true, actions: [], pattern: "x" }];
      expected.defaults.override[".m.rule.master"] = { enabled: true };
      expect(back).to.deep.equal(expected);
      expect(parseStoredPushRules(null)).to.deep.equal(emptyStoredPushRules());
      expect(parseStoredPushRules([])).to.deep.equal(emptyStoredPushRules());
    });
  });
});
