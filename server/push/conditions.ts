// Push rule conditions: dot-separated property paths, glob matching and the
// six condition kinds of the spec. Pure: no I/O, usable by any worker.
// https://spec.matrix.org/v1.19/client-server-api/#conditions-1
// https://spec.matrix.org/v1.19/appendices/#glob-style-matching
// https://spec.matrix.org/v1.19/appendices/#dot-separated-property-paths
import { isJsonObject, type JsonObject, type JsonValue } from "../protocol/json.ts";

/** One condition of an override/underride rule, as the API and account data carry it. */
export interface PushCondition {
  kind: string;
  key?: string;
  pattern?: string;
  is?: string;
  value?: string | number | boolean | null;
  /** Parameters of condition kinds this server does not know are kept as given. */
  [param: string]: JsonValue | undefined;
}

/** What a condition needs to know beyond the event itself. */
export interface PushContext {
  /** The user whose rules are evaluated (the would-be recipient). */
  userId: string;
  /** The user's display name in the room; absent or empty never matches contains_display_name. */
  displayName?: string | null;
  /** Joined members of the room, for room_member_count. */
  roomMemberCount: number;
  /** The sender's effective power level in the room. */
  senderPowerLevel: number;
  /**
   * The `notifications` object of the room's m.room.power_levels content
   * (already resolved to integers). `room` defaults to 50 when absent.
   */
  notificationPowerLevels?: Readonly<Record<string, number>>;
}

/** Levels of the `notifications` object the spec gives a default for. */
export const NOTIFICATION_POWER_LEVEL_DEFAULTS: Readonly<Record<string, number>> = { room: 50 };

// ---------------------------------------------------------------------------
// Dot-separated property paths

/**
 * Splits a dot-separated property path into property names. `\.` is a literal
 * dot and `\\` a literal backslash; any other backslash is kept as-is.
 */
export function parseDotPath(path: string): string[] {
  const names: string[] = [];
  let current = "";
  for (let i = 0; i < path.length; i++) {
    const c = path[i]!;
    if (c === "\\") {
      const next = path[i + 1];
      if (next === "." || next === "\\") {
        current += next;
        i++;
      } else {
        current += c;
      }
    } else if (c === ".") {
      names.push(current);
      current = "";
    } else {
      current += c;
    }
  }
  names.push(current);
  return names;
}

/** Joins property names into a dot-separated path, escaping `.` and `\` inside names. */
export function buildDotPath(names: readonly string[]): string {
  return names.map((n) => n.replace(/[\\.]/g, (c) => `\\${c}`)).join(".");
}

/** The value at `path` (a dot-separated path or its parsed names), walking objects only. */
export function getEventProperty(event: JsonObject, path: string | readonly string[]): JsonValue | undefined {
  const names = typeof path === "string" ? parseDotPath(path) : path;
  let node: JsonValue | undefined = event;
  for (const name of names) {
    if (!isJsonObject(node) || !Object.hasOwn(node, name)) return undefined;
    node = node[name];
  }
  return node;
}

// ---------------------------------------------------------------------------
// Glob matching
//
// Patterns come from users (content rules, override conditions) and run on
// other people's messages, so they are matched by simulating the glob as an
// automaton, in O(pattern × value) time, rather than as a backtracking RegExp.

const STAR = 0;
const ANY = 1;
const LITERAL = 2;

interface CompiledGlob {
  /** STAR, ANY or LITERAL per pattern position (runs of `*` collapsed). */
  kinds: Uint8Array;
  /** The case-folded character at LITERAL positions. */
  chars: string[];
}

const COMPILED_CACHE_LIMIT = 2000;
const compiledCache = new Map<string, CompiledGlob>();

/** Case folding for comparing one character ("case-insensitive" is implementation-defined). */
function fold(ch: string): string {
  return ch.toUpperCase().toLowerCase();
}

/** Word characters per the spec: [A-Za-z0-9_]; anything else is a word boundary. */
function isWordChar(ch: string): boolean {
  return /^[A-Za-z0-9_]$/.test(ch);
}

