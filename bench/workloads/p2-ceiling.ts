// P2's physical ceiling: how fast PostgreSQL on this machine stores the same
// number of event-sized rows, with neither server running. A scratch table
// with an event's minimum indexes (numeric key, unique event ID, room +
// stream order); rows inserted in transactions of `batch` rows on one
// connection (the limit when writes are batched), and for reference one row
// per transaction over 10 connections (each commit waits for its own WAL
// flush, as a server committing each message alone does; 10 is both servers'
// pool size).
import { randomBytes } from "node:crypto";
import pg from "pg";
import { databaseUrl } from "../../spec/support/test-env.ts";
import { mapLimit } from "../lib/pool.ts";
import type { PostgresProbe } from "../lib/postgres.ts";

export interface CeilingFigures {
  rows: number;
  rowBytes: number;
  batch: number;
  batchedRowsPerSecond: number;
  singleRowCommitsPerSecond: number;
  synchronousCommit: string;
}

const TABLE = `CREATE TABLE ceiling (
  nid BIGSERIAL PRIMARY KEY,
  event_id TEXT NOT NULL UNIQUE,
  room_id TEXT NOT NULL,
  stream BIGINT NOT NULL,
  json TEXT NOT NULL
);
CREATE INDEX ceiling_room_stream ON ceiling (room_id, stream)`;

export async function runCeiling(probe: PostgresProbe, p: { rows: number; rowBytes: number; batch: number; stamp: string }): Promise<CeilingFigures> {
  const name = `myelin_bench_${p.stamp}_ceiling`;
  await probe.createDatabase(name);
  const pool = new pg.Pool({ connectionString: databaseUrl(name), max: 10 });
  pool.on("error", () => undefined);
  try {
    await pool.query(TABLE);
    const json = JSON.stringify({ content: { body: "x".repeat(Math.max(0, p.rowBytes - 40)) } }).slice(0, p.rowBytes);
    let stream = 0;
    const row = () => [`$${randomBytes(20).toString("base64url")}`, `!room${stream % 64}:bench`, ++stream, json];

    const batchedStart = performance.now();
    const client = await pool.connect();
    try {
      for (let done = 0; done < p.rows; done += p.batch) {
        const size = Math.min(p.batch, p.rows - done);
        const values: unknown[] = [];
        const tuples: string[] = [];
        for (let i = 0; i < size; i++) {
          tuples.push(`($${i * 4 + 1}, $${i * 4 + 2}, $${i * 4 + 3}, $${i * 4 + 4})`);
          values.push(...row());
        }
        await client.query("BEGIN");
        await client.query(`INSERT INTO ceiling (event_id, room_id, stream, json) VALUES ${tuples.join(", ")}`, values);
        await client.query("COMMIT");
      }
    } finally {
      client.release();
    }
    const batchedSeconds = (performance.now() - batchedStart) / 1000;

    const singleStart = performance.now();
    await mapLimit(
      Array.from({ length: p.rows }, (_, i) => i),
      10,
      () => pool.query("INSERT INTO ceiling (event_id, room_id, stream, json) VALUES ($1, $2, $3, $4)", row()),
    );
    const singleSeconds = (performance.now() - singleStart) / 1000;
    return {
      rows: p.rows,
      rowBytes: p.rowBytes,
      batch: p.batch,
      batchedRowsPerSecond: p.rows / batchedSeconds,
      singleRowCommitsPerSecond: p.rows / singleSeconds,
      synchronousCommit: await probe.setting("synchronous_commit"),
    };
  } finally {
    await pool.end();
    await probe.dropDatabase(name);
  }
}
