import { expect } from "chai";
import fc from "fast-check";
import { Buffer } from "node:buffer";
import { decodeBase64, encodeUnpaddedBase64, encodeUnpaddedBase64Url } from "../../../server/protocol/base64.ts";
import { ProtocolError } from "../../../server/protocol/errors.ts";
import { loadTestVectors } from "../../support/spec-data.ts";
import type { TestVector } from "../../support/spec-data.ts";

function vector(id: string): TestVector {
  const found = loadTestVectors().vectors.find((v) => v.id === id);
  if (found === undefined) throw new Error(`test vector ${id} is missing`);
  return found;
}

function expectBase64Error(text: string): void {
  expect(() => decodeBase64(text), JSON.stringify(text))
    .to.throw(ProtocolError)
    .with.property("code", "bad_base64");
}

describe("protocol/base64", () => {
  describe("vector unpadded-base64", () => {
    const cases = vector("unpadded-base64").cases as { input_utf8: string; expected: string }[];

    it("has cases", () => {
      expect(cases).to.be.an("array").with.length.greaterThan(0);
    });

    it("encodes each input exactly", () => {
      for (const c of cases) {
        expect(encodeUnpaddedBase64(Buffer.from(c.input_utf8, "utf8")), c.input_utf8).to.equal(c.expected);
      }
    });

    it("decodes each expected text back, with or without padding", () => {
      for (const c of cases) {
        expect(decodeBase64(c.expected).toString("utf8")).to.equal(c.input_utf8);
        const padded = c.expected + "=".repeat((4 - (c.expected.length % 4)) % 4);
        expect(decodeBase64(padded).toString("utf8")).to.equal(c.input_utf8);
      }
    });
  });

  describe("URL-safe alphabet", () => {
    it("uses - and _ where standard uses + and /", () => {
      const bytes = Uint8Array.from([0xfb, 0xff, 0xbf]);
      expect(encodeUnpaddedBase64(bytes)).to.equal("+/+/");
      expect(encodeUnpaddedBase64Url(bytes)).to.equal("-_-_");
      expect(encodeUnpaddedBase64Url(Uint8Array.from([0xfb]))).to.equal("-w");
    });

    it("decodes URL-safe text", () => {
      expect([...decodeBase64("-_-_")]).to.deep.equal([0xfb, 0xff, 0xbf]);
      expect([...decodeBase64("-w")]).to.deep.equal([0xfb]);
      expect([...decodeBase64("-w==")]).to.deep.equal([0xfb]);
    });

    it("encodes a subarray view without its neighbours", () => {
      const backing = Uint8Array.from([1, 2, 3, 4, 5]);
      expect(encodeUnpaddedBase64(backing.subarray(1, 3))).to.equal("AgM");
    });
  });

  describe("rejects invalid text", () => {
    it("rejects characters outside both alphabets", () => {
      for (const text of ["Zm9v!", "Zm9v YQ", "Zm9v\nYQ", "Zm9vé", "Zm.v"]) expectBase64Error(text);
    });

    it("rejects a mix of the two alphabets", () => {
      expectBase64Error("+_AA");
    });

    it("rejects impossible lengths", () => {
      expectBase64Error("Z");
      expectBase64Error("Zm9vY");
    });

    it("rejects misplaced or wrong padding", () => {
      for (const text of ["Zg=", "Zg===", "Z=g=", "Zm9v=", "=", "Zm8==", "Zg==Zg"]) expectBase64Error(text);
    });

    it("tolerates non-zero spare bits in the last character (the spec's own signing key seed has them)", () => {
      expect(decodeBase64("Zh").toString("utf8")).to.equal("f");
      expect(decodeBase64("Zm9=").toString("utf8")).to.equal("fo");
    });

    it("accepts the empty string", () => {
      expect(decodeBase64("").length).to.equal(0);
    });
  });

  describe("properties", () => {
    it("round-trips any bytes through both alphabets, padded or not", () => {
      fc.assert(
        fc.property(fc.uint8Array({ maxLength: 100 }), (bytes) => {
          const standard = encodeUnpaddedBase64(bytes);
          const url = encodeUnpaddedBase64Url(bytes);
          expect(standard).to.not.include("=");
          expect(url).to.match(/^[A-Za-z0-9_-]*$/);
          expect(url).to.equal(standard.replace(/\+/g, "-").replace(/\//g, "_"));
          expect(decodeBase64(standard).equals(Buffer.from(bytes))).to.equal(true);
          expect(decodeBase64(url).equals(Buffer.from(bytes))).to.equal(true);
          expect(decodeBase64(Buffer.from(bytes).toString("base64")).equals(Buffer.from(bytes))).to.equal(true);
        }),
      );
    });
  });
});
