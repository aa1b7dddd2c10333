// Local events: built from a client's draft on top of the room's forward
// extremities, hashed and signed, then checked and persisted by the same
// pipeline as remote events. For a local event the state before it is the
// current state (its prev_events are all the extremities, whose resolution is
// the current state), so a failed check is the client's 403, not a stored
// rejection.
import { randomBytes } from "node:crypto";
import { forbidden, MatrixError, tooLarge } from "../../errors/matrix-error.ts";
import { authEventTypes } from "../../protocol/auth-events-selection.ts";
import { checkAuthRules, checkStateIndependentAuthRules } from "../../protocol/auth-rules.ts";
import { ProtocolError } from "../../protocol/errors.ts";
import { MAX_PREV_EVENTS, parsePdu, toWirePdu } from "../../protocol/event-format.ts";
import { stateTuple, type RoomEvent } from "../../protocol/events.ts";
import { signEvent } from "../../protocol/hashes.ts";
import type { JsonObject } from "../../protocol/json.ts";
import type { RoomVersion } from "../../protocol/room-versions.ts";
import type { SigningKey } from "../../protocol/signing.ts";
import type { Queryable } from "../../storage/database.ts";
import { getEventsByIds, getForwardExtremities, type StoredEvent } from "../../storage/events.ts";
import { getCurrentStateGroup } from "../../storage/state.ts";
import { checkLocalRedaction } from "../redactions.ts";
import { validateLocalRelation } from "../relations.ts";
import { authLookupKeys, authState, authStateAt, lookupIn, type AuthState } from "./auth-state.ts";
import { ACCEPTED, persistEvent, type Appended } from "./persist.ts";
import { stateBeforeParents } from "./state-before.ts";

export interface EventDraft {
  type: string;
  stateKey?: string | undefined;
  sender: string;
  content: JsonObject;
  redacts?: string | undefined;
}

export interface Signer {
  serverName: string;
  key: SigningKey;
}

/** Synapse's cap on prev_events of a new event: the deepest extremities are kept. */
const MAX_LOCAL_PREV_EVENTS = 10;

/** Depth is 1 + the deepest parent, kept within what canonical JSON can carry. */
function depthAfter(parents: Iterable<StoredEvent>): number {
  const deepest = Math.max(0, ...[...parents].map((p) => p.depth));
  return Math.min(deepest + 1, Number.MAX_SAFE_INTEGER);
}

function protocolToMatrix(err: unknown): never {
  if (err instanceof ProtocolError) {
    if (err.code === "too_large") throw tooLarge(err.message);
    throw new MatrixError(400, "M_BAD_JSON", err.message);
  }
  throw err;
}

function randomLocalpart(): string {
  return randomBytes(12).toString("base64url").replace(/[-_]/g, "x");
}

/** Where a new event of ours goes in the DAG: its parents, depth, the state before it and the auth events it cites. */
export interface EventBasis {
  prevEventIds: string[];
  /** The parents are every forward extremity, so the state before is the current state. */
  allExtremities: boolean;
  depth: number;
  stateBefore: number | null;
  /** The auth-relevant part of the state before the event. */
  state: AuthState;
  authEvents: RoomEvent[];
}

/**
 * The basis of a new event on the room's forward extremities: all of them
 * (then the state before is the current state), or the deepest 10 when there
 * are more (then it is their resolution).
 */
export async function eventBasis(tx: Queryable, roomId: string, version: RoomVersion, draft: Pick<EventDraft, "type" | "stateKey" | "sender" | "content">): Promise<EventBasis> {
  const fields = { type: draft.type, stateKey: draft.stateKey, sender: draft.sender, content: draft.content };
  const keys = authLookupKeys(fields, version);
  let extremities = await getForwardExtremities(tx, roomId);
  const parents = await getEventsByIds(tx, extremities);
  let stateBefore = await getCurrentStateGroup(tx, roomId);
  let state: AuthState;
  const allExtremities = extremities.length <= MAX_LOCAL_PREV_EVENTS;
  if (!allExtremities) {
    // Too many forks to cite them all: the state before is that of the chosen parents.
    const chosen = [...parents.values()].sort((a, b) => b.depth - a.depth).slice(0, Math.min(MAX_LOCAL_PREV_EVENTS, MAX_PREV_EVENTS));
    extremities = chosen.map((e) => e.eventId);
    stateBefore = await stateBeforeParents(tx, version, roomId, chosen);
    state = await authStateAt(tx, stateBefore, keys);
  } else {
    state = await authState(tx, roomId, keys);
  }
  const selected = authEventTypes(fields, version);
  const authEvents = selected.map(([t, s]) => state.get(stateTuple(t, s))).filter((e): e is RoomEvent => e !== undefined);
  const depth = depthAfter(extremities.map((id) => parents.get(id)).filter((p): p is StoredEvent => p !== undefined));
  return { prevEventIds: extremities, allExtremities, depth, stateBefore, state, authEvents };
}

