// GET  /_matrix/client/v3/account/whoami   https://spec.matrix.org/v1.19/client-server-api/#get_matrixclientv3accountwhoami
// POST /_matrix/client/v3/logout           https://spec.matrix.org/v1.19/client-server-api/#post_matrixclientv3logout
// POST /_matrix/client/v3/logout/all       https://spec.matrix.org/v1.19/client-server-api/#post_matrixclientv3logoutall
import type { RequestHandler } from "express";
import { requester } from "../auth/authenticate.ts";
import type { RouteTable } from "../http/route-table.ts";
import type { Database } from "../storage/database.ts";
import { deleteAllDevices, deleteDevices } from "../storage/accounts.ts";

export interface AccountDeps {
  db: Database;
  auth: RequestHandler;
  /** Told which devices lost their sessions (sockets close, device lists change). */
  onDevicesRemoved?: (userId: string, deviceIds: string[]) => void | Promise<void>;
}

export function registerAccount(table: RouteTable, body: RequestHandler, deps: AccountDeps): void {
  for (const prefix of ["/_matrix/client/v3", "/_matrix/client/r0"]) {
    table.add("GET", `${prefix}/account/whoami`, deps.auth, (_req, res) => {
      const me = requester(res.locals);
      res.json({ user_id: me.userId, device_id: me.deviceId, is_guest: me.isGuest });
    });

    // Logging out removes the device too (as Synapse does), so its keys and
    // to-device messages do not linger.
    table.add("POST", `${prefix}/logout`, deps.auth, body, async (_req, res) => {
      const me = requester(res.locals);
      const removed = await deleteDevices(deps.db, me.userId, [me.deviceId]);
      await deps.onDevicesRemoved?.(me.userId, removed);
      res.json({});
    });

    table.add("POST", `${prefix}/logout/all`, deps.auth, body, async (_req, res) => {
      const me = requester(res.locals);
      const removed = await deleteAllDevices(deps.db, me.userId);
      await deps.onDevicesRemoved?.(me.userId, removed);
      res.json({});
    });
  }
}
