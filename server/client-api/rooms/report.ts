// POST /_matrix/client/v3/rooms/{roomId}/report/{eventId} https://spec.matrix.org/v1.19/client-server-api/#post_matrixclientv3roomsroomidreporteventid
// POST /_matrix/client/v3/rooms/{roomId}/report           https://spec.matrix.org/v1.19/client-server-api/#post_matrixclientv3roomsroomidreport
// POST /_matrix/client/v3/users/{userId}/report           https://spec.matrix.org/v1.19/client-server-api/#post_matrixclientv3usersuseridreport
//
// Reports are stored for the server's administrators. An event report needs
// the reporter joined and able to see the event (spec v1.8); anything else is
// the same 404 as a missing event, so reports reveal nothing (as Synapse).
// A room report needs only that the room exists (spec v1.13: joining is not
// required, users meet rooms through directories and invites). A user report
// needs a local account (as Synapse: our admins can act only on those).
import type { RequestHandler } from "express";
import { requester } from "../../auth/authenticate.ts";
import { badJson, invalidParam, notFound } from "../../errors/matrix-error.ts";
import { requireJsonObject } from "../../http/middleware.ts";
import type { RouteTable } from "../../http/route-table.ts";
import { serverNameOf } from "../../protocol/identifiers.ts";
import { readableEvent } from "../../rooms/readable-events.ts";
import type { Database } from "../../storage/database.ts";
import { getUser } from "../../storage/accounts.ts";
import { insertReport, insertUserReport } from "../../storage/reports.ts";
import { getRoomVersionId, membershipOf } from "../../storage/state.ts";
import { optionalString, requiredString } from "../params.ts";
import { roomIdParam } from "./params.ts";

export interface ReportDeps {
  db: Database;
  serverName: string;
  auth: RequestHandler;
}

/** The score of older clients (removed in spec v1.18): -100 (most offensive) to 0. */
function scoreField(body: Record<string, unknown>): number | undefined {
  const score = body.score;
  if (score === undefined) return undefined;
  if (typeof score !== "number" || !Number.isInteger(score)) throw badJson("score must be an integer");
  if (score < -100 || score > 0) throw invalidParam("score must be between -100 and 0");
  return score;
}

export function registerReports(table: RouteTable, body: RequestHandler, deps: ReportDeps): void {
  const { db, auth } = deps;

  const reportEvent: RequestHandler = async (req, res) => {
    const me = requester(res.locals);
    const roomId = roomIdParam(req);
    const eventId = String(req.params.eventId);
    const params = requireJsonObject(req);
    const reason = optionalString(params, "reason");
    const score = scoreField(params);
    const hidden = () => notFound("Unable to report event: it does not exist or you aren't able to see it.");
    if ((await membershipOf(db, roomId, me.userId))?.membership !== "join") throw hidden();
    const event = await readableEvent(db, me.userId, { kind: "joined" }, roomId, eventId);
    if (!event || event.redactedBy !== null) throw hidden();
    await insertReport(db, { roomId, eventId, reporter: me.userId, reason, score, receivedTs: Date.now() });
    res.json({});
  };

  for (const prefix of ["/_matrix/client/v3", "/_matrix/client/r0"]) {
    table.add("POST", `${prefix}/rooms/:roomId/report/:eventId`, auth, body, reportEvent);
  }

  table.add("POST", "/_matrix/client/v3/rooms/:roomId/report", auth, body, async (req, res) => {
    const me = requester(res.locals);
    const roomId = roomIdParam(req);
    const reason = requiredString(requireJsonObject(req), "reason");
    if ((await getRoomVersionId(db, roomId)) === undefined) throw notFound("Room does not exist");
    await insertReport(db, { roomId, reporter: me.userId, reason, receivedTs: Date.now() });
    res.json({});
  });

  table.add("POST", "/_matrix/client/v3/users/:userId/report", auth, body, async (req, res) => {
    const me = requester(res.locals);
    const target = String(req.params.userId);
    const reason = requiredString(requireJsonObject(req), "reason");
    if (serverNameOf(target) !== deps.serverName || !(await getUser(db, target))) throw notFound("The user was not found");
    await insertUserReport(db, { targetUserId: target, reporter: me.userId, reason, receivedTs: Date.now() });
    res.json({});
  });
}
