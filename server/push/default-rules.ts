// The spec's predefined ("server-default") push rules, in the spec's order.
// https://spec.matrix.org/v1.19/client-server-api/#predefined-rules
//
// Since v1.17 the legacy rules that looked for mentions in `content.body`
// (.m.rule.contains_display_name, .m.rule.roomnotif and the content rule
// .m.rule.contains_user_name) are no longer specified, so they are not here:
// mentions are found through `m.mentions` (.m.rule.is_user_mention and
// .m.rule.is_room_mention). The spec lists no default content, room or sender rules.
import type { JsonObject } from "../protocol/json.ts";
import type { PushCondition } from "./conditions.ts";

export type PushRuleKind = "override" | "content" | "room" | "sender" | "underride";

/** The kinds in the order they are checked (highest priority first). */
export const PUSH_RULE_KINDS: readonly PushRuleKind[] = ["override", "content", "room", "sender", "underride"];

export function isPushRuleKind(value: unknown): value is PushRuleKind {
  return typeof value === "string" && (PUSH_RULE_KINDS as readonly string[]).includes(value);
}

/** `"notify"`, a `{ set_tweak, value? }` object, or an action this server does not know (passed through). */
export type PushAction = string | JsonObject;

/** A push rule as GET /pushrules returns it (the PushRule schema). */
export interface PushRule {
  rule_id: string;
  default: boolean;
  enabled: boolean;
  actions: PushAction[];
  /** override and underride rules only. */
  conditions?: PushCondition[];
  /** content rules only. */
  pattern?: string;
}

/** One ruleset (the PushRuleset schema); each list is in priority order. */
export interface PushRuleset {
  override: PushRule[];
  content: PushRule[];
  room: PushRule[];
  sender: PushRule[];
  underride: PushRule[];
}

/** Rule ids starting with "." are reserved for server-default rules. */
export function isServerDefaultRuleId(ruleId: string): boolean {
  return ruleId.startsWith(".");
}

/** The rule that, when enabled, silences everything; it outranks even user-defined rules. */
export const MASTER_RULE_ID = ".m.rule.master";

const SOUND_DEFAULT = { set_tweak: "sound", value: "default" };
const HIGHLIGHT = { set_tweak: "highlight" };

const typeIs = (pattern: string): PushCondition => ({ kind: "event_match", key: "type", pattern });
const stateKeyIs = (pattern: string): PushCondition => ({ kind: "event_match", key: "state_key", pattern });

function rule(rule_id: string, enabled: boolean, conditions: PushCondition[], actions: PushAction[]): PushRule {
  return { rule_id, default: true, enabled, conditions, actions };
}

/** Default override rules for `userId`, in the spec's order. Fresh objects on every call. */
export function defaultOverrideRules(userId: string): PushRule[] {
  return [
    rule(MASTER_RULE_ID, false, [], []),
    rule(".m.rule.suppress_notices", true, [{ kind: "event_match", key: "content.msgtype", pattern: "m.notice" }], []),
    rule(
      ".m.rule.invite_for_me",
      true,
      [typeIs("m.room.member"), { kind: "event_match", key: "content.membership", pattern: "invite" }, stateKeyIs(userId)],
      ["notify", { ...SOUND_DEFAULT }],
    ),
    rule(".m.rule.member_event", true, [typeIs("m.room.member")], []),
    rule(
      ".m.rule.is_user_mention",
      true,
      [{ kind: "event_property_contains", key: "content.m\\.mentions.user_ids", value: userId }],
      ["notify", { ...SOUND_DEFAULT }, { ...HIGHLIGHT }],
    ),
    rule(
      ".m.rule.is_room_mention",
      true,
      [
        { kind: "event_property_is", key: "content.m\\.mentions.room", value: true },
        { kind: "sender_notification_permission", key: "room" },
      ],
      ["notify", { ...HIGHLIGHT }],
    ),
    rule(".m.rule.tombstone", true, [typeIs("m.room.tombstone"), stateKeyIs("")], ["notify", { ...HIGHLIGHT }]),
    rule(".m.rule.reaction", true, [typeIs("m.reaction")], []),
    rule(".m.rule.room.server_acl", true, [typeIs("m.room.server_acl"), stateKeyIs("")], []),
    rule(
      ".m.rule.suppress_edits",
      true,
      [{ kind: "event_property_is", key: "content.m\\.relates_to.rel_type", value: "m.replace" }],
      [],
    ),
  ];
}

/** Default content rules: none since v1.17. */
export function defaultContentRules(_userId: string): PushRule[] {
  return [];
}

/** Default underride rules, in the spec's order. Fresh objects on every call. */
export function defaultUnderrideRules(): PushRule[] {
  return [
    rule(".m.rule.call", true, [typeIs("m.call.invite")], ["notify", { set_tweak: "sound", value: "ring" }]),
    rule(
      ".m.rule.encrypted_room_one_to_one",
      true,
      [{ kind: "room_member_count", is: "2" }, typeIs("m.room.encrypted")],
      ["notify", { ...SOUND_DEFAULT }],
    ),
    rule(
      ".m.rule.room_one_to_one",
      true,
      [{ kind: "room_member_count", is: "2" }, typeIs("m.room.message")],
      ["notify", { ...SOUND_DEFAULT }],
    ),
    rule(".m.rule.message", true, [typeIs("m.room.message")], ["notify"]),
    rule(".m.rule.encrypted", true, [typeIs("m.room.encrypted")], ["notify"]),
  ];
}

/** The complete server-default ruleset for `userId` (content, room and sender are empty). */
export function defaultPushRuleset(userId: string): PushRuleset {
  return {
    override: defaultOverrideRules(userId),
    content: defaultContentRules(userId),
    room: [],
    sender: [],
    underride: defaultUnderrideRules(),
  };
}
