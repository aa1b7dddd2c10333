// Steps 1–3 of the checks on a received PDU (spec "Checks performed on
// receipt of a PDU"): it must be a valid event of the room's version, every
// server that must sign it must have, with a key valid when the event was
// sent (room v5+), and a content hash that does not match means the event is
// redacted before it goes any further. The auth checks follow in
// server/rooms/events/ingest.ts.
import { ProtocolError } from "../../server/protocol/errors.ts";
import { parsePdu } from "../../server/protocol/event-format.ts";
import type { RoomEvent } from "../../server/protocol/events.ts";
import { checkContentHash, verifyEventSignature } from "../../server/protocol/hashes.ts";
import { isJsonObject } from "../../server/protocol/json.ts";
import { requiredSigningServers, signatureKeyIds } from "../../server/protocol/pdu-signatures.ts";
import { redactEvent } from "../../server/protocol/redaction.ts";
import type { RoomVersion } from "../../server/protocol/room-versions.ts";
import type { Keyring } from "../keys/keyring.ts";

export type VerifiedPdu = { ok: true; event: RoomEvent; redacted: boolean } | { ok: false; reason: string };

/**
 * Why `server`'s signature on the event does not hold, or undefined when it
 * does. Checked on the redacted form, so an event with a bad content hash
 * keeps verifying.
 */
export async function serverSignatureProblem(event: RoomEvent, server: string, version: RoomVersion, keyring: Pick<Keyring, "verifyKeysFor">): Promise<string | undefined> {
  const keyIds = signatureKeyIds(event.pdu, server);
  if (keyIds.length === 0) return `not signed by ${server}`;
  const keys = await keyring.verifyKeysFor(server, keyIds, event.originServerTs, { enforceValidity: version.enforceKeyValidity });
  const verified = [...keys].some(([keyId, publicKey]) => verifyEventSignature(event.pdu, server, keyId, publicKey, version));
  if (verified) return undefined;
  return keys.size === 0 ? `no valid key of ${server} could be found (${keyIds.join(", ")})` : `signature of ${server} does not verify`;
}

async function checkSignatures(event: RoomEvent, version: RoomVersion, keyring: Pick<Keyring, "verifyKeysFor">): Promise<string | undefined> {
  for (const server of requiredSigningServers(event, version)) {
    const problem = await serverSignatureProblem(event, server, version, keyring);
    if (problem) return problem;
  }
  return undefined;
}

/**
 * Parses and verifies one PDU of a room whose version we know. `roomId`, when
 * given, is the room the PDU must belong to (a transaction's PDUs are routed
 * by their own room_id; other endpoints name the room in the path).
 */
export async function verifyPdu(json: unknown, version: RoomVersion, keyring: Pick<Keyring, "verifyKeysFor">, options: { roomId?: string; eventId?: string } = {}): Promise<VerifiedPdu> {
  if (!isJsonObject(json)) return { ok: false, reason: "invalid PDU: not a JSON object" };
  let event: RoomEvent;
  try {
    // `unsigned` is the sender's view and never trusted (spec); it is not part of the hashes or signatures.
    const { unsigned: _unsigned, ...pdu } = json;
    event = parsePdu(pdu, version, options);
  } catch (err) {
    if (err instanceof ProtocolError) return { ok: false, reason: `invalid PDU: ${err.message}` };
    throw err;
  }
  // Identifiers are stored as text columns, which cannot hold U+0000 (content can: it is kept as JSON text).
  if ([event.type, event.stateKey, event.sender, event.roomId, event.eventId, event.redacts].some((v) => v?.includes("\u0000"))) {
    return { ok: false, reason: "invalid PDU: U+0000 in an identifier" };
  }
  const badSignature = await checkSignatures(event, version, keyring);
  if (badSignature) return { ok: false, reason: badSignature };
  if (checkContentHash(event.pdu)) return { ok: true, event, redacted: false };
  // The redacted form has the same event ID and signatures; only the content goes.
  return { ok: true, event: parsePdu(redactEvent(event.pdu, version), version), redacted: true };
}
