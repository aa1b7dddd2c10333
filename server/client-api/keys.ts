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
import { checkClaimQuery, checkKeysQuery } from "../e2ee/key-requests.ts";
import type { Keys } from "../e2ee/keys.ts";
import { badJson, missingParam } from "../errors/matrix-error.ts";
import { requireJsonObject } from "../http/middleware.ts";
import type { RouteTable } from "../http/route-table.ts";
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
      res.json(await keys.query(me.userId, checkKeysQuery(body), timeoutOf(body)));
    });

    table.add("POST", `${prefix}/keys/claim`, auth, bulkBody, async (req, res) => {
      requester(res.locals);
      const body = requireJsonObject(req);
      res.json(await keys.claim(checkClaimQuery(body), timeoutOf(body)));
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
