// The state before an event is the state after its prev_events (spec "Room
// state"): the parent's snapshot when there is one parent or they agree, the
// room version's resolution of their snapshots otherwise.
import type { RoomVersion } from "../../protocol/room-versions.ts";
import type { Queryable } from "../../storage/database.ts";
import { getEventsByIds, type StoredEvent } from "../../storage/events.ts";
import { resolveSnapshots, snapshotOf } from "./snapshots.ts";

export interface Parents {
  /** prev_events held with a known state (not outliers). */
  held: StoredEvent[];
  /** prev_events we lack, or hold only as outliers. */
  missing: string[];
}

export async function loadParents(q: Queryable, prevEventIds: readonly string[]): Promise<Parents> {
  const stored = await getEventsByIds(q, prevEventIds);
  const held: StoredEvent[] = [];
  const missing: string[] = [];
  for (const id of prevEventIds) {
    const event = stored.get(id);
    if (event && !event.outlier && event.stateGroupAfter !== null) held.push(event);
    else missing.push(id);
  }
  return { held, missing };
}

/** The snapshot of the state before an event whose parents are all held. */
export async function stateBeforeParents(q: Queryable, version: RoomVersion, roomId: string, parents: readonly StoredEvent[]): Promise<number> {
  return resolveSnapshots(
    q,
    version,
    roomId,
    parents.map((p) => p.stateGroupAfter!),
  );
}

/**
 * The state before an event some of whose parents we lack in the DAG: each
 * lacking parent's state comes from its origin server (/state_ids plus the
 * parent itself, stored as outliers by the caller) and is resolved together
 * with the snapshots of the parents we hold.
 */
export async function stateBeforeWithSuppliedStates(
  q: Queryable,
  version: RoomVersion,
  roomId: string,
  held: readonly StoredEvent[],
  supplied: ReadonlyArray<ReadonlyArray<{ type: string; stateKey: string; eventNid: number }>>,
): Promise<number> {
  const groups = held.map((p) => p.stateGroupAfter!);
  for (const entries of supplied) groups.push(await snapshotOf(q, roomId, entries));
  return resolveSnapshots(q, version, roomId, groups);
}
