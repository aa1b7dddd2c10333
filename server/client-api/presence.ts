// GET/PUT /_matrix/client/v3/presence/{userId}/status  https://spec.matrix.org/v1.19/client-server-api/#put_matrixclientv3presenceuseridstatus
//
// A user may read their own presence and that of users they share a joined
// room with (Synapse's rule; others get 403). With presence disabled, PUT is
// accepted and dropped and everyone reads as offline, as Synapse does with
// use_presence off.
import type { Request, RequestHandler } from "express";
import { requester } from "../auth/authenticate.ts";
import { forbidden, MatrixError } from "../errors/matrix-error.ts";
import { requireJsonObject } from "../http/middleware.ts";
import type { RouteTable } from "../http/route-table.ts";
import { isValidUserId } from "../protocol/identifiers.ts";
import type { Database } from "../storage/database.ts";
import { sharesRoom } from "../storage/presence.ts";
import { PRESENCE_STATES, type Presence, type PresenceState } from "../sync/presence.ts";
import { optionalString, requiredString } from "./params.ts";

export interface PresenceDeps {
  db: Database;
  presence: Presence;
  auth: RequestHandler;
}

function userIdParam(req: Request): string {
  const userId = String(req.params.userId ?? "");
  if (!isValidUserId(userId)) throw new MatrixError(400, "M_INVALID_PARAM", `${userId} is not a valid user ID`);
  return userId;
}

export function registerPresence(table: RouteTable, body: RequestHandler, deps: PresenceDeps): void {
  const { db, presence, auth } = deps;
  for (const prefix of ["/_matrix/client/v3", "/_matrix/client/r0"]) {
    table.add("PUT", `${prefix}/presence/:userId/status`, auth, body, async (req, res) => {
      const me = requester(res.locals);
      if (userIdParam(req) !== me.userId) throw forbidden("Can only set your own presence state");
      const content = requireJsonObject(req);
      const state = requiredString(content, "presence");
      if (!PRESENCE_STATES.includes(state as PresenceState)) throw new MatrixError(400, "M_INVALID_PARAM", "presence must be online, unavailable or offline");
      await presence.set(me.userId, state as PresenceState, optionalString(content, "status_msg") ?? null);
      res.json({});
    });

    table.add("GET", `${prefix}/presence/:userId/status`, auth, async (req, res) => {
      const me = requester(res.locals);
      const userId = userIdParam(req);
      if (presence.enabled && userId !== me.userId && !(await sharesRoom(db, me.userId, userId))) {
        throw forbidden("You are not allowed to see their presence");
      }
      res.json(await presence.get(userId));
    });
  }
}
