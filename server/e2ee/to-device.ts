// Send-to-device messaging: a send takes one stream position, its messages
// wait in each local recipient device's inbox until a sync token past them
// acknowledges them, and remote recipients go to the federation port in the
// same transaction.
import { badJson, MatrixError } from "../errors/matrix-error.ts";
import { isJsonObject, type JsonObject } from "../protocol/json.ts";
import type { Database, Queryable } from "../storage/database.ts";
import {
  deleteToDeviceUpTo,
  devicesOfUsers,
  fullInboxes,
  insertToDevice,
  recordToDeviceTxn,
  toDeviceMessages,
  type DeviceAddress,
  type OutgoingToDevice,
} from "../storage/to-device.ts";
import type { StreamWriter } from "../sync/stream-writer.ts";
import type { AfterCommit, E2eeOutbound } from "./federation-ports.ts";
import { checkUserId, isPlainId } from "./key-checks.ts";

/** Recipient devices one request may address (after expanding "*"). */
export const MAX_TO_DEVICE_PER_REQUEST = 10_000;
/** Messages one sync response carries at most (Synapse's figure); the rest follow in the next. */
export const TO_DEVICE_PER_SYNC = 100;

export interface ToDeviceDeps {
  db: Database;
  streams: StreamWriter;
  outbound: E2eeOutbound;
  isLocal: (userId: string) => boolean;
  /** Undelivered messages a device may hold; further ones are dropped until it syncs (limits.to_device_inbox_per_device). */
  inboxLimit: number;
}

/** Runs first in a delivery's transaction; false means "already done": nothing is delivered. */
export type Once = (tx: Queryable) => Promise<boolean>;

/** recipient user → device ID or "*" → content. */
export type ToDeviceMessages = Map<string, Map<string, JsonObject>>;

/** The `messages` of a PUT /sendToDevice body, checked. */
export function checkToDeviceMessages(raw: unknown): ToDeviceMessages {
  if (!isJsonObject(raw)) throw badJson("messages must be an object");
  const out: ToDeviceMessages = new Map();
  let count = 0;
  for (const [userId, devices] of Object.entries(raw)) {
    checkUserId(userId, "messages");
    if (!isJsonObject(devices)) throw badJson(`messages.${userId} must be an object`);
    const byDevice = new Map<string, JsonObject>();
    for (const [deviceId, content] of Object.entries(devices)) {
      if (!isPlainId(deviceId)) throw new MatrixError(400, "M_INVALID_PARAM", `Invalid device ID ${JSON.stringify(deviceId)}`);
      if (!isJsonObject(content)) throw badJson(`messages.${userId}.${deviceId} must be an object`);
      byDevice.set(deviceId, content);
      count += 1;
    }
    out.set(userId, byDevice);
  }
  if (count > MAX_TO_DEVICE_PER_REQUEST) throw tooMany();
  return out;
}

const tooMany = () => new MatrixError(413, "M_TOO_LARGE", `At most ${MAX_TO_DEVICE_PER_REQUEST} to-device messages per request`);

export interface SendResult {
  /** Local devices whose inbox was full: their message was dropped. */
  dropped: DeviceAddress[];
  /** False when the transaction ID was already used (nothing was sent again). */
  sent: boolean;
}

