// Client-API look-ups answered by another server: profiles and room aliases
// (GET /_matrix/federation/v1/query/{profile,directory} sent to the server in
// the ID). A remote failure becomes our own Matrix error, never the remote's
// text: its 404 is our 404 M_NOT_FOUND, its 403 our 403 M_FORBIDDEN, a time-out
// 504 and anything else 502 (as Synapse answers), each logged once here.
import { MatrixError } from "../server/errors/matrix-error.ts";
import type { Logger } from "../server/observability/logger.ts";
import { isValidRoomId, isValidServerName, serverNameOf } from "../server/protocol/identifiers.ts";
import { isJsonObject, type JsonObject } from "../server/protocol/json.ts";
import { asClientError } from "./remote-errors.ts";
import type { FederationClient } from "./transport/federation-client.ts";

export interface RemoteProfile {
  displayname: string | null;
  avatarUrl: string | null;
}

export interface RemoteQueries {
  profile(userId: string, field?: "displayname" | "avatar_url"): Promise<RemoteProfile>;
  directory(alias: string): Promise<{ roomId: string; servers: string[] }>;
  publicRooms(server: string, request: JsonObject): Promise<JsonObject>;
}

const text = (value: unknown): string | null => (typeof value === "string" ? value : null);

export function createRemoteQueries(deps: { client: Pick<FederationClient, "request">; log: Logger; timeoutMs?: number }): RemoteQueries {
  const timeout = deps.timeoutMs === undefined ? {} : { timeoutMs: deps.timeoutMs };
  return {
    async profile(userId, field) {
      const destination = serverNameOf(userId)!;
      let body;
      try {
        body = await deps.client.request(destination, "GET", "/_matrix/federation/v1/query/profile", { query: { user_id: userId, field }, ...timeout });
      } catch (err) {
        throw asClientError(err, "Profile", deps.log);
      }
      if (!isJsonObject(body)) throw new MatrixError(502, "M_UNKNOWN", `${destination} sent a malformed profile`);
      return { displayname: text(body.displayname), avatarUrl: text(body.avatar_url) };
    },

    async directory(alias) {
      const destination = serverNameOf(alias)!;
      let body;
      try {
        body = await deps.client.request(destination, "GET", "/_matrix/federation/v1/query/directory", { query: { room_alias: alias }, ...timeout });
      } catch (err) {
        throw asClientError(err, "Room alias", deps.log);
      }
      const roomId = isJsonObject(body) ? body.room_id : undefined;
      const servers = isJsonObject(body) && Array.isArray(body.servers) ? body.servers : [];
      if (typeof roomId !== "string" || !isValidRoomId(roomId)) throw new MatrixError(502, "M_UNKNOWN", `${destination} sent a malformed alias answer`);
      return { roomId, servers: servers.filter((s): s is string => typeof s === "string" && isValidServerName(s)) };
    },

    async publicRooms(server, request) {
      let body;
      try {
        body = await deps.client.request(server, "POST", "/_matrix/federation/v1/publicRooms", { body: request, ...timeout });
      } catch (err) {
        throw asClientError(err, "Room directory", deps.log);
      }
      if (!isJsonObject(body) || !Array.isArray(body.chunk)) throw new MatrixError(502, "M_UNKNOWN", `${server} sent a malformed room directory`);
      // Only what the spec defines for a directory page is passed on.
      const page: JsonObject = { chunk: body.chunk.filter(isJsonObject) };
      for (const key of ["next_batch", "prev_batch"]) if (typeof body[key] === "string") page[key] = body[key];
      if (typeof body.total_room_count_estimate === "number") page.total_room_count_estimate = body.total_room_count_estimate;
      return page;
    },
  };
}
