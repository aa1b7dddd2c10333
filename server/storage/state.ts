// State snapshots as bounded delta chains, current state and memberships
// (migrations/0002_rooms_events.sql). Storage grows with state changes, not
// with events: a message event reuses the snapshot of its parent.
import type { Queryable } from "./database.ts";
import { keyedRead } from "./keyed-read.ts";

/** Past this many deltas a group is written as a full snapshot, bounding read cost. */
export const MAX_DELTA_CHAIN = 50;

export interface StateEntry {
  type: string;
  stateKey: string;
  eventNid: number;
}

/** A change to a snapshot or to current state: `eventNid` null removes the key (possible after state resolution). */
export interface StateChange {
  type: string;
  stateKey: string;
  eventNid: number | null;
}

export type StateKeyFilter = ReadonlyArray<readonly [type: string, stateKey: string]>;

// Every step of a chain, and every read of a snapshot's entries, is an index
// look-up by primary key: the LATERAL subqueries with OFFSET 0 cannot be
// flattened into joins, which PostgreSQL would otherwise plan as hash joins
// over whole tables (it did, while a fresh room's statistics lagged: each
// step scanned every state group, and a visibility check in a room of 500
// members took 38 ms instead of under one; one per member per message).
const CHAIN_CTE = `
  WITH RECURSIVE chain(origin, sg, dist) AS (
    SELECT g, g, 0 FROM unnest($1::bigint[]) AS g
    UNION ALL
    SELECT c.origin, s.prev_state_group, c.dist + 1
      FROM chain c CROSS JOIN LATERAL (SELECT prev_state_group FROM state_groups WHERE state_group = c.sg OFFSET 0) s
     WHERE s.prev_state_group IS NOT NULL
  )`;

/** The entries of each snapshot in the chain, read by index. */
const CHAIN_ENTRIES = `chain c CROSS JOIN LATERAL (
    SELECT e.type, e.state_key, e.event_nid FROM state_group_entries e WHERE e.state_group = c.sg OFFSET 0) e`;

/**
 * Some keys of some snapshots, keyed by (group, type, state_key): the chain
 * of each distinct group is walked once, and each key of each step is one
 * primary-key look-up, nearest delta first. Every member's visibility check
 * after a message (history visibility and that member's own membership at
 * the same group) is then one statement for the whole room.
 */
const stateEntriesAt = keyedRead<{ event_nid: number | null }>(
  `WITH RECURSIVE chain(origin, sg, dist) AS (
     SELECT g, g, 0 FROM (SELECT DISTINCT unnest($1::bigint[])) AS d(g)
     UNION ALL
     SELECT c.origin, s.prev_state_group, c.dist + 1
       FROM chain c CROSS JOIN LATERAL (SELECT prev_state_group FROM state_groups WHERE state_group = c.sg OFFSET 0) s
      WHERE s.prev_state_group IS NOT NULL
   )
   SELECT DISTINCT ON (k.key_index) k.key_index, e.event_nid
     FROM unnest($1::bigint[], $2::text[], $3::text[]) WITH ORDINALITY AS k(sg, type, state_key, key_index)
     JOIN chain c ON c.origin = k.sg
     CROSS JOIN LATERAL (
       SELECT e.event_nid FROM state_group_entries e
        WHERE e.state_group = c.sg AND e.type = k.type AND e.state_key = k.state_key OFFSET 0) e
    ORDER BY k.key_index, c.dist`,
  3,
);

/** The event of each (group, type, state_key) in the state at that group, if any. */
export async function stateEntriesAtGroups(q: Queryable, wanted: ReadonlyArray<readonly [group: number, type: string, stateKey: string]>): Promise<Array<number | undefined>> {
  const found = await stateEntriesAt(q, wanted);
  return found.map((rows) => rows[0]?.event_nid ?? undefined);
}

/**
 * Keys of the state at a group that is still its room's current state, read
 * from room_current_state (one primary-key probe per key) rather than down
 * the group's delta chain; rooms.current_state_group and room_current_state
 * change in the same transaction, and one statement sees both in one
 * snapshot. A key whose group is no longer current has no row at all.
 */
const currentStateAt = keyedRead<{ event_nid: number | null }>(
  `SELECT k.key_index, c.event_nid
     FROM unnest($1::text[], $2::bigint[], $3::text[], $4::text[]) WITH ORDINALITY AS k(room_id, sg, type, state_key, key_index)
     JOIN rooms r ON r.room_id = k.room_id AND r.current_state_group = k.sg
     LEFT JOIN room_current_state c ON c.room_id = k.room_id AND c.type = k.type AND c.state_key = k.state_key`,
  4,
);

