// Read receipts (migrations/0003_receipts_account_data.sql).
import type { Queryable } from "./database.ts";
import { keyedRead } from "./keyed-read.ts";

export interface ReceiptRow {
  roomId: string;
  receiptType: string;
  userId: string;
  threadId: string;
  eventId: string;
  ts: number;
}

export async function upsertReceipt(q: Queryable, receipt: ReceiptRow, streamOrdering: number): Promise<void> {
  await q.query(
    `INSERT INTO receipts (room_id, receipt_type, user_id, thread_id, event_id, ts, stream_ordering) VALUES ($1, $2, $3, $4, $5, $6, $7)
     ON CONFLICT (room_id, receipt_type, user_id, thread_id) DO UPDATE SET event_id = EXCLUDED.event_id, ts = EXCLUDED.ts, stream_ordering = EXCLUDED.stream_ordering`,
    [receipt.roomId, receipt.receiptType, receipt.userId, receipt.threadId, receipt.eventId, receipt.ts, streamOrdering],
  );
}

/** Receipts of a room changed after `since` (all of them when since is undefined). */
const receiptsAfter = keyedRead<{ room_id: string; receipt_type: string; user_id: string; thread_id: string; event_id: string; ts: number }>(
  `SELECT k.key_index, r.room_id, r.receipt_type, r.user_id, r.thread_id, r.event_id, r.ts
     FROM unnest($1::text[], $2::bigint[]) WITH ORDINALITY AS k(room_id, after, key_index)
     JOIN receipts r ON r.room_id = k.room_id AND r.stream_ordering > k.after`,
  2,
);

export async function receiptsSince(q: Queryable, roomId: string, since: number | undefined): Promise<ReceiptRow[]> {
  const [rows] = await receiptsAfter(q, [[roomId, since ?? 0]]);
  return rows!.map((r) => ({ roomId: r.room_id, receiptType: r.receipt_type, userId: r.user_id, threadId: r.thread_id, eventId: r.event_id, ts: r.ts }));
}

/** Which of `roomIds` have receipt changes after `since`. */
export async function roomsWithReceiptsSince(q: Queryable, roomIds: readonly string[], since: number): Promise<Set<string>> {
  if (roomIds.length === 0) return new Set();
  const found = await roomsWithReceiptsAfter(q, roomIds.map((roomId) => [roomId, since]));
  return new Set(roomIds.filter((_, i) => found[i]!.length > 0));
}

const roomsWithReceiptsAfter = keyedRead<Record<string, never>>(
  `SELECT k.key_index FROM unnest($1::text[], $2::bigint[]) WITH ORDINALITY AS k(room_id, since, key_index)
    WHERE EXISTS (SELECT 1 FROM receipts r WHERE r.room_id = k.room_id AND r.stream_ordering > k.since)`,
  2,
);
