// WebSocket stream benchmark (not a test): run with
//   node_modules/.bin/node bench/stream.bench.ts [--idle 10000] [--members 1000] [--messages 20] [--transports stream,sync]
// 1. Memory per idle connection: open N authenticated streams, compare the
//    server's RSS before and after.
// 2. Fan-out latency: a room with M members, each following it through the
//    stream, then the same through /sync long-polling; for each message, the
//    time from the send's 200 to its arrival at every member. p50/p99 and the
//    server's peak RSS for each transport.
// Everything runs on this machine against a throwaway database.
import { readFileSync } from "node:fs";
import { Agent, request } from "node:http";
import { parseArgs } from "node:util";
import { WebSocket } from "ws";
import { StreamClient } from "../server/sync/stream/client.ts";
import { STREAM_PATH } from "../server/sync/stream/protocol.ts";
import { startServer, type RunningServer } from "../spec/support/server-process.ts";
import { adminRegisterMac } from "../spec/support/accounts.ts";
import { runBench, withThrowawayDatabase } from "./throwaway-database.ts";

const { values: args } = parseArgs({
  options: {
    idle: { type: "string", default: "10000" },
    members: { type: "string", default: "1000" },
    messages: { type: "string", default: "20" },
    transports: { type: "string", default: "stream,sync" },
  },
});
const IDLE = Number(args.idle);
const MEMBERS = Number(args.members);
const MESSAGES = Number(args.messages);
const SECRET = "test-shared-secret-0123456789";

function rssMiB(pid: number): { now: number; peak: number } {
  const status = readFileSync(`/proc/${pid}/status`, "utf8");
  const field = (name: string) => Number(new RegExp(`${name}:\\s+(\\d+) kB`).exec(status)![1]) / 1024;
  return { now: field("VmRSS"), peak: field("VmHWM") };
}

const agent = new Agent({ keepAlive: true, maxSockets: 4096 });
function call(base: string, method: string, path: string, body?: unknown, token?: string): Promise<{ status: number; body: any }> {
  const url = new URL(base + path);
  const payload = body === undefined ? undefined : JSON.stringify(body);
  return new Promise((resolve, reject) => {
    const req = request(
      { host: url.hostname, port: url.port, path: url.pathname + url.search, method, agent, headers: { "Content-Type": "application/json", ...(token ? { Authorization: `Bearer ${token}` } : {}), ...(payload ? { "Content-Length": Buffer.byteLength(payload) } : {}) } },
      (res) => {
        let text = "";
        res.on("data", (c: Buffer) => (text += c.toString()));
        res.on("end", () => resolve({ status: res.statusCode ?? 0, body: text ? JSON.parse(text) : undefined }));
      },
    );
    req.on("error", reject);
    req.end(payload);
  });
}

async function registerMany(base: string, count: number, prefix: string): Promise<Array<{ user_id: string; access_token: string }>> {
  const users: Array<{ user_id: string; access_token: string }> = [];
  const batch = 8;
  for (let i = 0; i < count; i += batch) {
    const chunk = await Promise.all(
      Array.from({ length: Math.min(batch, count - i) }, async (_, j) => {
        const nonce = (await call(base, "GET", "/_synapse/admin/v1/register")).body.nonce as string;
        const username = `${prefix}${i + j}`;
        const res = await call(base, "POST", "/_synapse/admin/v1/register", { nonce, username, password: "pw", admin: false, mac: adminRegisterMac(SECRET, nonce, username, "pw", false) });
        return res.body as { user_id: string; access_token: string };
      }),
    );
    users.push(...chunk);
  }
  return users;
}

function percentile(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;
}

async function idleConnections(server: RunningServer): Promise<void> {
  const [user] = await registerMany(server.baseUrl, 1, "idle");
  await new Promise((r) => setTimeout(r, 500));
  const before = rssMiB(server.child.pid!);
  const sockets: WebSocket[] = [];
  const url = server.baseUrl.replace(/^http/, "ws") + STREAM_PATH;
  for (let i = 0; i < IDLE; i += 200) {
    await Promise.all(
      Array.from({ length: Math.min(200, IDLE - i) }, () => {
        const ws = new WebSocket(url, ["m.json"], { headers: { Authorization: `Bearer ${user!.access_token}` } });
        sockets.push(ws);
        return new Promise<void>((resolve, reject) => {
          ws.once("message", () => resolve());
          ws.once("error", reject);
        });
      }),
    );
  }
  await new Promise((r) => setTimeout(r, 2000));
  const after = rssMiB(server.child.pid!);
  console.log(`idle streams: ${IDLE} authenticated sockets (hello received, no sync started)`);
  console.log(`  server RSS ${before.now.toFixed(1)} MiB -> ${after.now.toFixed(1)} MiB: ${(((after.now - before.now) * 1024) / IDLE).toFixed(2)} KiB per connection`);
  for (const ws of sockets) ws.terminate();
  await new Promise((r) => setTimeout(r, 1000));
}

