// What every workload gets: the server under test, the shared probes, the
// scale, the user pools, and `measured()`, which wraps a workload's window in
// the server's /proc figures, its PostgreSQL backends' figures and the SQL
// statements counted by the proxy.
import type { JsonHttp } from "./http.ts";
import type { User } from "./matrix.ts";
import { countsBetween, type CountingProxy, type DatabaseCounts, type StatementFigures } from "./pg-counter.ts";
import { sleep } from "./pool.ts";
import { activityBetween, backendWindow, settleStats, type BackendWindow, type DatabaseActivity, type PostgresProbe } from "./postgres.ts";
import { cpuSeconds, processWindow, type ProcessWindow } from "./proc.ts";
import type { Scale } from "./scale.ts";
import type { BenchServer } from "./servers.ts";

export interface Context {
  server: BenchServer;
  http: JsonHttp;
  probe: PostgresProbe;
  proxy: CountingProxy;
  scale: Scale;
  users: { p1: User[]; p5: User[]; p3: User };
  log(message: string): void;
}

export interface Measured<T> {
  result: T;
  /** The server process (peak RSS, CPU time) during the window. */
  server: ProcessWindow;
  /** The PostgreSQL backends serving its database, counted apart. */
  postgres: BackendWindow;
  /** Statements the server sent PostgreSQL in the window (through the counting proxy), without the per-statement detail. */
  sql: Omit<DatabaseCounts, "byStatement"> & { roundTrips: number; roundTripMs: number };
  /** The statement shapes that took the most time in the window (the proxy's poor man's pg_stat_statements). */
  topStatements: Array<StatementFigures & { statement: string }>;
  /** pg_stat_database deltas for its database: transactions, rows read and written. */
  activity: DatabaseActivity;
  /** CPU seconds the bench itself used in the window, on the same two cores: the load generator and the counting proxy. */
  harnessCpu: { loadGenerator: number; proxy: number };
}

export async function measured<T>(ctx: Pick<Context, "server" | "probe" | "proxy">, work: () => Promise<T>): Promise<Measured<T>> {
  const database = ctx.server.databaseName;
  const countsBefore = await ctx.proxy.snapshot();
  const activityBefore = await ctx.probe.activity(database);
  const serverWindow = processWindow(ctx.server.pid);
  const ownCpu = process.cpuUsage();
  const proxyCpu = cpuSeconds(ctx.proxy.pid);
  const pgWindow = backendWindow(ctx.probe, database);
  const result = await work();
  const server = serverWindow.end();
  const own = process.cpuUsage(ownCpu);
  const harnessCpu = { loadGenerator: (own.user + own.system) / 1e6, proxy: cpuSeconds(ctx.proxy.pid) - proxyCpu };
  const postgres = await pgWindow.end();
  const countsAfter = await ctx.proxy.snapshot();
  await settleStats();
  const activityAfter = await ctx.probe.activity(database);
  const { byStatement, ...sql } = countsBetween(countsBefore, countsAfter, database);
  const shapes = Object.entries(byStatement).map(([statement, f]) => ({ statement, ...f, ms: Math.round(f.ms) }));
  const roundTrips = shapes.reduce((n, s) => n + s.calls, 0);
  const roundTripMs = shapes.reduce((n, s) => n + s.ms, 0);
  const topStatements = shapes.sort((a, b) => b.ms - a.ms).slice(0, TOP_STATEMENTS);
  return { result, server, postgres, sql: { ...sql, roundTrips, roundTripMs }, topStatements, activity: activityBetween(activityBefore, activityAfter), harnessCpu };
}

const TOP_STATEMENTS = 12;

/**
 * Waits until the server has used under 5% of a core for half a second (its
 * background work after a setup step is done), or `maxMs` passed. Returns how
 * long it waited.
 */
export async function settle(pid: number, maxMs: number): Promise<number> {
  const start = performance.now();
  while (performance.now() - start < maxMs) {
    const before = cpuSeconds(pid);
    await sleep(500);
    if (cpuSeconds(pid) - before < 0.025) break;
  }
  return Math.round(performance.now() - start);
}
