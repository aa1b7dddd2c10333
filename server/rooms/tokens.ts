// Pagination and sync tokens. Sync tokens name a position in the global
// stream ("s42"); /messages tokens name a place in a room's topological
// order ("t7_42": depth 7, stream position 42). Both are opaque to clients.
import { MatrixError } from "../errors/matrix-error.ts";

export interface TopologicalToken {
  depth: number;
  stream: number;
}

export function syncToken(position: number): string {
  return `s${position}`;
}

export function parseSyncToken(token: string): number {
  const m = /^s(\d+)$/.exec(token);
  if (!m) throw new MatrixError(400, "M_INVALID_PARAM", "Invalid sync token");
  return Number(m[1]);
}

export function topologicalToken(t: TopologicalToken): string {
  return `t${t.depth}_${t.stream}`;
}

/**
 * A `t` token, or an `s` token (from /sync) which the caller maps to a room
 * position. The stream part of a `t` token may be negative: backfilled
 * events sit before every live position.
 */
export function parsePaginationToken(token: string): TopologicalToken | { stream: number } {
  const t = /^t(\d+)_(-?\d+)$/.exec(token);
  if (t) return { depth: Number(t[1]), stream: Number(t[2]) };
  const s = /^s(\d+)$/.exec(token);
  if (s) return { stream: Number(s[1]) };
  throw new MatrixError(400, "M_INVALID_PARAM", "Invalid pagination token");
}