function compile(pattern: string, literal: boolean): CompiledGlob {
  const cacheKey = `${literal ? "l" : "g"}:${pattern}`;
  const cached = compiledCache.get(cacheKey);
  if (cached !== undefined) return cached;
  const kinds: number[] = [];
  const chars: string[] = [];
  for (const ch of pattern) {
    if (!literal && ch === "*") {
      if (kinds[kinds.length - 1] !== STAR) {
        kinds.push(STAR);
        chars.push("");
      }
    } else if (!literal && ch === "?") {
      kinds.push(ANY);
      chars.push("");
    } else {
      kinds.push(LITERAL);
      chars.push(fold(ch));
    }
  }
  const compiled = { kinds: Uint8Array.from(kinds), chars };
  if (compiledCache.size >= COMPILED_CACHE_LIMIT) compiledCache.clear();
  compiledCache.set(cacheKey, compiled);
  return compiled;
}

/** A value split into case-folded code points, with each one's word-character flag. */
interface PreparedValue {
  chars: string[];
  word: Uint8Array;
}

// One event's body is matched against every member's display name and
// keywords: preparing it once per value, not once per match, is most of the
// cost of evaluating a large room's rules. Small and cleared when full.
const PREPARED_CACHE_LIMIT = 64;
const preparedCache = new Map<string, PreparedValue>();

function prepare(value: string): PreparedValue {
  const cached = preparedCache.get(value);
  if (cached !== undefined) return cached;
  const original = Array.from(value);
  const chars = original.map(fold);
  const word = Uint8Array.from(original, (ch) => (isWordChar(ch) ? 1 : 0));
  const prepared = { chars, word };
  if (preparedCache.size >= PREPARED_CACHE_LIMIT) preparedCache.clear();
  preparedCache.set(value, prepared);
  return prepared;
}

/**
 * Runs a compiled glob over `value` (split into code points). `wordBoundary`
 * lets a match start where the previous character is a boundary (or at the
 * start) and end where the next one is (or at the end); otherwise the match
 * must cover the whole value.
 */
function run(glob: CompiledGlob, value: string, wordBoundary: boolean): boolean {
  const { kinds, chars: want } = glob;
  const m = kinds.length;
  const { chars, word } = prepare(value);
  const n = chars.length;
  const startOk = (p: number): boolean => (wordBoundary ? p === 0 || word[p - 1] === 0 : p === 0);
  const endOk = (p: number): boolean => (wordBoundary ? p === n || word[p] === 0 : p === n);
  // Literal patterns (display names, most keywords): a direct scan.
  if (kinds.every((k) => k === LITERAL)) {
    for (let p = 0; p + m <= n; p++) {
      if (!startOk(p) || !endOk(p + m)) continue;
      let s = 0;
      while (s < m && chars[p + s] === want[s]) s++;
      if (s === m) return true;
      if (!wordBoundary) return false;
    }
    return false;
  }
  let cur = new Uint8Array(m + 1);
  let next = new Uint8Array(m + 1);
  const add = (set: Uint8Array, state: number): void => {
    // A `*` may match nothing, so reaching it also reaches the position after it.
    for (let s = state; s <= m && set[s] === 0; s++) {
      set[s] = 1;
      if (s === m || kinds[s] !== STAR) break;
    }
  };
  if (startOk(0)) add(cur, 0);
  for (let p = 0; ; p++) {
    if (cur[m] === 1 && endOk(p)) return true;
    if (p === n) return false;
    next.fill(0);
    const c = chars[p]!;
    for (let s = 0; s < m; s++) {
      if (cur[s] === 0) continue;
      const kind = kinds[s];
      if (kind === STAR) add(next, s);
      else if (kind === ANY || want[s] === c) add(next, s + 1);
    }
    if (wordBoundary) {
      if (startOk(p + 1)) add(next, 0);
    } else if (!next.includes(1)) {
      return false;
    }
    [cur, next] = [next, cur];
  }
}

/**
 * Case-insensitive glob match (`*` any run of characters, `?` exactly one).
 * With `wordBoundary` the pattern may match any substring that starts and
 * ends at a word boundary (the content.body rule); otherwise it must match
 * the whole value.
 */
export function globMatches(pattern: string, value: string, wordBoundary = false): boolean {
  return run(compile(pattern, false), value, wordBoundary);
}

/** Case-insensitive match of a literal string at word boundaries (contains_display_name). */
export function containsWord(haystack: string, word: string): boolean {
  return run(compile(word, true), haystack, true);
}

// ---------------------------------------------------------------------------
// Conditions

/** Non-compound canonical JSON values: strings, integers within ±(2**53 - 1), booleans and null. */
export function isNonCompoundValue(value: unknown): value is string | number | boolean | null {
  return (
    value === null ||
    typeof value === "string" ||
    typeof value === "boolean" ||
    (typeof value === "number" && Number.isSafeInteger(value))
  );
}

