// In-process caches stay within their configured bounds however many rooms
// and devices a process serves (issue: Hardening, item 11, memory), and
// evicting an entry changes nothing a client can see. Sizes are read from
// /metrics (myelin_cache_*), not from the noisy process RSS.
import { expect } from "chai";
import { registerUser, type TestUser } from "../../support/accounts.ts";
import { TestClient } from "../../support/http-client.ts";
import { createRoom, room, sendText, V3 } from "../../support/rooms.ts";
import { startServer, type RunningServer } from "../../support/server-process.ts";

const ROOM_VERSIONS = 5;
const DEVICES = 4;

function cacheMetric(text: string, metric: string, cache: string): number {
  const line = text.split("\n").find((l) => l.startsWith(`${metric}{`) && l.includes(`cache="${cache}"`));
  expect(line, `${metric}{cache="${cache}"} in /metrics`).to.not.equal(undefined);
  return Number(line!.slice(line!.lastIndexOf(" ") + 1));
}

describe("cache bounds (real server process)", function () {
  let server: RunningServer;
  let api: TestClient;
  let alice: TestUser;
  const metrics = async () => (await api.get("/metrics", { unspecified: true })).text;

  before(async function () {
    this.timeout(60_000);
    server = await startServer({ config: { caches: { room_versions: ROOM_VERSIONS, device_last_seen: DEVICES } } });
    api = new TestClient(server.baseUrl);
    alice = await registerUser(api);
  });
  after(async () => {
    await server?.stop();
  });

  it("keeps at most caches.room_versions rooms' versions however many rooms are used, and evicted rooms still work", async function () {
    this.timeout(60_000);
    const rooms: string[] = [];
    for (let i = 0; i < ROOM_VERSIONS * 3; i++) {
      const roomId = await createRoom(api, alice, { preset: "private_chat" });
      rooms.push(roomId);
      await sendText(api, alice, roomId, `hello ${i}`);
      expect((await api.get(`${room(roomId)}/state`, { token: alice.access_token })).status).to.equal(200);
    }
    const text = await metrics();
    expect(cacheMetric(text, "myelin_cache_max_entries", "room_versions")).to.equal(ROOM_VERSIONS);
    expect(cacheMetric(text, "myelin_cache_entries", "room_versions")).to.equal(ROOM_VERSIONS);
    expect(cacheMetric(text, "myelin_cache_evictions_total", "room_versions")).to.be.at.least(ROOM_VERSIONS * 2);

    // The first room's version was evicted long ago: it is read again from PostgreSQL.
    const first = rooms[0]!;
    const eventId = await sendText(api, alice, first, "still here");
    const event = await api.get<{ content: { body: string } }>(`${room(first)}/event/${encodeURIComponent(eventId)}`, { token: alice.access_token });
    expect(event.status).to.equal(200);
    expect(event.body.content.body).to.equal("still here");
    // Unknown rooms are not cached, and still refused as before.
    const unknown = await api.put(`${room("!nowhere:localhost")}/send/m.room.message/t1`, { msgtype: "m.text", body: "x" }, { token: alice.access_token });
    expect(unknown.status).to.equal(403);
    expect(unknown.body).to.include({ errcode: "M_FORBIDDEN" });
    expect(cacheMetric(await metrics(), "myelin_cache_entries", "room_versions")).to.equal(ROOM_VERSIONS);
  });

  it("keeps at most caches.device_last_seen devices in the last-seen throttle however many devices authenticate", async function () {
    this.timeout(60_000);
    for (let i = 0; i < DEVICES * 3; i++) {
      const login = await api.post<{ access_token: string }>(`${V3}/login`, { type: "m.login.password", identifier: { type: "m.id.user", user: alice.user_id }, password: alice.password });
      expect(login.status, JSON.stringify(login.body)).to.equal(200);
      expect((await api.get(`${V3}/account/whoami`, { token: login.body.access_token })).status).to.equal(200);
    }
    const text = await metrics();
    expect(cacheMetric(text, "myelin_cache_max_entries", "device_last_seen")).to.equal(DEVICES);
    expect(cacheMetric(text, "myelin_cache_entries", "device_last_seen")).to.equal(DEVICES);
    expect(cacheMetric(text, "myelin_cache_evictions_total", "device_last_seen")).to.be.at.least(DEVICES * 2);
  });
});
