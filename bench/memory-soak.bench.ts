// Memory soak (not a test): run with
//   bash scripts/run.sh bench/memory-soak.bench.ts [--requests 36000] [--users 300] [--rooms 120]
//     [--concurrency 16] [--idle 60] [--inspect] [--snapshots DIR] [--smaps FILE]
//     [--server-env KEY=VALUE | --server-env KEY]...
// Starts the real server against a throwaway database, samples its memory while
// idle, drives a mix of client requests from many users and rooms (register,
// login/logout, createRoom, join/leave, sends, state, /messages, /sync initial
// and incremental, profile, presence, typing, receipts, account data, filters,
// devices, 404s, 405s, bad JSON), then idles and samples again.
// RSS comes from /proc/<pid>/status, heap from /metrics (prom-client's
// nodejs_heap_size_used_bytes). With --inspect the server runs under the
// inspector so the bench can force a full GC (separating live objects from
// garbage not yet collected) and, with --snapshots, write heap snapshots after
// start and after load + idle (compare them with bench/heap-summary.ts).
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { Agent, request } from "node:http";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { startServer, type RunningServer } from "../spec/support/server-process.ts";
import { connectInspector, inspectorUrl, type Inspector } from "./inspector.ts";
import { runBench, withThrowawayDatabase } from "./throwaway-database.ts";

const { values: args } = parseArgs({
  options: {
    requests: { type: "string", default: "36000" },
    users: { type: "string", default: "300" },
    rooms: { type: "string", default: "120" },
    concurrency: { type: "string", default: "16" },
    idle: { type: "string", default: "60" },
    inspect: { type: "boolean", default: false },
    snapshots: { type: "string" },
    /** KEY=VALUE for the server's environment, or KEY to remove it; repeatable. */
    /** Copies the server's /proc/<pid>/smaps here at the end, to see which mappings hold the RSS. */
    smaps: { type: "string" },
    "server-env": { type: "string", multiple: true, default: [] },
  },
});
const TARGET = Number(args.requests);
const USERS = Number(args.users);
const ROOMS = Number(args.rooms);
const CONCURRENCY = Number(args.concurrency);
const IDLE_S = Number(args.idle);
const V3 = "/_matrix/client/v3";
const PASSWORD = "soak password";

interface Response {
  status: number;
  body: any;
}

const agent = new Agent({ keepAlive: true, maxSockets: CONCURRENCY * 2 });
let sent = 0;
const byStatus = new Map<number, number>();

/** One HTTP request; `raw` sends the text as is (for the bad-JSON requests). */
function call(base: string, method: string, path: string, body?: unknown, token?: string, raw?: string): Promise<Response> {
  sent += 1;
  const url = new URL(base + path);
  const payload = raw ?? (body === undefined ? undefined : JSON.stringify(body));
  return new Promise((resolve, reject) => {
    const req = request(
      {
        host: url.hostname,
        port: url.port,
        path: url.pathname + url.search,
        method,
        agent,
        headers: { "Content-Type": "application/json", ...(token ? { Authorization: `Bearer ${token}` } : {}), ...(payload ? { "Content-Length": Buffer.byteLength(payload) } : {}) },
      },
      (res) => {
        let text = "";
        res.on("data", (c: Buffer) => (text += c.toString()));
        res.on("end", () => {
          const status = res.statusCode ?? 0;
          byStatus.set(status, (byStatus.get(status) ?? 0) + 1);
          let parsed: unknown;
          try {
            parsed = text ? JSON.parse(text) : undefined;
          } catch {
            parsed = text;
          }
          resolve({ status, body: parsed });
        });
      },
    );
    req.on("error", reject);
    req.end(payload);
  });
}

interface SoakUser {
  userId: string;
  token: string;
  localpart: string;
  rooms: string[];
  since?: string;
  filterId?: string;
}

const pick = <T>(items: readonly T[]): T => items[Math.floor(Math.random() * items.length)]!;
const enc = encodeURIComponent;
const lastEvent = new Map<string, string>();
let txn = 0;

async function register(base: string, localpart: string): Promise<SoakUser> {
  const first = await call(base, "POST", `${V3}/register`, { username: localpart, password: PASSWORD });
  const done = await call(base, "POST", `${V3}/register`, { username: localpart, password: PASSWORD, auth: { type: "m.login.dummy", session: first.body.session } });
  if (done.status !== 200) throw new Error(`register ${localpart}: ${JSON.stringify(done.body)}`);
  return { userId: done.body.user_id, token: done.body.access_token, localpart, rooms: [] };
}

