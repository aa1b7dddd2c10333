// The media workers as separate processes: an API-only process (--role api)
// queues thumbnail jobs, Redis loses them (the run's keys under this server's
// prefix are deleted: the isolation every test uses, never FLUSHALL on a
// shared Redis), and two worker-only processes (--role worker:media) started
// afterwards rebuild the jobs from PostgreSQL and make every thumbnail once.
// Then retention: media unused for media_retention.local_media_lifetime is
// deleted, rows and files.
import { expect } from "chai";
import { mkdtempSync, readdirSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { queryTestDatabase } from "../../support/admin-db.ts";
import { registerUser } from "../../support/accounts.ts";
import { TestClient } from "../../support/http-client.ts";
import { downloadPath, mediaRequest, mxcParts, testImage, uploadMedia } from "../../support/media.ts";
import { deleteRedisKeys } from "../../support/redis-keys.ts";
import { startServer, type RunningServer } from "../../support/server-process.ts";
import { testRedisPrefix } from "../../support/test-env.ts";

const query = queryTestDatabase;

/** Retries `check` (an assertion) until it passes or the time is up. */
async function until(check: () => Promise<unknown>, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      await check();
      return;
    } catch (err) {
      if (Date.now() > deadline) throw err;
      await new Promise((r) => setTimeout(r, 150));
    }
  }
}

function files(dir: string): string[] {
  try {
    return readdirSync(dir, { recursive: true, encoding: "utf8" }).filter((f) => statSync(join(dir, f)).isFile());
  } catch {
    return [];
  }
}

describe("media workers (separate processes, Redis lost)", function () {
  this.timeout(120_000);
  const started: RunningServer[] = [];
  after(async () => {
    await Promise.all(started.map((s) => s.stop()));
  });

  it("rebuilds lost thumbnail jobs from PostgreSQL; two worker processes share the queue", async () => {
    const prefix = `${testRedisPrefix}workers:`;
    const storePath = mkdtempSync(join(tmpdir(), "myelin-media-"));
    const config = { redis: { key_prefix: prefix }, media: { store_path: storePath } };
    const api = await startServer({ config, args: ["--role", "api"] });
    started.push(api);
    const client = new TestClient(api.baseUrl);
    const user = await registerUser(client);
    const up = await uploadMedia(api.baseUrl, user.access_token, await testImage("jpeg", 1000, 800), "image/jpeg");
    const { mediaId } = mxcParts(up.json.content_uri);
    await new Promise((r) => setTimeout(r, 500));
    const thumbs = () => query<{ n: number }>(`SELECT count(*)::int AS n FROM media_thumbnails WHERE media_id = $1`, [mediaId]).then((r) => r[0]!.n);
    expect(await thumbs(), "no worker runs in an API-only process").to.equal(0);

    await deleteRedisKeys(prefix);

    const workers = await Promise.all([startServer({ config, args: ["--role", "worker:media"], workerOnly: true }), startServer({ config, args: ["--role", "worker:media"], workerOnly: true })]);
    started.push(...workers);
    await until(async () => expect(await thumbs()).to.equal(5), 30_000);
    const sizes = await query<{ width: number; height: number; method: string }>(`SELECT width, height, method FROM media_thumbnails WHERE media_id = $1 ORDER BY width`, [mediaId]);
    expect(sizes.map((s) => `${s.width}x${s.height} ${s.method}`)).to.deep.equal(["32x32 crop", "96x96 crop", "320x240 scale", "640x480 scale", "800x600 scale"]);
    expect(workers.some((w) => w.logs().some((l) => l.msg === "media jobs re-queued from PostgreSQL"))).to.equal(true);
    // The API process serves the worker-made thumbnail without making another.
    const thumb = await mediaRequest(api.baseUrl, "GET", `/_matrix/client/v1/media/thumbnail/localhost/${mediaId}?width=96&height=96&method=crop`, { token: user.access_token });
    expect(thumb.status).to.equal(200);
    expect(await thumbs()).to.equal(5);
  });

  it("deletes media unused for local_media_lifetime, its thumbnails and its files", async () => {
    const storePath = mkdtempSync(join(tmpdir(), "myelin-media-"));
    const server = await startServer({
      config: { redis: { key_prefix: `${testRedisPrefix}retention:` }, media: { store_path: storePath }, media_retention: { local_media_lifetime: "2s", interval_ms: 500 } },
    });
    started.push(server);
    const user = await registerUser(new TestClient(server.baseUrl));
    const up = await uploadMedia(server.baseUrl, user.access_token, await testImage("png", 200, 200), "image/png");
    const { mediaId } = mxcParts(up.json.content_uri);
    expect((await mediaRequest(server.baseUrl, "GET", downloadPath(up.json.content_uri), { token: user.access_token })).status).to.equal(200);
    expect(files(join(storePath, "content")).length).to.be.greaterThan(0);
    await until(async () => {
      const rows = await query<{ n: number }>(`SELECT count(*)::int AS n FROM local_media WHERE media_id = $1`, [mediaId]);
      expect(rows[0]!.n).to.equal(0);
    }, 20_000);
    const gone = await mediaRequest(server.baseUrl, "GET", downloadPath(up.json.content_uri), { token: user.access_token });
    expect(gone.status).to.equal(404);
    expect((await query<{ n: number }>(`SELECT count(*)::int AS n FROM media_thumbnails WHERE media_id = $1`, [mediaId]))[0]!.n).to.equal(0);
    await until(async () => expect(files(join(storePath, "content"))).to.deep.equal([]), 5_000);
  });
});
