// The sync engine behind GET /sync (and, later, the WebSocket stream): what
// changed for a user between a stream position and now. Work is bounded by
// the number of the user's rooms and the timeline limit, never by history.
import type { E2eeSections, E2eeSync } from "../e2ee/sync-sections.ts";
import { isJsonObject, type JsonObject } from "../protocol/json.ts";
import type { RoomVersion } from "../protocol/room-versions.ts";
import { renderEvents, type Viewer } from "../rooms/render.ts";
import { currentStateEvents, stateEventsAtGroup } from "../rooms/room-state.ts";
import type { RoomService } from "../rooms/room-service.ts";
import { pduOf } from "../rooms/stored-event.ts";
import { STRIPPED_STATE_TYPES, strip } from "../rooms/stripped-state.ts";
import { parseSyncPosition, syncToken, topologicalToken } from "../rooms/tokens.ts";
import { filterVisibleEvents } from "../rooms/visibility.ts";
import type { Database } from "../storage/database.ts";
import { currentStreamPosition, getEventsByNids, roomEventsBetween, roomsWithEventsSince, type StoredEvent } from "../storage/events.ts";
import { currentStateChangedSince, membershipsOfUser, roomSummaryCounts, type MembershipRow } from "../storage/state.ts";
import { accountDataSince, type AccountDataRow } from "../storage/account-data.ts";
import { inviteRoomStates } from "../storage/federation.ts";
import { receiptsSince, roomsWithReceiptsSince, type ReceiptRow } from "../storage/receipts.ts";
import { unreadCounts, type UnreadCount } from "../storage/push-actions.ts";
import { emptyStoredPushRules, parseStoredPushRules, PUSH_RULES_ACCOUNT_DATA_TYPE, pushRulesResponse } from "../push/rule-set.ts";
import { MAIN_THREAD } from "../rooms/push-actions.ts";
import { eventPassesFilter } from "./event-filter.ts";
import { hiddenByIgnore, ignoredUsersOf } from "./ignored-users.ts";
import type { Notifier } from "./notifier.ts";
import type { Presence, PresenceState } from "./presence.ts";
import { DEFAULT_TIMELINE_LIMIT, type SyncFilter } from "./sync-filter.ts";
import { mapLimit } from "../lib/map-limit.ts";

import type { Typing } from "./typing.ts";
import { createGatherGate } from "../lib/gather-gate.ts";

/** Rooms of one sync computed at once. */
const ROOMS_IN_FLIGHT = 32;
/**
 * How long a long-poll that finds news already waiting is held so that others
 * arriving meanwhile compute with it (server/lib/gather-gate.ts).
 */
export const SYNC_GATHER_MS = 20;

export interface SyncRequest {
  viewer: Viewer;
  since?: number;
  /** From the token: to-device messages were delivered only up to here (below `since`). */
  toDeviceSince?: number;
  fullState: boolean;
  timeoutMs: number;
  filter: SyncFilter;
  signal?: AbortSignal;
  /** set_presence: how this sync affects the user's presence (absent: not at all). */
  setPresence?: PresenceState;
  /** Set by the engine for each computation: senders whose non-state events the viewer ignores. */
  ignored?: ReadonlySet<string>;
}

export interface SyncEngineDeps {
  db: Database;
  rooms: RoomService;
  notifier: Notifier;
  typing: Typing;
  presence?: Presence;
  /** to_device, device_lists and the device's key counts (server/e2ee/sync-sections.ts). */
  e2ee?: E2eeSync;
}

/** The `since` fields of a request from a client's sync token (M_INVALID_PARAM when malformed). */
export function sinceToken(token: string): Pick<SyncRequest, "since" | "toDeviceSince"> {
  const { position, toDevice } = parseSyncPosition(token);
  return toDevice === undefined ? { since: position } : { since: position, toDeviceSince: toDevice };
}


