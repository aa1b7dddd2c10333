// Room creation (spec: POST /createRoom, "Creation"): the create event, the
// creator's join, power levels, preset state, initial state, name, topic and
// invites, all in one transaction so a half-created room is never visible.
import { randomBytes } from "node:crypto";
import { badJson, MatrixError } from "../errors/matrix-error.ts";
import { ProtocolError } from "../protocol/errors.ts";
import { parsePdu, toWirePdu } from "../protocol/event-format.ts";
import { signEvent } from "../protocol/hashes.ts";
import { isValidUserId, serverNameOf } from "../protocol/identifiers.ts";
import { isJsonObject, type JsonObject } from "../protocol/json.ts";
import { DEFAULT_ROOM_VERSION, getRoomVersion, type RoomVersion } from "../protocol/room-versions.ts";
import { insertAlias } from "../storage/aliases.ts";
import { insertRoom } from "../storage/state.ts";
import { persistCreateEvent, type EventDraft, type Signer } from "./events/build-local.ts";
import type { RoomService, RoomWrite } from "./room-service.ts";

export type Preset = "private_chat" | "public_chat" | "trusted_private_chat";

export interface CreateRoomRequest {
  creator: string;
  creatorProfile: { displayname: string | null; avatarUrl: string | null };
  preset?: Preset;
  visibility: "public" | "private";
  name?: string;
  topic?: string;
  aliasLocalpart?: string;
  initialState: Array<{ type: string; state_key: string; content: JsonObject }>;
  invite: string[];
  /**
   * Leave other servers' invitees out of the creation: their invites need
   * their server's countersignature, which the caller gets once the room
   * exists (they still count for trusted_private_chat's power levels).
   */
  deferRemoteInvites?: boolean;
  isDirect: boolean;
  roomVersion?: string;
  creationContent?: JsonObject;
  powerLevelOverride?: JsonObject;
  /** A room ID chosen beforehand (versions before 12): an upgrade names the new room in its tombstone first. */
  roomId?: string;
  /** Power levels used as they are instead of the defaults (an upgrade copies the old room's). */
  powerLevelContent?: JsonObject;
}

export interface CreateRoomDeps {
  signer: Signer;
  rooms: RoomService;
}

function defaultPowerLevels(req: CreateRoomRequest, version: RoomVersion, preset: Preset): JsonObject {
  const users: JsonObject = {};
  // v12: creators have infinite power and must not be listed (auth rule).
  if (!version.privilegedCreators) users[req.creator] = 100;
  if (preset === "trusted_private_chat") for (const invitee of req.invite) users[invitee] = 100;
  return {
    users,
    users_default: 0,
    events: {
      "m.room.name": 50,
      "m.room.power_levels": 100,
      "m.room.history_visibility": 100,
      "m.room.canonical_alias": 50,
      "m.room.avatar": 50,
      "m.room.tombstone": 100,
      "m.room.server_acl": 100,
      "m.room.encryption": 100,
    },
    events_default: 0,
    state_default: 50,
    ban: 50,
    kick: 50,
    redact: 50,
    invite: preset === "public_chat" ? 50 : 0,
    notifications: { room: 50 },
  };
}

export async function createRoom(deps: CreateRoomDeps, req: CreateRoomRequest): Promise<{ roomId: string; position: number }> {
  const { value, committed } = await deps.rooms.write((w) => buildRoom(w, deps.signer, req));
  return { roomId: value.roomId, position: committed[0]?.position ?? 0 };
}

export interface BuiltRoom {
  roomId: string;
  version: RoomVersion;
}

/**
 * Writes a new room's events as part of the caller's write, so an upgrade
 * can create the new room and tombstone the old one atomically.
 */
