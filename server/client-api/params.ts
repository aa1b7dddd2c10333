// Typed reads of request-body fields with the spec's M_BAD_JSON on a wrong type.
import { badJson, invalidParam } from "../errors/matrix-error.ts";

export function optionalString(body: Record<string, unknown>, key: string): string | undefined {
  const value = body[key];
  if (value === undefined || value === null) return undefined;
  if (typeof value !== "string") throw badJson(`${key} must be a string`);
  return value;
}

export function optionalBoolean(body: Record<string, unknown>, key: string): boolean | undefined {
  const value = body[key];
  if (value === undefined || value === null) return undefined;
  if (typeof value !== "boolean") throw badJson(`${key} must be a boolean`);
  return value;
}

export function requiredString(body: Record<string, unknown>, key: string): string {
  const value = optionalString(body, key);
  if (value === undefined) throw badJson(`${key} is required`);
  return value;
}

/** The spec's client_secret / sid grammar: 1–255 of [0-9a-zA-Z.=_-]. */
const OPAQUE_ID = /^[0-9a-zA-Z.=_-]{1,255}$/;

export function opaqueIdField(body: Record<string, unknown>, key: string): string {
  const value = requiredString(body, key);
  if (!OPAQUE_ID.test(value)) throw invalidParam(`${key} must be 1 to 255 of [0-9a-zA-Z.=_-]`);
  return value;
}

export function sendAttemptField(body: Record<string, unknown>): number {
  const value = body.send_attempt;
  if (typeof value !== "number" || !Number.isInteger(value) || value < 0) throw badJson("send_attempt must be a non-negative integer");
  return value;
}
