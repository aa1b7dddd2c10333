// Send-to-device messaging through the public API: delivery in /sync and on
// the WebSocket stream, deletion once a later token acknowledges it,
// idempotent retries, "*" recipients, long-poll wake-ups, paging past 100
// messages with a resumable token, and the limits (rate, per request, per
// inbox) with the spec's errcodes.
import { expect } from "chai";
import { StreamClient } from "../../../server/sync/stream/client.ts";
import { registerUser, type TestUser } from "../../support/accounts.ts";
import { V3 } from "../../support/e2ee.ts";
import { TestClient } from "../../support/http-client.ts";
import { sync } from "../../support/rooms.ts";
import { startServer, type RunningServer } from "../../support/server-process.ts";

type ToDeviceEvent = { sender: string; type: string; content: Record<string, unknown> };
type E2eeSync = { next_batch: string; to_device: { events: ToDeviceEvent[] } };

let txn = 0;
const nextTxn = () => `td-${Date.now()}-${(txn += 1)}`;

describe("E2EE to-device messages (real server process)", function () {
  this.timeout(60_000);
  let server: RunningServer;
  let api: TestClient;
  let alice: TestUser;
  let bob: TestUser;

  before(async () => {
    server = await startServer({ config: { limits: { to_device_inbox_per_device: 120 } } });
    api = new TestClient(server.baseUrl);
    [alice, bob] = await Promise.all([registerUser(api), registerUser(api)]);
  });
  after(async () => {
    await server?.stop();
  });

  const send = (from: TestUser, messages: unknown, type = "org.example.ping", txnId = nextTxn()) =>
    api.put<Record<string, unknown>>(`${V3}/sendToDevice/${type}/${txnId}`, { messages }, { token: from.access_token });
  const syncOf = async (user: TestUser, since?: string, timeout = 0) => (await sync(api, user, since ? `?since=${since}&timeout=${timeout}` : "")) as unknown as E2eeSync;
  const login = async (user: TestUser): Promise<TestUser> => {
    const res = await api.post<TestUser>(`${V3}/login`, { type: "m.login.password", identifier: { type: "m.id.user", user: user.user_id }, password: user.password });
    return { ...res.body, password: user.password };
  };

  it("delivers a message in the recipient device's sync until a later token acknowledges it, then deletes it", async () => {
    const start = (await syncOf(bob)).next_batch;
    const res = await send(alice, { [bob.user_id]: { [bob.device_id]: { n: 1 } } });
    expect(res.status, JSON.stringify(res.body)).to.equal(200);
    expect(res.body).to.deep.equal({});
    const first = await syncOf(bob, start);
    expect(first.to_device.events).to.deep.equal([{ sender: alice.user_id, type: "org.example.ping", content: { n: 1 } }]);
    // Not acknowledged yet: the same token gets it again.
    expect((await syncOf(bob, start)).to_device.events).to.have.length(1);
    // Syncing with the newer token acknowledges it: gone, even for the older token.
    expect((await syncOf(bob, first.next_batch)).to_device.events).to.deep.equal([]);
    expect((await syncOf(bob, start)).to_device.events).to.deep.equal([]);
  });

  it("sends each transaction once, to every device with \"*\", a named device's own content winning", async () => {
    const bobPhone = await login(bob);
    const [t1, t2] = [(await syncOf(bob)).next_batch, (await syncOf(bobPhone)).next_batch];
    const txnId = nextTxn();
    const messages = { [bob.user_id]: { "*": { to: "all" }, [bobPhone.device_id]: { to: "phone" }, NOSUCHDEVICE: { to: "nobody" } } };
    expect((await send(alice, messages, "org.example.fanout", txnId)).status).to.equal(200);
    expect((await send(alice, messages, "org.example.fanout", txnId)).status, "retry").to.equal(200);
    // The same transaction ID for another event type is another request.
    expect((await send(alice, { [bob.user_id]: { [bob.device_id]: { other: true } } }, "org.example.other", txnId)).status).to.equal(200);
    const onLaptop = (await syncOf(bob, t1)).to_device.events;
    const onPhone = (await syncOf(bobPhone, t2)).to_device.events;
    expect(onLaptop.map((e) => [e.type, e.content])).to.deep.equal([
      ["org.example.fanout", { to: "all" }],
      ["org.example.other", { other: true }],
    ]);
    expect(onPhone.map((e) => e.content)).to.deep.equal([{ to: "phone" }]);
  });

  it("wakes the recipient's long-poll", async () => {
    const from = (await syncOf(bob)).next_batch;
    const started = Date.now();
    const poll = syncOf(bob, from, 20_000);
    await new Promise((r) => setTimeout(r, 300));
    await send(alice, { [bob.user_id]: { [bob.device_id]: { wake: true } } });
    const s = await poll;
    expect(s.to_device.events.map((e) => e.content)).to.deep.equal([{ wake: true }]);
    expect(Date.now() - started).to.be.below(10_000);
    await syncOf(bob, s.next_batch);
  });

  it("delivers on the WebSocket stream, and the stream's tokens acknowledge like /sync's", async () => {
    const from = (await syncOf(bob)).next_batch;
    const frames: Array<Record<string, any>> = [];
    const client = new StreamClient({ baseUrls: [server.baseUrl], accessToken: bob.access_token, since: from, onSync: (f) => void frames.push(f), minBackoffMs: 50 });
    try {
      await client.connect();
      await send(alice, { [bob.user_id]: { [bob.device_id]: { via: "stream" } } });
      const deadline = Date.now() + 10_000;
      while (!frames.some((f) => f.to_device?.events?.length) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
      const frame = frames.find((f) => f.to_device?.events?.length)!;
      expect(frame.to_device.events).to.deep.equal([{ sender: alice.user_id, type: "org.example.ping", content: { via: "stream" } }]);
      expect((await syncOf(bob, frame.next_batch as string)).to_device.events).to.deep.equal([]);
    } finally {
      client.close();
    }
  });

  it("carries at most 100 messages per response; the token resumes at once with the rest, in order", async () => {
    const from = (await syncOf(bob)).next_batch;
    for (let i = 0; i < 110; i++) await send(alice, { [bob.user_id]: { [bob.device_id]: { i } } });
    const first = await syncOf(bob, from);
    expect(first.to_device.events.map((e) => e.content.i)).to.deep.equal([...Array(100).keys()]);
    const started = Date.now();
    const second = await syncOf(bob, first.next_batch, 20_000);
    expect(Date.now() - started, "the rest comes without waiting").to.be.below(5_000);
    expect(second.to_device.events.map((e) => e.content.i)).to.deep.equal([...Array(10).keys()].map((i) => i + 100));
    expect((await syncOf(bob, second.next_batch)).to_device.events).to.deep.equal([]);
  });

  it("drops messages for a device whose inbox is full (limits.to_device_inbox_per_device) and keeps delivering to others", async () => {
    const carol = await registerUser(api);
    const from = (await syncOf(carol)).next_batch;
    const bobFrom = (await syncOf(bob)).next_batch;
    for (let i = 0; i < 125; i++) expect((await send(alice, { [carol.user_id]: { [carol.device_id]: { i } } })).status).to.equal(200);
    expect((await send(alice, { [carol.user_id]: { [carol.device_id]: { late: true } }, [bob.user_id]: { [bob.device_id]: { late: true } } })).status).to.equal(200);
    expect((await syncOf(bob, bobFrom)).to_device.events.map((e) => e.content)).to.deep.equal([{ late: true }]);
    const got: unknown[] = [];
    let token = from;
    for (let round = 0; round < 3; round++) {
      const s = await syncOf(carol, token);
      got.push(...s.to_device.events.map((e) => e.content.i));
      token = s.next_batch;
    }
    expect(got).to.deep.equal([...Array(120).keys()]);
    expect(server.logs().some((l) => l.msg === "to-device inboxes full: messages dropped")).to.equal(true);
  });

  describe("bad input", () => {
    const expectError = (res: { status: number; body: Record<string, unknown> }, status: number, errcode: string) => {
      expect(res.status, JSON.stringify(res.body)).to.equal(status);
      expect(res.body.errcode).to.equal(errcode);
    };

    it("answers malformed bodies with M_MISSING_PARAM, M_BAD_JSON and M_INVALID_PARAM", async () => {
      expectError(await api.put(`${V3}/sendToDevice/t/${nextTxn()}`, {}, { token: alice.access_token }), 400, "M_MISSING_PARAM");
      expectError(await send(alice, []), 400, "M_BAD_JSON");
      expectError(await send(alice, { [bob.user_id]: { [bob.device_id]: "text" } }), 400, "M_BAD_JSON");
      expectError(await send(alice, { [bob.user_id]: [] }), 400, "M_BAD_JSON");
      expectError(await send(alice, { "not-a-user": { DEV: {} } }), 400, "M_INVALID_PARAM");
    });

    it("refuses more than 10,000 messages in one request with 413 M_TOO_LARGE", async () => {
      const devices = Object.fromEntries(Array.from({ length: 10_001 }, (_, i) => [`D${i}`, {}]));
      expectError(await send(alice, { [bob.user_id]: devices }), 413, "M_TOO_LARGE");
    });

    it("rate-limits a flood of sends with 429 M_LIMIT_EXCEEDED and retry_after_ms", async () => {
      const limited = await startServer({ config: { rate_limits: { to_device: { per_second: 1, burst_count: 3 } } } });
      try {
        const client = new TestClient(limited.baseUrl);
        const [a, b] = await Promise.all([registerUser(client), registerUser(client)]);
        const statuses: number[] = [];
        let last: Record<string, unknown> = {};
        for (let i = 0; i < 5; i++) {
          const res = await client.put<Record<string, unknown>>(`${V3}/sendToDevice/t/${nextTxn()}`, { messages: { [b.user_id]: { [b.device_id]: { i } } } }, { token: a.access_token });
          statuses.push(res.status);
          last = res.body;
        }
        expect(statuses.slice(0, 3)).to.deep.equal([200, 200, 200]);
        expect(statuses.at(-1)).to.equal(429);
        expect(last.errcode).to.equal("M_LIMIT_EXCEEDED");
        expect(last.retry_after_ms).to.be.a("number");
      } finally {
        await limited.stop();
      }
    });
  });
});
