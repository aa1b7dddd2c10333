// PUT  /_matrix/client/v3/rooms/{roomId}/typing/{userId}                  https://spec.matrix.org/v1.19/client-server-api/#put_matrixclientv3roomsroomidtypinguserid
// POST /_matrix/client/v3/rooms/{roomId}/receipt/{receiptType}/{eventId}  https://spec.matrix.org/v1.19/client-server-api/#post_matrixclientv3roomsroomidreceiptreceipttypeeventid
// POST /_matrix/client/v3/rooms/{roomId}/read_markers                     https://spec.matrix.org/v1.19/client-server-api/#post_matrixclientv3roomsroomidread_markers
import type { RequestHandler } from "express";
import { requester } from "../../auth/authenticate.ts";
import { badJson, forbidden, MatrixError, notFound } from "../../errors/matrix-error.ts";
import { requireJsonObject } from "../../http/middleware.ts";
import type { RouteTable } from "../../http/route-table.ts";
import { putAccountData } from "../../storage/account-data.ts";
import type { Database } from "../../storage/database.ts";
import { getEventsByIds } from "../../storage/events.ts";
import { upsertReceipt } from "../../storage/receipts.ts";
import { membershipOf } from "../../storage/state.ts";
import type { StreamWriter } from "../../sync/stream-writer.ts";
import type { Typing } from "../../sync/typing.ts";
import { roomIdParam } from "./params.ts";

export interface ReceiptsTypingDeps {
  db: Database;
  streams: StreamWriter;
  typing: Typing;
  auth: RequestHandler;
}

const RECEIPT_TYPES = new Set(["m.read", "m.read.private"]);

export function registerReceiptsAndTyping(table: RouteTable, body: RequestHandler, deps: ReceiptsTypingDeps): void {
  const { db, streams, auth } = deps;

  async function requireJoined(roomId: string, userId: string): Promise<void> {
    if ((await membershipOf(db, roomId, userId))?.membership !== "join") throw forbidden(`User ${userId} not in room ${roomId}`);
  }

  async function requireEventInRoom(roomId: string, eventId: string): Promise<void> {
    const event = (await getEventsByIds(db, [eventId])).get(eventId);
    if (!event || event.roomId !== roomId) throw notFound(`Unknown event ${eventId}`);
  }

  /** Applies read markers: receipts and the m.fully_read room account data, as one stream change. */
  async function mark(roomId: string, userId: string, markers: { fullyRead?: string; receipts: Array<{ type: string; eventId: string; threadId: string }> }) {
    if (markers.fullyRead !== undefined) await requireEventInRoom(roomId, markers.fullyRead);
    for (const r of markers.receipts) await requireEventInRoom(roomId, r.eventId);
    const now = Date.now();
    await streams.write({ roomId, userIds: [userId] }, async (tx, position) => {
      for (const r of markers.receipts) {
        await upsertReceipt(tx, { roomId, receiptType: r.type, userId, threadId: r.threadId, eventId: r.eventId, ts: now }, position);
      }
      if (markers.fullyRead !== undefined) await putAccountData(tx, userId, roomId, "m.fully_read", { event_id: markers.fullyRead }, position);
    });
  }

  for (const prefix of ["/_matrix/client/v3", "/_matrix/client/r0"]) {
    table.add("PUT", `${prefix}/rooms/:roomId/typing/:userId`, auth, body, async (req, res) => {
      const me = requester(res.locals);
      const roomId = roomIdParam(req);
      if (req.params.userId !== me.userId) throw forbidden("Cannot set typing for another user");
      const params = requireJsonObject(req);
      if (typeof params.typing !== "boolean") throw badJson("typing must be a boolean");
      if (params.timeout !== undefined && (typeof params.timeout !== "number" || !Number.isInteger(params.timeout) || params.timeout < 0)) {
        throw badJson("timeout must be a non-negative integer");
      }
      await requireJoined(roomId, me.userId);
      await deps.typing.setTyping(roomId, me.userId, params.typing, (params.timeout as number | undefined) ?? 30_000);
      res.json({});
    });

    table.add("POST", `${prefix}/rooms/:roomId/receipt/:receiptType/:eventId`, auth, body, async (req, res) => {
      const me = requester(res.locals);
      const roomId = roomIdParam(req);
      const type = String(req.params.receiptType);
      const eventId = String(req.params.eventId);
      const params = req.body === undefined ? {} : requireJsonObject(req);
      const threadId = params.thread_id;
      if (threadId !== undefined && typeof threadId !== "string") throw badJson("thread_id must be a string");
      await requireJoined(roomId, me.userId);
      if (type === "m.fully_read") {
        if (threadId !== undefined) throw new MatrixError(400, "M_INVALID_PARAM", "m.fully_read cannot be threaded");
        await mark(roomId, me.userId, { fullyRead: eventId, receipts: [] });
      } else if (RECEIPT_TYPES.has(type)) {
        await mark(roomId, me.userId, { receipts: [{ type, eventId, threadId: threadId ?? "" }] });
      } else {
        throw new MatrixError(400, "M_INVALID_PARAM", `Unknown receipt type ${type}`);
      }
      res.json({});
    });

    table.add("POST", `${prefix}/rooms/:roomId/read_markers`, auth, body, async (req, res) => {
      const me = requester(res.locals);
      const roomId = roomIdParam(req);
      const params = requireJsonObject(req);
      const field = (key: string) => {
        const value = params[key];
        if (value !== undefined && typeof value !== "string") throw badJson(`${key} must be an event ID`);
        return value as string | undefined;
      };
      await requireJoined(roomId, me.userId);
      const fullyRead = field("m.fully_read");
      const receipts = (["m.read", "m.read.private"] as const)
        .map((type) => ({ type, eventId: field(type), threadId: "" }))
        .filter((r): r is { type: "m.read" | "m.read.private"; eventId: string; threadId: string } => r.eventId !== undefined);
      await mark(roomId, me.userId, { ...(fullyRead !== undefined ? { fullyRead } : {}), receipts });
      res.json({});
    });
  }
}
