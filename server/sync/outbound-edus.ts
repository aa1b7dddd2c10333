// Ephemeral events of our own users that other servers in their rooms must
// hear of (typing, public read receipts, presence). The sync layer emits them
// as they happen; the federation sender subscribes and sends them as EDUs.
// In process and best effort, like EDUs themselves: nothing is stored.
import type { JsonObject } from "../protocol/json.ts";

export type LocalEdu =
  | { kind: "typing"; roomId: string; userId: string; typing: boolean }
  | { kind: "receipt"; roomId: string; userId: string; eventId: string; threadId: string; ts: number }
  | { kind: "presence"; userId: string; content: JsonObject };

export interface OutboundEdus {
  emit(edu: LocalEdu): void;
  subscribe(handler: (edu: LocalEdu) => void): void;
}

export function createOutboundEdus(): OutboundEdus {
  const handlers: Array<(edu: LocalEdu) => void> = [];
  return {
    emit(edu) {
      for (const handler of handlers) handler(edu);
    },
    subscribe(handler) {
      handlers.push(handler);
    },
  };
}