export function createSyncEngine(deps: SyncEngineDeps) {
  const { db, rooms } = deps;
  const gather = createGatherGate(SYNC_GATHER_MS);

  async function strippedState(roomId: string, own: StoredEvent | undefined): Promise<JsonObject[]> {
    // A room this server is not in: the summary the inviting server sent.
    const sent = own ? (await inviteRoomStates(db, [own.nid])).get(own.nid) : undefined;
    if (sent) return [...sent.filter(isJsonObject).map(strip), ...(own ? [strip(pduOf(own))] : [])];
    const events = await currentStateEvents(db, roomId, STRIPPED_STATE_TYPES.map((t) => [t, ""] as const));
    if (own) events.push(own);
    return events.map((e) => strip(pduOf(e)));
  }

  async function summary(roomId: string, userId: string): Promise<JsonObject> {
    const counts = await roomSummaryCounts(db, roomId, userId);
    return { "m.heroes": counts.heroes, "m.joined_member_count": counts.joined, "m.invited_member_count": counts.invited };
  }

  /** Lazy loading: keep non-member state, and member events only for the timeline's senders and the viewer. */
  function lazyMembers(state: StoredEvent[], timeline: StoredEvent[], userId: string, lazy: boolean): StoredEvent[] {
    if (!lazy) return state;
    const wanted = new Set([userId, ...timeline.map((e) => e.sender)]);
    return state.filter((e) => e.type !== "m.room.member" || wanted.has(e.stateKey ?? ""));
  }

  async function timelineOf(roomId: string, from: number, to: number, limit: number, filter: SyncFilter, ignored: ReadonlySet<string> = new Set()): Promise<{ events: StoredEvent[]; limited: boolean }> {
    const newestFirst = await roomEventsBetween(db, roomId, from, to, limit + 1);
    const limited = newestFirst.length > limit;
    const events = newestFirst.slice(0, limit).reverse();
    return { events: events.filter((e) => eventPassesFilter(filter.timeline, e) && !hiddenByIgnore(ignored, e)), limited };
  }

  /** m.typing and m.receipt for a joined room, when changed since the token. */
  async function ephemeralOf(roomId: string, userId: string, since: number | undefined, fresh: boolean): Promise<JsonObject[]> {
    const events: JsonObject[] = [];
    const typing = await deps.typing.typingIn(roomId);
    if ((fresh && typing.userIds.length > 0) || (!fresh && typing.position > (since ?? 0))) {
      events.push({ type: "m.typing", content: { user_ids: typing.userIds } });
    }
    const receipts = (await receiptsSince(db, roomId, fresh ? undefined : since)).filter((r) => r.receiptType !== "m.read.private" || r.userId === userId);
    if (receipts.length > 0) events.push({ type: "m.receipt", content: receiptContent(receipts) });
    return events;
  }

  async function joinedRoom(
    req: SyncRequest,
    membership: MembershipRow & { resolvedStateStream: number },
    position: number,
    accountData: AccountDataRow[],
    counts: readonly UnreadCount[],
  ): Promise<JsonObject | undefined> {
    const { viewer, since, filter } = req;
    const roomId = membership.roomId;
    const version: RoomVersion = await rooms.roomVersion(db, roomId);
    const limit = filter.timeline.limit ?? DEFAULT_TIMELINE_LIMIT;
    // A room joined since the last sync is sent whole, as if this were an initial sync.
    const fresh = since === undefined || req.fullState || membership.streamOrdering > since;
    const window = await timelineOf(roomId, fresh ? 0 : since!, position, limit, filter, req.ignored);
    const timeline = await filterVisibleEvents(db, viewer.userId, window.events, true);

    let state: StoredEvent[];
    if (fresh) {
      // The state at the start of the timeline; the timeline carries the rest.
      state = timeline.length > 0 ? await stateEventsAtGroup(db, timeline[0]!.stateGroupBefore) : await currentStateEvents(db, roomId);
    } else if (window.limited || membership.resolvedStateStream > since!) {
      // A gap in the timeline, or state that changed through resolution
      // rather than through a timeline event: the changed current state,
      // less what the timeline itself carries.
      const inTimeline = new Set(timeline.map((e) => e.eventId));
      const changed = await currentStateChangedSince(db, roomId, since!);
      state = [...(await getEventsByNids(db, changed.map((c) => c.eventNid))).values()].filter((e) => !inTimeline.has(e.eventId));
    } else {
      state = [];
    }
    state = lazyMembers(state, timeline, viewer.userId, filter.state.lazyLoadMembers).filter((e) => eventPassesFilter(filter.state, e));
    const ephemeral = await ephemeralOf(roomId, viewer.userId, since, fresh);
    const roomAccountData = accountData.filter((a) => a.roomId === roomId).map((a) => ({ type: a.type, content: a.content }));
    if (!fresh && timeline.length === 0 && state.length === 0 && ephemeral.length === 0 && roomAccountData.length === 0) return undefined;

    const first = timeline[0];
    return {
      timeline: {
        events: await renderEvents(db, timeline, version, viewer, { includeRoomId: false }),
        limited: window.limited,
        prev_batch: first ? topologicalToken({ depth: first.depth, stream: first.streamOrdering! }) : syncToken(position),
      },
      state: { events: await renderEvents(db, state, version, viewer, { includeRoomId: false }) },
      ephemeral: { events: ephemeral },
      account_data: { events: roomAccountData as JsonObject[] },
      summary: await summary(roomId, viewer.userId),
      ...unreadNotifications(counts, filter.timeline.unreadThreadNotifications),
    };
  }

  async function leftRoom(req: SyncRequest, membership: MembershipRow): Promise<JsonObject | undefined> {
    const { viewer, since, filter } = req;
    if (since === undefined && !filter.includeLeave) return undefined;
    if (since !== undefined && membership.streamOrdering <= since) return undefined;
    const roomId = membership.roomId;
    const version = await rooms.roomVersion(db, roomId);
    const limit = filter.timeline.limit ?? DEFAULT_TIMELINE_LIMIT;
    // Up to and including the event that ended the membership, nothing after.
    const window = await timelineOf(roomId, since ?? 0, membership.streamOrdering, limit, filter, req.ignored);
    const timeline = await filterVisibleEvents(db, viewer.userId, window.events, false);
    const first = timeline[0];
    return {
      timeline: {
        events: await renderEvents(db, timeline, version, viewer, { includeRoomId: false }),
        limited: window.limited,
        prev_batch: first ? topologicalToken({ depth: first.depth, stream: first.streamOrdering! }) : syncToken(membership.streamOrdering),
      },
      state: { events: [] },
      account_data: { events: [] },
    };
  }

  /** Joined rooms with anything new since the token, found with one query per kind of change. */
  async function roomsChangedSince(roomIds: string[], since: number, accountData: AccountDataRow[]): Promise<Set<string>> {
    const [events, receipts, typing] = await Promise.all([
      roomsWithEventsSince(db, roomIds, since),
      roomsWithReceiptsSince(db, roomIds, since),
      deps.typing.roomsChangedSince(roomIds, since),
    ]);
    return new Set([...events, ...receipts, ...typing, ...accountData.map((a) => a.roomId)]);
  }

  async function compute(req: SyncRequest, position: number): Promise<{ body: JsonObject; empty: boolean; roomIds: Set<string> }> {
    // Read per computation, so a change of the list applies from the next response on.
    req = { ...req, ignored: await ignoredUsersOf(db, req.viewer.userId) };
    const memberships = (await membershipsOfUser(db, req.viewer.userId)).filter(
      (m) => (!req.filter.rooms || req.filter.rooms.includes(m.roomId)) && !req.filter.notRooms.includes(m.roomId),
    );
    const join: JsonObject = {};
    const invite: JsonObject = {};
    const leave: JsonObject = {};
    const knock: JsonObject = {};
    const since = req.since;
    const changedSince = (m: MembershipRow) => since === undefined || m.streamOrdering > since;
    const ownEvents = await getEventsByNids(db, memberships.filter((m) => m.membership !== "join").map((m) => m.eventNid));
    const accountData = await accountDataSince(db, req.viewer.userId, since);
    const changed = since === undefined ? undefined : await roomsChangedSince(memberships.filter((m) => m.membership === "join").map((m) => m.roomId), since, accountData);
    // Unread counts of every joined room this sync may include, with one query.
    const countRooms = memberships.filter((m) => m.membership === "join" && (!changed || req.fullState || m.streamOrdering > since! || changed.has(m.roomId)));
    const counts = await unreadCounts(db, req.viewer.userId, countRooms.map((m) => m.roomId), position);
    // Rooms in parallel, ROOMS_IN_FLIGHT at a time: their reads have the same
    // shapes, so the batching reader (server/storage/batching-reader.ts, with
    // database.batch_reads) sends each shape once per wave of rooms; the
    // bound keeps a user in thousands of rooms from queueing all their reads
    // ahead of other requests. The sections are filled in membership order.
    const sections = await mapLimit(
      memberships,
      ROOMS_IN_FLIGHT,
      async (m): Promise<[JsonObject, JsonObject] | undefined> => {
        if (m.streamOrdering > position) return undefined;
        if (m.membership === "join") {
          // Incremental syncs look only at rooms with something new (joined since, events, receipts, typing, account data).
          if (changed && m.streamOrdering <= since! && !req.fullState && !changed.has(m.roomId)) return undefined;
          const room = await joinedRoom(req, m, position, accountData, counts.get(m.roomId) ?? []);
          return room && [join, room];
        } else if (m.membership === "invite" && changedSince(m) && !req.ignored!.has(ownEvents.get(m.eventNid)?.sender ?? "")) {
          return [invite, { invite_state: { events: await strippedState(m.roomId, ownEvents.get(m.eventNid)) } }];
        } else if (m.membership === "knock" && changedSince(m)) {
          return [knock, { knock_state: { events: await strippedState(m.roomId, ownEvents.get(m.eventNid)) } }];
        } else if (m.membership === "leave" || m.membership === "ban") {
          const room = await leftRoom(req, m);
          return room && [leave, room];
        }
        return undefined;
      },
    );
    memberships.forEach((m, i) => {
      const entry = sections[i];
      if (entry) entry[0][m.roomId] = entry[1];
    });
    const globalAccountData = globalAccountDataEvents(req.viewer.userId, accountData, since === undefined);
    const presence = (await deps.presence?.eventsFor(req.viewer.userId, since, position))?.filter((e) => eventPassesFilter(req.filter.presence, { type: "m.presence", sender: String(e.sender) })) ?? [];
    if (req.filter.presence.limit !== undefined) presence.splice(req.filter.presence.limit);
    const e2ee = await e2eeSections(req, position);
    const empty =
      [join, invite, leave, knock].every((section) => Object.keys(section).length === 0) && globalAccountData.length === 0 && presence.length === 0 && !e2ee.hasNews;
    const body: JsonObject = {
      next_batch: syncToken(position, e2ee.toDeviceResumeAt),
      rooms: { join, invite, leave, knock },
      presence: { events: presence },
      account_data: { events: globalAccountData },
      ...e2ee.body,
    };
    return { body, empty, roomIds: new Set(memberships.map((m) => m.roomId)) };
  }

  function e2eeSections(req: SyncRequest, position: number): Promise<E2eeSections> {
    const since = req.since === undefined ? undefined : { position: req.since, ...(req.toDeviceSince !== undefined ? { toDevice: req.toDeviceSince } : {}) };
    return deps.e2ee?.sections(req.viewer, since, position) ?? Promise.resolve(NO_E2EE);
  }

  /** Answers at once when something changed, otherwise long-polls up to timeoutMs. */
  async function sync(req: SyncRequest): Promise<JsonObject> {
    const deadline = Date.now() + req.timeoutMs;
    if (req.setPresence) await deps.presence?.onSync(req.viewer.userId, req.setPresence);
    // A token that left to-device messages behind gets them at once.
    if (req.since !== undefined && req.timeoutMs > 0 && req.toDeviceSince === undefined) {
      const head = await currentStreamPosition(db);
      if (req.since >= head) {
        // Nothing was committed after the token: wait for a relevant change
        // before computing anything, instead of computing an empty answer
        // first (what every client asks right after an answer).
        const rooms = new Set((await membershipsOfUser(db, req.viewer.userId)).map((m) => m.roomId));
        if (deps.notifier.latest() <= head) await deps.notifier.wait(req.viewer.userId, rooms, head, req.timeoutMs, req.signal);
      } else {
        // News is already waiting: compute together with the other long-polls
        // coming back now (a woken waiter needs no gate: a commit wakes them together).
        await gather();
      }
    }
    for (;;) {
      const position = await currentStreamPosition(db);
      const since = req.since !== undefined && req.since > position ? position : req.since;
      const result = await compute({ ...req, ...(since !== undefined ? { since } : {}) }, position);
      const remaining = deadline - Date.now();
      if (!result.empty || since === undefined || remaining <= 0 || req.signal?.aborted) return result.body;
      // A commit announced while we computed: look again rather than wait for the next one.
      if (deps.notifier.latest() > position) continue;
      const woken = await deps.notifier.wait(req.viewer.userId, result.roomIds, position, remaining, req.signal);
      if (!woken) {
        // Timed out: one last look closes the race with a commit that landed just before waiting.
        const finalPosition = await currentStreamPosition(db);
        if (finalPosition === position) return result.body;
        return (await compute({ ...req, since: position }, finalPosition)).body;
      }
    }
  }

  return { sync };
}

