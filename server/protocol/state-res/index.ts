// Entry point of state resolution: picks the algorithm the room version names
// and wraps the event source so each event is fetched once per resolution.
import type { StateMap } from "../events.ts";
import { checkAuthRules } from "../auth-rules.ts";
import type { RoomVersion } from "../room-versions.ts";
import type { EventSource } from "./event-source.ts";
import { CachingEventSource } from "./event-source.ts";
import { resolveV1 } from "./v1.ts";
import { resolveV2 } from "./v2.ts";

export type { EventSource } from "./event-source.ts";
export { CachingEventSource, InMemoryEventSource } from "./event-source.ts";

export interface ResolveStateOptions {
  /** The auth check to use; the real auth rules unless a test injects another. */
  checkAuth?: typeof checkAuthRules;
}

/** The resolution of `stateSets` ((type, state_key) → event id maps) for a room of `version`. */
export async function resolveState(
  version: RoomVersion,
  stateSets: readonly StateMap[],
  source: EventSource,
  options: ResolveStateOptions = {},
): Promise<Map<string, string>> {
  const check = options.checkAuth ?? checkAuthRules;
  const cached = source instanceof CachingEventSource ? source : new CachingEventSource(source);
  switch (version.stateResolution) {
    case "v1":
      return resolveV1(version, stateSets, cached, check);
    case "v2":
      return resolveV2(version, stateSets, cached, check, "v2");
    case "v2.1":
      return resolveV2(version, stateSets, cached, check, "v2.1");
  }
}
