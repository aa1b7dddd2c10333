// A user's push rules: what is stored (user-defined rules plus the enabled
// flags and actions the user set on server-default rules), how it merges with
// the defaults into the ruleset GET /pushrules/ returns, and the changes the
// PUT/DELETE /pushrules/global/{kind}/{ruleId}[/enabled|/actions] endpoints make.
// Pure: every change returns a new StoredPushRules; the caller persists it.
// https://spec.matrix.org/v1.19/client-server-api/#push-rules-api
import { MatrixError, notFound, unrecognized } from "../errors/matrix-error.ts";
import { isJsonObject } from "../protocol/json.ts";
import { conditionProblem, parseCondition, type PushCondition } from "./conditions.ts";
import {
  MASTER_RULE_ID,
  PUSH_RULE_KINDS,
  defaultPushRuleset,
  isPushRuleKind,
  isServerDefaultRuleId,
  type PushAction,
  type PushRule,
  type PushRuleKind,
  type PushRuleset,
} from "./default-rules.ts";
import { HISTORICAL_ACTIONS, normalizeActions } from "./evaluator.ts";

/** A user-defined rule as stored. */
export interface UserPushRule {
  rule_id: string;
  enabled: boolean;
  actions: PushAction[];
  /** override and underride rules only. */
  conditions?: PushCondition[];
  /** content rules only. */
  pattern?: string;
}

/** What the user changed on a server-default rule. */
export interface DefaultRuleOverride {
  enabled?: boolean;
  actions?: PushAction[];
}

/** Everything to persist for one user (JSON-serialisable). */
export interface StoredPushRules {
  /** User-defined rules per kind, most important first. */
  rules: Record<PushRuleKind, UserPushRule[]>;
  /** Changes to server-default rules, per kind and rule id. */
  defaults: Record<PushRuleKind, Record<string, DefaultRuleOverride>>;
}

/** The global account data type under which StoredPushRules are kept and m.push_rules is synced. */
export const PUSH_RULES_ACCOUNT_DATA_TYPE = "m.push_rules";

/** The body of GET /pushrules/ and the content of the m.push_rules account data event. */
export interface PushRulesResponse {
  global: PushRuleset;
}

/** `before` / `after` query parameters of PUT /pushrules/global/{kind}/{ruleId}. */
export interface PushRulePosition {
  before?: string | undefined;
  after?: string | undefined;
}

const pushRuleError = (message: string): MatrixError => new MatrixError(400, "M_UNKNOWN", message);
const badJson = (message: string): MatrixError => new MatrixError(400, "M_BAD_JSON", message);
const ruleNotFound = (): MatrixError => notFound("The push rule was not found.");

/** Server-default rule ids per kind (they do not depend on the user). */
const DEFAULT_RULE_IDS: Readonly<Record<PushRuleKind, ReadonlySet<string>>> = (() => {
  const defaults = defaultPushRuleset("@user:server");
  const out = {} as Record<PushRuleKind, ReadonlySet<string>>;
  for (const kind of PUSH_RULE_KINDS) out[kind] = new Set(defaults[kind].map((r) => r.rule_id));
  return out;
})();

function isDefaultRule(kind: PushRuleKind, ruleId: string): boolean {
  return DEFAULT_RULE_IDS[kind].has(ruleId);
}

function perKind<T>(make: () => T): Record<PushRuleKind, T> {
  return { override: make(), content: make(), room: make(), sender: make(), underride: make() };
}

export function emptyStoredPushRules(): StoredPushRules {
  return { rules: perKind(() => []), defaults: perKind(() => ({})) };
}

/** The kind path segment, or 404 M_UNRECOGNIZED for anything else (no such endpoint). */
export function parsePushRuleKind(kind: string): PushRuleKind {
  if (!isPushRuleKind(kind)) throw unrecognized(404, `Unknown push rule kind: ${kind}`);
  return kind;
}

// ---------------------------------------------------------------------------
// Validation of request bodies

const KNOWN_ACTION_STRINGS: readonly string[] = ["notify", ...HISTORICAL_ACTIONS];

/**
 * Validates an `actions` array: "notify" (historical "dont_notify" and
 * "coalesce" are accepted and stripped) or objects with a string `set_tweak`.
 */
export function parseActions(value: unknown): PushAction[] {
  if (!Array.isArray(value)) throw badJson("'actions' must be an array");
  for (const action of value) {
    if (typeof action === "string") {
      if (!KNOWN_ACTION_STRINGS.includes(action)) throw badJson(`Unrecognised action: ${action}`);
    } else if (!isJsonObject(action) || typeof action.set_tweak !== "string") {
      throw badJson("Unrecognised action: objects must have a string 'set_tweak'");
    }
  }
  return normalizeActions(structuredClone(value) as PushAction[]);
}

/** The body of PUT .../enabled: `{ "enabled": boolean }`. */
export function parseEnabledBody(body: unknown): boolean {
  if (!isJsonObject(body) || typeof body.enabled !== "boolean") throw badJson("'enabled' must be a boolean");
  return body.enabled;
}

