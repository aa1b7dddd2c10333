// State snapshots seen as whole states: resolving several into one (state
// resolution, cached by its inputs), and the difference between two. A
// resolved state is stored as a delta against the input it differs least
// from, never as a full copy (storage/state.ts bounds the chain length).
import { stateTuple, type StateKeyTuple } from "../../protocol/events.ts";
import type { RoomVersion } from "../../protocol/room-versions.ts";
import { resolveState } from "../../protocol/state-res/index.ts";
import type { Queryable } from "../../storage/database.ts";
import {
  cachedResolution,
  cacheResolution,
  createStateGroup,
  stateGroupDelta,
  stateIdsAtGroups,
  type StateChange,
} from "../../storage/state.ts";
import { storageEventSource } from "./storage-event-source.ts";

interface HeldEntry {
  type: string;
  stateKey: string;
  nid: number;
  eventId: string;
}

type HeldState = Map<StateKeyTuple, HeldEntry>;

async function loadStates(q: Queryable, groups: readonly number[]): Promise<Map<number, HeldState>> {
  const rows = await stateIdsAtGroups(q, groups);
  const out = new Map<number, HeldState>();
  for (const [group, entries] of rows) {
    out.set(group, new Map(entries.map((e) => [stateTuple(e.type, e.stateKey), { type: e.type, stateKey: e.stateKey, nid: e.eventNid, eventId: e.eventId }])));
  }
  return out;
}

/** What turns `from` into `to`: changed or added keys, and removed keys as null. */
function difference(from: ReadonlyMap<StateKeyTuple, HeldEntry>, to: ReadonlyMap<StateKeyTuple, HeldEntry>): StateChange[] {
  const changes: StateChange[] = [];
  for (const [key, entry] of to) if (from.get(key)?.nid !== entry.nid) changes.push({ type: entry.type, stateKey: entry.stateKey, eventNid: entry.nid });
  for (const [key, entry] of from) if (!to.has(key)) changes.push({ type: entry.type, stateKey: entry.stateKey, eventNid: null });
  return changes;
}

/**
 * One snapshot for the state after all of `groups`: the group itself when
 * they agree, else the room version's state resolution, computed once per set
 * of inputs and remembered in state_resolutions.
 */
export async function resolveSnapshots(q: Queryable, version: RoomVersion, roomId: string, groups: readonly number[]): Promise<number> {
  const inputs = [...new Set(groups)].sort((a, b) => a - b);
  if (inputs.length === 0) throw new Error("resolveSnapshots needs at least one snapshot");
  if (inputs.length === 1) return inputs[0]!;
  const cached = await cachedResolution(q, roomId, inputs);
  if (cached !== undefined) return cached;

  const states = await loadStates(q, inputs);
  const stateSets = inputs.map((g) => new Map([...states.get(g)!].map(([key, e]) => [key, e.eventId])));
  const resolved = await resolveState(version, stateSets, storageEventSource(q));
  // Resolution only ever picks events from its inputs, so every ID is in one of them.
  const byId = new Map<string, HeldEntry>();
  for (const state of states.values()) for (const entry of state.values()) byId.set(entry.eventId, entry);
  const result: HeldState = new Map();
  for (const [key, eventId] of resolved) {
    const entry = byId.get(eventId);
    if (entry) result.set(key, entry);
  }

  let parent = inputs[0]!;
  let changes = difference(states.get(parent)!, result);
  for (const group of inputs.slice(1)) {
    const candidate = difference(states.get(group)!, result);
    if (candidate.length < changes.length) {
      parent = group;
      changes = candidate;
    }
  }
  const group = changes.length === 0 ? parent : await createStateGroup(q, roomId, parent, changes);
  await cacheResolution(q, roomId, inputs, group);
  return group;
}

/** The changes from snapshot `from` to snapshot `to`: the delta when `to` is a direct child, else a full comparison. */
export async function snapshotDifference(q: Queryable, from: number | null, to: number): Promise<StateChange[]> {
  if (from === to) return [];
  const delta = await stateGroupDelta(q, to);
  if (delta.prev === from && from !== null) return delta.changes;
  const states = await loadStates(q, from === null ? [to] : [from, to]);
  return difference(from === null ? new Map() : states.get(from)!, states.get(to)!);
}

/** A snapshot holding exactly `entries` (e.g. the state a remote server sent with a join). */
export async function snapshotOf(q: Queryable, roomId: string, entries: ReadonlyArray<{ type: string; stateKey: string; eventNid: number }>): Promise<number> {
  return createStateGroup(q, roomId, null, entries);
}
