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
import { authLookupKeys, authState, authStateAt, lookupIn } from "./auth-state.ts";
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

/**
 * Builds, signs, checks and stores one event in `roomId` (which must exist
 * and be locked by the caller). The create event of a new room goes through
 * `persistCreateEvent` instead.
 */
export async function appendLocalEvent(tx: Queryable, signer: Signer, roomId: string, version: RoomVersion, draft: EventDraft, now: number): Promise<Appended> {
  const keys = authLookupKeys({ type: draft.type, stateKey: draft.stateKey, sender: draft.sender, content: draft.content }, version);
  let extremities = await getForwardExtremities(tx, roomId);
  const parents = await getEventsByIds(tx, extremities);
  let stateBefore = await getCurrentStateGroup(tx, roomId);
  let state;
  if (extremities.length > MAX_LOCAL_PREV_EVENTS) {
    // Too many forks to cite them all: the state before is that of the chosen parents.
    const chosen = [...parents.values()].sort((a, b) => b.depth - a.depth).slice(0, Math.min(MAX_LOCAL_PREV_EVENTS, MAX_PREV_EVENTS));
    extremities = chosen.map((e) => e.eventId);
    stateBefore = await stateBeforeParents(tx, version, roomId, chosen);
    state = await authStateAt(tx, stateBefore, keys);
  } else {
    state = await authState(tx, roomId, keys);
  }
  const selected = authEventTypes({ type: draft.type, stateKey: draft.stateKey, sender: draft.sender, content: draft.content }, version);
  const authEvents = selected.map(([t, s]) => state.get(stateTuple(t, s))).filter((e): e is RoomEvent => e !== undefined);

  let event: RoomEvent;
  try {
    const unsigned = toWirePdu(
      {
        roomId,
        sender: draft.sender,
        type: draft.type,
        ...(draft.stateKey !== undefined ? { stateKey: draft.stateKey } : {}),
        content: draft.content,
        originServerTs: now,
        depth: depthAfter(parents.values()),
        prevEventIds: extremities,
        authEventIds: authEvents.map((e) => e.eventId),
        ...(draft.redacts !== undefined ? { redacts: draft.redacts } : {}),
        ...(version.eventFormat === "v1" ? { eventId: `$${randomLocalpart()}:${signer.serverName}` } : {}),
      },
      version,
    );
    event = parsePdu(signEvent(unsigned, signer.serverName, signer.key, version), version);
  } catch (err) {
    protocolToMatrix(err);
  }

  const independent = checkStateIndependentAuthRules(event, authEvents, version, state.get(stateTuple("m.room.create", "")));
  if (!independent.allowed) throw forbidden(independent.reason);
  const decision = checkAuthRules(event, lookupIn(state), version);
  if (!decision.allowed) throw forbidden(decision.reason);
  await validateLocalRelation(tx, roomId, draft);
  if (draft.type === "m.room.redaction" && draft.redacts !== undefined) {
    await checkLocalRedaction(tx, roomId, draft.sender, draft.redacts, lookupIn(state), version);
  }
  return persistEvent(tx, version, { event, outcome: ACCEPTED, outlier: false, stateBefore, missingPrevIds: [], mayHaveChildren: false });
}

/** The create event of a new room; the `rooms` row must already exist (v12: under the derived id). */
export async function persistCreateEvent(tx: Queryable, event: RoomEvent, version: RoomVersion): Promise<Appended> {
  const decision = checkStateIndependentAuthRules(event, [], version);
  if (!decision.allowed) throw forbidden(decision.reason);
  return persistEvent(tx, version, { event, outcome: ACCEPTED, outlier: false, stateBefore: null, missingPrevIds: [], mayHaveChildren: false });
}
