// The PDU wire formats of each room version (rooms/vN "Event format", the
// pdu_vN schemas) and the size limits of client-server "Size limits". A PDU
// is checked and normalised here once; everything after works on RoomEvent.
import { Buffer } from "node:buffer";
import { assertCanonicalJsonCompatible, canonicalJsonBytes } from "./canonical-json.ts";
import { ProtocolError } from "./errors.ts";
import type { RoomEvent } from "./events.ts";
import { computeEventId, roomIdForCreateEvent } from "./hashes.ts";
import { isValidEventId, isValidRoomId, isValidUserId } from "./identifiers.ts";
import { isJsonObject } from "./json.ts";
import type { JsonObject, JsonValue } from "./json.ts";
import type { RoomVersion } from "./room-versions.ts";

/** Whole PDU, as canonical JSON including signatures. */
export const MAX_PDU_BYTES = 65536;
/** sender, room_id, event_id (identifier limit) and state_key, type (explicit limit). */
export const MAX_FIELD_BYTES = 255;
/** From the pdu schemas: "Must contain less than or equal to 20 / 10 events". */
export const MAX_PREV_EVENTS = 20;
export const MAX_AUTH_EVENTS = 10;

function formatError(message: string): never {
  throw new ProtocolError("bad_format", message);
}

function byteLength(s: string): number {
  return Buffer.byteLength(s, "utf8");
}

/** The create event: type m.room.create with an empty state key. */
export function isCreateEvent(pdu: JsonObject): boolean {
  return pdu.type === "m.room.create" && pdu.state_key === "";
}

function eventIdList(pdu: JsonObject, key: "prev_events" | "auth_events", version: Pick<RoomVersion, "eventFormat">): string[] {
  const list = pdu[key];
  if (!Array.isArray(list)) formatError(`${key} must be an array`);
  return list.map((entry: JsonValue, i) => {
    let id: JsonValue | undefined = entry;
    if (version.eventFormat === "v1") {
      // [event_id, {sha256: hash}] pairs.
      if (!Array.isArray(entry) || entry.length !== 2 || !isJsonObject(entry[1])) {
        formatError(`${key}[${i}] must be an [event_id, hashes] pair`);
      }
      id = entry[0];
    }
    if (typeof id !== "string") formatError(`${key}[${i}] must be an event ID string`);
    if (byteLength(id) > MAX_FIELD_BYTES) throw new ProtocolError("too_large", `${key}[${i}] is longer than 255 bytes`);
    if (!isValidEventId(id, version)) throw new ProtocolError("bad_id", `${key}[${i}] is not an event ID for this room version`);
    return id;
  });
}

/** prev_events as plain IDs, whatever the wire format. Throws on a malformed list. */
export function prevEventIds(pdu: JsonObject, version: Pick<RoomVersion, "eventFormat">): string[] {
  return eventIdList(pdu, "prev_events", version);
}

/** auth_events as plain IDs, whatever the wire format. Throws on a malformed list. */
export function authEventIds(pdu: JsonObject, version: Pick<RoomVersion, "eventFormat">): string[] {
  return eventIdList(pdu, "auth_events", version);
}

function limitedString(pdu: JsonObject, key: string, required: boolean): string | undefined {
  const value = pdu[key];
  if (value === undefined) {
    if (required) formatError(`${key} is required`);
    return undefined;
  }
  if (typeof value !== "string") formatError(`${key} must be a string`);
  if (byteLength(value) > MAX_FIELD_BYTES) throw new ProtocolError("too_large", `${key} is longer than 255 bytes`);
  return value;
}

function integer(pdu: JsonObject, key: string): number {
  const value = pdu[key];
  if (typeof value !== "number" || !Number.isInteger(value)) formatError(`${key} must be an integer`);
  return value;
}

function checkHashesAndSignatures(pdu: JsonObject): void {
  const hashes = pdu.hashes;
  if (!isJsonObject(hashes) || typeof hashes.sha256 !== "string") formatError("hashes.sha256 must be a string");
  const signatures = pdu.signatures;
  if (!isJsonObject(signatures)) formatError("signatures must be an object");
  for (const [server, byKey] of Object.entries(signatures)) {
    if (!isJsonObject(byKey) || !Object.values(byKey).every((s) => typeof s === "string")) {
      formatError(`signatures.${server} must map key IDs to strings`);
    }
  }
  if (pdu.unsigned !== undefined && !isJsonObject(pdu.unsigned)) formatError("unsigned must be an object");
}

function redactsOf(pdu: JsonObject, version: Pick<RoomVersion, "redactsInContent">): string | undefined {
  if (version.redactsInContent) {
    // From v11 it lives in content, which has no schema of its own here.
    const inContent = isJsonObject(pdu.content) ? pdu.content.redacts : undefined;
    return pdu.type === "m.room.redaction" && typeof inContent === "string" ? inContent : undefined;
  }
  const topLevel = pdu.redacts;
  if (topLevel !== undefined && typeof topLevel !== "string") formatError("redacts must be a string");
  return pdu.type === "m.room.redaction" ? topLevel : undefined;
}

export interface ParsePduOptions {
  /** The ID the caller expects (e.g. from a request path); a different one is an error. */
  readonly eventId?: string;
  /** The room the caller expects the event to be in; a different one is an error. */
  readonly roomId?: string;
}

/**
 * Validates a PDU against the event format and size limits of its room
 * version and returns the normalised view. Throws ProtocolError: bad_json
 * (not canonical-JSON encodable, or not strictly canonical in v6+ rooms),
 * too_large, bad_format (missing or mistyped fields) or bad_id.
 *
 * Format only: signatures, hashes and auth rules are checked elsewhere. In
 * particular a v12 create event that carries a room_id is returned (its room
 * ID still derived from its hash) because the auth rules reject it, which is
 * a different outcome from dropping it here.
 */
