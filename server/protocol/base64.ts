// Unpadded Base64 (appendices: "Unpadded Base64" and "URL-safe unpadded Base64").
// Matrix always emits unpadded text but decoders SHOULD accept padding, so
// decoding takes either alphabet, with or without "=".
import { Buffer } from "node:buffer";
import { ProtocolError } from "./errors.ts";

function toBuffer(bytes: Uint8Array): Buffer {
  return Buffer.isBuffer(bytes) ? bytes : Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}

/** Standard alphabet (`+`, `/`), no padding. */
export function encodeUnpaddedBase64(bytes: Uint8Array): string {
  const text = toBuffer(bytes).toString("base64");
  const pad = text.indexOf("=");
  return pad === -1 ? text : text.slice(0, pad);
}

/** URL-safe alphabet (`-`, `_`), no padding. */
export function encodeUnpaddedBase64Url(bytes: Uint8Array): string {
  // Node's base64url output is already unpadded.
  return toBuffer(bytes).toString("base64url");
}

const STANDARD = /^[A-Za-z0-9+/]*$/;
const URL_SAFE = /^[A-Za-z0-9\-_]*$/;

/**
 * Decodes standard or URL-safe Base64, padded or not. Node's decoder silently
 * skips characters it does not know, so the text is validated first: one
 * alphabet only (mixing `+` with `_` is no known encoding), a length that a
 * Base64 encoding can have, and padding only where it completes the last quad.
 * Non-zero unused bits in the last character are tolerated, as most decoders
 * do; the spec's own test signing key seed ("…XA1") depends on that.
 */
export function decodeBase64(text: string): Buffer {
  let body = text;
  const firstPad = text.indexOf("=");
  if (firstPad !== -1) {
    body = text.slice(0, firstPad);
    const padding = text.slice(firstPad);
    if (!/^={1,2}$/.test(padding) || text.length % 4 !== 0) {
      throw new ProtocolError("bad_base64", "invalid Base64 padding");
    }
  }
  if (!STANDARD.test(body) && !URL_SAFE.test(body)) {
    throw new ProtocolError("bad_base64", "invalid character in Base64 text");
  }
  if (body.length % 4 === 1) {
    throw new ProtocolError("bad_base64", "Base64 text has an impossible length");
  }
  return Buffer.from(body, URL_SAFE.test(body) ? "base64url" : "base64");
}
