// Hostile and broken input over federation, sent to a real server process as
// a remote server would: the test speaks for server B (a real process that is
// in the room, whose signing key the test reads) and crafts transactions by
// hand. Each case gets the spec's treatment: refused with a per-PDU error,
// stored redacted or rejected, the transaction refused, never a 500, and one
// bad PDU never costs the others.
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { expect } from "chai";
import { authorizationHeader } from "../../../federation/transport/federation-client.ts";
import type { RoomEvent } from "../../../server/protocol/events.ts";
import { signEvent } from "../../../server/protocol/hashes.ts";
import type { JsonObject } from "../../../server/protocol/json.ts";
import { getRoomVersion, type RoomVersion } from "../../../server/protocol/room-versions.ts";
import { generateSigningKey, parseSigningKeyFile, type SigningKey } from "../../../server/protocol/signing.ts";
import { createDatabase, type Database } from "../../../server/storage/database.ts";
import { getForwardExtremities } from "../../../server/storage/events.ts";
import { registerUser, type TestUser } from "../../support/accounts.ts";
import { federationRequest, startFederatedServer, type FederatedServer } from "../../support/federation.ts";
import { TestClient } from "../../support/http-client.ts";
import { buildRemoteEvent, type RemoteEventSpec } from "../../support/pdu-factory.ts";
import { createRoom, room, sendText, V3 } from "../../support/rooms.ts";
import { databaseUrl } from "../../support/test-env.ts";

