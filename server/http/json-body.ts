// Reads a JSON request body under a byte limit: the declared Content-Length is
// checked before anything is read, a chunked body is counted as it arrives and
// reading stops at the limit, the bytes must be UTF-8, and the text must pass
// the checks of json-text.ts. Used by the client listener and (with its own,
// larger limit) the federation listener.
import type { IncomingMessage } from "node:http";
import type { RequestHandler } from "express";
import { badJson, notJson, tooLarge } from "../errors/matrix-error.ts";
import { MAX_JSON_NESTING } from "../protocol/canonical-json.ts";
import { parseJsonText } from "./json-text.ts";

export interface JsonBodyLimits {
  /** Largest body accepted, in bytes; more is answered 413 M_TOO_LARGE. */
  maxBytes: number;
  /** Deepest nesting accepted (default MAX_JSON_NESTING, the bound event content has too). */
  maxDepth?: number;
  /** Accept U+0000 in strings (see JsonTextRules.allowNul). */
  allowNul?: boolean;
}

const tooLargeError = (maxBytes: number) => tooLarge(`Request body exceeds ${maxBytes} bytes`);

/** Collects the body, rejecting (and pausing the request) as soon as it passes `maxBytes`. */
function readBytes(req: IncomingMessage, maxBytes: number): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let total = 0;
    const finish = (outcome: () => void) => {
      req.off("data", onData);
      req.off("end", onEnd);
      req.off("error", onAbort);
      req.off("close", onAbort);
      outcome();
    };
    const onData = (chunk: Buffer) => {
      total += chunk.length;
      if (total > maxBytes) {
        // The rest is never read: the error handler answers and closes the connection.
        req.pause();
        finish(() => reject(tooLargeError(maxBytes)));
        return;
      }
      chunks.push(chunk);
    };
    const onEnd = () => finish(() => resolve(Buffer.concat(chunks, total)));
    const onAbort = () => finish(() => reject(badJson("Request body incomplete")));
    req.on("data", onData);
    req.on("end", onEnd);
    req.on("error", onAbort);
    req.on("close", onAbort);
  });
}

/**
 * The parsed body, or undefined when the request has none (no Content-Length
 * and not chunked, Content-Length 0, or a chunked body of no bytes). Any
 * content type is accepted: many clients omit or mislabel it.
 */
export async function readJsonBody(req: IncomingMessage, limits: JsonBodyLimits): Promise<unknown> {
  const encoding = req.headers["content-encoding"]?.trim().toLowerCase();
  if (encoding && encoding !== "identity") throw notJson(`Content-Encoding ${encoding} is not supported`);
  const declared = req.headers["content-length"];
  if (declared === undefined && req.headers["transfer-encoding"] === undefined) return undefined;
  // Node's parser has already refused a malformed Content-Length.
  if (declared !== undefined && Number(declared) > limits.maxBytes) throw tooLargeError(limits.maxBytes);
  if (declared === "0") return undefined;
  const bytes = await readBytes(req, limits.maxBytes);
  if (bytes.length === 0) return undefined;
  let text: string;
  try {
    text = new TextDecoder("utf-8", { fatal: true }).decode(bytes);
  } catch {
    throw notJson("Content not JSON: not valid UTF-8");
  }
  return parseJsonText(text, { maxDepth: limits.maxDepth ?? MAX_JSON_NESTING, allowNul: limits.allowNul ?? false });
}

/** Middleware putting the checked body (or undefined) on req.body. The handler decides whether one is required. */
export function jsonBody(limits: JsonBodyLimits): RequestHandler {
  return (req, _res, next) => {
    readJsonBody(req, limits).then((body: unknown) => {
      req.body = body;
      next();
    }, next);
  };
}
