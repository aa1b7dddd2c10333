// Reads from one server's own database over a direct connection (not through
// the counting proxy, so the bench's questions are not counted as the server's).
import pg from "pg";
import { databaseUrl } from "../../spec/support/test-env.ts";

async function withDatabase<T>(database: string, work: (client: pg.Client) => Promise<T>): Promise<T> {
  const client = new pg.Client({ connectionString: databaseUrl(database), application_name: "myelin-bench-probe" });
  await client.connect();
  try {
    return await work(client);
  } finally {
    await client.end();
  }
}

/** Bytes per table, with its indexes and TOAST. */
export function tableBytes(database: string): Promise<Map<string, number>> {
  return withDatabase(database, async (client) => {
    const { rows } = await client.query<{ name: string; bytes: string }>(
      `SELECT c.relname AS name, pg_total_relation_size(c.oid) AS bytes
         FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
        WHERE c.relkind IN ('r', 'm') AND n.nspname NOT IN ('pg_catalog', 'information_schema')`,
    );
    return new Map(rows.map((r) => [r.name, Number(r.bytes)]));
  });
}

/** The mean size of the stored JSON of m.room.message events, bytes. */
export function meanMessageBytes(database: string, kind: "myelin" | "synapse"): Promise<number> {
  const sql =
    kind === "myelin"
      ? "SELECT avg(octet_length(pdu)) AS bytes FROM events WHERE type = 'm.room.message'"
      : "SELECT avg(octet_length(j.json)) AS bytes FROM event_json j JOIN events e USING (event_id) WHERE e.type = 'm.room.message'";
  return withDatabase(database, async (client) => Math.round(Number((await client.query<{ bytes: string }>(sql)).rows[0]?.bytes ?? 0)));
}
