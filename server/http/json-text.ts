// Checked parsing of JSON text that a client or remote server sent us.
//
// JSON.parse alone accepts things we cannot keep: nesting deep enough to
// overflow every recursive walker after it (filters, canonical JSON, pg's
// serialiser), duplicate keys (canonical JSON has no way to write them, and
// which one wins differs between parsers), U+0000 (PostgreSQL text and jsonb
// refuse it) and lone surrogates (not Unicode, so not UTF-8 either). One
// iterative pass over the text checks the grammar (RFC 8259) and these rules
// without recursion; JSON.parse then only runs on text known to be acceptable.
import { badJson, notJson } from "../errors/matrix-error.ts";

export interface JsonTextRules {
  /** Most containers ({ or [) open at once; deeper text is refused with M_BAD_JSON. */
  maxDepth: number;
  /** Accept U+0000 in strings (remote PDUs may carry it; client bodies may not). */
  allowNul?: boolean;
}

/** What the scanner expects next. */
const Expect = { Value: 0, ValueOrArrayEnd: 1, KeyOrObjectEnd: 2, Key: 3, Colon: 4, CommaOrEnd: 5 } as const;
type Expectation = (typeof Expect)[keyof typeof Expect];

const QUOTE = 0x22;
const BACKSLASH = 0x5c;

function isWhitespace(c: number): boolean {
  return c === 0x20 || c === 0x09 || c === 0x0a || c === 0x0d;
}

function isDigit(c: number): boolean {
  return c >= 0x30 && c <= 0x39;
}

function hexValue(text: string, at: number): number {
  if (at + 4 > text.length) return -1;
  const digits = text.slice(at, at + 4);
  return /^[0-9a-fA-F]{4}$/.test(digits) ? parseInt(digits, 16) : -1;
}

const syntax = (at: number, what: string) => notJson(`Content not JSON: ${what} at offset ${at}`);

/** Parses `text` after checking it against `rules`; M_NOT_JSON for bad syntax, M_BAD_JSON for a broken rule. */
export function parseJsonText(text: string, rules: JsonTextRules): unknown {
  checkJsonText(text, rules);
  return JSON.parse(text);
}

/**
 * Throws unless `text` is one JSON value that obeys `rules`. Open objects keep
 * the set of their keys so far (decoded, so "a" and "\u0061" collide); open
 * arrays hold null.
 */
