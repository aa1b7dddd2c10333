// The end-to-end encryption sections of a /sync response (and of a stream
// frame): to_device, device_lists, device_one_time_keys_count and
// device_unused_fallback_key_types. The sync engine calls this once per
// computation and adds the result to its body.
import type { JsonObject } from "../protocol/json.ts";
import type { Viewer } from "../rooms/render.ts";
import type { SyncPosition } from "../rooms/tokens.ts";
import type { DeviceLists } from "./device-lists.ts";
import type { Keys } from "./keys.ts";
import type { ToDevice } from "./to-device.ts";

export interface E2eeSections {
  body: JsonObject;
  /** to_device or device_lists carry something: the response is not empty. */
  hasNews: boolean;
  /** More to-device messages wait: the next token resumes to-device delivery here. */
  toDeviceResumeAt?: number;
}

export interface E2eeSync {
  sections(viewer: Viewer, since: SyncPosition | undefined, position: number): Promise<E2eeSections>;
}

export function createE2eeSync(deps: { keys: Keys; toDevice: ToDevice; deviceLists: DeviceLists }): E2eeSync {
  return {
    async sections(viewer, since, position) {
      // The client holds every to-device message up to the token's to-device mark.
      const acknowledged = since === undefined ? undefined : (since.toDevice ?? since.position);
      const [toDevice, lists, counts] = await Promise.all([
        deps.toDevice.forSync(viewer, acknowledged, position),
        // An initial sync has no device-list changes to report: the client queries every device it tracks.
        since === undefined ? { changed: [], left: [] } : deps.deviceLists.since(viewer.userId, since.position),
        deps.keys.syncCounts(viewer),
      ]);
      return {
        body: {
          to_device: { events: toDevice.events },
          device_lists: lists,
          device_one_time_keys_count: counts.oneTimeKeyCounts,
          device_unused_fallback_key_types: counts.unusedFallbackKeyTypes,
        },
        hasNews: toDevice.events.length > 0 || lists.changed.length > 0 || lists.left.length > 0,
        ...(toDevice.resumeAt !== undefined ? { toDeviceResumeAt: toDevice.resumeAt } : {}),
      };
    },
  };
}
