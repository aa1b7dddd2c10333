// P6 state growth: bytes the database grows by per 1,000 state changes in a
// large room (P5's room at its largest size): topic changes one after the
// other by the room's creator. The total is pg_database_size before and
// after; the tables that grew most show where the bytes went.
import type { Context } from "../lib/context.ts";
import { measured, settle, type Measured } from "../lib/context.ts";
import { sendState } from "../lib/matrix.ts";
import { Samples, type LatencySummary } from "../lib/stats.ts";
import { tableBytes } from "../lib/table-sizes.ts";

export interface P6Figures {
  members: number;
  changes: number;
  bytesAdded: number;
  bytesPer1000Changes: number;
  /** The tables (with their indexes and TOAST) that grew most, bytes. */
  topTables: Array<{ table: string; bytes: number }>;
  send: LatencySummary;
}

export async function runP6(ctx: Context, roomId: string, members: number): Promise<Measured<P6Figures>> {
  const changes = ctx.scale.p6.changes;
  const sender = ctx.users.p5[0]!;
  await settle(ctx.server.pid, ctx.scale.settleMs);
  const tablesBefore = await tableBytes(ctx.server.databaseName);
  const before = await ctx.probe.databaseBytes(ctx.server.databaseName);
  const run = await measured(ctx, async () => {
    const send = new Samples();
    for (let i = 0; i < changes; i++) {
      const start = performance.now();
      await sendState(ctx.http, sender, roomId, "m.room.topic", "", { topic: `Topic number ${i} of the state-growth benchmark` });
      send.add(performance.now() - start);
    }
    return send.summary();
  });
  await settle(ctx.server.pid, ctx.scale.settleMs);
  const after = await ctx.probe.databaseBytes(ctx.server.databaseName);
  const tablesAfter = await tableBytes(ctx.server.databaseName);
  const growth = [...tablesAfter].map(([table, bytes]) => ({ table, bytes: bytes - (tablesBefore.get(table) ?? 0) })).filter((t) => t.bytes > 0);
  growth.sort((a, b) => b.bytes - a.bytes);
  const bytesAdded = after - before;
  const figures: P6Figures = { members, changes, bytesAdded, bytesPer1000Changes: Math.round((bytesAdded / changes) * 1000), topTables: growth.slice(0, 8), send: run.result };
  ctx.log(`P6: ${changes} state changes with ${members} members: +${(bytesAdded / 1024).toFixed(0)} KiB (${(figures.bytesPer1000Changes / 1024 / 1024).toFixed(2)} MiB per 1,000); top ${growth.slice(0, 3).map((t) => `${t.table} ${(t.bytes / 1024).toFixed(0)} KiB`).join(", ")}`);
  return { ...run, result: figures };
}
