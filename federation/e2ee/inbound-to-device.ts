// m.direct_to_device EDUs from other servers: the sender must be a user of
// the sending server, only our users' devices receive ("*" is every device
// of the user, as for a local send), and each (origin, message_id) is
// delivered once: the ID is recorded in the delivery's own transaction, so
// a resent EDU (a retried transaction, a sender that crashed before it saw
// our answer) delivers nothing twice.
import { checkToDeviceMessages, type ToDevice, type ToDeviceMessages } from "../../server/e2ee/to-device.ts";
import type { Logger } from "../../server/observability/logger.ts";
import { isValidUserId, serverNameOf } from "../../server/protocol/identifiers.ts";
import type { JsonObject } from "../../server/protocol/json.ts";
import { recordReceivedToDevice } from "../../server/storage/to-device.ts";

/** The spec allows message IDs of up to 32 code points; some servers send longer ones, so this is generous. */
const MAX_MESSAGE_ID_LENGTH = 255;

export interface InboundToDeviceDeps {
  toDevice: Pick<ToDevice, "deliverLocal">;
  serverName: string;
  log: Logger;
}

export function createInboundToDevice(deps: InboundToDeviceDeps) {
  return async function receive(origin: string, content: JsonObject): Promise<void> {
    const { sender, type, message_id: messageId } = content;
    if (typeof sender !== "string" || !isValidUserId(sender) || serverNameOf(sender) !== origin) return;
    if (typeof type !== "string" || type.length === 0 || typeof messageId !== "string" || messageId.length === 0 || messageId.length > MAX_MESSAGE_ID_LENGTH) return;
    const all = checkToDeviceMessages(content.messages);
    const ours: ToDeviceMessages = new Map([...all].filter(([userId]) => serverNameOf(userId) === deps.serverName));
    if (ours.size === 0) return;
    const result = await deps.toDevice.deliverLocal(sender, type, ours, (tx) => recordReceivedToDevice(tx, origin, messageId, Date.now()));
    if (!result.sent) deps.log.debug({ origin, messageId }, "to-device EDU delivered before: ignored");
    if (result.dropped.length > 0) deps.log.warn({ origin, sender, devices: result.dropped.length }, "to-device inboxes full");
  };
}
