// The JSON text check against V8's JSON.parse: on grammar they must agree
// exactly (differential test over generated and mutated texts); on top of it
// come the nesting bound, duplicate keys, U+0000 and lone surrogates.
import { expect } from "chai";
import { MatrixError } from "../../../server/errors/matrix-error.ts";
import { checkJsonText, parseJsonText } from "../../../server/http/json-text.ts";

const rules = { maxDepth: 1000 };

/** A small deterministic PRNG so a failure can be replayed. */
function prng(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function randomValue(next: () => number, depth: number): unknown {
  const pick = Math.floor(next() * (depth > 4 ? 5 : 7));
  switch (pick) {
    case 0:
      return null;
    case 1:
      return next() < 0.5;
    case 2:
      return [0, -1, 1.5, -2.5e-7, 1e300, 123456789012345][Math.floor(next() * 6)];
    case 3:
    case 4:
      return ["", "a", "é✓𝄞", '"\\/', "\n\t\u0001\u001f", "\u2028"][Math.floor(next() * 6)];
    case 5:
      return Array.from({ length: Math.floor(next() * 4) }, () => randomValue(next, depth + 1));
    default:
      return Object.fromEntries(Array.from({ length: Math.floor(next() * 4) }, (_, i) => [`k${i}${next() < 0.3 ? "é" : ""}`, randomValue(next, depth + 1)]));
  }
}

function outcome(text: string): "ok" | "M_NOT_JSON" | "M_BAD_JSON" {
  try {
    checkJsonText(text, rules);
    return "ok";
  } catch (err) {
    expect(err).to.be.instanceOf(MatrixError);
    return (err as MatrixError).errcode as "M_NOT_JSON" | "M_BAD_JSON";
  }
}

function parses(text: string): boolean {
  try {
    JSON.parse(text);
    return true;
  } catch {
    return false;
  }
}

describe("checkJsonText", () => {
  it("accepts exactly what JSON.parse accepts, over generated and mutated texts", () => {
    const next = prng(11001);
    const alphabet = ['"', "\\", "{", "}", "[", "]", ",", ":", " ", "0", "1", "-", "+", ".", "e", "u", "n", "t", "x", "\u0000", "\t"];
    for (let round = 0; round < 3000; round++) {
      const text = JSON.stringify(randomValue(next, 0), null, next() < 0.3 ? 1 : undefined);
      expect(outcome(text), text).to.equal("ok");
      expect(parseJsonText(text, rules)).to.deep.equal(JSON.parse(text));
      const at = Math.floor(next() * text.length);
      const mutated = next() < 0.5 ? text.slice(0, at) + alphabet[Math.floor(next() * alphabet.length)] + text.slice(at + 1) : text.slice(0, at);
      const result = outcome(mutated);
      // A mutation can only break a policy rule by creating a duplicate key or a \u escape.
      if (result === "M_BAD_JSON") continue;
      expect(result === "ok", `${JSON.stringify(mutated)} (JSON.parse ${parses(mutated) ? "accepts" : "refuses"})`).to.equal(parses(mutated));
    }
  });

  it("agrees with JSON.parse on the grammar's corners", () => {
    const corners = ["0", "-0", "01", "-", "-01", "1.", ".1", "1e", "1e+", "1E+5", "-1.5e-5", "+1", "0x1", "Infinity", "NaN",
      "[1,]", "[,1]", "{,}", '{"a"}', '{"a":}', '{"a":1,}', '{"a" 1}', "{1:2}", "tru", "true", "nulll", "null", "fals",
      '"\\u12"', '"\\u12345"', '"\\a"', '"\\/"', '"\\\\"', "[", "]", "{}}", "[]]", '"a', '"\t"', "", " ", " [ ] ", "{ }", "1 2", "[1]x", "\u00a0[]"];
    for (const text of corners) {
      const result = outcome(text);
      expect(result === "ok", `${JSON.stringify(text)}: ${result}`).to.equal(parses(text));
      if (result !== "ok") expect(result, JSON.stringify(text)).to.equal("M_NOT_JSON");
    }
  });

  it("bounds nesting iteratively (a million levels do not overflow the stack)", () => {
    expect(outcome("[".repeat(1000) + "]".repeat(1000))).to.equal("ok");
    expect(outcome("[".repeat(1001) + "]".repeat(1001))).to.equal("M_BAD_JSON");
    expect(outcome("[".repeat(1_000_000))).to.equal("M_BAD_JSON");
    expect(() => checkJsonText("[".repeat(5000) + "]".repeat(5000), { maxDepth: 10_000 })).not.to.throw();
  });

  it("refuses duplicate keys per object, comparing decoded keys", () => {
    expect(outcome('{"a":1,"a":1}')).to.equal("M_BAD_JSON");
    expect(outcome('{"é":1,"\\u00e9":2}')).to.equal("M_BAD_JSON");
    expect(outcome('{"a":{"a":{"a":1}},"b":{"a":2}}')).to.equal("ok");
    expect(outcome('[{"a":1},{"a":1}]')).to.equal("ok");
  });

  it("refuses U+0000 unless allowed, and lone surrogates always", () => {
    expect(outcome('"\\u0000"')).to.equal("M_BAD_JSON");
    expect(() => checkJsonText('"\\u0000"', { maxDepth: 10, allowNul: true })).not.to.throw();
    expect(outcome('"\\u0001"')).to.equal("ok");
    expect(outcome('"\\uD834\\uDD1E"')).to.equal("ok");
    for (const lone of ['"\\uD834"', '"\\uDD1E"', '"\\uD834\\u0041"', '"\\uD834x"', `"${"\uD834"}"`, `"${"\uDD1E"}"`]) {
      expect(outcome(lone), lone).to.equal("M_BAD_JSON");
    }
  });
});
