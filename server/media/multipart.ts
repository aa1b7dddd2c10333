// multipart/mixed as the federation media endpoints use it (spec: "Content
// repository" of the server-server API): a first part of JSON metadata ({}),
// then either the bytes (with their Content-Type and Content-Disposition) or a
// Location header to fetch them from. Written and read as streams: the parser
// buffers only the small first part and the second part's headers.
import { randomBytes } from "node:crypto";
import { Transform, type Readable } from "node:stream";

const CRLF = "\r\n";
const MAX_PREAMBLE_BYTES = 65536;

export function newBoundary(): string {
  return randomBytes(16).toString("hex");
}

/** Everything before the bytes of the second part. */
export function multipartHead(boundary: string, metadata: unknown, headers: Record<string, string>): Buffer {
  const second = Object.entries(headers)
    .map(([k, v]) => `${k}: ${v}${CRLF}`)
    .join("");
  return Buffer.from(`--${boundary}${CRLF}Content-Type: application/json${CRLF}${CRLF}${JSON.stringify(metadata)}${CRLF}--${boundary}${CRLF}${second}${CRLF}`);
}

export function multipartTail(boundary: string): Buffer {
  return Buffer.from(`${CRLF}--${boundary}--${CRLF}`);
}

export class MultipartError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "MultipartError";
  }
}

export function boundaryOf(contentType: string | undefined): string | undefined {
  if (!contentType || !/^multipart\/mixed\b/i.test(contentType.trim())) return undefined;
  const match = /boundary\s*=\s*(?:"([^"]+)"|([^;\s]+))/i.exec(contentType);
  return match ? (match[1] ?? match[2]) : undefined;
}

function parseHeaders(text: string): Record<string, string> {
  const headers: Record<string, string> = {};
  for (const line of text.split(CRLF)) {
    const colon = line.indexOf(":");
    if (colon > 0) headers[line.slice(0, colon).trim().toLowerCase()] = line.slice(colon + 1).trim();
  }
  return headers;
}

export interface ParsedMultipart {
  metadata: unknown;
  /** Headers of the second part, lower-case names. */
  headers: Record<string, string>;
  /** The second part's bytes (empty when it carries a Location instead). */
  content: Readable;
}

/** Reads the two parts of a federation media answer; `content` streams the second part's body. */
export function parseMultipart(body: Readable, boundary: string): Promise<ParsedMultipart> {
  const delimiter = Buffer.from(`${CRLF}--${boundary}`);
  const opening = Buffer.from(`--${boundary}${CRLF}`);
  return new Promise<ParsedMultipart>((resolve, reject) => {
    let buffered = Buffer.alloc(0);
    let settled = false;
    const fail = (err: Error) => {
      if (settled) return;
      settled = true;
      body.off("data", onData);
      body.destroy();
      reject(err);
    };
    const onEnd = () => fail(new MultipartError("the answer ended inside its first part"));
    const onData = (chunk: Buffer) => {
      buffered = Buffer.concat([buffered, chunk]);
      if (buffered.length > MAX_PREAMBLE_BYTES && !tryParse()) return fail(new MultipartError("the first part is too long"));
      tryParse();
    };
    const tryParse = (): boolean => {
      if (settled) return true;
      const start = buffered.indexOf(opening);
      if (start < 0) return false;
      const headEnd = buffered.indexOf(`${CRLF}${CRLF}`, start + opening.length);
      if (headEnd < 0) return false;
      const jsonEnd = buffered.indexOf(delimiter, headEnd + 4);
      if (jsonEnd < 0) return false;
      const secondStart = jsonEnd + delimiter.length + CRLF.length;
      const secondHeadEnd = buffered.indexOf(`${CRLF}${CRLF}`, secondStart);
      if (secondHeadEnd < 0) return false;
      let metadata: unknown;
      try {
        metadata = JSON.parse(buffered.subarray(headEnd + 4, jsonEnd).toString("utf8"));
      } catch {
        fail(new MultipartError("the first part is not JSON"));
        return true;
      }
      const headers = parseHeaders(buffered.subarray(secondStart, secondHeadEnd).toString("latin1"));
      const rest = buffered.subarray(secondHeadEnd + 4);
      settled = true;
      body.off("data", onData);
      body.off("end", onEnd);
      const content = secondPart(body, rest, delimiter);
      resolve({ metadata, headers, content });
      return true;
    };
    body.on("data", onData);
    body.once("end", onEnd);
    body.once("error", (err) => fail(err));
  });
}

/** The bytes up to the closing delimiter, holding back as many bytes as a delimiter could span. */
function secondPart(body: Readable, first: Buffer, delimiter: Buffer): Readable {
  let pending: Buffer = Buffer.alloc(0);
  let done = false;
  const splitter = new Transform({
    transform(chunk: Buffer, _encoding, callback) {
      if (done) return callback();
      pending = pending.length === 0 ? chunk : Buffer.concat([pending, chunk]);
      const at = pending.indexOf(delimiter);
      if (at >= 0) {
        done = true;
        this.push(pending.subarray(0, at));
        pending = Buffer.alloc(0);
        return callback();
      }
      const safe = pending.length - (delimiter.length - 1);
      if (safe > 0) {
        this.push(pending.subarray(0, safe));
        pending = pending.subarray(safe);
      }
      callback();
    },
    flush(callback) {
      callback(done ? null : new MultipartError("the answer ended before its closing boundary"));
    },
  });
  body.on("error", (err) => splitter.destroy(err));
  if (first.length > 0) splitter.write(first);
  body.pipe(splitter);
  body.resume();
  return splitter;
}
