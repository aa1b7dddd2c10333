// Global and per-room account data (migrations/0003_receipts_account_data.sql).
import type { Queryable } from "./database.ts";
import { keyedRead } from "./keyed-read.ts";

export async function putAccountData(q: Queryable, userId: string, roomId: string, type: string, content: unknown, streamOrdering: number): Promise<void> {
  await q.query(
    `INSERT INTO account_data (user_id, room_id, type, content, stream_ordering) VALUES ($1, $2, $3, $4, $5)
     ON CONFLICT (user_id, room_id, type) DO UPDATE SET content = EXCLUDED.content, stream_ordering = EXCLUDED.stream_ordering`,
    [userId, roomId, type, JSON.stringify(content), streamOrdering],
  );
}

const accountDataOfKeys = keyedRead<{ content: Record<string, unknown> }>(
  `SELECT k.key_index, a.content
     FROM unnest($1::text[], $2::text[], $3::text[]) WITH ORDINALITY AS k(user_id, room_id, type, key_index)
     JOIN account_data a ON a.user_id = k.user_id AND a.room_id = k.room_id AND a.type = k.type`,
  3,
);

export async function getAccountData(q: Queryable, userId: string, roomId: string, type: string): Promise<Record<string, unknown> | undefined> {
  const [rows] = await accountDataOfKeys(q, [[userId, roomId, type]]);
  return rows![0]?.content;
}

export interface AccountDataRow {
  roomId: string;
  type: string;
  content: Record<string, unknown>;
}

const accountDataChangedSince = keyedRead<{ room_id: string; type: string; content: Record<string, unknown> }>(
  `SELECT k.key_index, a.room_id, a.type, a.content
     FROM unnest($1::text[], $2::bigint[]) WITH ORDINALITY AS k(user_id, since, key_index)
     JOIN account_data a ON a.user_id = k.user_id AND a.stream_ordering > k.since`,
  2,
);

/** A user's account data changed after `since` (all when undefined), global rows have roomId "". */
export async function accountDataSince(q: Queryable, userId: string, since: number | undefined): Promise<AccountDataRow[]> {
  const [rows] = await accountDataChangedSince(q, [[userId, since ?? 0]]);
  return rows!.map((r) => ({ roomId: r.room_id, type: r.type, content: r.content }));
}

/** One global account data type for several users at once (e.g. push rules of a room's members). */
export async function globalAccountDataOfUsers(q: Queryable, userIds: readonly string[], type: string): Promise<Map<string, Record<string, unknown>>> {
  if (userIds.length === 0) return new Map();
  const { rows } = await q.query<{ user_id: string; content: Record<string, unknown> }>(
    `SELECT user_id, content FROM account_data WHERE user_id = ANY($1::text[]) AND room_id = '' AND type = $2`,
    [userIds, type],
  );
  return new Map(rows.map((r) => [r.user_id, r.content]));
}

/** A user's account data for one room (GET /rooms/{roomId}/initialSync). */
export async function roomAccountData(q: Queryable, userId: string, roomId: string): Promise<Array<{ type: string; content: Record<string, unknown> }>> {
  const { rows } = await q.query<{ type: string; content: Record<string, unknown> }>(
    `SELECT type, content FROM account_data WHERE user_id = $1 AND room_id = $2 ORDER BY type`,
    [userId, roomId],
  );
  return rows;
}
