// The spec's predefined push rules: their order and what each one does to a
// representative event. https://spec.matrix.org/v1.19/client-server-api/#predefined-rules
import { expect } from "chai";
import type { PushContext } from "../../../server/push/conditions.ts";
import { defaultPushRuleset, isPushRuleKind, isServerDefaultRuleId, PUSH_RULE_KINDS } from "../../../server/push/default-rules.ts";
import { evaluatePushRules, pushOutcome } from "../../../server/push/evaluator.ts";
import type { JsonObject } from "../../../server/protocol/json.ts";

const ALICE = "@alice:example.org";
const BOB = "@bob:example.org";
const ROOM = "!room:example.org";

/** The predefined rules of spec v1.19, in its order. */
const SPEC_OVERRIDE = [
  ".m.rule.master",
  ".m.rule.suppress_notices",
  ".m.rule.invite_for_me",
  ".m.rule.member_event",
  ".m.rule.is_user_mention",
  ".m.rule.is_room_mention",
  ".m.rule.tombstone",
  ".m.rule.reaction",
  ".m.rule.room.server_acl",
  ".m.rule.suppress_edits",
];
const SPEC_UNDERRIDE = [
  ".m.rule.call",
  ".m.rule.encrypted_room_one_to_one",
  ".m.rule.room_one_to_one",
  ".m.rule.message",
  ".m.rule.encrypted",
];

const group: PushContext = { userId: ALICE, displayName: "Alice", roomMemberCount: 5, senderPowerLevel: 0 };
const oneToOne: PushContext = { ...group, roomMemberCount: 2 };

function ev(type: string, content: JsonObject, extra: JsonObject = {}): JsonObject {
  return { type, content, sender: BOB, room_id: ROOM, event_id: "$e", origin_server_ts: 1, ...extra };
}
const text = (body: string, extra: JsonObject = {}) => ev("m.room.message", { msgtype: "m.text", body, ...extra });

