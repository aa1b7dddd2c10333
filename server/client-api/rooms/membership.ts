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
import { refuseSuspended, requester } from "../../auth/authenticate.ts";
import { badJson, forbidden, MatrixError, notFound } from "../../errors/matrix-error.ts";
import type { RouteTable } from "../../http/route-table.ts";
import { isValidRoomId, isValidServerName, serverNameOf } from "../../protocol/identifiers.ts";
import type { JsonObject } from "../../protocol/json.ts";
import type { RoomService } from "../../rooms/room-service.ts";
import { getProfile } from "../../storage/accounts.ts";
import { getAlias } from "../../storage/aliases.ts";
import { serverJoinedToRoom } from "../../storage/dag.ts";
import type { Database } from "../../storage/database.ts";
import { getEventsByNids } from "../../storage/events.ts";
import { forgetRoom, getRoomVersionId, membershipOf, membershipsOfUser } from "../../storage/state.ts";
import type { RemoteLookups } from "../remote-lookups.ts";
import type { RemoteMembershipPort } from "../remote-membership.ts";
import { roomAliasParam, roomIdParam, userIdField } from "./params.ts";

export interface MembershipDeps {
  db: Database;
  rooms: RoomService;
  serverName: string;
  auth: RequestHandler;
  joinRateLimit: RequestHandler;
  /** Rooms on other servers; without it only rooms this server is in can be joined. */
  remote?: RemoteMembershipPort;
  lookups?: Pick<RemoteLookups, "directory">;
}

/** A room and the servers that may help us join it. */
interface JoinTarget {
  roomId: string;
  servers: string[];
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

  /** `server_name` (and the unstable `via`) query parameters: servers the client says are in the room. */
  function viaServers(req: Request): string[] {
    const out: string[] = [];
    for (const name of ["server_name", "via"]) {
      const value = req.query[name];
      for (const server of value === undefined ? [] : Array.isArray(value) ? value : [value]) {
        if (typeof server === "string" && isValidServerName(server)) out.push(server);
      }
    }
    return out;
  }

  /** A room ID or alias (local, or asked of the alias's server), with the servers to join through. */
  async function resolveRoom(target: string, via: readonly string[] = []): Promise<JoinTarget> {
    if (target.startsWith("#")) {
      const alias = roomAliasParam(target);
      if (serverNameOf(alias) === deps.serverName || !deps.lookups) {
        const local = await getAlias(db, alias);
        if (!local) throw notFound(`Room alias ${target} not found`);
        return { roomId: local.roomId, servers: [...via] };
      }
      const remote = await deps.lookups.directory(alias);
      return { roomId: remote.roomId, servers: [...via, ...remote.servers, serverNameOf(alias)!] };
    }
    if (!isValidRoomId(target)) throw new MatrixError(400, "M_INVALID_PARAM", `${target} is not a legal room ID or alias`);
    // Pre-v12 room IDs name the server that created the room: a last resort to ask.
    const origin = serverNameOf(target);
    return { roomId: target, servers: [...via, ...(origin ? [origin] : [])] };
  }

  /** Whether this server is in the room (a local user joined), so memberships are plain local events. */
  async function resident(roomId: string): Promise<boolean> {
    return (await getRoomVersionId(db, roomId)) !== undefined && (await serverJoinedToRoom(db, roomId, deps.serverName));
  }

  /** The server of whoever invited `userId` to a room we are not in: the one that can help them in or out. */
  async function inviterServer(roomId: string, userId: string): Promise<string[]> {
    const current = await membershipOf(db, roomId, userId);
    if (!current) return [];
    const event = (await getEventsByNids(db, [current.eventNid])).get(current.eventNid);
    const server = event ? serverNameOf(event.sender) : undefined;
    return server && server !== deps.serverName ? [server] : [];
  }

  async function memberContent(userId: string, membership: string, reason?: string): Promise<JsonObject> {
    const content: JsonObject = { membership };
    const profile = await getProfile(db, userId);
    if (profile?.displayname) content.displayname = profile.displayname;
    if (profile?.avatarUrl) content.avatar_url = profile.avatarUrl;
    if (reason !== undefined) content.reason = reason;
    return content;
  }

