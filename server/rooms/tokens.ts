// Pagination and sync tokens. Sync tokens name a position in the global
// stream ("s42"); /messages tokens name a place in a room's topological
// order ("t7_42": depth 7, stream position 42). Both are opaque to clients.
// A sync token may also say that to-device messages were delivered only up
// to an earlier position ("s42_d37"), when more were waiting than one
// response carries.
import { MatrixError } from "../errors/matrix-error.ts";

export interface TopologicalToken {
  depth: number;
  stream: number;
}

export interface SyncPosition {
  position: number;
  /** To-device messages were delivered up to here (below `position`); absent: up to `position`. */
  toDevice?: number;
}

const SYNC_TOKEN = /^s(\d+)(?:_d(\d+))?$/;

export function syncToken(position: number, toDevice?: number): string {
  return toDevice === undefined || toDevice >= position ? `s${position}` : `s${position}_d${toDevice}`;
}

export function parseSyncPosition(token: string): SyncPosition {
  const m = SYNC_TOKEN.exec(token);
  if (!m) throw new MatrixError(400, "M_INVALID_PARAM", "Invalid sync token");
  const position = Number(m[1]);
  const toDevice = m[2] === undefined ? undefined : Number(m[2]);
  return toDevice === undefined || toDevice >= position ? { position } : { position, toDevice };
}

/** The stream position of a sync token. */
export function parseSyncToken(token: string): number {
  return parseSyncPosition(token).position;
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
  const s = SYNC_TOKEN.exec(token);
  if (s) return { stream: Number(s[1]) };
  throw new MatrixError(400, "M_INVALID_PARAM", "Invalid pagination token");
}
