// Mainline ordering: events are placed by how far back along the resolved
// power levels' chain of power_levels ancestors (the mainline) their own
// power_levels chain joins it. Positions are memoised per power_levels event,
// so the walks from all events together touch each power_levels event once.
import type { RoomEvent } from "../events.ts";
import type { EventLookup } from "./power.ts";
import { powerLevelsAuthEvent } from "./power.ts";

/**
 * Returns `ids` (all present in `events`) from smallest to largest: greater
 * mainline position first (∞ when the chain never meets the mainline), then
 * earlier origin_server_ts, then smaller event id.
 */
export function mainlineOrder(ids: Iterable<string>, resolvedPowerLevels: string | undefined, events: EventLookup): string[] {
  // Mainline of P₀: P₀ at position 0, the power_levels event it cites at 1, and so on.
  const mainline = new Map<string, number>();
  for (let id = resolvedPowerLevels; id !== undefined && !mainline.has(id); ) {
    mainline.set(id, mainline.size);
    const event = events.get(id);
    id = event === undefined ? undefined : powerLevelsAuthEvent(event, events)?.eventId;
  }

  // For a power_levels event X off the mainline: the position where the chain X, X's PL, … meets it.
  const joinsAt = new Map<string, number>();
  const position = (event: RoomEvent): number => {
    // The event itself is not compared (e₀ is excluded), only the power_levels events it chains to.
    const path = new Set<string>();
    let found = Number.POSITIVE_INFINITY;
    for (let pl = powerLevelsAuthEvent(event, events); pl !== undefined; pl = powerLevelsAuthEvent(pl, events)) {
      const onMainline = mainline.get(pl.eventId) ?? joinsAt.get(pl.eventId);
      if (onMainline !== undefined) {
        found = onMainline;
        break;
      }
      if (path.has(pl.eventId)) break; // a cycle, which hashed ids rule out
      path.add(pl.eventId);
    }
    for (const id of path) joinsAt.set(id, found);
    return found;
  };

  const keyed: { id: string; position: number; ts: number }[] = [];
  for (const id of ids) {
    const event = events.get(id);
    if (event !== undefined) keyed.push({ id, position: position(event), ts: event.originServerTs });
  }
  keyed.sort((a, b) => {
    if (a.position !== b.position) return a.position > b.position ? -1 : 1;
    if (a.ts !== b.ts) return a.ts - b.ts;
    return a.id < b.id ? -1 : a.id > b.id ? 1 : 0;
  });
  return keyed.map((k) => k.id);
}