async function createRoom(base: string, user: SoakUser, allRooms: string[]): Promise<void> {
  const res = await call(base, "POST", `${V3}/createRoom`, { preset: "public_chat", name: `soak ${allRooms.length}` }, user.token);
  if (res.status !== 200) return;
  allRooms.push(res.body.room_id);
  user.rooms.push(res.body.room_id);
}

async function joinRoom(base: string, user: SoakUser, roomId: string): Promise<void> {
  if (user.rooms.includes(roomId)) return;
  const res = await call(base, "POST", `${V3}/join/${enc(roomId)}`, {}, user.token);
  if (res.status === 200) user.rooms.push(roomId);
}

/** The request mix, as [weight, action]; each action makes one or two requests. */
function actions(base: string, users: SoakUser[], allRooms: string[]): Array<[number, (u: SoakUser) => Promise<unknown>]> {
  const room = (u: SoakUser) => (u.rooms.length > 0 ? pick(u.rooms) : pick(allRooms));
  return [
    [20, async (u) => {
      const roomId = room(u);
      const res = await call(base, "PUT", `${V3}/rooms/${enc(roomId)}/send/m.room.message/soak${++txn}`, { msgtype: "m.text", body: `message ${txn} from ${u.localpart}` }, u.token);
      if (res.status === 200) lastEvent.set(roomId, res.body.event_id);
    }],
    [12, async (u) => {
      const res = await call(base, "GET", `${V3}/sync?timeout=0${u.since ? `&since=${enc(u.since)}` : ""}${u.filterId ? `&filter=${enc(u.filterId)}` : ""}`, undefined, u.token);
      if (res.status === 200) u.since = res.body.next_batch;
    }],
    [3, (u) => call(base, "GET", `${V3}/sync?timeout=0&filter=${enc(JSON.stringify({ room: { timeline: { limit: 10 } } }))}`, undefined, u.token)],
    [6, (u) => call(base, "GET", `${V3}/rooms/${enc(room(u))}/messages?dir=b&limit=20`, undefined, u.token)],
    [4, (u) => call(base, "GET", `${V3}/rooms/${enc(room(u))}/state`, undefined, u.token)],
    [2, (u) => call(base, "GET", `${V3}/rooms/${enc(room(u))}/members`, undefined, u.token)],
    [2, (u) => {
      const roomId = room(u);
      const eventId = lastEvent.get(roomId);
      return eventId ? call(base, "GET", `${V3}/rooms/${enc(roomId)}/event/${enc(eventId)}`, undefined, u.token) : call(base, "GET", `${V3}/joined_rooms`, undefined, u.token);
    }],
    [2, (u) => call(base, "GET", `${V3}/joined_rooms`, undefined, u.token)],
    [4, () => call(base, "GET", `${V3}/profile/${enc(pick(users).userId)}`)],
    [2, (u) => call(base, "PUT", `${V3}/profile/${enc(u.userId)}/displayname`, { displayname: `${u.localpart} ${txn}` }, u.token)],
    [2, (u) => call(base, "PUT", `${V3}/presence/${enc(u.userId)}/status`, { presence: pick(["online", "unavailable"]), status_msg: `s${txn % 50}` }, u.token)],
    [2, (u) => call(base, "GET", `${V3}/presence/${enc(pick(users).userId)}/status`, undefined, u.token)],
    [4, (u) => call(base, "PUT", `${V3}/rooms/${enc(room(u))}/typing/${enc(u.userId)}`, { typing: Math.random() < 0.7, timeout: 5000 }, u.token)],
    [4, (u) => {
      const roomId = room(u);
      const eventId = lastEvent.get(roomId);
      return eventId ? call(base, "POST", `${V3}/rooms/${enc(roomId)}/receipt/m.read/${enc(eventId)}`, {}, u.token) : call(base, "GET", `${V3}/capabilities`, undefined, u.token);
    }],
    [2, (u) => call(base, "PUT", `${V3}/user/${enc(u.userId)}/account_data/org.example.soak.${txn % 20}`, { n: txn }, u.token)],
    [1, (u) => call(base, "GET", `${V3}/user/${enc(u.userId)}/account_data/org.example.soak.${txn % 20}`, undefined, u.token)],
    [1, (u) => call(base, "PUT", `${V3}/user/${enc(u.userId)}/rooms/${enc(room(u))}/account_data/org.example.room`, { n: txn }, u.token)],
    [2, async (u) => {
      const res = await call(base, "POST", `${V3}/user/${enc(u.userId)}/filter`, { room: { timeline: { limit: 5 + (txn % 20) } } }, u.token);
      if (res.status === 200) u.filterId = res.body.filter_id;
    }],
    [1, (u) => call(base, "GET", `${V3}/user/${enc(u.userId)}/filter/${u.filterId ?? "0"}`, undefined, u.token)],
    [2, (u) => call(base, "GET", `${V3}/devices`, undefined, u.token)],
    [2, async (u) => {
      const res = await call(base, "POST", `${V3}/login`, { type: "m.login.password", identifier: { type: "m.id.user", user: u.localpart }, password: PASSWORD }, undefined);
      if (res.status === 200) await call(base, "POST", `${V3}/logout`, {}, res.body.access_token);
    }],
    [2, (u) => createRoom(base, u, allRooms)],
    [3, (u) => joinRoom(base, u, pick(allRooms))],
    [1, async (u) => {
      if (u.rooms.length < 3) return;
      const roomId = u.rooms.pop()!;
      await call(base, "POST", `${V3}/rooms/${enc(roomId)}/leave`, {}, u.token);
    }],
    [2, () => call(base, "GET", `${V3}/no/such/endpoint/${txn}`)],
    [1, () => call(base, "DELETE", `${V3}/login`)],
    [2, (u) => call(base, "POST", `${V3}/createRoom`, undefined, u.token, "{not json")],
    [1, () => call(base, "GET", "/_matrix/client/versions")],
    [1, (u) => call(base, "POST", `${V3}/user_directory/search`, { search_term: u.localpart.slice(0, 5), limit: 10 }, u.token)],
    [1, (u) => call(base, "GET", `${V3}/publicRooms?limit=20`, undefined, u.token)],
    [1, (u) => call(base, "GET", `${V3}/account/whoami`, undefined, u.token)],
  ];
}