export function createToDevice(deps: ToDeviceDeps) {
  const { db, streams } = deps;

  /**
   * Expands "*" to every device of the user; a message to a named device
   * wins over "*" for that device. Unknown devices get nothing, as in Synapse.
   */
  async function localTargets(messages: ToDeviceMessages): Promise<OutgoingToDevice[]> {
    const devices = await devicesOfUsers(db, [...messages.keys()]);
    const out: OutgoingToDevice[] = [];
    for (const [userId, byDevice] of messages) {
      const known = new Set(devices.get(userId) ?? []);
      const everyone = byDevice.get("*");
      for (const deviceId of known) {
        const content = byDevice.get(deviceId) ?? everyone;
        if (content) out.push({ userId, deviceId, content });
      }
    }
    if (out.length > MAX_TO_DEVICE_PER_REQUEST) throw tooMany();
    return out;
  }

  /**
   * Delivers to local devices in one stream transaction. `once` runs first
   * in it and may refuse a repeat (false: nothing is delivered); `remote`
   * hands the other servers' recipients to federation in the same
   * transaction, so a committed send is never lost for them either.
   */
  async function deliver(sender: string, type: string, messages: ToDeviceMessages, once?: Once, remote?: ReadonlyMap<string, Record<string, JsonObject>>): Promise<SendResult> {
    const targets = await localTargets(messages);
    let sent = true;
    let dropped: DeviceAddress[] = [];
    let afterCommit: AfterCommit | undefined;
    await streams.write({ userIds: [...new Set(targets.map((t) => t.userId))] }, async (tx, position) => {
      if (once && !(await once(tx))) {
        sent = false;
        return;
      }
      dropped = await fullInboxes(tx, targets, deps.inboxLimit);
      const full = new Set(dropped.map((d) => `${d.userId}\u0000${d.deviceId}`));
      await insertToDevice(tx, position, sender, type, targets.filter((t) => !full.has(`${t.userId}\u0000${t.deviceId}`)));
      if (remote && remote.size > 0) afterCommit = await deps.outbound.sendToDevice(tx, sender, type, remote);
    });
    afterCommit?.();
    return { sent, dropped };
  }

  /**
   * Delivers to local devices only: federation's inbound m.direct_to_device,
   * whose `once` records the EDU's (origin, message_id) so a resent EDU
   * delivers nothing twice.
   */
  function deliverLocal(sender: string, type: string, messages: ToDeviceMessages, once?: Once): Promise<SendResult> {
    return deliver(sender, type, messages, once);
  }

  /** PUT /sendToDevice: local recipients' inboxes and remote recipients' EDUs, once per transaction ID. */
  async function send(sender: DeviceAddress, type: string, txnId: string, messages: ToDeviceMessages): Promise<SendResult> {
    const local: ToDeviceMessages = new Map();
    const remote = new Map<string, Record<string, JsonObject>>();
    for (const [userId, byDevice] of messages) {
      if (deps.isLocal(userId)) local.set(userId, byDevice);
      else remote.set(userId, Object.fromEntries(byDevice));
    }
    const once: Once = (tx) => recordToDeviceTxn(tx, sender.userId, sender.deviceId, type, txnId, Date.now());
    return deliver(sender.userId, type, local, once, remote);
  }

  /**
   * The to-device section of a sync: deletes what `acknowledged` covers, then
   * returns up to TO_DEVICE_PER_SYNC messages up to `upTo`, and the position
   * of the last one when more remain (the next token must resume there).
   */
  async function forSync(device: DeviceAddress, acknowledged: number | undefined, upTo: number): Promise<{ events: JsonObject[]; resumeAt?: number }> {
    if (acknowledged !== undefined && acknowledged > 0) await deleteToDeviceUpTo(db, device, acknowledged);
    const messages = await toDeviceMessages(db, device, acknowledged ?? 0, upTo, TO_DEVICE_PER_SYNC + 1);
    const more = messages.length > TO_DEVICE_PER_SYNC;
    const shown = messages.slice(0, TO_DEVICE_PER_SYNC);
    const events = shown.map((m) => ({ sender: m.sender, type: m.type, content: m.content }));
    return more ? { events, resumeAt: shown.at(-1)!.position } : { events };
  }

  /**
   * A page of the device's messages after `after` (deleting those up to it),
   * with the position of the last one: the dehydrated-device events API,
   * whose tokens are these positions.
   */
  async function page(device: DeviceAddress, after: number): Promise<{ events: JsonObject[]; last?: number }> {
    if (after > 0) await deleteToDeviceUpTo(db, device, after);
    const messages = await toDeviceMessages(db, device, after, Number.MAX_SAFE_INTEGER, TO_DEVICE_PER_SYNC);
    const events = messages.map((m) => ({ sender: m.sender, type: m.type, content: m.content }));
    const last = messages.at(-1)?.position;
    return last === undefined ? { events } : { events, last };
  }

  return { send, deliverLocal, forSync, page };
}

export type ToDevice = ReturnType<typeof createToDevice>;
