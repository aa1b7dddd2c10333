// GET /health (liveness: the process answers) and GET /ready (readiness: the
// stores it needs answer). Load balancers route on /ready.
import type { RouteTable } from "./route-table.ts";

export interface ReadinessProbes {
  postgres: () => Promise<boolean>;
  redis: () => Promise<boolean>;
}

export function registerHealth(table: RouteTable, probes: ReadinessProbes, isDraining: () => boolean): void {
  table.add("GET", "/health", (_req, res) => {
    res.json({ status: "ok" });
  });
  table.add("GET", "/ready", async (_req, res) => {
    const [postgres, redis] = await Promise.all([probes.postgres(), probes.redis()]);
    const ready = postgres && redis && !isDraining();
    res.status(ready ? 200 : 503).json({ status: ready ? "ready" : "unavailable", postgres, redis, draining: isDraining() });
  });
}
