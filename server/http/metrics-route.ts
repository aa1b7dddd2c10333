// GET /metrics in Prometheus text format, answered only to the addresses in
// metrics.allow_from (loopback by default): it reveals traffic patterns.
import { forbidden } from "../errors/matrix-error.ts";
import type { Metrics } from "../observability/metrics.ts";
import type { RouteTable } from "./route-table.ts";

export function normaliseAddress(address: string | undefined): string {
  if (!address) return "";
  return address.startsWith("::ffff:") ? address.slice("::ffff:".length) : address;
}

export function registerMetrics(table: RouteTable, metrics: Metrics, allowFrom: readonly string[]): void {
  const allowed = new Set(allowFrom.map(normaliseAddress));
  table.add("GET", "/metrics", async (req, res) => {
    if (!allowed.has(normaliseAddress(req.socket.remoteAddress))) throw forbidden("Metrics are not served to this address");
    res.setHeader("Content-Type", metrics.registry.contentType);
    res.send(await metrics.registry.metrics());
  });
}
