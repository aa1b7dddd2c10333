// POST   /_matrix/client/v3/room_keys/version                       https://spec.matrix.org/v1.19/client-server-api/#post_matrixclientv3room_keysversion
// GET    /_matrix/client/v3/room_keys/version                       https://spec.matrix.org/v1.19/client-server-api/#get_matrixclientv3room_keysversion
// GET    /_matrix/client/v3/room_keys/version/{version}             https://spec.matrix.org/v1.19/client-server-api/#get_matrixclientv3room_keysversionversion
// PUT    /_matrix/client/v3/room_keys/version/{version}             https://spec.matrix.org/v1.19/client-server-api/#put_matrixclientv3room_keysversionversion
// DELETE /_matrix/client/v3/room_keys/version/{version}             https://spec.matrix.org/v1.19/client-server-api/#delete_matrixclientv3room_keysversionversion
// PUT    /_matrix/client/v3/room_keys/keys                          https://spec.matrix.org/v1.19/client-server-api/#put_matrixclientv3room_keyskeys
// GET    /_matrix/client/v3/room_keys/keys                          https://spec.matrix.org/v1.19/client-server-api/#get_matrixclientv3room_keyskeys
// DELETE /_matrix/client/v3/room_keys/keys                          https://spec.matrix.org/v1.19/client-server-api/#delete_matrixclientv3room_keyskeys
// PUT    /_matrix/client/v3/room_keys/keys/{roomId}                 https://spec.matrix.org/v1.19/client-server-api/#put_matrixclientv3room_keyskeysroomid
// GET    /_matrix/client/v3/room_keys/keys/{roomId}                 https://spec.matrix.org/v1.19/client-server-api/#get_matrixclientv3room_keyskeysroomid
// DELETE /_matrix/client/v3/room_keys/keys/{roomId}                 https://spec.matrix.org/v1.19/client-server-api/#delete_matrixclientv3room_keyskeysroomid
// PUT    /_matrix/client/v3/room_keys/keys/{roomId}/{sessionId}     https://spec.matrix.org/v1.19/client-server-api/#put_matrixclientv3room_keyskeysroomidsessionid
// GET    /_matrix/client/v3/room_keys/keys/{roomId}/{sessionId}     https://spec.matrix.org/v1.19/client-server-api/#get_matrixclientv3room_keyskeysroomidsessionid
// DELETE /_matrix/client/v3/room_keys/keys/{roomId}/{sessionId}     https://spec.matrix.org/v1.19/client-server-api/#delete_matrixclientv3room_keyskeysroomidsessionid
//
// The rules (current version only for writes, which key wins) are in
// server/e2ee/key-backup.ts.
import type { Request, RequestHandler } from "express";
import { requester } from "../auth/authenticate.ts";
import { checkId, checkKeyBackupData, checkRoomKeyBackup, keyBackupData, parseVersion, type KeyBackup } from "../e2ee/key-backup.ts";
import { badJson, notFound } from "../errors/matrix-error.ts";
import { requireJsonObject } from "../http/middleware.ts";
import type { RouteTable } from "../http/route-table.ts";
import { isJsonObject, type JsonObject } from "../protocol/json.ts";
import type { BackedUpKey } from "../storage/key-backup.ts";
import { queryString } from "./rooms/params.ts";

export interface KeyBackupRouteDeps {
  keyBackup: KeyBackup;
  auth: RequestHandler;
  /** Body parser for the bulk E2EE endpoints (limits.max_bulk_json_body_bytes). */
  bulkBody: RequestHandler;
}

/** The keys as the spec nests them: room → sessions → session → data. */
function roomsJson(keys: readonly BackedUpKey[]): JsonObject {
  const rooms: Record<string, { sessions: JsonObject }> = {};
  for (const k of keys) (rooms[k.roomId] ??= { sessions: {} }).sessions[k.sessionId] = keyBackupData(k);
  return rooms as unknown as JsonObject;
}

/** The {roomId} and {sessionId} path parameters that are present. */
function scope(req: Request): { roomId?: string; sessionId?: string } {
  const roomId = req.params.roomId === undefined ? undefined : checkId(String(req.params.roomId), "room ID");
  const sessionId = req.params.sessionId === undefined ? undefined : checkId(String(req.params.sessionId), "session ID");
  return { ...(roomId !== undefined ? { roomId } : {}), ...(sessionId !== undefined ? { sessionId } : {}) };
}

/** The keys of a PUT body at each level. */
function keysOfBody(req: Request): BackedUpKey[] {
  const body = requireJsonObject(req);
  const { roomId, sessionId } = scope(req);
  if (roomId !== undefined && sessionId !== undefined) return [checkKeyBackupData(body, roomId, sessionId)];
  if (roomId !== undefined) return checkRoomKeyBackup(body, roomId);
  if (!isJsonObject(body.rooms)) throw badJson("rooms must be an object");
  return Object.entries(body.rooms).flatMap(([id, backup]) => checkRoomKeyBackup(backup, id));
}

export function registerKeyBackup(table: RouteTable, body: RequestHandler, deps: KeyBackupRouteDeps): void {
  const { keyBackup, auth, bulkBody } = deps;
  const versionOf = (req: Request) => parseVersion(queryString(req, "version"));
  for (const prefix of ["/_matrix/client/v3", "/_matrix/client/r0"]) {
    const base = `${prefix}/room_keys`;
    table.add("POST", `${base}/version`, auth, body, async (req, res) => {
      res.json({ version: await keyBackup.create(requester(res.locals).userId, requireJsonObject(req)) });
    });
    table.add("GET", `${base}/version`, auth, async (_req, res) => {
      res.json(await keyBackup.info(requester(res.locals).userId));
    });
    table.add("GET", `${base}/version/:version`, auth, async (req, res) => {
      res.json(await keyBackup.info(requester(res.locals).userId, parseVersion(String(req.params.version))));
    });
    table.add("PUT", `${base}/version/:version`, auth, body, async (req, res) => {
      await keyBackup.update(requester(res.locals).userId, parseVersion(String(req.params.version)), requireJsonObject(req));
      res.json({});
    });
    table.add("DELETE", `${base}/version/:version`, auth, async (req, res) => {
      await keyBackup.remove(requester(res.locals).userId, parseVersion(String(req.params.version)));
      res.json({});
    });

    for (const path of [`${base}/keys`, `${base}/keys/:roomId`, `${base}/keys/:roomId/:sessionId`]) {
      table.add("PUT", path, auth, bulkBody, async (req, res) => {
        const me = requester(res.locals);
        const version = versionOf(req);
        res.json(await keyBackup.putKeys(me.userId, version, keysOfBody(req)));
      });
      table.add("GET", path, auth, async (req, res) => {
        const me = requester(res.locals);
        const { roomId, sessionId } = scope(req);
        const keys = await keyBackup.getKeys(me.userId, versionOf(req), roomId, sessionId);
        if (sessionId !== undefined) {
          if (!keys[0]) throw notFound("Key not found");
          res.json(keyBackupData(keys[0]));
        } else if (roomId !== undefined) {
          res.json({ sessions: (roomsJson(keys)[roomId] as JsonObject | undefined)?.sessions ?? {} });
        } else {
          res.json({ rooms: roomsJson(keys) });
        }
      });
      table.add("DELETE", path, auth, async (req, res) => {
        const me = requester(res.locals);
        const { roomId, sessionId } = scope(req);
        res.json(await keyBackup.deleteKeys(me.userId, versionOf(req), roomId, sessionId));
      });
    }
  }
}
