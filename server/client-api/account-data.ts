// GET/PUT /_matrix/client/v3/user/{userId}/account_data/{type}                 https://spec.matrix.org/v1.19/client-server-api/#put_matrixclientv3useruseridaccount_datatype
// GET/PUT /_matrix/client/v3/user/{userId}/rooms/{roomId}/account_data/{type}  https://spec.matrix.org/v1.19/client-server-api/#put_matrixclientv3useruseridroomsroomidaccount_datatype
// GET     /_matrix/client/v3/user/{userId}/rooms/{roomId}/tags                 https://spec.matrix.org/v1.19/client-server-api/#get_matrixclientv3useruseridroomsroomidtags
// PUT/DELETE /_matrix/client/v3/user/{userId}/rooms/{roomId}/tags/{tag}        https://spec.matrix.org/v1.19/client-server-api/#put_matrixclientv3useruseridroomsroomidtagstag
import type { Request, RequestHandler } from "express";
import { requester } from "../auth/authenticate.ts";
import { badJson, forbidden, MatrixError, notFound } from "../errors/matrix-error.ts";
import { requireJsonObject } from "../http/middleware.ts";
import type { RouteTable } from "../http/route-table.ts";
import { PUSH_RULES_ACCOUNT_DATA_TYPE, pushRulesResponse } from "../push/rule-set.ts";
import { getAccountData, putAccountData } from "../storage/account-data.ts";
import type { Database } from "../storage/database.ts";
import type { StreamWriter } from "../sync/stream-writer.ts";
import { storedPushRulesOf } from "./push-rules.ts";
import { roomIdParam } from "./rooms/params.ts";

export interface AccountDataDeps {
  db: Database;
  streams: StreamWriter;
  auth: RequestHandler;
}

/** Types the server manages through their own APIs (spec: 405 M_BAD_JSON when set here). */
const SERVER_MANAGED = new Set(["m.fully_read", "m.push_rules"]);

export function registerAccountData(table: RouteTable, body: RequestHandler, deps: AccountDataDeps): void {
  const { db, streams, auth } = deps;
  const owner = (req: Request, locals: Parameters<typeof requester>[0]) => {
    const me = requester(locals);
    if (req.params.userId !== me.userId) throw forbidden("Cannot access another user's account data");
    return me;
  };
  const set = (userId: string, roomId: string, type: string, content: unknown) =>
    streams.write({ userIds: [userId] }, (tx, position) => putAccountData(tx, userId, roomId, type, content, position));

  for (const prefix of ["/_matrix/client/v3", "/_matrix/client/r0"]) {
    table.add("PUT", `${prefix}/user/:userId/account_data/:type`, auth, body, async (req, res) => {
      const me = owner(req, res.locals);
      const type = String(req.params.type);
      if (SERVER_MANAGED.has(type)) throw new MatrixError(405, "M_BAD_JSON", `Cannot set ${type} through this API`);
      await set(me.userId, "", type, requireJsonObject(req));
      res.json({});
    });
    table.add("GET", `${prefix}/user/:userId/account_data/:type`, auth, async (req, res) => {
      const me = owner(req, res.locals);
      const type = String(req.params.type);
      // Stored push rules are only the user's changes; clients see the whole ruleset, as in /sync.
      if (type === PUSH_RULES_ACCOUNT_DATA_TYPE) {
        res.json(pushRulesResponse(me.userId, await storedPushRulesOf(db, me.userId)));
        return;
      }
      const content = await getAccountData(db, me.userId, "", type);
      if (!content) throw notFound("Account data not found");
      res.json(content);
    });
    table.add("PUT", `${prefix}/user/:userId/rooms/:roomId/account_data/:type`, auth, body, async (req, res) => {
      const me = owner(req, res.locals);
      const roomId = roomIdParam(req);
      const type = String(req.params.type);
      if (SERVER_MANAGED.has(type)) throw new MatrixError(405, "M_BAD_JSON", `Cannot set ${type} through this API`);
      await set(me.userId, roomId, type, requireJsonObject(req));
      res.json({});
    });
    table.add("GET", `${prefix}/user/:userId/rooms/:roomId/account_data/:type`, auth, async (req, res) => {
      const me = owner(req, res.locals);
      const content = await getAccountData(db, me.userId, roomIdParam(req), String(req.params.type));
      if (!content) throw notFound("Account data not found");
      res.json(content);
    });

    table.add("GET", `${prefix}/user/:userId/rooms/:roomId/tags`, auth, async (req, res) => {
      const me = owner(req, res.locals);
      const content = await getAccountData(db, me.userId, roomIdParam(req), "m.tag");
      res.json({ tags: (content?.tags as Record<string, unknown> | undefined) ?? {} });
    });
    table.add("PUT", `${prefix}/user/:userId/rooms/:roomId/tags/:tag`, auth, body, async (req, res) => {
      const me = owner(req, res.locals);
      const roomId = roomIdParam(req);
      const tagBody = requireJsonObject(req);
      if (tagBody.order !== undefined && typeof tagBody.order !== "number") throw badJson("order must be a number");
      const tag = String(req.params.tag);
      if (Buffer.byteLength(tag) > 255) throw new MatrixError(400, "M_INVALID_PARAM", "Tag too long");
      const current = ((await getAccountData(db, me.userId, roomId, "m.tag"))?.tags as Record<string, unknown> | undefined) ?? {};
      await set(me.userId, roomId, "m.tag", { tags: { ...current, [tag]: tagBody } });
      res.json({});
    });
    table.add("DELETE", `${prefix}/user/:userId/rooms/:roomId/tags/:tag`, auth, async (req, res) => {
      const me = owner(req, res.locals);
      const roomId = roomIdParam(req);
      const current = { ...(((await getAccountData(db, me.userId, roomId, "m.tag"))?.tags as Record<string, unknown> | undefined) ?? {}) };
      delete current[String(req.params.tag)];
      await set(me.userId, roomId, "m.tag", { tags: current });
      res.json({});
    });
  }
}
