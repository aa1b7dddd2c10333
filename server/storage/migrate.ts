// Applies the SQL migrations in migrations/ at start-up. node-pg-migrate holds
// a PostgreSQL advisory lock for the run ("wait" mode), so several processes
// starting together apply each migration exactly once; all pending migrations
// run in one transaction, so a failure leaves the schema as it was.
import { fileURLToPath } from "node:url";
import { runner } from "node-pg-migrate";
import pg from "pg";

export const MIGRATIONS_DIR = fileURLToPath(new URL("../../migrations", import.meta.url));

export interface MigrationResult {
  applied: string[];
}

export async function migrateToLatest(url: string, log: (message: string) => void = () => undefined): Promise<MigrationResult> {
  const client = new pg.Client({ connectionString: url });
  client.on("error", () => undefined);
  await client.connect();
  try {
    const applied = await runner({
      dbClient: client,
      dir: MIGRATIONS_DIR,
      direction: "up",
      migrationsTable: "schema_migrations",
      singleTransaction: true,
      advisoryLockMode: "wait",
      checkOrder: true,
      log,
      logger: { debug: () => undefined, info: log, warn: log, error: log },
    });
    return { applied: applied.map((m) => m.name) };
  } finally {
    await client.end().catch(() => undefined);
  }
}