/**
 * Some keys of some snapshots of one room. A new message's snapshot is
 * usually the room's current state: those keys are read from current state
 * (the visibility check every member's sync makes for it is then one probe
 * each, not one per step of the chain); the rest walk the chain.
 */
export async function stateKeysAtGroupsOfRoom(q: Queryable, roomId: string, groups: readonly number[], keys: StateKeyFilter): Promise<Map<number, StateEntry[]>> {
  const out = new Map<number, StateEntry[]>(groups.map((g) => [g, []]));
  const wanted = groups.flatMap((g) => keys.map(([type, stateKey]) => [g, type, stateKey] as const));
  const current = await currentStateAt(q, wanted.map(([g, type, stateKey]) => [roomId, g, type, stateKey]));
  const rest = wanted.filter((_, i) => current[i]!.length === 0);
  const fromChain = await stateEntriesAtGroups(q, rest);
  const add = ([g, type, stateKey]: readonly [number, string, string], nid: number | null | undefined) => {
    if (nid !== undefined && nid !== null) out.get(g)!.push({ type, stateKey, eventNid: nid });
  };
  wanted.forEach((key, i) => {
    if (current[i]!.length > 0) add(key, current[i]![0]!.event_nid);
  });
  rest.forEach((key, i) => add(key, fromChain[i]));
  return out;
}

/**
 * The state of several snapshots at once, optionally only some keys. One
 * query whatever the number of groups: nearest delta wins per key.
 */
export async function stateAtGroups(q: Queryable, groups: readonly number[], keys?: StateKeyFilter): Promise<Map<number, StateEntry[]>> {
  const out = new Map<number, StateEntry[]>(groups.map((g) => [g, []]));
  if (groups.length === 0) return out;
  if (keys) {
    const wanted = groups.flatMap((g) => keys.map(([type, stateKey]) => [g, type, stateKey] as const));
    const found = await stateEntriesAtGroups(q, wanted);
    wanted.forEach(([g, type, stateKey], i) => {
      const nid = found[i];
      if (nid !== undefined) out.get(g)!.push({ type, stateKey, eventNid: nid });
    });
    return out;
  }
  const found = await wholeStateAt(q, groups.map((g) => [g]));
  groups.forEach((g, i) => {
    for (const r of found[i]!) if (r.event_nid !== null) out.get(g)!.push({ type: r.type, stateKey: r.state_key, eventNid: r.event_nid });
  });
  return out;
}

/** Whole snapshots keyed by group (the chain's origin is the key's position). */
const wholeStateAt = keyedRead<{ type: string; state_key: string; event_nid: number | null }>(
  `WITH RECURSIVE chain(origin, sg, dist) AS (
     SELECT k.key_index, k.g, 0 FROM unnest($1::bigint[]) WITH ORDINALITY AS k(g, key_index)
     UNION ALL
     SELECT c.origin, s.prev_state_group, c.dist + 1
       FROM chain c CROSS JOIN LATERAL (SELECT prev_state_group FROM state_groups WHERE state_group = c.sg OFFSET 0) s
      WHERE s.prev_state_group IS NOT NULL
   )
   SELECT DISTINCT ON (c.origin, e.type, e.state_key) c.origin AS key_index, e.type, e.state_key, e.event_nid
     FROM ${CHAIN_ENTRIES}
    ORDER BY c.origin, e.type, e.state_key, c.dist`,
  1,
);

/** The membership entries of one server's users in several snapshots (for what a remote server may see). */
export async function serverMembersAtGroups(q: Queryable, groups: readonly number[], serverName: string): Promise<Map<number, StateEntry[]>> {
  const out = new Map<number, StateEntry[]>(groups.map((g) => [g, []]));
  if (groups.length === 0) return out;
  const { rows } = await q.query<{ origin: number; type: string; state_key: string; event_nid: number | null }>(
    `${CHAIN_CTE}
     SELECT DISTINCT ON (c.origin, e.state_key) c.origin, e.type, e.state_key, e.event_nid
       FROM chain c CROSS JOIN LATERAL (
         SELECT e.type, e.state_key, e.event_nid FROM state_group_entries e
          WHERE e.state_group = c.sg AND e.type = 'm.room.member' OFFSET 0) e
      WHERE substring(e.state_key from position(':' in e.state_key) + 1) = $2
      ORDER BY c.origin, e.state_key, c.dist`,
    [groups, serverName],
  );
  for (const r of rows) {
    if (r.event_nid !== null) out.get(r.origin)!.push({ type: r.type, stateKey: r.state_key, eventNid: r.event_nid });
  }
  return out;
}

