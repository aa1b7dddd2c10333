// Root hooks: create the run's database before any test, drop it and the
// run's Redis keys after the last one.
import pg from "pg";
import { Redis } from "ioredis";
import { migrateToLatest } from "../../server/storage/migrate.ts";
import { dropDatabase, withAdmin } from "./admin-db.ts";
import { testDatabaseName, testDatabaseUrl, testRedisPrefix, testRedisUrl } from "./test-env.ts";

export const mochaHooks = {
  async beforeAll(this: Mocha.Context) {
    this.timeout(60_000);
    await withAdmin((c) => c.query(`CREATE DATABASE ${pg.escapeIdentifier(testDatabaseName)} TEMPLATE template0 ENCODING 'UTF8'`));
    await migrateToLatest(testDatabaseUrl);
  },
  async afterAll(this: Mocha.Context) {
    this.timeout(60_000);
    await dropDatabase(testDatabaseName);
    const redis = new Redis(testRedisUrl, { lazyConnect: true });
    await redis.connect();
    let cursor = "0";
    do {
      const [next, keys] = await redis.scan(cursor, "MATCH", `${testRedisPrefix}*`, "COUNT", 1000);
      if (keys.length > 0) await redis.del(...keys);
      cursor = next;
    } while (cursor !== "0");
    await redis.quit();
  },
};
