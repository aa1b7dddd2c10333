// GET /_matrix/client/v3/admin/whois/{userId}    https://spec.matrix.org/v1.19/client-server-api/#get_matrixclientv3adminwhoisuserid
// GET /_matrix/client/v1/admin/suspend/{userId}  https://spec.matrix.org/v1.19/client-server-api/#get_matrixclientv1adminsuspenduserid
// PUT /_matrix/client/v1/admin/suspend/{userId}  https://spec.matrix.org/v1.19/client-server-api/#put_matrixclientv1adminsuspenduserid
// GET /_matrix/client/v1/admin/lock/{userId}     https://spec.matrix.org/v1.19/client-server-api/#get_matrixclientv1adminlockuserid
// PUT /_matrix/client/v1/admin/lock/{userId}     https://spec.matrix.org/v1.19/client-server-api/#put_matrixclientv1adminlockuserid
//
// whois answers a server admin, or the user about themselves (as Synapse).
// Suspension and locking are for server admins only; the admin check comes
// before any look-up, so non-admins cannot probe which accounts exist.
import type { Request, RequestHandler } from "express";
import { requester } from "../auth/authenticate.ts";
import { badJson, forbidden, invalidParam, notFound } from "../errors/matrix-error.ts";
import { requireJsonObject } from "../http/middleware.ts";
import type { RouteTable } from "../http/route-table.ts";
import { serverNameOf } from "../protocol/identifiers.ts";
import { getModerationFlag, getUser, listDeviceConnections, setModerationFlag, type ModerationFlag } from "../storage/accounts.ts";
import type { Database } from "../storage/database.ts";

export interface AdminUsersDeps {
  db: Database;
  serverName: string;
  auth: RequestHandler;
  /** A locked account's open streams are closed (reconnecting then answers M_USER_LOCKED). */
  onLocked?: (userId: string) => Promise<void>;
}

export function registerAdminUsers(table: RouteTable, body: RequestHandler, deps: AdminUsersDeps): void {
  const { db, auth } = deps;

  for (const prefix of ["/_matrix/client/v3", "/_matrix/client/r0"]) {
    table.add("GET", `${prefix}/admin/whois/:userId`, auth, async (req, res) => {
      const me = requester(res.locals);
      const userId = String(req.params.userId);
      if (!me.isAdmin && me.userId !== userId) throw forbidden("You are not a server admin");
      if (serverNameOf(userId) !== deps.serverName || !(await getUser(db, userId))) throw notFound("User not found");
      // One session per device: a device holds one access token at a time here.
      const devices: Record<string, unknown> = {};
      for (const device of await listDeviceConnections(db, userId)) {
        const connection: Record<string, unknown> = {};
        if (device.lastSeenIp !== null) connection.ip = device.lastSeenIp;
        if (device.lastSeenTs !== null) connection.last_seen = device.lastSeenTs;
        if (device.lastSeenUserAgent !== null) connection.user_agent = device.lastSeenUserAgent;
        devices[device.deviceId] = { sessions: [{ connections: Object.keys(connection).length > 0 ? [connection] : [] }] };
      }
      res.json({ user_id: userId, devices });
    });
  }

  /** The target of a moderation request, checked in the spec's order: admin, local, exists, not an admin. */
  const target = async (req: Request, me: { isAdmin: boolean }, flag: ModerationFlag): Promise<{ userId: string; value: boolean }> => {
    if (!me.isAdmin) throw forbidden("You are not a server admin");
    const userId = String(req.params.userId);
    if (serverNameOf(userId) !== deps.serverName) throw invalidParam("User does not belong to the local server");
    const value = await getModerationFlag(db, userId, flag);
    if (value === undefined) throw notFound("User not found");
    if ((await getUser(db, userId))?.isAdmin) throw forbidden("Server admins cannot be suspended or locked");
    return { userId, value };
  };

  for (const flag of ["suspended", "locked"] as const) {
    const path = `/_matrix/client/v1/admin/${flag === "suspended" ? "suspend" : "lock"}/:userId`;
    table.add("GET", path, auth, async (req, res) => {
      const { value } = await target(req, requester(res.locals), flag);
      res.json({ [flag]: value });
    });
    table.add("PUT", path, auth, body, async (req, res) => {
      const me = requester(res.locals);
      const params = requireJsonObject(req);
      const value = params[flag];
      if (typeof value !== "boolean") throw badJson(`${flag} must be a boolean`);
      if (me.isAdmin && String(req.params.userId) === me.userId) throw forbidden("You cannot do this to your own account");
      const { userId } = await target(req, me, flag);
      await setModerationFlag(db, userId, flag, value);
      if (flag === "locked" && value) await deps.onLocked?.(userId);
      res.locals.log.info({ target: userId, [flag]: value }, "account moderation changed");
      res.json({ [flag]: value });
    });
  }
}
