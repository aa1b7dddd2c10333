// Media benchmark (not a test): run with
//   bash scripts/run.sh bench/media.bench.ts [--upload-mb 100] [--uploads 3] [--images 40]
// 1. Upload throughput: --uploads uploads of --upload-mb MB each, streamed
//    from this process (random bytes, so nothing deduplicates), and the same
//    downloaded back; MB/s for each direction and the server's peak RSS.
// 2. Thumbnails: --images distinct 1600x1200 JPEGs uploaded by an API-only
//    process, then one worker-only process (--role worker:media) started to
//    make their five configured thumbnails each; thumbnails/s from its start
//    until the last row appears in PostgreSQL (two worker threads of sharp by
//    default: workers.thumbnail_concurrency).
// Everything runs on this machine against a throwaway database.
import { createHash, randomBytes } from "node:crypto";
import { mkdtempSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Readable } from "node:stream";
import { parseArgs } from "node:util";
import pg from "pg";
import sharp from "sharp";
import { adminRegisterMac } from "../spec/support/accounts.ts";
import { startServer, type RunningServer } from "../spec/support/server-process.ts";
import { testRedisPrefix } from "../spec/support/test-env.ts";
import { runBench, withThrowawayDatabase } from "./throwaway-database.ts";

const { values: args } = parseArgs({
  options: {
    "upload-mb": { type: "string", default: "100" },
    uploads: { type: "string", default: "3" },
    images: { type: "string", default: "40" },
  },
});
const UPLOAD_BYTES = Number(args["upload-mb"]) * 1024 * 1024;
const UPLOADS = Number(args.uploads);
const IMAGES = Number(args.images);
const SECRET = "test-shared-secret-0123456789";

function peakRssMiB(pid: number): number {
  return Number(/VmHWM:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, "utf8"))![1]) / 1024;
}

async function register(base: string): Promise<string> {
  const { nonce } = (await (await fetch(`${base}/_synapse/admin/v1/register`)).json()) as { nonce: string };
  const username = `bench${Date.now().toString(36)}`;
  const password = "bench password";
  const res = await fetch(`${base}/_synapse/admin/v1/register`, {
    method: "POST",
    headers: { "Content-Type": "application/json" },
    body: JSON.stringify({ nonce, username, password, admin: false, mac: adminRegisterMac(SECRET, nonce, username, password, false) }),
  });
  return ((await res.json()) as { access_token: string }).access_token;
}

function randomStream(bytes: number): Readable {
  const block = randomBytes(1024 * 1024);
  return Readable.from(
    (function* () {
      for (let offset = 0; offset < bytes; offset += block.length) {
        const chunk = Buffer.from(block);
        chunk.writeUInt32BE(offset / block.length, 0);
        yield chunk;
      }
    })(),
  );
}

async function upload(base: string, token: string, body: Buffer | Readable, type: string): Promise<string> {
  const res = await fetch(`${base}/_matrix/media/v3/upload`, {
    method: "POST",
    headers: { Authorization: `Bearer ${token}`, "Content-Type": type },
    body: body instanceof Readable ? (Readable.toWeb(body) as ReadableStream) : body,
    ...(body instanceof Readable ? { duplex: "half" } : {}),
  } as RequestInit);
  if (res.status !== 200) throw new Error(`upload answered ${res.status}: ${await res.text()}`);
  return ((await res.json()) as { content_uri: string }).content_uri;
}

async function throughput(dbUrl: string): Promise<void> {
  const server = await startServer({
    env: { DATABASE_URL: dbUrl, NODE_OPTIONS: "--max-semi-space-size=16" },
    configFor: (dir) => ({ media: { store_path: join(dir, "media"), max_upload_size: UPLOAD_BYTES + 1 }, redis: { key_prefix: `${testRedisPrefix}bench-media:` } }),
  });
  try {
    const token = await register(server.baseUrl);
    for (let i = 0; i < UPLOADS; i += 1) {
      const started = process.hrtime.bigint();
      const uri = await upload(server.baseUrl, token, randomStream(UPLOAD_BYTES), "application/octet-stream");
      const upMs = Number(process.hrtime.bigint() - started) / 1e6;
      const id = uri.slice("mxc://".length);
      const downStarted = process.hrtime.bigint();
      const res = await fetch(`${server.baseUrl}/_matrix/client/v1/media/download/${id}`, { headers: { Authorization: `Bearer ${token}` } });
      const hash = createHash("sha256");
      for await (const chunk of res.body as unknown as AsyncIterable<Uint8Array>) hash.update(chunk);
      const downMs = Number(process.hrtime.bigint() - downStarted) / 1e6;
      const mb = UPLOAD_BYTES / 1024 / 1024;
      console.log(`upload ${i + 1}: ${mb} MB up ${(mb / (upMs / 1000)).toFixed(0)} MB/s, down ${(mb / (downMs / 1000)).toFixed(0)} MB/s, server peak RSS ${peakRssMiB(server.child.pid!).toFixed(0)} MiB`);
    }
  } finally {
    await server.stop();
  }
}

async function thumbnails(dbUrl: string): Promise<void> {
  const storePath = mkdtempSync(join(tmpdir(), "myelin-bench-media-"));
  const config = { media: { store_path: storePath }, redis: { key_prefix: `${testRedisPrefix}bench-thumbs:` } };
  const api: RunningServer = await startServer({ env: { DATABASE_URL: dbUrl }, config, args: ["--role", "api"] });
  let worker: RunningServer | undefined;
  const db = new pg.Client({ connectionString: dbUrl });
  await db.connect();
  try {
    const token = await register(api.baseUrl);
    for (let i = 0; i < IMAGES; i += 1) {
      const image = await sharp({ create: { width: 1600, height: 1200, channels: 3, background: { r: i * 5, g: 120, b: 200 } } })
        .composite([{ input: Buffer.from(`<svg width="1600" height="1200"><text x="100" y="600" font-size="300">${i}</text></svg>`) }])
        .jpeg({ quality: 85 })
        .toBuffer();
      await upload(api.baseUrl, token, image, "image/jpeg");
    }
    await api.stop();
    const started = Date.now();
    worker = await startServer({ env: { DATABASE_URL: dbUrl }, config, args: ["--role", "worker:media"], workerOnly: true });
    const wanted = IMAGES * 5;
    for (;;) {
      const { rows } = await db.query<{ n: number }>(`SELECT count(*)::int AS n FROM media_thumbnails`);
      if (rows[0]!.n >= wanted) break;
      await new Promise((r) => setTimeout(r, 100));
    }
    const seconds = (Date.now() - started) / 1000;
    console.log(`thumbnails: ${wanted} (5 sizes of ${IMAGES} 1600x1200 JPEGs) in ${seconds.toFixed(1)} s including worker start: ${(wanted / seconds).toFixed(1)} thumbnails/s`);
  } finally {
    await db.end();
    await worker?.stop();
    await api.stop();
  }
}

runBench(() =>
  withThrowawayDatabase("myelin_bench_media", async (url) => {
    await throughput(url);
    await thumbnails(url);
  }),
);
