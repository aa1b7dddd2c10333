// Membership event templates for remote users (make_join, make_leave,
// make_knock): built on our forward extremities and current state like a
// local event, left unsigned for the joining server to complete, and checked
// first so a refusal is a clear 403 rather than a rejected send_join later.
import { forbidden, MatrixError } from "../../server/errors/matrix-error.ts";
import { parsePdu } from "../../server/protocol/event-format.ts";
import { stateTuple } from "../../server/protocol/events.ts";
import { signEvent } from "../../server/protocol/hashes.ts";
import { serverNameOf } from "../../server/protocol/identifiers.ts";
import type { JsonObject } from "../../server/protocol/json.ts";
import { parsePowerLevels, userPowerLevel } from "../../server/protocol/power-levels.ts";
import type { RoomVersion } from "../../server/protocol/room-versions.ts";
import { authState, lookupIn } from "../../server/rooms/events/auth-state.ts";
import { checkNewEvent, eventBasis, unsignedEvent, type Signer } from "../../server/rooms/events/build-local.ts";
import type { Queryable } from "../../server/storage/database.ts";
import { membershipOf, roomMembers } from "../../server/storage/state.ts";

export type TemplateMembership = "join" | "leave" | "knock";

const joinRuleOf = (content: JsonObject | undefined): unknown => content?.join_rule;

/**
 * A local member who may invite, to vouch for a restricted join (spec
 * "Restricted rooms"), after checking the user belongs to an allowed room we know.
 */
async function restrictedAuthoriser(tx: Queryable, roomId: string, version: RoomVersion, userId: string, joinRules: JsonObject, serverName: string): Promise<string> {
  const allow = Array.isArray(joinRules.allow) ? joinRules.allow : [];
  let member = false;
  for (const condition of allow) {
    const allowedRoom = typeof condition === "object" && condition !== null && !Array.isArray(condition) ? (condition as JsonObject).room_id : undefined;
    if (typeof allowedRoom === "string" && (await membershipOf(tx, allowedRoom, userId))?.membership === "join") member = true;
  }
  if (!member) throw new MatrixError(400, "M_UNABLE_TO_AUTHORISE_JOIN", "This server cannot tell whether the user may join this restricted room");
  const state = await authState(tx, roomId, [
    ["m.room.power_levels", ""],
    ["m.room.create", ""],
  ]);
  const lookup = lookupIn(state);
  const pl = parsePowerLevels(lookup("m.room.power_levels", "")?.content, version);
  for (const candidate of await roomMembers(tx, roomId, "join")) {
    if (serverNameOf(candidate.userId) !== serverName) continue;
    if (userPowerLevel(candidate.userId, pl, lookup("m.room.create", ""), version) >= pl.invite) return candidate.userId;
  }
  throw new MatrixError(400, "M_UNABLE_TO_GRANT_JOIN", "No user of this server may invite to this room");
}

export async function membershipTemplate(
  tx: Queryable,
  signer: Signer,
  roomId: string,
  version: RoomVersion,
  userId: string,
  membership: TemplateMembership,
): Promise<JsonObject> {
  const content: JsonObject = { membership };
  if (membership === "join" && version.restrictedJoins) {
    const joinRules = (await authState(tx, roomId, [["m.room.join_rules", ""]])).get(stateTuple("m.room.join_rules", ""))?.content;
    const rule = joinRuleOf(joinRules);
    const current = (await membershipOf(tx, roomId, userId))?.membership;
    const restricted = rule === "restricted" || (version.knockRestricted && rule === "knock_restricted");
    if (restricted && current !== "invite" && current !== "join") {
      content.join_authorised_via_users_server = await restrictedAuthoriser(tx, roomId, version, userId, joinRules!, signer.serverName);
    }
  }
  const draft = { type: "m.room.member", stateKey: userId, sender: userId, content };
  const basis = await eventBasis(tx, roomId, version, draft);
  const template = unsignedEvent(roomId, version, draft, basis, Date.now(), signer.serverName);
  // Checked as if complete: our signature stands in for the joining server's, which the rules do not look at.
  try {
    checkNewEvent(parsePdu(signEvent(template, signer.serverName, signer.key, version), version), basis, version);
  } catch (err) {
    if (err instanceof MatrixError) throw forbidden(`The ${membership} would not be allowed: ${err.message}`);
    throw err;
  }
  return template;
}
