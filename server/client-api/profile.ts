// GET    /_matrix/client/v3/profile/{userId}            https://spec.matrix.org/v1.19/client-server-api/#get_matrixclientv3profileuserid
// GET    /_matrix/client/v3/profile/{userId}/{keyName}  https://spec.matrix.org/v1.19/client-server-api/#get_matrixclientv3profileuseridkeyname
// PUT    /_matrix/client/v3/profile/{userId}/{keyName}  https://spec.matrix.org/v1.19/client-server-api/#put_matrixclientv3profileuseridkeyname
// DELETE /_matrix/client/v3/profile/{userId}/{keyName}  https://spec.matrix.org/v1.19/client-server-api/#delete_matrixclientv3profileuseridkeyname
//
// Only `displayname` and `avatar_url` are stored; other (custom) keys read as
// absent and cannot be set. Anyone may read a profile, without an access
// token, as Synapse allows by default; another server's users are looked up
// over federation (GET /_matrix/federation/v1/query/profile).
import type { Request, RequestHandler } from "express";
import { refuseSuspended, requester } from "../auth/authenticate.ts";
import { badJson, forbidden, MatrixError, missingParam, notFound } from "../errors/matrix-error.ts";
import { requireJsonObject } from "../http/middleware.ts";
import type { RouteTable } from "../http/route-table.ts";
import { isValidUserId, serverNameOf } from "../protocol/identifiers.ts";
import type { JsonObject } from "../protocol/json.ts";
import type { Logger } from "../observability/logger.ts";
import { propagateProfile } from "../rooms/profile-propagation.ts";
import type { RoomService } from "../rooms/room-service.ts";
import type { RemoteLookups } from "./remote-lookups.ts";
import { getProfile, setProfileField } from "../storage/accounts.ts";
import type { Database } from "../storage/database.ts";

export interface ProfileDeps {
  db: Database;
  rooms: RoomService;
  serverName: string;
  auth: RequestHandler;
  /** Each change sends an event into every joined room, so it counts like a message (as in Synapse). */
  rateLimit: RequestHandler;
  remote?: Pick<RemoteLookups, "profile">;
}

/** Synapse's limits, in characters. */
export const MAX_DISPLAYNAME_LENGTH = 256;
export const MAX_AVATAR_URL_LENGTH = 1000;

/** Spec key grammar: the two historical keys, m.tz, or a namespaced identifier. */
const KEY_NAME = /^(avatar_url|displayname|m\.tz|[a-z][a-z0-9_]*(\.[a-z][a-z0-9_]*)+)$/;
const MXC_URI = /^mxc:\/\/[A-Za-z0-9.:[\]-]+\/[A-Za-z0-9_-]+$/;

type StoredKey = "displayname" | "avatar_url";
const isStoredKey = (key: string): key is StoredKey => key === "displayname" || key === "avatar_url";

/** Validates a new value; empty means "remove", as Synapse treats it. */
function normalise(key: StoredKey, value: unknown): string | null {
  if (typeof value !== "string") throw badJson(`${key} must be a string`);
  if (key === "displayname") {
    if ([...value].length > MAX_DISPLAYNAME_LENGTH) throw new MatrixError(400, "M_TOO_LARGE", `displayname is too long (max ${MAX_DISPLAYNAME_LENGTH})`);
    const trimmed = value.trim();
    return trimmed === "" ? null : trimmed;
  }
  if (value === "") return null;
  if ([...value].length > MAX_AVATAR_URL_LENGTH) throw new MatrixError(400, "M_TOO_LARGE", `avatar_url is too long (max ${MAX_AVATAR_URL_LENGTH})`);
  if (!MXC_URI.test(value)) throw new MatrixError(400, "M_INVALID_PARAM", "avatar_url must be an mxc:// URI");
  return value;
}

export function registerProfile(table: RouteTable, body: RequestHandler, deps: ProfileDeps): void {
  const { db, rooms, serverName, auth, rateLimit, remote } = deps;

  function userIdParam(req: Request): string {
    const userId = String(req.params.userId ?? "");
    if (!isValidUserId(userId)) throw new MatrixError(400, "M_INVALID_PARAM", `${userId} is not a valid user ID`);
    return userId;
  }

  /** The stored profile of a local user, or a remote user's as their server answers (only `field` when given). */
  async function profileOf(userId: string, field?: string): Promise<{ displayname: string | null; avatarUrl: string | null }> {
    if (serverNameOf(userId) !== serverName && remote) {
      if (field !== undefined && !isStoredKey(field)) return { displayname: null, avatarUrl: null };
      return remote.profile(userId, field);
    }
    const profile = serverNameOf(userId) === serverName ? await getProfile(db, userId) : undefined;
    if (!profile) throw notFound("Profile not found");
    return profile;
  }

  /** The key of a PUT or DELETE, checked in the order the spec lists its errors. */
  function writableKey(req: Request): string {
    const key = String(req.params.keyName ?? "");
    if (Buffer.byteLength(key) > 255) throw new MatrixError(400, "M_KEY_TOO_LARGE", "Profile keys are at most 255 bytes");
    if (!KEY_NAME.test(key)) throw new MatrixError(400, "M_INVALID_PARAM", `${key} is not a valid profile key`);
    return key;
  }

  function ownProfile(req: Request, locals: Parameters<typeof requester>[0]): string {
    const me = requester(locals);
    if (userIdParam(req) !== me.userId) throw forbidden("Cannot change another user's profile");
    return me.userId;
  }

  async function change(userId: string, key: StoredKey, value: string | null, log: Logger): Promise<void> {
    await setProfileField(db, userId, key, value);
    // The 200 follows the member events, so a client that sees it can rely on its rooms showing the change.
    await propagateProfile(db, rooms, userId, log);
  }

  for (const prefix of ["/_matrix/client/v3", "/_matrix/client/r0"]) {
    table.add("GET", `${prefix}/profile/:userId`, async (req, res) => {
      const profile = await profileOf(userIdParam(req));
      if (profile.displayname === null && profile.avatarUrl === null) throw notFound("Profile not found");
      const out: JsonObject = {};
      if (profile.displayname !== null) out.displayname = profile.displayname;
      if (profile.avatarUrl !== null) out.avatar_url = profile.avatarUrl;
      res.json(out);
    });

    table.add("GET", `${prefix}/profile/:userId/:keyName`, async (req, res) => {
      const key = String(req.params.keyName);
      const profile = await profileOf(userIdParam(req), key);
      const value = key === "displayname" ? profile.displayname : key === "avatar_url" ? profile.avatarUrl : null;
      if (value === null) throw notFound(`Profile has no ${key}`);
      res.json({ [key]: value });
    });

    table.add("PUT", `${prefix}/profile/:userId/:keyName`, auth, refuseSuspended, rateLimit, body, async (req, res) => {
      const userId = ownProfile(req, res.locals);
      const key = writableKey(req);
      if (!isStoredKey(key)) throw forbidden(`Only displayname and avatar_url can be set on this server`);
      const content = requireJsonObject(req);
      if (!(key in content)) throw missingParam(`${key} is required`);
      await change(userId, key, normalise(key, content[key]), res.locals.log);
      res.json({});
    });

    table.add("DELETE", `${prefix}/profile/:userId/:keyName`, auth, refuseSuspended, rateLimit, async (req, res) => {
      const userId = ownProfile(req, res.locals);
      const key = writableKey(req);
      // Custom keys are never stored, so deleting one is already done.
      if (isStoredKey(key)) await change(userId, key, null, res.locals.log);
      res.json({});
    });
  }
}