interface Sample {
  label: string;
  rssMiB: number;
  heapUsedMiB: number;
  heapTotalMiB: number;
  externalMiB: number;
  /** Committed size of V8's young generation (new space). */
  newSpaceMiB: number;
}

function rssMiB(pid: number): number {
  const status = readFileSync(`/proc/${pid}/status`, "utf8");
  return Number(/VmRSS:\s+(\d+) kB/.exec(status)![1]) / 1024;
}

function metric(text: string, name: string, label = ""): number {
  const line = text.split("\n").find((l) => (l.startsWith(`${name}{`) || l.startsWith(`${name} `)) && l.includes(label));
  return line ? Number(line.slice(line.lastIndexOf(" ") + 1)) : NaN;
}

/** GC pauses by kind and server CPU time so far, from prom-client's default metrics. */
async function gcSummary(server: RunningServer): Promise<string> {
  const text = await fetch(`${server.baseUrl}/metrics`).then((r) => r.text());
  const kinds = ["minor", "major", "incremental"].map((kind) => {
    const label = `kind="${kind}"`;
    return `${kind} ${metric(text, "nodejs_gc_duration_seconds_count", label)}× ${metric(text, "nodejs_gc_duration_seconds_sum", label).toFixed(2)} s`;
  });
  return `GC ${kinds.join(", ")}; server CPU ${metric(text, "process_cpu_seconds_total").toFixed(1)} s`;
}

