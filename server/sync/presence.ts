// Presence (spec: "Presence"): what PUT /presence and /sync's set_presence
// store, and the m.presence events /sync delivers to users sharing a room.
//
// Only visible changes take a stream position and wake anyone: a change of
// state or status message, or coming back from idle. While a user stays
// online, syncing merely refreshes the timestamps (at most once a minute),
// and observers rely on `currently_active` as the spec intends. Idle
// (unavailable) and gone (offline) are derived from the timestamps when
// presence is read; no timer rewrites rows, so observers learn of those two
// transitions only through their next initial sync or GET.
import type { JsonObject } from "../protocol/json.ts";
import type { Database } from "../storage/database.ts";
import {
  getPresence,
  joinedRoomIds,
  presenceChangedSince,
  presenceOfNewRoommates,
  presenceOfRoommates,
  putPresence,
  touchPresence,
  type PresenceRow,
  type PresenceState,
} from "../storage/presence.ts";
import type { Notifier } from "./notifier.ts";
import type { OutboundEdus } from "./outbound-edus.ts";
import type { StreamWriter } from "./stream-writer.ts";

export type { PresenceState };

export const PRESENCE_STATES: readonly PresenceState[] = ["online", "unavailable", "offline"];

/** Online users who did nothing for this long read as unavailable (Synapse's idle timer). */
export const IDLE_AFTER_MS = 5 * 60_000;
/** Users none of whose clients synced for this long read as offline (a long-poll lasts at most 50 s, refreshes come once a minute). */
export const GONE_AFTER_MS = 3 * 60_000;
/** Timestamps are refreshed at most this often. */
export const REFRESH_EVERY_MS = 60_000;

export interface PresenceDeps {
  db: Database;
  streams: StreamWriter;
  notifier: Notifier;
  /** `presence.enabled`: when false nothing is stored or sent, and everyone reads as offline. */
  enabled: boolean;
  /** Our users' presence changes, for the servers that share a room with them. */
  outbound?: OutboundEdus;
  isLocalUser?: (userId: string) => boolean;
}

/** The state observers should see now. */
export function effectiveState(row: PresenceRow | undefined, now: number): PresenceState {
  if (!row) return "offline";
  if (row.state !== "offline" && now - row.lastSyncTs > GONE_AFTER_MS) return "offline";
  if (row.state === "online" && now - row.lastActiveTs > IDLE_AFTER_MS) return "unavailable";
  return row.state;
}

/** The m.presence content, also the GET /presence body. */
export function presenceContent(row: PresenceRow | undefined, now: number): JsonObject {
  const state = effectiveState(row, now);
  const content: JsonObject = { presence: state };
  if (!row) return content;
  content.last_active_ago = Math.max(0, now - row.lastActiveTs);
  if (row.statusMsg !== null) content.status_msg = row.statusMsg;
  if (state === "online") content.currently_active = true;
  return content;
}