export type MemberCountOperator = "==" | "<" | ">" | "<=" | ">=";

/** Parses a room_member_count `is` value ("2", "==2", "<10", ">=3", ...); null when malformed. */
export function parseMemberCountIs(is: string): { op: MemberCountOperator; count: number } | null {
  const m = /^(==|<=|>=|<|>)?([0-9]+)$/.exec(is);
  if (m === null) return null;
  const count = Number(m[2]);
  if (!Number.isSafeInteger(count)) return null;
  return { op: (m[1] ?? "==") as MemberCountOperator, count };
}

function compareCount(actual: number, op: MemberCountOperator, expected: number): boolean {
  switch (op) {
    case "==":
      return actual === expected;
    case "<":
      return actual < expected;
    case ">":
      return actual > expected;
    case "<=":
      return actual <= expected;
    case ">=":
      return actual >= expected;
  }
}

const CONTENT_BODY = ["content", "body"];

function isContentBody(names: readonly string[]): boolean {
  return names.length === 2 && names[0] === CONTENT_BODY[0] && names[1] === CONTENT_BODY[1];
}

/** event_match: glob on the string at `key`; content.body uses word-boundary substring matching. */
export function eventMatch(event: JsonObject, key: string, pattern: string): boolean {
  const names = parseDotPath(key);
  const value = getEventProperty(event, names);
  if (typeof value !== "string") return false;
  return globMatches(pattern, value, isContentBody(names));
}

/**
 * Whether `condition` holds for `event`. Unknown kinds and malformed
 * parameters never match (the spec: unrecognised conditions MUST NOT match).
 */
export function matchesCondition(condition: PushCondition, event: JsonObject, ctx: PushContext): boolean {
  switch (condition.kind) {
    case "event_match": {
      if (typeof condition.key !== "string" || typeof condition.pattern !== "string") return false;
      return eventMatch(event, condition.key, condition.pattern);
    }
    case "event_property_is": {
      if (typeof condition.key !== "string" || !isNonCompoundValue(condition.value)) return false;
      const value = getEventProperty(event, condition.key);
      return isNonCompoundValue(value) && value === condition.value;
    }
    case "event_property_contains": {
      if (typeof condition.key !== "string" || !isNonCompoundValue(condition.value)) return false;
      const value = getEventProperty(event, condition.key);
      if (!Array.isArray(value)) return false;
      return value.some((item) => isNonCompoundValue(item) && item === condition.value);
    }
    case "contains_display_name": {
      const name = ctx.displayName;
      if (typeof name !== "string" || name.length === 0) return false;
      const body = getEventProperty(event, CONTENT_BODY);
      return typeof body === "string" && containsWord(body, name);
    }
    case "room_member_count": {
      if (typeof condition.is !== "string") return false;
      const parsed = parseMemberCountIs(condition.is);
      return parsed !== null && compareCount(ctx.roomMemberCount, parsed.op, parsed.count);
    }
    case "sender_notification_permission": {
      if (typeof condition.key !== "string") return false;
      const levels = ctx.notificationPowerLevels;
      const required =
        levels !== undefined && Object.hasOwn(levels, condition.key)
          ? levels[condition.key]
          : Object.hasOwn(NOTIFICATION_POWER_LEVEL_DEFAULTS, condition.key)
            ? NOTIFICATION_POWER_LEVEL_DEFAULTS[condition.key]
            : undefined;
      return typeof required === "number" && ctx.senderPowerLevel >= required;
    }
    default:
      return false;
  }
}

/**
 * Checks one condition against the PushCondition schema: an object with a
 * string `kind`, string `key`/`pattern`/`is` and a non-compound `value` when
 * present. Returns an error message, or null when it is valid.
 */
export function conditionProblem(json: unknown): string | null {
  if (!isJsonObject(json)) return "condition is not an object";
  if (typeof json.kind !== "string") return "condition without a string 'kind'";
  for (const k of ["key", "pattern", "is"] as const) {
    if (Object.hasOwn(json, k) && typeof json[k] !== "string") return `condition '${k}' must be a string`;
  }
  if (Object.hasOwn(json, "value") && !isNonCompoundValue(json.value)) {
    return "condition 'value' must be a string, an integer, a boolean or null";
  }
  return null;
}

/** A copy of a valid condition (see conditionProblem); null when it is not valid. Unknown keys are kept. */
export function parseCondition(json: unknown): PushCondition | null {
  if (conditionProblem(json) !== null) return null;
  return structuredClone(json) as PushCondition;
}
