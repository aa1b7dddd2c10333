// Federation with a real Synapse (the reference homeserver), both ways, over
// real HTTPS with certificate checks on on our side: a Synapse user invites
// ours into a Synapse room and ours joins; messages, topic and name changes,
// typing and receipts flow both ways; our server backfills the history from
// before its join; one of our rooms is joined by a Synapse user, who is then
// kicked and banned, after which Synapse no longer receives the room; and
// Synapse, stopped while we send 50 messages, receives all 50 in order once
// it is back.
import { expect } from "chai";
import { registerUser, type TestUser } from "../support/accounts.ts";
import { crossSigningSet, TestDevice } from "../support/e2ee.ts";
import type { FederatedServer } from "../support/federation.ts";
import { TestClient } from "../support/http-client.ts";
import { createRoom, room, sendText, V3, type SyncResponse } from "../support/rooms.ts";
import type { RunningSynapse, SynapseUser } from "../support/synapse.ts";
import { printLogsOnFailure, startSynapsePair, stopSynapsePair } from "../support/synapse-pair.ts";

const START_TIMEOUT_MS = 120_000;

async function eventually<T>(what: string, check: () => Promise<T | undefined>, timeoutMs = 60_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await check();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 250));
  }
}

type Ephemeral = { rooms: { join: Record<string, { ephemeral?: { events: Array<Record<string, any>> } }> } };

