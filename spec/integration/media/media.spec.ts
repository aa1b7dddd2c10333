// The content repository through the client API of a real server process:
// upload and download round trips with the served headers, deduplicated
// storage, asynchronous uploads, size limits, thumbnails of every format and
// method, the image-bomb bound, legacy unauthenticated endpoints, quarantine
// and the spec's error codes.
import { expect } from "chai";
import { createHash } from "node:crypto";
import { readdirSync, statSync } from "node:fs";
import { join } from "node:path";
import sharp from "sharp";
import { registerUser, type TestUser } from "../../support/accounts.ts";
import { TestClient } from "../../support/http-client.ts";
import { animatedImage, downloadPath, mediaRequest, mxcParts, testImage, thumbnailPath, uploadMedia, type ImageFormat } from "../../support/media.ts";
import { startServer, type RunningServer } from "../../support/server-process.ts";
import { createDatabase } from "../../../server/storage/database.ts";
import { testDatabaseUrl } from "../../support/test-env.ts";
import { createMediaAdmin } from "../../../server/media/admin.ts";
import { createMediaRepository } from "../../../server/media/media-repository.ts";
import { createLocalMediaStore } from "../../../server/media/store/local-store.ts";
import { createLogger } from "../../../server/observability/logger.ts";

const MAX_UPLOAD = 2 * 1024 * 1024;
const MAX_PIXELS = 1_000_000;

/** Every file under the store's content folder. */
function storedFiles(root: string): string[] {
  const out: string[] = [];
  const walk = (dir: string) => {
    for (const name of readdirSync(dir)) {
      const path = join(dir, name);
      if (statSync(path).isDirectory()) walk(path);
      else out.push(path);
    }
  };
  try {
    walk(join(root, "content"));
  } catch {
    // no content yet
  }
  return out;
}

