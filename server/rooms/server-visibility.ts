// What a remote server may see of a room's history (spec "History
// visibility", applied to servers as Synapse does in filter_events_for_server):
// under `shared` or `world_readable` everything; under `invited` only while
// one of its users is invited or joined; under `joined` only while one is
// joined, each judged by the state before the event. Events it may not see are
// served redacted, so the DAG stays walkable without their content.
import { redactEvent } from "../protocol/redaction.ts";
import type { JsonObject } from "../protocol/json.ts";
import type { RoomVersion } from "../protocol/room-versions.ts";
import type { Queryable } from "../storage/database.ts";
import { getEventsByNids, type StoredEvent } from "../storage/events.ts";
import { serverMembersAtGroups, stateAtGroups } from "../storage/state.ts";
import { pduOf } from "./stored-event.ts";

function contentField(event: StoredEvent | undefined, field: string): unknown {
  return event ? (pduOf(event).content as JsonObject | undefined)?.[field] : undefined;
}

/** Which of `events` `serverName` may see in full. */
export async function visibleToServer(q: Queryable, serverName: string, events: readonly StoredEvent[]): Promise<Set<string>> {
  const groups = [...new Set(events.map((e) => e.stateGroupBefore).filter((g): g is number => g !== null))];
  const visibility = await stateAtGroups(q, groups, [["m.room.history_visibility", ""]]);
  const members = await serverMembersAtGroups(q, groups, serverName);
  const nids = [...visibility.values(), ...members.values()].flatMap((entries) => entries.map((e) => e.eventNid));
  const stateEvents = await getEventsByNids(q, nids);
  const visible = new Set<string>();
  for (const event of events) {
    const group = event.stateGroupBefore;
    if (group === null) {
      visible.add(event.eventId); // the create event: nothing to hide yet
      continue;
    }
    const hv = contentField(stateEvents.get(visibility.get(group)?.[0]?.eventNid ?? -1), "history_visibility") ?? "shared";
    if (hv !== "invited" && hv !== "joined") {
      visible.add(event.eventId);
      continue;
    }
    const memberships = (members.get(group) ?? []).map((m) => contentField(stateEvents.get(m.eventNid), "membership"));
    if (memberships.includes("join") || (hv === "invited" && memberships.includes("invite"))) visible.add(event.eventId);
  }
  return visible;
}

/** The PDU as served to other servers: redacted when it was redacted here, or when the server may not see it. */
export function federationPdu(event: StoredEvent, version: RoomVersion, visible = true): JsonObject {
  const pdu = pduOf(event);
  return event.redactedBy !== null || !visible ? redactEvent(pdu, version) : pdu;
}