describe("federation with a real Synapse", function () {
  this.timeout(START_TIMEOUT_MS + 120_000);
  let synapse: RunningSynapse | undefined;
  let ours: FederatedServer | undefined;
  let api: TestClient;
  let syn: TestClient;
  let olive: TestUser;
  let sam: SynapseUser;
  let admin: SynapseUser;
  let samRoom: string;
  const samBefore: string[] = [];

  /** Synapse's answers are its own business: no schema check on them. */
  const onSynapse = {
    get: <T = Record<string, any>>(path: string, token: string) => syn.get<T>(path, { token, unspecified: true }),
    post: <T = Record<string, any>>(path: string, body: unknown, token: string) => syn.post<T>(path, body, { token, unspecified: true }),
    put: <T = Record<string, any>>(path: string, body: unknown, token: string) => syn.put<T>(path, body, { token, unspecified: true }),
  };

  async function synapseTimeline(roomId: string, token = sam.access_token): Promise<Array<Record<string, any>>> {
    const res = await onSynapse.get<{ chunk: Array<Record<string, any>> }>(`${room(roomId)}/messages?dir=b&limit=200`, token);
    expect(res.status, res.text).to.equal(200);
    return res.body.chunk.reverse();
  }

  /**
   * Follows a Synapse user's sync (incremental, long-polled: Synapse caches
   * initial sync answers for minutes) until `found` picks something out.
   */
  async function onSynapseSync<T>(what: string, token: string, found: (body: Ephemeral & SyncResponse) => T | undefined, timeoutMs = 60_000): Promise<T> {
    const deadline = Date.now() + timeoutMs;
    let since: string | undefined;
    for (;;) {
      const res = await onSynapse.get<Ephemeral & SyncResponse>(`${V3}/sync?timeout=2000${since ? `&since=${encodeURIComponent(since)}` : ""}`, token);
      expect(res.status, res.text).to.equal(200);
      const value = found(res.body);
      if (value !== undefined) return value;
      since = res.body.next_batch;
      if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    }
  }

  async function ourTimeline(roomId: string, user = olive): Promise<Array<Record<string, any>>> {
    const res = await api.get<{ chunk: Array<Record<string, any>> }>(`${room(roomId)}/messages?dir=b&limit=200`, { token: user.access_token });
    expect(res.status, res.text).to.equal(200);
    return res.body.chunk.reverse();
  }

  let pair: Awaited<ReturnType<typeof startSynapsePair>> | undefined;

  before(async function () {
    this.timeout(2 * START_TIMEOUT_MS);
    pair = await startSynapsePair(START_TIMEOUT_MS);
    if (pair.error) throw pair.error;
    synapse = pair.synapse;
    ours = pair.ours;
    api = new TestClient(ours!.baseUrl);
    syn = new TestClient(synapse!.clientUrl);
    [olive, sam, admin] = await Promise.all([registerUser(api), synapse!.registerUser("sam"), synapse!.registerUser("admin", true)]);
  });
  after(async function () {
    this.timeout(60_000);
    await stopSynapsePair(pair);
  });
  afterEach(function () {
    printLogsOnFailure(this, pair);
  });

  it("lets our user join a Synapse room it was invited to", async () => {
    const created = await onSynapse.post<{ room_id: string }>(`${V3}/createRoom`, { preset: "private_chat", name: "Synapse room" }, sam.access_token);
    expect(created.status, created.text).to.equal(200);
    samRoom = created.body.room_id;
    for (let i = 0; i < 3; i++) {
      const sent = await onSynapse.put<{ event_id: string }>(`${room(samRoom)}/send/m.room.message/b${i}`, { msgtype: "m.text", body: `before ${i}` }, sam.access_token);
      samBefore.push(sent.body.event_id);
    }
    const invited = await onSynapse.post(`${room(samRoom)}/invite`, { user_id: olive.user_id }, sam.access_token);
    expect(invited.status, invited.text).to.equal(200);
    await eventually("the invite in our user's sync", async () => (await api.get<SyncResponse>(`${V3}/sync`, { token: olive.access_token })).body.rooms.invite[samRoom]);
    const joined = await api.post(`${V3}/join/${encodeURIComponent(samRoom)}`, {}, { token: olive.access_token });
    expect(joined.status, joined.text).to.equal(200);
    await eventually("our user joined, as Synapse sees it", async () => {
      const members = await onSynapse.get<{ joined: Record<string, unknown> }>(`${room(samRoom)}/joined_members`, sam.access_token);
      return Object.keys(members.body.joined ?? {}).includes(olive.user_id) ? true : undefined;
    });
  });

  it("backfills the room's history from before the join", async () => {
    const history = await ourTimeline(samRoom);
    expect(history.filter((e) => e.type === "m.room.message").map((e) => e.event_id).slice(0, 3)).to.deep.equal(samBefore);
  });

  it("carries messages both ways", async () => {
    const fromSam = await onSynapse.put<{ event_id: string }>(`${room(samRoom)}/send/m.room.message/s1`, { msgtype: "m.text", body: "hi from Synapse" }, sam.access_token);
    await eventually("Synapse's message on our server", async () => ((await ourTimeline(samRoom)).some((e) => e.event_id === fromSam.body.event_id) ? true : undefined));
    const fromOlive = await sendText(api, olive, samRoom, "hi from Myelin");
    await eventually("our message on Synapse", async () => ((await synapseTimeline(samRoom)).some((e) => e.event_id === fromOlive) ? true : undefined));
  });

  it("carries topic and name changes both ways", async () => {
    const pl = await onSynapse.get<Record<string, any>>(`${room(samRoom)}/state/m.room.power_levels/`, sam.access_token);
    const raised = await onSynapse.put(`${room(samRoom)}/state/m.room.power_levels/`, { ...pl.body, users: { ...pl.body.users, [olive.user_id]: 50 } }, sam.access_token);
    expect(raised.status, raised.text).to.equal(200);
    const named = await onSynapse.put(`${room(samRoom)}/state/m.room.name/`, { name: "Renamed on Synapse" }, sam.access_token);
    expect(named.status).to.equal(200);
    await eventually("the name on our server", async () => {
      const res = await api.get<{ name?: string }>(`${room(samRoom)}/state/m.room.name/`, { token: olive.access_token });
      return res.body.name === "Renamed on Synapse" ? true : undefined;
    });
    await eventually("our user's power on our server", async () => {
      const res = await api.get<Record<string, any>>(`${room(samRoom)}/state/m.room.power_levels/`, { token: olive.access_token });
      return res.body.users?.[olive.user_id] === 50 ? true : undefined;
    });
    const topic = await api.put(`${room(samRoom)}/state/m.room.topic/`, { topic: "Set on Myelin" }, { token: olive.access_token });
    expect(topic.status, topic.text).to.equal(200);
    await eventually("the topic on Synapse", async () => {
      const res = await onSynapse.get<{ topic?: string }>(`${room(samRoom)}/state/m.room.topic/`, sam.access_token);
      return res.body.topic === "Set on Myelin" ? true : undefined;
    });
  });

  it("carries typing and read receipts both ways", async () => {
    await onSynapse.put(`${room(samRoom)}/typing/${encodeURIComponent(sam.user_id)}`, { typing: true, timeout: 30_000 }, sam.access_token);
    await eventually("Synapse's typing on our server", async () => {
      const s = await api.get<Ephemeral>(`${V3}/sync`, { token: olive.access_token });
      return s.body.rooms.join[samRoom]?.ephemeral?.events.find((e) => e.type === "m.typing")?.content.user_ids.includes(sam.user_id) ? true : undefined;
    });
    await api.put(`${room(samRoom)}/typing/${encodeURIComponent(olive.user_id)}`, { typing: true, timeout: 30_000 }, { token: olive.access_token });
    await onSynapseSync("our typing on Synapse", sam.access_token, (body) =>
      body.rooms?.join?.[samRoom]?.ephemeral?.events.find((e) => e.type === "m.typing")?.content.user_ids.includes(olive.user_id) ? true : undefined,
    );
    const last = await sendText(api, olive, samRoom, "please read");
    await eventually("our message on Synapse", async () => ((await synapseTimeline(samRoom)).some((e) => e.event_id === last) ? true : undefined));
    await onSynapse.post(`${room(samRoom)}/receipt/m.read/${encodeURIComponent(last)}`, {}, sam.access_token);
    await eventually("Synapse's receipt on our server", async () => {
      const s = await api.get<Ephemeral>(`${V3}/sync`, { token: olive.access_token });
      return s.body.rooms.join[samRoom]?.ephemeral?.events.find((e) => e.type === "m.receipt")?.content[last]?.["m.read"]?.[sam.user_id] ? true : undefined;
    });
    const fromSam = await onSynapse.put<{ event_id: string }>(`${room(samRoom)}/send/m.room.message/s2`, { msgtype: "m.text", body: "read this" }, sam.access_token);
    await eventually("Synapse's message here", async () => ((await ourTimeline(samRoom)).some((e) => e.event_id === fromSam.body.event_id) ? true : undefined));
    await api.post(`${room(samRoom)}/receipt/m.read/${encodeURIComponent(fromSam.body.event_id)}`, {}, { token: olive.access_token });
    await onSynapseSync("our receipt on Synapse", sam.access_token, (body) =>
      body.rooms?.join?.[samRoom]?.ephemeral?.events.find((e) => e.type === "m.receipt")?.content[fromSam.body.event_id]?.["m.read"]?.[olive.user_id] ? true : undefined,
    );
  });

  it("exchanges end-to-end encryption keys, device-list updates and to-device messages with Synapse", async () => {
    // Our user's keys, cross-signing included, as Synapse's user sees them (Synapse asks /user/devices or /user/keys/query).
    const oliveDevice = new TestDevice(olive);
    expect((await oliveDevice.upload(api, { device_keys: oliveDevice.deviceKeys(), one_time_keys: oliveDevice.oneTimeKeys(2) })).status).to.equal(200);
    const oliveKeys = crossSigningSet(olive);
    expect((await api.post(`${V3}/keys/device_signing/upload`, oliveKeys.body, { token: olive.access_token })).status).to.equal(200);
    const seenBySam = await eventually("olive's keys on Synapse", async () => {
      const q = await onSynapse.post(`${V3}/keys/query`, { device_keys: { [olive.user_id]: [] } }, sam.access_token);
      return q.body.device_keys?.[olive.user_id]?.[olive.device_id] && q.body.master_keys?.[olive.user_id] ? q.body : undefined;
    });
    expect(seenBySam.device_keys[olive.user_id][olive.device_id].keys[`ed25519:${olive.device_id}`]).to.equal(oliveDevice.ed25519);
    const claimed = await onSynapse.post(`${V3}/keys/claim`, { one_time_keys: { [olive.user_id]: { [olive.device_id]: "signed_curve25519" } } }, sam.access_token);
    expect(Object.keys(claimed.body.one_time_keys[olive.user_id][olive.device_id])[0]).to.match(/^signed_curve25519:/);

    // Synapse's user: queried before it has keys (our server caches its empty list), then its upload arrives as an update.
    const before = await api.post<Record<string, any>>(`${V3}/keys/query`, { device_keys: { [sam.user_id]: [] } }, { token: olive.access_token });
    expect(before.body.failures).to.deep.equal({});
    const from = (await api.get<SyncResponse>(`${V3}/sync?timeout=0`, { token: olive.access_token })).body.next_batch;
    const samDevice = new TestDevice(sam);
    expect((await onSynapse.post(`${V3}/keys/upload`, { device_keys: samDevice.deviceKeys(), one_time_keys: samDevice.oneTimeKeys(2) }, sam.access_token)).status).to.equal(200);
    await eventually("Synapse's device-list update on our server", async () => {
      const s = await api.get<Record<string, any>>(`${V3}/sync?since=${from}&timeout=0`, { token: olive.access_token });
      return s.body.device_lists.changed.includes(sam.user_id) ? true : undefined;
    });
    const after = await api.post<Record<string, any>>(`${V3}/keys/query`, { device_keys: { [sam.user_id]: [] } }, { token: olive.access_token });
    expect(after.body.device_keys[sam.user_id][sam.device_id].keys[`ed25519:${sam.device_id}`]).to.equal(samDevice.ed25519);
    // A second device of sam: Synapse's next update names the previous one, and applies without a resync.
    const resyncs = () => ours!.logs().filter((l) => l.msg === "device list update after a gap: resyncing").length;
    const resyncsBefore = resyncs();
    const samLogin = await onSynapse.post<SynapseUser>(`${V3}/login`, { type: "m.login.password", identifier: { type: "m.id.user", user: sam.user_id }, password: sam.password }, "");
    const samPhone = new TestDevice({ ...samLogin.body, password: sam.password });
    await onSynapse.post(`${V3}/keys/upload`, { device_keys: samPhone.deviceKeys() }, samLogin.body.access_token);
    await eventually("sam's second device on our server", async () => {
      const q = await api.post<Record<string, any>>(`${V3}/keys/query`, { device_keys: { [sam.user_id]: [] } }, { token: olive.access_token });
      return q.body.device_keys[sam.user_id]?.[samLogin.body.device_id] ? true : undefined;
    });
    expect(resyncs(), "Synapse's prev_id chain followed").to.equal(resyncsBefore);
    const claim = await api.post<Record<string, any>>(`${V3}/keys/claim`, { one_time_keys: { [sam.user_id]: { [sam.device_id]: "signed_curve25519" } } }, { token: olive.access_token });
    expect(Object.keys(claim.body.one_time_keys[sam.user_id][sam.device_id])[0]).to.match(/^signed_curve25519:/);

    // To-device messages both ways.
    expect((await api.put(`${V3}/sendToDevice/org.example.test/t1`, { messages: { [sam.user_id]: { [sam.device_id]: { n: "from olive" } } } }, { token: olive.access_token })).status).to.equal(200);
    await onSynapseSync("our to-device message on Synapse", sam.access_token, (body) =>
      (body as Record<string, any>).to_device?.events?.some((e: Record<string, any>) => e.type === "org.example.test" && e.sender === olive.user_id) ? true : undefined,
    );
    const oliveFrom = (await api.get<SyncResponse>(`${V3}/sync?timeout=0`, { token: olive.access_token })).body.next_batch;
    await onSynapse.put(`${V3}/sendToDevice/org.example.test/t1`, { messages: { [olive.user_id]: { "*": { n: "from sam" } } } }, sam.access_token);
    const got = await eventually("Synapse's to-device message here", async () => {
      const s = await api.get<Record<string, any>>(`${V3}/sync?since=${oliveFrom}&timeout=0`, { token: olive.access_token });
      const events = s.body.to_device.events.filter((e: Record<string, any>) => e.type === "org.example.test");
      return events.length > 0 ? events : undefined;
    });
    expect(got).to.deep.equal([{ sender: sam.user_id, type: "org.example.test", content: { n: "from sam" } }]);
  });

  it("lets a Synapse user join our room, then kick and ban them: the ban holds and Synapse gets nothing more", async () => {
    const ourRoom = await createRoom(api, olive, { preset: "public_chat", name: "Myelin room" });
    const joined = await onSynapse.post(`${V3}/join/${encodeURIComponent(ourRoom)}?server_name=${encodeURIComponent(ours!.serverName)}`, {}, sam.access_token);
    expect(joined.status, joined.text).to.equal(200);
    const hello = await sendText(api, olive, ourRoom, "welcome");
    await eventually("our message on Synapse", async () => ((await synapseTimeline(ourRoom)).some((e) => e.event_id === hello) ? true : undefined));
    const fromSam = await onSynapse.put<{ event_id: string }>(`${room(ourRoom)}/send/m.room.message/j1`, { msgtype: "m.text", body: "thanks" }, sam.access_token);
    await eventually("Synapse's message here", async () => ((await ourTimeline(ourRoom)).some((e) => e.event_id === fromSam.body.event_id) ? true : undefined));

    const kicked = await api.post(`${room(ourRoom)}/kick`, { user_id: sam.user_id, reason: "testing" }, { token: olive.access_token });
    expect(kicked.status).to.equal(200);
    await eventually("the kick on Synapse", async () => {
      const rooms = await onSynapse.get<{ joined_rooms: string[] }>(`${V3}/joined_rooms`, sam.access_token);
      return rooms.body.joined_rooms.includes(ourRoom) ? undefined : true;
    });
    const banned = await api.post(`${room(ourRoom)}/ban`, { user_id: sam.user_id, reason: "testing" }, { token: olive.access_token });
    expect(banned.status).to.equal(200);
    // Synapse, no longer in the room, ignores the ban PDU itself (it logs "not in the room"); the ban
    // shows in what it is told when it tries to come back: our make_join refuses, so its join fails.
    const rejoin = await onSynapse.post(`${V3}/join/${encodeURIComponent(ourRoom)}?server_name=${encodeURIComponent(ours!.serverName)}`, {}, sam.access_token);
    expect(rejoin.status, rejoin.text).to.equal(403);
    const afterBan = await sendText(api, olive, ourRoom, "not for Synapse");
    await new Promise((r) => setTimeout(r, 3000));
    const held = await onSynapse.get<{ chunk: Array<Record<string, any>> }>(`/_synapse/admin/v1/rooms/${encodeURIComponent(ourRoom)}/messages?dir=b&limit=50`, admin.access_token);
    expect(held.body.chunk.map((e) => e.event_id)).not.to.include(afterBan);
  });

  it("joins Synapse's rooms of every version 1–12, and Synapse joins ours, each carrying a message", async function () {
    this.timeout(300_000);
    for (let v = 1; v <= 12; v++) {
      const version = String(v);
      const theirs = await onSynapse.post<{ room_id: string }>(`${V3}/createRoom`, { preset: "public_chat", room_version: version }, sam.access_token);
      expect(theirs.status, `v${version}: ${theirs.text}`).to.equal(200);
      const joined = await api.post(`${V3}/join/${encodeURIComponent(theirs.body.room_id)}?server_name=${encodeURIComponent(synapse!.serverName)}`, {}, { token: olive.access_token });
      expect(joined.status, `v${version} on Synapse: ${joined.text}`).to.equal(200);
      const ourMessage = await sendText(api, olive, theirs.body.room_id, `v${version} from Myelin`);
      await eventually(`v${version}: our message on Synapse`, async () => ((await synapseTimeline(theirs.body.room_id)).some((e) => e.event_id === ourMessage) ? true : undefined));

      const mine = await createRoom(api, olive, { preset: "public_chat", room_version: version });
      const theyJoined = await onSynapse.post(`${V3}/join/${encodeURIComponent(mine)}?server_name=${encodeURIComponent(ours!.serverName)}`, {}, sam.access_token);
      expect(theyJoined.status, `v${version} on Myelin: ${theyJoined.text}`).to.equal(200);
      const theirMessage = await onSynapse.put<{ event_id: string }>(`${room(mine)}/send/m.room.message/v${version}`, { msgtype: "m.text", body: `v${version} from Synapse` }, sam.access_token);
      await eventually(`v${version}: Synapse's message here`, async () => ((await ourTimeline(mine)).some((e) => e.event_id === theirMessage.body.event_id) ? true : undefined));
    }
  });

  it("sends Synapse, stopped while we send 50 messages, all 50 in order once it is back", async function () {
    this.timeout(240_000);
    await synapse!.pause();
    const sent: string[] = [];
    for (let i = 0; i < 50; i++) sent.push(await sendText(api, olive, samRoom, `while Synapse was down ${i}`));
    await synapse!.resume();
    // Synapse reaching us (its user talking) ends our backoff; otherwise the next retry does.
    await onSynapse.put(`${room(samRoom)}/send/m.room.message/back`, { msgtype: "m.text", body: "I am back" }, sam.access_token);
    const received = await eventually(
      "all 50 on Synapse",
      async () => {
        const ids = (await synapseTimeline(samRoom)).map((e) => e.event_id).filter((id) => sent.includes(id));
        return ids.length === 50 ? ids : undefined;
      },
      120_000,
    );
    expect(received).to.deep.equal(sent);
  });
});
