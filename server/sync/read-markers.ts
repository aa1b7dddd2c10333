// Typing, receipts and read markers as operations, shared by the HTTP
// endpoints and the WebSocket stream's requests: the same checks and the
// same errors whichever transport the client uses.
import { badJson, forbidden, MatrixError, notFound } from "../errors/matrix-error.ts";
import { putAccountData } from "../storage/account-data.ts";
import type { Database } from "../storage/database.ts";
import { getEventsByIds } from "../storage/events.ts";
import { upsertReceipt } from "../storage/receipts.ts";
import { membershipOf } from "../storage/state.ts";
import type { OutboundEdus } from "./outbound-edus.ts";
import type { StreamWriter } from "./stream-writer.ts";
import type { Typing } from "./typing.ts";

export interface Markers {
  fullyRead?: string;
  receipts: Array<{ type: "m.read" | "m.read.private"; eventId: string; threadId: string }>;
}

const RECEIPT_TYPES = new Set(["m.read", "m.read.private"]);

/** `{typing, timeout}` of PUT /typing, validated. */
export function parseTypingParams(params: Record<string, unknown>): { typing: boolean; timeoutMs: number } {
  if (typeof params.typing !== "boolean") throw badJson("typing must be a boolean");
  const timeout = params.timeout;
  if (timeout !== undefined && (typeof timeout !== "number" || !Number.isInteger(timeout) || timeout < 0)) {
    throw badJson("timeout must be a non-negative integer");
  }
  return { typing: params.typing, timeoutMs: (timeout as number | undefined) ?? 30_000 };
}

/** One receipt of POST /receipt/{type}/{eventId}: m.fully_read becomes a read marker. */
export function parseReceipt(type: string, eventId: string, params: Record<string, unknown>): Markers {
  const threadId = params.thread_id;
  if (threadId !== undefined && typeof threadId !== "string") throw badJson("thread_id must be a string");
  if (type === "m.fully_read") {
    if (threadId !== undefined) throw new MatrixError(400, "M_INVALID_PARAM", "m.fully_read cannot be threaded");
    return { fullyRead: eventId, receipts: [] };
  }
  if (!RECEIPT_TYPES.has(type)) throw new MatrixError(400, "M_INVALID_PARAM", `Unknown receipt type ${type}`);
  return { receipts: [{ type: type as "m.read" | "m.read.private", eventId, threadId: threadId ?? "" }] };
}

/** The body of POST /read_markers. */
export function parseReadMarkers(params: Record<string, unknown>): Markers {
  const field = (key: string) => {
    const value = params[key];
    if (value !== undefined && typeof value !== "string") throw badJson(`${key} must be an event ID`);
    return value as string | undefined;
  };
  const fullyRead = field("m.fully_read");
  const receipts: Markers["receipts"] = [];
  for (const type of ["m.read", "m.read.private"] as const) {
    const eventId = field(type);
    if (eventId !== undefined) receipts.push({ type, eventId, threadId: "" });
  }
  return { ...(fullyRead !== undefined ? { fullyRead } : {}), receipts };
}

export interface ReadMarkersDeps {
  db: Database;
  streams: StreamWriter;
  typing: Typing;
  /** Our users' typing and public receipts, for the room's other servers. */
  outbound?: OutboundEdus;
  isLocalUser?: (userId: string) => boolean;
}

export function createReadMarkers(deps: ReadMarkersDeps) {
  const { db, streams } = deps;

  async function requireJoined(roomId: string, userId: string): Promise<void> {
    if ((await membershipOf(db, roomId, userId))?.membership !== "join") throw forbidden(`User ${userId} not in room ${roomId}`);
  }

  async function requireEventsInRoom(roomId: string, eventIds: string[]): Promise<void> {
    const found = await getEventsByIds(db, eventIds);
    for (const id of eventIds) if (found.get(id)?.roomId !== roomId) throw notFound(`Unknown event ${id}`);
  }

  return {
    async setTyping(roomId: string, userId: string, typing: boolean, timeoutMs: number): Promise<void> {
      await requireJoined(roomId, userId);
      await deps.typing.setTyping(roomId, userId, typing, timeoutMs);
      if (deps.isLocalUser?.(userId)) deps.outbound?.emit({ kind: "typing", roomId, userId, typing });
    },

    /** Receipts and the m.fully_read room account data, applied as one stream change. */
    async mark(roomId: string, userId: string, markers: Markers): Promise<void> {
      await requireJoined(roomId, userId);
      await requireEventsInRoom(roomId, [...(markers.fullyRead !== undefined ? [markers.fullyRead] : []), ...markers.receipts.map((r) => r.eventId)]);
      const now = Date.now();
      await streams.write({ roomId, userIds: [userId] }, async (tx, position) => {
        for (const r of markers.receipts) {
          await upsertReceipt(tx, { roomId, receiptType: r.type, userId, threadId: r.threadId, eventId: r.eventId, ts: now }, position);
        }
        if (markers.fullyRead !== undefined) await putAccountData(tx, userId, roomId, "m.fully_read", { event_id: markers.fullyRead }, position);
      });
      if (deps.isLocalUser?.(userId)) {
        // Private receipts and read markers stay on this server.
        for (const r of markers.receipts) if (r.type === "m.read") deps.outbound?.emit({ kind: "receipt", roomId, userId, eventId: r.eventId, threadId: r.threadId, ts: now });
      }
    },
  };
}

export type ReadMarkers = ReturnType<typeof createReadMarkers>;