/** The body of PUT .../actions: `{ "actions": [...] }`. */
export function parseActionsBody(body: unknown): PushAction[] {
  if (!isJsonObject(body)) throw badJson("Body must be a JSON object");
  return parseActions(body.actions);
}

/** Checks a rule id given to PUT /pushrules/global/{kind}/{ruleId} for a new or changed user rule. */
export function checkUserRuleId(ruleId: string): void {
  if (ruleId.length === 0) throw pushRuleError("rule_id may not be empty");
  if (isServerDefaultRuleId(ruleId)) throw pushRuleError("cannot add new rule_ids that start with '.'");
  if (ruleId.includes("/") || ruleId.includes("\\")) throw pushRuleError("rule_id may not contain slashes");
}

/** The rule a PUT body describes for `kind` (enabled defaults to true). */
export function parseUserRuleBody(kind: PushRuleKind, ruleId: string, body: unknown): UserPushRule {
  if (!isJsonObject(body)) throw badJson("Body must be a JSON object");
  if (!Object.hasOwn(body, "actions")) throw badJson("Missing 'actions'");
  const rule: UserPushRule = { rule_id: ruleId, enabled: true, actions: parseActions(body.actions) };
  switch (kind) {
    case "override":
    case "underride": {
      const conditions = body.conditions ?? [];
      if (!Array.isArray(conditions)) throw badJson("'conditions' must be an array");
      rule.conditions = conditions.map((c) => {
        const problem = conditionProblem(c);
        if (problem !== null) throw badJson(problem);
        return parseCondition(c)!;
      });
      break;
    }
    case "content":
      if (typeof body.pattern !== "string") throw badJson("Content rule missing a string 'pattern'");
      rule.pattern = body.pattern;
      break;
    case "room":
    case "sender":
      // The rule id is the room or user id; the predefined condition needs nothing else.
      break;
  }
  return rule;
}

// ---------------------------------------------------------------------------
// Merging with the defaults

function applyOverride(rule: PushRule, override: DefaultRuleOverride | undefined): PushRule {
  if (override === undefined) return rule;
  return {
    ...rule,
    ...(override.enabled !== undefined ? { enabled: override.enabled } : {}),
    ...(override.actions !== undefined ? { actions: structuredClone(override.actions) } : {}),
  };
}

function userRuleToPushRule(kind: PushRuleKind, rule: UserPushRule): PushRule {
  const out: PushRule = { rule_id: rule.rule_id, default: false, enabled: rule.enabled, actions: structuredClone(rule.actions) };
  if (kind === "override" || kind === "underride") out.conditions = structuredClone(rule.conditions ?? []);
  if (kind === "content" && rule.pattern !== undefined) out.pattern = rule.pattern;
  return out;
}

/**
 * The user's effective ruleset: in each kind the user-defined rules come
 * before the server-default ones, except `.m.rule.master`, which comes first.
 */
export function buildPushRuleset(userId: string, stored: StoredPushRules): PushRuleset {
  const defaults = defaultPushRuleset(userId);
  const out = {} as PushRuleset;
  for (const kind of PUSH_RULE_KINDS) {
    const overrides = stored.defaults[kind];
    const merged = defaults[kind].map((r) => applyOverride(r, Object.hasOwn(overrides, r.rule_id) ? overrides[r.rule_id] : undefined));
    const user = stored.rules[kind].map((r) => userRuleToPushRule(kind, r));
    const first = merged.filter((r) => r.rule_id === MASTER_RULE_ID);
    const rest = merged.filter((r) => r.rule_id !== MASTER_RULE_ID);
    out[kind] = [...first, ...user, ...rest];
  }
  return out;
}

/** The body of GET /pushrules/ (and the m.push_rules account data content). */
export function pushRulesResponse(userId: string, stored: StoredPushRules): PushRulesResponse {
  return { global: buildPushRuleset(userId, stored) };
}

/** One rule of a ruleset (GET /pushrules/global/{kind}/{ruleId}); 404 M_NOT_FOUND when absent. */
export function getPushRule(ruleset: PushRuleset, kind: PushRuleKind, ruleId: string): PushRule {
  const rule = ruleset[kind].find((r) => r.rule_id === ruleId);
  if (rule === undefined) throw ruleNotFound();
  return rule;
}

// ---------------------------------------------------------------------------
// Changes

function cloneStored(stored: StoredPushRules): StoredPushRules {
  return structuredClone(stored);
}

/**
 * PUT /pushrules/global/{kind}/{ruleId}: creates or replaces a user-defined
 * rule. A new rule without `before`/`after` becomes the most important
 * user-defined rule of its kind; an updated one keeps its place (and its
 * enabled flag) unless `before`/`after` move it. `before` wins when both are
 * given. Both must name a user-defined rule of the same kind (400 M_UNKNOWN).
 */
