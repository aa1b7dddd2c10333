// The device API through real HTTP against a real server process: listing,
// renaming, last-seen bookkeeping, and deletion behind UIA (m.login.password),
// which revokes the deleted devices' access and refresh tokens.
import { expect } from "chai";
import { registerUser, type TestUser } from "../../support/accounts.ts";
import { TestClient } from "../../support/http-client.ts";
import { startServer, type RunningServer } from "../../support/server-process.ts";

const V3 = "/_matrix/client/v3";

interface Device {
  device_id: string;
  display_name?: string;
  last_seen_ip?: string;
  last_seen_ts?: number;
}

interface UiaBody {
  flows: Array<{ stages: string[] }>;
  params: Record<string, unknown>;
  session: string;
  completed?: string[];
  errcode?: string;
  error?: string;
}

describe("devices (real server process)", function () {
  this.timeout(60_000);
  let server: RunningServer;
  let api: TestClient;

  before(async () => {
    server = await startServer();
    api = new TestClient(server.baseUrl);
  });
  after(async () => {
    await server?.stop();
  });

  const login = async (user: TestUser, extra: Record<string, unknown> = {}) => {
    const res = await api.post<{ access_token: string; device_id: string; refresh_token?: string }>(`${V3}/login`, {
      type: "m.login.password",
      identifier: { type: "m.id.user", user: user.user_id },
      password: user.password,
      ...extra,
    });
    expect(res.status, JSON.stringify(res.body)).to.equal(200);
    return res.body;
  };
  const whoamiStatus = async (token: string) => (await api.get(`${V3}/account/whoami`, { token })).status;
  const passwordAuth = (user: TestUser, session: string, password = user.password) => ({
    type: "m.login.password",
    identifier: { type: "m.id.user", user: user.user_id },
    password,
    session,
  });
  const listIds = async (token: string) => (await api.get<{ devices: Device[] }>(`${V3}/devices`, { token })).body.devices.map((d) => d.device_id).sort();

  describe("GET /devices and GET /devices/{deviceId}", () => {
    it("lists the user's own devices with their display names, and only theirs", async () => {
      const user = await registerUser(api);
      const other = await registerUser(api);
      const phone = await login(user, { initial_device_display_name: "my phone" });
      const res = await api.get<{ devices: Device[] }>(`${V3}/devices`, { token: user.access_token });
      expect(res.status).to.equal(200);
      const byId = new Map(res.body.devices.map((d) => [d.device_id, d]));
      expect([...byId.keys()].sort()).to.deep.equal([user.device_id, phone.device_id].sort());
      expect(byId.get(phone.device_id)!.display_name).to.equal("my phone");
      // No name was given at registration: the field is absent, not null.
      expect(byId.get(user.device_id)).not.to.have.property("display_name");
      expect(byId.has(other.device_id)).to.equal(false);
    });

    it("returns one device, and 404 M_NOT_FOUND for an unknown device or another user's", async () => {
      const user = await registerUser(api);
      const other = await registerUser(api);
      const mine = await api.get<Device>(`${V3}/devices/${user.device_id}`, { token: user.access_token });
      expect(mine.status).to.equal(200);
      expect(mine.body.device_id).to.equal(user.device_id);
      for (const deviceId of ["NOSUCHDEVICE", other.device_id]) {
        const res = await api.get(`${V3}/devices/${deviceId}`, { token: user.access_token });
        expect(res.status, deviceId).to.equal(404);
        expect(res.body, deviceId).to.include({ errcode: "M_NOT_FOUND" });
      }
    });

    it("records last_seen_ts and last_seen_ip from authenticated requests", async () => {
      const user = await registerUser(api);
      const before = Date.now();
      expect(await whoamiStatus(user.access_token)).to.equal(200);
      // The write is off the request path: poll briefly for it.
      let device: Device | undefined;
      for (let i = 0; i < 50 && device?.last_seen_ts === undefined; i++) {
        device = (await api.get<Device>(`${V3}/devices/${user.device_id}`, { token: user.access_token })).body;
        if (device.last_seen_ts === undefined) await new Promise((r) => setTimeout(r, 50));
      }
      expect(device!.last_seen_ts).to.be.within(before - 1000, Date.now());
      expect(device!.last_seen_ip).to.equal("127.0.0.1");
    });

    it("needs an access token", async () => {
      const res = await api.get(`${V3}/devices`);
      expect(res.status).to.equal(401);
      expect(res.body).to.include({ errcode: "M_MISSING_TOKEN" });
    });

    it("is also served under r0", async () => {
      const user = await registerUser(api);
      const res = await api.get<{ devices: Device[] }>(`/_matrix/client/r0/devices`, { token: user.access_token, unspecified: true });
      expect(res.status).to.equal(200);
      expect(res.body.devices.map((d) => d.device_id)).to.deep.equal([user.device_id]);
    });
  });

  describe("PUT /devices/{deviceId}", () => {
    it("renames a device; leaving display_name out keeps the name", async () => {
      const user = await registerUser(api);
      const laptop = await login(user, { initial_device_display_name: "laptop" });
      const put = await api.put(`${V3}/devices/${laptop.device_id}`, { display_name: "work laptop" }, { token: user.access_token });
      expect(put.status).to.equal(200);
      expect(put.body).to.deep.equal({});
      const get = async () => (await api.get<Device>(`${V3}/devices/${laptop.device_id}`, { token: user.access_token })).body.display_name;
      expect(await get()).to.equal("work laptop");
      expect((await api.put(`${V3}/devices/${laptop.device_id}`, {}, { token: user.access_token })).status).to.equal(200);
      expect(await get()).to.equal("work laptop");
    });

    it("answers 404 M_NOT_FOUND for an unknown device or another user's, leaving theirs untouched", async () => {
      const user = await registerUser(api);
      const other = await registerUser(api);
      const theirs = await login(other, { initial_device_display_name: "theirs" });
      for (const deviceId of ["NOSUCHDEVICE", theirs.device_id]) {
        const res = await api.put(`${V3}/devices/${deviceId}`, { display_name: "hijacked" }, { token: user.access_token });
        expect(res.status, deviceId).to.equal(404);
        expect(res.body, deviceId).to.include({ errcode: "M_NOT_FOUND" });
      }
      const check = await api.get<Device>(`${V3}/devices/${theirs.device_id}`, { token: other.access_token });
      expect(check.body.display_name).to.equal("theirs");
    });

    it("refuses a name over 100 characters with 400 M_TOO_LARGE, a non-string with M_BAD_JSON and no body with M_NOT_JSON", async () => {
      const user = await registerUser(api);
      const long = await api.put(`${V3}/devices/${user.device_id}`, { display_name: "x".repeat(101) }, { token: user.access_token });
      expect(long.status).to.equal(400);
      expect(long.body).to.include({ errcode: "M_TOO_LARGE" });
      const wrongType = await api.put(`${V3}/devices/${user.device_id}`, { display_name: 7 }, { token: user.access_token });
      expect(wrongType.status).to.equal(400);
      expect(wrongType.body).to.include({ errcode: "M_BAD_JSON" });
      const none = await api.request("PUT", `${V3}/devices/${user.device_id}`, { token: user.access_token });
      expect(none.status).to.equal(400);
      expect(none.body).to.include({ errcode: "M_NOT_JSON" });
    });
  });

  describe("DELETE /devices/{deviceId}", () => {
    it("asks for m.login.password, refuses a wrong password inside the UIA body, then deletes the device and revokes its token", async () => {
      const user = await registerUser(api);
      const tablet = await login(user);

      const first = await api.delete<UiaBody>(`${V3}/devices/${tablet.device_id}`, { token: user.access_token });
      expect(first.status).to.equal(401);
      expect(first.body.flows).to.deep.equal([{ stages: ["m.login.password"] }]);
      expect(first.body.session).to.be.a("string");
      expect(first.body).not.to.have.property("errcode");

      const wrong = await api.delete<UiaBody>(`${V3}/devices/${tablet.device_id}`, { token: user.access_token, json: { auth: passwordAuth(user, first.body.session, "wrong password") } });
      expect(wrong.status).to.equal(401);
      expect(wrong.body.errcode).to.equal("M_FORBIDDEN");
      expect(wrong.body.session).to.equal(first.body.session);
      expect(wrong.body.flows).to.deep.equal([{ stages: ["m.login.password"] }]);
      expect(await whoamiStatus(tablet.access_token)).to.equal(200);

      const done = await api.delete(`${V3}/devices/${tablet.device_id}`, { token: user.access_token, json: { auth: passwordAuth(user, first.body.session) } });
      expect(done.status).to.equal(200);
      expect(done.body).to.deep.equal({});

      const revoked = await api.get(`${V3}/account/whoami`, { token: tablet.access_token });
      expect(revoked.status).to.equal(401);
      expect(revoked.body).to.include({ errcode: "M_UNKNOWN_TOKEN" });
      expect(await whoamiStatus(user.access_token)).to.equal(200);
      expect(await listIds(user.access_token)).to.deep.equal([user.device_id]);
    });

    it("accepts the deprecated top-level user and the device's own token; the token dies with it", async () => {
      const user = await registerUser(api);
      const first = await api.delete<UiaBody>(`${V3}/devices/${user.device_id}`, { token: user.access_token, json: {} });
      expect(first.status).to.equal(401);
      const done = await api.delete(`${V3}/devices/${user.device_id}`, {
        token: user.access_token,
        json: { auth: { type: "m.login.password", user: user.user_id.slice(1).split(":")[0], password: user.password, session: first.body.session } },
      });
      expect(done.status).to.equal(200);
      expect(await whoamiStatus(user.access_token)).to.equal(401);
    });

    it("refuses an identifier naming another user, even with that user's password", async () => {
      const user = await registerUser(api);
      const other = await registerUser(api);
      const tablet = await login(user);
      const first = await api.delete<UiaBody>(`${V3}/devices/${tablet.device_id}`, { token: user.access_token });
      const res = await api.delete<UiaBody>(`${V3}/devices/${tablet.device_id}`, { token: user.access_token, json: { auth: passwordAuth(other, first.body.session) } });
      expect(res.status).to.equal(401);
      expect(res.body.errcode).to.equal("M_FORBIDDEN");
      expect(await whoamiStatus(tablet.access_token)).to.equal(200);
    });

    it("answers 200 for a device that does not exist (the spec: 'or had been removed previously')", async () => {
      const user = await registerUser(api);
      const first = await api.delete<UiaBody>(`${V3}/devices/NOSUCHDEVICE`, { token: user.access_token });
      expect(first.status).to.equal(401);
      const done = await api.delete(`${V3}/devices/NOSUCHDEVICE`, { token: user.access_token, json: { auth: passwordAuth(user, first.body.session) } });
      expect(done.status).to.equal(200);
      expect(await listIds(user.access_token)).to.deep.equal([user.device_id]);
    });

    it("cannot delete another user's device", async () => {
      const user = await registerUser(api);
      const other = await registerUser(api);
      const first = await api.delete<UiaBody>(`${V3}/devices/${other.device_id}`, { token: user.access_token });
      const done = await api.delete(`${V3}/devices/${other.device_id}`, { token: user.access_token, json: { auth: passwordAuth(user, first.body.session) } });
      expect(done.status).to.equal(200);
      expect(await whoamiStatus(other.access_token)).to.equal(200);
    });

    it("binds the UIA session to the device it was started for", async () => {
      const user = await registerUser(api);
      const a = await login(user);
      const b = await login(user);
      const first = await api.delete<UiaBody>(`${V3}/devices/${a.device_id}`, { token: user.access_token });
      const res = await api.delete(`${V3}/devices/${b.device_id}`, { token: user.access_token, json: { auth: passwordAuth(user, first.body.session) } });
      expect(res.status).to.equal(403);
      expect(res.body).to.include({ errcode: "M_FORBIDDEN" });
      expect(await whoamiStatus(b.access_token)).to.equal(200);
    });
  });

  describe("POST /delete_devices", () => {
    it("deletes several devices behind UIA, revoking their access and refresh tokens", async () => {
      const user = await registerUser(api);
      const a = await login(user, { refresh_token: true });
      const b = await login(user);
      const keep = await login(user);

      const first = await api.post<UiaBody>(`${V3}/delete_devices`, { devices: [a.device_id, b.device_id] }, { token: user.access_token });
      expect(first.status).to.equal(401);
      expect(first.body.flows).to.deep.equal([{ stages: ["m.login.password"] }]);
      const wrong = await api.post<UiaBody>(`${V3}/delete_devices`, { devices: [a.device_id, b.device_id], auth: passwordAuth(user, first.body.session, "nope") }, { token: user.access_token });
      expect(wrong.status).to.equal(401);
      expect(wrong.body.errcode).to.equal("M_FORBIDDEN");
      const done = await api.post(`${V3}/delete_devices`, { devices: [a.device_id, b.device_id], auth: passwordAuth(user, first.body.session) }, { token: user.access_token });
      expect(done.status).to.equal(200);
      expect(done.body).to.deep.equal({});

      expect(await whoamiStatus(a.access_token)).to.equal(401);
      expect(await whoamiStatus(b.access_token)).to.equal(401);
      expect(await whoamiStatus(keep.access_token)).to.equal(200);
      const refresh = await api.post(`${V3}/refresh`, { refresh_token: a.refresh_token });
      expect(refresh.status).to.equal(401);
      expect(refresh.body).to.include({ errcode: "M_UNKNOWN_TOKEN" });
      expect(await listIds(user.access_token)).to.deep.equal([user.device_id, keep.device_id].sort());
    });

    it("binds the UIA session to the list of devices", async () => {
      const user = await registerUser(api);
      const a = await login(user);
      const b = await login(user);
      const first = await api.post<UiaBody>(`${V3}/delete_devices`, { devices: [a.device_id] }, { token: user.access_token });
      const res = await api.post(`${V3}/delete_devices`, { devices: [a.device_id, b.device_id], auth: passwordAuth(user, first.body.session) }, { token: user.access_token });
      expect(res.status).to.equal(403);
      expect(await whoamiStatus(b.access_token)).to.equal(200);
    });

    it("validates devices before starting UIA", async () => {
      const user = await registerUser(api);
      const missing = await api.post(`${V3}/delete_devices`, {}, { token: user.access_token });
      expect(missing.status).to.equal(400);
      expect(missing.body).to.include({ errcode: "M_MISSING_PARAM" });
      const wrong = await api.post(`${V3}/delete_devices`, { devices: [1, 2] }, { token: user.access_token });
      expect(wrong.status).to.equal(400);
      expect(wrong.body).to.include({ errcode: "M_BAD_JSON" });
    });
  });
});
