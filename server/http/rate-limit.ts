// Token-bucket rate limiting shared by every server process through Redis,
// answered with 429 M_LIMIT_EXCEEDED and retry_after_ms as the spec says.
// Admins (and, later, application services) are exempt, as in Synapse.
import type { Request, RequestHandler, Response } from "express";
import type { Redis } from "ioredis";
import { limitExceeded } from "../errors/matrix-error.ts";

export interface RateLimitSetting {
  per_second: number;
  burst_count: number;
}

// KEYS[1] bucket; ARGV: now_ms, rate per ms, burst. Returns 0 when allowed, else ms to wait.
const TOKEN_BUCKET = `
local state = redis.call('HMGET', KEYS[1], 'tokens', 'ts')
local now = tonumber(ARGV[1])
local rate = tonumber(ARGV[2])
local burst = tonumber(ARGV[3])
local tokens = tonumber(state[1]) or burst
local ts = tonumber(state[2]) or now
tokens = math.min(burst, tokens + (now - ts) * rate)
local wait = 0
if tokens >= 1 then
  tokens = tokens - 1
else
  wait = math.ceil((1 - tokens) / rate)
end
redis.call('HSET', KEYS[1], 'tokens', tostring(tokens), 'ts', tostring(now))
redis.call('PEXPIRE', KEYS[1], math.ceil(burst / rate) + 1000)
return wait
`;

export type RateLimitKey = (req: Request, res: Response) => string | undefined;

/** Keys by authenticated user when there is one, else by client address. */
export const byRequesterOrAddress: RateLimitKey = (req, res) => {
  const requester = res.locals.requester;
  if (requester?.isAdmin) return undefined;
  return requester ? `user:${requester.userId}` : `ip:${req.socket.remoteAddress ?? "unknown"}`;
};

/** Takes a token from the bucket of `key`, or throws 429 with how long to wait; for limits keyed by something other than the request. */
export function createKeyedLimiter(redis: Redis, name: string, setting: RateLimitSetting): (key: string) => Promise<void> {
  const ratePerMs = setting.per_second / 1000;
  return async (key) => {
    if (setting.per_second <= 0) return;
    const wait = Number(await redis.eval(TOKEN_BUCKET, 1, `ratelimit:${name}:${key}`, Date.now(), ratePerMs, setting.burst_count));
    if (wait > 0) throw limitExceeded(wait);
  };
}

export function createRateLimiter(redis: Redis, name: string, setting: RateLimitSetting, keyOf: RateLimitKey = byRequesterOrAddress): RequestHandler {
  const take = createKeyedLimiter(redis, name, setting);
  return async (req, res, next) => {
    const key = keyOf(req, res);
    if (key !== undefined) await take(key);
    next();
  };
}
