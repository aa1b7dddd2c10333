// POST /_matrix/client/v3/createRoom  https://spec.matrix.org/v1.19/client-server-api/#post_matrixclientv3createroom
import type { RequestHandler } from "express";
import { refuseSuspended, requester } from "../../auth/authenticate.ts";
import { badJson } from "../../errors/matrix-error.ts";
import { requireJsonObject } from "../../http/middleware.ts";
import type { RouteTable } from "../../http/route-table.ts";
import { isJsonObject, type JsonObject } from "../../protocol/json.ts";
import { createRoom, type CreateRoomDeps, type Preset } from "../../rooms/create-room.ts";
import { getProfile } from "../../storage/accounts.ts";
import type { Queryable } from "../../storage/database.ts";
import { optionalBoolean, optionalString } from "../params.ts";
import { serverNameOf } from "../../protocol/identifiers.ts";
import type { RemoteMembershipPort } from "../remote-membership.ts";
import { userIdField } from "./params.ts";

const PRESETS = new Set(["private_chat", "public_chat", "trusted_private_chat"]);

export interface CreateRoomRouteDeps extends CreateRoomDeps {
  db: Queryable;
  auth: RequestHandler;
  /** Federation's membership port: invites of other servers' users are countersigned through it. */
  remote?: RemoteMembershipPort;
}

export function registerCreateRoom(table: RouteTable, body: RequestHandler, deps: CreateRoomRouteDeps): void {
  for (const prefix of ["/_matrix/client/v3", "/_matrix/client/r0"]) {
    table.add("POST", `${prefix}/createRoom`, deps.auth, refuseSuspended, body, async (req, res) => {
      const me = requester(res.locals);
      const params = requireJsonObject(req);
      const visibility = optionalString(params, "visibility") ?? "private";
      if (visibility !== "public" && visibility !== "private") throw badJson("visibility must be public or private");
      const preset = optionalString(params, "preset");
      if (preset !== undefined && !PRESETS.has(preset)) throw badJson(`unknown preset ${preset}`);
      const invite = params.invite ?? [];
      if (!Array.isArray(invite)) throw badJson("invite must be an array");
      const initialState = params.initial_state ?? [];
      if (!Array.isArray(initialState) || !initialState.every((e) => isJsonObject(e) && typeof e.type === "string")) {
        throw badJson("initial_state must be an array of state events");
      }
      for (const key of ["creation_content", "power_level_content_override"] as const) {
        if (params[key] !== undefined && !isJsonObject(params[key])) throw badJson(`${key} must be an object`);
      }
      const profile = (await getProfile(deps.db, me.userId)) ?? { displayname: null, avatarUrl: null };
      const name = optionalString(params, "name");
      const topic = optionalString(params, "topic");
      const alias = optionalString(params, "room_alias_name");
      const version = optionalString(params, "room_version");
      const invitees = invite.map((u) => userIdField(u, "invite"));
      const isDirect = optionalBoolean(params, "is_direct") ?? false;
      const { roomId } = await createRoom(deps, {
        creator: me.userId,
        creatorProfile: profile,
        visibility,
        ...(preset !== undefined ? { preset: preset as Preset } : {}),
        ...(name !== undefined ? { name } : {}),
        ...(topic !== undefined ? { topic } : {}),
        ...(alias !== undefined ? { aliasLocalpart: alias } : {}),
        ...(version !== undefined ? { roomVersion: version } : {}),
        initialState: (initialState as JsonObject[]).map((e) => ({
          type: e.type as string,
          state_key: typeof e.state_key === "string" ? e.state_key : "",
          content: (e.content ?? {}) as JsonObject,
        })),
        invite: invitees,
        deferRemoteInvites: deps.remote !== undefined,
        isDirect,
        ...(params.creation_content !== undefined ? { creationContent: params.creation_content as JsonObject } : {}),
        ...(params.power_level_content_override !== undefined ? { powerLevelOverride: params.power_level_content_override as JsonObject } : {}),
      });
      const remote = deps.remote;
      if (remote) {
        // Other servers' users: each invite is countersigned by the invitee's
        // server before the room sees it, as POST /invite does. One that fails
        // leaves the room as created (the creator can invite again); failing
        // the request would make the client create a second room.
        for (const invitee of invitees.filter((u) => serverNameOf(u) !== deps.signer.serverName)) {
          const content: JsonObject = { membership: "invite", ...(isDirect ? { is_direct: true } : {}) };
          await deps.rooms
            .sendCountersigned(roomId, { type: "m.room.member", stateKey: invitee, sender: me.userId, content }, (v, event) => remote.countersignInvite(v, event))
            .catch((err: unknown) => res.locals.log.warn({ err, roomId, invitee }, "createRoom: the invite of a remote user failed; the room was created without it"));
        }
      }
      res.json({ room_id: roomId });
    });
  }
}
