// Server discovery against a real UDP DNS server and a real HTTPS
// .well-known server (spec order, Host header and certificate name for each
// step, well-known caching and its limits), then end to end: a real server
// process reaching others through SRV and through the 8448 fallback.
import { expect } from "chai";
import { createServer, type Server } from "node:https";
import { randomInt } from "node:crypto";
import { createDnsResolver } from "../../../server/net/dns.ts";
import { GuardedHttpsAgent } from "../../../server/net/guarded-agent.ts";
import { createAddressPolicy } from "../../../server/net/ip-range.ts";
import { createServerResolver } from "../../../federation/transport/resolve-server.ts";
import { createWellKnownLookup, MAX_REDIRECTS } from "../../../federation/transport/well-known.ts";
import { registerUser } from "../../support/accounts.ts";
import { startDnsServer, type TestDnsServer } from "../../support/dns-server.ts";
import { startFederatedServer, waitForLog, type FederatedServer } from "../../support/federation.ts";
import { TestClient } from "../../support/http-client.ts";
import { V3 } from "../../support/rooms.ts";
import { testCertificates, TEST_DOMAIN } from "../../support/test-ca.ts";

const d = (label: string) => `${label}.${TEST_DOMAIN}`;
/** A loopback address of our own, so port 443 and 8448 do not collide with anything else on the machine. */
const randomLoopback = () => `127.${randomInt(1, 255)}.${randomInt(1, 255)}.${randomInt(2, 255)}`;

interface Hit {
  host: string;
  path: string;
}

