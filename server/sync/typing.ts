// Typing notifications (spec: "Typing Notifications"). Ephemeral, so they
// live in Redis, shared by every process: per room a hash of user → expiry.
// Each change takes a stream position so /sync knows when to resend m.typing;
// the process that accepted a typing start also schedules its expiry.
import type { Redis } from "ioredis";
import { shareInFlight } from "../lib/share-in-flight.ts";
import { tickBatch } from "../lib/tick-batch.ts";
import type { StreamWriter } from "./stream-writer.ts";

/** Longest typing timeout honoured (Synapse caps the same way). */
export const MAX_TYPING_TIMEOUT_MS = 120_000;

export interface TypingState {
  userIds: string[];
  /** Stream position of the room's last typing change; 0 when none. */
  position: number;
}

export function createTyping(redis: Redis, streams: StreamWriter) {
  const key = (roomId: string) => `typing:${roomId}`;
  const positionKey = (roomId: string) => `typing-pos:${roomId}`;
  const timers = new Map<string, NodeJS.Timeout>();

  async function bump(roomId: string): Promise<void> {
    await streams.write({ roomId }, async (_tx, position) => {
      await redis.set(positionKey(roomId), String(position), "EX", 24 * 3600);
    });
  }

  async function setTyping(roomId: string, userId: string, typing: boolean, timeoutMs: number): Promise<void> {
    const timerKey = `${roomId}\u0000${userId}`;
    clearTimeout(timers.get(timerKey));
    timers.delete(timerKey);
    if (typing) {
      const timeout = Math.min(Math.max(timeoutMs, 0), MAX_TYPING_TIMEOUT_MS);
      await redis.hset(key(roomId), userId, String(Date.now() + timeout));
      await redis.pexpire(key(roomId), MAX_TYPING_TIMEOUT_MS * 2);
      const timer = setTimeout(() => {
        timers.delete(timerKey);
        void stopIfExpired(roomId, userId);
      }, timeout + 50);
      timer.unref();
      timers.set(timerKey, timer);
    } else {
      const removed = await redis.hdel(key(roomId), userId);
      if (removed === 0) return;
    }
    await bump(roomId);
  }

  async function stopIfExpired(roomId: string, userId: string): Promise<void> {
    const expiry = Number(await redis.hget(key(roomId), userId));
    if (expiry && expiry <= Date.now()) {
      await redis.hdel(key(roomId), userId);
      await bump(roomId);
    }
  }

  /** The typing state of each room, one Redis pipeline for all of them. */
  async function typingInRooms(roomIds: string[]): Promise<TypingState[]> {
    const pipeline = redis.pipeline();
    for (const roomId of roomIds) pipeline.hgetall(key(roomId)).get(positionKey(roomId));
    const replies = (await pipeline.exec()) ?? [];
    const now = Date.now();
    return roomIds.map((_, i) => {
      const [entriesErr, entries] = replies[2 * i] ?? [];
      const [positionErr, position] = replies[2 * i + 1] ?? [];
      if (entriesErr || positionErr) throw entriesErr ?? positionErr;
      return {
        userIds: Object.entries((entries ?? {}) as Record<string, string>)
          .filter(([, expiry]) => Number(expiry) > now)
          .map(([user]) => user)
          .sort(),
        position: Number(position ?? 0),
      };
    });
  }

  /** Rooms among `roomIds` whose typing changed after `since`: one Redis round trip. */
  async function roomsChangedSince(roomIds: readonly string[], since: number): Promise<Set<string>> {
    if (roomIds.length === 0) return new Set();
    const positions = await redis.mget(...roomIds.map(positionKey));
    return new Set(roomIds.filter((_, i) => Number(positions[i] ?? 0) > since));
  }

  function close(): void {
    for (const timer of timers.values()) clearTimeout(timer);
    timers.clear();
  }

  // A fan-out's syncs ask together: batched per turn (tick-batch.ts) and shared in flight (share-in-flight.ts).
  return { setTyping, typingIn: tickBatch(typingInRooms), roomsChangedSince: shareInFlight(roomsChangedSince), close };
}

export type Typing = ReturnType<typeof createTyping>;
