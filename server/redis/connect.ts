// The Redis connection. Redis carries wake-ups and jobs, never the only copy
// of data, so a Redis outage costs latency, not messages.
import { Redis } from "ioredis";
import { ConfigError, UNAVAILABLE_EXIT_CODE } from "../config/config-error.ts";

export type { Redis };

export async function connectRedis(url: string, keyPrefix: string): Promise<Redis> {
  const redis = new Redis(url, {
    keyPrefix,
    lazyConnect: true,
    maxRetriesPerRequest: 3,
    connectTimeout: 5000,
    retryStrategy: (attempt) => Math.min(attempt * 200, 2000),
  });
  // ioredis reconnects by itself; errors are surfaced through /ready instead of
  // crashing the process.
  redis.on("error", () => undefined);
  try {
    await redis.connect();
    await redis.ping();
  } catch (err) {
    redis.disconnect();
    const where = safeRedisLocation(url);
    throw new ConfigError(
      `cannot reach Redis at ${where} (${(err as Error).message}): start it with 'redis-server --daemonize yes' (install: apt-get install redis-server) or set REDIS_URL`,
      UNAVAILABLE_EXIT_CODE,
    );
  }
  return redis;
}

function safeRedisLocation(url: string): string {
  try {
    const parsed = new URL(url);
    return `${parsed.hostname}:${parsed.port || 6379}`;
  } catch {
    return "the configured URL";
  }
}