describe("server discovery (real DNS and HTTPS)", function () {
  this.timeout(60_000);
  let dns: TestDnsServer;
  let wellKnownServer: Server;
  const wkAddress = randomLoopback();
  const hits: Hit[] = [];
  let clock = Date.now();

  // What the .well-known server answers, by Host.
  const answers: Record<string, { status?: number; headers?: Record<string, string>; body: string }> = {
    [d("wk")]: { headers: { "Cache-Control": "public, max-age=600" }, body: JSON.stringify({ "m.server": `${d("delegated")}:7777` }) },
    [d("wk-srv")]: { body: JSON.stringify({ "m.server": d("target") }) },
    [d("wk-plain")]: { body: JSON.stringify({ "m.server": d("target-plain") }) },
    [d("wk-ip")]: { body: JSON.stringify({ "m.server": "127.0.0.1:9000" }) },
    [d("wk-ip6")]: { body: JSON.stringify({ "m.server": "[::1]" }) },
    [d("wk-500")]: { status: 500, body: "{}" },
    [d("wk-badjson")]: { body: "not json" },
    [d("wk-noserver")]: { body: JSON.stringify({ "m.server": "bad name!" }) },
    [d("wk-big")]: { body: JSON.stringify({ "m.server": d("x"), pad: "x".repeat(100 * 1024) }) },
    [d("wk-long")]: { headers: { "Cache-Control": "max-age=99999999" }, body: JSON.stringify({ "m.server": d("x") }) },
    [d("wk-nostore")]: { headers: { "Cache-Control": "no-store" }, body: JSON.stringify({ "m.server": d("x") }) },
  };

  const agentFor = async () => {
    const certs = await testCertificates();
    return new GuardedHttpsAgent({ policy: createAddressPolicy({ allowlist: ["127.0.0.0/8", "::1"] }), dns: createDnsResolver({ servers: [dns.address] }), ca: certs.caPem });
  };
  const lookupWith = async () =>
    createWellKnownLookup({ agent: await agentFor(), verifyCertificates: true, connectTimeoutMs: 1000, timeoutMs: 2000, now: () => clock });
  const count = (host: string) => hits.filter((h) => h.host === host).length;

  before(async () => {
    const certs = await testCertificates();
    wellKnownServer = createServer({ cert: certs.certPem, key: certs.keyPem }, (req, res) => {
      const host = String(req.headers.host);
      hits.push({ host, path: String(req.url) });
      if (host === d("wk-redirect") && req.url === "/.well-known/matrix/server") {
        res.writeHead(302, { Location: "/moved" }).end();
        return;
      }
      if (host === d("wk-redirect") && req.url === "/moved") {
        res.writeHead(200, { "Content-Type": "application/json" }).end(JSON.stringify({ "m.server": `${d("moved")}:1` }));
        return;
      }
      if (host === d("wk-expires")) {
        // Three hours from the test's clock, which the caching tests move forward.
        res.writeHead(200, { Expires: new Date(clock + 3 * 3600_000).toUTCString() }).end(JSON.stringify({ "m.server": d("x") }));
        return;
      }
      if (host === d("wk-loop")) {
        res.writeHead(301, { Location: `https://${d("wk-loop")}/.well-known/matrix/server` }).end();
        return;
      }
      const answer = answers[host];
      if (!answer) {
        res.writeHead(404).end();
        return;
      }
      res.writeHead(answer.status ?? 200, { "Content-Type": "application/json", ...answer.headers }).end(answer.body);
    });
    await new Promise<void>((resolve) => wellKnownServer.listen(443, wkAddress, () => resolve()));
    const records: Record<string, { A?: string[]; SRV?: Array<{ priority: number; weight: number; port: number; target: string }> }> = {};
    for (const host of [...Object.keys(answers), d("wk-expires"), d("wk-redirect"), d("wk-loop"), d("srv"), d("legacy"), d("plain"), d("both")]) records[host] = { A: [wkAddress] };
    records[`_matrix-fed._tcp.${d("target")}`] = { SRV: [{ priority: 10, weight: 1, port: 7000, target: d("target-host") }] };
    records[`_matrix-fed._tcp.${d("srv")}`] = { SRV: [{ priority: 10, weight: 1, port: 8500, target: d("srv-host") }] };
    records[`_matrix._tcp.${d("legacy")}`] = { SRV: [{ priority: 10, weight: 1, port: 8600, target: d("legacy-host") }] };
    records[`_matrix-fed._tcp.${d("both")}`] = { SRV: [{ priority: 20, weight: 1, port: 1, target: d("worse") }, { priority: 10, weight: 1, port: 2, target: d("better") }] };
    records[`_matrix._tcp.${d("both")}`] = { SRV: [{ priority: 1, weight: 1, port: 3, target: d("legacy-loses") }] };
    dns = await startDnsServer(records);
  });
  after(async () => {
    wellKnownServer?.close();
    await dns?.close();
  });

  describe("resolution steps", () => {
    let resolve: (name: string) => Promise<Record<string, unknown>>;
    before(async () => {
      const resolver = createServerResolver({ dns: createDnsResolver({ servers: [dns.address] }), wellKnown: await lookupWith(), now: () => clock });
      resolve = async (name) => ({ ...(await resolver.resolve(name)) });
    });

    it("1. an IP literal: that address, its port or 8448; certificate for the IP; Host is the server name", async () => {
      expect(await resolve("127.0.0.1:1234")).to.deep.equal({ host: "127.0.0.1", port: 1234, tlsName: "127.0.0.1", hostHeader: "127.0.0.1:1234", step: "ip-literal" });
      expect(await resolve("[::1]")).to.deep.equal({ host: "::1", port: 8448, tlsName: "::1", hostHeader: "[::1]", step: "ip-literal" });
    });

    it("2. a host name with an explicit port: no well-known request; Host keeps the port", async () => {
      const before = hits.length;
      expect(await resolve(`${d("named")}:1234`)).to.deep.equal({ host: d("named"), port: 1234, tlsName: d("named"), hostHeader: `${d("named")}:1234`, step: "explicit-port" });
      expect(hits.length).to.equal(before);
    });

    it("3. well-known delegation: to an IP literal, to a host with a port, and to a host found by SRV or 8448", async () => {
      expect(await resolve(d("wk-ip"))).to.deep.equal({ host: "127.0.0.1", port: 9000, tlsName: "127.0.0.1", hostHeader: "127.0.0.1:9000", step: "well-known-ip-literal" });
      expect(await resolve(d("wk-ip6"))).to.deep.equal({ host: "::1", port: 8448, tlsName: "::1", hostHeader: "[::1]", step: "well-known-ip-literal" });
      expect(await resolve(d("wk"))).to.deep.equal({ host: d("delegated"), port: 7777, tlsName: d("delegated"), hostHeader: `${d("delegated")}:7777`, step: "well-known-explicit-port" });
      expect(await resolve(d("wk-srv"))).to.deep.equal({ host: d("target-host"), port: 7000, tlsName: d("target"), hostHeader: d("target"), step: "well-known-srv" });
      expect(await resolve(d("wk-plain"))).to.deep.equal({ host: d("target-plain"), port: 8448, tlsName: d("target-plain"), hostHeader: d("target-plain"), step: "well-known-default-port" });
      expect(hits.find((h) => h.host === d("wk"))!.path).to.equal("/.well-known/matrix/server");
    });

    it("4–6. without delegation: SRV _matrix-fed._tcp (lowest priority first, preferred over _matrix._tcp), then _matrix._tcp, then 8448", async () => {
      expect(await resolve(d("srv"))).to.deep.equal({ host: d("srv-host"), port: 8500, tlsName: d("srv"), hostHeader: d("srv"), step: "srv" });
      expect(await resolve(d("both"))).to.include({ host: d("better"), port: 2, step: "srv" });
      expect(await resolve(d("legacy"))).to.deep.equal({ host: d("legacy-host"), port: 8600, tlsName: d("legacy"), hostHeader: d("legacy"), step: "legacy-srv" });
      expect(await resolve(d("plain"))).to.deep.equal({ host: d("plain"), port: 8448, tlsName: d("plain"), hostHeader: d("plain"), step: "default-port" });
      // A name with no address at all still ends at 8448 (the connection will fail there).
      expect(await resolve(d("nowhere"))).to.include({ host: d("nowhere"), port: 8448, step: "default-port" });
      expect(dns.questions).to.include(`SRV _matrix-fed._tcp.${d("legacy")}`);
      expect(dns.questions).to.include(`SRV _matrix._tcp.${d("legacy")}`);
    });

    it("treats an invalid well-known answer (500, bad JSON, bad m.server, oversized) as no delegation", async () => {
      for (const label of ["wk-500", "wk-badjson", "wk-noserver", "wk-big"]) {
        expect(await resolve(d(label)), label).to.include({ host: d(label), port: 8448, step: "default-port" });
      }
    });

    it(`follows redirects, at most ${MAX_REDIRECTS}`, async () => {
      expect(await resolve(d("wk-redirect"))).to.include({ host: d("moved"), port: 1, step: "well-known-explicit-port" });
      expect(await resolve(d("wk-loop"))).to.include({ host: d("wk-loop"), step: "default-port" });
      expect(count(d("wk-loop"))).to.equal(MAX_REDIRECTS + 1);
    });
  });

  describe("well-known caching", () => {
    const HOUR = 3600_000;

    it("caches a failure for an hour", async () => {
      const wellKnown = await lookupWith();
      const before = count(d("wk-500"));
      expect(await wellKnown.lookup(d("wk-500"))).to.have.property("failure");
      expect(await wellKnown.lookup(d("wk-500"))).to.have.property("failure");
      expect(count(d("wk-500"))).to.equal(before + 1);
      clock += HOUR - 60_000;
      await wellKnown.lookup(d("wk-500"));
      expect(count(d("wk-500"))).to.equal(before + 1);
      clock += 2 * 60_000;
      await wellKnown.lookup(d("wk-500"));
      expect(count(d("wk-500"))).to.equal(before + 2);
    });

    it("caches a failure to connect as well (nothing listens on 443 there)", async () => {
      const wellKnown = await lookupWith();
      dns.records.set(d("dead"), { A: [randomLoopback()] });
      const before = dns.questions.filter((q) => q === `A ${d("dead")}`).length;
      expect(await wellKnown.lookup(d("dead"))).to.have.property("failure");
      await wellKnown.lookup(d("dead"));
      expect(dns.questions.filter((q) => q === `A ${d("dead")}`).length).to.equal(before + 1);
    });

    it("honours max-age, and coalesces concurrent look-ups", async () => {
      const wellKnown = await lookupWith();
      const before = count(d("wk"));
      const results = await Promise.all([1, 2, 3].map(() => wellKnown.lookup(d("wk"))));
      expect(results.every((r) => "server" in r)).to.equal(true);
      expect(count(d("wk"))).to.equal(before + 1);
      clock += 9 * 60_000;
      await wellKnown.lookup(d("wk"));
      expect(count(d("wk"))).to.equal(before + 1);
      clock += 2 * 60_000;
      await wellKnown.lookup(d("wk"));
      expect(count(d("wk"))).to.equal(before + 2);
    });

    it("uses 24 hours without cache headers, caps at 48 hours, keeps no-store for the 5-minute minimum, and reads Expires", async () => {
      const wellKnown = await lookupWith();
      const cases: Array<[string, number, number]> = [
        [d("wk-plain"), 23 * HOUR, 25 * HOUR],
        [d("wk-long"), 47 * HOUR, 49 * HOUR],
        [d("wk-nostore"), 4 * 60_000, 6 * 60_000],
        [d("wk-expires"), 2 * HOUR, 4 * HOUR],
      ];
      for (const [host, stillCached, expired] of cases) {
        const start = clock;
        const before = count(host);
        await wellKnown.lookup(host);
        clock = start + stillCached;
        await wellKnown.lookup(host);
        expect(count(host), `${host} still cached`).to.equal(before + 1);
        clock = start + expired;
        await wellKnown.lookup(host);
        expect(count(host), `${host} expired`).to.equal(before + 2);
      }
    });
  });

  describe("end to end with server processes", () => {
    let a: FederatedServer;
    let viaSrv: FederatedServer;
    let viaFallback: FederatedServer;
    const fallbackAddress = randomLoopback();

    before(async () => {
      a = await startFederatedServer({ config: { federation: { ip_range_allowlist: ["127.0.0.0/8"], dns_servers: [dns.address] } } });
      viaSrv = await startFederatedServer({ serverName: d("e2e-srv") });
      dns.records.set(d("e2e-srv"), { A: [wkAddress] });
      dns.records.set(`_matrix-fed._tcp.${d("e2e-srv")}`, { SRV: [{ priority: 1, weight: 1, port: viaSrv.federationPort, target: d("e2e-srv-host") }] });
      dns.records.set(d("e2e-srv-host"), { A: ["127.0.0.1"] });
      viaFallback = await startFederatedServer({ serverName: d("e2e-8448"), federationPort: 8448, bindAddress: fallbackAddress });
      dns.records.set(d("e2e-8448"), { A: [fallbackAddress] });
    });
    after(async () => {
      await Promise.all([a?.destroy(), viaSrv?.destroy(), viaFallback?.destroy()]);
    });

    for (const [name, target] of [
      ["an SRV record", () => viaSrv],
      ["the 8448 fallback (no well-known, no SRV)", () => viaFallback],
    ] as const) {
      it(`reaches a server through ${name}, and that server checks our signature`, async () => {
        const remote = target();
        const user = await registerUser(new TestClient(remote.baseUrl));
        const res = await new TestClient(a.baseUrl).get(`${V3}/profile/${encodeURIComponent(user.user_id)}`);
        expect(res.status, JSON.stringify(res.body)).to.equal(200);
        expect(res.body.displayname).to.equal(user.user_id.slice(1).split(":")[0]);
        const inbound = await waitForLog(remote, (l) => l.msg === "request" && l.route === "/_matrix/federation/v1/query/profile");
        expect(inbound.origin).to.equal(a.serverName);
        expect(inbound.status).to.equal(200);
      });
    }
  });
});
