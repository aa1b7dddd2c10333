// The X-Matrix Authorization header grammar (server-server API, "Request Authentication").
import { expect } from "chai";
import { ProtocolError } from "../../../server/protocol/errors.ts";
import { formatXMatrix, parseXMatrix, signedRequestObject } from "../../../server/protocol/x-matrix.ts";
import { generateSigningKey, signJson, verifyJsonSignature, getSignature } from "../../../server/protocol/signing.ts";

const SIG = "ABCDEF+/abcdef0123456789";

describe("X-Matrix header", () => {
  it("parses the spec's example", () => {
    const header = `X-Matrix origin="origin.hs.example.com",destination="destination.hs.example.com",key="ed25519:key1",sig="${SIG}"`;
    expect(parseXMatrix(header)).to.deep.equal({ origin: "origin.hs.example.com", destination: "destination.hs.example.com", key: "ed25519:key1", sig: SIG });
  });

  it("accepts any scheme case, several spaces, spaces and tabs around commas, upper-case names and any order", () => {
    const header = `x-matrix   KEY="ed25519:k" ,\tSig="${SIG}" , Origin="a.example"`;
    expect(parseXMatrix(header)).to.deep.equal({ origin: "a.example", key: "ed25519:k", sig: SIG });
  });

  it("accepts unquoted values, including colons (older senders) and Base64 slashes", () => {
    const auth = parseXMatrix(`X-Matrix origin=a.example:8448,key=ed25519:k,sig=${SIG},destination=b.example`);
    expect(auth).to.deep.equal({ origin: "a.example:8448", destination: "b.example", key: "ed25519:k", sig: SIG });
  });

  it("unescapes backslash pairs in quoted values", () => {
    const auth = parseXMatrix(String.raw`X-Matrix origin="a\.ex\"ample\\",key="ed25519:k",sig="s"`);
    expect(auth.origin).to.equal('a.ex"ample\\');
  });

  it("ignores unknown parameters", () => {
    expect(parseXMatrix(`X-Matrix origin="a",key="ed25519:k",sig="s",future="x"`).origin).to.equal("a");
  });

  for (const [name, header] of [
    ["another scheme", `Bearer abc`],
    ["no parameters", `X-Matrix`],
    ["a missing origin", `X-Matrix key="ed25519:k",sig="s"`],
    ["a missing key", `X-Matrix origin="a",sig="s"`],
    ["a missing sig", `X-Matrix origin="a",key="ed25519:k"`],
    ["an unterminated quote", `X-Matrix origin="a,key="ed25519:k",sig="s`],
    ["a duplicated parameter", `X-Matrix origin="a",origin="b",key="ed25519:k",sig="s"`],
    ["a parameter without =", `X-Matrix origin,key="ed25519:k",sig="s"`],
    ["garbage between parameters", `X-Matrix origin="a" key="ed25519:k",sig="s"`],
    ["an empty value", `X-Matrix origin="",key="ed25519:k",sig="s"`],
  ] as const) {
    it(`refuses ${name}`, () => {
      expect(() => parseXMatrix(header)).to.throw(ProtocolError);
    });
  }

  it("formats as the spec asks senders to (one space, lower-case names, quoted, no spaces around commas) and parses back", () => {
    const auth = { origin: "a.example:8448", destination: "b.example", key: "ed25519:k", sig: SIG };
    const text = formatXMatrix(auth);
    expect(text).to.equal(`X-Matrix origin="a.example:8448",destination="b.example",key="ed25519:k",sig="${SIG}"`);
    expect(parseXMatrix(text)).to.deep.equal(auth);
    expect(parseXMatrix(formatXMatrix({ origin: 'q"\\', key: "ed25519:k", sig: "s" })).origin).to.equal('q"\\');
  });

  it("builds the signed request object, with content only when there is a body, and the signature verifies", () => {
    const key = generateSigningKey();
    const withoutBody = signedRequestObject({ method: "get", uri: "/_matrix/x?a=1", origin: "a", destination: "b" });
    expect(withoutBody).to.deep.equal({ method: "GET", uri: "/_matrix/x?a=1", origin: "a", destination: "b" });
    const object = signedRequestObject({ method: "PUT", uri: "/p", origin: "a", destination: "b", content: { x: [1] } });
    expect(object.content).to.deep.equal({ x: [1] });
    const signed = signJson(object, "a", key);
    const sig = getSignature(signed, "a", key.keyId)!;
    const received = { ...signedRequestObject({ method: "PUT", uri: "/p", origin: "a", destination: "b", content: { x: [1] } }), signatures: { a: { [key.keyId]: sig } } };
    expect(verifyJsonSignature(received, "a", key.keyId, key.publicKey)).to.equal(true);
    const tampered = { ...received, uri: "/q" };
    expect(verifyJsonSignature(tampered, "a", key.keyId, key.publicKey)).to.equal(false);
  });
});
