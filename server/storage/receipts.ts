// Read receipts (migrations/0003_receipts_account_data.sql).
import type { Queryable } from "./database.ts";

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
export async function receiptsSince(q: Queryable, roomId: string, since: number | undefined): Promise<ReceiptRow[]> {
  const { rows } = await q.query<{ room_id: string; receipt_type: string; user_id: string; thread_id: string; event_id: string; ts: number }>(
    `SELECT room_id, receipt_type, user_id, thread_id, event_id, ts FROM receipts WHERE room_id = $1 AND stream_ordering > $2`,
    [roomId, since ?? 0],
  );
  return rows.map((r) => ({ roomId: r.room_id, receiptType: r.receipt_type, userId: r.user_id, threadId: r.thread_id, eventId: r.event_id, ts: r.ts }));
}

/** Which of `roomIds` have receipt changes after `since`. */
export async function roomsWithReceiptsSince(q: Queryable, roomIds: readonly string[], since: number): Promise<Set<string>> {
  if (roomIds.length === 0) return new Set();
  const { rows } = await q.query<{ room_id: string }>(
    `SELECT DISTINCT room_id FROM receipts WHERE room_id = ANY($1::text[]) AND stream_ordering > $2`,
    [roomIds, since],
  );
  return new Set(rows.map((r) => r.room_id));
}
