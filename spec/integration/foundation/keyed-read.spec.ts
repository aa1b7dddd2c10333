// Keyed reads against the real PostgreSQL: callers in the same turn share one
// statement, each gets exactly the rows of its own keys (in key order, shared
// parameters applied), identical keys are sent once, a transaction's reads run
// alone on its client, and a failing statement fails every caller of it.
import { expect } from "chai";
import { createDatabase, type Database } from "../../../server/storage/database.ts";
import { keyedRead } from "../../../server/storage/keyed-read.ts";
import { tickBatch } from "../../../server/lib/tick-batch.ts";
import { testDatabaseUrl } from "../../support/test-env.ts";

describe("keyed reads (real PostgreSQL)", function () {
  let db: Database;
  const table = `keyed_probe_${process.pid}`;

  before(async () => {
    db = createDatabase(testDatabaseUrl, { max: 4 });
    await db.query(`CREATE TABLE ${table} (owner TEXT NOT NULL, n BIGINT NOT NULL)`);
    for (const owner of ["a", "b", "c"]) for (let n = 1; n <= 5; n++) await db.query(`INSERT INTO ${table} (owner, n) VALUES ($1, $2)`, [owner, n]);
  });

  after(async () => {
    await db.query(`DROP TABLE IF EXISTS ${table}`);
    await db.close();
  });

  /** Answers without the key_index column every keyed row carries. */
  const columns = <R>(answers: R[][][]): unknown[] => answers.map((answer) => answer.map((rows) => rows.map((row) => Object.fromEntries(Object.entries(row as object).filter(([k]) => k !== "key_index")))));

  const statementsOf = async <T>(work: () => Promise<T>): Promise<{ value: T; statements: number }> => {
    const before = db.stats().statements;
    const value = await work();
    return { value, statements: db.stats().statements - before };
  };

  // Rows of `owner` above `after`, at most $3 of them per key, newest first.
  const rowsAfter = () =>
    keyedRead<{ owner: string; n: number }>(
      `SELECT k.key_index, t.* FROM unnest($1::text[], $2::bigint[]) WITH ORDINALITY AS k(owner, after, key_index)
         CROSS JOIN LATERAL (SELECT owner, n FROM ${table} WHERE owner = k.owner AND n > k.after ORDER BY n DESC LIMIT $3) t`,
      2,
    );

  it("answers callers of one turn with one statement, each with the rows of its own keys in order", async () => {
    const read = rowsAfter();
    const { value, statements } = await statementsOf(() =>
      Promise.all([read(db, [["a", 3]], [10]), read(db, [["b", 0], ["nobody", 0]], [10]), read(db, [["c", 4], ["a", 3]], [10])]),
    );
    expect(statements).to.equal(1);
    const [first, second, third] = columns(value) as Array<Array<Array<{ owner: string; n: number }>>>;
    expect(first).to.deep.equal([[{ owner: "a", n: 5 }, { owner: "a", n: 4 }]]);
    expect(second![0]!.map((r) => r.n)).to.deep.equal([5, 4, 3, 2, 1]);
    expect(second![1]).to.deep.equal([]);
    expect(third).to.deep.equal([[{ owner: "c", n: 5 }], [{ owner: "a", n: 5 }, { owner: "a", n: 4 }]]);
  });

  it("keeps callers with different shared parameters apart, and each limit per key", async () => {
    const read = rowsAfter();
    const { value, statements } = await statementsOf(() => Promise.all([read(db, [["a", 0]], [1]), read(db, [["a", 0]], [2]), read(db, [["b", 0]], [1])]));
    expect(statements).to.equal(2);
    expect(value.map((answer) => answer[0]!.map((r) => r.n))).to.deep.equal([[5], [5, 4], [5]]);
  });

  it("sends identical keys once: a hundred callers asking about the same owner are one key", async () => {
    const read = keyedRead<{ n: number }>(
      `SELECT k.key_index, count(*)::int AS n FROM unnest($1::text[]) WITH ORDINALITY AS k(owner, key_index)
         JOIN ${table} t ON t.owner = k.owner GROUP BY k.key_index`,
      1,
    );
    const { value, statements } = await statementsOf(() => Promise.all(Array.from({ length: 100 }, () => read(db, [["b"]]))));
    expect(statements).to.equal(1);
    for (const answer of columns(value)) expect(answer).to.deep.equal([[{ n: 5 }]]);
  });

  it("runs inside a transaction on the transaction's client, seeing its uncommitted rows", async () => {
    const read = rowsAfter();
    const seen = await db.transaction(async (tx) => {
      await tx.query(`INSERT INTO ${table} (owner, n) VALUES ('t', 1)`);
      const rows = await read(tx, [["t", 0]], [10]);
      await tx.query(`DELETE FROM ${table} WHERE owner = 't'`);
      return rows;
    });
    expect(columns([seen])[0]).to.deep.equal([[{ owner: "t", n: 1 }]]);
  });

  it("fails every caller of a statement that fails, and the next turn's callers are unaffected", async () => {
    const broken = keyedRead(`SELECT k.key_index, 1 / (k.n - k.n) AS boom FROM unnest($1::bigint[]) WITH ORDINALITY AS k(n, key_index)`, 1);
    const results = await Promise.allSettled([broken(db, [[1]]), broken(db, [[2]])]);
    expect(results.map((r) => r.status)).to.deep.equal(["rejected", "rejected"]);
    expect((results[0] as PromiseRejectedResult).reason.code).to.equal("22012");
    expect(columns([await rowsAfter()(db, [["a", 4]], [10])])[0]).to.deep.equal([[{ owner: "a", n: 5 }]]);
  });

  it("batches single-key lookups of one turn into one bulk load (tick-batch), identical keys shared", async () => {
    const loads: string[][] = [];
    const lookup = tickBatch(async (keys) => {
      loads.push(keys);
      return keys.map((k) => k.toUpperCase());
    });
    const answers = await Promise.all(["x", "y", "x", "z"].map((k) => lookup(k)));
    expect(answers).to.deep.equal(["X", "Y", "X", "Z"]);
    expect(loads).to.deep.equal([["x", "y", "z"]]);
    expect(await lookup("w")).to.equal("W");
    expect(loads).to.have.length(2);
  });
});
