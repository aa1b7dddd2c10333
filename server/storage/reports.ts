// Content reports (migrations/0006_relations.sql), written by the client API
// and read by the admin CLI.
import type { Queryable } from "./database.ts";

export interface NewReport {
  roomId: string;
  /** Absent for a report of the whole room. */
  eventId?: string | undefined;
  reporter: string;
  reason?: string | undefined;
  score?: number | undefined;
  receivedTs: number;
}

const INSERT_REPORT = `
  INSERT INTO reports (room_id, event_id, reporter, reason, score, received_ts) VALUES ($1, $2, $3, $4, $5, $6) RETURNING report_id`;

export async function insertReport(q: Queryable, r: NewReport): Promise<number> {
  const { rows } = await q.query<{ report_id: number }>(INSERT_REPORT, [r.roomId, r.eventId ?? null, r.reporter, r.reason ?? null, r.score ?? null, r.receivedTs]);
  return rows[0]!.report_id;
}

export interface ReportRow {
  reportId: number;
  roomId: string;
  eventId: string | null;
  reporter: string;
  reason: string | null;
  score: number | null;
  receivedTs: number;
}

const LIST_REPORTS = `
  SELECT report_id, room_id, event_id, reporter, reason, score, received_ts FROM reports ORDER BY received_ts DESC, report_id DESC LIMIT $1`;

/** The newest reports first (admin review). */
export async function listReports(q: Queryable, limit: number): Promise<ReportRow[]> {
  const { rows } = await q.query<{
    report_id: number;
    room_id: string;
    event_id: string | null;
    reporter: string;
    reason: string | null;
    score: number | null;
    received_ts: number;
  }>(LIST_REPORTS, [limit]);
  return rows.map((r) => ({
    reportId: r.report_id,
    roomId: r.room_id,
    eventId: r.event_id,
    reporter: r.reporter,
    reason: r.reason,
    score: r.score,
    receivedTs: r.received_ts,
  }));
}

/** A report of a user (migrations/0018_threepids.sql). */
export async function insertUserReport(q: Queryable, r: { targetUserId: string; reporter: string; reason: string; receivedTs: number }): Promise<number> {
  const { rows } = await q.query<{ report_id: number }>(
    `INSERT INTO user_reports (target_user_id, reporter, reason, received_ts) VALUES ($1, $2, $3, $4) RETURNING report_id`,
    [r.targetUserId, r.reporter, r.reason, r.receivedTs],
  );
  return rows[0]!.report_id;
}
