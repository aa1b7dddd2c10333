// POST /_matrix/client/v3/rooms/{roomId}/upgrade  https://spec.matrix.org/v1.19/client-server-api/#post_matrixclientv3roomsroomidupgrade
import type { RequestHandler } from "express";
import { refuseSuspended, requester } from "../../auth/authenticate.ts";
import { badJson, missingParam } from "../../errors/matrix-error.ts";
import { requireJsonObject } from "../../http/middleware.ts";
import type { RouteTable } from "../../http/route-table.ts";
import { upgradeRoom, type UpgradeRoomDeps } from "../../rooms/upgrade-room.ts";
import { requiredString } from "../params.ts";
import { roomIdParam } from "./params.ts";

export function registerUpgrade(table: RouteTable, body: RequestHandler, deps: UpgradeRoomDeps & { auth: RequestHandler }): void {
  for (const prefix of ["/_matrix/client/v3", "/_matrix/client/r0"]) {
    table.add("POST", `${prefix}/rooms/:roomId/upgrade`, deps.auth, refuseSuspended, body, async (req, res) => {
      const me = requester(res.locals);
      const roomId = roomIdParam(req);
      const params = requireJsonObject(req);
      if (params.new_version === undefined) throw missingParam("Missing new_version");
      const newVersion = requiredString(params, "new_version");
      const additional = params.additional_creators;
      if (additional !== undefined && (!Array.isArray(additional) || !additional.every((u) => typeof u === "string"))) {
        throw badJson("additional_creators must be an array of user IDs");
      }
      const replacement = await upgradeRoom(deps, {
        roomId,
        userId: me.userId,
        newVersion,
        ...(additional !== undefined ? { additionalCreators: additional as string[] } : {}),
      });
      res.json({ replacement_room: replacement });
    });
  }
}
