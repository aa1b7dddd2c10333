// The event closest to a timestamp in one direction (spec:
// timestamp_to_event, client and federation): candidates in timestamp order,
// the first one the asker may see wins, and invisible ones are skipped rather
// than revealed. Work is bounded when much history is hidden.
import { invalidParam, missingParam, notFound } from "../errors/matrix-error.ts";
import type { Queryable } from "../storage/database.ts";
import { getEventsByNids, type StoredEvent } from "../storage/events.ts";
import { eventsNearTimestamp, type TimestampPosition } from "../storage/timestamps.ts";

const BATCH = 50;
/** Candidates examined before answering 404. */
const MAX_BATCHES = 10;

/** `ts` and `dir` of the query, with the spec's errors. */
export function parseTimestampQuery(tsText: string | undefined, dir: string | undefined): { ts: number; dir: "f" | "b" } {
  if (tsText === undefined) throw missingParam("ts is required");
  if (!/^\d{1,16}$/.test(tsText)) throw invalidParam("ts must be a timestamp in milliseconds");
  if (dir === undefined) throw missingParam("dir is required");
  if (dir !== "f" && dir !== "b") throw invalidParam("dir must be f or b");
  return { ts: Number(tsText), dir };
}

/** The closest event `visible` lets through, or 404 M_NOT_FOUND. */
export async function closestEvent(
  q: Queryable,
  roomId: string,
  ts: number,
  dir: "f" | "b",
  visible: (events: StoredEvent[]) => Promise<StoredEvent[]>,
): Promise<{ event_id: string; origin_server_ts: number }> {
  let after: TimestampPosition = dir === "f" ? { ts, depth: -1, stream: -1 } : { ts, depth: Number.MAX_SAFE_INTEGER, stream: Number.MAX_SAFE_INTEGER };
  for (let batch = 0; batch < MAX_BATCHES; batch++) {
    const candidates = await eventsNearTimestamp(q, roomId, dir, after, BATCH);
    if (candidates.length === 0) break;
    const stored = await getEventsByNids(q, candidates.map((c) => c.nid));
    const ordered = candidates.map((c) => stored.get(c.nid)).filter((e): e is StoredEvent => e !== undefined);
    const [found] = await visible(ordered);
    if (found) return { event_id: found.eventId, origin_server_ts: found.originServerTs };
    after = candidates[candidates.length - 1]!;
  }
  throw notFound(`Unable to find event from ${ts} in ${dir === "f" ? "forward" : "backward"} direction`);
}