describe("hostile federation input (real server processes)", function () {
  this.timeout(120_000);
  let a: FederatedServer;
  let b: FederatedServer;
  let apiA: TestClient;
  let apiB: TestClient;
  let alice: TestUser;
  let bob: TestUser;
  let keyB: SigningKey;
  let dbA: Database;
  let roomId: string;
  let version: RoomVersion;
  let serial = 0;

  before(async () => {
    [a, b] = await Promise.all([startFederatedServer(), startFederatedServer()]);
    apiA = new TestClient(a.baseUrl);
    apiB = new TestClient(b.baseUrl);
    [alice, bob] = await Promise.all([registerUser(apiA), registerUser(apiB)]);
    keyB = parseSigningKeyFile(readFileSync(join(b.dir, "signing.key"), "utf8"))[0]!;
    dbA = createDatabase(databaseUrl(a.databaseName), { max: 2 });
    version = getRoomVersion("12")!;
    roomId = await createRoom(apiA, alice, { preset: "public_chat" });
    const joined = await apiB.post(`${V3}/join/${encodeURIComponent(roomId)}?server_name=${encodeURIComponent(a.serverName)}`, {}, { token: bob.access_token });
    expect(joined.status, JSON.stringify(joined.body)).to.equal(200);
  });
  after(async () => {
    await dbA?.close();
    await Promise.all([a?.destroy(), b?.destroy()]);
  });

  /** A PDU from Bob on top of A's current DAG, signed with B's real key unless `key` says otherwise. */
  async function bobEvent(spec: Partial<RemoteEventSpec> & Pick<RemoteEventSpec, "type" | "content">, key = keyB): Promise<RoomEvent> {
    return buildRemoteEvent(dbA, version, { name: b.serverName, key }, {
      roomId,
      sender: bob.user_id,
      prevEventIds: await getForwardExtremities(dbA, roomId),
      authFrom: "current",
      ...spec,
    });
  }

  /** PUT /send as server B, correctly signed. */
  async function sendAsB(pdus: unknown[], txnId = `t${Date.now()}-${++serial}`, edus: unknown[] = []) {
    const path = `/_matrix/federation/v1/send/${txnId}`;
    const body = { origin: b.serverName, origin_server_ts: Date.now(), pdus, edus } as JsonObject;
    return federationRequest(a.federationUrl!, "PUT", path, { json: body, headers: { Authorization: authorizationHeader(b.serverName, a.serverName, keyB, "PUT", path, body) } });
  }

  const eventOnA = (eventId: string) => apiA.get<Record<string, any>>(`${room(roomId)}/event/${encodeURIComponent(eventId)}`, { token: alice.access_token });

  it("refuses a PDU whose signature does not verify, and still takes the good PDU beside it", async () => {
    const forged = await bobEvent({ type: "m.room.message", content: { msgtype: "m.text", body: "forged" } }, { ...generateSigningKey(), keyId: keyB.keyId });
    const good = await bobEvent({ type: "m.room.message", content: { msgtype: "m.text", body: "genuine" } });
    const res = await sendAsB([forged.pdu, good.pdu]);
    expect(res.status).to.equal(200);
    expect(res.body.pdus[forged.eventId].error).to.match(/signature/);
    expect(res.body.pdus[good.eventId]).to.deep.equal({});
    expect((await eventOnA(forged.eventId)).status).to.equal(404);
    expect((await eventOnA(good.eventId)).body.content.body).to.equal("genuine");
  });

  it("stores a PDU whose content does not match its hash in redacted form", async () => {
    const honest = await bobEvent({ type: "m.room.message", content: { msgtype: "m.text", body: "original" } });
    // Signatures cover the redacted form, so they still verify once the content is changed.
    const tampered = { ...honest.pdu, content: { msgtype: "m.text", body: "changed in transit" } };
    const res = await sendAsB([tampered]);
    expect(res.body.pdus[honest.eventId]).to.deep.equal({});
    const stored = await eventOnA(honest.eventId);
    expect(stored.status).to.equal(200);
    expect(stored.body.content).to.deep.equal({});
  });

  it("rejects a PDU that breaks the auth rules: stored, answered, never served, state unchanged", async () => {
    const before = await apiA.get<Record<string, any>>(`${room(roomId)}/state/m.room.power_levels/`, { token: alice.access_token });
    const grab = await bobEvent({
      type: "m.room.power_levels",
      stateKey: "",
      content: { ...before.body, users: { ...(before.body.users as JsonObject), [bob.user_id]: 100 } },
    });
    const res = await sendAsB([grab.pdu]);
    expect(res.status).to.equal(200);
    expect(res.body.pdus[grab.eventId]).to.deep.equal({});
    expect((await eventOnA(grab.eventId)).status).to.equal(404);
    const after = await apiA.get<Record<string, any>>(`${room(roomId)}/state/m.room.power_levels/`, { token: alice.access_token });
    expect(after.body).to.deep.equal(before.body);
    const rejected = await dbA.query<{ rejected_reason: string | null }>(`SELECT rejected_reason FROM events WHERE event_id = $1`, [grab.eventId]);
    expect(rejected.rows[0]?.rejected_reason).to.match(/power/);
  });

  it("refuses a PDU over 64 KiB, and drops one for a room this server is not in", async () => {
    const huge = await bobEvent({ type: "m.room.message", content: { msgtype: "m.text", body: "x" } });
    const oversized = signEvent({ ...huge.pdu, content: { msgtype: "m.text", body: "x".repeat(70_000) } }, b.serverName, keyB, version);
    const elsewhere = { ...(await bobEvent({ type: "m.room.message", content: { msgtype: "m.text", body: "wrong room" } })).pdu };
    elsewhere.room_id = "!notaroomwehave:example.org";
    const res = await sendAsB([oversized, signEvent(elsewhere, b.serverName, keyB, version)]);
    expect(res.status).to.equal(200);
    const results = Object.values(res.body.pdus) as Array<Record<string, string>>;
    expect(results).to.have.length(1);
    expect(results[0]!.error).to.match(/larger than 65536/);
  });

  it("refuses a transaction over the limits with 400 M_BAD_JSON", async () => {
    const one = (await bobEvent({ type: "m.room.message", content: { msgtype: "m.text", body: "one of many" } })).pdu;
    const tooMany = await sendAsB(Array.from({ length: 51 }, () => one));
    expect(tooMany.status).to.equal(400);
    expect(tooMany.body.errcode).to.equal("M_BAD_JSON");
    const tooManyEdus = await sendAsB([], undefined, Array.from({ length: 101 }, () => ({ edu_type: "m.typing", content: {} })));
    expect(tooManyEdus.status).to.equal(400);
  });

  it("answers a retried transaction from its first answer, without processing it again", async () => {
    const event = await bobEvent({ type: "m.room.message", content: { msgtype: "m.text", body: "once" } });
    const txnId = `retry-${Date.now()}`;
    const first = await sendAsB([event.pdu], txnId);
    const again = await sendAsB([], txnId);
    expect(again.status).to.equal(200);
    expect(again.body).to.deep.equal(first.body);
  });

  it("refuses an origin in the body other than the signing server, and unauthenticated requests", async () => {
    const path = `/_matrix/federation/v1/send/mismatch-${Date.now()}`;
    const body = { origin: "evil.example.org", origin_server_ts: Date.now(), pdus: [] } as JsonObject;
    const mismatch = await federationRequest(a.federationUrl!, "PUT", path, { json: body, headers: { Authorization: authorizationHeader(b.serverName, a.serverName, keyB, "PUT", path, body) } });
    expect(mismatch.status).to.equal(400);
    const unsigned = await federationRequest(a.federationUrl!, "PUT", path, { json: body });
    expect(unsigned.status).to.equal(401);
    expect(unsigned.body.errcode).to.equal("M_UNAUTHORIZED");
  });

  it("refuses PDUs from a server the room's ACL denies", async () => {
    const acl = await apiA.put(`${room(roomId)}/state/m.room.server_acl/`, { allow: ["*"], allow_ip_literals: false }, { token: alice.access_token });
    expect(acl.status, JSON.stringify(acl.body)).to.equal(200);
    const event = await bobEvent({ type: "m.room.message", content: { msgtype: "m.text", body: "after the ACL" } });
    const res = await sendAsB([event.pdu]);
    expect(res.body.pdus[event.eventId].error).to.match(/server ACL/);
    expect((await eventOnA(event.eventId)).status).to.equal(404);
    // EDUs about the room and reads of it are refused too.
    await sendAsB([], undefined, [{ edu_type: "m.typing", content: { room_id: roomId, user_id: bob.user_id, typing: true } }]);
    const sync = await apiA.get<{ rooms: { join: Record<string, { ephemeral: { events: Array<Record<string, any>> } }> } }>(`${V3}/sync`, { token: alice.access_token });
    expect(sync.body.rooms.join[roomId]!.ephemeral.events.filter((e) => e.type === "m.typing" && e.content.user_ids.length > 0)).to.deep.equal([]);
    const path = `/_matrix/federation/v1/state_ids/${encodeURIComponent(roomId)}?event_id=${encodeURIComponent(event.eventId)}`;
    const read = await federationRequest(a.federationUrl!, "GET", path, { headers: { Authorization: authorizationHeader(b.serverName, a.serverName, keyB, "GET", path, undefined) } });
    expect(read.status).to.equal(403);
    expect(read.body.errcode).to.equal("M_FORBIDDEN");
    // Our own users are not affected.
    await sendText(apiA, alice, roomId, "still here");
  });
});
