// The X-Matrix Authorization header and the JSON object its signature covers
// (server-server API, "Request Authentication"):
//
//   Authorization: X-Matrix origin="a.example",destination="b.example",key="ed25519:k",sig="…"
//
// RFC 9110 §11.4 auth-params: the scheme, one or more spaces, then name=value
// pairs separated by commas with optional spaces and tabs around them; names
// are case-insensitive; values are tokens or quoted strings with backslash
// escapes. For older senders a value may hold colons (and, as Base64
// signatures do, slashes) without quotes.
import { ProtocolError } from "./errors.ts";
import type { JsonObject, JsonValue } from "./json.ts";

export interface XMatrixAuth {
  origin: string;
  /** Absent from old senders; when present it must be the receiving server. */
  destination?: string;
  /** e.g. "ed25519:a_AbCd" */
  key: string;
  /** Unpadded Base64 ed25519 signature. */
  sig: string;
}

const SCHEME = "x-matrix";

function bad(message: string): ProtocolError {
  return new ProtocolError("bad_format", `X-Matrix header: ${message}`);
}

/** Parses one Authorization header value; throws ProtocolError("bad_format") when it is not X-Matrix or malformed. */
export function parseXMatrix(header: string): XMatrixAuth {
  const space = header.search(/[ \t]/);
  if (space === -1 || header.slice(0, space).toLowerCase() !== SCHEME) throw bad("the scheme is not X-Matrix");
  const params = new Map<string, string>();
  const text = header.slice(space);
  let i = 0;
  const skipSpace = () => {
    while (i < text.length && (text[i] === " " || text[i] === "\t")) i += 1;
  };
  skipSpace();
  while (i < text.length) {
    const nameMatch = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+/.exec(text.slice(i));
    if (!nameMatch) throw bad(`expected a parameter name at offset ${i}`);
    const name = nameMatch[0].toLowerCase();
    i += nameMatch[0].length;
    skipSpace();
    if (text[i] !== "=") throw bad(`expected "=" after ${name}`);
    i += 1;
    skipSpace();
    let value = "";
    if (text[i] === '"') {
      i += 1;
      let closed = false;
      while (i < text.length) {
        const c = text[i]!;
        if (c === "\\") {
          if (i + 1 >= text.length) break;
          value += text[i + 1];
          i += 2;
        } else if (c === '"') {
          closed = true;
          i += 1;
          break;
        } else {
          value += c;
          i += 1;
        }
      }
      if (!closed) throw bad(`unterminated quoted value for ${name}`);
    } else {
      const token = /^[^\s,"]+/.exec(text.slice(i));
      if (!token) throw bad(`missing value for ${name}`);
      value = token[0];
      i += token[0].length;
    }
    if (params.has(name)) throw bad(`${name} is given twice`);
    params.set(name, value);
    skipSpace();
    if (i < text.length) {
      if (text[i] !== ",") throw bad(`expected "," after ${name}`);
      i += 1;
      skipSpace();
    }
  }
  const origin = params.get("origin");
  const key = params.get("key");
  const sig = params.get("sig");
  if (!origin) throw bad("origin is missing");
  if (!key) throw bad("key is missing");
  if (!sig) throw bad("sig is missing");
  const destination = params.get("destination");
  return destination === undefined ? { origin, key, sig } : { origin, destination, key, sig };
}

function quote(value: string): string {
  return `"${value.replace(/[\\"]/g, (c) => `\\${c}`)}"`;
}

/** The header value as the spec asks senders to write it: one space, lower-case names, quoted values, no spaces around commas. */
export function formatXMatrix(auth: XMatrixAuth): string {
  const parts = [`origin=${quote(auth.origin)}`];
  if (auth.destination !== undefined) parts.push(`destination=${quote(auth.destination)}`);
  parts.push(`key=${quote(auth.key)}`, `sig=${quote(auth.sig)}`);
  return `X-Matrix ${parts.join(",")}`;
}

export interface SignedRequestParts {
  method: string;
  /** The path and query string exactly as sent, e.g. /_matrix/federation/v1/query/profile?user_id=%40a%3Ab */
  uri: string;
  origin: string;
  destination: string;
  /** The parsed JSON body; undefined when the request has none. */
  content?: JsonValue;
}

/** The object whose canonical JSON the X-Matrix signature covers. */
export function signedRequestObject(parts: SignedRequestParts): JsonObject {
  const object: JsonObject = { method: parts.method.toUpperCase(), uri: parts.uri, origin: parts.origin, destination: parts.destination };
  if (parts.content !== undefined) object.content = parts.content;
  return object;
}
