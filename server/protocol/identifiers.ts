// Identifier grammar (appendices: "Identifier Grammar"; rooms: "Room version
// grammar"). Validation is by the normative grammar; where the prose adds a
// constraint (IPv4 octets ≤ 255, IPv6 per RFC 3513) it is applied too.
import { Buffer } from "node:buffer";
import type { RoomVersion } from "./room-versions.ts";

/** User IDs, room IDs, room aliases and event IDs are each limited to 255 bytes of UTF-8. */
export const MAX_ID_BYTES = 255;

function byteLength(s: string): number {
  return Buffer.byteLength(s, "utf8");
}

// ---------------------------------------------------------------- server names

export type HostKind = "ipv4" | "ipv6" | "dns";

export interface ServerNameParts {
  /** As written; IPv6 literals keep their brackets. */
  readonly host: string;
  readonly kind: HostKind;
  readonly port?: number;
}

const DOTTED_QUAD = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/;
const DNS_NAME = /^[A-Za-z0-9.-]{1,255}$/;
const PORT = /^\d{1,5}$/;
const HEX_GROUP = /^[0-9A-Fa-f]{1,4}$/;

export function isValidIpv4(text: string): boolean {
  const m = DOTTED_QUAD.exec(text);
  return m !== null && m.slice(1).every((octet) => Number(octet) <= 255);
}

/** RFC 3513 §2.2 text forms: eight groups, one optional "::", optional dotted-quad tail. */
export function isValidIpv6(text: string): boolean {
  if (!/^[0-9A-Fa-f:.]{2,45}$/.test(text)) return false;
  const gap = text.indexOf("::");
  if (gap !== -1 && text.indexOf("::", gap + 1) !== -1) return false;
  const halves = gap === -1 ? [text] : [text.slice(0, gap), text.slice(gap + 2)];
  const groups = halves.flatMap((half) => (half === "" ? [] : half.split(":")));
  let count = 0;
  for (const [i, group] of groups.entries()) {
    if (HEX_GROUP.test(group)) count += 1;
    // A dotted-quad may only be the very last thing in the address.
    else if (i === groups.length - 1 && !text.endsWith(":") && isValidIpv4(group)) count += 2;
    else return false;
  }
  return gap === -1 ? count === 8 : count <= 7;
}

/** Splits a server name into host and port, or undefined if it is not valid. */
export function parseServerName(name: string): ServerNameParts | undefined {
  let host: string;
  let rest: string;
  if (name.startsWith("[")) {
    const close = name.indexOf("]");
    if (close === -1 || !isValidIpv6(name.slice(1, close))) return undefined;
    host = name.slice(0, close + 1);
    rest = name.slice(close + 1);
  } else {
    const colon = name.indexOf(":");
    host = colon === -1 ? name : name.slice(0, colon);
    rest = colon === -1 ? "" : name.slice(colon);
  }
  let port: number | undefined;
  if (rest !== "") {
    if (!rest.startsWith(":") || !PORT.test(rest.slice(1))) return undefined;
    port = Number(rest.slice(1));
  }
  let kind: HostKind;
  if (host.startsWith("[")) kind = "ipv6";
  else if (DOTTED_QUAD.test(host)) {
    // Four dotted numbers are an IPv4 literal, which the prose limits to 0–255
    // per part, even though the dns-name production would also match them.
    if (!isValidIpv4(host)) return undefined;
    kind = "ipv4";
  } else if (DNS_NAME.test(host)) kind = "dns";
  else return undefined;
  return port === undefined ? { host, kind } : { host, kind, port };
}

export function isValidServerName(name: string): boolean {
  return parseServerName(name) !== undefined;
}

/** The server name after the first colon of an identifier, or undefined (e.g. v12 room IDs, v3+ event IDs). */
export function serverNameOf(id: string): string | undefined {
  const colon = id.indexOf(":");
  return colon === -1 ? undefined : id.slice(colon + 1);
}

// ---------------------------------------------------------------- sigil:localpart:server

/**
 * Checks `<sigil><localpart>:<server_name>` where the localpart is the
 * historical/opaque form: any Unicode scalar values except ":" and NUL,
 * possibly empty. The 255-byte limit covers the whole identifier.
 */
function isValidNamespacedId(id: string, sigil: string): boolean {
  if (!id.startsWith(sigil) || byteLength(id) > MAX_ID_BYTES || !id.isWellFormed()) return false;
  const colon = id.indexOf(":");
  if (colon === -1) return false;
  const localpart = id.slice(sigil.length, colon);
  return !localpart.includes("\u0000") && isValidServerName(id.slice(colon + 1));
}

