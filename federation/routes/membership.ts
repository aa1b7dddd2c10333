// GET /_matrix/federation/v1/make_join/{roomId}/{userId}      https://spec.matrix.org/v1.19/server-server-api/#get_matrixfederationv1make_joinroomiduserid
// PUT /_matrix/federation/v2/send_join/{roomId}/{eventId}     https://spec.matrix.org/v1.19/server-server-api/#put_matrixfederationv2send_joinroomideventid
// GET /_matrix/federation/v1/make_leave/{roomId}/{userId}     https://spec.matrix.org/v1.19/server-server-api/#get_matrixfederationv1make_leaveroomiduserid
// PUT /_matrix/federation/v2/send_leave/{roomId}/{eventId}    https://spec.matrix.org/v1.19/server-server-api/#put_matrixfederationv2send_leaveroomideventid
// GET /_matrix/federation/v1/make_knock/{roomId}/{userId}     https://spec.matrix.org/v1.19/server-server-api/#get_matrixfederationv1make_knockroomiduserid
// PUT /_matrix/federation/v1/send_knock/{roomId}/{eventId}    https://spec.matrix.org/v1.19/server-server-api/#put_matrixfederationv1send_knockroomideventid
//
// Another server's user joining, leaving or knocking on a room this server is
// in (federation/membership/resident.ts does the work).
import type { Request, RequestHandler } from "express";
import { invalidParam } from "../../server/errors/matrix-error.ts";
import type { RouteTable } from "../../server/http/route-table.ts";
import { isValidUserId } from "../../server/protocol/identifiers.ts";
import type { JsonObject } from "../../server/protocol/json.ts";
import type { RoomVersion } from "../../server/protocol/room-versions.ts";
import { STRIPPED_STATE_TYPES } from "../../server/rooms/stripped-state.ts";
import { currentStateEvents, stateEventsAtGroup } from "../../server/rooms/room-state.ts";
import { federationPdu } from "../../server/rooms/server-visibility.ts";
import { pduOf } from "../../server/rooms/stored-event.ts";
import { authChain, joinedServers } from "../../server/storage/dag.ts";
import type { Database } from "../../server/storage/database.ts";
import { getEventsByIds } from "../../server/storage/events.ts";
import { originOf } from "../auth/require-server-auth.ts";
import type { Resident } from "../membership/resident.ts";
import { eventIdParam, queryList, roomIdParam } from "./params.ts";

export interface MembershipRouteDeps {
  db: Database;
  resident: Resident;
  serverName: string;
  auth: RequestHandler[];
}

function userIdParam(req: Request): string {
  const userId = String(req.params.userId ?? "");
  if (!isValidUserId(userId)) throw invalidParam(`${userId} is not a valid user ID`);
  return userId;
}

/** Room versions the joining server supports (`ver`, repeatable); v1 when none is given, as the spec says. */
function supportedVersions(req: Request): string[] {
  const versions = queryList(req, "ver");
  return versions.length > 0 ? versions : ["1"];
}

export function registerMembershipRoutes(table: RouteTable, deps: MembershipRouteDeps): void {
  const { db, resident, auth } = deps;
  const fv1 = "/_matrix/federation/v1";
  const fv2 = "/_matrix/federation/v2";

  table.add("GET", `${fv1}/make_join/:roomId/:userId`, ...auth, async (req, res) => {
    res.json(await resident.makeTemplate(roomIdParam(req), userIdParam(req), originOf(res.locals), "join", supportedVersions(req)));
  });

  table.add("PUT", `${fv2}/send_join/:roomId/:eventId`, ...auth, async (req, res) => {
    const roomId = roomIdParam(req);
    const { event, version } = await resident.acceptMembership(roomId, eventIdParam(req), originOf(res.locals), req.body, "join");
    const omitMembers = req.query.omit_members === "true";
    res.json(await joinAnswer(roomId, event.eventId, version, omitMembers));
  });

  /** The state before the join, its auth chain and the join as we accepted it (with our signature if we vouched for it). */
  async function joinAnswer(roomId: string, eventId: string, version: RoomVersion, omitMembers: boolean): Promise<JsonObject> {
    const join = (await getEventsByIds(db, [eventId])).get(eventId)!;
    let state = await stateEventsAtGroup(db, join.stateGroupBefore);
    if (omitMembers) state = state.filter((e) => e.type !== "m.room.member");
    const inState = new Set(state.map((e) => e.eventId));
    const chain = (await authChain(db, [eventId, ...inState])).filter((e) => !omitMembers || !inState.has(e.eventId));
    const answer: JsonObject = {
      origin: deps.serverName,
      state: state.map((e) => federationPdu(e, version)),
      auth_chain: chain.map((e) => federationPdu(e, version)),
      event: pduOf(join),
      members_omitted: omitMembers,
    };
    if (omitMembers) answer.servers_in_room = await joinedServers(db, roomId);
    return answer;
  }

  table.add("GET", `${fv1}/make_leave/:roomId/:userId`, ...auth, async (req, res) => {
    res.json(await resident.makeTemplate(roomIdParam(req), userIdParam(req), originOf(res.locals), "leave"));
  });

  table.add("PUT", `${fv2}/send_leave/:roomId/:eventId`, ...auth, async (req, res) => {
    await resident.acceptMembership(roomIdParam(req), eventIdParam(req), originOf(res.locals), req.body, "leave");
    res.json({});
  });

  table.add("GET", `${fv1}/make_knock/:roomId/:userId`, ...auth, async (req, res) => {
    const versions = queryList(req, "ver");
    if (versions.length === 0) throw invalidParam("ver is required");
    res.json(await resident.makeTemplate(roomIdParam(req), userIdParam(req), originOf(res.locals), "knock", versions));
  });

  table.add("PUT", `${fv1}/send_knock/:roomId/:eventId`, ...auth, async (req, res) => {
    const roomId = roomIdParam(req);
    const { version } = await resident.acceptMembership(roomId, eventIdParam(req), originOf(res.locals), req.body, "knock");
    const summary = await currentStateEvents(db, roomId, STRIPPED_STATE_TYPES.map((t) => [t, ""] as const));
    res.json({ knock_room_state: summary.map((e) => federationPdu(e, version)) });
  });
}
