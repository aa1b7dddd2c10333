// The published room directory (rooms.is_public) and the per-room summary
// fields it, the space hierarchy and the room summary show, read from current
// state (migrations/0002_rooms_events.sql). There is no stats table yet: each
// read derives the fields from at most ten current-state rows per room and
// counts joined members through the room_memberships primary key.
import type { Queryable } from "./database.ts";

export interface RoomStats {
  roomId: string;
  roomVersion: string;
  joinedMembers: number;
  name: string | null;
  topic: string | null;
  canonicalAlias: string | null;
  avatarUrl: string | null;
  joinRule: string | null;
  /** `allow` of m.room.join_rules (restricted rooms), as stored. */
  joinRuleAllow: unknown;
  historyVisibility: string | null;
  guestAccess: string | null;
  encryption: string | null;
  roomType: string | null;
}

interface StatsRow {
  room_id: string;
  room_version: string;
  joined_members: number;
  name: string | null;
  topic: string | null;
  canonical_alias: string | null;
  avatar_url: string | null;
  join_rule: string | null;
  join_rule_allow: unknown;
  history_visibility: string | null;
  guest_access: string | null;
  encryption: string | null;
  room_type: string | null;
}

/**
 * A string field of one state event's content. `keptByRedaction` says whether
 * the field survives redaction (join_rule, history_visibility, create content);
 * other fields of a redacted event read as absent.
 */
const field = (type: string, key: string, keptByRedaction = false) =>
  `max(CASE WHEN cs.type = '${type}' ${keptByRedaction ? "" : "AND e.redacted_by IS NULL"}
        AND jsonb_typeof(c.content -> '${key}') = 'string' THEN c.content ->> '${key}' END)`;

/** Summary fields of the rooms `target` (a query yielding room_id) selects. */
const STATS_FROM = (target: string) => `
  SELECT r.room_id, r.room_version,
         (SELECT count(*)::int FROM room_memberships m WHERE m.room_id = r.room_id AND m.membership = 'join') AS joined_members,
         s.*
    FROM (${target}) t
    JOIN rooms r ON r.room_id = t.room_id
    CROSS JOIN LATERAL (
      SELECT ${field("m.room.name", "name")} AS name,
             ${field("m.room.topic", "topic")} AS topic,
             ${field("m.room.canonical_alias", "alias")} AS canonical_alias,
             ${field("m.room.avatar", "url")} AS avatar_url,
             ${field("m.room.join_rules", "join_rule", true)} AS join_rule,
             (array_agg(c.content -> 'allow') FILTER (WHERE cs.type = 'm.room.join_rules'))[1] AS join_rule_allow,
             ${field("m.room.history_visibility", "history_visibility", true)} AS history_visibility,
             ${field("m.room.guest_access", "guest_access")} AS guest_access,
             ${field("m.room.encryption", "algorithm")} AS encryption,
             ${field("m.room.create", "type", true)} AS room_type
        FROM room_current_state cs
        JOIN events e ON e.event_nid = cs.event_nid
        CROSS JOIN LATERAL (SELECT e.pdu::jsonb -> 'content' AS content) c
       WHERE cs.room_id = r.room_id AND cs.state_key = ''
         AND cs.type IN ('m.room.name', 'm.room.topic', 'm.room.canonical_alias', 'm.room.avatar', 'm.room.join_rules',
                         'm.room.history_visibility', 'm.room.guest_access', 'm.room.encryption', 'm.room.create')
    ) s`;

const SQL_STATS_OF = STATS_FROM(`SELECT unnest($1::text[]) AS room_id`);

// Rooms a directory may list: published, someone still joined, and open to
// join, knock or read, as Synapse lists them.
// $1 search pattern (NULL = any), $2 room types, $3 whether rooms without a type match (NULL/NULL = any type), $4 limit, $5 offset.
const SQL_PUBLISHED_PAGE = `
  SELECT *, count(*) OVER ()::int AS total FROM (${STATS_FROM(`SELECT room_id FROM rooms WHERE is_public`)}) stats
   WHERE joined_members > 0
     AND (join_rule IN ('public', 'knock', 'knock_restricted') OR history_visibility = 'world_readable')
     AND ($1::text IS NULL OR name ILIKE $1 OR topic ILIKE $1 OR canonical_alias ILIKE $1)
     AND ($2::text[] IS NULL OR room_type = ANY($2) OR ($3 AND room_type IS NULL))
   ORDER BY joined_members DESC, room_id
   LIMIT $4 OFFSET $5`;

const SQL_SPACE_CHILDREN = `SELECT event_nid FROM room_current_state WHERE room_id = $1 AND type = 'm.space.child' ORDER BY state_key`;
const SQL_IS_PUBLIC = `SELECT is_public FROM rooms WHERE room_id = $1`;
const SQL_SET_PUBLIC = `UPDATE rooms SET is_public = $2 WHERE room_id = $1`;

const fromRow = (r: StatsRow): RoomStats => ({
  roomId: r.room_id,
  roomVersion: r.room_version,
  joinedMembers: r.joined_members,
  name: r.name,
  topic: r.topic,
  canonicalAlias: r.canonical_alias,
  avatarUrl: r.avatar_url,
  joinRule: r.join_rule,
  joinRuleAllow: r.join_rule_allow,
  historyVisibility: r.history_visibility,
  guestAccess: r.guest_access,
  encryption: r.encryption,
  roomType: r.room_type,
});

/** Summary fields of the given rooms that this server holds, keyed by room ID. */
export async function roomStats(q: Queryable, roomIds: readonly string[]): Promise<Map<string, RoomStats>> {
  if (roomIds.length === 0) return new Map();
  const { rows } = await q.query<StatsRow>(SQL_STATS_OF, [roomIds]);
  return new Map(rows.map((r) => [r.room_id, fromRow(r)]));
}

export interface DirectoryQuery {
  /** Case-insensitive substring of the name, topic or canonical alias. */
  searchTerm?: string;
  /** Room types to keep; null matches rooms without a type. */
  roomTypes?: ReadonlyArray<string | null>;
  limit: number;
  offset: number;
}

/** One page of the directory, largest rooms first, and how many rooms match in all. */
export async function publishedRoomsPage(q: Queryable, query: DirectoryQuery): Promise<{ rooms: RoomStats[]; total: number }> {
  const pattern = query.searchTerm ? `%${query.searchTerm.replace(/[\\%_]/g, (c) => `\\${c}`)}%` : null;
  const types = query.roomTypes ? query.roomTypes.filter((t): t is string => t !== null) : null;
  const untyped = query.roomTypes ? query.roomTypes.includes(null) : null;
  const { rows } = await q.query<StatsRow & { total: number }>(SQL_PUBLISHED_PAGE, [pattern, types, untyped, query.limit, query.offset]);
  return { rooms: rows.map(fromRow), total: rows[0]?.total ?? 0 };
}

/** Undefined for a room this server does not know. */
export async function isRoomPublished(q: Queryable, roomId: string): Promise<boolean | undefined> {
  const { rows } = await q.query<{ is_public: boolean }>(SQL_IS_PUBLIC, [roomId]);
  return rows[0]?.is_public;
}

export async function setRoomPublished(q: Queryable, roomId: string, published: boolean): Promise<void> {
  await q.query(SQL_SET_PUBLIC, [roomId, published]);
}

/** The current m.space.child events of a room (by event nid), for the space hierarchy. */
export async function spaceChildEventNids(q: Queryable, roomId: string): Promise<number[]> {
  const { rows } = await q.query<{ event_nid: number }>(SQL_SPACE_CHILDREN, [roomId]);
  return rows.map((r) => r.event_nid);
}
