// P1 latency: U users, every one in the same R rooms, all following their
// sync (long-polling /sync; ours also over the WebSocket stream); messages
// sent open-loop at a fixed rate, round-robin over the rooms, each from
// another member; send-to-delivery latency at every receiving client.
import type { Context } from "../lib/context.ts";
import { deliveryRun, transportsOf, type DeliveryRun } from "../lib/delivery-run.ts";
import { createRooms, joinAll } from "../lib/matrix.ts";

export interface P1Result {
  setupSeconds: number;
  runs: DeliveryRun[];
}

export async function runP1(ctx: Context): Promise<P1Result> {
  const { users: count, rooms: roomCount, ratePerSecond, seconds } = ctx.scale.p1;
  const users = ctx.users.p1.slice(0, count);
  const setupStart = performance.now();
  const rooms = await createRooms(ctx.http, users[0]!, roomCount);
  await joinAll(ctx.http, users.slice(1), rooms);
  const setupSeconds = (performance.now() - setupStart) / 1000;
  ctx.log(`P1 setup: ${roomCount} rooms of ${count} members in ${setupSeconds.toFixed(1)} s`);
  const runs: DeliveryRun[] = [];
  for (const transport of transportsOf(ctx)) {
    runs.push(
      await deliveryRun(ctx, {
        label: "P1",
        transport,
        users,
        ratePerSecond,
        seconds,
        // Rooms round-robin; the sender walks the members with a stride, so senders vary.
        target: (n) => ({ user: users[(n * 37) % users.length]!, roomId: rooms[n % rooms.length]!, receivers: users.length - 1 }),
      }),
    );
  }
  return { setupSeconds, runs };
}
