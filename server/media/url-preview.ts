// Makes a URL preview: the page fetched through the SSRF guard (every hop's
// address checked, loopback, private and the other blocked ranges refused
// unless url_preview.ip_range_allowlist says otherwise), at most
// url_preview.max_spider_size bytes within url_preview.timeout_ms, its
// OpenGraph read, and its og:image downloaded the same way and stored as
// local media so the preview names an mxc:// URI. A URL that is itself an
// image previews as that image.
import { Readable } from "node:stream";
import { TransportError } from "../net/https-request.ts";
import type { GuardedGetResponse } from "../net/guarded-fetch.ts";
import { parseOpenGraph } from "./opengraph.ts";
import { readImageHeader } from "./thumbnailer.ts";

export type PreviewFailure = "blocked" | "too_large" | "unreachable" | "status" | "timeout";

export class PreviewError extends Error {
  readonly failure: PreviewFailure;
  constructor(failure: PreviewFailure, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = "PreviewError";
    this.failure = failure;
  }
}

export interface UrlPreviewerDeps {
  get(url: URL): Promise<GuardedGetResponse>;
  maxBytes: number;
  timeoutMs: number;
  /** Stores image bytes as local media of `userId`; returns its mxc URI, size and sniffed type. */
  storeImage(userId: string, body: Readable, declaredType: string | null): Promise<{ mxc: string; size: number; sniffedType: string | null; head: Buffer }>;
}

function failureOf(err: unknown): PreviewError {
  if (err instanceof PreviewError) return err;
  if (err instanceof TransportError) {
    const failure = err.failure === "blocked" ? "blocked" : err.failure === "timeout" ? "timeout" : "unreachable";
    return new PreviewError(failure, err.message, { cause: err });
  }
  return new PreviewError("unreachable", (err as Error).message, { cause: err });
}

async function readBounded(response: GuardedGetResponse, maxBytes: number, deadline: number): Promise<Buffer> {
  const declared = Number(response.headers["content-length"] ?? "0");
  if (declared > maxBytes) {
    response.body.destroy();
    throw new PreviewError("too_large", `the page is ${declared} bytes`);
  }
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of response.body) {
    size += (chunk as Buffer).length;
    if (size > maxBytes) {
      response.body.destroy();
      throw new PreviewError("too_large", `the page exceeds ${maxBytes} bytes`);
    }
    if (Date.now() > deadline) {
      response.body.destroy();
      throw new PreviewError("timeout", "the page took too long");
    }
    chunks.push(chunk as Buffer);
  }
  return Buffer.concat(chunks, size);
}

/** A stream that fails once it has passed `maxBytes` or `deadline`. */
function bounded(body: Readable, maxBytes: number, deadline: number): Readable {
  let size = 0;
  return Readable.from(
    (async function* () {
      for await (const chunk of body) {
        size += (chunk as Buffer).length;
        if (size > maxBytes) throw new PreviewError("too_large", `the image exceeds ${maxBytes} bytes`);
        if (Date.now() > deadline) throw new PreviewError("timeout", "the image took too long");
        yield chunk as Buffer;
      }
    })(),
  );
}

const typeOf = (response: GuardedGetResponse) => String(response.headers["content-type"] ?? "").split(";")[0]!.trim().toLowerCase();

export function createUrlPreviewer(deps: UrlPreviewerDeps) {
  async function image(userId: string, response: GuardedGetResponse, deadline: number): Promise<Record<string, unknown>> {
    const stored = await deps.storeImage(userId, bounded(response.body, deps.maxBytes, deadline), typeOf(response) || null);
    const og: Record<string, unknown> = { "og:image": stored.mxc, "matrix:image:size": stored.size };
    if (stored.sniffedType) og["og:image:type"] = stored.sniffedType;
    const header = await readImageHeader(stored.head).catch(() => undefined);
    if (header) {
      og["og:image:width"] = header.width;
      og["og:image:height"] = header.height;
    }
    return og;
  }

  return {
    async preview(url: string, userId: string): Promise<Record<string, unknown>> {
      const deadline = Date.now() + deps.timeoutMs;
      try {
        const page = await deps.get(new URL(url));
        if (page.status !== 200) {
          page.body.destroy();
          throw new PreviewError("status", `the page answered ${page.status}`);
        }
        if (typeOf(page).startsWith("image/")) return await image(userId, page, deadline);
        const html = (await readBounded(page, deps.maxBytes, deadline)).toString("utf8");
        const og: Record<string, unknown> = parseOpenGraph(html);
        const imageUrl = og["og:image"];
        delete og["og:image"];
        if (typeof imageUrl === "string" && imageUrl !== "") {
          try {
            const picture = await deps.get(new URL(imageUrl, page.url));
            if (picture.status === 200 && typeOf(picture).startsWith("image/")) Object.assign(og, await image(userId, picture, deadline));
            else picture.body.destroy();
          } catch {
            // A preview without its image is still a preview.
          }
        }
        return og;
      } catch (err) {
        throw failureOf(err);
      }
    },
  };
}
