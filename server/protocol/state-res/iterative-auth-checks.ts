// The iterative auth checks of state resolution v2: apply events in order,
// each one only if the auth rules allow it against the state built so far.
// A key the rules need that is not in that state is taken from the event's
// own auth_events (unless that auth event was rejected).
import type { RoomEvent, StateKeyTuple } from "../events.ts";
import { stateTuple } from "../events.ts";
import type { RoomVersion } from "../room-versions.ts";
import type { EventLookup } from "./power.ts";
import { CREATE } from "./power.ts";

// The shape of checkAuthRules in ../auth-rules.ts, restated structurally so
// this module does not depend on that file's other contents.
export type AuthStateLookup = (type: string, stateKey: string) => RoomEvent | undefined;
export type AuthDecision = { allowed: true } | { allowed: false; rule: string; reason: string };
export type AuthCheck = (event: RoomEvent, state: AuthStateLookup, version: RoomVersion) => AuthDecision;

export interface AuthCheckContext {
  readonly version: RoomVersion;
  readonly check: AuthCheck;
  /** Every event the checks may touch: the listed events, the state's events and their auth events. */
  readonly events: EventLookup;
  readonly rejected: ReadonlySet<string>;
  /** The room's create event; v12 events do not cite it, so the lookup supplies it. */
  readonly roomCreate: RoomEvent | undefined;
}

/** Applies `order` to `state` in place and returns it. */
export function iterativeAuthChecks(
  order: readonly string[],
  state: Map<StateKeyTuple, string>,
  context: AuthCheckContext,
): Map<StateKeyTuple, string> {
  const { events, rejected, version } = context;
  for (const id of order) {
    const event = events.get(id);
    if (event === undefined || event.stateKey === undefined) continue;

    const lookup: AuthStateLookup = (type, stateKey) => {
      const current = state.get(stateTuple(type, stateKey));
      if (current !== undefined) {
        const found = events.get(current);
        if (found !== undefined) return found;
      }
      for (const authId of event.authEventIds) {
        const authEvent = events.get(authId);
        if (authEvent !== undefined && authEvent.type === type && authEvent.stateKey === stateKey && !rejected.has(authId)) {
          return authEvent;
        }
      }
      if (type === CREATE && stateKey === "" && version.roomIdFromCreateEvent) return context.roomCreate;
      return undefined;
    };

    if (context.check(event, lookup, version).allowed) state.set(stateTuple(event.type, event.stateKey), id);
  }
  return state;
}