describe("media repository (real server process)", function () {
  this.timeout(90_000);
  let server: RunningServer;
  let api: TestClient;
  let alice: TestUser;
  let bob: TestUser;
  let storePath: string;

  before(async () => {
    server = await startServer({
      configFor: (dir) => ({ media: { store_path: join(dir, "media"), max_upload_size: MAX_UPLOAD, max_image_pixels: MAX_PIXELS, max_pending_uploads_per_user: 3 } }),
    });
    storePath = join(server.dir, "media");
    api = new TestClient(server.baseUrl);
    [alice, bob] = await Promise.all([registerUser(api), registerUser(api)]);
  });
  after(async () => {
    await server?.stop();
  });

  it("uploads and downloads bytes unchanged, with the spec's and Synapse's headers", async () => {
    const bytes = Buffer.from("hello, media\n");
    const up = await uploadMedia(server.baseUrl, alice.access_token, bytes, "text/plain", "notes.txt");
    expect(up.status).to.equal(200);
    expect(up.json.content_uri).to.match(/^mxc:\/\/localhost\/[A-Za-z0-9_-]+$/);
    const down = await mediaRequest(server.baseUrl, "GET", downloadPath(up.json.content_uri), { token: bob.access_token });
    expect(down.status).to.equal(200);
    expect(down.bytes.equals(bytes)).to.equal(true);
    expect(down.headers.get("content-type")).to.equal("text/plain; charset=utf-8");
    expect(down.headers.get("content-disposition")).to.equal('inline; filename="notes.txt"');
    expect(down.headers.get("content-security-policy")).to.equal(
      "sandbox; default-src 'none'; script-src 'none'; plugin-types application/pdf; style-src 'unsafe-inline'; media-src 'self'; object-src 'self';",
    );
    expect(down.headers.get("x-content-type-options")).to.equal("nosniff");
    expect(down.headers.get("cross-origin-resource-policy")).to.equal("cross-origin");
    // The file name in the path wins, and non-ASCII names are encoded per RFC 5987.
    const named = await mediaRequest(server.baseUrl, "GET", downloadPath(up.json.content_uri, "résumé ü.txt"), { token: bob.access_token });
    expect(named.headers.get("content-disposition")).to.equal("inline; filename*=utf-8''r%C3%A9sum%C3%A9%20%C3%BC.txt");
    // A single byte range.
    const part = await mediaRequest(server.baseUrl, "GET", downloadPath(up.json.content_uri), { token: bob.access_token, headers: { Range: "bytes=7-11" } });
    expect(part.status).to.equal(206);
    expect(part.bytes.toString()).to.equal("media");
  });

  it("serves by the sniffed type, not the declared one: HTML claiming to be an image is an attachment", async () => {
    const html = Buffer.from("<html><script>alert(1)</script></html>");
    const up = await uploadMedia(server.baseUrl, alice.access_token, html, "image/png", "evil.html");
    const down = await mediaRequest(server.baseUrl, "GET", downloadPath(up.json.content_uri), { token: alice.access_token });
    expect(down.headers.get("content-type")).to.equal("application/octet-stream");
    expect(down.headers.get("content-disposition")).to.equal('attachment; filename="evil.html"');
    const declaredHtml = await uploadMedia(server.baseUrl, alice.access_token, html, "text/html");
    const again = await mediaRequest(server.baseUrl, "GET", downloadPath(declaredHtml.json.content_uri), { token: alice.access_token });
    expect(again.headers.get("content-type")).to.equal("text/plain; charset=utf-8");
    // A real PNG declared as text is served as the PNG it is.
    const png = await testImage("png", 20, 20);
    const mislabelled = await uploadMedia(server.baseUrl, alice.access_token, png, "text/plain");
    const image = await mediaRequest(server.baseUrl, "GET", downloadPath(mislabelled.json.content_uri), { token: alice.access_token });
    expect(image.headers.get("content-type")).to.equal("image/png");
    expect(image.headers.get("content-disposition")).to.equal("inline");
  });

  it("stores identical uploads once, and deleting one media ID keeps the shared file", async () => {
    const bytes = Buffer.from(`dedupe ${Date.now()} ${Math.random()}`);
    const sha = createHash("sha256").update(bytes).digest("hex");
    const first = await uploadMedia(server.baseUrl, alice.access_token, bytes);
    const second = await uploadMedia(server.baseUrl, bob.access_token, bytes);
    expect(first.json.content_uri).to.not.equal(second.json.content_uri);
    expect(storedFiles(storePath).filter((f) => f.endsWith(sha))).to.have.length(1);

    const db = createDatabase(testDatabaseUrl, { max: 2 });
    try {
      const repository = createMediaRepository({ db, store: createLocalMediaStore(storePath), serverName: "localhost", config: {} as never, jobs: {} as never, log: createLogger({ level: "fatal", format: "json" }) });
      const admin = createMediaAdmin({ db, serverName: "localhost", repository });
      const removed = await admin.deleteMedia("localhost", mxcParts(first.json.content_uri).mediaId);
      expect(removed).to.deep.equal({ existed: true, filesDeleted: 0 });
      expect((await mediaRequest(server.baseUrl, "GET", downloadPath(first.json.content_uri), { token: alice.access_token })).status).to.equal(404);
      expect((await mediaRequest(server.baseUrl, "GET", downloadPath(second.json.content_uri), { token: alice.access_token })).bytes.equals(bytes)).to.equal(true);
      const last = await admin.deleteMedia("localhost", mxcParts(second.json.content_uri).mediaId);
      expect(last).to.deep.equal({ existed: true, filesDeleted: 1 });
      expect(storedFiles(storePath).filter((f) => f.endsWith(sha))).to.have.length(0);

      // Quarantine: 404 M_NOT_FOUND for the media, and for every upload of a user.
      const q = await uploadMedia(server.baseUrl, bob.access_token, Buffer.from("quarantine me"));
      expect(await admin.quarantineMedia("localhost", mxcParts(q.json.content_uri).mediaId, alice.user_id)).to.equal(1);
      const hidden = await mediaRequest(server.baseUrl, "GET", downloadPath(q.json.content_uri), { token: bob.access_token });
      expect(hidden.status).to.equal(404);
      expect(hidden.json.errcode).to.equal("M_NOT_FOUND");
      const carol = await registerUser(api);
      const c1 = await uploadMedia(server.baseUrl, carol.access_token, Buffer.from("c1"));
      expect(await admin.quarantineUserMedia(carol.user_id, alice.user_id)).to.equal(1);
      expect((await mediaRequest(server.baseUrl, "GET", downloadPath(c1.json.content_uri), { token: bob.access_token })).status).to.equal(404);
    } finally {
      await db.close();
    }
  });

  it("refuses an upload over media.max_upload_size with 413 M_TOO_LARGE, by Content-Length and while streaming", async () => {
    const big = Buffer.alloc(MAX_UPLOAD + 1, 7);
    const declared = await uploadMedia(server.baseUrl, alice.access_token, big);
    expect(declared.status).to.equal(413);
    expect(declared.json.errcode).to.equal("M_TOO_LARGE");
    // Chunked (no Content-Length): cut off once the limit passes.
    const { Readable } = await import("node:stream");
    const chunks = Readable.from((function* () {
      for (let i = 0; i < 40; i += 1) yield Buffer.alloc(64 * 1024, i);
    })());
    const streamed = await uploadMedia(server.baseUrl, alice.access_token, chunks);
    expect(streamed.status).to.equal(413);
    expect(streamed.json.errcode).to.equal("M_TOO_LARGE");
    expect(storedFiles(storePath).every((f) => statSync(f).size <= MAX_UPLOAD)).to.equal(true);
    expect(readdirSync(join(storePath, "tmp"))).to.deep.equal([]);
    const config = await mediaRequest(server.baseUrl, "GET", "/_matrix/client/v1/media/config", { token: alice.access_token });
    expect(config.json).to.deep.equal({ "m.upload.size": MAX_UPLOAD });
  });

  it("asynchronous upload: create, download waits or answers M_NOT_YET_UPLOADED, PUT once, per-user pending limit", async () => {
    const created = await mediaRequest(server.baseUrl, "POST", "/_matrix/media/v1/create", { token: alice.access_token });
    expect(created.status).to.equal(200);
    expect(created.json.unused_expires_at).to.be.greaterThan(Date.now());
    const uri: string = created.json.content_uri;
    const { mediaId } = mxcParts(uri);
    const early = await mediaRequest(server.baseUrl, "GET", `${downloadPath(uri)}?timeout_ms=200`, { token: bob.access_token });
    expect(early.status).to.equal(504);
    expect(early.json.errcode).to.equal("M_NOT_YET_UPLOADED");

    const waiting = mediaRequest(server.baseUrl, "GET", `${downloadPath(uri)}?timeout_ms=10000`, { token: bob.access_token });
    await new Promise((r) => setTimeout(r, 300));
    const other = await mediaRequest(server.baseUrl, "PUT", `/_matrix/media/v3/upload/localhost/${mediaId}`, { token: bob.access_token, body: Buffer.from("x") });
    expect(other.status).to.equal(403);
    expect(other.json.errcode).to.equal("M_FORBIDDEN");
    const put = await mediaRequest(server.baseUrl, "PUT", `/_matrix/media/v3/upload/localhost/${mediaId}?filename=later.bin`, { token: alice.access_token, body: Buffer.from("arrived later") });
    expect(put.status).to.equal(200);
    const waited = await waiting;
    expect(waited.status).to.equal(200);
    expect(waited.bytes.toString()).to.equal("arrived later");
    const again = await mediaRequest(server.baseUrl, "PUT", `/_matrix/media/v3/upload/localhost/${mediaId}`, { token: alice.access_token, body: Buffer.from("overwrite") });
    expect(again.status).to.equal(409);
    expect(again.json.errcode).to.equal("M_CANNOT_OVERWRITE_MEDIA");
    const unknown = await mediaRequest(server.baseUrl, "PUT", `/_matrix/media/v3/upload/localhost/nosuchmedia`, { token: alice.access_token, body: Buffer.from("x") });
    expect(unknown.status).to.equal(404);
    expect(unknown.json.errcode).to.equal("M_NOT_FOUND");

    const statuses: number[] = [];
    for (let i = 0; i < 4; i += 1) statuses.push((await mediaRequest(server.baseUrl, "POST", "/_matrix/media/v1/create", { token: bob.access_token })).status);
    expect(statuses).to.deep.equal([200, 200, 200, 429]);
  });

  it("authenticated endpoints need a token; the legacy unauthenticated ones refuse media uploaded after the freeze", async () => {
    const up = await uploadMedia(server.baseUrl, alice.access_token, Buffer.from("frozen"));
    const noToken = await mediaRequest(server.baseUrl, "GET", downloadPath(up.json.content_uri));
    expect(noToken.status).to.equal(401);
    expect(noToken.json.errcode).to.equal("M_MISSING_TOKEN");
    const { mediaId } = mxcParts(up.json.content_uri);
    const legacy = await mediaRequest(server.baseUrl, "GET", `/_matrix/media/v3/download/localhost/${mediaId}`);
    expect(legacy.status).to.equal(404);
    expect(legacy.json.errcode).to.equal("M_NOT_FOUND");
    const missing = await mediaRequest(server.baseUrl, "GET", `/_matrix/client/v1/media/download/localhost/doesnotexist`, { token: alice.access_token });
    expect(missing.status).to.equal(404);
    expect(missing.json.errcode).to.equal("M_NOT_FOUND");
  });

  for (const format of ["png", "jpeg", "gif", "webp"] as ImageFormat[]) {
    it(`makes ${format} thumbnails by crop and by scale`, async () => {
      const source = await testImage(format, 400, 300);
      const up = await uploadMedia(server.baseUrl, alice.access_token, source, `image/${format}`);
      for (const [query, expectWidth, expectHeight] of [
        ["width=32&height=32&method=crop", 32, 32],
        ["width=96&height=96&method=crop", 96, 96],
        ["width=300&height=200&method=scale", 320, 240],
        ["width=640&height=480&method=scale", 400, 300],
      ] as const) {
        const thumb = await mediaRequest(server.baseUrl, "GET", thumbnailPath(up.json.content_uri, query), { token: bob.access_token });
        expect(thumb.status, `${query}: ${thumb.bytes.toString().slice(0, 200)}`).to.equal(200);
        expect(thumb.headers.get("content-type")).to.equal(format === "jpeg" ? "image/jpeg" : "image/png");
        expect(thumb.headers.get("content-disposition")).to.match(/^inline; filename="thumbnail\.(png|jpg)"$/);
        const meta = await sharp(thumb.bytes).metadata();
        expect([meta.width, meta.height], query).to.deep.equal([expectWidth, expectHeight]);
      }
    });
  }

  it("keeps the animation of an animated GIF and WebP with animated=true, and not without", async () => {
    for (const format of ["gif", "webp"] as const) {
      const up = await uploadMedia(server.baseUrl, alice.access_token, await animatedImage(format), `image/${format}`);
      const moving = await mediaRequest(server.baseUrl, "GET", thumbnailPath(up.json.content_uri, "width=96&height=96&method=crop&animated=true"), { token: bob.access_token });
      expect(moving.status).to.equal(200);
      expect(moving.headers.get("content-type")).to.equal("image/webp");
      expect((await sharp(moving.bytes, { animated: true }).metadata()).pages).to.equal(3);
      const still = await mediaRequest(server.baseUrl, "GET", thumbnailPath(up.json.content_uri, "width=96&height=96&method=crop"), { token: bob.access_token });
      expect(still.headers.get("content-type")).to.equal("image/png");
      expect((await sharp(still.bytes).metadata()).pages ?? 1).to.equal(1);
    }
  });

  it("refuses to thumbnail an image over max_image_pixels without decoding it; the original stays downloadable", async () => {
    // 2000x2000 = 4 Mpx of one colour: a few kB of PNG, four times the limit.
    const bomb = await sharp({ create: { width: 2000, height: 2000, channels: 3, background: "white" } }).png().toBuffer();
    const up = await uploadMedia(server.baseUrl, alice.access_token, bomb, "image/png");
    const thumb = await mediaRequest(server.baseUrl, "GET", thumbnailPath(up.json.content_uri, "width=32&height=32&method=crop"), { token: alice.access_token });
    expect(thumb.status).to.equal(413);
    expect(thumb.json.errcode).to.equal("M_TOO_LARGE");
    const original = await mediaRequest(server.baseUrl, "GET", downloadPath(up.json.content_uri), { token: alice.access_token });
    expect(original.status).to.equal(200);
    expect(original.bytes.equals(bomb)).to.equal(true);
  });

  it("answers bad thumbnail parameters and non-images with the spec's errors", async () => {
    const up = await uploadMedia(server.baseUrl, alice.access_token, Buffer.from("not an image"), "text/plain");
    const notImage = await mediaRequest(server.baseUrl, "GET", thumbnailPath(up.json.content_uri, "width=32&height=32"), { token: alice.access_token });
    expect(notImage.status).to.equal(400);
    for (const query of ["height=32", "width=-1&height=32", "width=32&height=32&method=stretch", "width=abc&height=2"]) {
      const bad = await mediaRequest(server.baseUrl, "GET", thumbnailPath(up.json.content_uri, query), { token: alice.access_token });
      expect(bad.status, query).to.equal(400);
      expect(bad.json.errcode, query).to.be.oneOf(["M_MISSING_PARAM", "M_INVALID_PARAM"]);
    }
  });
});

