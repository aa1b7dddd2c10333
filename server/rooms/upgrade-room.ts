// Room upgrades (spec: "Room Upgrades", server behaviour), in one transaction
// so a failure leaves neither a half-built room nor a tombstone pointing
// nowhere. Follows Synapse where the spec leaves room: which state is copied,
// bans carried over, the upgrader's power raised while copying and restored
// after, and the old room's invite and events_default raised to stop chatter.
import { randomBytes } from "node:crypto";
import { forbidden, MatrixError, notFound } from "../errors/matrix-error.ts";
import { stateTuple } from "../protocol/events.ts";
import { isValidUserId, serverNameOf } from "../protocol/identifiers.ts";
import { isJsonObject, type JsonObject } from "../protocol/json.ts";
import {
  CREATOR_DEFAULT_LEVEL,
  parsePowerLevels,
  parsePowerLevelValue,
  POWER_LEVEL_SCALAR_KEYS,
  requiredPowerForEvent,
  userPowerLevel,
} from "../protocol/power-levels.ts";
import { redactEvent } from "../protocol/redaction.ts";
import { getRoomVersion, type RoomVersion } from "../protocol/room-versions.ts";
import { getProfile } from "../storage/accounts.ts";
import { moveAliases } from "../storage/aliases.ts";
import type { Database } from "../storage/database.ts";
import { getEventsByNids, type StoredEvent } from "../storage/events.ts";
import { isRoomPublished, setRoomPublished, spaceChildEventNids } from "../storage/public-rooms.ts";
import { getRoomVersionId, membershipOf, roomMembers } from "../storage/state.ts";
import { buildRoom } from "./create-room.ts";
import { authState } from "./events/auth-state.ts";
import type { EventDraft, Signer } from "./events/build-local.ts";
import type { RoomService, RoomWrite } from "./room-service.ts";
import { currentStateEvents } from "./room-state.ts";
import { pduOf } from "./stored-event.ts";

export interface UpgradeRoomDeps {
  db: Database;
  signer: Signer;
  rooms: RoomService;
}

export interface UpgradeRoomRequest {
  roomId: string;
  userId: string;
  newVersion: string;
  /** v12+: creators besides the upgrader; not carried over from the old room (spec). */
  additionalCreators?: string[];
}

/** State copied to the new room: the spec's recommended list, as Synapse copies it. */
const COPIED_STATE = [
  "m.room.join_rules",
  "m.room.name",
  "m.room.topic",
  "m.room.history_visibility",
  "m.room.guest_access",
  "m.room.avatar",
  "m.room.encryption",
  "m.room.server_acl",
] as const;

const TOMBSTONE_BODY = "This room has been replaced";

/** Content as clients see it: a redacted event keeps only what redaction keeps. */
function contentOf(event: StoredEvent, version: RoomVersion): JsonObject {
  const pdu = event.redactedBy === null ? pduOf(event) : redactEvent(pduOf(event), version);
  return (pdu.content ?? {}) as JsonObject;
}

/**
 * Power levels readable by any version: levels the old version accepted as
 * strings or floats become integers (v10+ accepts only integers); values no
 * version reads are dropped.
 */
export function normalisePowerLevels(content: JsonObject, version: RoomVersion): JsonObject {
  const out: JsonObject = { ...content };
  for (const key of POWER_LEVEL_SCALAR_KEYS) {
    if (!Object.hasOwn(content, key)) continue;
    const level = parsePowerLevelValue(content[key], version);
    if (level === null) delete out[key];
    else out[key] = level;
  }
  for (const key of ["users", "events", "notifications"]) {
    const map = content[key];
    if (!Object.hasOwn(content, key)) continue;
    if (!isJsonObject(map)) {
      delete out[key];
      continue;
    }
    const levels: JsonObject = {};
    for (const [name, value] of Object.entries(map)) {
      const level = parsePowerLevelValue(value, version);
      if (level !== null) levels[name] = level;
    }
    out[key] = levels;
  }
  return out;
}

/** The level Synapse gives the upgrader while copying: enough for any state and for bans. */
function levelNeededToCopy(pl: JsonObject): number {
  const events = isJsonObject(pl.events) ? Object.values(pl.events).filter((v): v is number => typeof v === "number") : [];
  const num = (v: unknown, fallback: number) => (typeof v === "number" ? v : fallback);
  return Math.max(num(pl.state_default, 50), num(pl.ban, 50), ...events, 0);
}

/** A user's level in (normalised) power level content. */
function levelOf(pl: JsonObject, userId: string): number {
  const users = isJsonObject(pl.users) ? pl.users : {};
  const own = users[userId];
  if (typeof own === "number") return own;
  return typeof pl.users_default === "number" ? pl.users_default : 0;
}

function withoutUsers(pl: JsonObject, userIds: readonly string[]): JsonObject {
  if (!isJsonObject(pl.users)) return pl;
  const users = { ...pl.users };
  for (const id of userIds) delete users[id];
  return { ...pl, users };
}

