// An S3-compatible store behind the same interface: objects named
// <prefix><sha256>, requests signed with AWS Signature Version 4 and sent with
// Node's fetch (no SDK). Bytes are staged to a local temporary file first (the
// key is their hash, known only at the end), then streamed to the bucket with
// UNSIGNED-PAYLOAD, which S3 accepts over TLS; downloads stream straight from
// the response body.
import { createHash, createHmac } from "node:crypto";
import { createReadStream } from "node:fs";
import { rm } from "node:fs/promises";
import { join } from "node:path";
import { Readable } from "node:stream";
import type { ReadableStream as WebReadableStream } from "node:stream/web";
import type { S3Config } from "../../config/schema.ts";
import { isSha256, putByStaging, type ByteRange, type MediaStore } from "./media-store.ts";
import { stageContent } from "./staging.ts";

const UNSIGNED = "UNSIGNED-PAYLOAD";
const EMPTY_SHA256 = createHash("sha256").update("").digest("hex");

const hmac = (key: Buffer | string, data: string) => createHmac("sha256", key).update(data).digest();
const hex = (data: string) => createHash("sha256").update(data).digest("hex");
/** RFC 3986 encoding as SigV4 wants it (every byte but unreserved characters). */
const uriEncode = (text: string) => encodeURIComponent(text).replace(/[!'()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`);

export interface SignedRequest {
  url: string;
  headers: Record<string, string>;
}

/** Signs one request (SigV4, service s3). `now` is injectable for the test vectors. */
export function signS3Request(config: S3Config, method: string, key: string, extraHeaders: Record<string, string>, payloadHash: string, now = new Date()): SignedRequest {
  const endpoint = new URL(config.endpoint ?? `https://s3.${config.region}.amazonaws.com`);
  const pathStyle = config.force_path_style;
  const host = pathStyle ? endpoint.host : `${config.bucket}.${endpoint.host}`;
  const basePath = endpoint.pathname.replace(/\/+$/, "");
  const canonicalPath = `${basePath}${pathStyle ? `/${uriEncode(config.bucket)}` : ""}/${key.split("/").map(uriEncode).join("/")}`;
  const amzDate = now.toISOString().replace(/[-:]/g, "").replace(/\.\d{3}/, "");
  const day = amzDate.slice(0, 8);
  const headers: Record<string, string> = { host, "x-amz-content-sha256": payloadHash, "x-amz-date": amzDate };
  for (const [name, value] of Object.entries(extraHeaders)) headers[name.toLowerCase()] = value;
  const names = Object.keys(headers).sort();
  const canonicalHeaders = names.map((n) => `${n}:${headers[n]!.trim()}\n`).join("");
  const signedHeaders = names.join(";");
  const canonicalRequest = [method, canonicalPath, "", canonicalHeaders, signedHeaders, payloadHash].join("\n");
  const scope = `${day}/${config.region}/s3/aws4_request`;
  const stringToSign = ["AWS4-HMAC-SHA256", amzDate, scope, hex(canonicalRequest)].join("\n");
  const signingKey = hmac(hmac(hmac(hmac(`AWS4${config.secret_access_key}`, day), config.region), "s3"), "aws4_request");
  const signature = createHmac("sha256", signingKey).update(stringToSign).digest("hex");
  headers.authorization = `AWS4-HMAC-SHA256 Credential=${config.access_key_id}/${scope}, SignedHeaders=${signedHeaders}, Signature=${signature}`;
  delete headers.host;
  return { url: `${endpoint.protocol}//${host}${canonicalPath}`, headers };
}

export function createS3MediaStore(config: S3Config, stagingRoot: string): MediaStore {
  const tmpDir = join(stagingRoot, "tmp");
  const keyOf = (sha256: string) => {
    if (!isSha256(sha256)) throw new Error(`not a SHA-256: ${sha256}`);
    return `${config.prefix}${sha256}`;
  };
  async function send(method: string, sha256: string, init: { headers?: Record<string, string>; body?: Readable; payloadHash?: string } = {}): Promise<Response> {
    const signed = signS3Request(config, method, keyOf(sha256), init.headers ?? {}, init.payloadHash ?? (init.body ? UNSIGNED : EMPTY_SHA256));
    const body = init.body ? (Readable.toWeb(init.body) as ReadableStream<Uint8Array>) : undefined;
    return fetch(signed.url, { method, headers: signed.headers, ...(body ? { body, duplex: "half" } : {}) } as RequestInit);
  }
  const exists = async (sha256: string) => {
    const res = await send("HEAD", sha256);
    if (res.status === 404) return false;
    if (!res.ok) throw new Error(`S3 HEAD answered ${res.status}`);
    return true;
  };

  const store: MediaStore = {
    kind: "s3",
    stage: (input, options) =>
      stageContent(input, tmpDir, options.maxBytes, async (staged) => {
        try {
          if (await exists(staged.sha256)) return;
          const res = await send("PUT", staged.sha256, { headers: { "content-length": String(staged.size) }, body: createReadStream(staged.path) });
          await res.body?.cancel();
          if (!res.ok) throw new Error(`S3 PUT answered ${res.status}`);
        } finally {
          await rm(staged.path, { force: true });
        }
      }),
    put: (input, options) => putByStaging(store, input, options),
    async get(sha256: string, range?: ByteRange) {
      const res = await send("GET", sha256, range ? { headers: { range: `bytes=${range.start}-${range.end}` } } : {});
      if (res.status === 404) {
        await res.body?.cancel();
        return undefined;
      }
      if (!res.ok || !res.body) throw new Error(`S3 GET answered ${res.status}`);
      return Readable.fromWeb(res.body as WebReadableStream<Uint8Array>);
    },
    exists,
    async delete(sha256) {
      const res = await send("DELETE", sha256);
      await res.body?.cancel();
      if (!res.ok && res.status !== 404) throw new Error(`S3 DELETE answered ${res.status}`);
    },
  };
  return store;
}
