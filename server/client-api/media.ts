// POST /_matrix/media/v3/upload                                        https://spec.matrix.org/v1.19/client-server-api/#post_matrixmediav3upload
// POST /_matrix/media/v1/create                                        https://spec.matrix.org/v1.19/client-server-api/#post_matrixmediav1create
// PUT  /_matrix/media/v3/upload/{serverName}/{mediaId}                 https://spec.matrix.org/v1.19/client-server-api/#put_matrixmediav3uploadservernamemediaid
// GET  /_matrix/client/v1/media/download/{serverName}/{mediaId}        https://spec.matrix.org/v1.19/client-server-api/#get_matrixclientv1mediadownloadservernamemediaid
// GET  /_matrix/client/v1/media/download/{serverName}/{mediaId}/{fileName}  https://spec.matrix.org/v1.19/client-server-api/#get_matrixclientv1mediadownloadservernamemediaidfilename
// GET  /_matrix/client/v1/media/thumbnail/{serverName}/{mediaId}       https://spec.matrix.org/v1.19/client-server-api/#get_matrixclientv1mediathumbnailservernamemediaid
// GET  /_matrix/client/v1/media/config                                 https://spec.matrix.org/v1.19/client-server-api/#get_matrixclientv1mediaconfig
// GET  /_matrix/client/v1/media/preview_url                            https://spec.matrix.org/v1.19/client-server-api/#get_matrixclientv1mediapreview_url
// GET  /_matrix/media/v3/download/{serverName}/{mediaId}[/{fileName}]  https://spec.matrix.org/v1.19/client-server-api/#get_matrixmediav3downloadservernamemediaid (deprecated, unauthenticated)
// GET  /_matrix/media/v3/thumbnail/{serverName}/{mediaId}              https://spec.matrix.org/v1.19/client-server-api/#get_matrixmediav3thumbnailservernamemediaid (deprecated, unauthenticated)
// GET  /_matrix/media/v3/config                                        https://spec.matrix.org/v1.19/client-server-api/#get_matrixmediav3config (deprecated)
// GET  /_matrix/media/v3/preview_url                                   https://spec.matrix.org/v1.19/client-server-api/#get_matrixmediav3preview_url (deprecated)
//
// Uploads are streamed into the media store as they arrive (never buffered)
// and cut off with 413 M_TOO_LARGE at media.max_upload_size. The legacy
// unauthenticated download and thumbnail endpoints serve only media uploaded
// while media.enable_authenticated_media was false (Synapse's freeze), else
// 404 M_NOT_FOUND. URL previews exist only with url_preview.enabled.
import type { Request, RequestHandler, Response } from "express";
import { requester } from "../auth/authenticate.ts";
import type { HomeserverConfig } from "../config/schema.ts";
import { invalidParam, MatrixError, missingParam, notFound } from "../errors/matrix-error.ts";
import type { RouteTable } from "../http/route-table.ts";
import { mediaSecurityHeaders } from "../media/content-types.ts";
import type { MediaRepository, UploadInput } from "../media/media-repository.ts";
import { booleanParam, optionalQuery, stringPath, thumbnailParams, waitParam } from "../media/request-params.ts";
import { sendStream, serveMedia } from "../media/serve.ts";
import { getUrlPreview } from "../storage/media.ts";
import type { Database } from "../storage/database.ts";

export interface MediaApiDeps {
  db: Database;
  config: Pick<HomeserverConfig, "server_name" | "media" | "url_preview">;
  repository: MediaRepository;
  auth: RequestHandler;
  uploadRateLimit: RequestHandler;
  /** Asks the url-preview worker for a preview (collapsed per URL). */
  requestPreview(url: string, userId: string): Promise<void>;
}

const PREVIEW_POLL_MS = 100;

function uploadInput(req: Request): UploadInput {
  const filename = optionalQuery(req, "filename");
  const declared = req.headers["content-length"];
  return { body: req, declaredType: req.headers["content-type"], filename, contentLength: declared === undefined ? undefined : Number(declared) };
}

const EXTENSIONS: Record<string, string> = { "image/png": "png", "image/jpeg": "jpg", "image/webp": "webp", "image/gif": "gif" };