/** Like stateAtGroups, with each entry's event ID (state resolution works on IDs). */
export async function stateIdsAtGroups(q: Queryable, groups: readonly number[]): Promise<Map<number, Array<StateEntry & { eventId: string }>>> {
  const out = new Map<number, Array<StateEntry & { eventId: string }>>(groups.map((g) => [g, []]));
  if (groups.length === 0) return out;
  const { rows } = await q.query<{ origin: number; type: string; state_key: string; event_nid: number; event_id: string }>(
    `${CHAIN_CTE}
     SELECT s.origin, s.type, s.state_key, s.event_nid, ev.event_id FROM (
       SELECT DISTINCT ON (c.origin, e.type, e.state_key) c.origin, e.type, e.state_key, e.event_nid
         FROM ${CHAIN_ENTRIES}
        ORDER BY c.origin, e.type, e.state_key, c.dist) s
     JOIN events ev ON ev.event_nid = s.event_nid`,
    [groups],
  );
  for (const r of rows) out.get(r.origin)!.push({ type: r.type, stateKey: r.state_key, eventNid: r.event_nid, eventId: r.event_id });
  return out;
}

/**
 * A new snapshot = `prev` with `changes` applied. Written as a delta unless
 * the chain would exceed MAX_DELTA_CHAIN, then as a full snapshot.
 */
export async function createStateGroup(q: Queryable, roomId: string, prev: number | null, changes: readonly StateChange[]): Promise<number> {
  let chainLength = 0;
  let entries: readonly StateChange[] = changes;
  let parent = prev;
  if (prev !== null) {
    const { rows } = await q.query<{ chain_length: number }>(`SELECT chain_length FROM state_groups WHERE state_group = $1`, [prev]);
    chainLength = (rows[0]?.chain_length ?? 0) + 1;
    if (chainLength > MAX_DELTA_CHAIN) {
      const full = new Map<string, StateChange>();
      for (const e of (await stateAtGroups(q, [prev])).get(prev) ?? []) full.set(`${e.type}\u0000${e.stateKey}`, e);
      for (const e of changes) {
        const key = `${e.type}\u0000${e.stateKey}`;
        if (e.eventNid === null) full.delete(key);
        else full.set(key, e);
      }
      entries = [...full.values()];
      parent = null;
      chainLength = 0;
    }
  } else {
    // A full snapshot has nothing to remove from.
    entries = changes.filter((e) => e.eventNid !== null);
  }
  const { rows } = await q.query<{ state_group: number }>(
    `INSERT INTO state_groups (room_id, prev_state_group, chain_length) VALUES ($1, $2, $3) RETURNING state_group`,
    [roomId, parent, chainLength],
  );
  const group = rows[0]!.state_group;
  if (entries.length > 0) {
    await q.query(
      `INSERT INTO state_group_entries (state_group, type, state_key, event_nid)
       SELECT $1, t, k, n FROM unnest($2::text[], $3::text[], $4::bigint[]) AS u(t, k, n)`,
      [group, entries.map((e) => e.type), entries.map((e) => e.stateKey), entries.map((e) => e.eventNid)],
    );
  }
  return group;
}

/** A snapshot's parent and its own delta entries (removals included), for cheap diffs along a chain. */
export async function stateGroupDelta(q: Queryable, group: number): Promise<{ prev: number | null; changes: StateChange[] }> {
  const parent = await q.query<{ prev_state_group: number | null }>(`SELECT prev_state_group FROM state_groups WHERE state_group = $1`, [group]);
  const { rows } = await q.query<{ type: string; state_key: string; event_nid: number | null }>(
    `SELECT type, state_key, event_nid FROM state_group_entries WHERE state_group = $1`,
    [group],
  );
  return { prev: parent.rows[0]?.prev_state_group ?? null, changes: rows.map((r) => ({ type: r.type, stateKey: r.state_key, eventNid: r.event_nid })) };
}

