// The notifier against the real Redis: urgent changes wake waiters at once,
// presence-style changes are coalesced, and other processes hear both.
import { expect } from "chai";
import { Redis } from "ioredis";
import { COALESCE_MS, createNotifier, type Notifier } from "../../../server/sync/notifier.ts";
import { testRedisPrefix, testRedisUrl } from "../../support/test-env.ts";

describe("notifier (real Redis)", function () {
  this.timeout(20_000);
  const connections: Redis[] = [];
  const notifiers: Notifier[] = [];

  async function notifier(): Promise<Notifier> {
    const redis = new Redis(testRedisUrl, { keyPrefix: testRedisPrefix });
    connections.push(redis);
    const n = await createNotifier(redis, `${testRedisPrefix}notifier-spec:`);
    notifiers.push(n);
    return n;
  }

  after(async () => {
    for (const n of notifiers) await n.close();
    for (const r of connections) r.disconnect();
  });

  it("wakes a waiter at once for an urgent change in one of its rooms, from another process too", async () => {
    const [a, b] = [await notifier(), await notifier()];
    const started = Date.now();
    const waiting = a.wait("@u:hs", new Set(["!room"]), 10, 5000);
    await b.notify({ position: 11, roomId: "!room" });
    expect(await waiting).to.equal(true);
    expect(Date.now() - started).to.be.below(COALESCE_MS);
  });

  it("ignores changes for other rooms and users", async () => {
    const a = await notifier();
    const waiting = a.wait("@u:hs", new Set(["!room"]), 10, 400);
    await a.notify({ position: 12, roomId: "!elsewhere", userIds: ["@other:hs"] });
    expect(await waiting).to.equal(false);
  });

  it("coalesces low-urgency changes into one wake-up after COALESCE_MS, without moving latest()", async () => {
    const a = await notifier();
    const before = a.latest();
    const started = Date.now();
    const waiting = a.wait("@u:hs", new Set(["!room"]), 10, 5000);
    for (let i = 0; i < 5; i++) await a.notify({ position: 100 + i, roomId: "!room", coalesce: true });
    expect(await waiting).to.equal(true);
    expect(Date.now() - started).to.be.within(COALESCE_MS - 50, COALESCE_MS + 1500);
    expect(a.latest()).to.equal(before);
  });
});