  async function join(target: JoinTarget, userId: string, reason?: string): Promise<void> {
    const { roomId } = target;
    if (await resident(roomId)) {
      const current = await membershipOf(db, roomId, userId);
      if (current?.membership === "join") return; // Already joined: nothing to send.
      await rooms.send(roomId, [{ type: "m.room.member", stateKey: userId, sender: userId, content: await memberContent(userId, "join", reason) }]);
      return;
    }
    if (!deps.remote) throw notFound("No known servers for this room");
    const servers = [...(await inviterServer(roomId, userId)), ...target.servers];
    await deps.remote.join(roomId, userId, servers, await memberContent(userId, "join", reason));
  }

  async function setMembership(roomId: string, sender: string, target: string, membership: string, reason?: string): Promise<void> {
    const content: JsonObject = { membership };
    if (reason !== undefined) content.reason = reason;
    await rooms.send(roomId, [{ type: "m.room.member", stateKey: target, sender, content }]);
  }

  for (const prefix of ["/_matrix/client/v3", "/_matrix/client/r0"]) {
    table.add("POST", `${prefix}/join/:roomIdOrAlias`, auth, refuseSuspended, deps.joinRateLimit, body, async (req, res) => {
      const me = requester(res.locals);
      bodyObject(req);
      const target = await resolveRoom(String(req.params.roomIdOrAlias), viaServers(req));
      await join(target, me.userId, reasonOf(req));
      res.json({ room_id: target.roomId });
    });

    table.add("POST", `${prefix}/rooms/:roomId/join`, auth, refuseSuspended, deps.joinRateLimit, body, async (req, res) => {
      const me = requester(res.locals);
      bodyObject(req);
      const target = await resolveRoom(roomIdParam(req));
      await join(target, me.userId, reasonOf(req));
      res.json({ room_id: target.roomId });
    });

    table.add("POST", `${prefix}/knock/:roomIdOrAlias`, auth, refuseSuspended, deps.joinRateLimit, body, async (req, res) => {
      const me = requester(res.locals);
      bodyObject(req);
      const target = await resolveRoom(String(req.params.roomIdOrAlias), viaServers(req));
      const roomId = target.roomId;
      const content = await memberContent(me.userId, "knock", reasonOf(req));
      if (!(await resident(roomId))) {
        if (!deps.remote) throw notFound("No known servers for this room");
        await deps.remote.knock(roomId, me.userId, target.servers, content);
        res.json({ room_id: roomId });
        return;
      }
      const version = await rooms.roomVersion(db, roomId);
      if (!version.knocking) throw forbidden(`Room version ${version.id} does not support knocking`);
      await rooms.send(roomId, [{ type: "m.room.member", stateKey: me.userId, sender: me.userId, content }]);
      res.json({ room_id: roomId });
    });

    table.add("POST", `${prefix}/rooms/:roomId/leave`, auth, body, async (req, res) => {
      const me = requester(res.locals);
      bodyObject(req);
      const roomId = roomIdParam(req);
      if (!(await resident(roomId)) && deps.remote && (await membershipOf(db, roomId, me.userId)) !== undefined) {
        // An invite or knock to a room we are not in: the leave goes through a server that is.
        const content: JsonObject = { membership: "leave" };
        const reason = reasonOf(req);
        if (reason !== undefined) content.reason = reason;
        await deps.remote.leave(roomId, me.userId, [...(await inviterServer(roomId, me.userId)), ...(await resolveRoom(roomId)).servers], content);
        res.json({});
        return;
      }
      await setMembership(roomId, me.userId, me.userId, "leave", reasonOf(req));
      res.json({});
    });

    const targeted = (path: string, membership: "invite" | "leave" | "ban", check?: (current: string | undefined) => void) =>
      table.add("POST", `${prefix}/rooms/:roomId/${path}`, auth, refuseSuspended, body, async (req, res) => {
        const me = requester(res.locals);
        const params = bodyObject(req);
        const roomId = roomIdParam(req);
        const target = userIdField(params.user_id);
        if (check) check((await membershipOf(db, roomId, target))?.membership);
        if (membership === "invite" && serverNameOf(target) !== deps.serverName && deps.remote) {
          // The invitee's server countersigns the invite before the room sees it.
          const content: JsonObject = { membership };
          const reason = reasonOf(req);
          if (reason !== undefined) content.reason = reason;
          const remote = deps.remote;
          await rooms.sendCountersigned(roomId, { type: "m.room.member", stateKey: target, sender: me.userId, content }, (version, event) => remote.countersignInvite(version, event));
          res.json({});
          return;
        }
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
