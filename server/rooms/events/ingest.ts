// Events built elsewhere (federation) enter the DAG here, after the transport
// layer checked their format, signatures and content hash and fetched what
// they reference. The auth checks run in the spec's order ("Checks performed
// on receipt of a PDU"), each failure with its own outcome:
//   4. against the event's own auth_events          → rejected
//   5. against the state before the event           → rejected
//   6. against the room's current state             → soft-failed
// then persistEvent stores the outcome. Runs under the room lock.
import { checkAuthRules, checkStateIndependentAuthRules, type AuthDecision } from "../../protocol/auth-rules.ts";
import { stateTuple, type RoomEvent } from "../../protocol/events.ts";
import type { RoomVersion } from "../../protocol/room-versions.ts";
import type { Queryable } from "../../storage/database.ts";
import { getEventsByIds, heldEventIds, insertOutlierEvents, type NewOutlier, type StoredEvent } from "../../storage/events.ts";
import { getCurrentStateGroup } from "../../storage/state.ts";
import { toRoomEvent } from "../stored-event.ts";
import { authLookupKeys, authState, authStateAt, lookupIn, type AuthState } from "./auth-state.ts";
import { eventColumns, persistEvent, type Appended, type Outcome } from "./persist.ts";
import { loadParents, stateBeforeParents } from "./state-before.ts";

/** The caller must fetch the missing prev_events, or supply the state before the event (from /state_ids). */
export class MissingPrevEventsError extends Error {
  readonly missing: readonly string[];
  constructor(missing: readonly string[]) {
    super(`prev_events not held: ${missing.join(", ")}`);
    this.missing = missing;
  }
}

export interface IngestOptions {
  /** The state before the event when its prev_events are not all held (a snapshot built from /state_ids or a join's state). */
  stateBefore?: number;
  /** Accepted, we pass it on to the room's other servers (a remote join, leave or knock through our endpoints; an invite we sent). */
  federateOut?: boolean;
  /** Older history fetched with /backfill. */
  backfilled?: boolean;
}

const rejectedBy = (decision: AuthDecision & { allowed: false }): Outcome => ({ kind: "rejected", reason: `${decision.rule}: ${decision.reason}` });

/** An auth event as step 4 sees it: the event, and whether we hold it as rejected. */
interface HeldAuthEvent {
  event: RoomEvent;
  rejected: boolean;
}

/** The auth event IDs step 4 looks up for `event`: its auth_events, and the create event when the room ID names it (v12). */
function authLookups(version: RoomVersion, event: RoomEvent): { createId: string | undefined; ids: string[] } {
  const createId = version.roomIdFromCreateEvent ? `$${event.roomId.slice(1)}` : undefined;
  return { createId, ids: createId ? [...event.authEventIds, createId] : [...event.authEventIds] };
}

/** Step 4 on events already looked up: `held` answers for each ID we hold. */
function judgeAgainstAuthEvents(version: RoomVersion, event: RoomEvent, held: (eventId: string) => HeldAuthEvent | undefined): Outcome | undefined {
  const { createId } = authLookups(version, event);
  for (const id of event.authEventIds) {
    const authEvent = held(id);
    if (!authEvent) return { kind: "rejected", reason: `auth event ${id} is not held` };
    if (authEvent.rejected) return { kind: "rejected", reason: `auth event ${id} was rejected` };
  }
  const authEvents = event.authEventIds.map((id) => held(id)!.event);
  const createHeld = createId ? held(createId) : undefined;
  if (createHeld?.rejected) return { kind: "rejected", reason: "the room's create event was rejected" };
  const create = createHeld?.event;
  const independent = checkStateIndependentAuthRules(event, authEvents, version, create);
  if (!independent.allowed) return rejectedBy(independent);
  const state: AuthState = new Map(authEvents.map((e) => [stateTuple(e.type, e.stateKey ?? ""), e]));
  if (create) state.set(stateTuple("m.room.create", ""), create);
  const decision = checkAuthRules(event, lookupIn(state), version);
  return decision.allowed ? undefined : rejectedBy(decision);
}

/** Stored rows as step 4 sees them, each parsed once. */
function heldFrom(stored: ReadonlyMap<string, StoredEvent>): (eventId: string) => HeldAuthEvent | undefined {
  const parsed = new Map<string, HeldAuthEvent>();
  return (eventId) => {
    let held = parsed.get(eventId);
    const row = stored.get(eventId);
    if (!held && row) {
      held = { event: toRoomEvent(row), rejected: row.rejectedReason !== null };
      parsed.set(eventId, held);
    }
    return held;
  };
}

