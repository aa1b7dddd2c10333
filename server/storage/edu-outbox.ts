// The durable EDU outbox of the federation sender (migrations/0015_e2ee_federation.sql):
// EDUs that must reach a destination even across a crash or an outage.
// Rows are written in the transaction of the change they announce, read in
// order per destination, and deleted by ID once delivered: deleting exactly
// what was sent (rather than moving a position) cannot skip a row whose
// transaction committed after a later one's.
import type { JsonObject } from "../protocol/json.ts";
import type { Queryable } from "./database.ts";

export interface NewOutboxEdu {
  destination: string;
  eduType: string;
  content: JsonObject;
}

export interface OutboxEdu {
  id: number;
  eduType: string;
  content: JsonObject;
}

export async function insertOutboxEdus(q: Queryable, edus: readonly NewOutboxEdu[], now: number): Promise<void> {
  if (edus.length === 0) return;
  await q.query(
    `INSERT INTO federation_edu_outbox (destination, edu_type, content, created_ts)
     SELECT d, t, c, $4 FROM unnest($1::text[], $2::text[], $3::text[]) WITH ORDINALITY AS e(d, t, c, n) ORDER BY n`,
    [edus.map((e) => e.destination), edus.map((e) => e.eduType), edus.map((e) => JSON.stringify(e.content)), now],
  );
}

/**
 * The destination's oldest waiting EDUs: at most `limit`, and no more than
 * `maxBytes` of content (but always the first, whatever its size).
 */
export async function outboxFor(q: Queryable, destination: string, limit: number, maxBytes: number): Promise<OutboxEdu[]> {
  if (limit <= 0) return [];
  const { rows } = await q.query<{ outbox_id: number; edu_type: string; content: string }>(
    `SELECT outbox_id, edu_type, content FROM federation_edu_outbox WHERE destination = $1 ORDER BY outbox_id LIMIT $2`,
    [destination, limit],
  );
  const out: OutboxEdu[] = [];
  let bytes = 0;
  for (const r of rows) {
    bytes += r.content.length;
    if (out.length > 0 && bytes > maxBytes) break;
    out.push({ id: r.outbox_id, eduType: r.edu_type, content: JSON.parse(r.content) as JsonObject });
  }
  return out;
}

export async function deleteOutboxEdus(q: Queryable, ids: readonly number[]): Promise<void> {
  if (ids.length === 0) return;
  await q.query(`DELETE FROM federation_edu_outbox WHERE outbox_id = ANY($1::bigint[])`, [ids]);
}

/** Destinations with EDUs waiting (woken at start-up). */
export async function destinationsWithOutbox(q: Queryable): Promise<string[]> {
  const { rows } = await q.query<{ destination: string }>(`SELECT DISTINCT destination FROM federation_edu_outbox`);
  return rows.map((r) => r.destination);
}

/** Drops the destination's EDUs written before `before`; returns how many. */
export async function pruneOutbox(q: Queryable, destination: string, before: number): Promise<number> {
  const { rowCount } = await q.query(`DELETE FROM federation_edu_outbox WHERE destination = $1 AND created_ts < $2`, [destination, before]);
  return rowCount ?? 0;
}
