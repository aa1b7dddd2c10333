import { expect } from "chai";
import fc from "fast-check";
import {
  MAX_JSON_NESTING,
  assertCanonicalJsonCompatible,
  canonicalJson,
  canonicalJsonBytes,
  compareCodePoints,
  parseJson,
} from "../../../server/protocol/canonical-json.ts";
import { ProtocolError } from "../../../server/protocol/errors.ts";
import type { JsonObject, JsonValue } from "../../../server/protocol/json.ts";
import { loadTestVectors } from "../../support/spec-data.ts";
import type { TestVector } from "../../support/spec-data.ts";

function vector(id: string): TestVector {
  const found = loadTestVectors().vectors.find((v) => v.id === id);
  if (found === undefined) throw new Error(`test vector ${id} is missing`);
  return found;
}

function expectBadJson(fn: () => unknown): void {
  expect(fn).to.throw(ProtocolError).with.property("code", "bad_json");
}

/** JSON with integers only (the values canonical JSON can carry), any Unicode text. */
const integerJson: fc.Arbitrary<JsonValue> = fc.letrec<{ value: JsonValue }>((tie) => ({
  value: fc.oneof(
    { depthSize: "small", withCrossShrink: true },
    fc.constant(null),
    fc.boolean(),
    fc.maxSafeInteger(),
    fc.string({ unit: "binary" }),
    fc.array(tie("value"), { maxLength: 5 }),
    fc.dictionary(fc.string({ unit: "binary" }), tie("value"), { maxKeys: 5 }),
  ),
})).value;

// Independent encoder for the properties: sorts keys by spelling out code points.
function referenceEncode(value: JsonValue): string {
  if (Array.isArray(value)) return `[${value.map(referenceEncode).join(",")}]`;
  if (value !== null && typeof value === "object") {
    const byCodePoint = (a: string, b: string): number => {
      const x = Array.from(a, (c) => c.codePointAt(0) as number);
      const y = Array.from(b, (c) => c.codePointAt(0) as number);
      for (let i = 0; i < Math.min(x.length, y.length); i++) if (x[i] !== y[i]) return (x[i] as number) - (y[i] as number);
      return x.length - y.length;
    };
    const keys = Object.keys(value).sort(byCodePoint);
    return `{${keys.map((k) => `${JSON.stringify(k)}:${referenceEncode(value[k] as JsonValue)}`).join(",")}}`;
  }
  return JSON.stringify(value);
}

