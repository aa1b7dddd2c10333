// POST /_matrix/client/v3/join/{roomIdOrAlias}        https://spec.matrix.org/v1.19/client-server-api/#post_matrixclientv3joinroomidoralias
// POST /_matrix/client/v3/rooms/{roomId}/join          https://spec.matrix.org/v1.19/client-server-api/#post_matrixclientv3roomsroomidjoin
// POST /_matrix/client/v3/knock/{roomIdOrAlias}       https://spec.matrix.org/v1.19/client-server-api/#post_matrixclientv3knockroomidoralias
// POST /_matrix/client/v3/rooms/{roomId}/leave         https://spec.matrix.org/v1.19/client-server-api/#post_matrixclientv3roomsroomidleave
// POST /_matrix/client/v3/rooms/{roomId}/invite        https://spec.matrix.org/v1.19/client-server-api/#post_matrixclientv3roomsroomidinvite
// POST /_matrix/client/v3/rooms/{roomId}/kick          https://spec.matrix.org/v1.19/client-server-api/#post_matrixclientv3roomsroomidkick
// POST /_matrix/client/v3/rooms/{roomId}/ban           https://spec.matrix.org/v1.19/client-server-api/#post_matrixclientv3roomsroomidban
// POST /_matrix/client/v3/rooms/{roomId}/unban         https://spec.matrix.org/v1.19/client-server-api/#post_matrixclientv3roomsroomidunban
// POST /_matrix/client/v3/rooms/{roomId}/forget        https://spec.matrix.org/v1.19/client-server-api/#post_matrixclientv3roomsroomidforget
// GET  /_matrix/client/v3/joined_rooms                 https://spec.matrix.org/v1.19/client-server-api/#get_matrixclientv3joined_rooms
import type { Request, RequestHandler } from "express";
import { requester } from "../../auth/authenticate.ts";
import { badJson, forbidden, MatrixError, notFound } from "../../errors/matrix-error.ts";
import type { RouteTable } from "../../http/route-table.ts";
import { isValidRoomId } from "../../protocol/identifiers.ts";
import type { JsonObject } from "../../protocol/json.ts";
import type { RoomService } from "../../rooms/room-service.ts";
import { getProfile } from "../../storage/accounts.ts";
import { getAlias } from "../../storage/aliases.ts";
import type { Database } from "../../storage/database.ts";
import { forgetRoom, getRoomVersionId, membershipOf, membershipsOfUser } from "../../storage/state.ts";
import { roomAliasParam, roomIdParam, userIdField } from "./params.ts";

export interface MembershipDeps {
  db: Database;
  rooms: RoomService;
  auth: RequestHandler;
  joinRateLimit: RequestHandler;
}

function reasonOf(req: Request): string | undefined {
  const body = req.body as Record<string, unknown> | undefined;
  const reason = body?.reason;
  if (reason === undefined) return undefined;
  if (typeof reason !== "string") throw badJson("reason must be a string");
  return reason;
}

function bodyObject(req: Request): Record<string, unknown> {
  const body: unknown = req.body ?? {};
  if (typeof body !== "object" || body === null || Array.isArray(body)) throw badJson("Request body must be a JSON object");
  return body as Record<string, unknown>;
}