/** The snapshot a resolution of exactly these snapshots gave before, if any. */
export async function cachedResolution(q: Queryable, roomId: string, inputGroups: readonly number[]): Promise<number | undefined> {
  const { rows } = await q.query<{ state_group: number }>(`SELECT state_group FROM state_resolutions WHERE room_id = $1 AND input_groups = $2::bigint[]`, [
    roomId,
    inputGroups,
  ]);
  return rows[0]?.state_group;
}

export async function cacheResolution(q: Queryable, roomId: string, inputGroups: readonly number[], group: number): Promise<void> {
  await q.query(`INSERT INTO state_resolutions (room_id, input_groups, state_group) VALUES ($1, $2::bigint[], $3) ON CONFLICT DO NOTHING`, [roomId, inputGroups, group]);
}

/** Current state entries, all or only the given keys. */
export async function currentState(q: Queryable, roomId: string, keys?: StateKeyFilter): Promise<Array<StateEntry & { streamOrdering: number }>> {
  const params: unknown[] = [roomId];
  let filter = "";
  if (keys) {
    params.push(keys.map((k) => k[0]), keys.map((k) => k[1]));
    filter = `AND (type, state_key) IN (SELECT * FROM unnest($2::text[], $3::text[]))`;
  }
  const { rows } = await q.query<{ type: string; state_key: string; event_nid: number; stream_ordering: number }>(
    `SELECT type, state_key, event_nid, stream_ordering FROM room_current_state WHERE room_id = $1 ${filter}`,
    params,
  );
  return rows.map((r) => ({ type: r.type, stateKey: r.state_key, eventNid: r.event_nid, streamOrdering: r.stream_ordering }));
}

/** Current state entries that changed after `since` (for incremental sync). */
export async function currentStateChangedSince(q: Queryable, roomId: string, since: number): Promise<StateEntry[]> {
  const { rows } = await q.query<{ type: string; state_key: string; event_nid: number }>(
    `SELECT type, state_key, event_nid FROM room_current_state WHERE room_id = $1 AND stream_ordering > $2`,
    [roomId, since],
  );
  return rows.map((r) => ({ type: r.type, stateKey: r.state_key, eventNid: r.event_nid }));
}

/**
 * The current state of many keys in one statement (a join's whole state
 * becomes current at once). Each (type, state_key) at most once.
 */
export async function setCurrentStates(q: Queryable, roomId: string, entries: readonly StateEntry[], streamOrdering: number): Promise<void> {
  if (entries.length === 0) return;
  await q.query(
    `INSERT INTO room_current_state (room_id, type, state_key, event_nid, stream_ordering)
     SELECT $1, t, k, n, $5 FROM unnest($2::text[], $3::text[], $4::bigint[]) AS u(t, k, n)
     ON CONFLICT (room_id, type, state_key) DO UPDATE SET event_nid = EXCLUDED.event_nid, stream_ordering = EXCLUDED.stream_ordering`,
    [roomId, entries.map((e) => e.type), entries.map((e) => e.stateKey), entries.map((e) => e.eventNid), streamOrdering],
  );
}

export async function deleteCurrentState(q: Queryable, roomId: string, type: string, stateKey: string): Promise<void> {
  await q.query(`DELETE FROM room_current_state WHERE room_id = $1 AND type = $2 AND state_key = $3`, [roomId, type, stateKey]);
}

/** Positions the current-state entries (and memberships) a commit changed, once its stream position is known. */
export async function positionCurrentState(q: Queryable, roomId: string, keys: ReadonlyArray<readonly [string, string]>, streamOrdering: number): Promise<void> {
  if (keys.length === 0) return;
  const types = keys.map((k) => k[0]);
  const stateKeys = keys.map((k) => k[1]);
  await q.query(
    `UPDATE room_current_state SET stream_ordering = $4 WHERE room_id = $1 AND (type, state_key) IN (SELECT * FROM unnest($2::text[], $3::text[]))`,
    [roomId, types, stateKeys, streamOrdering],
  );
  const members = keys.filter((k) => k[0] === "m.room.member").map((k) => k[1]);
  if (members.length > 0) {
    await q.query(`UPDATE room_memberships SET stream_ordering = $3 WHERE room_id = $1 AND user_id = ANY($2::text[])`, [roomId, members, streamOrdering]);
  }
}

export async function setResolvedStateStream(q: Queryable, roomId: string, streamOrdering: number): Promise<void> {
  await q.query(`UPDATE rooms SET resolved_state_stream = $2 WHERE room_id = $1`, [roomId, streamOrdering]);
}

export async function deleteMembership(q: Queryable, roomId: string, userId: string): Promise<void> {
  await q.query(`DELETE FROM room_memberships WHERE room_id = $1 AND user_id = $2`, [roomId, userId]);
}

