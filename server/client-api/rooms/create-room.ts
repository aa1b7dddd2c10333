// POST /_matrix/client/v3/createRoom  https://spec.matrix.org/v1.19/client-server-api/#post_matrixclientv3createroom
import type { RequestHandler } from "express";
import { requester } from "../../auth/authenticate.ts";
import { badJson } from "../../errors/matrix-error.ts";
import { requireJsonObject } from "../../http/middleware.ts";
import type { RouteTable } from "../../http/route-table.ts";
import { isJsonObject, type JsonObject } from "../../protocol/json.ts";
import { createRoom, type CreateRoomDeps, type Preset } from "../../rooms/create-room.ts";
import { getProfile } from "../../storage/accounts.ts";
import type { Queryable } from "../../storage/database.ts";
import { optionalBoolean, optionalString } from "../params.ts";
import { userIdField } from "./params.ts";

const PRESETS = new Set(["private_chat", "public_chat", "trusted_private_chat"]);

export function registerCreateRoom(table: RouteTable, body: RequestHandler, deps: CreateRoomDeps & { db: Queryable; auth: RequestHandler }): void {
  for (const prefix of ["/_matrix/client/v3", "/_matrix/client/r0"]) {
    table.add("POST", `${prefix}/createRoom`, deps.auth, body, async (req, res) => {
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
        invite: invite.map((u) => userIdField(u, "invite")),
        isDirect: optionalBoolean(params, "is_direct") ?? false,
        ...(params.creation_content !== undefined ? { creationContent: params.creation_content as JsonObject } : {}),
        ...(params.power_level_content_override !== undefined ? { powerLevelOverride: params.power_level_content_override as JsonObject } : {}),
      });
      res.json({ room_id: roomId });
    });
  }
}