export function registerMembership(table: RouteTable, body: RequestHandler, deps: MembershipDeps): void {
  const { db, rooms, auth } = deps;

  /** Room ID for a room ID or a local alias; this server must already hold the room (federated joins come later). */
  async function resolveRoom(target: string): Promise<string> {
    let roomId = target;
    if (target.startsWith("#")) {
      const alias = await getAlias(db, roomAliasParam(target));
      if (!alias) throw notFound(`Room alias ${target} not found`);
      roomId = alias.roomId;
    } else if (!isValidRoomId(target)) {
      throw new MatrixError(400, "M_INVALID_PARAM", `${target} is not a legal room ID or alias`);
    }
    if ((await getRoomVersionId(db, roomId)) === undefined) throw notFound("No known servers for this room");
    return roomId;
  }

  async function memberContent(userId: string, membership: string, reason?: string): Promise<JsonObject> {
    const content: JsonObject = { membership };
    const profile = await getProfile(db, userId);
    if (profile?.displayname) content.displayname = profile.displayname;
    if (profile?.avatarUrl) content.avatar_url = profile.avatarUrl;
    if (reason !== undefined) content.reason = reason;
    return content;
  }

  async function join(roomId: string, userId: string, reason?: string): Promise<void> {
    const current = await membershipOf(db, roomId, userId);
    if (current?.membership === "join") return; // Already joined: nothing to send.
    await rooms.send(roomId, [{ type: "m.room.member", stateKey: userId, sender: userId, content: await memberContent(userId, "join", reason) }]);
  }

  async function setMembership(roomId: string, sender: string, target: string, membership: string, reason?: string): Promise<void> {
    const content: JsonObject = { membership };
    if (reason !== undefined) content.reason = reason;
    await rooms.send(roomId, [{ type: "m.room.member", stateKey: target, sender, content }]);
  }

  for (const prefix of ["/_matrix/client/v3", "/_matrix/client/r0"]) {
    table.add("POST", `${prefix}/join/:roomIdOrAlias`, auth, deps.joinRateLimit, body, async (req, res) => {
      const me = requester(res.locals);
      bodyObject(req);
      const roomId = await resolveRoom(String(req.params.roomIdOrAlias));
      await join(roomId, me.userId, reasonOf(req));
      res.json({ room_id: roomId });
    });

    table.add("POST", `${prefix}/rooms/:roomId/join`, auth, deps.joinRateLimit, body, async (req, res) => {
      const me = requester(res.locals);
      bodyObject(req);
      const roomId = await resolveRoom(roomIdParam(req));
      await join(roomId, me.userId, reasonOf(req));
      res.json({ room_id: roomId });
    });

    table.add("POST", `${prefix}/knock/:roomIdOrAlias`, auth, deps.joinRateLimit, body, async (req, res) => {
      const me = requester(res.locals);
      bodyObject(req);
      const roomId = await resolveRoom(String(req.params.roomIdOrAlias));
      const version = await rooms.roomVersion(db, roomId);
      if (!version.knocking) throw forbidden(`Room version ${version.id} does not support knocking`);
      await rooms.send(roomId, [{ type: "m.room.member", stateKey: me.userId, sender: me.userId, content: await memberContent(me.userId, "knock", reasonOf(req)) }]);
      res.json({ room_id: roomId });
    });

    table.add("POST", `${prefix}/rooms/:roomId/leave`, auth, body, async (req, res) => {
      const me = requester(res.locals);
      bodyObject(req);
      const roomId = roomIdParam(req);
      await setMembership(roomId, me.userId, me.userId, "leave", reasonOf(req));
      res.json({});
    });

    const targeted = (path: string, membership: "invite" | "leave" | "ban", check?: (current: string | undefined) => void) =>
      table.add("POST", `${prefix}/rooms/:roomId/${path}`, auth, body, async (req, res) => {
        const me = requester(res.locals);
        const params = bodyObject(req);
        const roomId = roomIdParam(req);
        const target = userIdField(params.user_id);
        if (check) check((await membershipOf(db, roomId, target))?.membership);
        await setMembership(roomId, me.userId, target, membership, reasonOf(req));
        res.json({});
      });
    targeted("invite", "invite");
    targeted("kick", "leave", (current) => {
      if (current !== "join" && current !== "invite" && current !== "knock") throw forbidden("The user is not in the room");
    });
    targeted("ban", "ban");
    targeted("unban", "leave", (current) => {
      if (current !== "ban") throw new MatrixError(400, "M_BAD_STATE", "The user is not banned");
    });

    table.add("POST", `${prefix}/rooms/:roomId/forget`, auth, body, async (req, res) => {
      const me = requester(res.locals);
      const roomId = roomIdParam(req);
      const current = await membershipOf(db, roomId, me.userId);
      if (current?.membership === "join" || current?.membership === "invite" || current?.membership === "knock") {
        throw new MatrixError(400, "M_UNKNOWN", "Leave the room before forgetting it");
      }
      if (current) await forgetRoom(db, roomId, me.userId);
      res.json({});
    });

    table.add("GET", `${prefix}/joined_rooms`, auth, async (_req, res) => {
      const me = requester(res.locals);
      const memberships = await membershipsOfUser(db, me.userId);
      res.json({ joined_rooms: memberships.filter((m) => m.membership === "join").map((m) => m.roomId) });
    });
  }
}
