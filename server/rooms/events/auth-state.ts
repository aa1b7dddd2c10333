// The state an event is authorised against, as (type, state_key) → event
// lookups: the room's current state, or the state at a snapshot. Both load only
// the keys the auth rules of that event can look at.
import { authEventTypes, type AuthEventKey } from "../../protocol/auth-events-selection.ts";
import type { AuthStateLookup } from "../../protocol/auth-rules.ts";
import { stateTuple, type RoomEvent } from "../../protocol/events.ts";
import type { RoomVersion } from "../../protocol/room-versions.ts";
import type { Queryable } from "../../storage/database.ts";
import { getEventsByNids } from "../../storage/events.ts";
import { currentState, stateAtGroups, type StateEntry } from "../../storage/state.ts";
import { toRoomEvent } from "../stored-event.ts";

export type AuthState = Map<string, RoomEvent>;

/** Keys the auth rules may read for this event: its auth event selection plus the create event (v12 reads it without listing it). */
export function authLookupKeys(event: Pick<RoomEvent, "type" | "stateKey" | "sender" | "content">, version: RoomVersion): AuthEventKey[] {
  const keys = authEventTypes(event, version);
  if (!keys.some(([t]) => t === "m.room.create")) keys.push(["m.room.create", ""]);
  return keys;
}

async function toAuthState(q: Queryable, entries: readonly StateEntry[]): Promise<AuthState> {
  const stored = await getEventsByNids(q, entries.map((e) => e.eventNid));
  const out: AuthState = new Map();
  for (const entry of entries) {
    const row = stored.get(entry.eventNid);
    if (row) out.set(stateTuple(entry.type, entry.stateKey), toRoomEvent(row));
  }
  return out;
}

/** Current-state events for the given keys. */
export async function authState(q: Queryable, roomId: string, keys: ReadonlyArray<readonly [string, string]>): Promise<AuthState> {
  return toAuthState(q, await currentState(q, roomId, keys));
}

/** The events of a snapshot for the given keys (an empty state for no snapshot). */
export async function authStateAt(q: Queryable, group: number | null, keys: ReadonlyArray<readonly [string, string]>): Promise<AuthState> {
  if (group === null) return new Map();
  return toAuthState(q, (await stateAtGroups(q, [group], keys)).get(group) ?? []);
}

export function lookupIn(state: AuthState): AuthStateLookup {
  return (type, stateKey) => state.get(stateTuple(type, stateKey));
}
