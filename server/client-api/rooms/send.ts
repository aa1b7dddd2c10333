// PUT /_matrix/client/v3/rooms/{roomId}/send/{eventType}/{txnId}   https://spec.matrix.org/v1.19/client-server-api/#put_matrixclientv3roomsroomidsendeventtypetxnid
// PUT /_matrix/client/v3/rooms/{roomId}/state/{eventType}/{stateKey} https://spec.matrix.org/v1.19/client-server-api/#put_matrixclientv3roomsroomidstateeventtypestatekey
// PUT /_matrix/client/v3/rooms/{roomId}/redact/{eventId}/{txnId}   https://spec.matrix.org/v1.19/client-server-api/#put_matrixclientv3roomsroomidredacteventidtxnid
import type { Request, RequestHandler } from "express";
import { refuseSuspended, requester, userSuspended } from "../../auth/authenticate.ts";
import { badJson, MatrixError } from "../../errors/matrix-error.ts";
import { requireJsonObject } from "../../http/middleware.ts";
import type { RouteTable } from "../../http/route-table.ts";
import { isValidEventId } from "../../protocol/identifiers.ts";
import type { JsonObject } from "../../protocol/json.ts";
import { txnEndpoint, type RoomService } from "../../rooms/room-service.ts";
import type { Database } from "../../storage/database.ts";
import { getEventsByIds } from "../../storage/events.ts";
import { roomIdParam } from "./params.ts";

export interface SendDeps {
  db: Database;
  rooms: RoomService;
  auth: RequestHandler;
  messageRateLimit: RequestHandler;
}

function eventTypeParam(req: Request): string {
  const type = String(req.params.eventType ?? "");
  if (type.length === 0) throw new MatrixError(400, "M_INVALID_PARAM", "Event type must not be empty");
  return type;
}

function txnIdParam(req: Request): string {
  const txnId = String(req.params.txnId ?? "");
  if (txnId.length === 0 || txnId.length > 255) throw new MatrixError(400, "M_INVALID_PARAM", "Invalid transaction ID");
  return txnId;
}

export function registerSend(table: RouteTable, body: RequestHandler, deps: SendDeps): void {
  const { rooms, auth } = deps;
  for (const prefix of ["/_matrix/client/v3", "/_matrix/client/r0"]) {
    table.add("PUT", `${prefix}/rooms/:roomId/send/:eventType/:txnId`, auth, refuseSuspended, deps.messageRateLimit, body, async (req, res) => {
      const me = requester(res.locals);
      const roomId = roomIdParam(req);
      const type = eventTypeParam(req);
      if (type === "m.room.redaction") throw badJson("Use the /redact endpoint to send redactions");
      const content = requireJsonObject(req) as JsonObject;
      const { eventId } = await rooms.send(roomId, [{ type, sender: me.userId, content }], {
        userId: me.userId,
        deviceId: me.deviceId,
        endpoint: txnEndpoint.send(roomId, type),
        txnId: txnIdParam(req),
      });
      res.json({ event_id: eventId });
    });

    const putState: RequestHandler = async (req, res) => {
      const me = requester(res.locals);
      const roomId = roomIdParam(req);
      const type = eventTypeParam(req);
      const stateKey = req.params.stateKey === undefined ? "" : String(req.params.stateKey);
      const content = requireJsonObject(req) as JsonObject;
      const { eventId } = await rooms.send(roomId, [{ type, stateKey, sender: me.userId, content }]);
      res.json({ event_id: eventId });
    };
    table.add("PUT", `${prefix}/rooms/:roomId/state/:eventType/:stateKey`, auth, refuseSuspended, body, putState);
    table.add("PUT", `${prefix}/rooms/:roomId/state/:eventType`, auth, refuseSuspended, body, putState);

    table.add("PUT", `${prefix}/rooms/:roomId/redact/:eventId/:txnId`, auth, deps.messageRateLimit, body, async (req, res) => {
      const me = requester(res.locals);
      const roomId = roomIdParam(req);
      const target = String(req.params.eventId);
      if (!isValidEventId(target)) throw new MatrixError(400, "M_INVALID_PARAM", `${target} is not a valid event ID`);
      // A suspended user may still take down what they sent themselves.
      if (me.isSuspended && (await getEventsByIds(deps.db, [target])).get(target)?.sender !== me.userId) throw userSuspended();
      const params = req.body === undefined ? {} : requireJsonObject(req);
      const content: JsonObject = {};
      if (params.reason !== undefined) {
        if (typeof params.reason !== "string") throw badJson("reason must be a string");
        content.reason = params.reason;
      }
      const { eventId } = await rooms.send(roomId, [{ type: "m.room.redaction", sender: me.userId, content, redacts: target }], {
        userId: me.userId,
        deviceId: me.deviceId,
        endpoint: txnEndpoint.redact(roomId, target),
        txnId: txnIdParam(req),
      });
      res.json({ event_id: eventId });
    });
  }
}
