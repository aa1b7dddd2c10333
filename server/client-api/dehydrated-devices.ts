// PUT    /_matrix/client/unstable/org.matrix.msc3814.v1/dehydrated_device                     https://github.com/matrix-org/matrix-spec-proposals/pull/3814
// GET    /_matrix/client/unstable/org.matrix.msc3814.v1/dehydrated_device                     (MSC3814)
// DELETE /_matrix/client/unstable/org.matrix.msc3814.v1/dehydrated_device                     (MSC3814)
// GET    /_matrix/client/unstable/org.matrix.msc3814.v1/dehydrated_device/{deviceId}/events   (MSC3814; `from` query, as matrix-js-sdk asks)
// POST   /_matrix/client/unstable/org.matrix.msc3814.v1/dehydrated_device/{deviceId}/events   (MSC3814; `next_batch` in the body)
//
// The rules are in server/e2ee/dehydrated-devices.ts.
import type { RequestHandler } from "express";
import { requester } from "../auth/authenticate.ts";
import type { DehydratedDevices } from "../e2ee/dehydrated-devices.ts";
import { badJson } from "../errors/matrix-error.ts";
import { requireJsonObject } from "../http/middleware.ts";
import type { RouteTable } from "../http/route-table.ts";
import { optionalString } from "./params.ts";
import { queryString } from "./rooms/params.ts";

export const DEHYDRATION_PREFIX = "/_matrix/client/unstable/org.matrix.msc3814.v1";

export interface DehydratedDeviceRouteDeps {
  dehydratedDevices: DehydratedDevices;
  auth: RequestHandler;
  /** Body parser for the bulk E2EE endpoints (limits.max_bulk_json_body_bytes). */
  bulkBody: RequestHandler;
}

export function registerDehydratedDevices(table: RouteTable, body: RequestHandler, deps: DehydratedDeviceRouteDeps): void {
  const { dehydratedDevices, auth } = deps;
  const path = `${DEHYDRATION_PREFIX}/dehydrated_device`;
  table.add("PUT", path, auth, deps.bulkBody, async (req, res) => {
    res.json({ device_id: await dehydratedDevices.put(requester(res.locals).userId, requireJsonObject(req)) });
  });
  table.add("GET", path, auth, async (_req, res) => {
    res.json(await dehydratedDevices.get(requester(res.locals).userId));
  });
  table.add("DELETE", path, auth, async (_req, res) => {
    res.json({ device_id: await dehydratedDevices.remove(requester(res.locals).userId) });
  });
  table.add("GET", `${path}/:deviceId/events`, auth, async (req, res) => {
    res.json(await dehydratedDevices.events(requester(res.locals).userId, String(req.params.deviceId), queryString(req, "from")));
  });
  table.add("POST", `${path}/:deviceId/events`, auth, body, async (req, res) => {
    const params = req.body === undefined ? {} : requireJsonObject(req);
    if (params.next_batch !== undefined && params.next_batch !== null && typeof params.next_batch !== "string") throw badJson("next_batch must be a string");
    res.json(await dehydratedDevices.events(requester(res.locals).userId, String(req.params.deviceId), optionalString(params, "next_batch")));
  });
}
