// What the server itself says a room's history is, for comparing with what a
// real client's sync loop and back-pagination assembled: GET /messages paged
// backwards from the live end to the room's creation, every page validated
// against the spec's schema by TestClient.
import { expect } from "chai";
import type { TestClient } from "../support/http-client.ts";
import { room } from "../support/rooms.ts";

export interface ServerEvent {
  event_id: string;
  type: string;
  sender: string;
  state_key?: string;
  content: Record<string, any>;
  unsigned?: Record<string, any>;
}

/** The room's whole timeline as `token`'s owner may see it, oldest first. */
export async function serverTimeline(api: TestClient, token: string, roomId: string): Promise<ServerEvent[]> {
  const events: ServerEvent[] = [];
  let from: string | undefined;
  for (let page = 0; page < 100; page += 1) {
    const query = new URLSearchParams({ dir: "b", limit: "100" });
    if (from !== undefined) query.set("from", from);
    const res = await api.get<{ chunk: ServerEvent[]; start: string; end?: string }>(`${room(roomId)}/messages?${query}`, { token });
    expect(res.status, `GET /messages: ${res.text}`).to.equal(200);
    events.push(...res.body.chunk);
    if (res.body.end === undefined || res.body.chunk.length === 0) {
      events.reverse();
      expect(events[0]?.type, "the server's history ends at m.room.create").to.equal("m.room.create");
      return events;
    }
    from = res.body.end;
  }
  throw new Error("GET /messages never reached the start of the room (100 pages)");
}

/** The first index where two id lists differ, with a little context, for failure messages. */
export function firstDifference(a: string[], b: string[]): string {
  const n = Math.max(a.length, b.length);
  for (let i = 0; i < n; i += 1) {
    if (a[i] !== b[i]) return `lengths ${a.length} vs ${b.length}; first difference at ${i}: ${a[i]} vs ${b[i]}`;
  }
  return "identical";
}
