// Receiving clients: each user follows their rooms through /sync
// long-polling (both servers) or through our WebSocket stream, and hands the
// timeline events of every response to a callback. Before following, each
// takes a `since` token from a sync that asks for no rooms, so following
// starts at "now" without the cost of a full initial sync (P3 measures that).
import { StreamClient } from "../../server/sync/stream/client.ts";
import { JsonHttp } from "./http.ts";
import { syncPath, type User } from "./matrix.ts";
import { mapLimit, sleep } from "./pool.ts";

export type Transport = "long-poll" | "stream";
export type OnEvents = (userId: string, events: readonly any[]) => void;

/**
 * What the receiving clients ask for: Element's lazy-loaded members, but a
 * timeline limit high enough that a client that fell behind still receives
 * every message in its next response (with Element's 20 a lagging client gets
 * a `limited` timeline, and the messages in the gap would never count as
 * delivered). Responses that are limited even so are counted.
 */
export const FOLLOW_FILTER = { room: { timeline: { limit: 1000 }, state: { lazy_load_members: true } } };

const LONG_POLL_MS = 30_000;
const NOTHING = { room: { rooms: [] }, presence: { not_types: ["*"] }, account_data: { not_types: ["*"] } };

export interface Followers {
  /** Sync responses (or stream frames) received, failed requests, and room timelines that came back limited. */
  responses: number;
  errors: number;
  limited: number;
  stop(): Promise<void>;
}

interface FollowState {
  responses: number;
  errors: number;
  limited: number;
}

function timelineEvents(body: any, state: FollowState): any[] {
  state.responses += 1;
  const joined = body?.rooms?.join;
  if (!joined) return [];
  const events: any[] = [];
  for (const room of Object.values(joined) as any[]) {
    if (room?.timeline?.limited) state.limited += 1;
    for (const e of room?.timeline?.events ?? []) events.push(e);
  }
  return events;
}

/** A `since` token for each user, `concurrency` at a time. */
export async function currentTokens(baseUrl: string, users: readonly User[], concurrency = 16): Promise<string[]> {
  const http = new JsonHttp(baseUrl);
  try {
    return await mapLimit(users, concurrency, async (user) => (await http.ok("GET", syncPath({ filter: NOTHING, timeoutMs: 0 }), { token: user.access_token })).next_batch as string);
  } finally {
    http.close();
  }
}

export async function follow(p: { baseUrl: string; users: readonly User[]; transport: Transport; onEvents: OnEvents }): Promise<Followers> {
  const tokens = await currentTokens(p.baseUrl, p.users);
  const state: FollowState = { responses: 0, errors: 0, limited: 0 };
  if (p.transport === "stream") {
    const clients = p.users.map(
      (user, i) =>
        new StreamClient({
          baseUrls: [p.baseUrl],
          accessToken: user.access_token,
          since: tokens[i]!,
          filter: FOLLOW_FILTER,
          onSync: (frame) => p.onEvents(user.user_id, timelineEvents(frame, state)),
        }),
    );
    await mapLimit(clients, 64, (client) => client.connect());
    return handle(state, async () => {
      for (const client of clients) client.close();
    });
  }

  // One agent for the group: stopping destroys its sockets, which ends every long-poll at once.
  const http = new JsonHttp(p.baseUrl);
  let running = true;
  const loops = p.users.map(async (user, i) => {
    let since = tokens[i]!;
    while (running) {
      try {
        const res = await http.request("GET", syncPath({ since, timeoutMs: LONG_POLL_MS, filter: FOLLOW_FILTER }), { token: user.access_token, timeoutMs: LONG_POLL_MS + 30_000 });
        if (res.status !== 200) throw new Error(String(res.status));
        since = res.body.next_batch;
        p.onEvents(user.user_id, timelineEvents(res.body, state));
      } catch {
        if (!running) return;
        state.errors += 1;
        await sleep(200);
      }
    }
  });
  return handle(state, async () => {
    running = false;
    http.close();
    await Promise.all(loops);
  });
}

function handle(state: FollowState, stop: () => Promise<void>): Followers {
  return {
    get responses() {
      return state.responses;
    },
    get errors() {
      return state.errors;
    },
    get limited() {
      return state.limited;
    },
    stop,
  };
}
