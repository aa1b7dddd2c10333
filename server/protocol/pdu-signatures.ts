// Which servers must have signed a PDU (spec: "Validating hashes and
// signatures on received events"): the sender's server always; for the v1
// event format, also the server named in the event ID; for a restricted join
// (room v8+), the server of the user named in join_authorised_via_users_server.
import type { RoomEvent } from "./events.ts";
import { serverNameOf } from "./identifiers.ts";
import type { RoomVersion } from "./room-versions.ts";

export function requiredSigningServers(event: RoomEvent, version: RoomVersion): string[] {
  const servers = new Set<string>();
  const sender = serverNameOf(event.sender);
  if (sender !== undefined) servers.add(sender);
  if (version.eventFormat === "v1") {
    const origin = serverNameOf(event.eventId);
    if (origin !== undefined) servers.add(origin);
  }
  if (version.restrictedJoins && event.type === "m.room.member" && event.content.membership === "join") {
    const via = event.content.join_authorised_via_users_server;
    const viaServer = typeof via === "string" ? serverNameOf(via) : undefined;
    if (viaServer !== undefined) servers.add(viaServer);
  }
  return [...servers];
}

/** The key IDs a server's signature block on the PDU names (ed25519 only: the one algorithm the spec defines). */
export function signatureKeyIds(pdu: { signatures?: unknown }, serverName: string): string[] {
  const signatures = pdu.signatures;
  if (typeof signatures !== "object" || signatures === null || Array.isArray(signatures)) return [];
  const ofServer = (signatures as Record<string, unknown>)[serverName];
  if (typeof ofServer !== "object" || ofServer === null || Array.isArray(ofServer)) return [];
  return Object.keys(ofServer).filter((keyId) => keyId.startsWith("ed25519:"));
}
