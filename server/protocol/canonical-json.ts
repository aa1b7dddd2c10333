// Canonical JSON (appendices: "Signing JSON > Canonical JSON"): the byte form
// that hashes and signatures cover. Also the JSON parser for untrusted input,
// which knows about the number rules canonical JSON imposes.
import { Buffer } from "node:buffer";
import type { JsonValue } from "./json.ts";
import { ProtocolError } from "./errors.ts";

/**
 * Deeper nesting is refused. Recursive walkers (and V8's reviver) overflow the
 * stack somewhere past a few thousand levels; a 64 KiB event could nest ~32k
 * deep. Synapse's parser gives up near 1000 (Python's recursion limit), so
 * nothing that federates today is deeper than this.
 */
export const MAX_JSON_NESTING = 1000;

/** Largest integer canonical JSON allows (the spec's range is ±(2^53 − 1)). */
export const MAX_CANONICAL_INTEGER = Number.MAX_SAFE_INTEGER;

// ---------------------------------------------------------------- encoding

/**
 * Orders strings by Unicode code point. JS compares UTF-16 code units, which
 * puts astral characters (surrogate pairs, 0xD800–0xDFFF) before U+E000–U+FFFF;
 * shifting those two ranges past each other fixes that, and for well-formed
 * strings the first differing code unit then decides as code points would.
 */
export function compareCodePoints(a: string, b: string): number {
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) {
    let x = a.charCodeAt(i);
    let y = b.charCodeAt(i);
    if (x === y) continue;
    if (x >= 0xd800 && y >= 0xd800) {
      x += x < 0xe000 ? 0x2000 : -0x800;
      y += y < 0xe000 ? 0x2000 : -0x800;
    }
    return x - y;
  }
  return a.length - b.length;
}

/**
 * Integers print as plain digits (String() would switch to exponent form from
 * 1e21). Other finite numbers only occur in legacy rooms (v1–v5), where the
 * spec asks servers to cope; they print the way Python's json module prints
 * floats, because Synapse produced nearly all such events.
 */
function encodeNumber(n: number): string {
  if (!Number.isFinite(n)) throw new ProtocolError("bad_json", `canonical JSON cannot encode ${n}`);
  if (Number.isInteger(n)) return Math.abs(n) < 1e21 ? String(n === 0 ? 0 : n) : BigInt(n).toString();
  const abs = Math.abs(n);
  if (abs >= 1e-4 && abs < 1e16) return String(n);
  // Python: shortest repr in exponent form with a sign and at least two exponent digits.
  const [mantissa = "", exponent = ""] = n.toExponential().split("e");
  const sign = exponent.startsWith("-") ? "-" : "+";
  const digits = exponent.replace(/^[+-]/, "").padStart(2, "0");
  return `${mantissa}e${sign}${digits}`;
}

/**
 * JSON.stringify escapes exactly what the canonical grammar requires for a
 * well-formed string: `"`, `\`, the short forms \b \t \n \f \r and \u00xx
 * (lower-case hex) for the other controls; everything else, including U+007F
 * and U+2028, stays raw. The only other thing it escapes is lone surrogates,
 * which are not Unicode scalar values and so cannot be UTF-8 at all.
 */
function encodeString(s: string): string {
  if (!s.isWellFormed()) throw new ProtocolError("bad_json", "string contains a lone UTF-16 surrogate");
  return JSON.stringify(s);
}

function encode(value: unknown, depth: number): string {
  switch (typeof value) {
    case "string":
      return encodeString(value);
    case "number":
      return encodeNumber(value);
    case "boolean":
      return value ? "true" : "false";
    case "object": {
      if (value === null) return "null";
      if (depth >= MAX_JSON_NESTING) throw new ProtocolError("bad_json", "JSON nested too deeply");
      if (Array.isArray(value)) {
        return `[${value.map((item: unknown) => encode(item, depth + 1)).join(",")}]`;
      }
      const record = value as Record<string, unknown>;
      const members = Object.keys(record)
        .sort(compareCodePoints)
        .map((key) => `${encodeString(key)}:${encode(record[key], depth + 1)}`);
      return `{${members.join(",")}}`;
    }
    default:
      throw new ProtocolError("bad_json", `canonical JSON cannot encode a value of type ${typeof value}`);
  }
}

/** The canonical JSON text of a value: sorted keys, no whitespace, minimal escapes. */
export function canonicalJson(value: JsonValue): string {
  return encode(value, 0);
}

/** The UTF-8 bytes that signatures and hashes are computed over. */
export function canonicalJsonBytes(value: JsonValue): Buffer {
  return Buffer.from(canonicalJson(value), "utf8");
}

// ---------------------------------------------------------------- validation

/**
 * Containers that held a number written with a fraction, an exponent or as
 * `-0` when they were parsed leniently. JSON.parse turns `1.0` into 1 and
 * `1e10` into 10000000000, so afterwards only this record tells a strict check
 * that the original text was not canonical. A federation transaction mixes
 * rooms of different versions, so strictness is often decided after parsing.
 */
const nonCanonicalNumberHolders = new WeakSet<object>();

function fail(path: string, what: string): never {
  throw new ProtocolError("bad_json", `${path || "value"}: ${what}`);
}

