// Path and query parameters of federation routes, checked before they reach
// SQL, with the spec's errors.
import type { Request } from "express";
import { invalidParam, missingParam } from "../../server/errors/matrix-error.ts";
import { isValidEventId, isValidRoomId } from "../../server/protocol/identifiers.ts";

export function roomIdParam(req: Request): string {
  const roomId = String(req.params.roomId ?? "");
  if (!isValidRoomId(roomId)) throw invalidParam(`${roomId} is not a valid room ID`);
  return roomId;
}

export function eventIdParam(req: Request, name = "eventId"): string {
  const eventId = String(req.params[name] ?? "");
  if (!isValidEventId(eventId)) throw invalidParam(`${eventId} is not a valid event ID`);
  return eventId;
}

/** A query parameter given once. */
export function queryString(req: Request, name: string, required: true): string;
export function queryString(req: Request, name: string, required?: false): string | undefined;
export function queryString(req: Request, name: string, required = false): string | undefined {
  const value = req.query[name];
  if (value === undefined) {
    if (required) throw missingParam(`${name} is required`);
    return undefined;
  }
  if (typeof value !== "string") throw invalidParam(`${name} must be given once`);
  return value;
}

/** Every value of a repeatable query parameter (`v=a&v=b`). */
export function queryList(req: Request, name: string): string[] {
  const value = req.query[name];
  if (value === undefined) return [];
  return (Array.isArray(value) ? value : [value]).map(String);
}

export function queryInteger(req: Request, name: string, fallback: number, max: number): number {
  const text = queryString(req, name);
  if (text === undefined) return fallback;
  if (!/^\d{1,9}$/.test(text)) throw invalidParam(`${name} must be a non-negative integer`);
  return Math.min(Number(text), max);
}
