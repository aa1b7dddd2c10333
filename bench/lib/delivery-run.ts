// One measured delivery run, shared by P1 and P5: receiving clients follow
// their sync, the server settles, messages go out open-loop, outstanding
// deliveries drain, the clients stop.
import { measured, settle, type Context, type Measured } from "./context.ts";
import { DeliveryTracker, type DeliveryFigures } from "./delivery.ts";
import { follow, type Transport } from "./followers.ts";
import type { User } from "./matrix.ts";
import { sendOpenLoop, type Target } from "./open-loop.ts";

export interface DeliveryRun extends Measured<DeliveryFigures> {
  transport: Transport;
  /** SQL statements per message sent in the window (sends, wake-ups, syncs, presence: everything). */
  statementsPerMessage: number;
  settledMs: number;
  /** Sync responses (or stream frames) the clients received in the run, failed sync requests, limited room timelines. */
  syncResponses: number;
  syncErrors: number;
  limitedTimelines: number;
}

/** The longest wait for a server that fell behind to finish its backlog before the next run. */
const BACKLOG_MS = 30_000;

/** Long-polling /sync on both servers; ours also over the WebSocket stream. */
export function transportsOf(ctx: Context): Transport[] {
  return ctx.server.kind === "myelin" ? ["long-poll", "stream"] : ["long-poll"];
}

export async function deliveryRun(
  ctx: Context,
  p: { label: string; transport: Transport; users: readonly User[]; ratePerSecond: number; seconds: number; target: (n: number) => Target },
): Promise<DeliveryRun> {
  const tracker = new DeliveryTracker(`${p.label} ${p.transport}`);
  const followers = await follow({ baseUrl: ctx.server.baseUrl, users: p.users, transport: p.transport, onEvents: (userId, events) => tracker.received(userId, events) });
  try {
    // Every client's first sync sets it online; let that presence wave pass before measuring.
    const settledMs = await settle(ctx.server.pid, ctx.scale.settleMs);
    const before = { responses: followers.responses, errors: followers.errors, limited: followers.limited };
    const run = await measured(ctx, async () => {
      await sendOpenLoop({ http: ctx.http, ratePerSecond: p.ratePerSecond, seconds: p.seconds, tracker, target: p.target });
      await tracker.drain(ctx.scale.drainMs);
      return tracker.figures();
    });
    const figures = run.result;
    const statementsPerMessage = run.sql.statements / Math.max(1, figures.messages);
    ctx.log(
      `${p.label} ${p.transport}: ${figures.delivered}/${figures.expected} delivered, ${figures.unanswered} sends unanswered, p50 ${figures.latency.p50} ms, p99 ${figures.latency.p99} ms, max ${figures.latency.max} ms; ` +
        `peak RSS ${run.server.peakRssMiB.toFixed(0)} MiB, CPU ${run.server.cpuSeconds.toFixed(1)} s (PostgreSQL ${run.postgres.cpuSeconds.toFixed(1)} s), ${statementsPerMessage.toFixed(0)} statements/message, ` +
        `${followers.responses - before.responses} sync responses, ${followers.errors - before.errors} errors, ${followers.limited - before.limited} limited, ${figures.sendErrors} failed sends`,
    );
    return { ...run, transport: p.transport, statementsPerMessage, settledMs, syncResponses: followers.responses - before.responses, syncErrors: followers.errors - before.errors, limitedTimelines: followers.limited - before.limited };
  } finally {
    await followers.stop();
    // A server that fell behind is still working through the backlog; the next run starts after it.
    await settle(ctx.server.pid, BACKLOG_MS);
  }
}