export async function buildRoom(w: RoomWrite, signer: Signer, req: CreateRoomRequest): Promise<BuiltRoom> {
  const now = w.now;
  const versionId = req.roomVersion ?? DEFAULT_ROOM_VERSION;
  const version = getRoomVersion(versionId);
  if (!version) throw new MatrixError(400, "M_UNSUPPORTED_ROOM_VERSION", `Room version ${versionId} is not supported`);
  const preset: Preset = req.preset ?? (req.visibility === "public" ? "public_chat" : "private_chat");
  for (const invitee of req.invite) if (!isValidUserId(invitee)) throw new MatrixError(400, "M_INVALID_PARAM", `Invalid user ID ${invitee}`);
  const serverName = signer.serverName;
  const alias = req.aliasLocalpart === undefined ? undefined : `#${req.aliasLocalpart}:${serverName}`;
  if (alias !== undefined && (req.aliasLocalpart === "" || /[:\s#]/.test(req.aliasLocalpart!) || Buffer.byteLength(alias) > 255)) {
    throw new MatrixError(400, "M_INVALID_PARAM", "Invalid room_alias_name");
  }

  const createContent: JsonObject = { ...(req.creationContent ?? {}), room_version: version.id };
  if (!version.implicitRoomCreator) createContent.creator = req.creator;
  else delete createContent.creator;

  let createPdu: JsonObject;
  let roomId: string;
  try {
    const provisionalId = version.roomIdFromCreateEvent ? undefined : (req.roomId ?? `!${randomBytes(12).toString("base64url").replace(/[-_]/g, "x")}:${serverName}`);
    const wire = toWirePdu(
      {
        ...(provisionalId ? { roomId: provisionalId } : {}),
        sender: req.creator,
        type: "m.room.create",
        stateKey: "",
        content: createContent,
        originServerTs: now,
        depth: 1,
        prevEventIds: [],
        authEventIds: [],
        ...(version.eventFormat === "v1" ? { eventId: `$${randomBytes(12).toString("hex")}:${serverName}` } : {}),
      },
      version,
    );
    createPdu = signEvent(wire, serverName, signer.key, version);
    roomId = parsePdu(createPdu, version).roomId;
  } catch (err) {
    if (err instanceof ProtocolError) throw badJson(`creation_content: ${err.message}`);
    throw err;
  }
  await insertRoom(w.tx, { roomId, version: version.id, creator: req.creator, isPublic: req.visibility === "public", now });
  await w.lock(roomId);
  w.record(roomId, version, await persistCreateEvent(w.tx, parsePdu(createPdu, version), version));
  const add = async (draft: EventDraft) => {
    await w.appendLocal(roomId, version, draft);
  };

  const member: JsonObject = { membership: "join" };
  if (req.creatorProfile.displayname !== null) member.displayname = req.creatorProfile.displayname;
  if (req.creatorProfile.avatarUrl !== null) member.avatar_url = req.creatorProfile.avatarUrl;
  await add({ type: "m.room.member", stateKey: req.creator, sender: req.creator, content: member });

  const powerLevels = req.powerLevelContent ?? { ...defaultPowerLevels(req, version, preset), ...(req.powerLevelOverride ?? {}) };
  await add({ type: "m.room.power_levels", stateKey: "", sender: req.creator, content: powerLevels });

  if (alias !== undefined) {
    if (!(await insertAlias(w.tx, alias, roomId, req.creator))) throw new MatrixError(400, "M_ROOM_IN_USE", "Room alias already taken");
    await add({ type: "m.room.canonical_alias", stateKey: "", sender: req.creator, content: { alias } });
  }

  const presetState: Array<[string, JsonObject]> = [
    ["m.room.join_rules", { join_rule: preset === "public_chat" ? "public" : "invite" }],
    ["m.room.history_visibility", { history_visibility: "shared" }],
  ];
  if (preset !== "public_chat") presetState.push(["m.room.guest_access", { guest_access: "can_join" }]);
  const initialKeys = new Set(req.initialState.map((e) => `${e.type}\u0000${e.state_key}`));
  for (const [type, content] of presetState) {
    if (!initialKeys.has(`${type}\u0000`)) await add({ type, stateKey: "", sender: req.creator, content });
  }
  for (const event of req.initialState) {
    if (!isJsonObject(event.content)) throw new MatrixError(400, "M_INVALID_ROOM_STATE", "initial_state content must be an object");
    await add({ type: event.type, stateKey: event.state_key, sender: req.creator, content: event.content });
  }
  if (req.name !== undefined) await add({ type: "m.room.name", stateKey: "", sender: req.creator, content: { name: req.name } });
  if (req.topic !== undefined) await add({ type: "m.room.topic", stateKey: "", sender: req.creator, content: { topic: req.topic } });
  for (const invitee of req.invite) {
    if (req.deferRemoteInvites && serverNameOf(invitee) !== serverName) continue;
    const content: JsonObject = { membership: "invite" };
    if (req.isDirect) content.is_direct = true;
    await add({ type: "m.room.member", stateKey: invitee, sender: req.creator, content });
  }
  return { roomId, version };
}
