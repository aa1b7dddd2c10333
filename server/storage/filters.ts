// Stored sync filters (migrations/0002_rooms_events.sql, user_filters).
import type { Queryable } from "./database.ts";

export async function insertFilter(q: Queryable, userId: string, filter: unknown): Promise<string> {
  const { rows } = await q.query<{ filter_id: number }>(`INSERT INTO user_filters (user_id, filter_json) VALUES ($1, $2) RETURNING filter_id`, [userId, JSON.stringify(filter)]);
  return String(rows[0]!.filter_id);
}

export async function getFilter(q: Queryable, userId: string, filterId: string): Promise<unknown> {
  if (!/^\d{1,18}$/.test(filterId)) return undefined;
  const { rows } = await q.query<{ filter_json: unknown }>(`SELECT filter_json FROM user_filters WHERE user_id = $1 AND filter_id = $2`, [userId, filterId]);
  return rows[0]?.filter_json;
}
