// Our users' end-to-end encryption changes as EDUs for other servers
// (the E2eeOutbound port of server/e2ee/federation-ports.ts): written to the
// durable outbox (server/storage/edu-outbox.ts) in the transaction of the
// change, so neither a crash nor an outage of the destination loses them;
// the sender reads them with its next transaction to each destination.
//
// - m.device_list_update: one per changed device, to every server sharing a
//   room with the user. stream_id counts the user's updates (1, 2, …) and
//   prev_id names the one before, so a server that missed one (it was down
//   past the outbox's retention, or did not share a room then) sees the gap
//   and fetches the whole list with GET /user/devices.
// - m.signing_key_update: the new master and self-signing keys, to the same servers.
// - m.direct_to_device: per recipient server, at most 100 device messages per
//   EDU, each EDU with its own message_id (the receiver delivers an ID once).
import { randomBytes } from "node:crypto";
import type { AfterCommit, E2eeOutbound } from "../../server/e2ee/federation-ports.ts";
import { serverNameOf } from "../../server/protocol/identifiers.ts";
import type { JsonObject } from "../../server/protocol/json.ts";
import { serversSharingRoomWith } from "../../server/storage/dag.ts";
import type { Queryable } from "../../server/storage/database.ts";
import { allocateDeviceListStreamIds } from "../../server/storage/device-lists.ts";
import { insertOutboxEdus, type NewOutboxEdu } from "../../server/storage/edu-outbox.ts";
import type { FederationSender } from "../sender/federation-sender.ts";

/** Device messages per m.direct_to_device EDU: a send to a large room becomes several EDUs, none too large for a transaction. */
export const TO_DEVICE_MESSAGES_PER_EDU = 100;

export interface OutboundE2eeDeps {
  serverName: string;
  sender: Pick<FederationSender, "wake">;
  now?: () => number;
}

/** A message_id: 16 URL-safe characters, well under the spec's 32. */
const messageId = (): string => randomBytes(12).toString("base64url");

export function createOutboundE2eeEdus(deps: OutboundE2eeDeps): E2eeOutbound {
  const now = deps.now ?? Date.now;

  /** Stores the EDUs for each destination; after COMMIT the destinations' senders wake. */
  async function store(tx: Queryable, edus: readonly NewOutboxEdu[]): Promise<AfterCommit> {
    await insertOutboxEdus(tx, edus, now());
    const destinations = new Set(edus.map((e) => e.destination));
    return () => {
      for (const destination of destinations) deps.sender.wake(destination);
    };
  }

  /** The other servers with a member joined to one of the user's rooms. */
  async function serversOfRooms(tx: Queryable, userId: string): Promise<string[]> {
    return (await serversSharingRoomWith(tx, userId)).filter((s) => s !== deps.serverName);
  }

  return {
    async deviceListChanged(tx, userId, devices) {
      if (devices.length === 0) return () => undefined;
      // The sequence moves on even with no server to tell: one that joins later must see a gap.
      const { previous, first } = await allocateDeviceListStreamIds(tx, userId, devices.length);
      const contents: JsonObject[] = devices.map((device, i) => {
        const prev = i === 0 ? previous : first + i - 1;
        return {
          user_id: userId,
          device_id: device.deviceId,
          stream_id: first + i,
          prev_id: prev > 0 ? [prev] : [],
          ...(device.deleted ? { deleted: true } : {}),
          ...(device.keys ? { keys: device.keys } : {}),
        };
      });
      const servers = await serversOfRooms(tx, userId);
      return store(
        tx,
        servers.flatMap((destination) => contents.map((content) => ({ destination, eduType: "m.device_list_update", content }))),
      );
    },

    async signingKeysChanged(tx, userId, keys) {
      const content: JsonObject = { user_id: userId, ...(keys.master ? { master_key: keys.master } : {}), ...(keys.selfSigning ? { self_signing_key: keys.selfSigning } : {}) };
      const servers = await serversOfRooms(tx, userId);
      return store(
        tx,
        servers.map((destination) => ({ destination, eduType: "m.signing_key_update", content })),
      );
    },

    async sendToDevice(tx, sender, type, messages) {
      const byServer = new Map<string, Array<[userId: string, deviceId: string, content: JsonObject]>>();
      for (const [userId, devices] of messages) {
        const server = serverNameOf(userId);
        if (server === undefined || server === deps.serverName) continue;
        const list = byServer.get(server) ?? byServer.set(server, []).get(server)!;
        for (const [deviceId, content] of Object.entries(devices)) list.push([userId, deviceId, content]);
      }
      const edus: NewOutboxEdu[] = [];
      for (const [destination, entries] of byServer) {
        for (let i = 0; i < entries.length; i += TO_DEVICE_MESSAGES_PER_EDU) {
          const batch: Record<string, Record<string, JsonObject>> = {};
          for (const [userId, deviceId, content] of entries.slice(i, i + TO_DEVICE_MESSAGES_PER_EDU)) (batch[userId] ??= {})[deviceId] = content;
          edus.push({ destination, eduType: "m.direct_to_device", content: { sender, type, message_id: messageId(), messages: batch } });
        }
      }
      return store(tx, edus);
    },
  };
}
