// POST /_matrix/client/v3/keys/upload   https://spec.matrix.org/v1.19/client-server-api/#post_matrixclientv3keysupload
// POST /_matrix/client/v3/keys/query    https://spec.matrix.org/v1.19/client-server-api/#post_matrixclientv3keysquery
// POST /_matrix/client/v3/keys/claim    https://spec.matrix.org/v1.19/client-server-api/#post_matrixclientv3keysclaim
// GET  /_matrix/client/v3/keys/changes  https://spec.matrix.org/v1.19/client-server-api/#get_matrixclientv3keyschanges
//
// Checks and storage live in server/e2ee/ (keys.ts, key-checks.ts); these
// handlers read the request and shape the answer.
import type { RequestHandler } from "express";
import { requester } from "../auth/authenticate.ts";
import type { DeviceLists } from "../e2ee/device-lists.ts";
import { checkUserId, isPlainId } from "../e2ee/key-checks.ts";
import type { Keys } from "../e2ee/keys.ts";
import { badJson, invalidParam, missingParam } from "../errors/matrix-error.ts";
import { requireJsonObject } from "../http/middleware.ts";
import type { RouteTable } from "../http/route-table.ts";
import { isJsonObject } from "../protocol/json.ts";
import { parseSyncToken } from "../rooms/tokens.ts";
import { queryString } from "./rooms/params.ts";

export interface KeysRouteDeps {
  keys: Keys;
  deviceLists: DeviceLists;
  auth: RequestHandler;
  /** Body parser for the bulk E2EE endpoints (limits.max_bulk_json_body_bytes). */
  bulkBody: RequestHandler;
}

/** The spec recommends 10 s for remote servers; more is not waited for. */
const DEFAULT_TIMEOUT_MS = 10_000;
const MAX_TIMEOUT_MS = 60_000;

function timeoutOf(body: Record<string, unknown>): number {
  const t = body.timeout;
  if (t === undefined || t === null) return DEFAULT_TIMEOUT_MS;
  if (typeof t !== "number" || !Number.isInteger(t) || t < 0) throw badJson("timeout must be a non-negative integer");
  return Math.min(t, MAX_TIMEOUT_MS);
}

/** A required object field of a body. */
function objectParam(body: Record<string, unknown>, key: string): Record<string, unknown> {
  const value = body[key];
  if (value === undefined || value === null) throw missingParam(`Missing ${key}`);
  if (!isJsonObject(value)) throw badJson(`${key} must be an object`);
  return value;
}

/** device_keys of /keys/query: user → device IDs (empty for all). */
function deviceKeysQuery(body: Record<string, unknown>): Map<string, string[]> {
  const out = new Map<string, string[]>();
  for (const [userId, devices] of Object.entries(objectParam(body, "device_keys"))) {
    checkUserId(userId, "device_keys");
    if (!Array.isArray(devices) || !devices.every((d) => typeof d === "string")) throw badJson(`device_keys.${userId} must be an array of device IDs`);
    if (!devices.every(isPlainId)) throw invalidParam(`device_keys.${userId} holds an invalid device ID`);
    out.set(userId, [...new Set(devices)]);
  }
  return out;
}

/** one_time_keys of /keys/claim: user → device → algorithm. */
function claimQuery(body: Record<string, unknown>): Map<string, Record<string, string>> {
  const out = new Map<string, Record<string, string>>();
  for (const [userId, devices] of Object.entries(objectParam(body, "one_time_keys"))) {
    checkUserId(userId, "one_time_keys");
    if (!isJsonObject(devices)) throw badJson(`one_time_keys.${userId} must be an object`);
    for (const [deviceId, algorithm] of Object.entries(devices)) {
      if (typeof algorithm !== "string") throw badJson(`one_time_keys.${userId}.${deviceId} must be an algorithm name`);
      if (!isPlainId(deviceId) || !isPlainId(algorithm)) throw invalidParam(`one_time_keys.${userId} holds an invalid device ID or algorithm`);
    }
    out.set(userId, devices as Record<string, string>);
  }
  return out;
}

export function registerKeys(table: RouteTable, deps: KeysRouteDeps): void {
  const { keys, auth, bulkBody } = deps;
  for (const prefix of ["/_matrix/client/v3", "/_matrix/client/r0"]) {
    table.add("POST", `${prefix}/keys/upload`, auth, bulkBody, async (req, res) => {
      const me = requester(res.locals);
      const body = requireJsonObject(req);
      res.json({ one_time_key_counts: await keys.upload({ userId: me.userId, deviceId: me.deviceId }, body) });
    });

    table.add("POST", `${prefix}/keys/query`, auth, bulkBody, async (req, res) => {
      const me = requester(res.locals);
      const body = requireJsonObject(req);
      res.json(await keys.query(me.userId, deviceKeysQuery(body), timeoutOf(body)));
    });

    table.add("POST", `${prefix}/keys/claim`, auth, bulkBody, async (req, res) => {
      requester(res.locals);
      const body = requireJsonObject(req);
      res.json(await keys.claim(claimQuery(body), timeoutOf(body)));
    });

    table.add("GET", `${prefix}/keys/changes`, auth, async (req, res) => {
      const me = requester(res.locals);
      const from = queryString(req, "from");
      if (from === undefined) throw missingParam("Missing from");
      // `to` is a hint in the spec: it is checked, and the answer runs to now (changes are
      // kept as latest positions, so a past end could hide one that was overwritten since).
      const to = queryString(req, "to");
      if (to !== undefined) parseSyncToken(to);
      res.json(await deps.deviceLists.since(me.userId, parseSyncToken(from)));
    });
  }
}