/** The wire form of a new event on `basis`, before hashes and signatures. */
export function unsignedEvent(roomId: string, version: RoomVersion, draft: EventDraft, basis: EventBasis, now: number, serverName: string): JsonObject {
  return toWirePdu(
    {
      roomId,
      sender: draft.sender,
      type: draft.type,
      ...(draft.stateKey !== undefined ? { stateKey: draft.stateKey } : {}),
      content: draft.content,
      originServerTs: now,
      depth: basis.depth,
      prevEventIds: basis.prevEventIds,
      authEventIds: basis.authEvents.map((e) => e.eventId),
      ...(draft.redacts !== undefined ? { redacts: draft.redacts } : {}),
      ...(version.eventFormat === "v1" ? { eventId: newV1EventId(serverName) } : {}),
    },
    version,
  );
}

/** A v1-format event ID, which names the server that made the event. */
export function newV1EventId(serverName: string): string {
  return `$${randomLocalpart()}:${serverName}`;
}

/** The auth checks of a new event against the state it is built on; a refusal is the client's 403. */
export function checkNewEvent(event: RoomEvent, basis: EventBasis, version: RoomVersion): void {
  const independent = checkStateIndependentAuthRules(event, basis.authEvents, version, basis.state.get(stateTuple("m.room.create", "")));
  if (!independent.allowed) throw forbidden(independent.reason);
  const decision = checkAuthRules(event, lookupIn(basis.state), version);
  if (!decision.allowed) throw forbidden(decision.reason);
}

/** Builds, hashes and signs a local event and checks it; nothing is stored. */
export async function buildLocalEvent(tx: Queryable, signer: Signer, roomId: string, version: RoomVersion, draft: EventDraft, now: number): Promise<{ event: RoomEvent; basis: EventBasis }> {
  const basis = await eventBasis(tx, roomId, version, draft);
  let event: RoomEvent;
  try {
    event = parsePdu(signEvent(unsignedEvent(roomId, version, draft, basis, now, signer.serverName), signer.serverName, signer.key, version), version);
  } catch (err) {
    protocolToMatrix(err);
  }
  checkNewEvent(event, basis, version);
  await validateLocalRelation(tx, roomId, draft);
  if (draft.type === "m.room.redaction" && draft.redacts !== undefined) {
    await checkLocalRedaction(tx, roomId, draft.sender, draft.redacts, lookupIn(basis.state), version);
  }
  return { event, basis };
}

/**
 * Builds, signs, checks and stores one event in `roomId` (which must exist
 * and be locked by the caller). The create event of a new room goes through
 * `persistCreateEvent` instead.
 */
export async function appendLocalEvent(tx: Queryable, signer: Signer, roomId: string, version: RoomVersion, draft: EventDraft, now: number): Promise<Appended> {
  const { event, basis } = await buildLocalEvent(tx, signer, roomId, version, draft, now);
  return persistEvent(tx, version, {
    event,
    outcome: ACCEPTED,
    outlier: false,
    stateBefore: basis.stateBefore,
    missingPrevIds: [],
    mayHaveChildren: false,
    federateOut: true,
    onAllExtremities: basis.allExtremities,
  });
}

/** The create event of a new room; the `rooms` row must already exist (v12: under the derived id). */
export async function persistCreateEvent(tx: Queryable, event: RoomEvent, version: RoomVersion): Promise<Appended> {
  const decision = checkStateIndependentAuthRules(event, [], version);
  if (!decision.allowed) throw forbidden(decision.reason);
  return persistEvent(tx, version, {
    event,
    outcome: ACCEPTED,
    outlier: false,
    stateBefore: null,
    missingPrevIds: [],
    mayHaveChildren: false,
    federateOut: true,
    onAllExtremities: true,
  });
}
