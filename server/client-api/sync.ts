// GET  /_matrix/client/v3/sync                           https://spec.matrix.org/v1.19/client-server-api/#get_matrixclientv3sync
// POST /_matrix/client/v3/user/{userId}/filter           https://spec.matrix.org/v1.19/client-server-api/#post_matrixclientv3useruseridfilter
// GET  /_matrix/client/v3/user/{userId}/filter/{filterId} https://spec.matrix.org/v1.19/client-server-api/#get_matrixclientv3useruseridfilterfilterid
import type { RequestHandler } from "express";
import { requester } from "../auth/authenticate.ts";
import { badJson, forbidden, MatrixError, notFound } from "../errors/matrix-error.ts";
import { requireJsonObject } from "../http/middleware.ts";
import type { RouteTable } from "../http/route-table.ts";
import type { JsonValue } from "../protocol/json.ts";
import type { Database } from "../storage/database.ts";
import { getFilter, insertFilter } from "../storage/filters.ts";
import { sinceToken, type SyncEngine } from "../sync/sync-engine.ts";
import { parseSyncFilter } from "../sync/sync-filter.ts";
import { PRESENCE_STATES, type PresenceState } from "../sync/presence.ts";
import { queryInt, queryString } from "./rooms/params.ts";

export interface SyncDeps {
  db: Database;
  engine: SyncEngine;
  auth: RequestHandler;
}

/** Long-polls are capped so proxies with 60 s timeouts do not cut them. */
const MAX_TIMEOUT_MS = 50_000;

export function registerSync(table: RouteTable, body: RequestHandler, deps: SyncDeps): void {
  const { db, engine, auth } = deps;
  for (const prefix of ["/_matrix/client/v3", "/_matrix/client/r0"]) {
    table.add("GET", `${prefix}/sync`, auth, async (req, res) => {
      const me = requester(res.locals);
      const rawFilter = queryString(req, "filter");
      let filterJson: JsonValue | undefined;
      if (rawFilter !== undefined) {
        if (rawFilter.trimStart().startsWith("{")) {
          try {
            filterJson = JSON.parse(rawFilter) as JsonValue;
          } catch {
            throw badJson("filter is not valid JSON");
          }
        } else {
          filterJson = (await getFilter(db, me.userId, rawFilter)) as JsonValue | undefined;
          if (filterJson === undefined) throw notFound("No such filter");
        }
      }
      const since = queryString(req, "since");
      // Default online, as the spec says; Synapse answers unknown values with 400.
      const setPresence = queryString(req, "set_presence") ?? "online";
      if (!PRESENCE_STATES.includes(setPresence as PresenceState)) throw new MatrixError(400, "M_INVALID_PARAM", "set_presence must be online, unavailable or offline");
      const abort = new AbortController();
      res.on("close", () => abort.abort());
      const response = await engine.sync({
        viewer: { userId: me.userId, deviceId: me.deviceId },
        ...(since !== undefined ? sinceToken(since) : {}),
        fullState: queryString(req, "full_state") === "true",
        timeoutMs: queryInt(req, "timeout", 0, MAX_TIMEOUT_MS),
        filter: parseSyncFilter(filterJson),
        signal: abort.signal,
        setPresence: setPresence as PresenceState,
      });
      if (!res.writableEnded && !res.destroyed) res.json(response);
    });

    table.add("POST", `${prefix}/user/:userId/filter`, auth, body, async (req, res) => {
      const me = requester(res.locals);
      if (req.params.userId !== me.userId) throw forbidden("Cannot create filters for other users");
      const filter = requireJsonObject(req);
      parseSyncFilter(filter as JsonValue);
      res.json({ filter_id: await insertFilter(db, me.userId, filter) });
    });

    table.add("GET", `${prefix}/user/:userId/filter/:filterId`, auth, async (req, res) => {
      const me = requester(res.locals);
      if (req.params.userId !== me.userId) throw forbidden("Cannot read filters of other users");
      const filter = await getFilter(db, me.userId, String(req.params.filterId));
      if (filter === undefined) throw notFound("No such filter");
      res.json(filter);
    });
  }
}
