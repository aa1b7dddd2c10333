// The outbound SSRF guard and time-outs, seen from the client API of a real
// server process: with the default blocklist a loopback destination is refused
// before any connection (IP literal, IPv4-mapped IPv6, or a host name whose A
// record points at loopback), and a peer that accepts but never answers costs
// the client no more than the configured time-out.
import { expect } from "chai";
import { createServer as createTcpServer, type Server, type Socket } from "node:net";
import { createServer as createTlsServer } from "node:tls";
import { TestClient } from "../../support/http-client.ts";
import { startDnsServer, type TestDnsServer } from "../../support/dns-server.ts";
import { startFederatedServer, type FederatedServer } from "../../support/federation.ts";
import { testCertificates, TEST_DOMAIN } from "../../support/test-ca.ts";
import { V3 } from "../../support/rooms.ts";

const ALLOWED_HOST = "127.0.0.3";

async function listen(server: Server, host: string): Promise<number> {
  await new Promise<void>((resolve) => server.listen(0, host, () => resolve()));
  return (server.address() as { port: number }).port;
}

describe("outbound guards (real server process)", function () {
  this.timeout(60_000);
  let dns: TestDnsServer;
  let server: FederatedServer;
  let api: TestClient;
  const sockets: Socket[] = [];
  let loopbackConnections = 0;
  let loopback: Server;
  let loopbackPort: number;
  let silentTls: Server;
  let silentTlsPort: number;
  let silentTcp: Server;
  let silentTcpPort: number;

  before(async () => {
    const certs = await testCertificates();
    loopback = createTcpServer((s) => {
      loopbackConnections += 1;
      s.destroy();
    });
    loopbackPort = await listen(loopback, "127.0.0.1");
    // Accepts TLS, reads the request, never answers.
    silentTls = createTlsServer({ cert: certs.certPem, key: certs.keyPem }, (s) => {
      sockets.push(s);
      s.resume();
    });
    silentTlsPort = await listen(silentTls, ALLOWED_HOST);
    // Accepts TCP and never starts TLS.
    silentTcp = createTcpServer((s) => sockets.push(s));
    silentTcpPort = await listen(silentTcp, ALLOWED_HOST);
    dns = await startDnsServer({ [`loop.${TEST_DOMAIN}`]: { A: ["127.0.0.1"] }, [`silent.${TEST_DOMAIN}`]: { A: [ALLOWED_HOST] } });
    server = await startFederatedServer({
      config: { federation: { ip_range_allowlist: [ALLOWED_HOST], dns_servers: [dns.address], request_timeout_ms: 1500, connect_timeout_ms: 1000 } },
    });
    api = new TestClient(server.baseUrl);
  });
  after(async () => {
    for (const s of sockets) s.destroy();
    await server?.destroy();
    await dns?.close();
    for (const s of [loopback, silentTls, silentTcp]) s?.close();
  });

  const profile = (userId: string) => `${V3}/profile/${encodeURIComponent(userId)}`;

  for (const [name, destination] of [
    ["an IP literal", () => `127.0.0.1:${loopbackPort}`],
    ["an IPv4-mapped IPv6 literal", () => `[::ffff:127.0.0.1]:${loopbackPort}`],
    ["a host name resolving to loopback", () => `loop.${TEST_DOMAIN}:${loopbackPort}`],
  ] as const) {
    it(`refuses a loopback destination given as ${name}, without connecting`, async () => {
      const before = loopbackConnections;
      const res = await api.get(profile(`@someone:${destination()}`));
      expect(res.status, JSON.stringify(res.body)).to.equal(502);
      expect(res.body.errcode).to.equal("M_UNKNOWN");
      expect(res.body.error).to.match(/blocked range 127\.0\.0\.0\/8/);
      expect(loopbackConnections - before).to.equal(0);
    });
  }

  it("looked the host name up (the refusal is on the resolved address) and refuses aliases the same way", async () => {
    expect(dns.questions).to.include(`A loop.${TEST_DOMAIN}`);
    const res = await api.get(`${V3}/directory/room/${encodeURIComponent(`#room:127.0.0.1:${loopbackPort}`)}`);
    expect(res.status).to.equal(502);
    expect(loopbackConnections).to.equal(0);
  });

  it("gives up on a peer that accepts TLS but never answers within request_timeout_ms (504)", async () => {
    const started = Date.now();
    // By name: the test certificate covers *.myelin.test, not 127.0.0.3.
    const res = await api.get(profile(`@someone:silent.${TEST_DOMAIN}:${silentTlsPort}`));
    const elapsed = Date.now() - started;
    expect(res.status, JSON.stringify(res.body)).to.equal(504);
    expect(res.body.errcode).to.equal("M_UNKNOWN");
    expect(elapsed).to.be.within(1400, 3500);
  });

  it("gives up on a peer that accepts TCP but never completes TLS within connect_timeout_ms (504)", async () => {
    const started = Date.now();
    const res = await api.get(profile(`@someone:${ALLOWED_HOST}:${silentTcpPort}`));
    const elapsed = Date.now() - started;
    expect(res.status, JSON.stringify(res.body)).to.equal(504);
    expect(elapsed).to.be.within(900, 1450);
  });
});
