// The batching reader against the real PostgreSQL: reads issued together
// become one statement with the same answers as separate queries, identical
// reads share one answer, writes are never merged, and a batch that fails
// falls back to separate queries so each caller gets its own answer.
import { expect } from "chai";
import { createBatchingReader, type BatchingReader } from "../../../server/storage/batching-reader.ts";
import { createDatabase, type Database } from "../../../server/storage/database.ts";
import { testDatabaseUrl } from "../../support/test-env.ts";

describe("batching reader (real PostgreSQL)", function () {
  let db: Database;
  let reader: BatchingReader;
  const table = `batching_probe_${process.pid}`;

  before(async () => {
    db = createDatabase(testDatabaseUrl, { max: 4 });
    await db.query(`CREATE TABLE ${table} (owner TEXT NOT NULL, n BIGINT NOT NULL, tags TEXT[] NOT NULL DEFAULT '{}')`);
    for (const owner of ["a", "b", "c"]) {
      for (let n = 1; n <= 5; n++) await db.query(`INSERT INTO ${table} (owner, n, tags) VALUES ($1, $2, $3)`, [owner, n, [`t${n % 2}`]]);
    }
  });

  beforeEach(() => {
    reader = createBatchingReader(db);
  });

  after(async () => {
    await db.query(`DROP TABLE IF EXISTS ${table}`);
    await db.close();
  });

  const statementsOf = async <T>(work: () => Promise<T>): Promise<{ value: T; statements: number }> => {
    const before = reader.batchStats().statements;
    const value = await work();
    return { value, statements: reader.batchStats().statements - before };
  };

  it("runs reads that differ in parameters as one statement, each with its own rows in the query's order", async () => {
    const sql = `SELECT owner, n FROM ${table} WHERE owner = $1 AND n > $2 ORDER BY n DESC LIMIT $3`;
    const calls: Array<[string, number, number]> = [["a", 1, 2], ["b", 0, 10], ["c", 4, 3], ["nobody", 0, 5]];
    const { value, statements } = await statementsOf(() => Promise.all(calls.map((c) => reader.query(sql, c))));
    expect(statements).to.equal(1);
    for (const [i, c] of calls.entries()) {
      const alone = await db.query(sql, c);
      expect(value[i]!.rows).to.deep.equal(alone.rows);
      expect(value[i]!.rowCount).to.equal(alone.rows.length);
    }
    expect(value[0]!.rows.map((r) => Number(r.n))).to.deep.equal([5, 4]);
    expect(value[3]!.rows).to.deep.equal([]);
  });

  it("carries array parameters, empty arrays and nulls, each set planned with its own values", async () => {
    const sql = `SELECT owner, n FROM ${table} WHERE owner = ANY($1::text[]) AND ($2::bigint IS NULL OR n = $2) AND tags && $3 ORDER BY owner, n`;
    const calls: unknown[][] = [[["a", "b"], null, ["t1"]], [[], 3, ["t1"]], [["c"], 4, ["t0"]], [["a"], null, []]];
    const value = await Promise.all(calls.map((c) => reader.query(sql, c)));
    for (const [i, c] of calls.entries()) expect(value[i]!.rows, JSON.stringify(c)).to.deep.equal((await db.query(sql, c)).rows);
    expect(value[0]!.rows).to.have.length(6);
    expect(value[2]!.rows).to.deep.equal([{ owner: "c", n: 4 }]);
  });

  it("shares one answer between identical reads, each caller getting its own array", async () => {
    const sql = `SELECT n FROM ${table} WHERE owner = $1 ORDER BY n`;
    const { value, statements } = await statementsOf(() => Promise.all([1, 2, 3].map(() => reader.query(sql, ["b"]))));
    expect(statements).to.equal(1);
    value[0]!.rows.pop();
    expect(value[1]!.rows).to.have.length(5);
    expect(value[2]!.rows).to.have.length(5);
  });

  it("never merges or deduplicates writes", async () => {
    const insert = `INSERT INTO ${table} (owner, n) VALUES ($1, $2)`;
    const { statements } = await statementsOf(() => Promise.all([1, 2].map(() => reader.query(insert, ["w", 1]))));
    expect(statements).to.equal(2);
    const { rows } = await db.query(`SELECT count(*)::int AS k FROM ${table} WHERE owner = 'w'`);
    expect(rows[0]!.k).to.equal(2);
  });

  it("falls back to separate queries when a batch fails, so only the failing caller sees the error", async () => {
    const sql = `SELECT 100 / $1::int AS q`;
    const outcomes = await Promise.allSettled([4, 0, 5].map((d) => reader.query(sql, [d])));
    expect(outcomes[0]).to.deep.include({ status: "fulfilled" });
    expect((outcomes[0] as PromiseFulfilledResult<{ rows: unknown[] }>).value.rows).to.deep.equal([{ q: 25 }]);
    expect(outcomes[1]!.status).to.equal("rejected");
    expect(((outcomes[1] as PromiseRejectedResult).reason as { code?: string }).code).to.equal("22012");
    expect((outcomes[2] as PromiseFulfilledResult<{ rows: unknown[] }>).value.rows).to.deep.equal([{ q: 20 }]);
  });

  it("runs a read issued alone unchanged, and still answers a read with volatile functions separately", async () => {
    const { statements } = await statementsOf(() => reader.query(`SELECT n FROM ${table} WHERE owner = $1`, ["a"]));
    expect(statements).to.equal(1);
    const randoms = await Promise.all([1, 2, 3].map(() => reader.query(`SELECT random() AS r`)));
    expect(new Set(randoms.map((r) => r.rows[0]!.r)).size).to.equal(3);
  });
});
