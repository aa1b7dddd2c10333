// PUT  /_matrix/client/v3/rooms/{roomId}/typing/{userId}                  https://spec.matrix.org/v1.19/client-server-api/#put_matrixclientv3roomsroomidtypinguserid
// POST /_matrix/client/v3/rooms/{roomId}/receipt/{receiptType}/{eventId}  https://spec.matrix.org/v1.19/client-server-api/#post_matrixclientv3roomsroomidreceiptreceipttypeeventid
// POST /_matrix/client/v3/rooms/{roomId}/read_markers                     https://spec.matrix.org/v1.19/client-server-api/#post_matrixclientv3roomsroomidread_markers
import type { RequestHandler } from "express";
import { requester } from "../../auth/authenticate.ts";
import { forbidden } from "../../errors/matrix-error.ts";
import { requireJsonObject } from "../../http/middleware.ts";
import type { RouteTable } from "../../http/route-table.ts";
import { parseReadMarkers, parseReceipt, parseTypingParams, type ReadMarkers } from "../../sync/read-markers.ts";
import { roomIdParam } from "./params.ts";

export interface ReceiptsTypingDeps {
  markers: ReadMarkers;
  auth: RequestHandler;
}

export function registerReceiptsAndTyping(table: RouteTable, body: RequestHandler, deps: ReceiptsTypingDeps): void {
  const { markers, auth } = deps;
  for (const prefix of ["/_matrix/client/v3", "/_matrix/client/r0"]) {
    table.add("PUT", `${prefix}/rooms/:roomId/typing/:userId`, auth, body, async (req, res) => {
      const me = requester(res.locals);
      const roomId = roomIdParam(req);
      if (req.params.userId !== me.userId) throw forbidden("Cannot set typing for another user");
      const { typing, timeoutMs } = parseTypingParams(requireJsonObject(req));
      await markers.setTyping(roomId, me.userId, typing, timeoutMs);
      res.json({});
    });

    table.add("POST", `${prefix}/rooms/:roomId/receipt/:receiptType/:eventId`, auth, body, async (req, res) => {
      const me = requester(res.locals);
      const roomId = roomIdParam(req);
      const params = req.body === undefined ? {} : requireJsonObject(req);
      await markers.mark(roomId, me.userId, parseReceipt(String(req.params.receiptType), String(req.params.eventId), params));
      res.json({});
    });

    table.add("POST", `${prefix}/rooms/:roomId/read_markers`, auth, body, async (req, res) => {
      const me = requester(res.locals);
      const roomId = roomIdParam(req);
      await markers.mark(roomId, me.userId, parseReadMarkers(requireJsonObject(req)));
      res.json({});
    });
  }
}
