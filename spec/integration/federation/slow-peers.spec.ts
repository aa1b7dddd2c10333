// A remote server that answers slowly, with garbage or never must not stall
// other rooms or other destinations: a real server process A shares one room
// with a real server B and another with a misbehaving peer F (real HTTPS,
// its own key; spec/support/misbehaving-server.ts), and everything between A
// and B keeps flowing while F hangs.
import { expect } from "chai";
import { getRoomVersion } from "../../../server/protocol/room-versions.ts";
import { createDatabase, type Database } from "../../../server/storage/database.ts";
import { getForwardExtremities } from "../../../server/storage/events.ts";
import { registerUser, type TestUser } from "../../support/accounts.ts";
import { startFederatedServer, type FederatedServer } from "../../support/federation.ts";
import { TestClient } from "../../support/http-client.ts";
import { startMisbehavingServer, type MisbehavingServer } from "../../support/misbehaving-server.ts";
import { buildRemoteEvent } from "../../support/pdu-factory.ts";
import { createRoom, room, sendText, V3 } from "../../support/rooms.ts";
import { databaseUrl } from "../../support/test-env.ts";

async function eventually<T>(what: string, check: () => Promise<T | undefined>, timeoutMs = 30_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await check();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

describe("slow, silent and garbled peers do not stall others (real server processes)", function () {
  this.timeout(120_000);
  let a: FederatedServer;
  let b: FederatedServer;
  let f: MisbehavingServer;
  let apiA: TestClient;
  let apiB: TestClient;
  let alice: TestUser;
  let bob: TestUser;
  let dbA: Database;
  let shared: string;
  let withF: string;
  const fred = () => `@fred:${f.serverName}`;
  const version = getRoomVersion("12")!;

  before(async () => {
    f = await startMisbehavingServer();
    [a, b] = await Promise.all([
      // Short timeouts, so the test sees A give up on F rather than wait a minute.
      startFederatedServer({ config: { federation: { request_timeout_ms: 3000, connect_timeout_ms: 1000 } } }),
      startFederatedServer(),
    ]);
    apiA = new TestClient(a.baseUrl);
    apiB = new TestClient(b.baseUrl);
    [alice, bob] = await Promise.all([registerUser(apiA), registerUser(apiB)]);
    dbA = createDatabase(databaseUrl(a.databaseName), { max: 2 });
    shared = await createRoom(apiA, alice, { preset: "public_chat" });
    const joined = await apiB.post(`${V3}/join/${encodeURIComponent(shared)}?server_name=${encodeURIComponent(a.serverName)}`, {}, { token: bob.access_token });
    expect(joined.status, JSON.stringify(joined.body)).to.equal(200);
    withF = await createRoom(apiA, alice, { preset: "public_chat" });
    await f.join(a.federationUrl!, a.serverName, withF, fred(), version);
  });
  after(async () => {
    await dbA?.close();
    await Promise.all([a?.destroy(), b?.destroy(), f?.close()]);
  });

  const seenOn = async (api: TestClient, user: TestUser, roomId: string, eventId: string) =>
    (await api.get(`${room(roomId)}/event/${encodeURIComponent(eventId)}`, { token: user.access_token })).status === 200 ? true : undefined;

  it("keeps sending to B while the transaction to F never answers", async () => {
    f.behave("never");
    await sendText(apiA, alice, withF, "for a peer that never answers");
    const started = Date.now();
    const forB = await sendText(apiA, alice, shared, "for B, meanwhile");
    await eventually("A's message on B", () => seenOn(apiB, bob, shared, forB));
    // Well within the three seconds A waits on F before giving up.
    expect(Date.now() - started).to.be.below(3000);
  });

  it("keeps taking B's transactions while F's own transaction waits on F for missing events", async () => {
    f.behave("never");
    // A PDU from F whose parent A lacks: A asks F for it (get_missing_events, then state_ids), and F never answers.
    const orphan = await buildRemoteEvent(dbA, version, { name: f.serverName, key: f.key }, {
      roomId: withF,
      sender: fred(),
      type: "m.room.message",
      content: { msgtype: "m.text", body: "my parent is missing" },
      prevEventIds: [`$${"Q".repeat(43)}`],
      authFrom: "current",
    });
    let fDone = 0;
    const fTransaction = f
      .signedRequest(a.federationUrl!, a.serverName, "PUT", `/_matrix/federation/v1/send/orphan-${Date.now()}`, { origin: f.serverName, origin_server_ts: Date.now(), pdus: [orphan.pdu] })
      .then((res) => {
        fDone = Date.now();
        return res;
      });
    await new Promise((r) => setTimeout(r, 200));
    const fromBob = await sendText(apiB, bob, shared, "B's message while A waits on F");
    await eventually("B's message on A", () => seenOn(apiA, alice, shared, fromBob));
    const bobSeen = Date.now();
    const answer = await fTransaction;
    expect(answer.status).to.equal(200);
    expect(answer.body.pdus[orphan.eventId].error).to.match(/could not fetch/);
    expect(bobSeen, "B's message was taken before F's transaction finished").to.be.below(fDone);
    // Asking F again gave up within the configured timeouts, not after a minute.
    expect(fDone - bobSeen).to.be.below(20_000);
  });

  it("backs off from a peer that answers garbage, and others are unaffected", async () => {
    f.behave("garbage");
    await sendText(apiA, alice, withF, "for a peer that answers garbage");
    const forB = await sendText(apiA, alice, shared, "for B, still");
    await eventually("A's message on B", () => seenOn(apiB, bob, shared, forB));
    // A client asking about F gets a clean error, fast.
    const started = Date.now();
    const profile = await apiA.get(`${V3}/profile/${encodeURIComponent(fred())}`);
    expect(profile.status).to.equal(502);
    expect(profile.body.errcode).to.equal("M_UNKNOWN");
    expect(Date.now() - started).to.be.below(3000);
  });

  it("does not resend to F before its backoff ends, yet resumes as soon as F reaches A", async () => {
    const extremities = await getForwardExtremities(dbA, withF);
    expect(extremities.length).to.be.greaterThan(0);
    const countSends = () => f.requests.filter((p) => p.startsWith("/_matrix/federation/v1/send/")).length;
    const before = countSends();
    await sendText(apiA, alice, withF, "during the backoff");
    await new Promise((r) => setTimeout(r, 1000));
    expect(countSends(), "no new transaction during the backoff").to.equal(before);
    // F contacts A (any signed request): its backoff ends and what it is owed goes now.
    f.behave("never");
    await f.signedRequest(a.federationUrl!, a.serverName, "GET", `/_matrix/federation/v1/query/profile?user_id=${encodeURIComponent(alice.user_id)}`);
    await eventually("a transaction to F after it reached A", async () => (countSends() > before ? true : undefined), 5000);
  });
});
