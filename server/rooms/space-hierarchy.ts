// The space hierarchy walk (spec: "Spaces", GET /hierarchy): depth-first over
// m.space.child state, local rooms only until federation exists. The walk is
// resumable: its stack and the rooms already seen are the pagination state.
import type { JsonObject } from "../protocol/json.ts";
import type { Queryable } from "../storage/database.ts";
import { getEventsByNids, type StoredEvent } from "../storage/events.ts";
import { roomStats, spaceChildEventNids } from "../storage/public-rooms.ts";
import { maySeeRoomSummary, roomSummaryEntry } from "./room-summary.ts";
import { pduOf } from "./stored-event.ts";

export interface WalkState {
  /** Rooms still to visit; the next one is last (a stack, as Synapse keeps it). */
  stack: Array<{ roomId: string; depth: number }>;
  /** Rooms already visited, so loops and repeated children end. */
  processed: string[];
}

export interface WalkOptions {
  userId: string;
  suggestedOnly: boolean;
  /** null: no limit beyond the rooms themselves (loops end at processed rooms). */
  maxDepth: number | null;
  limit: number;
}

export function startWalk(roomId: string): WalkState {
  return { stack: [{ roomId, depth: 0 }], processed: [] };
}

/** A valid `order`: at most 50 characters from space (0x20) to tilde (0x7E). */
function orderOf(content: JsonObject): string | undefined {
  const order = content.order;
  return typeof order === "string" && order.length <= 50 && /^[\x20-\x7E]*$/.test(order) ? order : undefined;
}

function compareStrings(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

/**
 * Children in the spec's order: valid `order` keys first (by code point), then
 * by event timestamp, then by room ID. Children without a `via` list have been
 * removed from the space (e.g. by redaction) and are left out.
 */
export function orderedChildren(events: readonly StoredEvent[], suggestedOnly: boolean): StoredEvent[] {
  const contentOf = (e: StoredEvent) => (e.redactedBy === null ? ((pduOf(e).content ?? {}) as JsonObject) : {});
  const valid = events.filter((e) => {
    const content = contentOf(e);
    const via = content.via;
    if (!Array.isArray(via) || via.length === 0 || !via.every((v) => typeof v === "string")) return false;
    return !suggestedOnly || content.suggested === true;
  });
  return valid.sort((a, b) => {
    const oa = orderOf(contentOf(a));
    const ob = orderOf(contentOf(b));
    if (oa !== undefined && ob === undefined) return -1;
    if (oa === undefined && ob !== undefined) return 1;
    if (oa !== undefined && ob !== undefined && oa !== ob) return compareStrings(oa, ob);
    if (a.originServerTs !== b.originServerTs) return a.originServerTs - b.originServerTs;
    return compareStrings(a.stateKey ?? "", b.stateKey ?? "");
  });
}

/** Stripped state with origin_server_ts, as children_state carries it. */
export function strippedChild(e: StoredEvent): JsonObject {
  return { type: e.type, state_key: e.stateKey ?? "", content: (pduOf(e).content ?? {}) as JsonObject, sender: e.sender, origin_server_ts: e.originServerTs };
}

/**
 * Visits rooms until `limit` entries are produced or the stack is empty.
 * Rooms this server does not hold, and rooms the user may not see, are
 * skipped together with their children. Mutates and returns `state`.
 */
export async function walkHierarchy(q: Queryable, state: WalkState, options: WalkOptions): Promise<{ rooms: JsonObject[]; state: WalkState }> {
  const processed = new Set(state.processed);
  const rooms: JsonObject[] = [];
  while (state.stack.length > 0 && rooms.length < options.limit) {
    const { roomId, depth } = state.stack.pop()!;
    if (processed.has(roomId)) continue;
    processed.add(roomId);
    const stats = (await roomStats(q, [roomId])).get(roomId);
    if (!stats || !(await maySeeRoomSummary(q, stats, options.userId))) continue;
    let children: StoredEvent[] = [];
    if (stats.roomType === "m.space") {
      const events = await getEventsByNids(q, await spaceChildEventNids(q, roomId));
      children = orderedChildren([...events.values()], options.suggestedOnly);
    }
    rooms.push({ ...roomSummaryEntry(stats), children_state: children.map(strippedChild) });
    if (options.maxDepth === null || depth < options.maxDepth) {
      // Reversed onto the stack so the first child is visited next.
      for (const child of [...children].reverse()) state.stack.push({ roomId: child.stateKey!, depth: depth + 1 });
    }
  }
  state.processed = [...processed];
  return { rooms, state };
}
