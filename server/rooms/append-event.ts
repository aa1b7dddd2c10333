// The local event pipeline: build → hash and sign → auth-check → persist.
// Runs inside the caller's transaction with the room lock held, so the
// extremities and state it reads cannot change underneath it. Stream
// positions are assigned by `commitAppended` as the last step before COMMIT.
import { randomBytes } from "node:crypto";
import { forbidden, MatrixError, tooLarge } from "../errors/matrix-error.ts";
import { authEventTypes } from "../protocol/auth-events-selection.ts";
import { checkAuthRules, checkStateIndependentAuthRules } from "../protocol/auth-rules.ts";
import { ProtocolError } from "../protocol/errors.ts";
import { parsePdu, toWirePdu } from "../protocol/event-format.ts";
import { stateTuple, type RoomEvent } from "../protocol/events.ts";
import { signEvent } from "../protocol/hashes.ts";
import type { JsonObject } from "../protocol/json.ts";
import type { RoomVersion } from "../protocol/room-versions.ts";
import type { SigningKey } from "../protocol/signing.ts";
import type { Queryable } from "../storage/database.ts";
import {
  advanceForwardExtremities,
  allocateStreamPositions,
  getEventsByIds,
  getEventsByNids,
  getForwardExtremities,
  insertEvent,
  setStreamOrdering,
} from "../storage/events.ts";
import { createStateGroup, currentState, getCurrentStateGroup, setCurrentState, setCurrentStateGroup, setMembership } from "../storage/state.ts";
import { evaluatePushActions, storePushActions } from "./push-actions.ts";
import { applyRedaction, checkLocalRedaction } from "./redactions.ts";
import { indexRelation, validateLocalRelation } from "./relations.ts";
import { toRoomEvent } from "./stored-event.ts";

export interface EventDraft {
  type: string;
  stateKey?: string | undefined;
  sender: string;
  content: JsonObject;
  redacts?: string | undefined;
}

export interface Appended {
  nid: number;
  event: RoomEvent;
}

export interface Signer {
  serverName: string;
  key: SigningKey;
}

/** Keys the auth rules may look at beyond the selected auth events. */
function lookupKeys(draft: EventDraft, version: RoomVersion): Array<readonly [string, string]> {
  const keys = authEventTypes({ type: draft.type, stateKey: draft.stateKey, sender: draft.sender, content: draft.content }, version);
  if (!keys.some(([t]) => t === "m.room.create")) keys.push(["m.room.create", ""]);
  return keys;
}

/** Loads the current-state events the auth rules need, by state tuple. */
export async function authState(tx: Queryable, roomId: string, keys: ReadonlyArray<readonly [string, string]>): Promise<Map<string, RoomEvent>> {
  const entries = await currentState(tx, roomId, keys);
  const stored = await getEventsByNids(tx, entries.map((e) => e.eventNid));
  const out = new Map<string, RoomEvent>();
  for (const entry of entries) {
    const row = stored.get(entry.eventNid);
    if (row) out.set(stateTuple(entry.type, entry.stateKey), toRoomEvent(row));
  }
  return out;
}

function protocolToMatrix(err: unknown): never {
  if (err instanceof ProtocolError) {
    if (err.code === "too_large") throw tooLarge(err.message);
    throw new MatrixError(400, "M_BAD_JSON", err.message);
  }
  throw err;
}

/**
 * Builds, signs, checks and stores one event in `roomId` (which must exist
 * and be locked by the caller). The create event of a new room goes through
 * `appendCreateEvent` instead.
 */
export async function appendEvent(tx: Queryable, signer: Signer, roomId: string, version: RoomVersion, draft: EventDraft, now: number): Promise<Appended> {
  const keys = lookupKeys(draft, version);
  const state = await authState(tx, roomId, keys);
  const extremities = await getForwardExtremities(tx, roomId);
  const parents = await getEventsByIds(tx, extremities);
  const depth = Math.max(0, ...[...parents.values()].map((p) => p.depth)) + 1;
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
        depth,
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

  const createEvent = state.get(stateTuple("m.room.create", ""));
  const independent = checkStateIndependentAuthRules(event, authEvents, version, createEvent);
  if (!independent.allowed) throw forbidden(independent.reason);
  const decision = checkAuthRules(event, (type, stateKey) => state.get(stateTuple(type, stateKey)), version);
  if (!decision.allowed) throw forbidden(decision.reason);
  await validateLocalRelation(tx, roomId, draft);
  if (draft.type === "m.room.redaction" && draft.redacts !== undefined) {
    await checkLocalRedaction(tx, roomId, draft.sender, draft.redacts, (type, stateKey) => state.get(stateTuple(type, stateKey)), version);
  }

  return persistAccepted(tx, roomId, event, extremities);
}

