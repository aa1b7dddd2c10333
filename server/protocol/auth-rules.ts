// The authorisation rules of room versions 1–12 (https://spec.matrix.org/v1.19/rooms/).
// Split in two because the event pipeline checks an event against several
// sets of state: the state-independent part (the create event, the room id and
// the shape of `auth_events`) once, the state-dependent part against the auth
// events, the state before the event and the current state. State resolution's
// iterative auth checks use the state-dependent part only.
//
// Every denial names its rule with a stable dotted id, "<area>.<what failed>",
// e.g. "member.join.banned"; tests and logs rely on these ids.
import type { Buffer } from "node:buffer";
import { createPublicKey, verify } from "node:crypto";
import { authEventTypes, thirdPartyInviteToken } from "./auth-events-selection.ts";
import { decodeBase64 } from "./base64.ts";
import { canonicalJsonBytes } from "./canonical-json.ts";
import { type RoomEvent, stateTuple } from "./events.ts";
import { isValidUserId, serverNameOf as serverOf } from "./identifiers.ts";
import { isJsonObject, type JsonObject, type JsonValue } from "./json.ts";
import {
  POWER_LEVEL_SCALAR_KEYS,
  parsePowerLevelValue,
  parsePowerLevels,
  readLevel,
  readLevelMap,
  requiredPowerForEvent,
  roomCreators,
  userPowerLevel,
  type PowerLevels,
} from "./power-levels.ts";
import { getRoomVersion, type RoomVersion } from "./room-versions.ts";

export type AuthDecision = { allowed: true } | { allowed: false; rule: string; reason: string };

/** (type, stateKey) → the state event in force for auth (the auth events, or the state before the event). Must return the m.room.create event too, also in v12 where it is not an auth event. */
export type AuthStateLookup = (type: string, stateKey: string) => RoomEvent | undefined;

const ALLOW: AuthDecision = { allowed: true };

function deny(rule: string, reason: string): AuthDecision {
  return { allowed: false, rule, reason };
}

/**
 * The rules that need no room state: those about the create event itself, the
 * v12 room id ↔ create event link, and the shape of `auth_events`. `authEvents`
 * are the events `event.authEventIds` name. Two checks stay with the caller:
 * that no auth event was itself rejected, and (v12) that `createEvent`, the
 * event the room id names, was accepted.
 */
export function checkStateIndependentAuthRules(
  event: RoomEvent,
  authEvents: readonly RoomEvent[],
  version: RoomVersion,
  createEvent?: RoomEvent,
): AuthDecision {
  if (event.type === "m.room.create") return checkCreateEvent(event, version);

  if (version.roomIdFromCreateEvent) {
    const named =
      createEvent !== undefined &&
      createEvent.type === "m.room.create" &&
      createEvent.stateKey === "" &&
      createEvent.eventId.startsWith("$") &&
      `!${createEvent.eventId.slice(1)}` === event.roomId;
    if (!named) return deny("room_id.not_create_event", "room_id is not the id of the room's m.room.create event");
  }

  const byId = new Map(authEvents.map((e) => [e.eventId, e]));
  const cited: RoomEvent[] = [];
  for (const id of event.authEventIds) {
    const authEvent = byId.get(id);
    if (authEvent === undefined) return deny("auth_events.missing", `auth event ${id} was not supplied`);
    cited.push(authEvent);
  }

  const seen = new Set<string>();
  for (const authEvent of cited) {
    if (authEvent.stateKey === undefined) continue; // not a state entry; rejected as unexpected below
    const key = stateTuple(authEvent.type, authEvent.stateKey);
    if (seen.has(key)) {
      return deny("auth_events.duplicate", `auth_events cite ${authEvent.type}/${authEvent.stateKey} twice`);
    }
    seen.add(key);
  }

  const expected = new Set(authEventTypes(event, version).map(([type, stateKey]) => stateTuple(type, stateKey)));
  for (const authEvent of cited) {
    if (authEvent.stateKey === undefined || !expected.has(stateTuple(authEvent.type, authEvent.stateKey))) {
      return deny(
        "auth_events.unexpected",
        `auth event ${authEvent.eventId} (${authEvent.type}/${authEvent.stateKey ?? "no state key"}) is not selected for this event`,
      );
    }
  }

  if (!version.roomIdFromCreateEvent && !seen.has(stateTuple("m.room.create", ""))) {
    return deny("auth_events.no_create", "auth_events do not include the m.room.create event");
  }

  for (const authEvent of cited) {
    if (authEvent.roomId !== event.roomId) {
      return deny("auth_events.wrong_room", `auth event ${authEvent.eventId} belongs to ${authEvent.roomId}`);
    }
  }
  return ALLOW;
}

