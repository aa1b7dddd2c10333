// Where state resolution gets events from. In the server this is backed by
// PostgreSQL, so the interface is batched and async: the resolver asks for
// every event it needs at one auth-chain depth in a single call.
import type { RoomEvent } from "../events.ts";

export interface EventSource {
  /** The events among `ids` that are known; unknown ids are simply absent from the result. */
  getEvents(ids: readonly string[]): Promise<ReadonlyMap<string, RoomEvent>>;
  /**
   * Which of `ids` were rejected. Optional: without it no event counts as
   * rejected. Only the auth-events fallback of the iterative auth checks uses it.
   */
  getRejectedIds?(ids: readonly string[]): Promise<ReadonlySet<string>>;
}

/** A fixed set of events held in memory, for tests and benchmarks. */
export class InMemoryEventSource implements EventSource {
  private readonly events = new Map<string, RoomEvent>();
  private readonly rejected = new Set<string>();
  /** Number of getEvents calls and of ids asked for, so tests can check batching. */
  calls = 0;
  requested = 0;

  constructor(events: Iterable<RoomEvent> = [], rejectedIds: Iterable<string> = []) {
    for (const event of events) this.add(event);
    for (const id of rejectedIds) this.rejected.add(id);
  }

  add(event: RoomEvent, rejected = false): void {
    this.events.set(event.eventId, event);
    if (rejected) this.rejected.add(event.eventId);
  }

  get(id: string): RoomEvent | undefined {
    return this.events.get(id);
  }

  getEvents(ids: readonly string[]): Promise<ReadonlyMap<string, RoomEvent>> {
    this.calls++;
    this.requested += ids.length;
    const found = new Map<string, RoomEvent>();
    for (const id of ids) {
      const event = this.events.get(id);
      if (event !== undefined) found.set(id, event);
    }
    return Promise.resolve(found);
  }

  getRejectedIds(ids: readonly string[]): Promise<ReadonlySet<string>> {
    return Promise.resolve(new Set(ids.filter((id) => this.rejected.has(id))));
  }
}

/**
 * Remembers every answer of an underlying source, so each event (and each
 * rejection status) is fetched at most once per resolution, and ids that are
 * known to be missing are not asked for again.
 */
export class CachingEventSource implements EventSource {
  private readonly events = new Map<string, RoomEvent>();
  private readonly missing = new Set<string>();
  private readonly rejection = new Map<string, boolean>();
  private readonly inner: EventSource;

  constructor(inner: EventSource) {
    this.inner = inner;
  }

  /** Synchronous read of an already fetched event. */
  peek(id: string): RoomEvent | undefined {
    return this.events.get(id);
  }

  async getEvents(ids: readonly string[]): Promise<ReadonlyMap<string, RoomEvent>> {
    // A first request (typically every state event at once) needs no filtering, only deduplication.
    const empty = this.events.size === 0 && this.missing.size === 0;
    const wanted = [...new Set(empty ? ids : ids.filter((id) => !this.events.has(id) && !this.missing.has(id)))];
    if (wanted.length > 0) {
      const fetched = await this.inner.getEvents(wanted);
      for (const id of wanted) {
        const event = fetched.get(id);
        if (event === undefined) this.missing.add(id);
        else this.events.set(id, event);
      }
      // When nothing asked for was cached, the fetch itself is the answer.
      if (wanted.length === ids.length) return fetched;
    }
    const result = new Map<string, RoomEvent>();
    for (const id of ids) {
      const event = this.events.get(id);
      if (event !== undefined) result.set(id, event);
    }
    return result;
  }

  async getRejectedIds(ids: readonly string[]): Promise<ReadonlySet<string>> {
    if (this.inner.getRejectedIds === undefined) return new Set();
    const unknown = [...new Set(ids.filter((id) => !this.rejection.has(id)))];
    if (unknown.length > 0) {
      const rejected = await this.inner.getRejectedIds(unknown);
      for (const id of unknown) this.rejection.set(id, rejected.has(id));
    }
    return new Set(ids.filter((id) => this.rejection.get(id) === true));
  }
}