describe("media with enable_authenticated_media false (real server process)", function () {
  this.timeout(60_000);
  let server: RunningServer;

  before(async () => {
    server = await startServer({ configFor: (dir) => ({ media: { store_path: join(dir, "media"), enable_authenticated_media: false } }) });
  });
  after(async () => {
    await server?.stop();
  });

  it("serves new uploads on the legacy unauthenticated endpoints too", async () => {
    const user = await registerUser(new TestClient(server.baseUrl));
    const up = await uploadMedia(server.baseUrl, user.access_token, await testImage("png", 100, 100), "image/png", "open.png");
    const { mediaId } = mxcParts(up.json.content_uri);
    const legacy = await mediaRequest(server.baseUrl, "GET", `/_matrix/media/v3/download/localhost/${mediaId}`);
    expect(legacy.status).to.equal(200);
    expect(legacy.headers.get("content-disposition")).to.equal('inline; filename="open.png"');
    const thumb = await mediaRequest(server.baseUrl, "GET", `/_matrix/media/v3/thumbnail/localhost/${mediaId}?width=32&height=32&method=crop`);
    expect(thumb.status).to.equal(200);
    expect(thumb.headers.get("content-type")).to.equal("image/png");
    const config = await mediaRequest(server.baseUrl, "GET", "/_matrix/media/v3/config", { token: user.access_token });
    expect(config.json["m.upload.size"]).to.equal(52428800);
  });
});
