// Path and query parameters shared by the room endpoints.
import type { Request } from "express";
import { MatrixError } from "../../errors/matrix-error.ts";
import { isValidRoomAlias, isValidRoomId, isValidUserId } from "../../protocol/identifiers.ts";

export function roomIdParam(req: Request): string {
  const roomId = String(req.params.roomId ?? "");
  if (!isValidRoomId(roomId)) throw new MatrixError(400, "M_INVALID_PARAM", `${roomId} is not a legal room ID`);
  return roomId;
}

export function userIdField(value: unknown, field = "user_id"): string {
  if (typeof value !== "string") throw new MatrixError(400, "M_BAD_JSON", `${field} must be a string`);
  if (!isValidUserId(value)) throw new MatrixError(400, "M_INVALID_PARAM", `${value} is not a valid user ID`);
  return value;
}

export function roomAliasParam(value: string): string {
  if (!isValidRoomAlias(value)) throw new MatrixError(400, "M_INVALID_PARAM", `${value} is not a valid room alias`);
  return value;
}

export function queryString(req: Request, name: string): string | undefined {
  const value = req.query[name];
  return typeof value === "string" ? value : undefined;
}

export function queryInt(req: Request, name: string, fallback: number, max: number): number {
  const raw = queryString(req, name);
  if (raw === undefined) return fallback;
  if (!/^\d+$/.test(raw)) throw new MatrixError(400, "M_INVALID_PARAM", `${name} must be a non-negative integer`);
  return Math.min(Number(raw), max);
}
