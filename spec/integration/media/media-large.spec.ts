// A 100 MB upload and download through a real server process never sits
// whole in its memory: the child's peak resident set (VmHWM in
// /proc/<pid>/status) grows by less than 60 MB across both, and the bytes
// come back with the same SHA-256.
import { expect } from "chai";
import { createHash, randomBytes } from "node:crypto";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { Readable } from "node:stream";
import { registerUser } from "../../support/accounts.ts";
import { TestClient } from "../../support/http-client.ts";
import { downloadPath, uploadMedia } from "../../support/media.ts";
import { startServer, type RunningServer } from "../../support/server-process.ts";

const SIZE = 100 * 1024 * 1024;
const CHUNK = 256 * 1024;

/** Peak and current resident set of a process, in bytes. */
function memoryOf(pid: number): { peak: number; rss: number } {
  const status = readFileSync(`/proc/${pid}/status`, "utf8");
  const kb = (name: string) => Number(new RegExp(`^${name}:\\s+(\\d+) kB`, "m").exec(status)![1]) * 1024;
  return { peak: kb("VmHWM"), rss: kb("VmRSS") };
}

describe("large media (100 MB, streamed, bounded memory)", function () {
  this.timeout(180_000);
  let server: RunningServer;

  before(async () => {
    // As `npm start` runs it (scripts/node-env.sh and package.json): the young generation capped at 2 x 16 MiB.
    server = await startServer({ env: { NODE_OPTIONS: "--max-semi-space-size=16" }, configFor: (dir) => ({ media: { store_path: join(dir, "media"), max_upload_size: 200 * 1024 * 1024 } }) });
  });
  after(async () => {
    await server?.stop();
  });

  it("uploads and downloads 100 MB with under 60 MB growth of the server's peak RSS", async () => {
    const user = await registerUser(new TestClient(server.baseUrl));
    // Warm up the paths once so their code and buffers count in the baseline.
    const warm = await uploadMedia(server.baseUrl, user.access_token, randomBytes(1024 * 1024));
    await (await fetch(server.baseUrl + downloadPath(warm.json.content_uri), { headers: { Authorization: `Bearer ${user.access_token}` } })).arrayBuffer();
    const pid = server.child.pid!;
    const baseline = memoryOf(pid);

    const block = randomBytes(CHUNK);
    const sent = createHash("sha256");
    const body = Readable.from(
      (function* () {
        for (let offset = 0; offset < SIZE; offset += CHUNK) {
          // Each chunk differs, so nothing compresses or repeats by accident.
          const chunk = Buffer.from(block);
          chunk.writeUInt32BE(offset / CHUNK, 0);
          sent.update(chunk);
          yield chunk;
        }
      })(),
    );
    const started = Date.now();
    const up = await uploadMedia(server.baseUrl, user.access_token, body);
    const uploadMs = Date.now() - started;
    expect(up.status).to.equal(200);
    const afterUpload = memoryOf(pid);

    const res = await fetch(server.baseUrl + downloadPath(up.json.content_uri), { headers: { Authorization: `Bearer ${user.access_token}` } });
    expect(res.status).to.equal(200);
    expect(res.headers.get("content-length")).to.equal(String(SIZE));
    const received = createHash("sha256");
    let length = 0;
    for await (const chunk of res.body as unknown as AsyncIterable<Uint8Array>) {
      received.update(chunk);
      length += chunk.length;
    }
    expect(length).to.equal(SIZE);
    expect(received.digest("hex")).to.equal(sent.digest("hex"));
    const after = memoryOf(pid);
    const growth = after.peak - baseline.peak;
    console.log(`      100 MB upload in ${uploadMs} ms; peak RSS ${Math.round(baseline.peak / 1048576)} → ${Math.round(afterUpload.peak / 1048576)} (after the upload) → ${Math.round(after.peak / 1048576)} MiB`);
    expect(growth, `peak RSS grew by ${Math.round(growth / 1048576)} MiB`).to.be.below(60 * 1024 * 1024);
  });
});