async function fanOut(server: RunningServer, transport: "stream" | "sync"): Promise<void> {
  const members = await registerMany(server.baseUrl, MEMBERS, `${transport}m`);
  const sender = members[0]!;
  const created = await call(server.baseUrl, "POST", "/_matrix/client/v3/createRoom", { preset: "public_chat" }, sender.access_token);
  const roomId = created.body.room_id as string;
  for (const m of members.slice(1)) await call(server.baseUrl, "POST", `/_matrix/client/v3/join/${encodeURIComponent(roomId)}`, {}, m.access_token);
  const sentAt = new Map<string, number>();
  const latencies: number[] = [];
  const arrived = new Map<string, number>();
  const onEvents = (events: any[]) => {
    const now = performance.now();
    for (const e of events) {
      const t = sentAt.get(e.content?.body);
      if (t !== undefined) {
        latencies.push(now - t);
        arrived.set(e.content.body, (arrived.get(e.content.body) ?? 0) + 1);
      }
    }
  };
  const stop: Array<() => void> = [];
  const filter = { room: { timeline: { limit: 50 }, state: { lazy_load_members: true } } };
  for (const m of members) {
    const first = await call(server.baseUrl, "GET", `/_matrix/client/v3/sync?filter=${encodeURIComponent(JSON.stringify(filter))}`, undefined, m.access_token);
    let since = first.body.next_batch as string;
    if (transport === "stream") {
      const client = new StreamClient({ baseUrls: [server.baseUrl], accessToken: m.access_token, since, filter, onSync: (f: any) => onEvents(f.rooms?.join?.[roomId]?.timeline?.events ?? []) });
      await client.connect();
      stop.push(() => client.close());
    } else {
      let running = true;
      stop.push(() => (running = false));
      void (async () => {
        while (running) {
          const res = await call(server.baseUrl, "GET", `/_matrix/client/v3/sync?timeout=30000&since=${since}&filter=${encodeURIComponent(JSON.stringify(filter))}`, undefined, m.access_token).catch(() => undefined);
          if (!res || res.status !== 200) continue;
          since = res.body.next_batch;
          onEvents(res.body.rooms?.join?.[roomId]?.timeline?.events ?? []);
        }
      })();
    }
  }
  await new Promise((r) => setTimeout(r, 2000));
  for (let i = 0; i < MESSAGES; i++) {
    const body = `${transport}-${i}`;
    const txn = `${transport}-${i}-${Date.now()}`;
    const res = await call(server.baseUrl, "PUT", `/_matrix/client/v3/rooms/${encodeURIComponent(roomId)}/send/m.room.message/${txn}`, { msgtype: "m.text", body }, sender.access_token);
    sentAt.set(body, performance.now());
    if (res.status !== 200) throw new Error(`send failed: ${JSON.stringify(res.body)}`);
    const deadline = Date.now() + 30_000;
    while ((arrived.get(body) ?? 0) < MEMBERS && Date.now() < deadline) await new Promise((r) => setTimeout(r, 5));
  }
  const rss = rssMiB(server.child.pid!);
  for (const s of stop) s();
  latencies.sort((a, b) => a - b);
  const delivered = [...arrived.values()].reduce((a, b) => a + b, 0);
  console.log(`fan-out over ${transport === "stream" ? "the WebSocket stream" : "/sync long-polling"}: ${MEMBERS} members, ${MESSAGES} messages, ${delivered}/${MEMBERS * MESSAGES} deliveries`);
  console.log(`  send-200 to delivery: p50 ${percentile(latencies, 50).toFixed(1)} ms, p99 ${percentile(latencies, 99).toFixed(1)} ms; server peak RSS ${rss.peak.toFixed(0)} MiB`);
}

async function main(): Promise<void> {
  await withThrowawayDatabase("myelin_bench", async (url) => {
    console.log(`node ${process.version}, ${(await import("node:os")).cpus().length} CPUs; server and clients on this machine`);
    const env = { DATABASE_URL: url };
    const config = { stream: { max_connections_per_user: IDLE + 10, max_connections: IDLE + MEMBERS + 100 }, database: { pool_max: 20 } };
    const transports = String(args.transports).split(",").filter((t): t is "stream" | "sync" => t === "stream" || t === "sync");
    for (const transport of transports) {
      // A fresh server per transport, so peak RSS belongs to that transport alone.
      const server = await startServer({ env, config });
      try {
        if (transport === "stream" && IDLE > 0) await idleConnections(server);
        await fanOut(server, transport);
      } finally {
        await server.stop();
      }
    }
  });
  agent.destroy();
}

runBench(main);
