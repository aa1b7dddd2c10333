// Root hooks: create the run's database before any test, drop it and the
// run's Redis keys after the last one.
import pg from "pg";
import { migrateToLatest } from "../../server/storage/migrate.ts";
import { dropDatabase, withAdmin } from "./admin-db.ts";
import { deleteRedisKeys } from "./redis-keys.ts";
import { testDatabaseName, testDatabaseUrl, testRedisPrefix } from "./test-env.ts";

export const mochaHooks = {
  async beforeAll(this: Mocha.Context) {
    this.timeout(60_000);
    await withAdmin((c) => c.query(`CREATE DATABASE ${pg.escapeIdentifier(testDatabaseName)} TEMPLATE template0 ENCODING 'UTF8'`));
    await migrateToLatest(testDatabaseUrl);
  },
  async afterAll(this: Mocha.Context) {
    this.timeout(60_000);
    await dropDatabase(testDatabaseName);
    await deleteRedisKeys(testRedisPrefix);
  },
};