export function registerMedia(table: RouteTable, deps: MediaApiDeps): void {
  const { repository, auth, config } = deps;
  const serverName = config.server_name;

  async function download(req: Request, res: Response, legacy: boolean): Promise<void> {
    const origin = stringPath(req, "serverName");
    const mediaId = stringPath(req, "mediaId");
    const allowRemote = booleanParam(req, "allow_remote", true);
    const media = await repository.find(origin, mediaId, { waitMs: waitParam(req), legacy, allowRemote });
    const fileName = req.params.fileName === undefined ? media.uploadName : String(req.params.fileName);
    await serveMedia(req, res, repository, media, fileName);
  }

  async function thumbnail(req: Request, res: Response, legacy: boolean): Promise<void> {
    const origin = stringPath(req, "serverName");
    const mediaId = stringPath(req, "mediaId");
    const params = thumbnailParams(req);
    const waitMs = waitParam(req);
    const media = await repository.find(origin, mediaId, { waitMs, legacy, allowRemote: booleanParam(req, "allow_remote", true) });
    const thumb = await repository.thumbnail(media, params, waitMs);
    const stream = await repository.open(thumb.sha256);
    res.status(200).set({
      "Content-Type": thumb.contentType,
      "Content-Length": String(thumb.size),
      ...mediaSecurityHeaders(thumb.contentType, `thumbnail.${EXTENSIONS[thumb.contentType] ?? "png"}`, true),
      "Cache-Control": "public, max-age=86400, s-maxage=86400",
    });
    await sendStream(res, stream);
  }

  const mediaConfig = (_req: Request, res: Response) => {
    res.json({ "m.upload.size": config.media.max_upload_size });
  };

  async function preview(req: Request, res: Response): Promise<void> {
    const me = requester(res.locals);
    const url = optionalQuery(req, "url");
    if (url === undefined) throw missingParam("url is required");
    let parsed: URL;
    try {
      parsed = new URL(url);
    } catch {
      throw invalidParam("url is not a valid URL");
    }
    if (parsed.protocol !== "http:" && parsed.protocol !== "https:") throw invalidParam("Only http and https URLs can be previewed");
    const deadline = Date.now() + config.url_preview.timeout_ms * 2 + 5000;
    let asked = false;
    for (;;) {
      const cached = await getUrlPreview(deps.db, url);
      if (cached && cached.expiresTs > Date.now()) {
        if (cached.og) {
          res.json(cached.og);
          return;
        }
        if (cached.error === "blocked") throw new MatrixError(403, "M_FORBIDDEN", "This URL may not be previewed");
        if (cached.error === "too_large") throw new MatrixError(502, "M_TOO_LARGE", "The page is too large to preview");
        throw new MatrixError(502, "M_UNKNOWN", "The URL could not be previewed");
      }
      if (!asked) {
        await deps.requestPreview(url, me.userId);
        asked = true;
        continue;
      }
      if (Date.now() > deadline) throw new MatrixError(504, "M_UNKNOWN", "The preview is not ready yet");
      await new Promise((resolve) => setTimeout(resolve, PREVIEW_POLL_MS));
    }
  }

  table.add("POST", "/_matrix/media/v3/upload", auth, deps.uploadRateLimit, async (req, res) => {
    const mediaId = await repository.upload(requester(res.locals).userId, uploadInput(req));
    res.json({ content_uri: `mxc://${serverName}/${mediaId}` });
  });

  table.add("POST", "/_matrix/media/v1/create", auth, deps.uploadRateLimit, async (_req, res) => {
    const created = await repository.createPending(requester(res.locals).userId);
    res.json({ content_uri: `mxc://${serverName}/${created.mediaId}`, unused_expires_at: created.expiresTs });
  });

  table.add("PUT", "/_matrix/media/v3/upload/:serverName/:mediaId", auth, deps.uploadRateLimit, async (req, res) => {
    if (stringPath(req, "serverName") !== serverName) throw notFound("Unknown media ID");
    await repository.uploadPending(requester(res.locals).userId, stringPath(req, "mediaId"), uploadInput(req));
    res.json({});
  });

  const v1 = "/_matrix/client/v1/media";
  table.add("GET", `${v1}/download/:serverName/:mediaId`, auth, (req, res) => download(req, res, false));
  table.add("GET", `${v1}/download/:serverName/:mediaId/:fileName`, auth, (req, res) => download(req, res, false));
  table.add("GET", `${v1}/thumbnail/:serverName/:mediaId`, auth, (req, res) => thumbnail(req, res, false));
  table.add("GET", `${v1}/config`, auth, mediaConfig);

  const legacy = "/_matrix/media/v3";
  table.add("GET", `${legacy}/download/:serverName/:mediaId`, (req, res) => download(req, res, true));
  table.add("GET", `${legacy}/download/:serverName/:mediaId/:fileName`, (req, res) => download(req, res, true));
  table.add("GET", `${legacy}/thumbnail/:serverName/:mediaId`, (req, res) => thumbnail(req, res, true));
  table.add("GET", `${legacy}/config`, auth, mediaConfig);

  if (config.url_preview.enabled) {
    table.add("GET", `${v1}/preview_url`, auth, preview);
    table.add("GET", `${legacy}/preview_url`, auth, preview);
  }
}
