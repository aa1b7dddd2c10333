// P4 memory: the server's RSS when idle after start (the runner takes it
// before any workload), its peak during P1 (from P1's windows), and, for our
// server, RSS with N idle authenticated WebSocket streams open (hello
// received, no sync started), spread evenly over P5's users within the
// default per-user limit. The streams go to a fresh process on the same
// database: memory the allocator kept from earlier workloads would otherwise
// absorb them and hide their cost.
import { WebSocket } from "ws";
import { STREAM_PATH, STREAM_SUBPROTOCOL } from "../../server/sync/stream/protocol.ts";
import { settle, type Context } from "../lib/context.ts";
import { mapLimit, sleep } from "../lib/pool.ts";
import { pssMiB, memoryMiB } from "../lib/proc.ts";

export interface IdleFigures {
  rssMiB: number;
  /** Summed PSS of the PostgreSQL backends serving the server's database. */
  postgresPssMiB: number;
  postgresBackends: number;
}

export async function idleMemory(ctx: Pick<Context, "server" | "probe">): Promise<IdleFigures> {
  const pids = await ctx.probe.backendPids(ctx.server.databaseName);
  return { rssMiB: memoryMiB(ctx.server.pid).rss, postgresPssMiB: pids.reduce((sum, pid) => sum + pssMiB(pid), 0), postgresBackends: pids.length };
}

export interface SocketFigures {
  sockets: number;
  rssBeforeMiB: number;
  rssAfterMiB: number;
  kibPerSocket: number;
}

/** The server's default stream.max_connections_per_user, which the bench leaves as it is. */
const PER_USER_LIMIT = 20;

export async function idleSockets(ctx: Context): Promise<SocketFigures> {
  const count = ctx.scale.p4.idleSockets;
  const users = ctx.users.p5;
  if (Math.ceil(count / users.length) > PER_USER_LIMIT) throw new Error(`${count} streams over ${users.length} users exceed ${PER_USER_LIMIT} per user`);
  await ctx.server.restart?.();
  await settle(ctx.server.pid, ctx.scale.settleMs);
  const before = memoryMiB(ctx.server.pid).rss;
  const url = ctx.server.baseUrl.replace(/^http/, "ws") + STREAM_PATH;
  const sockets: WebSocket[] = [];
  try {
    await mapLimit(
      Array.from({ length: count }, (_, i) => i),
      200,
      (i) =>
        new Promise<void>((resolve, reject) => {
          const user = users[i % users.length]!;
          const ws = new WebSocket(url, [STREAM_SUBPROTOCOL], { headers: { Authorization: `Bearer ${user.access_token}` } });
          sockets.push(ws);
          ws.once("message", () => resolve());
          ws.once("error", reject);
          ws.once("close", (code) => reject(new Error(`stream closed with ${code} before hello`)));
        }),
    );
    await sleep(2000);
    const after = memoryMiB(ctx.server.pid).rss;
    const figures = { sockets: count, rssBeforeMiB: before, rssAfterMiB: after, kibPerSocket: ((after - before) * 1024) / count };
    ctx.log(`P4: ${count} idle streams: RSS ${before.toFixed(0)} -> ${after.toFixed(0)} MiB, ${figures.kibPerSocket.toFixed(1)} KiB each`);
    return figures;
  } finally {
    for (const ws of sockets) ws.terminate();
  }
}
