// Two real server processes that keep sending while the network between them
// is cut: each builds on its own side of the fork, and once the partition
// heals each receives the other's branch and both resolve the room to the
// same state (spec "Room state", state resolution), then merge the DAG.
import { expect } from "chai";
import { registerUser, type TestUser } from "../../support/accounts.ts";
import { startFederatedServer, type FederatedServer } from "../../support/federation.ts";
import { TestClient } from "../../support/http-client.ts";
import { freePort } from "../../support/ports.ts";
import { createRoom, room, sendText, V3 } from "../../support/rooms.ts";
import { startTcpProxy, type TcpProxy } from "../../support/tcp-proxy.ts";

async function eventually<T>(what: string, check: () => Promise<T | undefined>, timeoutMs = 60_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await check();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 250));
  }
}

describe("a partitioned DAG, healed (two real server processes)", function () {
  this.timeout(180_000);
  const proxies: TcpProxy[] = [];
  let a: FederatedServer;
  let b: FederatedServer;
  let apiA: TestClient;
  let apiB: TestClient;
  let alice: TestUser;
  let bob: TestUser;

  /** A server whose name points at a proxy in front of its federation listener. */
  async function proxiedServer(): Promise<FederatedServer> {
    const [listenerPort, namePort] = [await freePort(), await freePort()];
    proxies.push(await startTcpProxy(listenerPort, namePort));
    return startFederatedServer({ serverName: `127.0.0.1:${namePort}`, federationPort: listenerPort });
  }

  before(async () => {
    [a, b] = [await proxiedServer(), await proxiedServer()];
    apiA = new TestClient(a.baseUrl);
    apiB = new TestClient(b.baseUrl);
    [alice, bob] = await Promise.all([registerUser(apiA), registerUser(apiB)]);
  });
  after(async () => {
    await Promise.all([a?.destroy(), b?.destroy(), ...proxies.map((p) => p.close())]);
  });

  for (const version of ["12", "10", "1"]) {
    it(`room version ${version}: both sides converge on one state after sending through a partition`, async () => {
      const users = { [bob.user_id]: 100, ...(version === "12" ? {} : { [alice.user_id]: 100 }) };
      const roomId = await createRoom(apiA, alice, { preset: "public_chat", room_version: version, power_level_content_override: { users } });
      const joined = await apiB.post(`${V3}/join/${encodeURIComponent(roomId)}?server_name=${encodeURIComponent(a.serverName)}`, {}, { token: bob.access_token });
      expect(joined.status, JSON.stringify(joined.body)).to.equal(200);

      for (const proxy of proxies) proxy.block();
      const [topicA, topicB] = await Promise.all([
        apiA.put<{ event_id: string }>(`${room(roomId)}/state/m.room.topic/`, { topic: "A's topic" }, { token: alice.access_token }),
        apiB.put<{ event_id: string }>(`${room(roomId)}/state/m.room.topic/`, { topic: "B's topic" }, { token: bob.access_token }),
      ]);
      expect([topicA.status, topicB.status]).to.deep.equal([200, 200]);
      const messageA = await sendText(apiA, alice, roomId, "A during the partition");
      const messageB = await sendText(apiB, bob, roomId, "B during the partition");
      for (const proxy of proxies) proxy.unblock();

      // Each side gets the other's branch (the senders retry after their backoff).
      const has = async (api: TestClient, user: TestUser, eventId: string) =>
        (await api.get(`${room(roomId)}/event/${encodeURIComponent(eventId)}`, { token: user.access_token })).status === 200;
      await eventually("A's branch on B", async () => ((await has(apiB, bob, messageA)) ? true : undefined));
      await eventually("B's branch on A", async () => ((await has(apiA, alice, messageB)) ? true : undefined));

      // Both resolve the fork the same way.
      const topicOn = async (api: TestClient, user: TestUser) => (await api.get<{ topic: string }>(`${room(roomId)}/state/m.room.topic/`, { token: user.access_token })).body.topic;
      const [onA, onB] = [await topicOn(apiA, alice), await topicOn(apiB, bob)];
      expect(onA).to.equal(onB);
      expect(["A's topic", "B's topic"]).to.include(onA);
      const state = async (api: TestClient, user: TestUser) =>
        (await api.get<Array<Record<string, any>>>(`${room(roomId)}/state`, { token: user.access_token })).body.map((e) => `${e.type}|${e.state_key}|${e.event_id}`).sort();
      expect(await state(apiA, alice)).to.deep.equal(await state(apiB, bob));

      // A message sent after the heal names both branches and is seen by both.
      const merge = await sendText(apiA, alice, roomId, "after the heal");
      await eventually("the merge on B", async () => ((await has(apiB, bob, merge)) ? true : undefined));
      const event = await apiB.get<Record<string, any>>(`${room(roomId)}/event/${encodeURIComponent(merge)}`, { token: bob.access_token });
      expect(event.status).to.equal(200);
      expect(await state(apiA, alice)).to.deep.equal(await state(apiB, bob));
    });
  }
});
