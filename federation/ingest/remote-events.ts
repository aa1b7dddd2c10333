// The federation requests the ingest path makes to fill gaps: missing
// prev_events, the state at an event, single events. Thin typed wrappers over
// the signed client; a malformed answer is treated like no answer.
import { isJsonObject, type JsonValue } from "../../server/protocol/json.ts";
import type { FederationClient } from "../transport/federation-client.ts";

export interface RemoteEvents {
  missingEvents(origin: string, roomId: string, earliest: readonly string[], latest: readonly string[], limit: number, minDepth: number): Promise<JsonValue[]>;
  stateIds(origin: string, roomId: string, eventId: string): Promise<{ stateIds: string[]; authChainIds: string[] }>;
  event(origin: string, eventId: string): Promise<JsonValue | undefined>;
}

const fv1 = "/_matrix/federation/v1";

function stringArray(value: unknown): string[] {
  return Array.isArray(value) ? value.filter((v): v is string => typeof v === "string") : [];
}

export function createRemoteEvents(client: Pick<FederationClient, "request">): RemoteEvents {
  return {
    async missingEvents(origin, roomId, earliest, latest, limit, minDepth) {
      const body = { earliest_events: [...earliest], latest_events: [...latest], limit, min_depth: minDepth };
      const answer = await client.request(origin, "POST", `${fv1}/get_missing_events/${encodeURIComponent(roomId)}`, { body });
      return isJsonObject(answer) && Array.isArray(answer.events) ? answer.events : [];
    },
    async stateIds(origin, roomId, eventId) {
      const answer = await client.request(origin, "GET", `${fv1}/state_ids/${encodeURIComponent(roomId)}`, { query: { event_id: eventId } });
      if (!isJsonObject(answer)) return { stateIds: [], authChainIds: [] };
      return { stateIds: stringArray(answer.pdu_ids), authChainIds: stringArray(answer.auth_chain_ids) };
    },
    async event(origin, eventId) {
      const answer = await client.request(origin, "GET", `${fv1}/event/${encodeURIComponent(eventId)}`);
      return isJsonObject(answer) && Array.isArray(answer.pdus) ? answer.pdus[0] : undefined;
    },
  };
}
