// After an event joins the timeline: the forward extremities move, and the
// room's current state becomes the resolution of the states after them, with
// room_current_state and room_memberships following. The changes are returned
// so the commit can give them the event's stream position and sync can send
// state that changed through resolution, not only through the event itself.
import { stateTuple, type StateKeyTuple } from "../../protocol/events.ts";
import type { RoomVersion } from "../../protocol/room-versions.ts";
import type { Queryable } from "../../storage/database.ts";
import { advanceForwardExtremities, eventsWithChildren, getEventsByIds, getEventsByNids, getForwardExtremities } from "../../storage/events.ts";
import {
  deleteCurrentState,
  deleteMembership,
  getCurrentStateGroup,
  setCurrentStateGroup,
  setCurrentStates,
  setMemberships,
  type StateChange,
  type StateEntry,
} from "../../storage/state.ts";
import { pduOf } from "../stored-event.ts";
import { resolveSnapshots, snapshotDifference } from "./snapshots.ts";

export interface TimelineEvent {
  eventId: string;
  roomId: string;
  prevEventIds: readonly string[];
  stateGroupAfter: number;
  /** False for an event we just built: nothing can name it as a parent yet. */
  mayHaveChildren: boolean;
  /**
   * Set for a local event built on every extremity: the current state it was
   * built on. The event is then the only extremity, and nothing is looked up.
   */
  replacesCurrentState?: number | null;
}

/** Applies state changes to room_current_state and room_memberships (positions are set at commit). */
async function applyToCurrentState(tx: Queryable, roomId: string, changes: readonly StateChange[]): Promise<void> {
  // One change per key, the last winning (as applying them one by one would leave it).
  const byKey = new Map<StateKeyTuple, StateChange>();
  for (const change of changes) byKey.set(stateTuple(change.type, change.stateKey), change);
  const memberNids = [...byKey.values()].filter((c) => c.type === "m.room.member" && c.eventNid !== null).map((c) => c.eventNid!);
  const members = await getEventsByNids(tx, memberNids);
  const entries: StateEntry[] = [];
  const memberships: Array<{ userId: string; membership: string; eventNid: number }> = [];
  for (const change of byKey.values()) {
    if (change.eventNid === null) {
      await deleteCurrentState(tx, roomId, change.type, change.stateKey);
      if (change.type === "m.room.member") await deleteMembership(tx, roomId, change.stateKey);
      continue;
    }
    entries.push({ type: change.type, stateKey: change.stateKey, eventNid: change.eventNid });
    if (change.type !== "m.room.member") continue;
    const membership = (pduOf(members.get(change.eventNid)!).content as { membership?: unknown } | undefined)?.membership;
    if (typeof membership === "string") memberships.push({ userId: change.stateKey, membership, eventNid: change.eventNid });
  }
  // A whole state at once after a remote join: one statement per table, not one per entry.
  await setCurrentStates(tx, roomId, entries, 0);
  await setMemberships(tx, roomId, memberships, 0);
}

/** Moves extremities and current state past a new timeline event; returns the current-state changes. */
export async function advanceCurrentState(tx: Queryable, version: RoomVersion, event: TimelineEvent): Promise<StateChange[]> {
  const { roomId } = event;
  // An event that arrives after one of its children is not an extremity.
  const hasChildren = event.mayHaveChildren && (await eventsWithChildren(tx, [event.eventId])).size > 0;
  await advanceForwardExtremities(tx, roomId, hasChildren ? undefined : event.eventId, event.prevEventIds);
  if (event.replacesCurrentState !== undefined) {
    if (event.stateGroupAfter === event.replacesCurrentState) return [];
    return moveCurrentState(tx, roomId, event.replacesCurrentState, event.stateGroupAfter);
  }
  const extremities = await getForwardExtremities(tx, roomId);

  let target: number;
  if (extremities.length === 1 && extremities[0] === event.eventId) {
    target = event.stateGroupAfter;
  } else {
    const held = await getEventsByIds(tx, extremities);
    const groups = [...held.values()].map((e) => e.stateGroupAfter).filter((g): g is number => g !== null);
    if (groups.length === 0) return [];
    target = await resolveSnapshots(tx, version, roomId, groups);
  }
  const current = await getCurrentStateGroup(tx, roomId);
  if (target === current) return [];
  return moveCurrentState(tx, roomId, current, target);
}

async function moveCurrentState(tx: Queryable, roomId: string, current: number | null, target: number): Promise<StateChange[]> {
  const changes = await snapshotDifference(tx, current, target);
  await applyToCurrentState(tx, roomId, changes);
  await setCurrentStateGroup(tx, roomId, target);
  return changes;
}
