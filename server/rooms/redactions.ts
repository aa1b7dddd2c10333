// Redactions (spec: "Redactions", "Handling redactions"). A redaction passes
// the auth rules whenever its sender may send it; it takes effect only if the
// sender may redact the target: the redact power level, or the target's own
// sender. Remote redactions keep that "accepted, applied only if allowed"
// rule; a local client is told up front, as Synapse tells it.
import { forbidden, invalidParam, notFound } from "../errors/matrix-error.ts";
import type { RoomEvent } from "../protocol/events.ts";
import { parsePowerLevels, userPowerLevel } from "../protocol/power-levels.ts";
import type { RoomVersion } from "../protocol/room-versions.ts";
import type { Queryable } from "../storage/database.ts";
import { getEventsByIds, markRedacted, type StoredEvent } from "../storage/events.ts";

type StateLookup = (type: string, stateKey: string) => RoomEvent | undefined;

function hasRedactPower(sender: string, state: StateLookup, version: RoomVersion): boolean {
  const pl = parsePowerLevels(state("m.room.power_levels", "")?.content, version);
  return userPowerLevel(sender, pl, state("m.room.create", ""), version) >= pl.redact;
}

/**
 * A local client's redaction, before it is built: another room's event is
 * 400; a server ACL is 403 (Synapse: redacting it would lift the ACL); without
 * the redact level the target must exist (404) and be the sender's own (403).
 */
export async function checkLocalRedaction(q: Queryable, roomId: string, sender: string, targetId: string, state: StateLookup, version: RoomVersion): Promise<void> {
  const target = (await getEventsByIds(q, [targetId])).get(targetId);
  if (target && target.roomId !== roomId) throw invalidParam("Cannot redact an event from a different room");
  if (target?.type === "m.room.server_acl" && target.stateKey === "") throw forbidden("Redacting server ACL events is not permitted");
  if (hasRedactPower(sender, state, version)) return;
  if (!target || target.rejectedReason !== null) throw notFound(`Could not find event ${targetId}`);
  if (target.sender !== sender) throw forbidden("You don't have permission to redact events");
}

/** Marks the target redacted when the redaction is allowed to take effect. */
export async function applyRedaction(q: Queryable, redaction: RoomEvent, state: StateLookup, version: RoomVersion): Promise<void> {
  const target: StoredEvent | undefined = (await getEventsByIds(q, [redaction.redacts!])).get(redaction.redacts!);
  if (!target || target.roomId !== redaction.roomId) return;
  if (target.sender === redaction.sender || hasRedactPower(redaction.sender, state, version)) await markRedacted(q, target.eventId, redaction.eventId);
}
