// Send-to-delivery latency: the load generator stamps each message body with
// an ID, remembers when it started the send, and every receiving client
// records (arrival - send start) when the event first reaches it. Sender and
// receivers live in this one process, so a single monotonic clock measures
// both ends.
import { sleep } from "./pool.ts";
import { Samples, type LatencySummary } from "./stats.ts";

export interface DeliveryFigures {
  messages: number;
  /** Deliveries expected: every acknowledged message times its room's members other than the sender. */
  expected: number;
  delivered: number;
  /** Sends still unanswered when the drain timed out (the server fell behind). */
  unanswered: number;
  /** From the send's start to the event's arrival at each receiving client, ms. */
  latency: LatencySummary;
  /** The send requests themselves, start to 200, ms. */
  send: LatencySummary;
  sendErrors: number;
}

export class DeliveryTracker {
  private readonly prefix: string;
  private readonly sentAt = new Map<string, number>();
  private readonly receivers = new Map<string, number>();
  private readonly latency = new Samples();
  private readonly sendLatency = new Samples();
  private messages = 0;
  private expected = 0;
  private delivered = 0;
  private sendErrors = 0;
  private acknowledgedCount = 0;

  constructor(run: string) {
    this.prefix = `bench ${run} `;
  }

  /** The body for message `n`; `sent()` is called as its send starts. */
  body(n: number): string {
    return `${this.prefix}${n}`;
  }

  sent(body: string, receivers: number): void {
    this.sentAt.set(body, performance.now());
    this.receivers.set(body, receivers);
    this.messages += 1;
    this.expected += receivers;
  }

  /** A failed send is expected nowhere. */
  acknowledged(body: string, ok: boolean): void {
    const at = this.sentAt.get(body);
    if (ok) {
      this.acknowledgedCount += 1;
      if (at !== undefined) this.sendLatency.add(performance.now() - at);
      return;
    }
    this.sendErrors += 1;
    this.expected -= this.receivers.get(body) ?? 0;
  }

  /** A receiving client saw these timeline events; its own sends are not deliveries. */
  received(userId: string, events: readonly any[]): void {
    const now = performance.now();
    for (const event of events) {
      const body = event?.content?.body;
      if (typeof body !== "string" || !body.startsWith(this.prefix) || event.sender === userId) continue;
      const at = this.sentAt.get(body);
      if (at === undefined) continue;
      this.latency.add(now - at);
      this.delivered += 1;
    }
  }

  /**
   * Resolves when every send was answered and every expected delivery
   * arrived, or `timeoutMs` passed: a server that fell behind is not waited
   * for without end; what it had not answered or delivered by then counts as
   * such.
   */
  async drain(timeoutMs: number): Promise<void> {
    const deadline = performance.now() + timeoutMs;
    const done = () => this.delivered >= this.expected && this.acknowledgedCount + this.sendErrors >= this.messages;
    while (!done() && performance.now() < deadline) await sleep(20);
  }

  figures(): DeliveryFigures {
    return {
      messages: this.messages,
      expected: this.expected,
      delivered: this.delivered,
      unanswered: this.messages - this.acknowledgedCount - this.sendErrors,
      latency: this.latency.summary(),
      send: this.sendLatency.summary(),
      sendErrors: this.sendErrors,
    };
  }
}
