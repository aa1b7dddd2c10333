// Writing media to an HTTP response: the headers every media answer carries,
// an optional single byte range, and the body streamed from the store (never
// held whole in memory). Shared by the client endpoints; the federation
// endpoints wrap the same stream in multipart/mixed.
import type { Request, Response } from "express";
import { pipeline } from "node:stream/promises";
import { MatrixError } from "../errors/matrix-error.ts";
import { mediaSecurityHeaders, servedContentType } from "./content-types.ts";
import type { MediaRepository, ServableMedia } from "./media-repository.ts";
import type { ByteRange } from "./store/media-store.ts";

/** One `bytes=a-b`, `bytes=a-` or `bytes=-n` range; anything else is ignored (the whole body is sent). */
export function parseRange(header: string | undefined, size: number): ByteRange | "unsatisfiable" | undefined {
  if (!header) return undefined;
  const match = /^bytes=(\d*)-(\d*)$/.exec(header.trim());
  if (!match || (match[1] === "" && match[2] === "")) return undefined;
  let start: number;
  let end: number;
  if (match[1] === "") {
    const suffix = Number(match[2]);
    if (suffix === 0) return "unsatisfiable";
    start = Math.max(0, size - suffix);
    end = size - 1;
  } else {
    start = Number(match[1]);
    end = match[2] === "" ? size - 1 : Math.min(Number(match[2]), size - 1);
  }
  if (start >= size || start > end) return "unsatisfiable";
  return { start, end };
}

export async function sendStream(res: Response, stream: NodeJS.ReadableStream): Promise<void> {
  try {
    await pipeline(stream, res);
  } catch {
    // The client went away, or the store failed mid-body: the connection is already cut.
    res.destroy();
  }
}

export async function serveMedia(req: Request, res: Response, repository: Pick<MediaRepository, "open">, media: ServableMedia, filename: string | null): Promise<void> {
  const type = servedContentType(media.sniffedType, media.declaredType);
  const range = parseRange(req.headers.range, media.size);
  res.set({ "Content-Type": type, ...mediaSecurityHeaders(type, filename), "Cache-Control": "public, max-age=86400, s-maxage=86400", "Accept-Ranges": "bytes" });
  if (range === "unsatisfiable") {
    res.set("Content-Range", `bytes */${media.size}`);
    throw new MatrixError(416, "M_UNKNOWN", "Requested range not satisfiable");
  }
  const stream = await repository.open(media.sha256, range);
  if (range) {
    res.status(206).set({ "Content-Range": `bytes ${range.start}-${range.end}/${media.size}`, "Content-Length": String(range.end - range.start + 1) });
  } else {
    res.status(200).set("Content-Length", String(media.size));
  }
  await sendStream(res, stream);
}
