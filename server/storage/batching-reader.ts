// Read queries that arrive together run together. When one commit wakes the
// thousand members of a room, each member's sync issues the same sequence of
// reads (its memberships, its unread counts, the room's new events, ...), in
// step, differing only in their parameters. This reader collects the queries
// issued in one turn of the event loop and sends each distinct SQL text once:
// identical calls share one result, and calls that differ only in parameters
// become one statement, a UNION ALL of the original query once per parameter
// set, so a fan-out costs a constant number of statements rather than a
// number proportional to the room's members. Each branch keeps its own bind
// parameters, so PostgreSQL plans it with the actual values, exactly as it
// plans the query alone (a LATERAL join over the sets would force one generic
// plan on every query; for some that is a thousand times slower).
//
// A query issued alone runs unchanged. Only reads are batched: anything that
// is not a plain SELECT or WITH ... SELECT goes straight to the pool. If a
// batched statement fails, its queries are retried one by one, so batching
// can cost time but never change an answer.
import type pg from "pg";
import type { Database } from "./database.ts";

interface Pending {
  values: unknown[];
  resolve: (result: pg.QueryResult) => void;
  reject: (err: unknown) => void;
}

export interface BatchingReaderStats {
  /** Queries handed to the reader. */
  queries: number;
  /** Statements sent to PostgreSQL for them. */
  statements: number;
}

/** The database, with its pool queries batched; transactions run on their own client, unbatched. */
export interface BatchingReader extends Database {
  batchStats(): BatchingReaderStats;
}

export interface BatchingReaderOptions {
  /**
   * Merge reads that differ only in parameters into one UNION ALL statement
   * (default true). Off, only identical reads are merged: each distinct one
   * runs alone, as without the reader.
   */
  mergeDistinct?: boolean;
  /** Most parameter sets in one statement (each adds a branch to plan). */
  maxBatch?: number;
  /** Called when a batched statement failed (its queries then ran one by one). */
  onBatchError?: (err: unknown, text: string) => void;
}

const READ_ONLY = /^[\s(]*(select|with)\b/i;
// Statements that write, lock, or call a function whose result differs per call.
const NOT_BATCHABLE = /\b(insert|update|delete|merge|for\s+(no\s+key\s+)?update|for\s+(key\s+)?share|nextval|setval|currval|lastval|random|gen_random_\w+|clock_timestamp|txid_\w+|pg_\w+)\b/i;
const PARAMETER = /\$(\d+)\b/g;
const BATCH_INDEX = "__batch_index";
const BATCH_ROW = "__batch_row";

export function createBatchingReader(db: Database, options: BatchingReaderOptions = {}): BatchingReader {
  const maxBatch = options.maxBatch ?? 100;
  const pending = new Map<string, Pending[]>();
  // SQL texts whose batched form failed: they run one by one from then on.
  const unbatchable = new Set<string>();
  const stats: BatchingReaderStats = { queries: 0, statements: 0 };
  let scheduled = false;

  function direct(text: string, values: unknown[] | undefined): Promise<pg.QueryResult> {
    stats.statements++;
    return db.query(text, values);
  }

  function settle(calls: Pending[], work: Promise<pg.QueryResult>): void {
    work.then(
      (result) => {
        for (const call of calls) call.resolve({ ...result, rows: result.rows.slice() });
      },
      (err: unknown) => {
        for (const call of calls) call.reject(err);
      },
    );
  }

  async function runChunk(text: string, chunk: Pending[][]): Promise<void> {
    stats.statements++;
    const sets = chunk.map((calls) => calls[0]!.values);
    const result = await db.query(unionBatch(text, sets.map((values) => values.length)), sets.flat());
    const byIndex = new Map<number, pg.QueryResultRow[]>(chunk.map((_, i) => [i, []]));
    for (const row of result.rows) {
      const index = Number(row[BATCH_INDEX]);
      delete row[BATCH_INDEX];
      delete row[BATCH_ROW];
      byIndex.get(index)!.push(row);
    }
    const fields = result.fields.filter((f) => f.name !== BATCH_INDEX && f.name !== BATCH_ROW);
    chunk.forEach((calls, i) => {
      const rows = byIndex.get(i)!;
      for (const call of calls) call.resolve({ ...result, fields, rows: rows.slice(), rowCount: rows.length });
    });
  }

  async function runBatch(text: string, groups: Pending[][]): Promise<void> {
    const chunks: Pending[][][] = [];
    for (let start = 0; start < groups.length; start += maxBatch) chunks.push(groups.slice(start, start + maxBatch));
    // Chunks run in parallel, on as many pool connections as are free.
    await Promise.all(
      chunks.map((chunk) =>
        runChunk(text, chunk).catch((err: unknown) => {
          options.onBatchError?.(err, text);
          const code = (err as { code?: unknown }).code;
          if (typeof code !== "string" || code.length !== 5) {
            // Not an answer from PostgreSQL (no free connection, a lost one):
            // running each query alone would only add to the pile.
            for (const calls of chunk) for (const call of calls) call.reject(err);
            return;
          }
          // A statement PostgreSQL cannot plan as a branch (SQL states 42xxx)
          // will not work next time either; an error from one set's values
          // (22xxx) fails only that set's callers once each runs alone.
          if (code.startsWith("42")) unbatchable.add(text);
          for (const calls of chunk) settle(calls, direct(text, calls[0]!.values));
        }),
      ),
    );
  }

  function flush(): void {
    scheduled = false;
    const batches = [...pending];
    pending.clear();
    for (const [text, calls] of batches) {
      // Identical parameters share one answer.
      const groups = new Map<string, Pending[]>();
      for (const call of calls) {
        const key = JSON.stringify(call.values);
        const group = groups.get(key);
        if (group) group.push(call);
        else groups.set(key, [call]);
      }
      if (groups.size === 1 || unbatchable.has(text) || options.mergeDistinct === false) {
        for (const group of groups.values()) settle(group, direct(text, group[0]!.values));
      } else {
        void runBatch(text, [...groups.values()]);
      }
    }
  }

  return {
    ...db,
    query<R extends pg.QueryResultRow>(text: string, values: unknown[] = []): Promise<pg.QueryResult<R>> {
      stats.queries++;
      if (!READ_ONLY.test(text) || NOT_BATCHABLE.test(text)) return direct(text, values) as Promise<pg.QueryResult<R>>;
      return new Promise<pg.QueryResult<R>>((resolve, reject) => {
        const calls = pending.get(text);
        const call: Pending = { values, resolve: resolve as (r: pg.QueryResult) => void, reject };
        if (calls) calls.push(call);
        else pending.set(text, [call]);
        if (!scheduled) {
          scheduled = true;
          setImmediate(flush);
        }
      });
    },
    batchStats: () => ({ ...stats }),
  };
}

/**
 * The statement that runs `text` once per parameter set: a UNION ALL with
 * one branch per set, each branch's $k renumbered to that set's place in the
 * combined parameter list. Rows come back ordered by set and, within a set,
 * in the original query's order.
 */
export function unionBatch(text: string, parameterCounts: readonly number[]): string {
  let offset = 0;
  const branches = parameterCounts.map((count, index) => {
    const base = offset;
    offset += count;
    const inner = text.replace(PARAMETER, (_, digits: string) => `$${base + Number(digits)}`);
    return `(SELECT ${index} AS ${BATCH_INDEX}, __s.*, row_number() OVER () AS ${BATCH_ROW} FROM (${inner}) AS __s)`;
  });
  return `${branches.join(" UNION ALL ")} ORDER BY ${BATCH_INDEX}, ${BATCH_ROW}`;
}
