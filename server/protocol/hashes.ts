// Content hashes, reference hashes, hash-derived identifiers and event
// signatures (server-server API: "Signing Events").
import type { Buffer } from "node:buffer";
import { createHash } from "node:crypto";
import { decodeBase64, encodeUnpaddedBase64, encodeUnpaddedBase64Url } from "./base64.ts";
import { canonicalJsonBytes } from "./canonical-json.ts";
import { ProtocolError } from "./errors.ts";
import { isJsonObject } from "./json.ts";
import type { JsonObject } from "./json.ts";
import { redactEvent } from "./redaction.ts";
import type { RoomVersion } from "./room-versions.ts";
import { signJson, verifyJsonSignature } from "./signing.ts";
import type { SigningKey } from "./signing.ts";

type VersionRules = Pick<RoomVersion, "eventFormat" | "redactionRules" | "roomIdFromCreateEvent">;

function sha256(bytes: Uint8Array): Buffer {
  return createHash("sha256").update(bytes).digest();
}

/** SHA-256 of the canonical JSON of the whole event minus `unsigned`, `signatures` and `hashes`. */
export function computeContentHash(pdu: JsonObject): Buffer {
  const { unsigned: _u, signatures: _s, hashes: _h, ...covered } = pdu;
  return sha256(canonicalJsonBytes(covered));
}

/** A copy of the PDU with hashes.sha256 set (other hash algorithms, if any, are kept). */
export function addContentHash(pdu: JsonObject): JsonObject {
  const existing = isJsonObject(pdu.hashes) ? pdu.hashes : {};
  return { ...pdu, hashes: { ...existing, sha256: encodeUnpaddedBase64(computeContentHash(pdu)) } };
}

/** True if hashes.sha256 is present, valid Base64 and equal to the computed content hash. */
export function checkContentHash(pdu: JsonObject): boolean {
  const hashes = pdu.hashes;
  if (!isJsonObject(hashes) || typeof hashes.sha256 !== "string") return false;
  try {
    return decodeBase64(hashes.sha256).equals(computeContentHash(pdu));
  } catch (err) {
    if (err instanceof ProtocolError) return false;
    throw err;
  }
}

/**
 * SHA-256 of the canonical JSON of the redacted event without `signatures`
 * and `unsigned`. (The legacy top-level `age_ts` that some implementations
 * strip explicitly is not on any keep-list, so redaction already removes it.)
 */
export function computeReferenceHash(pdu: JsonObject, version: Pick<RoomVersion, "redactionRules">): Buffer {
  const { signatures: _s, unsigned: _u, ...covered } = redactEvent(pdu, version);
  return sha256(canonicalJsonBytes(covered));
}

/**
 * The event ID: carried in the event for the v1 format (rooms 1–2), otherwise
 * "$" + the reference hash in standard (room 3) or URL-safe (rooms 4+) unpadded Base64.
 */
export function computeEventId(pdu: JsonObject, version: VersionRules): string {
  switch (version.eventFormat) {
    case "v1":
      if (typeof pdu.event_id !== "string") throw new ProtocolError("bad_format", "event_id is required in this room version");
      return pdu.event_id;
    case "v3":
      return `$${encodeUnpaddedBase64(computeReferenceHash(pdu, version))}`;
    case "v4":
      return `$${encodeUnpaddedBase64Url(computeReferenceHash(pdu, version))}`;
  }
}

/**
 * The room ID a create event establishes. From room 12 it is the create
 * event's ID with the sigil "!" instead of "$"; before, it is the event's own
 * room_id.
 */
export function roomIdForCreateEvent(createPdu: JsonObject, version: VersionRules): string {
  if (version.roomIdFromCreateEvent) {
    return `!${encodeUnpaddedBase64Url(computeReferenceHash(createPdu, version))}`;
  }
  if (typeof createPdu.room_id !== "string") throw new ProtocolError("bad_format", "room_id is required in this room version");
  return createPdu.room_id;
}

/**
 * Adds the content hash, signs the redacted event and copies the signatures
 * onto the full event ("Adding hashes and signatures to outgoing events").
 * `unsigned` is left as it was.
 */
export function signEvent(
  pdu: JsonObject,
  signingName: string,
  key: SigningKey,
  version: Pick<RoomVersion, "redactionRules">,
): JsonObject {
  const hashed = addContentHash(pdu);
  const signed = signJson(redactEvent(hashed, version), signingName, key);
  return { ...hashed, signatures: signed.signatures ?? {} };
}

/** Checks one server's signature on the redacted form of the event, so it holds for redacted copies too. */
export function verifyEventSignature(
  pdu: JsonObject,
  signingName: string,
  keyId: string,
  publicKey: Uint8Array,
  version: Pick<RoomVersion, "redactionRules">,
): boolean {
  return verifyJsonSignature(redactEvent(pdu, version), signingName, keyId, publicKey);
}