/**
 * The state-dependent rules: everything after the `auth_events` checks. The
 * create event is judged by its own rules, which need no state.
 */
export function checkAuthRules(event: RoomEvent, state: AuthStateLookup, version: RoomVersion): AuthDecision {
  if (event.type === "m.room.create") return checkCreateEvent(event, version);

  const create = state("m.room.create", "");
  if (create === undefined) return deny("state.no_create", "the room state has no m.room.create event");

  if (create.content["m.federate"] === false && serverOf(event.sender) !== serverOf(create.sender)) {
    return deny("create.federate", "the room does not federate and the sender is on another server");
  }

  if (version.specialCaseAliasesAuth && event.type === "m.room.aliases") {
    if (event.stateKey === undefined) return deny("aliases.no_state_key", "m.room.aliases needs a state_key");
    if (event.stateKey !== serverOf(event.sender)) {
      return deny("aliases.server_mismatch", "m.room.aliases state_key must be the sender's server");
    }
    return ALLOW;
  }

  const ctx = new AuthContext(state, version, create);

  if (event.type === "m.room.member") return checkMembership(event, ctx);

  if (ctx.membership(event.sender) !== "join") return deny("sender.not_joined", `${event.sender} is not joined`);

  const senderPower = ctx.power(event.sender);

  if (event.type === "m.room.third_party_invite") {
    return senderPower >= ctx.pl.invite
      ? ALLOW
      : deny("third_party_invite.power", "sender's power level is below the invite level");
  }

  const required = requiredPowerForEvent(event.type, event.stateKey, ctx.pl);
  if (required > senderPower) {
    return deny("event.power", `sending ${event.type} needs power level ${required}, sender has ${senderPower}`);
  }

  if (event.stateKey?.startsWith("@") && event.stateKey !== event.sender) {
    return deny("event.state_key_user", "a state_key starting with @ must be the sender's user id");
  }

  if (event.type === "m.room.power_levels") return checkPowerLevels(event, ctx, senderPower);

  // v1–v2 only: event ids there carry a server name. v3 dropped the rule, and
  // the redact level is applied when handling the redaction instead.
  if (event.type === "m.room.redaction" && version.eventFormat === "v1") {
    if (senderPower >= ctx.pl.redact) return ALLOW;
    const target = event.redacts === undefined ? undefined : serverOf(event.redacts);
    if (target !== undefined && target === serverOf(event.eventId)) return ALLOW;
    return deny("redaction.power", "below the redact level and redacting an event from another server");
  }

  return ALLOW;
}

// ---------------------------------------------------------------- create event

