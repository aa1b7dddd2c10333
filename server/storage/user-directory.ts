// User directory search (migrations/0005_profiles_presence.sql): words of the
// search term matched by prefix against the word index, then kept only when
// the requester may see the user: they share a joined room, or the user is
// joined to a room with a public join rule or world-readable history.
import type { Queryable } from "./database.ts";

/** More words only narrow the result further; each costs an index range scan. */
const MAX_WORDS = 8;

export interface DirectoryEntry {
  userId: string;
  displayname: string | null;
  avatarUrl: string | null;
}

// Every word of the term must prefix some word of the user. The longest word
// (usually the most selective) is a btree range on the C-collated index,
// [word, word || U+10FFFF), with constant bounds so the planner estimates it
// well; the other words are checked per candidate among its few index rows.
// Visibility is checked per candidate in a LATERAL subquery, which cannot be
// turned into a hash of every member of every public room: the candidate's
// rooms by index, then primary-key probes for the requester's membership or
// the room's join rule and history visibility.
const SEARCH = `
  WITH matches AS (
    SELECT DISTINCT t.user_id FROM user_directory_search t
     WHERE t.token >= ($5::text COLLATE "C") AND t.token < (($5::text || chr(1114111)) COLLATE "C")
       AND NOT EXISTS (
         SELECT 1 FROM unnest($6::text[]) AS other(w)
          WHERE NOT EXISTS (
            SELECT 1 FROM user_directory_search x
             WHERE x.user_id = t.user_id AND x.token >= (other.w COLLATE "C") AND x.token < ((other.w || chr(1114111)) COLLATE "C")))
  )
  SELECT p.user_id, p.displayname, p.avatar_url
    FROM matches m
    JOIN profiles p ON p.user_id = m.user_id
    JOIN users u ON u.user_id = m.user_id AND NOT u.deactivated
    JOIN LATERAL (
      SELECT 1 FROM room_memberships a
        JOIN room_memberships b ON b.room_id = a.room_id AND b.user_id = $1 AND b.membership = 'join'
       WHERE a.user_id = m.user_id AND a.membership = 'join'
      UNION ALL
      SELECT 1 FROM room_memberships a
        JOIN room_current_state s ON s.room_id = a.room_id AND s.state_key = '' AND s.type IN ('m.room.join_rules', 'm.room.history_visibility')
        JOIN events e ON e.event_nid = s.event_nid
       WHERE a.user_id = m.user_id AND a.membership = 'join'
         AND ((s.type = 'm.room.join_rules' AND e.pdu::jsonb -> 'content' ->> 'join_rule' = 'public')
           OR (s.type = 'm.room.history_visibility' AND e.pdu::jsonb -> 'content' ->> 'history_visibility' = 'world_readable'))
      LIMIT 1
    ) visible ON TRUE
   WHERE m.user_id <> $1
     AND ($4::text IS NULL OR starts_with(lower(m.user_id), $4))
   ORDER BY (coalesce(lower(p.displayname) = lower($2), FALSE) OR lower(split_part(substr(p.user_id, 2), ':', 1)) = lower($2)) DESC,
            (p.displayname IS NULL), (p.avatar_url IS NULL), lower(coalesce(p.displayname, p.user_id)), p.user_id
   LIMIT $3`;

/**
 * Up to `limit` users matching every word of `term`, best first. With
 * `userIdPrefix` (a term typed as a user ID) the user ID must also start
 * with it.
 */
// Tokenised by the same function as the index, in a separate query so the
// search is planned with the words as constants: good row estimates keep the
// planner from costing a short query as a huge one (and compiling it with JIT).
const WORDS = `SELECT coalesce(array_agg(DISTINCT w), '{}') AS words FROM directory_words($1) AS w`;

export async function searchUserDirectory(
  q: Queryable,
  requesterId: string,
  term: string,
  limit: number,
  userIdPrefix?: string,
): Promise<DirectoryEntry[]> {
  const words = (await q.query<{ words: string[] }>(WORDS, [term])).rows[0]!.words.slice(0, MAX_WORDS);
  if (words.length === 0) return [];
  const longest = words.reduce((a, b) => (b.length > a.length ? b : a));
  const { rows } = await q.query<{ user_id: string; displayname: string | null; avatar_url: string | null }>(SEARCH, [
    requesterId,
    term,
    limit,
    userIdPrefix?.toLowerCase() ?? null,
    longest,
    words.filter((w) => w !== longest),
  ]);
  return rows.map((r) => ({ userId: r.user_id, displayname: r.displayname, avatarUrl: r.avatar_url }));
}
