// Query and path parameters of the media endpoints, checked as the spec's
// errors say (M_INVALID_PARAM / M_MISSING_PARAM, never a 500).
import type { Request } from "express";
import { invalidParam, missingParam } from "../errors/matrix-error.ts";

export const DEFAULT_WAIT_MS = 20_000;
export const MAX_WAIT_MS = 120_000;

function single(req: Request, name: string): string | undefined {
  const value = req.query[name];
  if (value === undefined) return undefined;
  if (typeof value !== "string") throw invalidParam(`${name} must be given once`);
  return value;
}

export function booleanParam(req: Request, name: string, fallback: boolean): boolean {
  const value = single(req, name);
  if (value === undefined) return fallback;
  if (value === "true") return true;
  if (value === "false") return false;
  throw invalidParam(`${name} must be true or false`);
}

/** timeout_ms, bounded (the spec's default is 20 s). */
export function waitParam(req: Request): number {
  const value = single(req, "timeout_ms");
  if (value === undefined) return DEFAULT_WAIT_MS;
  if (!/^\d+$/.test(value)) throw invalidParam("timeout_ms must be a non-negative integer");
  return Math.min(Number(value), MAX_WAIT_MS);
}

export interface ThumbnailParams {
  width: number;
  height: number;
  method: "crop" | "scale";
  animated: boolean;
}

export function thumbnailParams(req: Request): ThumbnailParams {
  const dimension = (name: string) => {
    const value = single(req, name);
    if (value === undefined) throw missingParam(`${name} is required`);
    if (!/^\d+$/.test(value) || Number(value) < 1 || Number(value) > 100000) throw invalidParam(`${name} must be a positive integer`);
    return Number(value);
  };
  const width = dimension("width");
  const height = dimension("height");
  const method = single(req, "method") ?? "scale";
  if (method !== "crop" && method !== "scale") throw invalidParam("method must be crop or scale");
  return { width, height, method, animated: booleanParam(req, "animated", false) };
}

export function stringPath(req: Request, name: string): string {
  return String(req.params[name] ?? "");
}

export function optionalQuery(req: Request, name: string): string | undefined {
  return single(req, name);
}
