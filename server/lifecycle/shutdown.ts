// Graceful shutdown on SIGTERM/SIGINT: stop accepting connections, let
// in-flight requests finish within the grace period, then close the pools.
// The whole sequence is bounded so the process exits within 10 s.
import type { Server } from "node:http";
import type { Logger } from "../observability/logger.ts";

export interface ShutdownPlan {
  servers: Server[];
  /** Closed in order after the listeners drained (database pool, Redis, embedded PostgreSQL). */
  closers: Array<() => Promise<unknown>>;
  graceMs: number;
  log: Logger;
  /** Runs first, e.g. telling WebSocket clients to reconnect elsewhere. */
  beforeClose?: () => Promise<void>;
  onDraining: () => void;
}

const HARD_LIMIT_MS = 10_000;

export function installShutdown(plan: ShutdownPlan): void {
  let started = false;
  const shutdown = (signal: string) => {
    if (started) return;
    started = true;
    plan.onDraining();
    plan.log.info({ signal }, "shutting down: draining in-flight requests");
    const hardStop = setTimeout(() => {
      plan.log.error("shutdown took too long; exiting");
      process.exit(1);
    }, HARD_LIMIT_MS);
    hardStop.unref();
    void drainAndClose(plan).then(
      () => {
        plan.log.info("shutdown complete");
        plan.log.flush?.();
        process.exit(0);
      },
      (err: unknown) => {
        plan.log.error({ err }, "error during shutdown");
        process.exit(1);
      },
    );
  };
  process.on("SIGTERM", () => shutdown("SIGTERM"));
  process.on("SIGINT", () => shutdown("SIGINT"));
}

async function drainAndClose(plan: ShutdownPlan): Promise<void> {
  await plan.beforeClose?.().catch(() => undefined);
  const closing = plan.servers.map(
    (server) =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeIdleConnections();
      }),
  );
  // Keep-alive connections become idle once their in-flight request is answered.
  const closeIdle = setInterval(() => {
    for (const server of plan.servers) server.closeIdleConnections();
  }, 200);
  const forceAfterGrace = setTimeout(() => {
    plan.log.warn("grace period over; closing remaining connections");
    for (const server of plan.servers) server.closeAllConnections();
  }, plan.graceMs);
  await Promise.all(closing);
  clearTimeout(forceAfterGrace);
  clearInterval(closeIdle);
  for (const close of plan.closers) await close().catch(() => undefined);
}