/** The localpart characters allowed for new user IDs (spec v1.8+). */
const COMPLIANT_LOCALPART = /^[a-z0-9._=\-/+]+$/;

/**
 * Without `strict`, accepts historical user IDs (any localpart without ":"
 * or NUL, even empty), which servers MUST accept over federation. With
 * `strict`, only the current grammar: a non-empty localpart of a-z 0-9 . _ = - / +.
 */
export function isValidUserId(id: string, options: { strict?: boolean } = {}): boolean {
  if (!isValidNamespacedId(id, "@")) return false;
  return !options.strict || COMPLIANT_LOCALPART.test(id.slice(1, id.indexOf(":")));
}

/** Whether a localpart may be registered on `serverName`: current grammar and the 255-byte total. */
export function isValidNewLocalpart(localpart: string, serverName: string): boolean {
  return COMPLIANT_LOCALPART.test(localpart) && byteLength(`@${localpart}:${serverName}`) <= MAX_ID_BYTES;
}

export function isValidRoomAlias(alias: string): boolean {
  return isValidNamespacedId(alias, "#");
}

// ---------------------------------------------------------------- room and event IDs

const URL_SAFE_HASH = /^[A-Za-z0-9_-]{43}$/;
const STANDARD_HASH = /^[A-Za-z0-9+/]{43}$/;

type IdRules = Pick<RoomVersion, "eventFormat" | "roomIdFromCreateEvent">;

/**
 * Rooms 1–11: `!opaque:server`. Room 12: `!` and the 43-character URL-safe
 * reference hash of the create event. Without a version either form passes.
 */
export function isValidRoomId(id: string, version?: Pick<RoomVersion, "roomIdFromCreateEvent">): boolean {
  const hashForm = id.startsWith("!") && URL_SAFE_HASH.test(id.slice(1));
  if (version === undefined) return hashForm || isValidNamespacedId(id, "!");
  return version.roomIdFromCreateEvent ? hashForm : isValidNamespacedId(id, "!");
}

/**
 * Event format v1 (rooms 1–2): `$opaque:server`. v3 (room 3): `$` and 43
 * characters of standard Base64. v4 (rooms 4+): `$` and 43 URL-safe ones.
 * Without a version any of the three passes.
 */
export function isValidEventId(id: string, version?: Pick<IdRules, "eventFormat">): boolean {
  if (!id.startsWith("$")) return false;
  const hash = id.slice(1);
  switch (version?.eventFormat) {
    case "v1":
      return isValidNamespacedId(id, "$");
    case "v3":
      return STANDARD_HASH.test(hash);
    case "v4":
      return URL_SAFE_HASH.test(hash);
    case undefined:
      return STANDARD_HASH.test(hash) || URL_SAFE_HASH.test(hash) || isValidNamespacedId(id, "$");
  }
}

// ---------------------------------------------------------------- room versions

/** room_version = 1*(DIGIT / a-z / "-" / "."), at most 32 code points. */
export function isValidRoomVersionId(id: string): boolean {
  return /^[a-z0-9.-]{1,32}$/.test(id);
}

/** Versions made only of digits and dots are reserved for the Matrix specification. */
export function isReservedRoomVersionId(id: string): boolean {
  return isValidRoomVersionId(id) && /^[0-9.]+$/.test(id);
}

// ---------------------------------------------------------------- localpart mapping

const MAPPING_ALLOWED = /^[a-z0-9._\-/+]$/;

/**
 * The spec's suggested mapping of arbitrary text onto a user ID localpart:
 * UTF-8 encode, lower-case A–Z (with `caseEscaping`, as bridges need, `A`
 * becomes `_a` and `_` becomes `__`), then write every other byte outside the
 * allowed set, and `=` itself, as `=` and two lower-case hex digits.
 */
export function mapToUserIdLocalpart(text: string, options: { caseEscaping?: boolean } = {}): string {
  let out = "";
  for (const byte of Buffer.from(text, "utf8")) {
    const ch = String.fromCharCode(byte);
    if (byte >= 0x41 && byte <= 0x5a) out += options.caseEscaping ? `_${ch.toLowerCase()}` : ch.toLowerCase();
    else if (ch === "_" && options.caseEscaping) out += "__";
    else if (MAPPING_ALLOWED.test(ch)) out += ch;
    else out += `=${byte.toString(16).padStart(2, "0")}`;
  }
  return out;
}
