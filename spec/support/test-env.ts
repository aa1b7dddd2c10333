// The throwaway resources of one test run: a PostgreSQL database created for
// the run and dropped after it, and a Redis key prefix unique to the run.
import { randomBytes } from "node:crypto";
import { userInfo } from "node:os";

const runId = `${Date.now().toString(36)}_${randomBytes(3).toString("hex")}`;

export const testDatabaseName = `myelin_test_${runId}`;

/** The server the throwaway databases live on (TEST_POSTGRES_URL, else local trust auth). */
export const testServerUrl =
  process.env.TEST_POSTGRES_URL ?? `postgres://${encodeURIComponent(process.env.PGUSER ?? userInfo().username)}@127.0.0.1:5432/postgres`;

export function databaseUrl(name: string): string {
  const url = new URL(testServerUrl);
  url.pathname = `/${name}`;
  return url.toString();
}

export const testDatabaseUrl = databaseUrl(testDatabaseName);

export const testRedisUrl = process.env.TEST_REDIS_URL ?? "redis://127.0.0.1:6379";

export const testRedisPrefix = `myelin-test-${runId}:`;