function checkCreateEvent(event: RoomEvent, version: RoomVersion): AuthDecision {
  if (event.prevEventIds.length > 0) return deny("create.prev_events", "m.room.create must not have prev_events");

  if (version.roomIdFromCreateEvent) {
    if (Object.hasOwn(event.pdu, "room_id")) return deny("create.room_id", "a v12 m.room.create has no room_id");
  } else if (serverOf(event.roomId) === undefined || serverOf(event.roomId) !== serverOf(event.sender)) {
    return deny("create.room_id", "room_id's server is not the sender's server");
  }

  if (Object.hasOwn(event.content, "room_version")) {
    const roomVersion = event.content.room_version;
    if (typeof roomVersion !== "string" || getRoomVersion(roomVersion) === undefined) {
      return deny("create.room_version", `unknown room_version ${JSON.stringify(roomVersion)}`);
    }
  }

  if (version.privilegedCreators && Object.hasOwn(event.content, "additional_creators")) {
    const extra = event.content.additional_creators;
    if (!Array.isArray(extra) || !extra.every((id) => typeof id === "string" && isValidUserId(id))) {
      return deny("create.additional_creators", "additional_creators must be an array of user ids");
    }
  }

  if (!version.implicitRoomCreator && !Object.hasOwn(event.content, "creator")) {
    return deny("create.creator", "m.room.create content has no creator");
  }
  return ALLOW;
}

// ------------------------------------------------------------------ membership

/** State accessors shared by the state-dependent rules. */
class AuthContext {
  readonly state: AuthStateLookup;
  readonly version: RoomVersion;
  readonly create: RoomEvent;
  readonly pl: PowerLevels;
  readonly joinRule: string | undefined;

  constructor(state: AuthStateLookup, version: RoomVersion, create: RoomEvent) {
    this.state = state;
    this.version = version;
    this.create = create;
    this.pl = parsePowerLevels(state("m.room.power_levels", "")?.content, version);
    // No join rule at all reads as "invite" (as Synapse does): nobody joins uninvited.
    const joinRules = state("m.room.join_rules", "")?.content;
    const rule = joinRules === undefined || !Object.hasOwn(joinRules, "join_rule") ? "invite" : joinRules.join_rule;
    this.joinRule = typeof rule === "string" ? rule : undefined;
  }

  membership(userId: string): string | undefined {
    const value = this.state("m.room.member", userId)?.content.membership;
    return typeof value === "string" ? value : undefined;
  }

  power(userId: string): number {
    return userPowerLevel(userId, this.pl, this.create, this.version);
  }
}

function checkMembership(event: RoomEvent, ctx: AuthContext): AuthDecision {
  const target = event.stateKey;
  if (target === undefined) return deny("member.no_state_key", "m.room.member needs a state_key");
  if (!Object.hasOwn(event.content, "membership")) return deny("member.no_membership", "content has no membership");

  // v8+: the authorising server must have signed the event. Only the presence of
  // its signature is checked here; the event pipeline verifies every signature
  // an event carries cryptographically before auth runs.
  if (ctx.version.restrictedJoins && Object.hasOwn(event.content, "join_authorised_via_users_server")) {
    const authoriser = event.content.join_authorised_via_users_server;
    const server = typeof authoriser === "string" ? serverOf(authoriser) : undefined;
    if (server === undefined || !hasSignatureFrom(event.pdu, server)) {
      return deny("member.authoriser_signature", "not signed by the server of join_authorised_via_users_server");
    }
  }

  switch (event.content.membership) {
    case "join":
      return checkJoin(event, target, ctx);
    case "invite":
      return checkInvite(event, target, ctx);
    case "leave":
      return checkLeave(event, target, ctx);
    case "ban":
      return checkBan(event, target, ctx);
    case "knock":
      if (ctx.version.knocking) return checkKnock(event, target, ctx);
      break;
  }
  return deny("member.unknown_membership", `unknown membership ${JSON.stringify(event.content.membership)}`);
}

