// Prometheus metrics. Each server instance owns a registry (no global default
// registry) so tests and multi-listener processes never share counters.
import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from "prom-client";
import type { CacheStats } from "../lib/bounded-cache.ts";

export interface PoolStats {
  totalCount: number;
  idleCount: number;
  waitingCount: number;
  statements: number;
}

export interface Metrics {
  registry: Registry;
  /** A gauge read from `read` at scrape time (e.g. open WebSocket streams). */
  gauge(name: string, help: string, read: () => number): void;
  /** Entries, bound and evictions of each in-process cache, labelled `cache`, read at scrape time. */
  watchCaches(read: () => readonly CacheStats[]): void;
  httpRequests: Counter<"method" | "route" | "status">;
  httpDuration: Histogram<"method" | "route" | "status">;
}

export function createMetrics(poolStats: () => PoolStats | undefined): Metrics {
  const registry = new Registry();
  registry.setDefaultLabels({ service: "myelin" });
  collectDefaultMetrics({ register: registry });
  const httpRequests = new Counter({
    name: "myelin_http_requests_total",
    help: "HTTP requests answered, by route template and status",
    labelNames: ["method", "route", "status"] as const,
    registers: [registry],
  });
  const httpDuration = new Histogram({
    name: "myelin_http_request_duration_seconds",
    help: "Time to answer an HTTP request, by route template and status",
    labelNames: ["method", "route", "status"] as const,
    buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30],
    registers: [registry],
  });
  const poolGauge = (name: string, help: string, pick: (s: PoolStats) => number) =>
    new Gauge({
      name,
      help,
      registers: [registry],
      collect() {
        const stats = poolStats();
        if (stats) this.set(pick(stats));
      },
    });
  poolGauge("myelin_db_pool_connections", "PostgreSQL connections open in the pool", (s) => s.totalCount);
  poolGauge("myelin_db_pool_idle_connections", "PostgreSQL connections idle in the pool", (s) => s.idleCount);
  poolGauge("myelin_db_pool_waiting_clients", "Queries waiting for a PostgreSQL connection", (s) => s.waitingCount);
  let statementsReported = 0;
  new Counter({
    name: "myelin_db_statements_total",
    help: "SQL statements sent to PostgreSQL (pool queries, and each statement of a transaction)",
    registers: [registry],
    collect() {
      const stats = poolStats();
      if (!stats) return;
      this.inc(stats.statements - statementsReported);
      statementsReported = stats.statements;
    },
  });
  const gauge = (name: string, help: string, read: () => number) => {
    new Gauge({
      name,
      help,
      registers: [registry],
      collect() {
        this.set(read());
      },
    });
  };
  const watchCaches = (read: () => readonly CacheStats[]) => {
    const perCache = (name: string, help: string, pick: (c: CacheStats) => number) =>
      new Gauge({
        name,
        help,
        labelNames: ["cache"] as const,
        registers: [registry],
        collect() {
          for (const cache of read()) this.set({ cache: cache.name }, pick(cache));
        },
      });
    perCache("myelin_cache_entries", "Entries held by an in-process cache", (c) => c.size);
    perCache("myelin_cache_max_entries", "The bound of an in-process cache (config caches.*)", (c) => c.maxEntries);
    new Counter({
      name: "myelin_cache_evictions_total",
      help: "Entries an in-process cache dropped to stay within its bound",
      labelNames: ["cache"] as const,
      registers: [registry],
      collect() {
        this.reset();
        for (const cache of read()) this.inc({ cache: cache.name }, cache.evictions);
      },
    });
  };
  return { registry, httpRequests, httpDuration, gauge, watchCaches };
}
