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
  /**
   * Low-urgency news (presence): waiters it concerns are woken once per
   * COALESCE_MS rather than per change, so many users coming online at once
   * do not make every roommate recompute its sync for each of them.
   */
  coalesce?: boolean;
}

export const COALESCE_MS = 1000;

interface Waiter {
  userId: string;
  rooms: ReadonlySet<string>;
  since: number;
  wake: () => void;
  coalesceTimer?: NodeJS.Timeout;
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
  /** The highest position of an urgent (not coalesced) change seen by this process. */
  latest(): number;
  /** Called in this process for every change any process commits (e.g. the federation sender, to wake destinations). */
  onChange(listener: (change: StreamChange) => void): void;
  /** Tells every process that these devices lost their sessions (logout, device deletion). */
  revoke(userId: string, deviceIds: readonly string[]): Promise<void>;
  /** Called in every process for each revocation, e.g. to close that device's sockets. */
  onRevoke(listener: (userId: string, deviceIds: readonly string[]) => void): void;
  close(): Promise<void>;
}

export async function createNotifier(publisher: Redis, channelPrefix: string): Promise<Notifier> {
  const channel = `${channelPrefix}stream`;
  const revokeChannel = `${channelPrefix}revoke`;
  const revokeListeners: Array<(userId: string, deviceIds: readonly string[]) => void> = [];
  const deliverRevoke = (userId: string, deviceIds: readonly string[]) => {
    for (const listener of revokeListeners) listener(userId, deviceIds);
  };
  const subscriber = publisher.duplicate();
  subscriber.on("error", () => undefined);
  const waiters = new Set<Waiter>();
  const changeListeners: Array<(change: StreamChange) => void> = [];
  let latest = 0;

  const deliver = (change: StreamChange) => {
    if (!change.coalesce) latest = Math.max(latest, change.position);
    for (const listener of changeListeners) listener(change);
    for (const waiter of waiters) {
      if (change.position <= waiter.since) continue;
      const relevant = (change.roomId !== undefined && waiter.rooms.has(change.roomId)) || (change.userIds?.includes(waiter.userId) ?? false);
      if (!relevant) continue;
      if (!change.coalesce) waiter.wake();
      else waiter.coalesceTimer ??= setTimeout(waiter.wake, COALESCE_MS);
    }
  };

  await subscriber.subscribe(channel, revokeChannel);
  subscriber.on("message", (from: string, message: string) => {
    try {
      if (from === revokeChannel) {
        const { userId, deviceIds } = JSON.parse(message) as { userId: string; deviceIds: string[] };
        deliverRevoke(userId, deviceIds);
      } else {
        deliver(JSON.parse(message) as StreamChange);
      }
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
          clearTimeout(waiter.coalesceTimer);
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
    onChange(listener) {
      changeListeners.push(listener);
    },
    async revoke(userId, deviceIds) {
      // Published only: this process hears its own message like every other,
      // so each listener runs exactly once per process.
      await publisher.publish(revokeChannel, JSON.stringify({ userId, deviceIds })).catch(() => deliverRevoke(userId, deviceIds));
    },
    onRevoke(listener) {
      revokeListeners.push(listener);
    },
    async close() {
      for (const waiter of waiters) waiter.wake();
      subscriber.disconnect();
    },
  };
}
