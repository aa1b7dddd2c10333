// PUT /send/{txnId} processing (spec "Transactions"): at most 50 PDUs and 100
// EDUs; a transaction seen before gets its stored answer; PDUs are grouped by
// room, each room's processed in order and rooms in parallel; one bad PDU
// gets its own error and never fails the others; EDUs follow the PDUs.
import { badJson } from "../../server/errors/matrix-error.ts";
import type { Logger } from "../../server/observability/logger.ts";
import { computeEventId } from "../../server/protocol/hashes.ts";
import { isJsonObject, type JsonObject, type JsonValue } from "../../server/protocol/json.ts";
import type { RoomVersion } from "../../server/protocol/room-versions.ts";
import type { RoomService } from "../../server/rooms/room-service.ts";
import { serverJoinedToRoom } from "../../server/storage/dag.ts";
import type { Database } from "../../server/storage/database.ts";
import { findInboundTransaction, storeInboundTransaction } from "../../server/storage/federation.ts";
import { FederationError } from "../transport/federation-client.ts";
import type { JoinGate } from "../membership/join-gate.ts";
import type { EduReceiver } from "./receive-edus.ts";
import { KeyedQueue } from "./keyed-queue.ts";
import { checkServerAcl, PduRefused, type PduReceiver } from "./receive-pdu.ts";

export const MAX_PDUS = 50;
export const MAX_EDUS = 100;

export interface TransactionReceiverDeps {
  db: Database;
  serverName: string;
  joins: Pick<JoinGate, "settled">;
  rooms: Pick<RoomService, "roomVersion">;
  pdus: Pick<PduReceiver, "receive">;
  edus: EduReceiver;
  log: Logger;
}

type PduResult = Record<string, never> | { error: string };

/** The event ID a PDU claims, if it can be told without trusting anything else about it. */
function eventIdOf(pdu: JsonObject, version: RoomVersion): string | undefined {
  try {
    if (version.eventFormat === "v1") return typeof pdu.event_id === "string" ? pdu.event_id : undefined;
    const { unsigned: _u, ...rest } = pdu;
    return computeEventId(rest, version);
  } catch {
    return undefined;
  }
}

export function createTransactionReceiver(deps: TransactionReceiverDeps) {
  const { db, log } = deps;
  const roomQueue = new KeyedQueue();

  /** Why the PDU could not be taken in, as said to the sending server (our words, not a remote's). */
  function failureOf(err: unknown): string {
    if (err instanceof PduRefused) return err.message;
    if (err instanceof FederationError) return `could not fetch what the event references from ${err.destination}`;
    throw err;
  }

  async function receiveRoom(origin: string, roomId: string, pdus: readonly JsonObject[], results: Record<string, PduResult>): Promise<void> {
    await deps.joins.settled(roomId);
    const version = await deps.rooms.roomVersion(db, roomId).catch(() => undefined);
    // PDUs of rooms we are not in are dropped without an answer (as Synapse): we cannot even name them.
    if (!version || !(await serverJoinedToRoom(db, roomId, deps.serverName))) {
      log.info({ origin, roomId, count: pdus.length }, "dropping PDUs for a room this server is not in");
      return;
    }
    await roomQueue.run(roomId, async () => {
      for (const pdu of pdus) {
        const eventId = eventIdOf(pdu, version);
        if (eventId === undefined) continue;
        try {
          await checkServerAcl(db, roomId, origin);
          await deps.pdus.receive(origin, version, roomId, pdu);
          results[eventId] = {};
        } catch (err) {
          const reason = failureOf(err);
          results[eventId] = { error: reason };
          log.info({ origin, roomId, eventId, reason }, "PDU refused");
        }
      }
    });
  }

  async function receive(origin: string, txnId: string, body: JsonObject): Promise<JsonObject> {
    const pdus = body.pdus ?? [];
    const edus = body.edus ?? [];
    if (!Array.isArray(pdus) || !Array.isArray(edus)) throw badJson("pdus and edus must be arrays");
    if (pdus.length > MAX_PDUS || edus.length > MAX_EDUS) throw badJson(`A transaction carries at most ${MAX_PDUS} PDUs and ${MAX_EDUS} EDUs`);
    const previous = await findInboundTransaction(db, origin, txnId);
    if (previous !== undefined) return previous as JsonObject;

    const byRoom = new Map<string, JsonObject[]>();
    for (const pdu of pdus as JsonValue[]) {
      if (!isJsonObject(pdu) || typeof pdu.room_id !== "string") continue;
      const list = byRoom.get(pdu.room_id) ?? [];
      list.push(pdu);
      byRoom.set(pdu.room_id, list);
    }
    const results: Record<string, PduResult> = {};
    await Promise.all([...byRoom].map(([roomId, list]) => receiveRoom(origin, roomId, list, results)));
    await deps.edus.receive(origin, edus as JsonValue[]);
    const response = { pdus: results };
    await storeInboundTransaction(db, origin, txnId, response, Date.now());
    return response;
  }

  return { receive };
}

export type TransactionReceiver = ReturnType<typeof createTransactionReceiver>;
