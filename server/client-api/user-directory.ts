// POST /_matrix/client/v3/user_directory/search  https://spec.matrix.org/v1.19/client-server-api/#post_matrixclientv3user_directorysearch
//
// Searches local users the requester may see (Synapse's default,
// search_all_users off): users sharing a joined room with them, and users
// joined to a room with a public join rule or world-readable history. Every
// word of the term must start a word of the user's localpart or display name,
// case-insensitively. The requester is never listed.
import type { RequestHandler } from "express";
import { requester } from "../auth/authenticate.ts";
import { badJson } from "../errors/matrix-error.ts";
import { requireJsonObject } from "../http/middleware.ts";
import type { RouteTable } from "../http/route-table.ts";
import type { JsonObject } from "../protocol/json.ts";
import type { Database } from "../storage/database.ts";
import { searchUserDirectory } from "../storage/user-directory.ts";
import { requiredString } from "./params.ts";

export interface UserDirectoryDeps {
  db: Database;
  auth: RequestHandler;
}

export const DEFAULT_LIMIT = 10;
/** Synapse's cap. */
export const MAX_LIMIT = 50;
/** Longer terms add nothing but work. */
const MAX_TERM_LENGTH = 256;

export function registerUserDirectory(table: RouteTable, body: RequestHandler, deps: UserDirectoryDeps): void {
  const { db, auth } = deps;
  for (const prefix of ["/_matrix/client/v3", "/_matrix/client/r0"]) {
    table.add("POST", `${prefix}/user_directory/search`, auth, body, async (req, res) => {
      const me = requester(res.locals);
      const params = requireJsonObject(req);
      const term = requiredString(params, "search_term").trim().slice(0, MAX_TERM_LENGTH);
      const rawLimit = params.limit ?? DEFAULT_LIMIT;
      if (typeof rawLimit !== "number" || !Number.isInteger(rawLimit)) throw badJson("limit must be an integer");
      const limit = Math.max(0, Math.min(rawLimit, MAX_LIMIT));

      // A term typed as a user ID ("@ali", "@alice:example.org") searches the localpart's words and must prefix the ID.
      const asUserId = term.startsWith("@");
      const words = asUserId ? term.slice(1).split(":")[0]! : term;
      const found = limit === 0 ? [] : await searchUserDirectory(db, me.userId, words, limit + 1, asUserId ? term : undefined);
      const results = found.slice(0, limit).map((u) => {
        const entry: JsonObject = { user_id: u.userId };
        if (u.displayname !== null) entry.display_name = u.displayname;
        if (u.avatarUrl !== null) entry.avatar_url = u.avatarUrl;
        return entry;
      });
      res.json({ results, limited: found.length > limit });
    });
  }
}
