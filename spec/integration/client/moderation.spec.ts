// Server administration through the client API against a real server
// process: whois, suspension (reads and leaving still work, sending does
// not) and locking (every request but logout refused, soft logout).
import { expect } from "chai";
import { StreamClient } from "../../../server/sync/stream/client.ts";
import { CloseCode } from "../../../server/sync/stream/protocol.ts";
import { registerUser, registerWithSharedSecret, uniqueLocalpart, type TestUser } from "../../support/accounts.ts";
import { TestClient } from "../../support/http-client.ts";
import { createRoom, join, nextTxnId, room, sendText, V3 } from "../../support/rooms.ts";
import { startServer, type RunningServer } from "../../support/server-process.ts";

const V1 = "/_matrix/client/v1";
const SECRET = "test-shared-secret-0123456789";

describe("server administration: whois, suspend, lock", function () {
  this.timeout(60_000);
  let server: RunningServer;
  let api: TestClient;
  let admin: TestUser;

  before(async () => {
    server = await startServer();
    api = new TestClient(server.baseUrl);
    const password = "admin password";
    admin = { ...(await registerWithSharedSecret(server.baseUrl, SECRET, uniqueLocalpart("admin"), password, true)), password };
  });
  after(async () => {
    await server?.stop();
  });

  const suspend = (target: string, suspended: boolean, by = admin) => api.put(`${V1}/admin/suspend/${encodeURIComponent(target)}`, { suspended }, { token: by.access_token });
  const lock = (target: string, locked: boolean, by = admin) => api.put(`${V1}/admin/lock/${encodeURIComponent(target)}`, { locked }, { token: by.access_token });

  describe("GET /admin/whois", () => {
    it("shows an admin each device's last connection", async () => {
      const user = await registerUser(api);
      await api.get(`${V3}/account/whoami`, { token: user.access_token, headers: { "User-Agent": "whois-test/1.0" } });
      const res = await api.get<{ user_id: string; devices: Record<string, { sessions: Array<{ connections: Array<Record<string, unknown>> }> }> }>(
        `${V3}/admin/whois/${encodeURIComponent(user.user_id)}`,
        { token: admin.access_token },
      );
      expect(res.status).to.equal(200);
      expect(res.body.user_id).to.equal(user.user_id);
      const connection = res.body.devices[user.device_id]!.sessions[0]!.connections[0]!;
      expect(connection.ip).to.equal("127.0.0.1");
      expect(connection.last_seen).to.be.a("number");
      expect(connection.user_agent).to.be.a("string");
    });

    it("lets a user look themselves up but not others", async () => {
      const user = await registerUser(api);
      const other = await registerUser(api);
      expect((await api.get(`${V3}/admin/whois/${encodeURIComponent(user.user_id)}`, { token: user.access_token })).status).to.equal(200);
      const res = await api.get(`${V3}/admin/whois/${encodeURIComponent(other.user_id)}`, { token: user.access_token });
      expect(res.status).to.equal(403);
      expect(res.body.errcode).to.equal("M_FORBIDDEN");
    });

    it("answers 404 for an unknown user", async () => {
      const res = await api.get(`${V3}/admin/whois/${encodeURIComponent("@nobody-here:localhost")}`, { token: admin.access_token });
      expect(res.status).to.equal(404);
    });
  });

  describe("suspension", () => {
    it("lets a suspended user read, leave and redact their own events, but not send, join, invite, create rooms or change profile", async () => {
      const owner = await registerUser(api);
      const user = await registerUser(api);
      const roomId = await createRoom(api, owner, { preset: "public_chat" });
      const other = await createRoom(api, owner, { preset: "public_chat" });
      await join(api, user, roomId);
      const own = await sendText(api, user, roomId, "before suspension");
      const ownersMessage = await sendText(api, owner, roomId, "not yours");

      const res = await suspend(user.user_id, true);
      expect(res.status).to.equal(200);
      expect(res.body).to.deep.equal({ suspended: true });
      expect((await api.get(`${V1}/admin/suspend/${encodeURIComponent(user.user_id)}`, { token: admin.access_token })).body).to.deep.equal({ suspended: true });

      const refused = async (method: "PUT" | "POST", path: string, json: unknown) => {
        const answer = await api.request(method, path, { token: user.access_token, json });
        expect(answer.status, `${method} ${path}`).to.equal(403);
        expect(answer.body.errcode, `${method} ${path}`).to.equal("M_USER_SUSPENDED");
      };
      await refused("PUT", `${room(roomId)}/send/m.room.message/${nextTxnId()}`, { msgtype: "m.text", body: "while suspended" });
      await refused("PUT", `${room(roomId)}/state/m.room.topic`, { topic: "new" });
      await refused("POST", `${V3}/join/${encodeURIComponent(other)}`, {});
      await refused("POST", `${room(roomId)}/invite`, { user_id: admin.user_id });
      await refused("POST", `${V3}/createRoom`, {});
      await refused("PUT", `${V3}/profile/${encodeURIComponent(user.user_id)}/displayname`, { displayname: "new name" });
      await refused("PUT", `${room(roomId)}/redact/${encodeURIComponent(ownersMessage)}/${nextTxnId()}`, {});

      // Still allowed: reading, redacting their own message, leaving.
      expect((await api.get(`${room(roomId)}/messages?dir=b`, { token: user.access_token })).status).to.equal(200);
      expect((await api.get(`${V3}/sync`, { token: user.access_token })).status).to.equal(200);
      expect((await api.put(`${room(roomId)}/redact/${encodeURIComponent(own)}/${nextTxnId()}`, {}, { token: user.access_token })).status).to.equal(200);
      expect((await api.post(`${room(roomId)}/leave`, {}, { token: user.access_token })).status).to.equal(200);

      expect((await suspend(user.user_id, false)).body).to.deep.equal({ suspended: false });
      await join(api, user, roomId);
      await sendText(api, user, roomId, "after unsuspension");
    });

    it("is for server admins only, checked before the user is looked up", async () => {
      const user = await registerUser(api);
      for (const target of [user.user_id, "@nobody-here:localhost", "@someone:elsewhere.example"]) {
        const res = await suspend(target, true, user);
        expect(res.status, target).to.equal(403);
        expect(res.body.errcode).to.equal("M_FORBIDDEN");
        expect((await api.get(`${V1}/admin/suspend/${encodeURIComponent(target)}`, { token: user.access_token })).status).to.equal(403);
      }
    });

    it("refuses remote users (400), unknown users (404), admins and oneself (403), and a bad body", async () => {
      expect((await suspend("@someone:elsewhere.example", true)).body.errcode).to.equal("M_INVALID_PARAM");
      const unknown = await suspend("@nobody-here:localhost", true);
      expect(unknown.status).to.equal(404);
      expect(unknown.body.errcode).to.equal("M_NOT_FOUND");
      expect((await suspend(admin.user_id, true)).status).to.equal(403);
      const password = "another admin";
      const otherAdmin = await registerWithSharedSecret(server.baseUrl, SECRET, uniqueLocalpart("admin"), password, true);
      expect((await suspend(otherAdmin.user_id, true)).status).to.equal(403);
      const user = await registerUser(api);
      const bad = await api.put(`${V1}/admin/suspend/${encodeURIComponent(user.user_id)}`, { suspended: "yes" }, { token: admin.access_token });
      expect(bad.status).to.equal(400);
      expect(bad.body.errcode).to.equal("M_BAD_JSON");
    });

    it("offers m.account_moderation to admins only", async () => {
      const user = await registerUser(api);
      const forAdmin = await api.get<{ capabilities: Record<string, unknown> }>(`${V3}/capabilities`, { token: admin.access_token });
      expect(forAdmin.body.capabilities["m.account_moderation"]).to.deep.equal({ suspend: true, lock: true });
      const forUser = await api.get<{ capabilities: Record<string, unknown> }>(`${V3}/capabilities`, { token: user.access_token });
      expect(forUser.body.capabilities).to.not.have.property("m.account_moderation");
    });
  });

  describe("over the WebSocket stream", () => {
    it("refuses a send from a socket opened before the suspension, and closes a locked user's socket", async () => {
      const user = await registerUser(api);
      const roomId = await createRoom(api, user);
      const stream = new StreamClient({ baseUrls: [server.baseUrl], accessToken: user.access_token, onSync: () => undefined, minBackoffMs: 50, reconnect: false });
      try {
        await stream.connect();
        expect(await stream.request("send", { room_id: roomId, event_type: "m.room.message", txn_id: nextTxnId(), content: { msgtype: "m.text", body: "ok" } })).to.have.property("event_id");
        await suspend(user.user_id, true);
        const refused = await stream.request("send", { room_id: roomId, event_type: "m.room.message", txn_id: nextTxnId(), content: { msgtype: "m.text", body: "no" } }).then(
          () => undefined,
          (err: unknown) => err,
        );
        expect((refused as { body?: { errcode?: string } }).body?.errcode).to.equal("M_USER_SUSPENDED");
        await lock(user.user_id, true);
        const deadline = Date.now() + 10_000;
        while (stream.lastClose === undefined && Date.now() < deadline) await new Promise((done) => setTimeout(done, 20));
        expect(stream.lastClose?.code).to.equal(CloseCode.sessionRevoked);
      } finally {
        stream.close();
      }
    });
  });

  describe("locking", () => {
    it("answers every request 401 M_USER_LOCKED with soft_logout, lets the user log out, and unlocking restores the other sessions", async () => {
      const user = await registerUser(api);
      const second = await api.post<TestUser>(`${V3}/login`, { type: "m.login.password", identifier: { type: "m.id.user", user: user.user_id }, password: user.password });
      expect((await lock(user.user_id, true)).body).to.deep.equal({ locked: true });
      expect((await api.get(`${V1}/admin/lock/${encodeURIComponent(user.user_id)}`, { token: admin.access_token })).body).to.deep.equal({ locked: true });

      const whoami = await api.get(`${V3}/account/whoami`, { token: user.access_token });
      expect(whoami.status).to.equal(401);
      expect(whoami.body).to.include({ errcode: "M_USER_LOCKED", soft_logout: true });
      expect((await api.get(`${V3}/sync`, { token: second.body.access_token })).body.errcode).to.equal("M_USER_LOCKED");

      expect((await api.post(`${V3}/logout`, {}, { token: user.access_token })).status).to.equal(200);
      expect((await api.get(`${V3}/account/whoami`, { token: user.access_token })).body.errcode).to.equal("M_UNKNOWN_TOKEN");

      expect((await lock(user.user_id, false)).body).to.deep.equal({ locked: false });
      expect((await api.get(`${V3}/account/whoami`, { token: second.body.access_token })).status).to.equal(200);
    });
  });
});
