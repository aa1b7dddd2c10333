// A short-lived connection to the test PostgreSQL server's maintenance database.
import pg from "pg";
import { testDatabaseUrl, testServerUrl } from "./test-env.ts";

export async function withAdmin<T>(work: (client: pg.Client) => Promise<T>): Promise<T> {
  const client = new pg.Client({ connectionString: testServerUrl });
  await client.connect();
  try {
    return await work(client);
  } finally {
    await client.end();
  }
}

export function dropDatabase(name: string): Promise<unknown> {
  return withAdmin((c) => c.query(`DROP DATABASE IF EXISTS ${pg.escapeIdentifier(name)} WITH (FORCE)`));
}

/** One query on the run's own database (or `url`), on a short-lived connection (tests that look behind the API). */
export async function queryTestDatabase<T extends pg.QueryResultRow>(text: string, values: unknown[] = [], url = testDatabaseUrl): Promise<T[]> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    return (await client.query<T>(text, values)).rows;
  } finally {
    await client.end();
  }
}
