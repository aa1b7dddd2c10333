// Evaluates a user's push ruleset against one event: the first enabled rule
// that matches, by kind (override > content > room > sender > underride) and
// then by position, decides the actions. Pure: no I/O.
// https://spec.matrix.org/v1.19/client-server-api/#push-rules
//
// The caller skips events the user sent themselves (the spec: homeservers
// MUST NOT notify for them) and resolves the context (member count, power levels).
import { isJsonObject, type JsonObject, type JsonValue } from "../protocol/json.ts";
import { eventMatch, matchesCondition, type PushContext } from "./conditions.ts";
import { PUSH_RULE_KINDS, type PushAction, type PushRule, type PushRuleKind, type PushRuleset } from "./default-rules.ts";

export type { PushContext } from "./conditions.ts";

export interface PushRuleMatch {
  kind: PushRuleKind;
  rule: PushRule;
  /** The rule's actions without the historical `dont_notify` / `coalesce`. */
  actions: PushAction[];
}

/** Actions older spec versions defined; they MUST be ignored. */
export const HISTORICAL_ACTIONS: readonly string[] = ["dont_notify", "coalesce"];

/** The actions with the historical ones removed (`["dont_notify"]` is equivalent to `[]`). */
export function normalizeActions(actions: readonly PushAction[]): PushAction[] {
  return actions.filter((a) => !(typeof a === "string" && HISTORICAL_ACTIONS.includes(a)));
}

/** Whether the actions generate a notification. */
export function notify(actions: readonly PushAction[]): boolean {
  return actions.includes("notify");
}

/**
 * The tweaks dictionary the actions set; later set_tweak actions win. A
 * tweak without a value (in the spec: `highlight`) is `true`.
 */
export function tweaks(actions: readonly PushAction[]): Record<string, JsonValue> {
  const out: Record<string, JsonValue> = {};
  for (const action of actions) {
    if (!isJsonObject(action) || typeof action.set_tweak !== "string") continue;
    // The spec defines a missing value as true for `highlight`; other tweaks get the same reading.
    out[action.set_tweak] = Object.hasOwn(action, "value") ? action.value! : true;
  }
  return out;
}

/** Whether the actions highlight: a highlight tweak with no value or `true`; false when absent. */
export function highlight(actions: readonly PushAction[]): boolean {
  return tweaks(actions).highlight === true;
}

/** The `sound` tweak, when it is a string. */
export function sound(actions: readonly PushAction[]): string | undefined {
  const value = tweaks(actions).sound;
  return typeof value === "string" ? value : undefined;
}

/** Whether one rule of `kind` matches (ignoring `enabled`). */
export function ruleMatches(kind: PushRuleKind, rule: PushRule, event: JsonObject, ctx: PushContext): boolean {
  switch (kind) {
    case "override":
    case "underride":
      return (rule.conditions ?? []).every((c) => matchesCondition(c, event, ctx));
    case "content":
      return typeof rule.pattern === "string" && eventMatch(event, "content.body", rule.pattern);
    case "room":
      return typeof event.room_id === "string" && event.room_id === rule.rule_id;
    case "sender":
      return typeof event.sender === "string" && event.sender === rule.rule_id;
  }
}

/**
 * The first enabled rule of `ruleset` that matches `event` (client format),
 * or null when none does (then the user is not notified).
 */
export function evaluatePushRules(ruleset: PushRuleset, event: JsonObject, ctx: PushContext): PushRuleMatch | null {
  for (const kind of PUSH_RULE_KINDS) {
    for (const rule of ruleset[kind]) {
      if (rule.enabled && ruleMatches(kind, rule, event, ctx)) {
        return { kind, rule, actions: normalizeActions(rule.actions) };
      }
    }
  }
  return null;
}

/** What a matched (or unmatched) event means for the unread counts and pushers. */
export interface PushOutcome {
  ruleId: string | null;
  notify: boolean;
  highlight: boolean;
  tweaks: Record<string, JsonValue>;
  actions: PushAction[];
}

/** evaluatePushRules plus the derived notify/highlight/tweaks. */
export function pushOutcome(ruleset: PushRuleset, event: JsonObject, ctx: PushContext): PushOutcome {
  const match = evaluatePushRules(ruleset, event, ctx);
  const actions = match?.actions ?? [];
  return { ruleId: match?.rule.rule_id ?? null, notify: notify(actions), highlight: highlight(actions), tweaks: tweaks(actions), actions };
}
