// The last step of the pipeline, for local and remote events alike: store the
// event with its outcome, its state snapshots and DAG edges, and move the
// timeline on when it is accepted. Runs in the caller's transaction with the
// room lock held; stream positions are assigned later, by commitAppended.
import type { RoomEvent } from "../../protocol/events.ts";
import type { RoomVersion } from "../../protocol/room-versions.ts";
import type { Queryable } from "../../storage/database.ts";
import { insertEvent, setStateGroupAfter, updateBackwardExtremities, type NewEvent } from "../../storage/events.ts";
import { createStateGroup, type StateChange } from "../../storage/state.ts";
import { indexRelation } from "../relations.ts";
import { advanceCurrentState } from "./current-state.ts";

/** How the checks judged an event (spec "Checks performed on receipt of a PDU"). */
export type Outcome = { kind: "accepted" } | { kind: "soft_failed"; reason: string } | { kind: "rejected"; reason: string };

export const ACCEPTED: Outcome = { kind: "accepted" };

export interface PersistRequest {
  event: RoomEvent;
  outcome: Outcome;
  /** Held without a place in the DAG: no snapshots, no timeline, no extremities. */
  outlier: boolean;
  /** Snapshot of the state before the event (null for the create event and for outliers). */
  stateBefore: number | null;
  /** prev_events we do not hold in the timeline: they become backward extremities. */
  missingPrevIds: readonly string[];
  /** False for an event we just built ourselves: no stored event can name it yet. */
  mayHaveChildren: boolean;
  /** We send it to the room's other servers: our own events, and remote memberships that came in through our make/send endpoints. */
  federateOut?: boolean;
  /** History fetched from another server (/backfill): positioned before every live event, never news for /sync. */
  backfilled?: boolean;
  /**
   * A local event built on all the forward extremities, whose state before is
   * the current state: it becomes the only extremity and its state after the
   * current state, with no look-ups (the common case, kept cheap).
   */
  onAllExtremities?: boolean;
}

export interface Appended {
  nid: number;
  event: RoomEvent;
  outcome: Outcome;
  /** Accepted into the timeline: it gets a stream position at commit and is served to clients. */
  timeline: boolean;
  /** Current-state changes this event caused: its own key, and any that state resolution changed with it. */
  stateChanges: StateChange[];
  /** Backfilled history: a negative position, no push actions, no wake-ups. */
  backfilled?: boolean;
}

/** The columns of a stored event that come from the event itself, whatever its outcome. */
export function eventColumns(event: RoomEvent): Pick<NewEvent, "eventId" | "roomId" | "type" | "stateKey" | "sender" | "originServerTs" | "depth" | "pdu" | "prevEventIds" | "authEventIds"> {
  return {
    eventId: event.eventId,
    roomId: event.roomId,
    type: event.type,
    stateKey: event.stateKey,
    sender: event.sender,
    originServerTs: event.originServerTs,
    depth: event.depth,
    pdu: JSON.stringify(event.pdu),
    prevEventIds: event.prevEventIds,
    authEventIds: event.authEventIds,
  };
}

export async function persistEvent(tx: Queryable, version: RoomVersion, req: PersistRequest): Promise<Appended> {
  const { event, outcome, outlier } = req;
  const rejected = outcome.kind === "rejected";
  // A state event that passed the checks against the state before it has its own snapshot.
  const ownSnapshot = !outlier && !rejected && event.stateKey !== undefined;
  const before = outlier ? null : req.stateBefore;
  const nid = await insertEvent(tx, {
    ...eventColumns(event),
    stateGroupBefore: before,
    stateGroupAfter: ownSnapshot ? null : before,
    rejectedReason: rejected ? outcome.reason : null,
    outlier,
    softFailed: outcome.kind === "soft_failed",
    federateOut: req.federateOut === true && outcome.kind === "accepted" && !outlier,
  });
  if (outlier || rejected) return { nid, event, outcome, timeline: false, stateChanges: [] };

  let after = before;
  if (ownSnapshot) {
    after = await createStateGroup(tx, event.roomId, before, [{ type: event.type, stateKey: event.stateKey!, eventNid: nid }]);
    await setStateGroupAfter(tx, nid, after);
  }
  // An event we just built cannot be anyone's missing parent, and has none missing itself.
  if (req.mayHaveChildren || req.missingPrevIds.length > 0) await updateBackwardExtremities(tx, event.roomId, event.eventId, req.missingPrevIds);
  // Soft-failed events stay in the DAG (later events may build on them) but out of the timeline.
  if (outcome.kind === "soft_failed" || after === null) return { nid, event, outcome, timeline: false, stateChanges: [] };

  const stateChanges = await advanceCurrentState(tx, version, {
    eventId: event.eventId,
    roomId: event.roomId,
    prevEventIds: event.prevEventIds,
    stateGroupAfter: after,
    mayHaveChildren: req.mayHaveChildren,
    ...(req.onAllExtremities ? { replacesCurrentState: before } : {}),
  });
  await indexRelation(tx, event, nid);
  return { nid, event, outcome, timeline: true, stateChanges, ...(req.backfilled ? { backfilled: true } : {}) };
}
