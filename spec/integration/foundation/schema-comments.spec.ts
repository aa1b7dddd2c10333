// Every table and column the migrations create carries a comment (the house rule).
import { expect } from "chai";
import pg from "pg";
import { testDatabaseUrl } from "../../support/test-env.ts";

describe("database schema", () => {
  it("has a comment on every column of every table", async () => {
    const client = new pg.Client({ connectionString: testDatabaseUrl });
    await client.connect();
    try {
      const { rows } = await client.query<{ table_name: string; column_name: string }>(`
        SELECT c.table_name, c.column_name
          FROM information_schema.columns c
          JOIN pg_class t ON t.relname = c.table_name
          JOIN pg_namespace n ON n.oid = t.relnamespace AND n.nspname = c.table_schema
         WHERE c.table_schema = 'public' AND c.table_name <> 'schema_migrations'
           AND col_description(t.oid, c.ordinal_position) IS NULL`);
      expect(rows.map((r) => `${r.table_name}.${r.column_name}`)).to.deep.equal([]);
      const tables = await client.query(`SELECT count(*)::int AS n FROM information_schema.tables WHERE table_schema = 'public'`);
      expect(tables.rows[0].n).to.be.greaterThan(1);
    } finally {
      await client.end();
    }
  });
});