async function persistAccepted(tx: Queryable, roomId: string, event: RoomEvent, prevEventIds: readonly string[]): Promise<Appended> {
  const groupBefore = await getCurrentStateGroup(tx, roomId);
  const nid = await insertEvent(tx, {
    eventId: event.eventId,
    roomId,
    type: event.type,
    stateKey: event.stateKey,
    sender: event.sender,
    originServerTs: event.originServerTs,
    depth: event.depth,
    stateGroupBefore: groupBefore,
    pdu: JSON.stringify(event.pdu),
    prevEventIds: event.prevEventIds,
    authEventIds: event.authEventIds,
  });
  if (event.stateKey !== undefined) {
    const group = await createStateGroup(tx, roomId, groupBefore, [{ type: event.type, stateKey: event.stateKey, eventNid: nid }]);
    await setCurrentStateGroup(tx, roomId, group);
    // Current state moves now so later events of the same transaction see it;
    // commitAppended replaces the placeholder position with the real one.
    await updateDerivedState(tx, event, nid, 0);
  }
  await advanceForwardExtremities(tx, roomId, event.eventId, prevEventIds);
  await indexRelation(tx, event, nid);
  return { nid, event };
}

/** The create event of a new room; the `rooms` row must already exist (v12: under the derived id). */
export async function appendCreateEvent(tx: Queryable, event: RoomEvent, version: RoomVersion): Promise<Appended> {
  const decision = checkStateIndependentAuthRules(event, [], version);
  if (!decision.allowed) throw forbidden(decision.reason);
  return persistAccepted(tx, event.roomId, event, []);
}

/**
 * The last step before COMMIT: assigns stream positions, then updates current
 * state, memberships, redactions and push actions. Returns the highest position.
 */
export async function commitAppended(tx: Queryable, version: RoomVersion, appended: readonly Appended[]): Promise<number> {
  // Push rules are evaluated before the stream head is locked: that lock serialises every writer.
  const push = await evaluatePushActions(tx, version, appended);
  const positions = await allocateStreamPositions(tx, appended.length);
  for (const [i, { nid, event }] of appended.entries()) {
    const position = positions[i]!;
    await setStreamOrdering(tx, nid, position);
    if (event.stateKey !== undefined) await updateDerivedState(tx, event, nid, position);
    if (event.type === "m.room.redaction" && event.redacts !== undefined) await applyRedactionNow(tx, event, version);
  }
  // Same transaction: the unread count changes in the same /sync as the event.
  await storePushActions(tx, push, positions);
  return positions[positions.length - 1]!;
}

/** Current state and the membership table follow an accepted state event. */
async function updateDerivedState(tx: Queryable, event: RoomEvent, nid: number, position: number): Promise<void> {
  await setCurrentState(tx, event.roomId, { type: event.type, stateKey: event.stateKey!, eventNid: nid }, position);
  if (event.type === "m.room.member" && typeof event.content.membership === "string") {
    await setMembership(tx, event.roomId, event.stateKey!, event.content.membership, nid, position);
  }
}

/** The redaction's effect is judged against the state it was sent in. */
async function applyRedactionNow(tx: Queryable, redaction: RoomEvent, version: RoomVersion): Promise<void> {
  const state = await authState(tx, redaction.roomId, [
    ["m.room.power_levels", ""],
    ["m.room.create", ""],
  ]);
  await applyRedaction(tx, redaction, (type, stateKey) => state.get(stateTuple(type, stateKey)), version);
}

function randomLocalpart(): string {
  return randomBytes(12).toString("base64url").replace(/[-_]/g, "x");
}
