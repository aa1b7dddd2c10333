// P3 initial sync: one user in R rooms, each with M members who each sent
// some of its K messages; the time to the whole response of a first /sync
// with Element's profile (lazy-loaded members, timeline limit 20) and with
// full member state. Each request comes from a fresh device (a new login), so
// neither server answers from a per-device response cache; the variants
// alternate, and the first of each is the coldest.
import { measured, settle, type Context, type Measured } from "../lib/context.ts";
import { createRooms, ELEMENT_FILTER, FULL_STATE_FILTER, joinRoom, login, sendMessage, syncPath, type User } from "../lib/matrix.ts";
import { mapLimit } from "../lib/pool.ts";
import { round } from "../lib/stats.ts";

export interface InitialSync {
  ms: number;
  bytes: number;
  rooms: number;
  stateEvents: number;
  timelineEvents: number;
}

export interface P3Variant {
  filter: unknown;
  requests: InitialSync[];
  /** The first request, and the median of all. */
  firstMs: number;
  medianMs: number;
  bytes: number;
}

export interface P3Figures {
  rooms: number;
  members: number;
  messagesPerRoom: number;
  setupSeconds: number;
  lazy: P3Variant;
  full: P3Variant;
}

function count(body: any, part: "state" | "timeline"): number {
  let n = 0;
  for (const room of Object.values(body?.rooms?.join ?? {}) as any[]) n += room?.[part]?.events?.length ?? 0;
  return n;
}

function variant(filter: unknown, requests: InitialSync[]): P3Variant {
  const sorted = requests.map((r) => r.ms).sort((a, b) => a - b);
  return { filter, requests, firstMs: requests[0]!.ms, medianMs: sorted[Math.floor((sorted.length - 1) / 2)]!, bytes: requests[0]!.bytes };
}

export async function runP3(ctx: Context): Promise<Measured<P3Figures>> {
  const { rooms: roomCount, members, messages, repeats } = ctx.scale.p3;
  const user = ctx.users.p3;
  // The other members: P5's users, who follow nothing while P3 runs.
  const others = ctx.users.p5.slice(1, members);
  const setupStart = performance.now();
  const created = await createRooms(ctx.http, user, roomCount);
  const rooms = await mapLimit(created, 8, async (roomId) => {
    for (const member of others) await joinRoom(ctx.http, member, roomId);
    for (let n = 0; n < messages; n++) await sendMessage(ctx.http, others[n % others.length] ?? user, roomId, `history ${n}`);
    return roomId;
  });
  const setupSeconds = (performance.now() - setupStart) / 1000;
  ctx.log(`P3 setup: ${rooms.length} rooms x ${members} members x ${messages} messages in ${setupSeconds.toFixed(1)} s`);
  // Logins (password hashing) stay outside the measured window.
  const devices: User[] = [];
  for (let i = 0; i < 2 * repeats; i++) devices.push(await login(ctx.http, user.user_id));
  await settle(ctx.server.pid, ctx.scale.settleMs);

  const run = await measured(ctx, async () => {
    const lazy: InitialSync[] = [];
    const full: InitialSync[] = [];
    for (let i = 0; i < repeats; i++) {
      for (const [filter, into] of [[ELEMENT_FILTER, lazy], [FULL_STATE_FILTER, full]] as const) {
        const device = devices.pop()!;
        const start = performance.now();
        const res = await ctx.http.request("GET", syncPath({ filter, timeoutMs: 0 }), { token: device.access_token, timeoutMs: 600_000 });
        const ms = round(performance.now() - start);
        if (res.status !== 200) throw new Error(`initial sync answered ${res.status}: ${JSON.stringify(res.body).slice(0, 200)}`);
        into.push({ ms, bytes: res.bytes, rooms: Object.keys(res.body?.rooms?.join ?? {}).length, stateEvents: count(res.body, "state"), timelineEvents: count(res.body, "timeline") });
      }
    }
    return { rooms: roomCount, members, messagesPerRoom: messages, setupSeconds, lazy: variant(ELEMENT_FILTER, lazy), full: variant(FULL_STATE_FILTER, full) };
  });
  const f = run.result;
  ctx.log(
    `P3: lazy members first ${f.lazy.firstMs} ms, median ${f.lazy.medianMs} ms (${(f.lazy.bytes / 1024).toFixed(0)} KiB, ${f.lazy.requests[0]!.rooms} rooms); ` +
      `full state first ${f.full.firstMs} ms, median ${f.full.medianMs} ms (${(f.full.bytes / 1024).toFixed(0)} KiB)`,
  );
  return run;
}
