// The federation sender: one queue per destination, one transaction in flight
// per destination, PDUs in stream order; EDUs from an in-memory best-effort
// queue (typing, receipts, presence) and from the durable outbox in PostgreSQL
// (device lists, signing keys, to-device: server/storage/edu-outbox.ts, rows
// deleted once a transaction carrying them succeeded). Why an in-process queue fed from
// PostgreSQL rather than a BullMQ queue per destination: what a destination is
// owed is already in the events table (federate_out events after its
// acknowledged stream position, federation_destinations.last_sent_stream), so
// PostgreSQL alone says what to send after a crash, a restart or a lost Redis;
// per-destination ordering and backoff are natural in one loop per
// destination; and thousands of destinations would need thousands of BullMQ
// queues and workers. Commits anywhere wake the loops through the notifier.
//
// Retries: a failed transaction backs the destination off, 5 s doubling to at
// most one hour (no multi-day cliff), and any request from the destination
// ends the backoff at once. After an outage the backlog is replayed in order
// (up to CATCH_UP_LIMIT events); past that only the newest event of each room
// is sent and the destination fills the gap with get_missing_events.
import type { Logger } from "../../server/observability/logger.ts";
import { serverNameOf } from "../../server/protocol/identifiers.ts";
import { isJsonObject, type JsonObject } from "../../server/protocol/json.ts";
import type { RoomService } from "../../server/rooms/room-service.ts";
import { federationPdu } from "../../server/rooms/server-visibility.ts";
import { joinedServers } from "../../server/storage/dag.ts";
import type { Database } from "../../server/storage/database.ts";
import { currentStreamPosition, type StoredEvent } from "../../server/storage/events.ts";
import {
  destination as destinationRow,
  destinationsBehind,
  eventsOwedTo,
  latestEventsOwedTo,
  markDestinationFailed,
  markDestinationSent,
  resetDestinationBackoff,
} from "../../server/storage/federation.ts";
import { deleteOutboxEdus, destinationsWithOutbox, outboxFor, pruneOutbox } from "../../server/storage/edu-outbox.ts";
import type { StreamChange } from "../../server/sync/notifier.ts";
import type { FederationClient } from "../transport/federation-client.ts";

export const MAX_PDUS_PER_TRANSACTION = 50;
export const MAX_EDUS_PER_TRANSACTION = 100;
/** More owed than this after an outage: send the newest event per room instead of replaying. */
export const CATCH_UP_LIMIT = 200;
export const MIN_BACKOFF_MS = 5_000;
export const MAX_BACKOFF_MS = 3_600_000;
/** EDUs are best effort: a destination that is down keeps at most this many waiting. */
const MAX_QUEUED_EDUS = 1000;
/** Content of durable EDUs per transaction (at least one is sent, whatever its size); PDUs and EDUs stay well under a receiver's 8 MiB. */
const MAX_OUTBOX_BYTES_PER_TRANSACTION = 2 * 1024 * 1024;
/** Durable EDUs a destination has not taken for this long are dropped (device lists then resync on the next update). */
export const OUTBOX_RETENTION_MS = 7 * 24 * 60 * 60 * 1000;

export interface FederationSenderDeps {
  db: Database;
  rooms: Pick<RoomService, "roomVersion">;
  client: Pick<FederationClient, "request">;
  serverName: string;
  log: Logger;
  /** Which destinations this process sends to (several processes split them); default all. */
  ownsDestination?: (destination: string) => boolean;
  now?: () => number;
}

interface DestinationQueue {
  running: boolean;
  wakeRequested: boolean;
  retryTimer?: NodeJS.Timeout;
  edus: JsonObject[];
}

