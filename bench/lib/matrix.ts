// The Client-Server API calls the workloads make, written once for both
// servers: only spec endpoints (and the shared-secret admin registration both
// serve), nothing server-specific.
import { registerWithSharedSecret } from "../../spec/support/accounts.ts";
import type { JsonHttp } from "./http.ts";
import { mapLimit } from "./pool.ts";

export interface User {
  user_id: string;
  access_token: string;
}

const enc = encodeURIComponent;
let txnCounter = 0;

/** A transaction ID unique within this load-generator process. */
export function nextTxnId(): string {
  txnCounter += 1;
  return `b${process.pid}.${txnCounter}`;
}

/** Registers `count` users named `<prefix><i>` with a few registrations in flight at once. */
const PASSWORD = "bench-password";

export async function registerUsers(baseUrl: string, sharedSecret: string, prefix: string, count: number, concurrency = 8): Promise<User[]> {
  return mapLimit(
    Array.from({ length: count }, (_, i) => i),
    concurrency,
    async (i) => {
      const user = await registerWithSharedSecret(baseUrl, sharedSecret, `${prefix}${i}`, PASSWORD);
      return { user_id: user.user_id, access_token: user.access_token };
    },
  );
}

/** A new device (and access token) for a user registered by `registerUsers`. */
export async function login(http: JsonHttp, userId: string): Promise<User> {
  const res = await http.ok("POST", "/_matrix/client/v3/login", { body: { type: "m.login.password", identifier: { type: "m.id.user", user: userId }, password: PASSWORD } });
  return { user_id: res.user_id, access_token: res.access_token };
}

/**
 * Creates a public room. One user's creations must not overlap: our server
 * answers two in the same millisecond with a 500 (both v12 create events, and
 * so both room IDs, are identical; see the bench README), so use `createRooms`.
 */
export async function createRoom(http: JsonHttp, user: User, body: Record<string, unknown> = {}): Promise<string> {
  const res = await http.ok("POST", "/_matrix/client/v3/createRoom", { token: user.access_token, body: { preset: "public_chat", ...body } });
  return res.room_id as string;
}

/** `count` rooms created by `user`, one after the other. */
export async function createRooms(http: JsonHttp, user: User, count: number): Promise<string[]> {
  const rooms: string[] = [];
  for (let i = 0; i < count; i++) rooms.push(await createRoom(http, user));
  return rooms;
}

export async function joinRoom(http: JsonHttp, user: User, roomId: string): Promise<void> {
  await http.ok("POST", `/_matrix/client/v3/join/${enc(roomId)}`, { token: user.access_token, body: {} });
}

/** Joins every user to every room, `concurrency` joins in flight, never two into one room at once. */
export async function joinAll(http: JsonHttp, users: User[], roomIds: string[], concurrency = 8): Promise<void> {
  await mapLimit(roomIds, concurrency, async (roomId) => {
    for (const user of users) await joinRoom(http, user, roomId);
  });
}

export async function sendMessage(http: JsonHttp, user: User, roomId: string, body: string): Promise<string> {
  const res = await http.ok("PUT", `/_matrix/client/v3/rooms/${enc(roomId)}/send/m.room.message/${nextTxnId()}`, {
    token: user.access_token,
    body: { msgtype: "m.text", body },
  });
  return res.event_id as string;
}

export async function sendState(http: JsonHttp, user: User, roomId: string, type: string, stateKey: string, content: Record<string, unknown>): Promise<string> {
  const res = await http.ok("PUT", `/_matrix/client/v3/rooms/${enc(roomId)}/state/${enc(type)}/${enc(stateKey)}`, { token: user.access_token, body: content });
  return res.event_id as string;
}

export interface SyncQuery {
  since?: string;
  timeoutMs?: number;
  filter?: unknown;
  fullState?: boolean;
}

export function syncPath(query: SyncQuery): string {
  const params = new URLSearchParams();
  if (query.since) params.set("since", query.since);
  if (query.timeoutMs !== undefined) params.set("timeout", String(query.timeoutMs));
  if (query.filter !== undefined) params.set("filter", JSON.stringify(query.filter));
  if (query.fullState) params.set("full_state", "true");
  return `/_matrix/client/v3/sync?${params.toString()}`;
}

/** Element's sync filter: lazy-loaded members, 20 timeline events per room. */
export const ELEMENT_FILTER = { room: { timeline: { limit: 20 }, state: { lazy_load_members: true } } };
/** The same timeline limit with every member event in `state`. */
export const FULL_STATE_FILTER = { room: { timeline: { limit: 20 } } };
