// POST /_matrix/federation/v1/user/keys/query           https://spec.matrix.org/v1.19/server-server-api/#post_matrixfederationv1userkeysquery
// POST /_matrix/federation/v1/user/keys/claim           https://spec.matrix.org/v1.19/server-server-api/#post_matrixfederationv1userkeysclaim
// GET  /_matrix/federation/v1/user/devices/{userId}     https://spec.matrix.org/v1.19/server-server-api/#get_matrixfederationv1userdevicesuserid
//
// Other servers asking for our users' keys. Only our users may be named
// (400 M_INVALID_PARAM otherwise, as Synapse refuses them). What is shown is
// what the users publish (server/e2ee/published-keys.ts): their own
// signatures, no other user's, no device display names.
import type { RequestHandler } from "express";
import type { Keys } from "../../server/e2ee/keys.ts";
import { checkClaimQuery, checkKeysQuery } from "../../server/e2ee/key-requests.ts";
import { publishedCrossSigning, publishedDevices } from "../../server/e2ee/published-keys.ts";
import { invalidParam } from "../../server/errors/matrix-error.ts";
import { requireJsonObject } from "../../server/http/middleware.ts";
import type { RouteTable } from "../../server/http/route-table.ts";
import { isValidUserId, serverNameOf } from "../../server/protocol/identifiers.ts";
import { isJsonObject, type JsonObject } from "../../server/protocol/json.ts";
import type { Database } from "../../server/storage/database.ts";
import { deviceListStreamId } from "../../server/storage/device-lists.ts";

export interface UserKeysRouteDeps {
  db: Database;
  keys: Pick<Keys, "queryLocal" | "claimLocal">;
  serverName: string;
  auth: RequestHandler[];
}

/** Device display names stay on this server (Synapse's default). */
function withoutDisplayNames(deviceKeys: unknown): JsonObject {
  const out: JsonObject = {};
  for (const [userId, devices] of Object.entries(isJsonObject(deviceKeys) ? deviceKeys : {})) {
    out[userId] = Object.fromEntries(Object.entries(isJsonObject(devices) ? devices : {}).map(([deviceId, keys]) => [deviceId, { ...(keys as JsonObject), unsigned: {} }]));
  }
  return out;
}

export function registerUserKeyRoutes(table: RouteTable, deps: UserKeysRouteDeps): void {
  const { db, serverName, auth } = deps;
  const onlyOurs = (userIds: Iterable<string>): void => {
    for (const userId of userIds) if (serverNameOf(userId) !== serverName) throw invalidParam(`${userId} is not a user of this server`);
  };

  table.add("POST", "/_matrix/federation/v1/user/keys/query", ...auth, async (req, res) => {
    const wanted = checkKeysQuery(requireJsonObject(req));
    onlyOurs(wanted.keys());
    // No viewer: only the users' own signatures show.
    const answer = await deps.keys.queryLocal(wanted);
    res.json({ device_keys: withoutDisplayNames(answer.device_keys), master_keys: answer.master_keys!, self_signing_keys: answer.self_signing_keys! });
  });

  table.add("POST", "/_matrix/federation/v1/user/keys/claim", ...auth, async (req, res) => {
    const wanted = checkClaimQuery(requireJsonObject(req));
    onlyOurs(wanted.keys());
    res.json({ one_time_keys: await deps.keys.claimLocal(wanted) });
  });

  table.add("GET", "/_matrix/federation/v1/user/devices/:userId", ...auth, async (req, res) => {
    const userId = String(req.params.userId ?? "");
    if (!isValidUserId(userId)) throw invalidParam(`${userId} is not a valid user ID`);
    onlyOurs([userId]);
    // The version is read before the devices: a change committing in between then
    // arrives as an update the asking server applies again, never as one it skips.
    const streamId = await deviceListStreamId(db, userId);
    const [devices, crossSigning] = await Promise.all([publishedDevices(db, userId), publishedCrossSigning(db, userId)]);
    res.json({
      user_id: userId,
      stream_id: streamId,
      // The spec's User Device requires keys: a device that has uploaded none is left out.
      devices: devices.flatMap((d) => (d.keys ? [{ device_id: d.deviceId, keys: d.keys }] : [])),
      ...(crossSigning.master ? { master_key: crossSigning.master } : {}),
      ...(crossSigning.selfSigning ? { self_signing_key: crossSigning.selfSigning } : {}),
    });
  });
}
