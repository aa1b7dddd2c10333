// Signed PDUs from a pretend remote server, for tests that drive the event
// pipeline the way federation will: real hashes and signatures, prev_events
// chosen by the test (so it can fork the DAG), auth events selected from the
// state the event claims to follow, read from the real database.
import { randomBytes } from "node:crypto";
import { authEventTypes } from "../../server/protocol/auth-events-selection.ts";
import { parsePdu, toWirePdu } from "../../server/protocol/event-format.ts";
import { stateTuple, type RoomEvent } from "../../server/protocol/events.ts";
import { signEvent } from "../../server/protocol/hashes.ts";
import type { JsonObject } from "../../server/protocol/json.ts";
import type { RoomVersion } from "../../server/protocol/room-versions.ts";
import { generateSigningKey, type SigningKey } from "../../server/protocol/signing.ts";
import { authState, authStateAt } from "../../server/rooms/events/auth-state.ts";
import type { Queryable } from "../../server/storage/database.ts";
import { getEventsByIds } from "../../server/storage/events.ts";

export interface RemoteServer {
  name: string;
  key: SigningKey;
}

export function remoteServer(name: string): RemoteServer {
  return { name, key: generateSigningKey() };
}

export interface RemoteEventSpec {
  roomId: string;
  sender: string;
  type: string;
  stateKey?: string;
  content: JsonObject;
  prevEventIds: string[];
  /** Where auth events are selected from: the (single) parent's state (default) or the current state. */
  authFrom?: "parent" | "current";
  /** Replaces the selected auth events. */
  authEventIds?: string[];
  redacts?: string;
  originServerTs?: number;
}

export async function buildRemoteEvent(q: Queryable, version: RoomVersion, server: RemoteServer, spec: RemoteEventSpec): Promise<RoomEvent> {
  const parents = await getEventsByIds(q, spec.prevEventIds);
  const depth = Math.max(0, ...[...parents.values()].map((p) => p.depth)) + 1;
  let authEventIds = spec.authEventIds;
  if (authEventIds === undefined) {
    const keys = authEventTypes({ type: spec.type, stateKey: spec.stateKey, sender: spec.sender, content: spec.content }, version);
    const parent = parents.get(spec.prevEventIds[0]!);
    const state = spec.authFrom === "current" || !parent ? await authState(q, spec.roomId, keys) : await authStateAt(q, parent.stateGroupAfter, keys);
    authEventIds = keys.map(([t, s]) => state.get(stateTuple(t, s))?.eventId).filter((id): id is string => id !== undefined);
  }
  const wire = toWirePdu(
    {
      roomId: spec.roomId,
      sender: spec.sender,
      type: spec.type,
      ...(spec.stateKey !== undefined ? { stateKey: spec.stateKey } : {}),
      content: spec.content,
      originServerTs: spec.originServerTs ?? Date.now(),
      depth,
      prevEventIds: spec.prevEventIds,
      authEventIds,
      ...(spec.redacts !== undefined ? { redacts: spec.redacts } : {}),
      ...(version.eventFormat === "v1" ? { eventId: `$${randomBytes(9).toString("hex")}:${server.name}` } : {}),
    },
    version,
  );
  return parsePdu(signEvent(wire, server.name, server.key, version), version);
}