export function parsePdu(json: unknown, version: RoomVersion, options: ParsePduOptions = {}): RoomEvent {
  if (!isJsonObject(json)) formatError("a PDU must be a JSON object");
  assertCanonicalJsonCompatible(json, version.strictCanonicalJson);
  const pdu: JsonObject = json;
  if (canonicalJsonBytes(pdu).length > MAX_PDU_BYTES) {
    throw new ProtocolError("too_large", `PDU is larger than ${MAX_PDU_BYTES} bytes`);
  }

  const type = limitedString(pdu, "type", true) as string;
  const stateKey = limitedString(pdu, "state_key", false);
  const sender = limitedString(pdu, "sender", true) as string;
  if (!isValidUserId(sender)) throw new ProtocolError("bad_id", "sender is not a user ID");
  if (!isJsonObject(pdu.content)) formatError("content must be an object");
  const originServerTs = integer(pdu, "origin_server_ts");
  const depth = integer(pdu, "depth");
  if (depth < 0) formatError("depth must not be negative");
  checkHashesAndSignatures(pdu);
  const prev = prevEventIds(pdu, version);
  const auth = authEventIds(pdu, version);
  if (prev.length > MAX_PREV_EVENTS) formatError(`prev_events has more than ${MAX_PREV_EVENTS} entries`);
  if (auth.length > MAX_AUTH_EVENTS) formatError(`auth_events has more than ${MAX_AUTH_EVENTS} entries`);

  let roomId: string;
  const derivesRoomId = version.roomIdFromCreateEvent && isCreateEvent(pdu);
  if (derivesRoomId) {
    if (pdu.room_id !== undefined && typeof pdu.room_id !== "string") formatError("room_id must be a string");
    roomId = roomIdForCreateEvent(pdu, version);
  } else {
    roomId = limitedString(pdu, "room_id", true) as string;
    if (!isValidRoomId(roomId, version)) throw new ProtocolError("bad_id", "room_id is not a room ID for this room version");
  }

  let eventId: string;
  if (version.eventFormat === "v1") {
    eventId = limitedString(pdu, "event_id", true) as string;
    if (!isValidEventId(eventId, version)) throw new ProtocolError("bad_id", "event_id is not a valid event ID");
  } else {
    // Not sent in these formats; if present anyway it is simply part of the hashed object.
    eventId = computeEventId(pdu, version);
  }

  if (options.eventId !== undefined && options.eventId !== eventId) {
    throw new ProtocolError("bad_id", `expected event ${options.eventId}, got ${eventId}`);
  }
  if (options.roomId !== undefined && options.roomId !== roomId) {
    formatError(`expected an event in ${options.roomId}, got one in ${roomId}`);
  }

  return {
    eventId,
    roomId,
    type,
    stateKey,
    sender,
    content: pdu.content,
    originServerTs,
    depth,
    prevEventIds: prev,
    authEventIds: auth,
    redacts: redactsOf(pdu, version),
    pdu,
  };
}

// ---------------------------------------------------------------- building

export interface PduFields {
  /** Required except for the create event of a room-12-style version, where it is never sent. */
  readonly roomId?: string;
  readonly sender: string;
  readonly type: string;
  readonly stateKey?: string;
  readonly content: JsonObject;
  readonly originServerTs: number;
  readonly depth: number;
  readonly prevEventIds: readonly string[];
  readonly authEventIds: readonly string[];
  /** For m.room.redaction: top-level before v11, content.redacts from v11. */
  readonly redacts?: string;
  /** Event format v1 only (rooms 1–2): the event carries its own ID. */
  readonly eventId?: string;
  /** Event format v1 only: unpadded Base64 sha256 per referenced event ID for the [id, hashes] pairs. */
  readonly eventHashes?: Readonly<Record<string, string>>;
  /** The deprecated top-level `origin`, if the caller wants it sent. */
  readonly origin?: string;
}

/**
 * The wire form of a new event, without hashes and signatures (signEvent adds
 * them). v1 format: event_id and [id, {sha256}] pairs — an unknown hash gives
 * `{}` as Synapse sends. Room-12-style create events have no room_id.
 */
export function toWirePdu(fields: PduFields, version: RoomVersion): JsonObject {
  const pdu: JsonObject = {
    type: fields.type,
    sender: fields.sender,
    content: fields.content,
    origin_server_ts: fields.originServerTs,
    depth: fields.depth,
  };
  if (fields.stateKey !== undefined) pdu.state_key = fields.stateKey;
  if (!(version.roomIdFromCreateEvent && isCreateEvent(pdu))) {
    if (fields.roomId === undefined) formatError("room_id is required for this event");
    pdu.room_id = fields.roomId;
  }
  if (fields.origin !== undefined) pdu.origin = fields.origin;

  if (version.eventFormat === "v1") {
    if (fields.eventId === undefined) formatError("event format v1 needs an event_id");
    pdu.event_id = fields.eventId;
    const pair = (id: string): JsonValue => {
      const hashes = fields.eventHashes;
      const sha256 = hashes !== undefined && Object.hasOwn(hashes, id) ? hashes[id] : undefined;
      return [id, sha256 === undefined ? {} : { sha256 }];
    };
    pdu.prev_events = fields.prevEventIds.map(pair);
    pdu.auth_events = fields.authEventIds.map(pair);
  } else {
    pdu.prev_events = [...fields.prevEventIds];
    pdu.auth_events = [...fields.authEventIds];
  }

  if (fields.redacts !== undefined) {
    if (version.redactsInContent) pdu.content = { ...fields.content, redacts: fields.redacts };
    else pdu.redacts = fields.redacts;
  }
  return pdu;
}