function checkJoin(event: RoomEvent, target: string, ctx: AuthContext): AuthDecision {
  // The creator's own first join, straight after the create event. From v11
  // the creator is the create event's sender (in v12 not the additional creators).
  const creator = ctx.version.implicitRoomCreator ? ctx.create.sender : ctx.create.content.creator;
  if (event.prevEventIds.length === 1 && event.prevEventIds[0] === ctx.create.eventId && target === creator) {
    return ALLOW;
  }
  if (event.sender !== target) return deny("member.join.sender_not_target", "cannot join on behalf of another user");

  const current = ctx.membership(target);
  if (current === "ban") return deny("member.join.banned", `${target} is banned`);

  const rule = ctx.joinRule;
  const invited = current === "invite" || current === "join";
  if (rule === "invite" || (ctx.version.knocking && rule === "knock")) {
    return invited ? ALLOW : deny("member.join.not_invited", `join rule is ${rule} and ${target} is not invited`);
  }
  if ((ctx.version.restrictedJoins && rule === "restricted") || (ctx.version.knockRestricted && rule === "knock_restricted")) {
    if (invited) return ALLOW;
    const authoriser = event.content.join_authorised_via_users_server;
    if (typeof authoriser !== "string") {
      return deny("member.join.restricted_no_authoriser", "restricted join without join_authorised_via_users_server");
    }
    if (ctx.membership(authoriser) !== "join") {
      return deny("member.join.restricted_authoriser_not_joined", `authoriser ${authoriser} is not joined`);
    }
    if (ctx.power(authoriser) < ctx.pl.invite) {
      return deny("member.join.restricted_authoriser_power", `authoriser ${authoriser} may not invite`);
    }
    return ALLOW;
  }
  if (rule === "public") return ALLOW;
  return deny("member.join.join_rule", `join rule ${JSON.stringify(rule ?? null)} does not allow joining`);
}

function checkInvite(event: RoomEvent, target: string, ctx: AuthContext): AuthDecision {
  const targetMembership = ctx.membership(target);
  if (Object.hasOwn(event.content, "third_party_invite")) {
    if (targetMembership === "ban") return deny("member.invite.tpi_target_banned", `${target} is banned`);
    const tpi = event.content.third_party_invite;
    const signed = isJsonObject(tpi) ? tpi.signed : undefined;
    if (!isJsonObject(signed)) return deny("member.invite.tpi_no_signed", "third_party_invite has no signed object");
    const token = thirdPartyInviteToken(event.content);
    if (typeof signed.mxid !== "string" || token === undefined) {
      return deny("member.invite.tpi_signed_fields", "signed needs string mxid and token");
    }
    if (signed.mxid !== target) return deny("member.invite.tpi_mxid", "signed.mxid is not the invited user");
    const inviteEvent = ctx.state("m.room.third_party_invite", token);
    if (inviteEvent === undefined) {
      return deny("member.invite.tpi_no_invite_event", "no m.room.third_party_invite with that token");
    }
    if (inviteEvent.sender !== event.sender) {
      return deny("member.invite.tpi_sender", "sender did not send the m.room.third_party_invite");
    }
    return signedByAnyKey(signed, thirdPartyInvitePublicKeys(inviteEvent.content))
      ? ALLOW
      : deny("member.invite.tpi_signature", "signed is not signed by any of the invite's public keys");
  }
  if (ctx.membership(event.sender) !== "join") return deny("member.invite.sender_not_joined", "inviter is not joined");
  if (targetMembership === "join" || targetMembership === "ban") {
    return deny("member.invite.target_state", `${target} is already ${targetMembership}`);
  }
  return ctx.power(event.sender) >= ctx.pl.invite
    ? ALLOW
    : deny("member.invite.power", "sender's power level is below the invite level");
}

function checkLeave(event: RoomEvent, target: string, ctx: AuthContext): AuthDecision {
  const targetMembership = ctx.membership(target);
  if (event.sender === target) {
    const mayLeave =
      targetMembership === "invite" || targetMembership === "join" || (ctx.version.knocking && targetMembership === "knock");
    return mayLeave ? ALLOW : deny("member.leave.not_member", `${target} has nothing to leave (${targetMembership ?? "none"})`);
  }
  if (ctx.membership(event.sender) !== "join") return deny("member.leave.sender_not_joined", "kicker is not joined");
  const senderPower = ctx.power(event.sender);
  if (targetMembership === "ban" && senderPower < ctx.pl.ban) {
    return deny("member.leave.unban_power", "unbanning needs the ban level");
  }
  if (senderPower >= ctx.pl.kick && ctx.power(target) < senderPower) return ALLOW;
  return deny("member.leave.kick_power", "kicking needs the kick level and more power than the target");
}

