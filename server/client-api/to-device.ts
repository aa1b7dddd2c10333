// PUT /_matrix/client/v3/sendToDevice/{eventType}/{txnId}   https://spec.matrix.org/v1.19/client-server-api/#put_matrixclientv3sendtodeviceeventtypetxnid
//
// Idempotent per device, event type and transaction ID; rate-limited per
// user (rate_limits.to_device) and capped per request and per recipient
// inbox (server/e2ee/to-device.ts). Delivery is through /sync and the stream.
import type { RequestHandler } from "express";
import { requester } from "../auth/authenticate.ts";
import { isPlainId } from "../e2ee/key-checks.ts";
import { checkToDeviceMessages, type ToDevice } from "../e2ee/to-device.ts";
import { invalidParam, missingParam } from "../errors/matrix-error.ts";
import { requireJsonObject } from "../http/middleware.ts";
import type { RouteTable } from "../http/route-table.ts";

export interface ToDeviceRouteDeps {
  toDevice: ToDevice;
  auth: RequestHandler;
  rateLimit: RequestHandler;
  /** Body parser for the bulk E2EE endpoints (limits.max_bulk_json_body_bytes). */
  bulkBody: RequestHandler;
}

export function registerToDevice(table: RouteTable, deps: ToDeviceRouteDeps): void {
  for (const prefix of ["/_matrix/client/v3", "/_matrix/client/r0"]) {
    table.add("PUT", `${prefix}/sendToDevice/:eventType/:txnId`, deps.auth, deps.rateLimit, deps.bulkBody, async (req, res) => {
      const me = requester(res.locals);
      const type = String(req.params.eventType);
      const txnId = String(req.params.txnId);
      if (!isPlainId(type)) throw invalidParam("Invalid event type");
      if (!isPlainId(txnId)) throw invalidParam("Invalid transaction ID");
      const body = requireJsonObject(req);
      if (body.messages === undefined || body.messages === null) throw missingParam("Missing messages");
      const result = await deps.toDevice.send({ userId: me.userId, deviceId: me.deviceId }, type, txnId, checkToDeviceMessages(body.messages));
      if (result.dropped.length > 0) {
        res.locals.log.warn({ type, dropped: result.dropped.length, recipients: result.dropped.slice(0, 10) }, "to-device inboxes full: messages dropped");
      }
      res.json({});
    });
  }
}
