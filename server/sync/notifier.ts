// Wakes waiting /sync requests (and, later, WebSocket streams) in every
// process when something is committed. Redis pub/sub carries positions and
// the room or users affected, never payloads: PostgreSQL stays the source of
// truth, so a lost message only delays a client until its long-poll times out.
import type { Redis } from "ioredis";

export interface StreamChange {
  position: number;
  roomId?: string;
  /** Users whose own view changed (membership, account data, receipts they must see). */
  userIds?: string[];
}

interface Waiter {
  userId: string;
  rooms: ReadonlySet<string>;
  since: number;
  wake: () => void;
}

export interface Notifier {
  /** Publishes a committed change to every process (including this one). */
  notify(change: StreamChange): Promise<void>;
  /**
   * Resolves true when a change relevant to `userId` (one of `rooms`, or
   * addressed to the user) beyond `since` arrives, false after `timeoutMs`
   * or when `signal` aborts.
   */
  wait(userId: string, rooms: ReadonlySet<string>, since: number, timeoutMs: number, signal?: AbortSignal): Promise<boolean>;
  /** The highest position seen by this process. */
  latest(): number;
  close(): Promise<void>;
}

export async function createNotifier(publisher: Redis, channelPrefix: string): Promise<Notifier> {
  const channel = `${channelPrefix}stream`;
  const subscriber = publisher.duplicate();
  subscriber.on("error", () => undefined);
  const waiters = new Set<Waiter>();
  let latest = 0;

  const deliver = (change: StreamChange) => {
    latest = Math.max(latest, change.position);
    for (const waiter of waiters) {
      if (change.position <= waiter.since) continue;
      const relevant = (change.roomId !== undefined && waiter.rooms.has(change.roomId)) || (change.userIds?.includes(waiter.userId) ?? false);
      if (relevant) waiter.wake();
    }
  };

  await subscriber.subscribe(channel);
  subscriber.on("message", (_channel: string, message: string) => {
    try {
      deliver(JSON.parse(message) as StreamChange);
    } catch {
      // A malformed message only costs latency.
    }
  });

  return {
    async notify(change) {
      // Deliver locally first: the local waiters should not depend on Redis round trips.
      deliver(change);
      await publisher.publish(channel, JSON.stringify(change)).catch(() => undefined);
    },
    wait(userId, rooms, since, timeoutMs, signal) {
      return new Promise<boolean>((resolve) => {
        let done = false;
        const finish = (woken: boolean) => {
          if (done) return;
          done = true;
          clearTimeout(timer);
          waiters.delete(waiter);
          signal?.removeEventListener("abort", onAbort);
          resolve(woken);
        };
        const waiter: Waiter = { userId, rooms, since, wake: () => finish(true) };
        const onAbort = () => finish(false);
        const timer = setTimeout(() => finish(false), timeoutMs);
        waiters.add(waiter);
        signal?.addEventListener("abort", onAbort);
      });
    },
    latest: () => latest,
    async close() {
      for (const waiter of waiters) waiter.wake();
      subscriber.disconnect();
    },
  };
}
