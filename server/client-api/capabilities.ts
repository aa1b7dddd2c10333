// GET /_matrix/client/v3/capabilities   https://spec.matrix.org/v1.19/client-server-api/#get_matrixclientv3capabilities
import type { RequestHandler } from "express";
import { requester } from "../auth/authenticate.ts";
import type { RouteTable } from "../http/route-table.ts";
import { roomVersionsCapability } from "../protocol/room-versions.ts";

export interface CapabilitiesDeps {
  auth: RequestHandler;
  /** E-mail addresses can be added and removed (a mail server is configured). */
  threepidChanges: boolean;
}

export function registerCapabilities(table: RouteTable, deps: CapabilitiesDeps): void {
  for (const prefix of ["/_matrix/client/v3", "/_matrix/client/r0"]) {
    table.add("GET", `${prefix}/capabilities`, deps.auth, (_req, res) => {
      const me = requester(res.locals);
      res.json({
        capabilities: {
          "m.room_versions": roomVersionsCapability(),
          "m.change_password": { enabled: true },
          "m.set_displayname": { enabled: true },
          "m.set_avatar_url": { enabled: true },
          "m.3pid_changes": { enabled: deps.threepidChanges },
          "m.get_login_token": { enabled: true },
          // Omitted for everyone else, as the spec asks when both would be false.
          ...(me.isAdmin ? { "m.account_moderation": { suspend: true, lock: true } } : {}),
        },
      });
    });
  }
}
