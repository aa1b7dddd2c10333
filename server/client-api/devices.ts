// GET    /_matrix/client/v3/devices              https://spec.matrix.org/v1.19/client-server-api/#get_matrixclientv3devices
// GET    /_matrix/client/v3/devices/{deviceId}   https://spec.matrix.org/v1.19/client-server-api/#get_matrixclientv3devicesdeviceid
// PUT    /_matrix/client/v3/devices/{deviceId}   https://spec.matrix.org/v1.19/client-server-api/#put_matrixclientv3devicesdeviceid
// DELETE /_matrix/client/v3/devices/{deviceId}   https://spec.matrix.org/v1.19/client-server-api/#delete_matrixclientv3devicesdeviceid
// POST   /_matrix/client/v3/delete_devices       https://spec.matrix.org/v1.19/client-server-api/#post_matrixclientv3delete_devices
//
// Deleting needs UIA with m.login.password (password.ts); the devices' access
// and refresh tokens go with them (ON DELETE CASCADE). last_seen_* is written
// by requireAuth (server/auth/authenticate.ts), at most once a minute.
import type { RequestHandler } from "express";
import { requester } from "../auth/authenticate.ts";
import { badJson, MatrixError, missingParam, notFound } from "../errors/matrix-error.ts";
import { requireJsonObject } from "../http/middleware.ts";
import type { RouteTable } from "../http/route-table.ts";
import { deleteDevices, getDevice, listDevices, setDeviceDisplayName, type DeviceRow } from "../storage/accounts.ts";
import { optionalString } from "./params.ts";
import { limitPasswordAttempts, reauthenticate, type ReauthDeps } from "./password.ts";

export interface DevicesDeps extends ReauthDeps {
  auth: RequestHandler;
  /** Throttles m.login.password attempts (the login limiter, keyed by user). */
  rateLimit?: RequestHandler;
  /** Told which devices lost their sessions (sockets close, device lists change). */
  onDevicesRemoved?: (userId: string, deviceIds: string[]) => void | Promise<void>;
  /** Told when a device's display name changed (device lists change). */
  onDeviceRenamed?: (userId: string, deviceId: string) => void | Promise<void>;
}

/** Synapse's limit on device display names (answered 400 M_TOO_LARGE, as Synapse does). */
const MAX_DEVICE_DISPLAY_NAME_LENGTH = 100;

/** The spec's Device object: optional fields are absent rather than null. */
function deviceJson(d: DeviceRow): Record<string, unknown> {
  return {
    device_id: d.deviceId,
    ...(d.displayName !== null ? { display_name: d.displayName } : {}),
    ...(d.lastSeenIp !== null ? { last_seen_ip: d.lastSeenIp } : {}),
    ...(d.lastSeenTs !== null ? { last_seen_ts: d.lastSeenTs } : {}),
  };
}

export function registerDevices(table: RouteTable, body: RequestHandler, deps: DevicesDeps): void {
  const limit = limitPasswordAttempts(deps.rateLimit);

  const remove = async (userId: string, deviceIds: string[]): Promise<void> => {
    const removed = await deleteDevices(deps.db, userId, deviceIds);
    if (removed.length > 0) await deps.onDevicesRemoved?.(userId, removed);
  };

  for (const prefix of ["/_matrix/client/v3", "/_matrix/client/r0"]) {
    table.add("GET", `${prefix}/devices`, deps.auth, async (_req, res) => {
      const me = requester(res.locals);
      res.json({ devices: (await listDevices(deps.db, me.userId)).map(deviceJson) });
    });

    table.add("GET", `${prefix}/devices/:deviceId`, deps.auth, async (req, res) => {
      const me = requester(res.locals);
      const device = await getDevice(deps.db, me.userId, String(req.params.deviceId));
      if (!device) throw notFound("Unknown device");
      res.json(deviceJson(device));
    });

    // Only renames: creating devices here is reserved to application services (v1.17).
    table.add("PUT", `${prefix}/devices/:deviceId`, deps.auth, body, async (req, res) => {
      const me = requester(res.locals);
      const params = requireJsonObject(req);
      const deviceId = String(req.params.deviceId);
      const displayName = optionalString(params, "display_name");
      if (displayName !== undefined && displayName.length > MAX_DEVICE_DISPLAY_NAME_LENGTH) {
        throw new MatrixError(400, "M_TOO_LARGE", `Device display name is too long (max ${MAX_DEVICE_DISPLAY_NAME_LENGTH})`);
      }
      const found = displayName === undefined ? (await getDevice(deps.db, me.userId, deviceId)) !== undefined : await setDeviceDisplayName(deps.db, me.userId, deviceId, displayName);
      if (!found) throw notFound("Unknown device");
      if (displayName !== undefined) await deps.onDeviceRenamed?.(me.userId, deviceId);
      res.json({});
    });

    // The spec answers 200 for a device that "had been removed previously", so
    // an unknown device is not an error here (Synapse does the same). A missing
    // body is read as {} for older clients, as Synapse does.
    table.add("DELETE", `${prefix}/devices/:deviceId`, deps.auth, body, limit, async (req, res) => {
      const me = requester(res.locals);
      const params = req.body === undefined ? {} : requireJsonObject(req);
      const deviceId = String(req.params.deviceId);
      await reauthenticate(deps, me.userId, `DELETE /devices/${JSON.stringify(deviceId)}`, params.auth);
      await remove(me.userId, [deviceId]);
      res.json({});
    });

    table.add("POST", `${prefix}/delete_devices`, deps.auth, body, limit, async (req, res) => {
      const me = requester(res.locals);
      const params = requireJsonObject(req);
      const devices = params.devices;
      if (devices === undefined || devices === null) throw missingParam("Missing devices");
      if (!Array.isArray(devices) || !devices.every((d): d is string => typeof d === "string")) throw badJson("devices must be an array of strings");
      const deviceIds = [...new Set(devices)].sort();
      await reauthenticate(deps, me.userId, `POST /delete_devices ${JSON.stringify(deviceIds)}`, params.auth);
      await remove(me.userId, deviceIds);
      res.json({});
    });
  }
}
