// The last step before COMMIT: stream positions for the events that joined the
// timeline, then everything that is keyed by them (current-state and
// membership positions, redactions taking effect, push actions). Positions
// come last because the stream head's row lock serialises every writer.
import { stateTuple, type RoomEvent } from "../../protocol/events.ts";
import type { RoomVersion } from "../../protocol/room-versions.ts";
import type { Queryable } from "../../storage/database.ts";
import { allocateBackfillPositions, allocateStreamPositions, setStreamOrdering } from "../../storage/events.ts";
import { positionCurrentState, setResolvedStateStream } from "../../storage/state.ts";
import { evaluatePushActions, storePushActions } from "../push-actions.ts";
import { applyRedaction } from "../redactions.ts";
import { authState, lookupIn } from "./auth-state.ts";
import type { Appended } from "./persist.ts";

/** The redaction's effect is judged against the state it was sent in. */
async function applyRedactionNow(tx: Queryable, redaction: RoomEvent, version: RoomVersion): Promise<void> {
  const state = await authState(tx, redaction.roomId, [
    ["m.room.power_levels", ""],
    ["m.room.create", ""],
  ]);
  await applyRedaction(tx, redaction, lookupIn(state), version);
}

/** True when the changes are more than the event setting its own key (resolution moved other state too). */
function changedMoreThanItself(appended: Appended): boolean {
  const own = appended.event.stateKey === undefined ? undefined : stateTuple(appended.event.type, appended.event.stateKey);
  return appended.stateChanges.some((c) => stateTuple(c.type, c.stateKey) !== own || c.eventNid !== appended.nid);
}

/**
 * Assigns stream positions to the timeline events of `appended` (in order)
 * and applies what depends on them. Returns the highest position, or
 * undefined when nothing joined the timeline.
 */
export async function commitAppended(tx: Queryable, version: RoomVersion, appended: readonly Appended[]): Promise<number | undefined> {
  // Backfilled history takes positions from the falling sequence: nothing to notify, count or announce.
  const history = appended.filter((a) => a.timeline && a.backfilled);
  const historyPositions = await allocateBackfillPositions(tx, history.length);
  for (const [i, entry] of history.entries()) {
    await setStreamOrdering(tx, entry.nid, historyPositions[i]!);
    if (entry.event.type === "m.room.redaction" && entry.event.redacts !== undefined) await applyRedactionNow(tx, entry.event, version);
  }
  const timeline = appended.filter((a) => a.timeline && !a.backfilled);
  if (timeline.length === 0) return undefined;
  // Push rules are evaluated before the stream head is locked: that lock serialises every writer.
  const push = await evaluatePushActions(tx, version, timeline);
  const positions = await allocateStreamPositions(tx, timeline.length);
  for (const [i, entry] of timeline.entries()) {
    const position = positions[i]!;
    await setStreamOrdering(tx, entry.nid, position);
    await positionCurrentState(
      tx,
      entry.event.roomId,
      entry.stateChanges.map((c) => [c.type, c.stateKey] as const),
      position,
    );
    if (changedMoreThanItself(entry)) await setResolvedStateStream(tx, entry.event.roomId, position);
    if (entry.event.type === "m.room.redaction" && entry.event.redacts !== undefined) await applyRedactionNow(tx, entry.event, version);
  }
  // Same transaction: the unread count changes in the same /sync as the event.
  await storePushActions(tx, push, positions);
  return positions[positions.length - 1]!;
}
