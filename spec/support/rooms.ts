// Room helpers for integration tests (Synapse's self.helper), through the public API.
import { expect } from "chai";
import type { TestClient } from "./http-client.ts";
import type { TestUser } from "./accounts.ts";

export const V3 = "/_matrix/client/v3";
export const room = (roomId: string) => `${V3}/rooms/${encodeURIComponent(roomId)}`;

let txn = 0;
export function nextTxnId(): string {
  txn += 1;
  return `txn-${Date.now()}-${txn}`;
}

export async function createRoom(api: TestClient, user: TestUser, body: Record<string, unknown> = {}): Promise<string> {
  const res = await api.post<{ room_id: string }>(`${V3}/createRoom`, body, { token: user.access_token });
  expect(res.status, JSON.stringify(res.body)).to.equal(200);
  return res.body.room_id;
}

export async function join(api: TestClient, user: TestUser, roomId: string): Promise<void> {
  const res = await api.post(`${V3}/join/${encodeURIComponent(roomId)}`, {}, { token: user.access_token });
  expect(res.status, JSON.stringify(res.body)).to.equal(200);
}

export async function sendText(api: TestClient, user: TestUser, roomId: string, body: string, txnId = nextTxnId()): Promise<string> {
  const res = await api.put<{ event_id: string }>(`${room(roomId)}/send/m.room.message/${txnId}`, { msgtype: "m.text", body }, { token: user.access_token });
  expect(res.status, JSON.stringify(res.body)).to.equal(200);
  return res.body.event_id;
}

export interface SyncResponse {
  next_batch: string;
  rooms: {
    join: Record<string, { timeline: { events: Array<Record<string, any>>; limited: boolean; prev_batch: string }; state: { events: Array<Record<string, any>> }; summary?: Record<string, unknown> }>;
    invite: Record<string, { invite_state: { events: Array<Record<string, any>> } }>;
    leave: Record<string, { timeline: { events: Array<Record<string, any>> } }>;
    knock: Record<string, unknown>;
  };
}

export async function sync(api: TestClient, user: TestUser, query = ""): Promise<SyncResponse> {
  const res = await api.get<SyncResponse>(`${V3}/sync${query}`, { token: user.access_token });
  expect(res.status, JSON.stringify(res.body)).to.equal(200);
  return res.body;
}
