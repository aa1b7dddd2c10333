// The in-memory view of a room event (PDU) that auth rules, state resolution
// and the event pipeline share. The wire form differs between event formats
// (v1/v2 carry event_id and [id, hashes] pairs; v3+ carry bare ids; v12 create
// events have no room_id), so it is parsed once into this normalised shape and
// the original kept in `pdu` for signing checks, redaction and forwarding.
import type { JsonObject } from "./json.ts";

export interface RoomEvent {
  readonly eventId: string;
  readonly roomId: string;
  readonly type: string;
  /** undefined for non-state events; "" is a valid state key. */
  readonly stateKey: string | undefined;
  readonly sender: string;
  readonly content: JsonObject;
  readonly originServerTs: number;
  readonly depth: number;
  readonly prevEventIds: readonly string[];
  readonly authEventIds: readonly string[];
  /** The redacted event: top-level `redacts` before v11, `content.redacts` from v11. */
  readonly redacts: string | undefined;
  /** The event as it travels over federation (signed form, without `unsigned` changes). */
  readonly pdu: JsonObject;
}

/** Key of a state entry: type and state key joined by NUL, which neither may contain. */
export type StateKeyTuple = string;

export function stateTuple(type: string, stateKey: string): StateKeyTuple {
  return `${type}\u0000${stateKey}`;
}

export function splitStateTuple(tuple: StateKeyTuple): [type: string, stateKey: string] {
  const at = tuple.indexOf("\u0000");
  return [tuple.slice(0, at), tuple.slice(at + 1)];
}

/** A room state: (type, state_key) → event id. */
export type StateMap = ReadonlyMap<StateKeyTuple, string>;

export function isStateEvent(event: Pick<RoomEvent, "stateKey">): boolean {
  return event.stateKey !== undefined;
}
