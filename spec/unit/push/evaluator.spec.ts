// Rule evaluation: kind priority, order within a kind, enabled flags, the
// implicit conditions of content/room/sender rules, and the action helpers.
import { expect } from "chai";
import type { PushContext } from "../../../server/push/conditions.ts";
import type { PushAction, PushRule, PushRuleset } from "../../../server/push/default-rules.ts";
import {
  evaluatePushRules,
  highlight,
  normalizeActions,
  notify,
  pushOutcome,
  ruleMatches,
  sound,
  tweaks,
} from "../../../server/push/evaluator.ts";
import type { JsonObject } from "../../../server/protocol/json.ts";

const ALICE = "@alice:example.org";
const BOB = "@bob:example.org";
const ROOM = "!room:example.org";
const ctx: PushContext = { userId: ALICE, displayName: "Alice", roomMemberCount: 3, senderPowerLevel: 0 };

const message = (body: string, extra: JsonObject = {}): JsonObject => ({
  type: "m.room.message",
  content: { msgtype: "m.text", body },
  sender: BOB,
  room_id: ROOM,
  ...extra,
});

function userRule(rule_id: string, actions: PushAction[], extra: Partial<PushRule> = {}): PushRule {
  return { rule_id, default: false, enabled: true, actions, ...extra };
}

function ruleset(partial: Partial<PushRuleset>): PushRuleset {
  return { override: [], content: [], room: [], sender: [], underride: [], ...partial };
}

const matchAll = (id: string, actions: PushAction[] = ["notify"]) => userRule(id, actions, { conditions: [] });