/** Appends an event the upgrade can do without (as Synapse only logs these failures): a refusal skips it. */
async function tryAppend(w: RoomWrite, roomId: string, version: RoomVersion, draft: EventDraft): Promise<void> {
  try {
    await w.appendLocal(roomId, version, draft);
  } catch (err) {
    // Auth refusals happen before anything is written, so the transaction stays usable.
    if (!(err instanceof MatrixError && err.status === 403)) throw err;
  }
}

/** Upgrades `roomId` and returns the replacement room's ID. */
export async function upgradeRoom(deps: UpgradeRoomDeps, req: UpgradeRoomRequest): Promise<string> {
  const { db, signer, rooms } = deps;
  const newVersion = getRoomVersion(req.newVersion);
  if (!newVersion) throw new MatrixError(400, "M_UNSUPPORTED_ROOM_VERSION", `Room version ${req.newVersion} is not supported`);
  const additionalCreators = newVersion.privilegedCreators ? (req.additionalCreators ?? []) : [];
  for (const id of additionalCreators) if (!isValidUserId(id)) throw new MatrixError(400, "M_INVALID_PARAM", `Invalid user ID ${id}`);
  if ((await getRoomVersionId(db, req.roomId)) === undefined) throw notFound(`Unknown room ${req.roomId}`);
  const profile = (await getProfile(db, req.userId)) ?? { displayname: null, avatarUrl: null };
  const upgrader = req.userId;

  const { value: newRoomId } = await rooms.write(async (w) => {
    const tx = w.tx;
    await w.lock(req.roomId);
    const oldVersion = await rooms.roomVersion(tx, req.roomId);
    if ((await membershipOf(tx, req.roomId, upgrader))?.membership !== "join") throw forbidden("You are not in the room");

    // Early, clear refusal; the tombstone's own auth check below stays the authority.
    const auth = await authState(tx, req.roomId, [
      ["m.room.power_levels", ""],
      ["m.room.create", ""],
    ]);
    const oldPl = parsePowerLevels(auth.get(stateTuple("m.room.power_levels", ""))?.content, oldVersion);
    const upgraderLevel = userPowerLevel(upgrader, oldPl, auth.get(stateTuple("m.room.create", "")), oldVersion);
    if (upgraderLevel < requiredPowerForEvent("m.room.tombstone", "", oldPl)) {
      throw forbidden("You do not have the power to upgrade this room");
    }

    const keys = [...COPIED_STATE, "m.room.create", "m.room.power_levels", "m.room.canonical_alias"].map((t) => [t, ""] as const);
    const oldState = new Map((await currentStateEvents(tx, req.roomId, keys)).map((e) => [e.type, e]));
    const oldCreate = contentOf(oldState.get("m.room.create")!, oldVersion);

    const creationContent: JsonObject = { predecessor: { room_id: req.roomId } };
    if (typeof oldCreate.type === "string") creationContent.type = oldCreate.type;
    if (oldCreate["m.federate"] === false) creationContent["m.federate"] = false;
    if (newVersion.privilegedCreators && req.additionalCreators !== undefined) creationContent.additional_creators = additionalCreators;

    // Power levels: copied, with the upgrader raised to copy every state
    // event and restored afterwards; v12 creators have infinite power and may
    // not be listed. A v12 creator moving to an older version keeps 100.
    const oldPlEvent = oldState.get("m.room.power_levels");
    const copiedPl = oldPlEvent ? normalisePowerLevels(contentOf(oldPlEvent, oldVersion), oldVersion) : undefined;
    let finalPl = copiedPl;
    let initialPl = finalPl;
    if (finalPl && newVersion.privilegedCreators) {
      finalPl = initialPl = withoutUsers(finalPl, [upgrader, ...additionalCreators]);
    } else if (finalPl) {
      const users = isJsonObject(finalPl.users) ? finalPl.users : {};
      if (upgraderLevel === Infinity) finalPl = { ...finalPl, users: { ...users, [upgrader]: CREATOR_DEFAULT_LEVEL } };
      const level = levelOf(finalPl, upgrader);
      const needed = levelNeededToCopy(finalPl);
      initialPl = level < needed ? { ...finalPl, users: { ...(finalPl.users as JsonObject), [upgrader]: needed } } : finalPl;
    }

    const initialState: Array<{ type: string; state_key: string; content: JsonObject }> = [];
    for (const type of COPIED_STATE) {
      const event = oldState.get(type);
      if (event) initialState.push({ type, state_key: "", content: contentOf(event, oldVersion) });
    }
    // A room without join rules is invite-only; say so, so no preset opens it.
    if (!oldState.has("m.room.join_rules")) initialState.unshift({ type: "m.room.join_rules", state_key: "", content: { join_rule: "invite" } });
    if (oldCreate.type === "m.space") {
      const children = await getEventsByNids(tx, await spaceChildEventNids(tx, req.roomId));
      for (const child of children.values()) {
        const content = contentOf(child, oldVersion);
        // An emptied child event means the room left the space.
        if (Object.keys(content).length > 0) initialState.push({ type: "m.space.child", state_key: child.stateKey!, content });
      }
    }

    const tombstone = async (replacement: string) => {
      const appended = await w.appendLocal(req.roomId, oldVersion, {
        type: "m.room.tombstone",
        stateKey: "",
        sender: upgrader,
        content: { body: TOMBSTONE_BODY, replacement_room: replacement },
      });
      return appended.event.eventId;
    };
    // Before v12 the new room's ID is ours to choose, so the tombstone comes
    // first and the predecessor can name it; from v12 the room ID is the create
    // event's hash, so the create event comes first and the predecessor names
    // the room only (spec: event_id MAY be omitted).
    let presetRoomId: string | undefined;
    if (!newVersion.roomIdFromCreateEvent) {
      presetRoomId = `!${randomBytes(12).toString("base64url").replace(/[-_]/g, "x")}:${signer.serverName}`;
      (creationContent.predecessor as JsonObject).event_id = await tombstone(presetRoomId);
    }

    const wasPublished = (await isRoomPublished(tx, req.roomId)) === true;
    const built = await buildRoom(
      w,
      signer,
      {
        creator: upgrader,
        creatorProfile: profile,
        // With join rules always given, this preset adds only history
        // visibility "shared" when the old room had none (the same default).
        // Unlike Synapse's private_chat, it never grants guest access the old
        // room did not have.
        preset: "public_chat",
        visibility: wasPublished ? "public" : "private",
        initialState,
        invite: [],
        isDirect: false,
        roomVersion: newVersion.id,
        creationContent,
        ...(presetRoomId !== undefined ? { roomId: presetRoomId } : {}),
        ...(initialPl !== undefined ? { powerLevelContent: initialPl } : {}),
      },
    );
    const newRoomId = built.roomId;
    if (newVersion.roomIdFromCreateEvent) await tombstone(newRoomId);
    const addNew = (draft: EventDraft) => tryAppend(w, newRoomId, newVersion, draft);
    const addOld = (draft: EventDraft) => tryAppend(w, req.roomId, oldVersion, draft);

    // Banned users stay banned.
    const bans = await roomMembers(tx, req.roomId, "ban");
    const banEvents = await getEventsByNids(tx, bans.map((b) => b.eventNid));
    for (const ban of bans) {
      const event = banEvents.get(ban.eventNid);
      if (event) await addNew({ type: "m.room.member", stateKey: ban.userId, sender: upgrader, content: contentOf(event, oldVersion) });
    }

    // Local aliases follow the room; so do the local entries of the canonical alias event.
    await moveAliases(tx, req.roomId, newRoomId);
    const aliasEvent = oldState.get("m.room.canonical_alias");
    if (aliasEvent) {
      const old = { ...contentOf(aliasEvent, oldVersion) };
      const moved: JsonObject = {};
      const local = (alias: unknown): alias is string => typeof alias === "string" && serverNameOf(alias) === signer.serverName;
      if (local(old.alias)) {
        moved.alias = old.alias;
        delete old.alias;
      }
      if (Array.isArray(old.alt_aliases)) {
        moved.alt_aliases = old.alt_aliases.filter(local);
        const kept = old.alt_aliases.filter((a) => !local(a));
        if (kept.length > 0) old.alt_aliases = kept;
        else delete old.alt_aliases;
      }
      await addOld({ type: "m.room.canonical_alias", stateKey: "", sender: upgrader, content: old });
      await addNew({ type: "m.room.canonical_alias", stateKey: "", sender: upgrader, content: moved });
    }

    // Quieten the old room: invites and messages need moderator power.
    if (copiedPl) {
      const restricted = { ...copiedPl };
      const usersDefault = typeof copiedPl.users_default === "number" ? copiedPl.users_default : 0;
      const level = Math.max(usersDefault + 1, 50);
      let changed = false;
      for (const key of ["invite", "events_default"]) {
        if ((typeof restricted[key] === "number" ? (restricted[key] as number) : 0) < level) {
          restricted[key] = level;
          changed = true;
        }
      }
      if (changed) await addOld({ type: "m.room.power_levels", stateKey: "", sender: upgrader, content: restricted });
    }
    // The upgrader's temporary power is handed back.
    if (finalPl && initialPl !== finalPl) {
      await addNew({ type: "m.room.power_levels", stateKey: "", sender: upgrader, content: finalPl });
    }

    // The directory lists the new room instead of the old one.
    if (wasPublished) await setRoomPublished(tx, req.roomId, false);

    // The new room is committed first, so a client that sees the tombstone can already see the room.
    await w.commit(newRoomId);
    return newRoomId;
  });
  return newRoomId;
}
