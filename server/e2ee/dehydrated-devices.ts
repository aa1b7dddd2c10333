// Dehydrated devices (MSC3814): one parked device per user, with keys like
// any device (so others encrypt room keys to it) but no access token; the
// client that rehydrates it downloads its pickled state and then pages
// through its to-device inbox, each page acknowledging the previous one.
import { badJson, invalidParam, MatrixError, notFound } from "../errors/matrix-error.ts";
import { isJsonObject, type JsonObject } from "../protocol/json.ts";
import type { Database } from "../storage/database.ts";
import { deleteDehydratedDevice, getDehydratedDevice, replaceDehydratedDevice } from "../storage/dehydrated-devices.ts";
import type { DeviceLists } from "./device-lists.ts";
import { checkDeviceKeys, checkKeyMap, isPlainId } from "./key-checks.ts";
import type { Keys } from "./keys.ts";
import type { ToDevice } from "./to-device.ts";

export interface DehydratedDevicesDeps {
  db: Database;
  keys: Keys;
  deviceLists: DeviceLists;
  toDevice: ToDevice;
}

export function createDehydratedDevices(deps: DehydratedDevicesDeps) {
  const { db } = deps;

  async function current(userId: string): Promise<{ deviceId: string; deviceData: JsonObject }> {
    const device = await getDehydratedDevice(db, userId);
    if (!device) throw notFound("No dehydrated device available");
    return device;
  }

  return {
    /**
     * PUT /dehydrated_device: checks the device's keys first (they must be
     * signed by the new device), then replaces any previous dehydrated device
     * and publishes the keys. Returns the device ID.
     */
    async put(userId: string, body: Record<string, unknown>): Promise<string> {
      const deviceId = body.device_id;
      if (typeof deviceId !== "string") throw badJson("device_id must be a string");
      if (!isPlainId(deviceId)) throw invalidParam("Invalid device_id");
      if (!isJsonObject(body.device_data)) throw badJson("device_data must be an object");
      const name = body.initial_device_display_name;
      if (name !== undefined && name !== null && typeof name !== "string") throw badJson("initial_device_display_name must be a string");
      const checked = checkDeviceKeys(body.device_keys, userId, deviceId);
      const signer = { userId, deviceId, ed25519: checked.ed25519 };
      checkKeyMap(body.one_time_keys, "one_time_keys", signer);
      checkKeyMap(body.fallback_keys, "fallback_keys", signer);
      const deviceData = body.device_data;
      const result = await db.transaction((tx) => replaceDehydratedDevice(tx, userId, { deviceId, deviceData, displayName: name ?? null }, Date.now()));
      if (result === "in-use") throw invalidParam("device_id is in use by another device");
      if (result.replaced !== undefined) await deps.deviceLists.markChanged({ userId, deviceIds: [result.replaced], deleted: true });
      await deps.keys.upload({ userId, deviceId }, { device_keys: body.device_keys, one_time_keys: body.one_time_keys, fallback_keys: body.fallback_keys });
      return deviceId;
    },

    async get(userId: string): Promise<JsonObject> {
      const device = await current(userId);
      return { device_id: device.deviceId, device_data: device.deviceData };
    },

    async remove(userId: string): Promise<string> {
      const deviceId = await deleteDehydratedDevice(db, userId);
      if (deviceId === undefined) throw notFound("No dehydrated device available");
      await deps.deviceLists.markChanged({ userId, deviceIds: [deviceId], deleted: true });
      return deviceId;
    },

    /** A page of the dehydrated device's to-device messages after `from` (which they acknowledge). */
    async events(userId: string, deviceId: string, from: string | undefined): Promise<JsonObject> {
      const device = await current(userId);
      if (device.deviceId !== deviceId) throw new MatrixError(403, "M_FORBIDDEN", "Not the user's dehydrated device");
      if (from !== undefined && !/^[0-9]{1,15}$/.test(from)) throw invalidParam("Invalid next_batch");
      const page = await deps.toDevice.page({ userId, deviceId }, from === undefined ? 0 : Number(from));
      // No next_batch once the inbox is drained: clients page until it is absent.
      return page.last === undefined ? { events: page.events } : { events: page.events, next_batch: String(page.last) };
    },
  };
}

export type DehydratedDevices = ReturnType<typeof createDehydratedDevices>;
