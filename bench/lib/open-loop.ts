// An open-loop sender: message n starts at t0 + n / rate whatever happened to
// the earlier ones, so a slow server builds a queue (and latency) instead of
// slowing the load down, as real users would not wait either.
import type { DeliveryTracker } from "./delivery.ts";
import type { JsonHttp } from "./http.ts";
import { sendMessage, type User } from "./matrix.ts";
import { sleep } from "./pool.ts";

export interface Target {
  user: User;
  roomId: string;
  /** Members of the room other than the sender, each expected to receive the message. */
  receivers: number;
}

/**
 * Starts every send on schedule and returns when the last one has started;
 * the tracker learns of each answer (its drain waits for them, within limits).
 */
export async function sendOpenLoop(p: { http: JsonHttp; ratePerSecond: number; seconds: number; tracker: DeliveryTracker; target: (n: number) => Target }): Promise<void> {
  const total = Math.round(p.ratePerSecond * p.seconds);
  const interval = 1000 / p.ratePerSecond;
  const start = performance.now();
  for (let n = 0; n < total; n++) {
    const due = start + n * interval;
    const wait = due - performance.now();
    if (wait > 0) await sleep(wait);
    const target = p.target(n);
    const body = p.tracker.body(n);
    p.tracker.sent(body, target.receivers);
    sendMessage(p.http, target.user, target.roomId, body).then(
      () => p.tracker.acknowledged(body, true),
      () => p.tracker.acknowledged(body, false),
    );
  }
}
