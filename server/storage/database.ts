// The PostgreSQL pool and the transaction helper. This folder is the only
// place that imports `pg`; everything else receives a `Database` or, inside a
// transaction, a `Queryable`.
import pg from "pg";

/** Anything that can run a query: the pool, or the client of an open transaction. */
export interface Queryable {
  query<R extends pg.QueryResultRow = pg.QueryResultRow>(text: string, values?: unknown[]): Promise<pg.QueryResult<R>>;
}

export interface Database extends Queryable {
  /** Runs `work` in one transaction; commits if it resolves, rolls back if it throws. */
  transaction<T>(work: (tx: Queryable) => Promise<T>): Promise<T>;
  /** True when a trivial query succeeds within `timeoutMs`. */
  ping(timeoutMs?: number): Promise<boolean>;
  /** The pool's connections, and the statements sent since start (pool and transactions, BEGIN/COMMIT included). */
  stats(): { totalCount: number; idleCount: number; waitingCount: number; statements: number };
  close(): Promise<void>;
}

// BIGINT columns (stream positions, timestamps) fit in a JS number: every
// value we store is below 2^53, and the spec's integers are bounded the same way.
pg.types.setTypeParser(pg.types.builtins.INT8, (value) => Number(value));

export function createDatabase(connectionString: string, options: { max: number; applicationName?: string }): Database {
  const pool = new pg.Pool({
    connectionString,
    max: options.max,
    application_name: options.applicationName ?? "myelin",
    // No JIT: our statements are short index look-ups, and a keyed read over
    // a recursive CTE (whose row estimate is inflated) crossed jit_above_cost
    // and spent ~40 ms compiling for a sub-millisecond execution.
    options: "-c jit=off",
    connectionTimeoutMillis: 10_000,
    idleTimeoutMillis: 30_000,
  });
  // An idle client losing its connection must not crash the process; the pool
  // drops it and the next query opens a fresh one.
  pool.on("error", () => undefined);
  let statements = 0;

  return {
    query: (text, values) => {
      statements++;
      return pool.query(text, values);
    },
    async transaction(work) {
      const client = await pool.connect();
      const tx: Queryable = {
        query: (text, values) => {
          statements++;
          return client.query(text, values);
        },
      };
      try {
        await tx.query("BEGIN");
        const result = await work(tx);
        await tx.query("COMMIT");
        return result;
      } catch (err) {
        await client.query("ROLLBACK").catch(() => undefined);
        throw err;
      } finally {
        client.release();
      }
    },
    async ping(timeoutMs = 2000) {
      let timer: NodeJS.Timeout | undefined;
      const timeout = new Promise<boolean>((resolve) => {
        timer = setTimeout(() => resolve(false), timeoutMs);
      });
      const probe = pool.query("SELECT 1").then(
        () => true,
        () => false,
      );
      const ok = await Promise.race([probe, timeout]);
      clearTimeout(timer);
      return ok;
    },
    stats: () => ({ totalCount: pool.totalCount, idleCount: pool.idleCount, waitingCount: pool.waitingCount, statements }),
    close: () => pool.end(),
  };
}