export function putPushRule(
  stored: StoredPushRules,
  kind: PushRuleKind,
  ruleId: string,
  body: unknown,
  position: PushRulePosition = {},
): StoredPushRules {
  checkUserRuleId(ruleId);
  const rule = parseUserRuleBody(kind, ruleId, body);
  const before = position.before || undefined;
  const after = position.after || undefined;
  const relative = before ?? after;
  if (relative !== undefined && isServerDefaultRuleId(relative)) {
    throw pushRuleError(`cannot add a rule relative to a server-default rule: ${relative}`);
  }

  const next = cloneStored(stored);
  const list = next.rules[kind];
  const existingIndex = list.findIndex((r) => r.rule_id === ruleId);
  if (existingIndex >= 0) rule.enabled = list[existingIndex]!.enabled;

  if (relative === undefined) {
    if (existingIndex >= 0) list[existingIndex] = rule;
    else list.unshift(rule);
    return next;
  }

  if (existingIndex >= 0) list.splice(existingIndex, 1);
  const anchor = list.findIndex((r) => r.rule_id === relative);
  if (anchor < 0) throw pushRuleError(`before/after rule not found: ${relative}`);
  list.splice(before !== undefined ? anchor : anchor + 1, 0, rule);
  return next;
}

/** DELETE /pushrules/global/{kind}/{ruleId}: server-default rules cannot be deleted (400 M_UNKNOWN). */
export function deletePushRule(stored: StoredPushRules, kind: PushRuleKind, ruleId: string): StoredPushRules {
  if (isDefaultRule(kind, ruleId)) throw pushRuleError("cannot delete a server-default rule");
  const index = stored.rules[kind].findIndex((r) => r.rule_id === ruleId);
  if (index < 0) throw ruleNotFound();
  const next = cloneStored(stored);
  next.rules[kind].splice(index, 1);
  return next;
}

function changeRule(
  stored: StoredPushRules,
  kind: PushRuleKind,
  ruleId: string,
  change: (target: { enabled?: boolean; actions?: PushAction[] }) => void,
): StoredPushRules {
  const next = cloneStored(stored);
  if (isDefaultRule(kind, ruleId)) {
    const overrides = next.defaults[kind];
    const current = Object.hasOwn(overrides, ruleId) ? overrides[ruleId]! : {};
    change(current);
    overrides[ruleId] = current;
    return next;
  }
  const rule = next.rules[kind].find((r) => r.rule_id === ruleId);
  if (rule === undefined) throw ruleNotFound();
  change(rule);
  return next;
}

/** PUT .../enabled: works on user-defined and server-default rules; 404 M_NOT_FOUND otherwise. */
export function setPushRuleEnabled(stored: StoredPushRules, kind: PushRuleKind, ruleId: string, enabled: boolean): StoredPushRules {
  return changeRule(stored, kind, ruleId, (r) => {
    r.enabled = enabled;
  });
}

/** PUT .../actions: works on user-defined and server-default rules; 404 M_NOT_FOUND otherwise. */
export function setPushRuleActions(
  stored: StoredPushRules,
  kind: PushRuleKind,
  ruleId: string,
  actions: readonly PushAction[],
): StoredPushRules {
  const clean = parseActions(actions);
  return changeRule(stored, kind, ruleId, (r) => {
    r.actions = clean;
  });
}

// ---------------------------------------------------------------------------
// Reading back what was persisted

function parseStoredRule(kind: PushRuleKind, json: unknown): UserPushRule | null {
  if (!isJsonObject(json) || typeof json.rule_id !== "string" || json.rule_id.length === 0) return null;
  if (isServerDefaultRuleId(json.rule_id)) return null;
  try {
    const rule = parseUserRuleBody(kind, json.rule_id, json);
    rule.enabled = typeof json.enabled === "boolean" ? json.enabled : true;
    return rule;
  } catch {
    return null;
  }
}

/**
 * A StoredPushRules from persisted JSON. Tolerant: malformed entries are
 * dropped (a rule whose conditions cannot be read is dropped whole rather
 * than matching more than intended), as are changes to unknown default rules.
 */
export function parseStoredPushRules(json: unknown): StoredPushRules {
  const out = emptyStoredPushRules();
  if (!isJsonObject(json)) return out;
  const rules = isJsonObject(json.rules) ? json.rules : {};
  const defaults = isJsonObject(json.defaults) ? json.defaults : {};
  for (const kind of PUSH_RULE_KINDS) {
    const list = rules[kind];
    const seen = new Set<string>();
    if (Array.isArray(list)) {
      for (const item of list) {
        const rule = parseStoredRule(kind, item);
        if (rule === null || seen.has(rule.rule_id)) continue;
        seen.add(rule.rule_id);
        out.rules[kind].push(rule);
      }
    }
    const changes = defaults[kind];
    if (!isJsonObject(changes)) continue;
    for (const [ruleId, change] of Object.entries(changes)) {
      if (!isDefaultRule(kind, ruleId) || !isJsonObject(change)) continue;
      const override: DefaultRuleOverride = {};
      if (typeof change.enabled === "boolean") override.enabled = change.enabled;
      if (Object.hasOwn(change, "actions")) {
        try {
          override.actions = parseActions(change.actions);
        } catch {
          // Unreadable actions: keep the default ones.
        }
      }
      out.defaults[kind][ruleId] = override;
    }
  }
  return out;
}