describe("push/default-rules", () => {
  it("lists the spec's predefined rules in the spec's order", () => {
    const rules = defaultPushRuleset(ALICE);
    expect(rules.override.map((r) => r.rule_id)).to.deep.equal(SPEC_OVERRIDE);
    expect(rules.content).to.deep.equal([]);
    expect(rules.room).to.deep.equal([]);
    expect(rules.sender).to.deep.equal([]);
    expect(rules.underride.map((r) => r.rule_id)).to.deep.equal(SPEC_UNDERRIDE);
  });

  it("omits the legacy body-mention rules removed in v1.17", () => {
    const ids = PUSH_RULE_KINDS.flatMap((k) => defaultPushRuleset(ALICE)[k].map((r) => r.rule_id));
    for (const legacy of [".m.rule.contains_display_name", ".m.rule.roomnotif", ".m.rule.contains_user_name"]) {
      expect(ids).not.to.include(legacy);
    }
  });

  it("marks every rule default, enabled except the master rule, with reserved ids", () => {
    const rules = defaultPushRuleset(ALICE);
    for (const kind of PUSH_RULE_KINDS) {
      for (const rule of rules[kind]) {
        expect(rule.default, rule.rule_id).to.equal(true);
        expect(rule.enabled, rule.rule_id).to.equal(rule.rule_id !== ".m.rule.master");
        expect(isServerDefaultRuleId(rule.rule_id)).to.equal(true);
      }
    }
  });

  it("matches the spec's definitions", () => {
    const rules = defaultPushRuleset(ALICE);
    const byId = new Map([...rules.override, ...rules.underride].map((r) => [r.rule_id, r]));
    expect(byId.get(".m.rule.invite_for_me")).to.deep.equal({
      rule_id: ".m.rule.invite_for_me",
      default: true,
      enabled: true,
      conditions: [
        { key: "type", kind: "event_match", pattern: "m.room.member" },
        { key: "content.membership", kind: "event_match", pattern: "invite" },
        { key: "state_key", kind: "event_match", pattern: ALICE },
      ],
      actions: ["notify", { set_tweak: "sound", value: "default" }],
    });
    expect(byId.get(".m.rule.is_user_mention")).to.deep.equal({
      rule_id: ".m.rule.is_user_mention",
      default: true,
      enabled: true,
      conditions: [{ kind: "event_property_contains", key: "content.m\\.mentions.user_ids", value: ALICE }],
      actions: ["notify", { set_tweak: "sound", value: "default" }, { set_tweak: "highlight" }],
    });
    expect(byId.get(".m.rule.is_room_mention")!.conditions).to.deep.equal([
      { kind: "event_property_is", key: "content.m\\.mentions.room", value: true },
      { kind: "sender_notification_permission", key: "room" },
    ]);
    expect(byId.get(".m.rule.suppress_edits")!.conditions).to.deep.equal([
      { kind: "event_property_is", key: "content.m\\.relates_to.rel_type", value: "m.replace" },
    ]);
    expect(byId.get(".m.rule.call")!.actions).to.deep.equal(["notify", { set_tweak: "sound", value: "ring" }]);
    expect(byId.get(".m.rule.encrypted_room_one_to_one")!.conditions).to.deep.equal([
      { kind: "room_member_count", is: "2" },
      { kind: "event_match", key: "type", pattern: "m.room.encrypted" },
    ]);
    expect(byId.get(".m.rule.master")!.conditions).to.deep.equal([]);
  });

  it("returns fresh objects on every call", () => {
    const a = defaultPushRuleset(ALICE);
    a.override[1]!.actions.push("notify");
    expect(defaultPushRuleset(ALICE).override[1]!.actions).to.deep.equal([]);
  });

  it("knows the five kinds", () => {
    expect(PUSH_RULE_KINDS).to.deep.equal(["override", "content", "room", "sender", "underride"]);
    expect(isPushRuleKind("room")).to.equal(true);
    expect(isPushRuleKind("global")).to.equal(false);
  });

  describe("each rule on a representative event", () => {
    const rules = defaultPushRuleset(ALICE);
    const fired = new Set<string>();
    const outcome = (event: JsonObject, ctx: PushContext = group) => {
      const o = pushOutcome(rules, event, ctx);
      if (o.ruleId !== null) fired.add(o.ruleId);
      return o;
    };

    it(".m.rule.master is disabled, and silences everything when enabled", () => {
      expect(outcome(text("hi")).ruleId).to.equal(".m.rule.message");
      const muted = defaultPushRuleset(ALICE);
      muted.override[0]!.enabled = true;
      const o = pushOutcome(muted, text("hi", { "m.mentions": { user_ids: [ALICE] } }), oneToOne);
      expect(o).to.include({ ruleId: ".m.rule.master", notify: false, highlight: false });
      fired.add(".m.rule.master");
    });

    it(".m.rule.suppress_notices: an m.notice does not notify, even in a 1:1 room", () => {
      const notice = ev("m.room.message", { msgtype: "m.notice", body: "bot says hi" });
      expect(outcome(notice, oneToOne)).to.include({ ruleId: ".m.rule.suppress_notices", notify: false });
    });

    it(".m.rule.invite_for_me: an invite for the user notifies with the default sound", () => {
      const invite = ev("m.room.member", { membership: "invite" }, { state_key: ALICE });
      const o = outcome(invite);
      expect(o).to.include({ ruleId: ".m.rule.invite_for_me", notify: true, highlight: false });
      expect(o.tweaks).to.deep.equal({ sound: "default" });
    });

    it(".m.rule.member_event: other membership changes do not notify", () => {
      expect(outcome(ev("m.room.member", { membership: "invite" }, { state_key: "@carol:example.org" }))).to.include({
        ruleId: ".m.rule.member_event",
        notify: false,
      });
      expect(outcome(ev("m.room.member", { membership: "join" }, { state_key: BOB }))).to.include({
        ruleId: ".m.rule.member_event",
        notify: false,
      });
    });

    it(".m.rule.is_user_mention: a mention highlights with sound", () => {
      const o = outcome(text("hey", { "m.mentions": { user_ids: [ALICE] } }));
      expect(o).to.include({ ruleId: ".m.rule.is_user_mention", notify: true, highlight: true });
      expect(o.tweaks).to.deep.equal({ sound: "default", highlight: true });
      expect(outcome(text("hey", { "m.mentions": { user_ids: ["@alice:other.org"] } })).ruleId).to.equal(".m.rule.message");
    });

    it("the display name in the body alone no longer highlights (legacy rules removed)", () => {
      expect(outcome(text("Alice: hi"))).to.include({ ruleId: ".m.rule.message", highlight: false });
      expect(outcome(text("@room hi"), { ...group, senderPowerLevel: 100 })).to.include({ ruleId: ".m.rule.message", highlight: false });
    });

    it(".m.rule.is_room_mention: @room highlights only from a sender with the power", () => {
      const roomMention = text("everyone!", { "m.mentions": { room: true } });
      const o = outcome(roomMention, { ...group, senderPowerLevel: 50 });
      expect(o).to.include({ ruleId: ".m.rule.is_room_mention", notify: true, highlight: true });
      expect(o.tweaks).to.deep.equal({ highlight: true });
      expect(outcome(roomMention, { ...group, senderPowerLevel: 49 })).to.include({ ruleId: ".m.rule.message", highlight: false });
      expect(outcome(roomMention, { ...group, senderPowerLevel: 50, notificationPowerLevels: { room: 100 } }).ruleId).to.equal(
        ".m.rule.message",
      );
      expect(outcome(text("x", { "m.mentions": { room: "true" } }), { ...group, senderPowerLevel: 100 }).ruleId).to.equal(
        ".m.rule.message",
      );
    });

    it(".m.rule.tombstone: a room upgrade highlights; a non-state tombstone does nothing", () => {
      const tombstone = ev("m.room.tombstone", { body: "moved", replacement_room: "!new:example.org" }, { state_key: "" });
      expect(outcome(tombstone)).to.include({ ruleId: ".m.rule.tombstone", notify: true, highlight: true });
      expect(outcome(ev("m.room.tombstone", { body: "x" })).ruleId).to.equal(null);
    });

    it(".m.rule.reaction: reactions do not notify", () => {
      const reaction = ev("m.reaction", { "m.relates_to": { rel_type: "m.annotation", event_id: "$x", key: "👍" } });
      expect(outcome(reaction, oneToOne)).to.include({ ruleId: ".m.rule.reaction", notify: false });
    });

    it(".m.rule.room.server_acl: ACL changes do not notify", () => {
      const acl = ev("m.room.server_acl", { allow: ["*"], deny: [] }, { state_key: "" });
      expect(outcome(acl)).to.include({ ruleId: ".m.rule.room.server_acl", notify: false });
    });

    it(".m.rule.suppress_edits: an edit (m.replace) does not notify, even in a 1:1 room", () => {
      const edit = text("* fixed", {
        "m.new_content": { msgtype: "m.text", body: "fixed" },
        "m.relates_to": { rel_type: "m.replace", event_id: "$orig" },
      });
      expect(outcome(edit, oneToOne)).to.include({ ruleId: ".m.rule.suppress_edits", notify: false });
      const reply = text("re", { "m.relates_to": { "m.in_reply_to": { event_id: "$orig" } } });
      expect(outcome(reply).ruleId).to.equal(".m.rule.message");
    });

    it(".m.rule.call: a call invite rings", () => {
      const o = outcome(ev("m.call.invite", { call_id: "c", version: "1", lifetime: 60000, offer: { type: "offer", sdp: "" } }));
      expect(o).to.include({ ruleId: ".m.rule.call", notify: true, highlight: false });
      expect(o.tweaks).to.deep.equal({ sound: "ring" });
    });

    it(".m.rule.encrypted_room_one_to_one: encrypted events in a 1:1 room notify with sound", () => {
      const o = outcome(ev("m.room.encrypted", { algorithm: "m.megolm.v1.aes-sha2", ciphertext: "x" }), oneToOne);
      expect(o).to.include({ ruleId: ".m.rule.encrypted_room_one_to_one", notify: true });
      expect(o.tweaks).to.deep.equal({ sound: "default" });
    });

    it(".m.rule.room_one_to_one: a 1:1 room message notifies with the default sound", () => {
      const o = outcome(text("hello"), oneToOne);
      expect(o).to.include({ ruleId: ".m.rule.room_one_to_one", notify: true, highlight: false });
      expect(o.tweaks).to.deep.equal({ sound: "default" });
    });

    it(".m.rule.message: a group message notifies silently", () => {
      const o = outcome(text("hello"));
      expect(o).to.include({ ruleId: ".m.rule.message", notify: true, highlight: false });
      expect(o.tweaks).to.deep.equal({});
    });

    it(".m.rule.encrypted: encrypted group events notify silently", () => {
      const o = outcome(ev("m.room.encrypted", { algorithm: "m.megolm.v1.aes-sha2", ciphertext: "x" }));
      expect(o).to.include({ ruleId: ".m.rule.encrypted", notify: true });
      expect(o.tweaks).to.deep.equal({});
    });

    it("other events match no rule and do not notify", () => {
      expect(evaluatePushRules(rules, ev("m.room.topic", { topic: "t" }, { state_key: "" }), group)).to.equal(null);
      expect(outcome(ev("m.room.name", { name: "n" }, { state_key: "" }))).to.include({ ruleId: null, notify: false, highlight: false });
    });

    it("every predefined rule fired above", () => {
      expect([...fired].sort()).to.deep.equal([...SPEC_OVERRIDE, ...SPEC_UNDERRIDE].sort());
    });
  });
});
