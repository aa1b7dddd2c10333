// Moves the search index along the event stream. PostgreSQL holds the
// position (search_positions); each batch runs in one transaction that locks
// the position row, reads the events past it, writes the backend and moves
// the position, so any number of worker processes can call `catchUp` at once
// and a job that runs twice does nothing the second time.
//
// A batch is turned into the set of original events whose document may have
// changed (the event itself; an edit's original; a redaction's target and,
// for a redacted edit, its original), and each of those is recomputed from
// PostgreSQL: upserted with its latest edit's text, or deleted. Recomputing
// rather than patching makes the result independent of the order and number
// of runs.
import type { Logger } from "../observability/logger.ts";
import { toRoomEvent } from "../rooms/stored-event.ts";
import type { Database, Queryable } from "../storage/database.ts";
import { backfilledEventsBefore, getEventsByIds, timelineEventsAfter, type StoredEvent } from "../storage/events.ts";
import { aggregationRows, relationOf } from "../storage/relations.ts";
import { lockSearchPosition, setSearchPosition, type SearchPosition } from "../storage/search.ts";
import type { IndexChanges, SearchBackend } from "./backend.ts";
import { documentOf, isLiveEvent, isSearchableType, replacedEventId } from "./documents.ts";

export interface SearchIndexer {
  /** Indexes everything committed past the stored position; returns how many events were read. */
  catchUp(): Promise<{ events: number; position: SearchPosition }>;
  /** The stream position this process's last batch reached (0 before any): the myelin_search_indexed_position gauge. */
  lastPosition(): number;
  /** Rebuilds the whole index from PostgreSQL (admin-cli search reindex). */
  reindex(onProgress: (done: number, total: number) => void): Promise<{ events: number; documents: number; position: number }>;
}

/** The originals whose documents `events` may change. */
async function touchedOriginals(q: Queryable, events: readonly StoredEvent[]): Promise<Set<string>> {
  const touched = new Set<string>();
  for (const event of events) {
    if (!isLiveEvent(event)) continue;
    if (isSearchableType(event.type)) touched.add(replacedEventId(event) ?? event.eventId);
    if (event.type === "m.room.redaction") {
      const target = toRoomEvent(event).redacts;
      if (!target) continue;
      touched.add(target);
      const relation = await relationOf(q, target);
      if (relation?.relType === "m.replace") touched.add(relation.relatesToId);
    }
  }
  return touched;
}

/** Upserts and deletes for these originals, from their current state in PostgreSQL. */
export async function changesFor(q: Queryable, eventIds: ReadonlySet<string>): Promise<IndexChanges> {
  const originals = await getEventsByIds(q, [...eventIds]);
  const messages = [...originals.values()].filter((e) => e.type === "m.room.message" && e.redactedBy === null);
  const edits = await aggregationRows(q, { edits: messages.map((e) => ({ eventId: e.eventId, roomId: e.roomId, sender: e.sender, type: e.type })), threads: [], references: [] }, "");
  const editEvents = await getEventsByIds(q, edits.map((r) => r.childId));
  const editOf = new Map(edits.map((r) => [r.parentId, editEvents.get(r.childId)]));
  const changes: IndexChanges = { upserts: [], deletes: [] };
  for (const eventId of eventIds) {
    const event = originals.get(eventId);
    const doc = event && documentOf(event, editOf.get(eventId));
    if (doc) changes.upserts.push(doc);
    else changes.deletes.push(eventId);
  }
  return changes;
}

export function createSearchIndexer(deps: { db: Database; backend: SearchBackend; batchSize: number; log: Logger; clock?: () => number }): SearchIndexer {
  const { db, backend, batchSize } = deps;
  const clock = deps.clock ?? Date.now;
  let reached = 0;

  /** One batch of at most batchSize events past the position. */
  async function batch(): Promise<{ read: number; position: SearchPosition }> {
    return db.transaction(async (tx) => {
      const position = await lockSearchPosition(tx, backend.name);
      const live = await timelineEventsAfter(tx, position.stream, batchSize);
      // Backfilled history (negative positions) is read once live events are done.
      const backfilled = live.length < batchSize ? await backfilledEventsBefore(tx, position.backfill, batchSize - live.length) : [];
      const events = [...live, ...backfilled];
      if (events.length === 0) return { read: 0, position };
      await backend.write(tx, await changesFor(tx, await touchedOriginals(tx, events)));
      const next = {
        stream: live.length > 0 ? live[live.length - 1]!.streamOrdering! : position.stream,
        backfill: backfilled.length > 0 ? backfilled[backfilled.length - 1]!.streamOrdering! : position.backfill,
      };
      await setSearchPosition(tx, backend.name, next, clock());
      return { read: events.length, position: next };
    }).then((result) => {
      reached = result.position.stream;
      return result;
    });
  }

  return {
    lastPosition: () => reached,
    async catchUp() {
      let events = 0;
      for (;;) {
        const { read, position } = await batch();
        events += read;
        if (read < batchSize) {
          if (events > 0) deps.log.debug({ events, position }, "search index caught up");
          return { events, position };
        }
      }
    },
    async reindex(onProgress) {
      return db.transaction(async (tx) => {
        // Holding the position row keeps the workers out until the new index is complete.
        await lockSearchPosition(tx, backend.name);
        const { rows } = await tx.query<{ n: number }>(`SELECT count(*)::int AS n FROM events WHERE stream_ordering IS NOT NULL`);
        const total = rows[0]!.n;
        const rebuild = await backend.rebuild(tx);
        let done = 0;
        let documents = 0;
        let cursor = Number.MIN_SAFE_INTEGER;
        let lowest = 0;
        try {
          for (;;) {
            const events = await timelineEventsAfter(tx, cursor, batchSize);
            if (events.length === 0) break;
            const changes = await changesFor(tx, await touchedOriginals(tx, events));
            // A full rebuild starts empty: only upserts matter.
            await rebuild.write({ upserts: changes.upserts, deletes: [] });
            documents += changes.upserts.length;
            done += events.length;
            cursor = events[events.length - 1]!.streamOrdering!;
            lowest = Math.min(lowest, events[0]!.streamOrdering!);
            onProgress(done, Math.max(total, done));
          }
          await rebuild.finish();
        } catch (err) {
          await rebuild.abort();
          throw err;
        }
        // Up to the last event read, not the stream head: events committed meanwhile are the worker's.
        const position = Math.max(cursor, 0);
        await setSearchPosition(tx, backend.name, { stream: position, backfill: Math.min(lowest, 0) }, clock());
        return { events: done, documents, position };
      });
    },
  };
}
