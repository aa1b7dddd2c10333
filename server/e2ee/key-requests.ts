// The request bodies of key queries and claims, checked: the same shapes
// arrive from clients (POST /keys/query, /keys/claim) and from other servers
// (POST /_matrix/federation/v1/user/keys/query, /user/keys/claim).
import { badJson, invalidParam, missingParam } from "../errors/matrix-error.ts";
import { isJsonObject } from "../protocol/json.ts";
import { checkUserId, isPlainId } from "./key-checks.ts";

/** A required object field of a body. */
function objectParam(body: Record<string, unknown>, key: string): Record<string, unknown> {
  const value = body[key];
  if (value === undefined || value === null) throw missingParam(`Missing ${key}`);
  if (!isJsonObject(value)) throw badJson(`${key} must be an object`);
  return value;
}

/** device_keys of a query: user → device IDs (empty for all). */
export function checkKeysQuery(body: Record<string, unknown>): Map<string, string[]> {
  const out = new Map<string, string[]>();
  for (const [userId, devices] of Object.entries(objectParam(body, "device_keys"))) {
    checkUserId(userId, "device_keys");
    if (!Array.isArray(devices) || !devices.every((d) => typeof d === "string")) throw badJson(`device_keys.${userId} must be an array of device IDs`);
    if (!devices.every(isPlainId)) throw invalidParam(`device_keys.${userId} holds an invalid device ID`);
    out.set(userId, [...new Set(devices)]);
  }
  return out;
}

/** one_time_keys of a claim: user → device → algorithm. */
export function checkClaimQuery(body: Record<string, unknown>): Map<string, Record<string, string>> {
  const out = new Map<string, Record<string, string>>();
  for (const [userId, devices] of Object.entries(objectParam(body, "one_time_keys"))) {
    checkUserId(userId, "one_time_keys");
    if (!isJsonObject(devices)) throw badJson(`one_time_keys.${userId} must be an object`);
    for (const [deviceId, algorithm] of Object.entries(devices)) {
      if (typeof algorithm !== "string") throw badJson(`one_time_keys.${userId}.${deviceId} must be an algorithm name`);
      if (!isPlainId(deviceId) || !isPlainId(algorithm)) throw invalidParam(`one_time_keys.${userId} holds an invalid device ID or algorithm`);
    }
    out.set(userId, devices as Record<string, string>);
  }
  return out;
}