describe("protocol/canonical-json", () => {
  describe("vectors canonical-json-01 … 10", () => {
    // Each input is raw JSON text, parsed here with the lenient parser. What the
    // vectors check beyond sorting and whitespace:
    // - 06/08: non-ASCII stays raw UTF-8; JSON.parse already decodes "\u65E5"
    //   to 日, so 08 checks that the encoder does not re-escape it.
    // - 07: keys sort by code point.
    // - 10: JSON.parse yields -0 and 10000000000 for "-0" and "1e10"; the text
    //   spelling is gone, so this checks that -0 is written as 0 and a large
    //   integer without an exponent. (Strict parsing rejects the input instead.)
    for (let n = 1; n <= 10; n++) {
      const id = `canonical-json-${String(n).padStart(2, "0")}`;
      it(id, () => {
        const v = vector(id);
        const text = (v.inputs as { json_text: string }).json_text;
        const expected = (v.expected as { canonical_json_text: string }).canonical_json_text;
        const value = parseJson(text);
        expect(canonicalJson(value)).to.equal(expected);
        expect(canonicalJsonBytes(value).equals(Buffer.from(expected, "utf8"))).to.equal(true);
        // Canonical output is a fixed point.
        expect(canonicalJson(parseJson(expected, { strict: true }))).to.equal(expected);
      });
    }

    it("canonical-json-10 input is rejected by the strict parser (room v6+)", () => {
      const text = (vector("canonical-json-10").inputs as { json_text: string }).json_text;
      expectBadJson(() => parseJson(text, { strict: true }));
    });
  });

  describe("encoding", () => {
    it("escapes only \", \\ and control characters, with short forms where they exist", () => {
      const s = "\u0000\u0001\b\t\n\u000b\f\r\u001f \"\\/\u007f\u2028\u00e9\u{1f600}";
      expect(canonicalJson(s)).to.equal('"\\u0000\\u0001\\b\\t\\n\\u000b\\f\\r\\u001f \\"\\\\/\u007f\u2028\u00e9\u{1f600}"');
    });

    it("sorts keys by code point, not UTF-16 code unit", () => {
      // U+FB01 < U+1F600 as code points, but the surrogate 0xD83D < 0xFB01 as code units.
      const obj: JsonObject = { "\u{1f600}": 2, "\ufb01": 1, z: 0 };
      expect(canonicalJson(obj)).to.equal('{"z":0,"\ufb01":1,"\u{1f600}":2}');
      expect(compareCodePoints("\ufb01", "\u{1f600}")).to.be.lessThan(0);
      expect(compareCodePoints("\u{1f600}", "\u{1f601}")).to.be.lessThan(0);
      expect(compareCodePoints("a", "ab")).to.be.lessThan(0);
      expect(compareCodePoints("b", "b")).to.equal(0);
    });

    it("keeps array order and null", () => {
      expect(canonicalJson([3, 1, null, [], {}])).to.equal("[3,1,null,[],{}]");
    });

    it("writes integers without exponent and -0 as 0", () => {
      expect(canonicalJson(-0)).to.equal("0");
      expect(canonicalJson(1e21)).to.equal("1000000000000000000000");
      expect(canonicalJson(-9007199254740991)).to.equal("-9007199254740991");
    });

    it("writes legacy floats the way Python's json module does", () => {
      expect(canonicalJson(0.5)).to.equal("0.5");
      expect(canonicalJson(-1.25)).to.equal("-1.25");
      expect(canonicalJson(0.0001)).to.equal("0.0001");
      expect(canonicalJson(0.00001)).to.equal("1e-05");
      expect(canonicalJson(1.5e-7)).to.equal("1.5e-07");
      expect(canonicalJson(1e-100)).to.equal("1e-100");
    });

    it("refuses what canonical JSON cannot represent", () => {
      expectBadJson(() => canonicalJson(Number.NaN));
      expectBadJson(() => canonicalJson(Number.POSITIVE_INFINITY));
      expectBadJson(() => canonicalJson("\ud800"));
      expectBadJson(() => canonicalJson({ ["\udc00"]: 1 }));
      expectBadJson(() => canonicalJson({ a: undefined } as unknown as JsonValue));
    });

    it("keeps an own __proto__ key as an ordinary member", () => {
      const value = parseJson('{"b":1,"__proto__":{"x":1}}');
      expect(canonicalJson(value)).to.equal('{"__proto__":{"x":1},"b":1}');
    });

    it(`refuses nesting deeper than ${MAX_JSON_NESTING}`, () => {
      const nest = (n: number): JsonValue => {
        let v: JsonValue = 0;
        for (let i = 0; i < n; i++) v = [v];
        return v;
      };
      expect(canonicalJson(nest(MAX_JSON_NESTING))).to.have.length(2 * MAX_JSON_NESTING + 1);
      expectBadJson(() => canonicalJson(nest(MAX_JSON_NESTING + 1)));
    });
  });

  describe("parsing", () => {
    it("rejects invalid JSON text", () => {
      for (const text of ["", "{", "{'a':1}", "[1,]", "NaN", "{\"a\":1}x"]) expectBadJson(() => parseJson(text));
    });

    it("strict mode rejects non-canonical numbers and the unsafe range", () => {
      for (const text of ["1.0", "[1.5]", '{"a":1e3}', '{"a":1E3}', "-0", "[-0.0]", "9007199254740992", "-9007199254740992"]) {
        expectBadJson(() => parseJson(text, { strict: true }));
      }
      expect(parseJson("[9007199254740991,-9007199254740991,0,-1]", { strict: true })).to.deep.equal([
        9007199254740991, -9007199254740991, 0, -1,
      ]);
    });

    it("strict mode is not confused by number-like text inside strings", () => {
      expect(parseJson('{"a":"1.5e-0","b":true,"c":false}', { strict: true })).to.deep.equal({ a: "1.5e-0", b: true, c: false });
    });

    it("lenient mode accepts them but a later strict check still rejects them", () => {
      const value = parseJson('{"ok":{"n":1},"bad":{"list":[1.0]}}') as JsonObject;
      expect(value).to.deep.equal({ ok: { n: 1 }, bad: { list: [1] } });
      assertCanonicalJsonCompatible(value, false);
      expectBadJson(() => assertCanonicalJsonCompatible(value, true));
      expectBadJson(() => assertCanonicalJsonCompatible(value.bad, true));
      assertCanonicalJsonCompatible(value.ok, true);
    });

    it("lenient mode turns -0 into 0", () => {
      const value = parseJson('{"a":-0}') as JsonObject;
      expect(Object.is(value.a, 0)).to.equal(true);
      expectBadJson(() => assertCanonicalJsonCompatible(value, true));
    });

    it(`refuses text nested deeper than ${MAX_JSON_NESTING}`, () => {
      const deep = (n: number): string => "[".repeat(n) + "]".repeat(n);
      expect(() => parseJson(deep(MAX_JSON_NESTING))).to.not.throw();
      expectBadJson(() => parseJson(deep(MAX_JSON_NESTING + 1)));
      expectBadJson(() => parseJson(deep(50_000)));
    });
  });

  describe("assertCanonicalJsonCompatible", () => {
    it("strict rejects floats, -0 and integers beyond ±(2^53 − 1)", () => {
      for (const bad of [1.5, -0, 2 ** 53, -(2 ** 53), { a: [0.1] }]) {
        expectBadJson(() => assertCanonicalJsonCompatible(bad, true));
      }
      assertCanonicalJsonCompatible({ a: [Number.MAX_SAFE_INTEGER, Number.MIN_SAFE_INTEGER] }, true);
    });

    it("lenient accepts floats and large integers (rooms v1–v5)", () => {
      assertCanonicalJsonCompatible({ a: 1.5, b: 2 ** 60, c: -0 }, false);
    });

    it("both modes reject non-JSON values and lone surrogates", () => {
      for (const strict of [false, true]) {
        for (const bad of [Number.NaN, Number.NEGATIVE_INFINITY, undefined, () => 1, 1n, { a: "\ud83d" }, ["\ude00"]]) {
          expectBadJson(() => assertCanonicalJsonCompatible(bad, strict));
        }
      }
    });

    it("names the offending path", () => {
      expect(() => assertCanonicalJsonCompatible({ content: { list: [1, 2.5] } }, true)).to.throw(/content\.list\[1\]/);
    });
  });

  describe("properties", () => {
    it("parse(canonical(x)) deep-equals x for integer-only JSON", () => {
      fc.assert(
        fc.property(integerJson, (value) => {
          expect(parseJson(canonicalJson(value), { strict: true })).to.deep.equal(value);
        }),
      );
    });

    it("is idempotent and matches an independent code-point-sorting encoder", () => {
      fc.assert(
        fc.property(integerJson, (value) => {
          const once = canonicalJson(value);
          expect(canonicalJson(parseJson(once))).to.equal(once);
          expect(once).to.equal(referenceEncode(value));
        }),
      );
    });

    it("does not depend on key insertion order", () => {
      fc.assert(
        fc.property(fc.dictionary(fc.string({ unit: "binary" }), fc.maxSafeInteger(), { maxKeys: 8 }), (obj) => {
          const reversed = Object.fromEntries(Object.entries(obj).reverse());
          expect(canonicalJson(reversed)).to.equal(canonicalJson(obj));
        }),
      );
    });
  });
});