function checkBan(event: RoomEvent, target: string, ctx: AuthContext): AuthDecision {
  if (ctx.membership(event.sender) !== "join") return deny("member.ban.sender_not_joined", "banner is not joined");
  const senderPower = ctx.power(event.sender);
  if (senderPower >= ctx.pl.ban && ctx.power(target) < senderPower) return ALLOW;
  return deny("member.ban.power", "banning needs the ban level and more power than the target");
}

function checkKnock(event: RoomEvent, target: string, ctx: AuthContext): AuthDecision {
  const rule = ctx.joinRule;
  if (!(rule === "knock" || (ctx.version.knockRestricted && rule === "knock_restricted"))) {
    return deny("member.knock.join_rule", `join rule ${JSON.stringify(rule ?? null)} does not allow knocking`);
  }
  if (event.sender !== target) return deny("member.knock.sender_not_target", "cannot knock on behalf of another user");
  const current = ctx.membership(target);
  if (current === "ban" || current === "invite" || current === "join") {
    return deny("member.knock.membership", `${target} is already ${current}`);
  }
  return ALLOW;
}

// ---------------------------------------------------------------- power levels

function checkPowerLevels(event: RoomEvent, ctx: AuthContext, senderPower: number): AuthDecision {
  const { version } = ctx;
  const content = event.content;

  // Shape. v10+ spells the integer requirement out; before v10 only `users` is
  // checked by the spec, but an unreadable level elsewhere (neither a number
  // nor an integer string) is rejected too, as there is no level to compare.
  const shapeRule = version.integerPowerLevels ? "power_levels.not_integer" : "power_levels.invalid_value";
  for (const key of POWER_LEVEL_SCALAR_KEYS) {
    if (Object.hasOwn(content, key) && parsePowerLevelValue(content[key], version) === null) {
      return deny(shapeRule, `${key} is not a power level`);
    }
  }
  for (const key of ["events", "notifications"]) {
    if (Object.hasOwn(content, key) && !isLevelMap(content[key], version)) {
      return deny(shapeRule, `${key} is not an object of power levels`);
    }
  }
  if (Object.hasOwn(content, "users")) {
    const users = content.users;
    if (!isJsonObject(users)) return deny("power_levels.users", "users is not an object");
    for (const [userId, level] of Object.entries(users)) {
      if (!isValidUserId(userId)) return deny("power_levels.users", `${JSON.stringify(userId)} is not a user id`);
      if (parsePowerLevelValue(level, version) === null) return deny("power_levels.users", `level of ${userId} is not an integer`);
    }
    if (version.privilegedCreators) {
      for (const creator of roomCreators(ctx.create, version)) {
        if (Object.hasOwn(users, creator)) return deny("power_levels.creator_in_users", `creator ${creator} is listed in users`);
      }
    }
  }

  const previous = ctx.state("m.room.power_levels", "");
  if (previous === undefined) return ALLOW;
  const before = previous.content;

  for (const key of POWER_LEVEL_SCALAR_KEYS) {
    const problem = levelChangeProblem(readLevel(before, key, version), readLevel(content, key, version), senderPower);
    if (problem) return deny("power_levels.scalar", `cannot change ${key}: ${problem}`);
  }

  const maps = version.limitNotificationsPowerLevels ? ["events", "notifications"] : ["events"];
  for (const map of maps) {
    const old = readLevelMap(before, map, version);
    const updated = readLevelMap(content, map, version);
    for (const key of new Set([...old.keys(), ...updated.keys()])) {
      const problem = levelChangeProblem(old.get(key), updated.get(key), senderPower);
      if (problem) return deny(`power_levels.${map}`, `cannot change ${map}.${key}: ${problem}`);
    }
  }

  const oldUsers = readLevelMap(before, "users", version);
  const newUsers = readLevelMap(content, "users", version);
  for (const userId of new Set([...oldUsers.keys(), ...newUsers.keys()])) {
    const old = oldUsers.get(userId);
    const updated = newUsers.get(userId);
    if (old === updated) continue;
    // Users can always lower themselves, but not peers at their own level.
    if (userId !== event.sender && old !== undefined && old >= senderPower) {
      return deny("power_levels.users_current", `cannot change ${userId}, whose level ${old} is not below the sender's`);
    }
    if (updated !== undefined && updated > senderPower) {
      return deny("power_levels.users_new", `cannot give ${userId} level ${updated}, above the sender's`);
    }
  }
  return ALLOW;
}

