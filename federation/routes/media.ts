// GET /_matrix/federation/v1/media/download/{mediaId}   https://spec.matrix.org/v1.19/server-server-api/#get_matrixfederationv1mediadownloadmediaid
// GET /_matrix/federation/v1/media/thumbnail/{mediaId}  https://spec.matrix.org/v1.19/server-server-api/#get_matrixfederationv1mediathumbnailmediaid
//
// Our own media for other servers (never media we cached from a third
// server: allow_remote is false here by the spec), X-Matrix authenticated, as
// multipart/mixed: an empty JSON metadata object, then the bytes with their
// Content-Type and Content-Disposition, streamed from the store.
import type { Request, RequestHandler, Response } from "express";
import { mediaSecurityHeaders, servedContentType } from "../../server/media/content-types.ts";
import type { MediaRepository } from "../../server/media/media-repository.ts";
import { multipartHead, multipartTail, newBoundary } from "../../server/media/multipart.ts";
import { stringPath, thumbnailParams, waitParam } from "../../server/media/request-params.ts";
import type { RouteTable } from "../../server/http/route-table.ts";

export interface FederationMediaDeps {
  repository: Pick<MediaRepository, "find" | "open" | "thumbnail">;
  serverName: string;
  auth: RequestHandler[];
}

async function sendMultipart(res: Response, stream: NodeJS.ReadableStream, partHeaders: Record<string, string>, size: number): Promise<void> {
  const boundary = newBoundary();
  const head = multipartHead(boundary, {}, partHeaders);
  const tail = multipartTail(boundary);
  res.status(200).set({ "Content-Type": `multipart/mixed; boundary=${boundary}`, "Content-Length": String(head.length + size + tail.length) });
  res.write(head);
  try {
    for await (const chunk of stream) {
      if (!res.write(chunk)) await new Promise((resolve) => res.once("drain", resolve));
    }
    res.end(tail);
  } catch {
    res.destroy();
  }
}

export function registerFederationMedia(table: RouteTable, deps: FederationMediaDeps): void {
  const { repository, serverName, auth } = deps;
  const local = (req: Request) => repository.find(serverName, stringPath(req, "mediaId"), { waitMs: waitParam(req), legacy: false, allowRemote: false });

  table.add("GET", "/_matrix/federation/v1/media/download/:mediaId", ...auth, async (req, res) => {
    const media = await local(req);
    const type = servedContentType(media.sniffedType, media.declaredType);
    const stream = await repository.open(media.sha256);
    const disposition = mediaSecurityHeaders(type, media.uploadName)["Content-Disposition"]!;
    await sendMultipart(res, stream, { "Content-Type": type, "Content-Disposition": disposition }, media.size);
  });

  table.add("GET", "/_matrix/federation/v1/media/thumbnail/:mediaId", ...auth, async (req, res) => {
    const params = thumbnailParams(req);
    const waitMs = waitParam(req);
    const media = await local(req);
    const thumb = await repository.thumbnail(media, params, waitMs);
    const stream = await repository.open(thumb.sha256);
    const disposition = mediaSecurityHeaders(thumb.contentType, null, true)["Content-Disposition"]!;
    await sendMultipart(res, stream, { "Content-Type": thumb.contentType, "Content-Disposition": disposition }, thumb.size);
  });
}
