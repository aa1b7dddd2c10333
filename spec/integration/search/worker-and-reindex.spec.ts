// The search worker as its own process, and the reindex command.
//
// Catch-up: an API-only process (--role api) commits messages and queues
// their indexing jobs; the jobs are lost (the keys under this server's Redis
// prefix are deleted: the isolation every test uses, never FLUSHALL on a
// shared Redis); a worker-only process (--role worker:search) started
// afterwards indexes them from the position stored in PostgreSQL. These two
// use a database of their own: any other server of the run would otherwise
// index the run's database and hide whether this worker caught up.
//
// Reindex: `admin-cli/main.ts search reindex` rebuilds an index that lost
// its rows, reporting progress on stderr and its result as JSON.
import { expect } from "chai";
import { spawn } from "node:child_process";
import { join, resolve } from "node:path";
import type pg from "pg";
import { dropDatabase, queryTestDatabase } from "../../support/admin-db.ts";
import { registerUser } from "../../support/accounts.ts";
import { TestClient } from "../../support/http-client.ts";
import { deleteRedisKeys } from "../../support/redis-keys.ts";
import { repoRoot } from "../../support/repo-root.ts";
import { createRoom, sendText } from "../../support/rooms.ts";
import { foundIds, waitForHits } from "../../support/search.ts";
import { startServer, type RunningServer } from "../../support/server-process.ts";
import { databaseUrl, testDatabaseName, testDatabaseUrl, testRedisPrefix } from "../../support/test-env.ts";

const query = queryTestDatabase;
const ownDatabase = `${testDatabaseName}_search_workers`;

function admin(args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((done) => {
    const child = spawn(process.execPath, [resolve(repoRoot, "admin-cli/main.ts"), ...args], { env: { ...process.env, DATABASE_URL: testDatabaseUrl }, stdio: ["ignore", "pipe", "pipe"] });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (c: Buffer) => (stdout += c.toString()));
    child.stderr.on("data", (c: Buffer) => (stderr += c.toString()));
    child.on("exit", (code) => done({ code, stdout, stderr }));
  });
}

describe("search worker and reindex", function () {
  this.timeout(90_000);
  const started: RunningServer[] = [];
  after(async () => {
    await Promise.all(started.map((s) => s.stop()));
    await dropDatabase(ownDatabase);
  });

  it("a worker started after Redis lost the jobs catches up from the position in PostgreSQL", async () => {
    const prefix = `${testRedisPrefix}search-workers:`;
    const config = { redis: { key_prefix: prefix } };
    const env = { DATABASE_URL: databaseUrl(ownDatabase) };
    const own = <T extends pg.QueryResultRow>(text: string, values: unknown[] = []) => query<T>(text, values, env.DATABASE_URL);
    const api = await startServer({ config, env, args: ["--role", "api"] });
    started.push(api);
    const client = new TestClient(api.baseUrl);
    const alice = await registerUser(client);
    const roomId = await createRoom(client, alice);
    const ids = [await sendText(client, alice, roomId, "nebula survey one"), await sendText(client, alice, roomId, "nebula survey two")];
    await new Promise((r) => setTimeout(r, 500));
    const indexed = () => own<{ n: number }>(`SELECT count(*)::int AS n FROM event_search WHERE event_id = ANY($1)`, [ids]).then((r) => r[0]!.n);
    expect(await indexed(), "no worker runs in an API-only process").to.equal(0);
    expect(await foundIds(client, alice, "nebula")).to.deep.equal([]);

    await deleteRedisKeys(prefix);

    const worker = await startServer({ config, env, args: ["--role", "worker:search"], workerOnly: true });
    started.push(worker);
    await waitForHits(client, alice, "nebula", ids);
    expect(worker.logs().some((l) => l.msg === "search index caught up from the stored position")).to.equal(true);
    const [position] = await own<{ stream_position: number }>(`SELECT stream_position FROM search_positions WHERE backend = 'postgres'`);
    const [head] = await own<{ position: number }>(`SELECT position FROM stream_head`);
    expect(position!.stream_position).to.equal(head!.position);
    // The API process runs no search worker, so it exports no indexing gauge.
    const metrics = await client.get("/metrics", { unspecified: true });
    expect(metrics.text).to.not.contain("myelin_search_indexed_position");
  });

  it("admin-cli search reindex rebuilds the index from PostgreSQL, with progress and a JSON result", async () => {
    const server = await startServer();
    started.push(server);
    const client = new TestClient(server.baseUrl);
    const bob = await registerUser(client);
    const roomId = await createRoom(client, bob);
    const id = await sendText(client, bob, roomId, "pulsar timing residuals");
    await waitForHits(client, bob, "pulsar", [id]);
    await query(`DELETE FROM event_search WHERE event_id = $1`, [id]);
    expect(await foundIds(client, bob, "pulsar")).to.deep.equal([]);

    const run = await admin(["--config", join(server.dir, "homeserver.yaml"), "search", "reindex", "--json"]);
    expect(run.code, run.stderr).to.equal(0);
    const result = JSON.parse(run.stdout) as { backend: string; events: number; documents: number; position: number };
    expect(result.backend).to.equal("postgres");
    expect(result.events).to.be.greaterThan(0);
    expect(result.documents).to.be.greaterThan(0);
    // Not a terminal: plain progress lines, the last one saying done.
    expect(run.stderr.trim().split("\n").at(-1)).to.match(/^reindex \(postgres\): \d+\/\d+ \(100%\) \d+\/s, done$/);
    expect(await foundIds(client, bob, "pulsar")).to.deep.equal([id]);

    const help = await admin(["--help"]);
    expect(help.code).to.equal(0);
    expect(help.stdout).to.contain("search reindex");
    const unknown = await admin(["--config", join(server.dir, "homeserver.yaml"), "search", "explode"]);
    expect(unknown.code).to.equal(2);
    expect(unknown.stderr).to.contain('unknown command "search explode"');
  });
});