export async function setMembership(q: Queryable, roomId: string, userId: string, membership: string, eventNid: number, streamOrdering: number): Promise<void> {
  await q.query(
    `INSERT INTO room_memberships (room_id, user_id, membership, event_nid, stream_ordering) VALUES ($1, $2, $3, $4, $5)
     ON CONFLICT (room_id, user_id) DO UPDATE SET membership = EXCLUDED.membership, event_nid = EXCLUDED.event_nid,
       stream_ordering = EXCLUDED.stream_ordering, forgotten = FALSE`,
    [roomId, userId, membership, eventNid, streamOrdering],
  );
}

/** `setMembership` for many users of one room in one statement; each user at most once. */
export async function setMemberships(q: Queryable, roomId: string, rows: ReadonlyArray<{ userId: string; membership: string; eventNid: number }>, streamOrdering: number): Promise<void> {
  if (rows.length === 0) return;
  await q.query(
    `INSERT INTO room_memberships (room_id, user_id, membership, event_nid, stream_ordering)
     SELECT $1, u, m, n, $5 FROM unnest($2::text[], $3::text[], $4::bigint[]) AS r(u, m, n)
     ON CONFLICT (room_id, user_id) DO UPDATE SET membership = EXCLUDED.membership, event_nid = EXCLUDED.event_nid,
       stream_ordering = EXCLUDED.stream_ordering, forgotten = FALSE`,
    [roomId, rows.map((r) => r.userId), rows.map((r) => r.membership), rows.map((r) => r.eventNid), streamOrdering],
  );
}

export interface MembershipRow {
  roomId: string;
  membership: string;
  eventNid: number;
  streamOrdering: number;
}

type MembershipOfUserRow = { room_id: string; membership: string; event_nid: number; stream_ordering: number; resolved_state_stream: number };

const membershipsOfUsers = keyedRead<MembershipOfUserRow>(
  `SELECT k.key_index, m.room_id, m.membership, m.event_nid, m.stream_ordering, r.resolved_state_stream
     FROM unnest($1::text[]) WITH ORDINALITY AS k(user_id, key_index)
     JOIN room_memberships m ON m.user_id = k.user_id AND NOT m.forgotten
     JOIN rooms r ON r.room_id = m.room_id`,
  1,
);

/** Rooms a user has any membership in (not forgotten), for sync, with each room's rooms.resolved_state_stream. */
export async function membershipsOfUser(q: Queryable, userId: string): Promise<Array<MembershipRow & { resolvedStateStream: number }>> {
  const [rows] = await membershipsOfUsers(q, [[userId]]);
  return rows!.map((r) => ({
    roomId: r.room_id,
    membership: r.membership,
    eventNid: r.event_nid,
    streamOrdering: r.stream_ordering,
    resolvedStateStream: r.resolved_state_stream,
  }));
}

export async function membershipOf(q: Queryable, roomId: string, userId: string): Promise<MembershipRow | undefined> {
  const { rows } = await q.query<{ room_id: string; membership: string; event_nid: number; stream_ordering: number }>(
    `SELECT room_id, membership, event_nid, stream_ordering FROM room_memberships WHERE room_id = $1 AND user_id = $2`,
    [roomId, userId],
  );
  const r = rows[0];
  return r && { roomId: r.room_id, membership: r.membership, eventNid: r.event_nid, streamOrdering: r.stream_ordering };
}

export async function roomMembers(q: Queryable, roomId: string, membership?: string): Promise<Array<{ userId: string; membership: string; eventNid: number }>> {
  const { rows } = await q.query<{ user_id: string; membership: string; event_nid: number }>(
    `SELECT user_id, membership, event_nid FROM room_memberships WHERE room_id = $1 ${membership ? "AND membership = $2" : ""} ORDER BY user_id`,
    membership ? [roomId, membership] : [roomId],
  );
  return rows.map((r) => ({ userId: r.user_id, membership: r.membership, eventNid: r.event_nid }));
}

export async function forgetRoom(q: Queryable, roomId: string, userId: string): Promise<void> {
  await q.query(`UPDATE room_memberships SET forgotten = TRUE WHERE room_id = $1 AND user_id = $2`, [roomId, userId]);
}