/** Whether an added, changed or removed level touches one above the sender's. */
function levelChangeProblem(old: number | undefined, updated: number | undefined, senderPower: number): string | undefined {
  if (old === updated) return undefined;
  if (old !== undefined && old > senderPower) return `current value ${old} is above the sender's level`;
  if (updated !== undefined && updated > senderPower) return `new value ${updated} is above the sender's level`;
  return undefined;
}

function isLevelMap(value: JsonValue | undefined, version: RoomVersion): boolean {
  return isJsonObject(value) && Object.values(value).every((level) => parsePowerLevelValue(level, version) !== null);
}

// ------------------------------------------------------- third-party invites

function thirdPartyInvitePublicKeys(content: JsonObject): string[] {
  const keys: string[] = [];
  if (typeof content.public_key === "string") keys.push(content.public_key);
  if (Array.isArray(content.public_keys)) {
    for (const entry of content.public_keys) {
      if (isJsonObject(entry) && typeof entry.public_key === "string") keys.push(entry.public_key);
    }
  }
  return keys;
}

/** True when any ed25519 signature in `signed.signatures` verifies under any of the keys. */
function signedByAnyKey(signed: JsonObject, publicKeys: readonly string[]): boolean {
  const signatures = signed.signatures;
  if (!isJsonObject(signatures)) return false;
  // The signed bytes are the canonical JSON of `signed` without `signatures` and `unsigned`.
  const { signatures: _signatures, unsigned: _unsigned, ...payload } = signed;
  let message: Buffer;
  try {
    message = canonicalJsonBytes(payload);
  } catch {
    return false; // e.g. a lone surrogate: no signature can cover it
  }
  for (const publicKey of publicKeys) {
    const key = ed25519Key(publicKey);
    if (key === undefined) continue;
    for (const byServer of Object.values(signatures)) {
      if (!isJsonObject(byServer)) continue;
      for (const [keyId, signature] of Object.entries(byServer)) {
        if (!keyId.startsWith("ed25519:") || typeof signature !== "string") continue;
        const bytes = decodeOrUndefined(signature);
        if (bytes?.length === 64 && verify(null, message, key, bytes)) return true;
      }
    }
  }
  return false;
}

function ed25519Key(publicKey: string): ReturnType<typeof createPublicKey> | undefined {
  const raw = decodeOrUndefined(publicKey);
  if (raw?.length !== 32) return undefined;
  return createPublicKey({ key: { kty: "OKP", crv: "Ed25519", x: raw.toString("base64url") }, format: "jwk" });
}

function decodeOrUndefined(text: string): Buffer | undefined {
  try {
    return decodeBase64(text);
  } catch {
    return undefined;
  }
}

// ------------------------------------------------------------------- helpers

function hasSignatureFrom(pdu: JsonObject, server: string): boolean {
  const signatures = pdu.signatures;
  if (!isJsonObject(signatures) || !Object.hasOwn(signatures, server)) return false;
  const byServer = signatures[server];
  return isJsonObject(byServer) && Object.keys(byServer).length > 0;
}
