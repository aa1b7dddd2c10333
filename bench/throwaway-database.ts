// What every benchmark starts with: a migrated PostgreSQL database of its own
// on the test server, dropped afterwards, and an exit code for the result.
import { migrateToLatest } from "../server/storage/migrate.ts";
import { dropDatabase, withAdmin } from "../spec/support/admin-db.ts";
import { databaseUrl } from "../spec/support/test-env.ts";

export async function withThrowawayDatabase<T>(prefix: string, work: (url: string) => Promise<T>): Promise<T> {
  const name = `${prefix}_${Date.now()}`;
  await withAdmin((c) => c.query(`CREATE DATABASE ${name}`));
  try {
    await migrateToLatest(databaseUrl(name));
    return await work(databaseUrl(name));
  } finally {
    await dropDatabase(name);
  }
}

/** Runs a benchmark's main and exits 0, or prints the error and exits 1. */
export function runBench(main: () => Promise<void>): void {
  main().then(
    () => process.exit(0),
    (err: unknown) => {
      console.error(err);
      process.exit(1);
    },
  );
}
