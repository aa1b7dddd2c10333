// GET /_matrix/client/v1/rooms/{roomId}/hierarchy  https://spec.matrix.org/v1.19/client-server-api/#get_matrixclientv1roomsroomidhierarchy
import { randomBytes } from "node:crypto";
import type { Request, RequestHandler } from "express";
import type { Redis } from "ioredis";
import { requester } from "../../auth/authenticate.ts";
import { forbidden, invalidParam } from "../../errors/matrix-error.ts";
import type { RouteTable } from "../../http/route-table.ts";
import { maySeeRoomSummary } from "../../rooms/room-summary.ts";
import { startWalk, walkHierarchy, type WalkState } from "../../rooms/space-hierarchy.ts";
import type { Database } from "../../storage/database.ts";
import { roomStats } from "../../storage/public-rooms.ts";
import { queryString, roomIdParam } from "./params.ts";

export interface HierarchyDeps {
  db: Database;
  redis: Redis;
  auth: RequestHandler;
}

/** Synapse's cap on rooms per page, also the default. */
const MAX_LIMIT = 50;
/** Default and ceiling for max_depth: deep enough for real spaces, bounded for loops of fresh rooms. */
const MAX_DEPTH = 20;
/** Pagination sessions live in Redis for five minutes, as Synapse keeps them. */
const SESSION_TTL_SECONDS = 300;

interface PaginationSession extends WalkState {
  userId: string;
  roomId: string;
  suggestedOnly: boolean;
  maxDepth: number;
}

function booleanParam(req: Request, name: string): boolean {
  const raw = queryString(req, name);
  if (raw === undefined) return false;
  if (raw !== "true" && raw !== "false") throw invalidParam(`${name} must be true or false`);
  return raw === "true";
}

function integerParam(req: Request, name: string, min: number): number | undefined {
  const raw = queryString(req, name);
  if (raw === undefined) return undefined;
  if (!/^-?\d{1,9}$/.test(raw) || Number(raw) < min) throw invalidParam(`${name} must be an integer of at least ${min}`);
  return Number(raw);
}

export function registerHierarchy(table: RouteTable, deps: HierarchyDeps): void {
  const { db, redis } = deps;
  const key = (token: string) => `hierarchy:${token}`;

  table.add("GET", "/_matrix/client/v1/rooms/:roomId/hierarchy", deps.auth, async (req, res) => {
    const me = requester(res.locals);
    const roomId = roomIdParam(req);
    const suggestedOnly = booleanParam(req, "suggested_only");
    const limit = Math.min(integerParam(req, "limit", 1) ?? MAX_LIMIT, MAX_LIMIT);
    const maxDepth = Math.min(integerParam(req, "max_depth", 0) ?? MAX_DEPTH, MAX_DEPTH);

    // Checked on every page: access may have been lost since the first one.
    const root = (await roomStats(db, [roomId])).get(roomId);
    if (!root || !(await maySeeRoomSummary(db, root, me.userId))) throw forbidden("You are not allowed to view this room");

    const from = queryString(req, "from");
    let state: WalkState = startWalk(roomId);
    if (from !== undefined) {
      const raw = await redis.get(key(from));
      const session = raw === null ? undefined : (JSON.parse(raw) as PaginationSession);
      if (!session || session.userId !== me.userId || session.roomId !== roomId) throw invalidParam("Unknown pagination token");
      if (session.suggestedOnly !== suggestedOnly || session.maxDepth !== maxDepth) {
        throw invalidParam("suggested_only and max_depth cannot change on paginated requests");
      }
      state = { stack: session.stack, processed: session.processed };
    }

    const page = await walkHierarchy(db, state, { userId: me.userId, suggestedOnly, maxDepth, limit });
    const response: Record<string, unknown> = { rooms: page.rooms };
    if (page.state.stack.length > 0) {
      const token = randomBytes(12).toString("base64url");
      const session: PaginationSession = { ...page.state, userId: me.userId, roomId, suggestedOnly, maxDepth };
      await redis.set(key(token), JSON.stringify(session), "EX", SESSION_TTL_SECONDS);
      response.next_batch = token;
    }
    res.json(response);
  });
}
