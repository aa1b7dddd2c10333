// Fetches another server's media: the authenticated federation endpoint
// (GET /_matrix/federation/v1/media/download/{mediaId}, multipart/mixed, the
// bytes inline or behind a Location), and the legacy
// /_matrix/media/v3/download/{origin}/{mediaId}?allow_remote=false only when
// the origin does not know the federation endpoint (404/400 M_UNRECOGNIZED, or
// a 404 that is not a Matrix error), as Synapse does.
import type { Readable } from "node:stream";
import type { StreamResponse } from "../net/guarded-fetch.ts";
import { boundaryOf, parseMultipart } from "./multipart.ts";
import { filenameFromDisposition } from "./content-types.ts";

export type RemoteFailure = "not_found" | "unreachable" | "bad_response";

export class RemoteMediaError extends Error {
  readonly failure: RemoteFailure;
  constructor(failure: RemoteFailure, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = "RemoteMediaError";
    this.failure = failure;
  }
}

export interface FetchedMedia {
  contentType: string | null;
  filename: string | null;
  body: Readable;
}

export interface RemoteFetchDeps {
  /** FederationClient.stream. */
  stream(destination: string, path: string, options: { query?: Record<string, string | boolean>; timeoutMs?: number }): Promise<StreamResponse>;
  /** A guarded GET for a Location the origin redirects to. */
  get(url: URL): Promise<StreamResponse>;
  timeoutMs: number;
}

async function readSmall(body: Readable, limit = 65536): Promise<string> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of body) {
    size += (chunk as Buffer).length;
    if (size > limit) break;
    chunks.push(chunk as Buffer);
  }
  body.destroy();
  return Buffer.concat(chunks).toString("utf8");
}

async function errcodeOf(response: StreamResponse): Promise<string | undefined> {
  const text = await readSmall(response.body).catch(() => "");
  try {
    const parsed = JSON.parse(text) as { errcode?: unknown };
    return typeof parsed.errcode === "string" ? parsed.errcode : undefined;
  } catch {
    return undefined;
  }
}

export function createRemoteFetcher(deps: RemoteFetchDeps) {
  const timeout = { timeoutMs: deps.timeoutMs };

  async function viaFederation(origin: string, mediaId: string): Promise<FetchedMedia | "unrecognized"> {
    const response = await deps.stream(origin, `/_matrix/federation/v1/media/download/${encodeURIComponent(mediaId)}`, { query: { timeout_ms: String(deps.timeoutMs) }, ...timeout });
    if (response.status !== 200) {
      const errcode = await errcodeOf(response);
      if (errcode === "M_UNRECOGNIZED" || (response.status === 404 && errcode === undefined)) return "unrecognized";
      if (response.status === 404) throw new RemoteMediaError("not_found", `${origin} has no media ${mediaId}`);
      throw new RemoteMediaError("unreachable", `${origin} answered ${response.status} ${errcode ?? ""}`);
    }
    const boundary = boundaryOf(response.headers["content-type"]);
    if (!boundary) {
      response.body.destroy();
      throw new RemoteMediaError("bad_response", `${origin} answered without a multipart/mixed body`);
    }
    const parts = await parseMultipart(response.body, boundary).catch((err: unknown) => {
      throw new RemoteMediaError("bad_response", `${origin}: ${(err as Error).message}`, { cause: err });
    });
    const location = parts.headers.location;
    if (location) {
      parts.content.resume();
      const redirected = await deps.get(new URL(location));
      if (redirected.status !== 200) {
        redirected.body.destroy();
        throw new RemoteMediaError(redirected.status === 404 ? "not_found" : "unreachable", `${location} answered ${redirected.status}`);
      }
      return { contentType: headerOf(redirected.headers["content-type"]), filename: filenameFromDisposition(headerOf(redirected.headers["content-disposition"]) ?? undefined), body: redirected.body };
    }
    return { contentType: parts.headers["content-type"] ?? null, filename: filenameFromDisposition(parts.headers["content-disposition"]), body: parts.content };
  }

  async function viaLegacy(origin: string, mediaId: string): Promise<FetchedMedia> {
    const response = await deps.stream(origin, `/_matrix/media/v3/download/${encodeURIComponent(origin)}/${encodeURIComponent(mediaId)}`, {
      query: { allow_remote: "false", timeout_ms: String(deps.timeoutMs) },
      ...timeout,
    });
    if (response.status !== 200) {
      await errcodeOf(response);
      throw new RemoteMediaError(response.status === 404 ? "not_found" : "unreachable", `${origin} answered ${response.status} on the legacy endpoint`);
    }
    return { contentType: headerOf(response.headers["content-type"]), filename: filenameFromDisposition(headerOf(response.headers["content-disposition"]) ?? undefined), body: response.body };
  }

  return {
    async fetch(origin: string, mediaId: string): Promise<FetchedMedia> {
      const first = await viaFederation(origin, mediaId);
      return first === "unrecognized" ? viaLegacy(origin, mediaId) : first;
    },
  };
}

function headerOf(value: string | string[] | undefined): string | null {
  return (Array.isArray(value) ? value[0] : value) ?? null;
}