/** The E2EE sections when the engine runs without them. */
const NO_E2EE: E2eeSections = {
  body: { to_device: { events: [] }, device_lists: { changed: [], left: [] }, device_one_time_keys_count: {} },
  hasNews: false,
};

/** Receipts grouped as the m.receipt content: event → type → user → {ts, thread_id}. */
function receiptContent(receipts: readonly ReceiptRow[]): JsonObject {
  const content: Record<string, Record<string, Record<string, JsonObject>>> = {};
  for (const r of receipts) {
    const byType = (content[r.eventId] ??= {});
    const byUser = (byType[r.receiptType] ??= {});
    byUser[r.userId] = r.threadId ? { ts: r.ts, thread_id: r.threadId } : { ts: r.ts };
  }
  return content as JsonObject;
}

/**
 * unread_notifications for a joined room; with per-thread counts requested,
 * it covers only the main timeline and unread_thread_notifications the
 * threads (keyed by root, threads without notifications omitted).
 */
function unreadNotifications(counts: readonly UnreadCount[], perThread: boolean): JsonObject {
  const section = (list: readonly UnreadCount[]) => ({
    notification_count: list.reduce((n, c) => n + c.notifications, 0),
    highlight_count: list.reduce((n, c) => n + c.highlights, 0),
  });
  if (!perThread) return { unread_notifications: section(counts) };
  const threads: JsonObject = {};
  for (const c of counts) if (c.threadId !== MAIN_THREAD) threads[c.threadId] = section([c]);
  return {
    unread_notifications: section(counts.filter((c) => c.threadId === MAIN_THREAD)),
    ...(Object.keys(threads).length > 0 ? { unread_thread_notifications: threads } : {}),
  };
}

/**
 * Global account data events. m.push_rules is stored as the user's changes
 * only and sent as the whole ruleset (as GET /pushrules/ returns it); an
 * initial sync always carries it, as Synapse does, so clients know the defaults.
 */
function globalAccountDataEvents(userId: string, rows: readonly AccountDataRow[], initial: boolean): JsonObject[] {
  const events = rows
    .filter((a) => a.roomId === "")
    .map((a) => ({
      type: a.type,
      content: a.type === PUSH_RULES_ACCOUNT_DATA_TYPE ? pushRulesResponse(userId, parseStoredPushRules(a.content)) : a.content,
    }));
  if (initial && !events.some((e) => e.type === PUSH_RULES_ACCOUNT_DATA_TYPE)) {
    events.push({ type: PUSH_RULES_ACCOUNT_DATA_TYPE, content: pushRulesResponse(userId, emptyStoredPushRules()) });
  }
  return events as unknown as JsonObject[];
}

export type SyncEngine = ReturnType<typeof createSyncEngine>;