export async function insertRoom(q: Queryable, room: { roomId: string; version: string; creator: string; isPublic: boolean; now: number }): Promise<void> {
  await q.query(`INSERT INTO rooms (room_id, room_version, creator, is_public, created_ts) VALUES ($1, $2, $3, $4, $5)`, [
    room.roomId,
    room.version,
    room.creator,
    room.isPublic,
    room.now,
  ]);
}

/**
 * A room learned of over federation (a join, an invite). An existing row is
 * kept, except that a creator learned later (from a join's state, after an
 * invite that did not name it) fills in the empty one.
 */
export async function insertRoomIfMissing(q: Queryable, room: { roomId: string; version: string; creator: string; isPublic: boolean; now: number }): Promise<void> {
  await q.query(
    `INSERT INTO rooms (room_id, room_version, creator, is_public, created_ts) VALUES ($1, $2, $3, $4, $5)
     ON CONFLICT (room_id) DO UPDATE SET creator = EXCLUDED.creator WHERE rooms.creator = '' AND EXCLUDED.creator <> ''`,
    [room.roomId, room.version, room.creator, room.isPublic, room.now],
  );
}

export async function getRoomVersionId(q: Queryable, roomId: string): Promise<string | undefined> {
  const { rows } = await q.query<{ room_version: string }>(`SELECT room_version FROM rooms WHERE room_id = $1`, [roomId]);
  return rows[0]?.room_version;
}

export async function lockRoom(q: Queryable, roomId: string): Promise<void> {
  await q.query(`SELECT pg_advisory_xact_lock(hashtextextended($1, 0))`, [roomId]);
}

export async function getCurrentStateGroup(q: Queryable, roomId: string): Promise<number | null> {
  const { rows } = await q.query<{ current_state_group: number | null }>(`SELECT current_state_group FROM rooms WHERE room_id = $1`, [roomId]);
  return rows[0]?.current_state_group ?? null;
}

export async function setCurrentStateGroup(q: Queryable, roomId: string, group: number): Promise<void> {
  await q.query(`UPDATE rooms SET current_state_group = $2 WHERE room_id = $1`, [roomId, group]);
}

// Keyed by room: the summaries of an initial sync's rooms in one statement.
// The heroes are picked without regard to the viewer (one more than needed,
// the viewer dropped afterwards), so every member's sync asks the same question.
const summariesOf = keyedRead<{ joined: number; invited: number; heroes: string[] }>(
  `SELECT k.key_index, c.joined, c.invited, h.heroes
     FROM unnest($1::text[]) WITH ORDINALITY AS k(room_id, key_index)
     CROSS JOIN LATERAL (
       SELECT count(*) FILTER (WHERE membership = 'join')::int AS joined, count(*) FILTER (WHERE membership = 'invite')::int AS invited
         FROM room_memberships WHERE room_id = k.room_id) c
     CROSS JOIN LATERAL (
       SELECT coalesce(array_agg(user_id ORDER BY user_id), '{}') AS heroes FROM (
         SELECT user_id FROM room_memberships WHERE room_id = k.room_id AND membership IN ('join', 'invite') ORDER BY user_id LIMIT $2) m) h`,
  1,
);

/** Joined and invited counts plus up to `heroes` other members, without loading the member list. */
export async function roomSummaryCounts(q: Queryable, roomId: string, userId: string, heroes = 5): Promise<{ joined: number; invited: number; heroes: string[] }> {
  const [rows] = await summariesOf(q, [[roomId]], [heroes + 1]);
  const summary = rows![0]!;
  return { joined: summary.joined, invited: summary.invited, heroes: summary.heroes.filter((u) => u !== userId).slice(0, heroes) };
}

/** Rooms both users are joined to, by room ID after `after`, and how many there are in all (GET /mutual_rooms). */
export async function mutualJoinedRooms(q: Queryable, userId: string, otherId: string, after: string, limit: number): Promise<{ roomIds: string[]; total: number }> {
  const shared = `FROM room_memberships a JOIN room_memberships b ON b.room_id = a.room_id AND b.user_id = $2 AND b.membership = 'join'
                  WHERE a.user_id = $1 AND a.membership = 'join'`;
  const page = await q.query<{ room_id: string }>(`SELECT a.room_id ${shared} AND a.room_id > $3 ORDER BY a.room_id LIMIT $4`, [userId, otherId, after, limit]);
  const count = await q.query<{ n: number }>(`SELECT count(*)::int AS n ${shared}`, [userId, otherId]);
  return { roomIds: page.rows.map((r) => r.room_id), total: count.rows[0]?.n ?? 0 };
}