export function createFederationSender(deps: FederationSenderDeps) {
  const { db, log } = deps;
  const now = deps.now ?? Date.now;
  const owns = deps.ownsDestination ?? (() => true);
  const queues = new Map<string, DestinationQueue>();
  /** Destinations whose federation_destinations row exists, so a commit does not upsert each time. */
  const known = new Set<string>();
  let serial = 0;
  let closed = false;

  function queueOf(destination: string): DestinationQueue {
    let queue = queues.get(destination);
    if (!queue) {
      queue = { running: false, wakeRequested: false, edus: [] };
      queues.set(destination, queue);
    }
    return queue;
  }

  function wake(destination: string): void {
    if (closed || destination === deps.serverName || !owns(destination)) return;
    const queue = queueOf(destination);
    queue.wakeRequested = true;
    if (!queue.running && !queue.retryTimer) void run(destination, queue);
  }

  async function run(destination: string, queue: DestinationQueue): Promise<void> {
    queue.running = true;
    try {
      while (queue.wakeRequested && !closed) {
        queue.wakeRequested = false;
        const outcome = await sendOnce(destination, queue);
        if (outcome === "more") queue.wakeRequested = true;
        if (outcome === "backing_off") break;
      }
    } catch (err) {
      log.error({ err, destination }, "federation sender loop failed");
    } finally {
      queue.running = false;
      if (!queue.retryTimer && queue.edus.length === 0 && !queue.wakeRequested) queues.delete(destination);
    }
  }

  function retryAt(destination: string, queue: DestinationQueue, at: number): void {
    clearTimeout(queue.retryTimer);
    queue.retryTimer = setTimeout(() => {
      delete queue.retryTimer;
      wake(destination);
    }, Math.max(0, at - now()));
    queue.retryTimer.unref();
  }

  /** What to send next: PDUs owed (in order, or the newest per room after a long outage) and the position they cover. */
  async function nextPdus(destination: string, after: number): Promise<{ pdus: StoredEvent[]; upTo: number }> {
    const head = await currentStreamPosition(db);
    let pdus = await eventsOwedTo(db, destination, after, head, CATCH_UP_LIMIT + 1);
    if (pdus.length > CATCH_UP_LIMIT) {
      log.info({ destination, after, head }, "backlog too large to replay: sending the newest event of each room");
      pdus = await latestEventsOwedTo(db, destination, after, head);
      if (pdus.length <= MAX_PDUS_PER_TRANSACTION) return { pdus, upTo: head };
    }
    if (pdus.length > MAX_PDUS_PER_TRANSACTION) {
      pdus = pdus.slice(0, MAX_PDUS_PER_TRANSACTION);
      return { pdus, upTo: pdus[pdus.length - 1]!.streamOrdering! };
    }
    return { pdus, upTo: head };
  }

  async function sendOnce(destination: string, queue: DestinationQueue): Promise<"done" | "more" | "backing_off"> {
    const row = await destinationRow(db, destination, await currentStreamPosition(db));
    known.add(destination);
    if (row.retryAfterTs > now()) {
      retryAt(destination, queue, row.retryAfterTs);
      return "backing_off";
    }
    const { pdus, upTo } = await nextPdus(destination, row.lastSentStream);
    const edus = queue.edus.splice(0, MAX_EDUS_PER_TRANSACTION);
    // Durable EDUs (device lists, signing keys, to-device) fill the rest; deleted only once delivered.
    const durable = await outboxFor(db, destination, MAX_EDUS_PER_TRANSACTION - edus.length, MAX_OUTBOX_BYTES_PER_TRANSACTION);
    if (pdus.length === 0 && edus.length === 0 && durable.length === 0) {
      if (upTo > row.lastSentStream) await markDestinationSent(db, destination, upTo);
      return "done";
    }
    const wire: JsonObject[] = [];
    for (const event of pdus) wire.push(federationPdu(event, await deps.rooms.roomVersion(db, event.roomId)));
    const txnId = `${now()}.${++serial}`;
    try {
      const answer = await deps.client.request(destination, "PUT", `/_matrix/federation/v1/send/${encodeURIComponent(txnId)}`, {
        body: { origin: deps.serverName, origin_server_ts: now(), pdus: wire, edus: [...edus, ...durable.map((e) => ({ edu_type: e.eduType, content: e.content }))] },
      });
      logRefusedPdus(destination, answer);
    } catch (err) {
      // EDUs go back to the front; PDUs are re-read from PostgreSQL next time.
      queue.edus.unshift(...edus);
      queue.edus.splice(MAX_QUEUED_EDUS);
      const interval = Math.min(MAX_BACKOFF_MS, Math.max(MIN_BACKOFF_MS, row.retryIntervalMs * 2));
      await markDestinationFailed(db, destination, now() + interval, interval);
      const expired = await pruneOutbox(db, destination, now() - OUTBOX_RETENTION_MS);
      if (expired > 0) log.warn({ destination, expired }, "durable EDUs undelivered for a week dropped");
      log.info({ destination, err: (err as Error).message, retryInMs: interval, failures: row.failureCount + 1 }, "federation transaction failed");
      retryAt(destination, queue, now() + interval);
      return "backing_off";
    }
    await markDestinationSent(db, destination, upTo);
    await deleteOutboxEdus(db, durable.map((e) => e.id));
    return pdus.length === MAX_PDUS_PER_TRANSACTION || queue.edus.length > 0 || durable.length > 0 ? "more" : "done";
  }

  /** A destination that refused some PDUs has told us so per event; we log it and move on (as Synapse). */
  function logRefusedPdus(destination: string, answer: unknown): void {
    if (!isJsonObject(answer) || !isJsonObject(answer.pdus)) return;
    for (const [eventId, result] of Object.entries(answer.pdus)) {
      if (isJsonObject(result) && typeof result.error === "string") log.info({ destination, eventId, error: result.error }, "destination refused a PDU");
    }
  }

  /**
   * A committed change in some room: wake the servers in it, and the servers
   * of users whose membership changed (a kicked or banned user's server is no
   * longer in the room but must hear of it). New destinations start just
   * before this change.
   */
  async function onChange(change: StreamChange): Promise<void> {
    if (change.roomId === undefined || change.coalesce) return;
    const servers = new Set(await joinedServers(db, change.roomId));
    for (const userId of change.userIds ?? []) {
      const server = serverNameOf(userId);
      if (server !== undefined) servers.add(server);
    }
    for (const server of servers) {
      if (server === deps.serverName || !owns(server)) continue;
      if (!known.has(server)) {
        await destinationRow(db, server, change.position - 1);
        known.add(server);
      }
      wake(server);
    }
  }

  return {
    wake,
    onChange(change: StreamChange): void {
      onChange(change).catch((err: unknown) => log.error({ err, roomId: change.roomId }, "waking federation destinations failed"));
    },
    /** Queues an EDU (typing, receipt, presence) for one destination. */
    queueEdu(destination: string, edu: JsonObject): void {
      if (destination === deps.serverName || !owns(destination)) return;
      const queue = queueOf(destination);
      queue.edus.push(edu);
      queue.edus.splice(0, Math.max(0, queue.edus.length - MAX_QUEUED_EDUS));
      wake(destination);
    },
    /** The destination reached us: it is up, so its backoff ends now. */
    async onOriginSeen(origin: string): Promise<void> {
      const queue = queues.get(origin);
      if (!queue?.retryTimer) return;
      clearTimeout(queue.retryTimer);
      delete queue.retryTimer;
      await resetDestinationBackoff(db, origin);
      wake(origin);
    },
    /** After a restart: every destination still owed something is tried again. */
    async start(): Promise<void> {
      for (const destination of await destinationsBehind(db, await currentStreamPosition(db))) {
        known.add(destination);
        wake(destination);
      }
      for (const destination of await destinationsWithOutbox(db)) wake(destination);
    },
    close(): void {
      closed = true;
      for (const queue of queues.values()) clearTimeout(queue.retryTimer);
      queues.clear();
    },
  };
}

export type FederationSender = ReturnType<typeof createFederationSender>;