/** Step 4: the event against the auth events it cites, all of which must be held and not rejected. */
async function checkAgainstAuthEvents(q: Queryable, version: RoomVersion, event: RoomEvent): Promise<Outcome | undefined> {
  const stored = await getEventsByIds(q, authLookups(version, event).ids);
  return judgeAgainstAuthEvents(version, event, heldFrom(stored));
}

/**
 * Checks and stores one event in the timeline (or as rejected or
 * soft-failed). Returns undefined when the event is already held in the
 * timeline: PDUs are idempotent.
 */
export async function ingestEvent(tx: Queryable, version: RoomVersion, event: RoomEvent, options: IngestOptions = {}): Promise<Appended | undefined> {
  const existing = (await getEventsByIds(tx, [event.eventId])).get(event.eventId);
  if (existing && !existing.outlier) return undefined;

  const parents = await loadParents(tx, event.prevEventIds);
  let stateBefore: number | null;
  if (options.stateBefore !== undefined) stateBefore = options.stateBefore;
  else if (event.type === "m.room.create" && event.prevEventIds.length === 0) stateBefore = null;
  else if (parents.missing.length > 0) throw new MissingPrevEventsError(parents.missing);
  else stateBefore = await stateBeforeParents(tx, version, event.roomId, parents.held);

  const keys = authLookupKeys(event, version);
  let outcome = await checkAgainstAuthEvents(tx, version, event);
  if (!outcome) {
    const before = await authStateAt(tx, stateBefore, keys);
    const decision = checkAuthRules(event, lookupIn(before), version);
    if (!decision.allowed) outcome = rejectedBy(decision);
  }
  // Soft failure is for live events only: history fetched with /backfill predates the current state.
  if (!outcome && !options.backfilled) {
    const current = await getCurrentStateGroup(tx, event.roomId);
    if (current !== null && current !== stateBefore) {
      const decision = checkAuthRules(event, lookupIn(await authState(tx, event.roomId, keys)), version);
      if (!decision.allowed) outcome = { kind: "soft_failed", reason: `${decision.rule}: ${decision.reason}` };
    }
  }
  return persistEvent(tx, version, {
    event,
    outcome: outcome ?? { kind: "accepted" },
    outlier: false,
    stateBefore,
    missingPrevIds: parents.missing,
    mayHaveChildren: true,
    federateOut: options.federateOut ?? false,
    backfilled: options.backfilled ?? false,
  });
}

/**
 * Stores an event without a place in the DAG (an auth chain or state event
 * received with a join or from /state_ids), checked against its own auth
 * events only (spec: outliers). Auth events must be stored first. Returns
 * undefined when already held.
 */
export async function ingestOutlier(tx: Queryable, version: RoomVersion, event: RoomEvent): Promise<Appended | undefined> {
  if ((await getEventsByIds(tx, [event.eventId])).has(event.eventId)) return undefined;
  const outcome = (await checkAgainstAuthEvents(tx, version, event)) ?? { kind: "accepted" };
  return persistEvent(tx, version, { event, outcome, outlier: true, stateBefore: null, missingPrevIds: [], mayHaveChildren: true });
}

/**
 * `ingestOutlier` for many events at once (the state and auth chain of a
 * join), in the order given, which must put auth events first: the same
 * checks with the same outcomes, but one look-up of what is held and of the
 * auth events from outside the batch, and multi-row inserts, instead of five
 * statements per event. Events already held are skipped. Returns how many
 * were stored.
 */
export async function ingestOutliers(tx: Queryable, version: RoomVersion, events: readonly RoomEvent[]): Promise<number> {
  if (events.length === 0) return 0;
  const alreadyHeld = await heldEventIds(tx, events.map((e) => e.eventId));
  // Decided by this batch: what is neither held nor in it comes from the store.
  const inBatch = new Set(events.filter((e) => !alreadyHeld.has(e.eventId)).map((e) => e.eventId));
  const fromStore = new Set<string>();
  for (const event of events) for (const id of authLookups(version, event).ids) if (!inBatch.has(id)) fromStore.add(id);
  const stored = heldFrom(await getEventsByIds(tx, [...fromStore]));
  const decided = new Map<string, HeldAuthEvent>();
  const rows: NewOutlier[] = [];
  for (const event of events) {
    if (alreadyHeld.has(event.eventId) || decided.has(event.eventId)) continue;
    // An event of the batch counts as held once it has been judged (it is stored by then in ingestOutlier's order).
    const outcome = judgeAgainstAuthEvents(version, event, (id) => decided.get(id) ?? (inBatch.has(id) ? undefined : stored(id)));
    decided.set(event.eventId, { event, rejected: outcome !== undefined });
    rows.push({ ...eventColumns(event), rejectedReason: outcome?.kind === "rejected" ? outcome.reason : null });
  }
  await insertOutlierEvents(tx, rows);
  return rows.length;
}