describe("push/evaluator", () => {
  describe("priority", () => {
    const all = ruleset({
      override: [userRule("o", ["notify"], { conditions: [{ kind: "event_match", key: "content.body", pattern: "override" }] })],
      content: [userRule("c", ["notify", { set_tweak: "sound", value: "content" }], { pattern: "cake" })],
      room: [userRule(ROOM, ["notify", { set_tweak: "sound", value: "room" }])],
      sender: [userRule(BOB, ["notify", { set_tweak: "sound", value: "sender" }])],
      underride: [matchAll("u", ["notify", { set_tweak: "sound", value: "underride" }])],
    });
    const winner = (event: JsonObject) => evaluatePushRules(all, event, ctx);

    it("checks override, content, room, sender, then underride", () => {
      expect(winner(message("override cake"))).to.include({ kind: "override" });
      expect(winner(message("cake"))!.rule.rule_id).to.equal("c");
      expect(winner(message("tea"))!.rule.rule_id).to.equal(ROOM);
      expect(winner(message("tea", { room_id: "!other:example.org" }))!.rule.rule_id).to.equal(BOB);
      expect(winner(message("tea", { room_id: "!other:example.org", sender: "@carol:example.org" }))!.rule.rule_id).to.equal("u");
    });

    it("reports the kind and the actions of the winning rule", () => {
      const match = winner(message("cake"))!;
      expect(match.kind).to.equal("content");
      expect(match.actions).to.deep.equal(["notify", { set_tweak: "sound", value: "content" }]);
    });

    it("takes the first matching rule within a kind", () => {
      const rs = ruleset({
        content: [
          userRule("time", ["notify", { set_tweak: "sound", value: "time" }], { pattern: "time" }),
          userRule("tea", ["notify", { set_tweak: "sound", value: "tea" }], { pattern: "tea" }),
        ],
      });
      expect(evaluatePushRules(rs, message("It's time for tea"), ctx)!.rule.rule_id).to.equal("time");
      rs.content.reverse();
      expect(evaluatePushRules(rs, message("It's time for tea"), ctx)!.rule.rule_id).to.equal("tea");
    });

    it("skips disabled rules", () => {
      const rs = ruleset({ override: [matchAll("off", []), matchAll("on")] });
      rs.override[0]!.enabled = false;
      expect(evaluatePushRules(rs, message("x"), ctx)!.rule.rule_id).to.equal("on");
      rs.override[1]!.enabled = false;
      expect(evaluatePushRules(rs, message("x"), ctx)).to.equal(null);
    });

    it("returns null when nothing matches", () => {
      expect(evaluatePushRules(ruleset({}), message("x"), ctx)).to.equal(null);
      expect(pushOutcome(ruleset({}), message("x"), ctx)).to.deep.equal({ ruleId: null, notify: false, highlight: false, tweaks: {}, actions: [] });
    });
  });

  describe("rule matching", () => {
    it("an override rule without conditions matches everything", () => {
      expect(ruleMatches("override", userRule("x", []), { type: "anything" }, ctx)).to.equal(true);
      expect(ruleMatches("underride", matchAll("x"), {}, ctx)).to.equal(true);
    });

    it("all conditions must hold", () => {
      const rule = userRule("x", [], {
        conditions: [
          { kind: "event_match", key: "type", pattern: "m.room.message" },
          { kind: "room_member_count", is: "<=3" },
        ],
      });
      expect(ruleMatches("override", rule, message("x"), ctx)).to.equal(true);
      expect(ruleMatches("override", rule, message("x"), { ...ctx, roomMemberCount: 4 })).to.equal(false);
    });

    it("a rule with an unknown condition never matches", () => {
      const rule = userRule("x", ["notify"], { conditions: [{ kind: "org.example.future" }] });
      expect(evaluatePushRules(ruleset({ override: [rule] }), message("x"), ctx)).to.equal(null);
    });

    it("content rules glob on content.body at word boundaries", () => {
      const rule = userRule("c", ["notify"], { pattern: "cake*lie" });
      expect(ruleMatches("content", rule, message("The CAKE is a lie!"), ctx)).to.equal(true);
      expect(ruleMatches("content", rule, message("cheesecake is a lie"), ctx)).to.equal(false);
      expect(ruleMatches("content", rule, message("cake is a liempty"), ctx)).to.equal(false);
      expect(ruleMatches("content", rule, message("cake is a lie", { content: { body: 5 } }), ctx)).to.equal(false);
      expect(ruleMatches("content", userRule("c", ["notify"]), message("cake"), ctx), "no pattern").to.equal(false);
    });

    it("room and sender rules compare ids exactly", () => {
      expect(ruleMatches("room", userRule(ROOM, []), message("x"), ctx)).to.equal(true);
      expect(ruleMatches("room", userRule("!ROOM:example.org", []), message("x"), ctx)).to.equal(false);
      expect(ruleMatches("sender", userRule(BOB, []), message("x"), ctx)).to.equal(true);
      expect(ruleMatches("sender", userRule("@bob:*", []), message("x"), ctx), "no globbing").to.equal(false);
    });
  });

  describe("actions", () => {
    it("strips the historical dont_notify and coalesce actions", () => {
      expect(normalizeActions(["dont_notify"])).to.deep.equal([]);
      expect(normalizeActions(["notify", "coalesce", { set_tweak: "sound", value: "x" }])).to.deep.equal([
        "notify",
        { set_tweak: "sound", value: "x" },
      ]);
      const rs = ruleset({ override: [matchAll("legacy", ["dont_notify"])] });
      expect(evaluatePushRules(rs, message("x"), ctx)!.actions).to.deep.equal([]);
    });

    it("notify looks for the notify action", () => {
      expect(notify(["notify"])).to.equal(true);
      expect(notify([{ set_tweak: "highlight" }])).to.equal(false);
      expect(notify([])).to.equal(false);
    });

    it("highlight is true for a value-less or true highlight tweak, false otherwise", () => {
      expect(highlight(["notify", { set_tweak: "highlight" }])).to.equal(true);
      expect(highlight([{ set_tweak: "highlight", value: true }])).to.equal(true);
      expect(highlight([{ set_tweak: "highlight", value: false }])).to.equal(false);
      expect(highlight(["notify", { set_tweak: "sound", value: "default" }])).to.equal(false);
      expect(highlight([{ set_tweak: "highlight" }, { set_tweak: "highlight", value: false }]), "the last tweak wins").to.equal(false);
    });

    it("tweaks collects set_tweak values, passing unknown tweaks through", () => {
      const actions: PushAction[] = [
        "notify",
        { set_tweak: "sound", value: "default" },
        { set_tweak: "highlight" },
        { set_tweak: "org.example.led", value: { colour: "blue" } },
        { unknown_action: true },
      ];
      expect(tweaks(actions)).to.deep.equal({ sound: "default", highlight: true, "org.example.led": { colour: "blue" } });
      expect(sound(actions)).to.equal("default");
      expect(sound(["notify"])).to.equal(undefined);
    });

    it("pushOutcome summarises the match", () => {
      const rs = ruleset({ underride: [matchAll("u", ["notify", { set_tweak: "highlight" }])] });
      expect(pushOutcome(rs, message("x"), ctx)).to.deep.equal({
        ruleId: "u",
        notify: true,
        highlight: true,
        tweaks: { highlight: true },
        actions: ["notify", { set_tweak: "highlight" }],
      });
    });
  });
});
