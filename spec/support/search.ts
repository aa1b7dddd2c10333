// Helpers for the search specs: POST /search through the public API (every
// answer checked against the spec's OpenAPI schema by TestClient), and
// waiting for the worker to index.
import { expect } from "chai";
import type { TestUser } from "./accounts.ts";
import { eventually } from "./eventually.ts";
import type { ApiResponse, TestClient } from "./http-client.ts";
import { V3 } from "./rooms.ts";

export interface RoomEventsResult {
  count?: number;
  highlights?: string[];
  results?: Array<{ rank?: number; result: Record<string, any>; context?: Record<string, any> }>;
  state?: Record<string, Array<Record<string, any>>>;
  groups?: Record<string, Record<string, { order?: number; results?: string[]; next_batch?: string }>>;
  next_batch?: string;
}

export async function searchRaw(api: TestClient, user: TestUser, criteria: Record<string, unknown>, nextBatch?: string): Promise<ApiResponse<{ search_categories: { room_events: RoomEventsResult } }>> {
  const query = nextBatch ? `?next_batch=${encodeURIComponent(nextBatch)}` : "";
  return api.post(`${V3}/search${query}`, { search_categories: { room_events: criteria } }, { token: user.access_token });
}

export async function search(api: TestClient, user: TestUser, criteria: Record<string, unknown>, nextBatch?: string): Promise<RoomEventsResult> {
  const res = await searchRaw(api, user, criteria, nextBatch);
  expect(res.status, JSON.stringify(res.body)).to.equal(200);
  return res.body.search_categories.room_events;
}

/** Event IDs found for a term (order recent). */
export async function foundIds(api: TestClient, user: TestUser, term: string, extra: Record<string, unknown> = {}): Promise<string[]> {
  const result = await search(api, user, { search_term: term, order_by: "recent", ...extra });
  return (result.results ?? []).map((r) => r.result.event_id as string);
}

/** Waits until `user` finds exactly `expected` (as a set) for `term`. */
export async function waitForHits(api: TestClient, user: TestUser, term: string, expected: readonly string[], timeoutMs = 20_000): Promise<string[]> {
  let last: string[] = [];
  try {
    return await eventually(
      `search "${term}" to find ${expected.length}`,
      async () => {
        last = await foundIds(api, user, term, { filter: { limit: 50 } });
        return [...last].sort().join() === [...expected].sort().join() ? last : undefined;
      },
      timeoutMs,
    );
  } catch (err) {
    throw new Error(`${(err as Error).message}; last found ${JSON.stringify(last)}`, { cause: err });
  }
}
