// GET /_matrix/client/versions
// https://spec.matrix.org/v1.19/client-server-api/#get_matrixclientversions
import type { RouteTable } from "../http/route-table.ts";

/** Spec versions whose client-server API this server aims to serve. */
export const SUPPORTED_SPEC_VERSIONS = [
  "r0.6.1",
  "v1.1",
  "v1.2",
  "v1.3",
  "v1.4",
  "v1.5",
  "v1.6",
  "v1.7",
  "v1.8",
  "v1.9",
  "v1.10",
  "v1.11",
  "v1.12",
  "v1.13",
  "v1.14",
  "v1.15",
  "v1.16",
  "v1.17",
  "v1.18",
  "v1.19",
];

/** Unstable features in the org.myelin namespace (and MSCs), true once served. */
export const UNSTABLE_FEATURES: Record<string, boolean> = {
  // The WebSocket sync stream (documentation-living/11005-websocket-plan.md).
  "org.myelin.stream": true,
  // Dehydrated devices (documentation-living/11030-end-to-end-encryption-plan.md).
  "org.matrix.msc3814": true,
};

export function registerVersions(table: RouteTable): void {
  table.add("GET", "/_matrix/client/versions", (_req, res) => {
    res.json({ versions: SUPPORTED_SPEC_VERSIONS, unstable_features: UNSTABLE_FEATURES });
  });
}