export function createPresence(deps: PresenceDeps) {
  const { db, streams, notifier, enabled } = deps;

  /** Stores a visible change at a new position and wakes the user and everyone sharing a room with them. */
  async function write(row: Omit<PresenceRow, "streamOrdering">): Promise<void> {
    // Presence is never urgent: coalesced wake-ups for the user and every roommate.
    const position = await streams.write({ userIds: [row.userId], coalesce: true }, (tx, at) => putPresence(tx, { ...row, streamOrdering: at }));
    // Waiters listen per room, so one notification per room reaches every roommate without listing members.
    for (const roomId of await joinedRoomIds(db, row.userId)) await notifier.notify({ position, roomId, coalesce: true });
    if (deps.isLocalUser?.(row.userId)) deps.outbound?.emit({ kind: "presence", userId: row.userId, content: presenceContent({ ...row, streamOrdering: position }, Date.now()) });
  }

  /** PUT /presence/{userId}/status. A missing status message clears it, as in Synapse. */
  async function set(userId: string, state: PresenceState, statusMsg: string | null): Promise<void> {
    if (!enabled) return;
    const now = Date.now();
    const row = await getPresence(db, userId);
    const lastActiveTs = state === "online" ? now : (row?.lastActiveTs ?? now);
    if (!row || row.state !== state || row.statusMsg !== statusMsg || effectiveState(row, now) !== state) {
      await write({ userId, state, statusMsg, lastActiveTs, lastSyncTs: now });
    } else if (now - row.lastSyncTs >= REFRESH_EVERY_MS || (state === "online" && now - row.lastActiveTs >= REFRESH_EVERY_MS)) {
      await touchPresence(db, userId, now, state === "online");
    }
  }

  /**
   * A remote server's m.presence EDU for one of its users: stored like a
   * local change, with the remote's last-active time. It counts as fresh now,
   * so it lapses to offline if the remote stops sending, as a local client's
   * presence does when it stops syncing.
   */
  async function setRemote(userId: string, state: PresenceState, statusMsg: string | null, lastActiveTs: number): Promise<void> {
    if (!enabled) return;
    const now = Date.now();
    const row = await getPresence(db, userId);
    if (row && row.state === state && row.statusMsg === statusMsg && effectiveState(row, now) === state) {
      await touchPresence(db, userId, now, state === "online");
      return;
    }
    await write({ userId, state, statusMsg, lastActiveTs, lastSyncTs: now });
  }

  /**
   * /sync's set_presence, once per sync request. `online` marks the user
   * online and active; `unavailable` only lifts an offline user (another
   * client may be active); `offline` leaves presence alone.
   */
  async function onSync(userId: string, setPresence: PresenceState): Promise<void> {
    if (!enabled || setPresence === "offline") return;
    const now = Date.now();
    const row = await getPresence(db, userId);
    const current = effectiveState(row, now);
    if (setPresence === "online") {
      if (!row || row.state !== "online" || current !== "online") {
        await write({ userId, state: "online", statusMsg: row?.statusMsg ?? null, lastActiveTs: now, lastSyncTs: now });
      } else if (now - row.lastActiveTs >= REFRESH_EVERY_MS || now - row.lastSyncTs >= REFRESH_EVERY_MS) {
        await touchPresence(db, userId, now, true);
      }
      return;
    }
    if (!row || current === "offline") {
      await write({ userId, state: "unavailable", statusMsg: row?.statusMsg ?? null, lastActiveTs: row?.lastActiveTs ?? now, lastSyncTs: now });
    } else if (now - row.lastSyncTs >= REFRESH_EVERY_MS) {
      await touchPresence(db, userId, now, false);
    }
  }

  /** GET /presence/{userId}/status (visibility is the caller's business). */
  async function get(userId: string): Promise<JsonObject> {
    if (!enabled) return { presence: "offline" };
    return presenceContent(await getPresence(db, userId), Date.now());
  }

  /**
   * m.presence events for a sync up to `upTo`: on an initial sync everyone
   * sharing a room who is not offline; on an incremental sync the changes
   * since the token plus the current presence of users the viewer newly
   * shares a room with.
   */
  async function eventsFor(viewerId: string, since: number | undefined, upTo: number): Promise<JsonObject[]> {
    if (!enabled) return [];
    const now = Date.now();
    const rows = new Map<string, PresenceRow>();
    if (since === undefined) {
      for (const r of await presenceOfRoommates(db, viewerId, upTo)) if (effectiveState(r, now) !== "offline") rows.set(r.userId, r);
    } else {
      for (const r of await presenceOfNewRoommates(db, viewerId, since, upTo)) if (effectiveState(r, now) !== "offline") rows.set(r.userId, r);
      for (const r of await presenceChangedSince(db, viewerId, since, upTo)) rows.set(r.userId, r);
    }
    return [...rows.values()]
      .sort((a, b) => a.streamOrdering - b.streamOrdering)
      .map((r) => ({ type: "m.presence", sender: r.userId, content: presenceContent(r, now) }));
  }

  return { enabled, set, setRemote, onSync, get, eventsFor };
}

export type Presence = ReturnType<typeof createPresence>;
