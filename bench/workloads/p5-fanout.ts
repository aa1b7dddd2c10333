// P5 fan-out: one room that grows to each size in turn (50, 200, 1,000
// members), every member following it (long-poll; ours also the stream), one
// member sending at a fixed rate. Delivery latency and SQL statements per
// message: the cost of waking and answering every member.
import type { Context } from "../lib/context.ts";
import { deliveryRun, transportsOf, type DeliveryRun } from "../lib/delivery-run.ts";
import { createRoom, joinRoom } from "../lib/matrix.ts";

export interface P5Size {
  members: number;
  joinSeconds: number;
  runs: DeliveryRun[];
}

export interface P5Result {
  roomId: string;
  sizes: P5Size[];
}

export async function runP5(ctx: Context): Promise<P5Result> {
  const { sizes, ratePerSecond, seconds } = ctx.scale.p5;
  const users = ctx.users.p5;
  const sender = users[0]!;
  const roomId = await createRoom(ctx.http, sender);
  let members = 1;
  const result: P5Result = { roomId, sizes: [] };
  for (const size of sizes) {
    const joinStart = performance.now();
    // One room: joins go one at a time, as its members would arrive.
    for (; members < size; members++) await joinRoom(ctx.http, users[members]!, roomId);
    const joinSeconds = (performance.now() - joinStart) / 1000;
    ctx.log(`P5: room at ${size} members (joins took ${joinSeconds.toFixed(1)} s)`);
    const runs: DeliveryRun[] = [];
    for (const transport of transportsOf(ctx)) {
      runs.push(
        await deliveryRun(ctx, {
          label: `P5 ${size}`,
          transport,
          users: users.slice(0, size),
          ratePerSecond,
          seconds,
          target: () => ({ user: sender, roomId, receivers: size - 1 }),
        }),
      );
    }
    result.sizes.push({ members: size, joinSeconds, runs });
  }
  return result;
}
