// Reverse topological power ordering: the lexicographically smallest
// topological order of a set of events under their auth_events DAG, earliest
// first, where "smallest" means higher sender power, then earlier
// origin_server_ts, then smaller event id. Kahn's algorithm with a heap of
// the ready events gives it in O((V + E) log V).
import type { RoomEvent } from "../events.ts";
import type { PowerLevels } from "../power-levels.ts";
import type { RoomVersion } from "../room-versions.ts";
import { BinaryHeap } from "./heap.ts";
import type { EventLookup } from "./power.ts";
import { senderPowerLevel } from "./power.ts";

interface Vertex {
  readonly event: RoomEvent;
  readonly power: number;
  /** Auth events of this vertex that are in the set and not yet emitted. */
  pending: number;
  readonly citedBy: Vertex[];
}

function comparePower(a: Vertex, b: Vertex): number {
  if (a.power !== b.power) return a.power > b.power ? -1 : 1;
  if (a.event.originServerTs !== b.event.originServerTs) return a.event.originServerTs - b.event.originServerTs;
  return a.event.eventId < b.event.eventId ? -1 : a.event.eventId > b.event.eventId ? 1 : 0;
}

/**
 * Sorts `ids` (all present in `events`). An edge joins two of them when one
 * cites the other directly in auth_events; callers pass a set closed under
 * the edges they care about.
 */
export function reverseTopologicalPowerOrder(
  ids: Iterable<string>,
  events: EventLookup,
  version: RoomVersion,
  roomCreate: RoomEvent | undefined,
): string[] {
  const vertices = new Map<string, Vertex>();
  const parsedPowerLevels = new Map<string, PowerLevels>();
  for (const id of ids) {
    const event = events.get(id);
    if (event === undefined || vertices.has(id)) continue;
    vertices.set(id, { event, power: senderPowerLevel(event, events, version, roomCreate, parsedPowerLevels), pending: 0, citedBy: [] });
  }
  for (const vertex of vertices.values()) {
    for (const authId of new Set(vertex.event.authEventIds)) {
      const dependency = vertices.get(authId);
      if (dependency === undefined) continue;
      vertex.pending++;
      dependency.citedBy.push(vertex);
    }
  }

  const ready = new BinaryHeap<Vertex>(comparePower);
  for (const vertex of vertices.values()) if (vertex.pending === 0) ready.push(vertex);
  const order: string[] = [];
  for (let vertex = ready.pop(); vertex !== undefined; vertex = ready.pop()) {
    order.push(vertex.event.eventId);
    for (const dependent of vertex.citedBy) {
      if (--dependent.pending === 0) ready.push(dependent);
    }
  }
  // Events on an auth cycle (impossible with hashed ids) never become ready and are left out.
  return order;
}
