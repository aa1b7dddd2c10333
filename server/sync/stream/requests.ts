// Requests a client may make over the stream instead of over HTTP. Each maps
// onto the same operation, checks and errors as its HTTP endpoint.
import { userSuspended, type Requester } from "../../auth/authenticate.ts";
import { badJson, MatrixError } from "../../errors/matrix-error.ts";
import { isValidRoomId } from "../../protocol/identifiers.ts";
import { isJsonObject, type JsonObject } from "../../protocol/json.ts";
import { txnEndpoint } from "../../rooms/room-service.ts";
import type { RoomServices } from "../../services.ts";
import { getModerationFlag } from "../../storage/accounts.ts";
import type { Database } from "../../storage/database.ts";
import { parseReadMarkers, parseReceipt, parseTypingParams } from "../read-markers.ts";

type Handler = (me: Requester, params: Record<string, unknown>) => Promise<unknown>;

function roomIdOf(params: Record<string, unknown>): string {
  const roomId = params.room_id;
  if (typeof roomId !== "string") throw badJson("room_id must be a string");
  if (!isValidRoomId(roomId)) throw new MatrixError(400, "M_INVALID_PARAM", `${roomId} is not a legal room ID`);
  return roomId;
}

function stringParam(params: Record<string, unknown>, key: string): string {
  const value = params[key];
  if (typeof value !== "string" || value.length === 0) throw badJson(`${key} must be a non-empty string`);
  return value;
}

export function createStreamRequests(services: RoomServices, db: Database): Record<string, Handler> {
  return {
    async ping() {
      return {};
    },

    /** Like PUT /rooms/{room_id}/send/{event_type}/{txn_id}: idempotent per device and txn_id, across transports. */
    async send(me, params) {
      const roomId = roomIdOf(params);
      const type = stringParam(params, "event_type");
      const txnId = stringParam(params, "txn_id");
      if (txnId.length > 255) throw new MatrixError(400, "M_INVALID_PARAM", "Invalid transaction ID");
      if (type === "m.room.redaction") throw badJson("Use the redact endpoint to send redactions");
      if (!isJsonObject(params.content)) throw badJson("content must be an object");
      // Read now, not at connect: a socket outlives the suspension's start.
      if (await getModerationFlag(db, me.userId, "suspended")) throw userSuspended();
      const { eventId } = await services.rooms.send(roomId, [{ type, sender: me.userId, content: params.content as JsonObject }], {
        userId: me.userId,
        deviceId: me.deviceId,
        endpoint: txnEndpoint.send(roomId, type),
        txnId,
      });
      return { event_id: eventId };
    },

    async typing(me, params) {
      const { typing, timeoutMs } = parseTypingParams(params);
      await services.markers.setTyping(roomIdOf(params), me.userId, typing, timeoutMs);
      return {};
    },

    async receipt(me, params) {
      const receiptType = stringParam(params, "receipt_type");
      const eventId = stringParam(params, "event_id");
      await services.markers.mark(roomIdOf(params), me.userId, parseReceipt(receiptType, eventId, params));
      return {};
    },

    async read_markers(me, params) {
      await services.markers.mark(roomIdOf(params), me.userId, parseReadMarkers(params));
      return {};
    },
  };
}

export function unknownMethod(method: string): MatrixError {
  return new MatrixError(400, "M_UNRECOGNIZED", `Unknown stream request method ${method}`);
}