const samples: Sample[] = [];
async function sample(server: RunningServer, label: string): Promise<Sample> {
  const text = await fetch(`${server.baseUrl}/metrics`).then((r) => r.text());
  const mib = (n: number) => n / (1024 * 1024);
  const s: Sample = {
    label,
    rssMiB: rssMiB(server.child.pid!),
    heapUsedMiB: mib(metric(text, "nodejs_heap_size_used_bytes")),
    heapTotalMiB: mib(metric(text, "nodejs_heap_size_total_bytes")),
    externalMiB: mib(metric(text, "nodejs_external_memory_bytes")),
    newSpaceMiB: mib(metric(text, "nodejs_heap_space_size_total_bytes", 'space="new"')),
  };
  samples.push(s);
  console.log(`${label.padEnd(34)} RSS ${s.rssMiB.toFixed(1).padStart(6)} MiB  heap used ${s.heapUsedMiB.toFixed(1).padStart(6)} / total ${s.heapTotalMiB.toFixed(1).padStart(6)} MiB (new space ${s.newSpaceMiB.toFixed(1)})  external ${s.externalMiB.toFixed(1)} MiB`);
  return s;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function soak(server: RunningServer, inspector: Inspector | undefined): Promise<void> {
  const base = server.baseUrl;
  await sleep(5000);
  await sample(server, "idle after start");
  if (inspector) {
    await inspector.collectGarbage();
    await sample(server, "idle after start + GC");
    if (args.snapshots) await inspector.writeHeapSnapshot(join(args.snapshots, "1-start.heapsnapshot"));
  }
  const startedAt = Date.now();
  const prefix = `soak${Date.now().toString(36)}`;
  const users: SoakUser[] = [];
  for (let i = 0; i < USERS; i += CONCURRENCY) {
    users.push(...(await Promise.all(Array.from({ length: Math.min(CONCURRENCY, USERS - i) }, (_, j) => register(base, `${prefix}u${i + j}`)))));
  }
  const allRooms: string[] = [];
  for (let i = 0; i < ROOMS; i++) await createRoom(base, users[i % users.length]!, allRooms);
  // Everyone starts in two rooms, so most requests concern a room the user is in.
  for (const user of users) for (let k = 0; k < 2; k++) await joinRoom(base, user, pick(allRooms));
  const mix = actions(base, users, allRooms);
  const totalWeight = mix.reduce((sum, [w]) => sum + w, 0);
  const chooseAction = () => {
    let r = Math.random() * totalWeight;
    for (const [w, action] of mix) if ((r -= w) < 0) return action;
    return mix[mix.length - 1]![1];
  };
  let nextReport = 6000;
  await Promise.all(
    Array.from({ length: CONCURRENCY }, async () => {
      while (sent < TARGET) {
        await chooseAction()(pick(users));
        if (sent >= nextReport) {
          nextReport += 6000;
          await sample(server, `after ${sent} requests`);
        }
      }
    }),
  );
  const seconds = (Date.now() - startedAt) / 1000;
  console.log(`load: ${sent} requests from ${USERS} users in ${allRooms.length} rooms, ${seconds.toFixed(0)} s (${(sent / seconds).toFixed(0)} req/s)`);
  console.log(`  statuses: ${[...byStatus].sort((a, b) => a[0] - b[0]).map(([s, n]) => `${s}×${n}`).join(", ")}`);
  console.log(`  ${await gcSummary(server)}`);
  await sample(server, "after load");
  for (let t = 10; t <= IDLE_S; t += 10) {
    await sleep(10_000);
    await sample(server, `idle ${t} s after load`);
  }
  if (inspector) {
    await inspector.collectGarbage();
    await sample(server, "after idle + GC");
    if (args.snapshots) await inspector.writeHeapSnapshot(join(args.snapshots, "2-after-load.heapsnapshot"));
  }
  const caches = (await fetch(`${server.baseUrl}/metrics`).then((r) => r.text())).split("\n").filter((l) => l.startsWith("myelin_cache_entries{"));
  if (caches.length > 0) console.log(`caches: ${caches.map((l) => `${/cache="([^"]+)"/.exec(l)![1]} ${l.slice(l.lastIndexOf(" ") + 1)}`).join(", ")}`);
  if (args.smaps) writeFileSync(args.smaps, readFileSync(`/proc/${server.child.pid}/smaps`));
}

async function main(): Promise<void> {
  if (args.snapshots) mkdirSync(args.snapshots, { recursive: true });
  await withThrowawayDatabase("myelin_soak", async (url) => {
    console.log(`node ${process.version}, ${(await import("node:os")).cpus().length} CPUs; server and clients on this machine`);
    const env: Record<string, string | undefined> = { DATABASE_URL: url };
    for (const pair of args["server-env"]) {
      // KEY=VALUE sets, a bare KEY removes (e.g. MALLOC_MMAP_THRESHOLD_, which scripts/node-env.sh sets).
      const at = pair.indexOf("=");
      if (at < 0) env[pair] = undefined;
      else env[pair.slice(0, at)] = pair.slice(at + 1);
    }
    if (args.inspect) env.NODE_OPTIONS = `${env.NODE_OPTIONS ?? process.env.NODE_OPTIONS ?? ""} --inspect=127.0.0.1:0`.trim();
    const server = await startServer({ env, config: { database: { pool_max: 10 }, logging: { level: "info", format: "json" } } });
    // The bench keeps no server log lines: 36,000 of them would only grow this process.
    server.child.stdout!.removeAllListeners("data");
    server.child.stdout!.resume();
    let inspector: Inspector | undefined;
    try {
      if (args.inspect) inspector = await connectInspector(await inspectorUrl(server.stderr));
      await soak(server, inspector);
    } finally {
      inspector?.close();
      await server.stop();
    }
  });
  agent.destroy();
}

runBench(main);
