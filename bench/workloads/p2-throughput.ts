// P2 throughput: S senders, each alone in its own room, each sending the next
// message as soon as the server acknowledged the last (closed loop), for a
// fixed time. Both servers answer a send after its transaction committed, so
// acknowledged messages are persisted messages.
import { measured, settle, type Context, type Measured } from "../lib/context.ts";
import { createRoom, sendMessage } from "../lib/matrix.ts";
import { mapLimit } from "../lib/pool.ts";
import { Samples, type LatencySummary } from "../lib/stats.ts";
import { meanMessageBytes } from "../lib/table-sizes.ts";

export interface P2Figures {
  senders: number;
  seconds: number;
  persisted: number;
  messagesPerSecond: number;
  send: LatencySummary;
  errors: number;
  /** Mean stored size of a message event (the signed PDU), bytes: the row size of the PostgreSQL ceiling. */
  meanEventBytes: number;
}

export async function runP2(ctx: Context): Promise<Measured<P2Figures> & { statementsPerMessage: number }> {
  const { senders: count, seconds } = ctx.scale.p2;
  const senders = ctx.users.p1.slice(0, count);
  const rooms = await mapLimit(senders, 4, (user) => createRoom(ctx.http, user));
  await settle(ctx.server.pid, ctx.scale.settleMs);
  const run = await measured(ctx, async () => {
    const latency = new Samples();
    let errors = 0;
    const start = performance.now();
    const deadline = start + seconds * 1000;
    await Promise.all(
      senders.map(async (user, i) => {
        for (let n = 0; performance.now() < deadline; n++) {
          const sent = performance.now();
          try {
            await sendMessage(ctx.http, user, rooms[i]!, `throughput ${i} ${n}`);
            latency.add(performance.now() - sent);
          } catch {
            errors += 1;
          }
        }
      }),
    );
    const elapsed = (performance.now() - start) / 1000;
    const send = latency.summary();
    return { senders: count, seconds: elapsed, persisted: send.count, messagesPerSecond: send.count / elapsed, send, errors, meanEventBytes: 0 };
  });
  run.result.meanEventBytes = await meanMessageBytes(ctx.server.databaseName, ctx.server.kind);
  const statementsPerMessage = run.sql.statements / Math.max(1, run.result.persisted);
  ctx.log(
    `P2: ${run.result.persisted} messages in ${run.result.seconds.toFixed(1)} s = ${run.result.messagesPerSecond.toFixed(0)}/s, send p50 ${run.result.send.p50} ms, p99 ${run.result.send.p99} ms; ` +
      `CPU ${run.server.cpuSeconds.toFixed(1)} s (PostgreSQL ${run.postgres.cpuSeconds.toFixed(1)} s), ${statementsPerMessage.toFixed(1)} statements/message`,
  );
  return { ...run, statementsPerMessage };
}