export function checkJsonText(text: string, rules: JsonTextRules): void {
  const open: Array<Set<string> | null> = [];
  let expect: Expectation = Expect.Value;
  let i = 0;

  /** Scans the string starting at the quote at `i`; returns the index after its closing quote. */
  const scanString = (start: number): { end: number; escaped: boolean } => {
    let escaped = false;
    let j = start + 1;
    for (;;) {
      if (j >= text.length) throw syntax(start, "unterminated string");
      const c = text.charCodeAt(j);
      if (c === QUOTE) return { end: j + 1, escaped };
      if (c < 0x20) throw syntax(j, "control character in string");
      if (c === BACKSLASH) {
        escaped = true;
        const e = text.charCodeAt(j + 1);
        if (e === 0x75 /* u */) {
          const unit = hexValue(text, j + 2);
          if (unit < 0) throw syntax(j, "bad \\u escape");
          if (unit === 0 && !rules.allowNul) throw badJson("JSON strings must not contain U+0000");
          if (unit >= 0xdc00 && unit <= 0xdfff) throw badJson("JSON strings must not contain lone surrogates");
          if (unit >= 0xd800 && unit <= 0xdbff) {
            const low = text.charCodeAt(j + 6) === BACKSLASH && text.charCodeAt(j + 7) === 0x75 ? hexValue(text, j + 8) : -1;
            if (low < 0xdc00 || low > 0xdfff) throw badJson("JSON strings must not contain lone surrogates");
            j += 12;
          } else {
            j += 6;
          }
        } else if (j + 1 < text.length && '"\\/bfnrt'.includes(text.charAt(j + 1))) {
          j += 2;
        } else {
          throw syntax(j, "bad escape");
        }
      } else if (c >= 0xd800 && c <= 0xdfff) {
        // Raw surrogates only come from strings that did not pass a UTF-8 decoder.
        const next = text.charCodeAt(j + 1);
        if (c > 0xdbff || !(next >= 0xdc00 && next <= 0xdfff)) throw badJson("JSON strings must not contain lone surrogates");
        j += 2;
      } else {
        j++;
      }
    }
  };

  const scanNumber = (start: number): number => {
    let j = start;
    if (text.charCodeAt(j) === 0x2d /* - */) j++;
    if (text.charCodeAt(j) === 0x30 /* 0 */) {
      j++;
    } else if (isDigit(text.charCodeAt(j))) {
      while (isDigit(text.charCodeAt(j))) j++;
    } else {
      throw syntax(start, "bad number");
    }
    if (text.charCodeAt(j) === 0x2e /* . */) {
      j++;
      if (!isDigit(text.charCodeAt(j))) throw syntax(start, "bad number");
      while (isDigit(text.charCodeAt(j))) j++;
    }
    const e = text.charCodeAt(j);
    if (e === 0x65 || e === 0x45 /* e E */) {
      j++;
      const sign = text.charCodeAt(j);
      if (sign === 0x2b || sign === 0x2d) j++;
      if (!isDigit(text.charCodeAt(j))) throw syntax(start, "bad number");
      while (isDigit(text.charCodeAt(j))) j++;
    }
    return j;
  };

  const openContainer = (keys: Set<string> | null) => {
    if (open.length >= rules.maxDepth) throw badJson(`JSON nested deeper than ${rules.maxDepth} levels`);
    open.push(keys);
  };

  for (;;) {
    while (i < text.length && isWhitespace(text.charCodeAt(i))) i++;
    if (i >= text.length) {
      if (expect === Expect.CommaOrEnd && open.length === 0) return;
      throw syntax(i, "unexpected end");
    }
    const c = text.charCodeAt(i);
    switch (expect) {
      case Expect.ValueOrArrayEnd:
      case Expect.Value:
        if (expect === Expect.ValueOrArrayEnd && c === 0x5d /* ] */) {
          open.pop();
          i++;
          expect = Expect.CommaOrEnd;
        } else if (c === 0x7b /* { */) {
          openContainer(new Set());
          i++;
          expect = Expect.KeyOrObjectEnd;
        } else if (c === 0x5b /* [ */) {
          openContainer(null);
          i++;
          expect = Expect.ValueOrArrayEnd;
        } else if (c === QUOTE) {
          i = scanString(i).end;
          expect = Expect.CommaOrEnd;
        } else if (c === 0x2d || isDigit(c)) {
          i = scanNumber(i);
          expect = Expect.CommaOrEnd;
        } else {
          const literal = ["true", "false", "null"].find((word) => text.startsWith(word, i));
          if (!literal) throw syntax(i, "unexpected character");
          i += literal.length;
          expect = Expect.CommaOrEnd;
        }
        break;
      case Expect.KeyOrObjectEnd:
      case Expect.Key: {
        if (expect === Expect.KeyOrObjectEnd && c === 0x7d /* } */) {
          open.pop();
          i++;
          expect = Expect.CommaOrEnd;
          break;
        }
        if (c !== QUOTE) throw syntax(i, "expected a key");
        const { end, escaped } = scanString(i);
        const key = escaped ? (JSON.parse(text.slice(i, end)) as string) : text.slice(i + 1, end - 1);
        const keys = open[open.length - 1]!;
        if (keys.has(key)) throw badJson(`Duplicate key ${JSON.stringify(key)} in a JSON object`);
        keys.add(key);
        i = end;
        expect = Expect.Colon;
        break;
      }
      case Expect.Colon:
        if (c !== 0x3a /* : */) throw syntax(i, "expected ':'");
        i++;
        expect = Expect.Value;
        break;
      case Expect.CommaOrEnd: {
        if (open.length === 0) throw syntax(i, "data after the JSON value");
        const inArray = open[open.length - 1] === null;
        if (c === 0x2c /* , */) {
          i++;
          expect = inArray ? Expect.Value : Expect.Key;
        } else if (c === (inArray ? 0x5d : 0x7d)) {
          open.pop();
          i++;
        } else {
          throw syntax(i, inArray ? "expected ',' or ']'" : "expected ',' or '}'");
        }
        break;
      }
    }
  }
}