function check(value: unknown, strict: boolean, path: string, depth: number): void {
  switch (typeof value) {
    case "string":
      if (!value.isWellFormed()) fail(path, "string contains a lone UTF-16 surrogate");
      return;
    case "boolean":
      return;
    case "number":
      if (!Number.isFinite(value)) fail(path, `${value} is not a JSON number`);
      if (strict) {
        if (!Number.isInteger(value)) fail(path, "floats are not allowed in canonical JSON");
        if (Object.is(value, -0)) fail(path, "-0 is not allowed in canonical JSON");
        if (!Number.isSafeInteger(value)) fail(path, "integer outside ±(2^53 − 1)");
      }
      return;
    case "object": {
      if (value === null) return;
      if (depth >= MAX_JSON_NESTING) fail(path, "JSON nested too deeply");
      if (strict && nonCanonicalNumberHolders.has(value)) {
        fail(path, "contains a number written with a fraction, an exponent or as -0");
      }
      if (Array.isArray(value)) {
        value.forEach((item: unknown, i) => check(item, strict, `${path}[${i}]`, depth + 1));
        return;
      }
      const record = value as Record<string, unknown>;
      for (const key of Object.keys(record)) {
        if (!key.isWellFormed()) fail(path, "key contains a lone UTF-16 surrogate");
        check(record[key], strict, path ? `${path}.${key}` : key, depth + 1);
      }
      return;
    }
    default:
      fail(path, `${typeof value} is not a JSON value`);
  }
}

/**
 * Throws ProtocolError("bad_json") unless canonical JSON can encode `value`.
 * With `strict` (room versions with strictCanonicalJson, v6+) it also rejects
 * floats, -0 and integers outside ±(2^53 − 1), including numbers that were
 * only normalised by a lenient parseJson (`1.0`, `1e10`, `-0`).
 */
export function assertCanonicalJsonCompatible(value: unknown, strict: boolean): asserts value is JsonValue {
  check(value, strict, "", 0);
}

// ---------------------------------------------------------------- parsing

/** An integer written the canonical way: no fraction, no exponent, no leading zeros, not -0. */
const CANONICAL_INTEGER = /^(?:0|-?[1-9][0-9]*)$/;

function isNumberChar(c: number): boolean {
  // 0-9 . e E + -
  return (c >= 0x30 && c <= 0x39) || c === 0x2e || c === 0x65 || c === 0x45 || c === 0x2b || c === 0x2d;
}

/**
 * One pass over the text outside strings: the maximum nesting depth, and
 * whether any number token is not a canonical integer. Syntax errors are left
 * to JSON.parse.
 */
function scan(text: string): { depth: number; nonCanonicalNumber: boolean } {
  let depth = 0;
  let maxDepth = 0;
  let nonCanonicalNumber = false;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c === 0x22 /* " */) {
      for (i++; i < text.length; i++) {
        const s = text.charCodeAt(i);
        if (s === 0x5c /* \ */) i++;
        else if (s === 0x22) break;
      }
    } else if (c === 0x7b /* { */ || c === 0x5b /* [ */) {
      depth++;
      if (depth > maxDepth) maxDepth = depth;
    } else if (c === 0x7d /* } */ || c === 0x5d /* ] */) {
      depth--;
    } else if (c === 0x2d /* - */ || (c >= 0x30 && c <= 0x39)) {
      let end = i + 1;
      while (end < text.length && isNumberChar(text.charCodeAt(end))) end++;
      if (!CANONICAL_INTEGER.test(text.slice(i, end))) nonCanonicalNumber = true;
      i = end - 1;
    }
  }
  return { depth: maxDepth, nonCanonicalNumber };
}

interface ReviverContext {
  source?: string;
}

/**
 * Parses untrusted JSON text.
 *
 * - strict (v6+ rooms): any number that is not a canonical integer within
 *   ±(2^53 − 1) is rejected.
 * - lenient (default): such numbers are accepted as JavaScript reads them,
 *   except that -0 becomes 0, and the containers holding them are remembered
 *   so that a later assertCanonicalJsonCompatible(value, true) still rejects.
 *
 * Integers beyond 2^53 lose precision here (as in every JSON.parse); legacy
 * events relying on them cannot be re-encoded byte for byte.
 */
export function parseJson(text: string, options: { strict?: boolean } = {}): JsonValue {
  const strict = options.strict ?? false;
  const { depth, nonCanonicalNumber } = scan(text);
  if (depth > MAX_JSON_NESTING) throw new ProtocolError("bad_json", "JSON nested too deeply");
  if (strict && nonCanonicalNumber) {
    throw new ProtocolError("bad_json", "numbers must be integers without fraction or exponent (and not -0)");
  }
  let value: JsonValue;
  try {
    if (!nonCanonicalNumber) {
      value = JSON.parse(text) as JsonValue;
    } else {
      // The reviver (called children first) sees each number's source text and
      // marks every container on the path to a non-canonical one.
      value = JSON.parse(text, function (this: object, _key: string, v: unknown, context?: ReviverContext) {
        if (typeof v === "number") {
          const source = context?.source;
          if (source !== undefined && !CANONICAL_INTEGER.test(source)) {
            nonCanonicalNumberHolders.add(this);
            return v === 0 ? 0 : v;
          }
        } else if (typeof v === "object" && v !== null && nonCanonicalNumberHolders.has(v)) {
          nonCanonicalNumberHolders.add(this);
        }
        return v;
      } as (key: string, value: unknown) => unknown) as JsonValue;
    }
  } catch (err) {
    throw new ProtocolError("bad_json", `invalid JSON: ${(err as Error).message}`, { cause: err });
  }
  if (strict) assertCanonicalJsonCompatible(value, true);
  return value;
}
