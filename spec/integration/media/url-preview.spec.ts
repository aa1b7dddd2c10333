// URL previews through a real server process: OpenGraph from a page served
// by this test on loopback (allowed only by url_preview.ip_range_allowlist),
// the og:image stored as local media, and the SSRF guard: loopback, private,
// link-local, CGNAT and IPv6 loopback addresses refused by default, by name
// as well as by literal, and redirects to them refused on the way.
import { expect } from "chai";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { join } from "node:path";
import { registerUser, type TestUser } from "../../support/accounts.ts";
import { TestClient } from "../../support/http-client.ts";
import { downloadPath, mediaRequest, testImage } from "../../support/media.ts";
import { startServer, type RunningServer } from "../../support/server-process.ts";
import { testRedisPrefix } from "../../support/test-env.ts";

const PREVIEW = "/_matrix/client/v1/media/preview_url";

describe("URL previews and the SSRF guard (real server process)", function () {
  this.timeout(90_000);
  let guarded: RunningServer;
  let allowing: RunningServer;
  let disabled: RunningServer;
  let site: Server;
  let base: string;
  let guardedUser: TestUser;
  let allowingUser: TestUser;
  let pageHits = 0;

  before(async () => {
    const png = await testImage("png", 64, 48);
    site = createServer((req, res) => {
      const url = req.url ?? "/";
      if (url.split("?")[0] === "/page") {
        pageHits += 1;
        res.writeHead(200, { "Content-Type": "text/html; charset=utf-8" });
        res.end(`<html><head><title>Fallback</title>
          <meta property="og:title" content="A &amp; B &#x263A;">
          <meta name="description" content="described">
          <meta property="og:image" content="/image.png"></head><body>hi</body></html>`);
      } else if (url === "/image.png") {
        res.writeHead(200, { "Content-Type": "image/png" });
        res.end(png);
      } else if (url === "/big") {
        res.writeHead(200, { "Content-Type": "text/html" });
        res.end(Buffer.alloc(300 * 1024, "a"));
      } else if (url.startsWith("/redirect?to=")) {
        res.writeHead(302, { Location: decodeURIComponent(url.slice("/redirect?to=".length)) });
        res.end();
      } else {
        res.writeHead(404);
        res.end();
      }
    });
    await new Promise<void>((r) => site.listen(0, "127.0.0.1", r));
    base = `http://127.0.0.1:${(site.address() as AddressInfo).port}`;
    const preview = { enabled: true, max_spider_size: 100 * 1024, timeout_ms: 5000 };
    // The servers share the run's database (so the preview cache: each test uses its own URLs) but not their job queues.
    [guarded, allowing, disabled] = await Promise.all([
      startServer({ configFor: (dir) => ({ redis: { key_prefix: `${testRedisPrefix}guarded:` }, url_preview: preview, media: { store_path: join(dir, "media") } }) }),
      startServer({
        configFor: (dir) => ({ redis: { key_prefix: `${testRedisPrefix}allowing:` }, url_preview: { ...preview, ip_range_allowlist: ["127.0.0.1/32"] }, media: { store_path: join(dir, "media") } }),
      }),
      startServer(),
    ]);
    [guardedUser, allowingUser] = await Promise.all([registerUser(new TestClient(guarded.baseUrl)), registerUser(new TestClient(allowing.baseUrl))]);
  });
  after(async () => {
    await Promise.all([guarded?.stop(), allowing?.stop(), disabled?.stop()]);
    site?.close();
  });

  const preview = (server: RunningServer, user: TestUser, url: string) => mediaRequest(server.baseUrl, "GET", `${PREVIEW}?url=${encodeURIComponent(url)}`, { token: user.access_token });

  it("previews a page: OpenGraph, its og:image stored as local media with size and dimensions, cached", async () => {
    const res = await preview(allowing, allowingUser, `${base}/page`);
    expect(res.status, JSON.stringify(res.json)).to.equal(200);
    expect(res.json["og:title"]).to.equal("A & B \u263a");
    expect(res.json["og:description"]).to.equal("described");
    expect(res.json["og:image"]).to.match(/^mxc:\/\/localhost\//);
    expect(res.json["og:image:type"]).to.equal("image/png");
    expect(res.json["og:image:width"]).to.equal(64);
    expect(res.json["og:image:height"]).to.equal(48);
    expect(res.json["matrix:image:size"]).to.be.a("number").greaterThan(0);
    const image = await mediaRequest(allowing.baseUrl, "GET", downloadPath(res.json["og:image"]), { token: allowingUser.access_token });
    expect(image.status).to.equal(200);
    expect(image.headers.get("content-type")).to.equal("image/png");
    const hits = pageHits;
    const again = await preview(allowing, allowingUser, `${base}/page`);
    expect(again.json).to.deep.equal(res.json);
    expect(pageHits, "served from the cache").to.equal(hits);
  });

  it("refuses loopback, private, link-local, CGNAT and IPv6 loopback targets by default", async () => {
    const port = (site.address() as AddressInfo).port;
    for (const url of [`${base}/page?guarded`, `http://localhost:${port}/page?guarded`, "http://10.1.2.3/", "http://192.168.0.1/", "http://169.254.169.254/latest/meta-data/", "http://100.64.0.1/", `http://[::1]:${port}/page?guarded`, "http://[fd00::1]/", "http://0.0.0.0/"]) {
      const res = await preview(guarded, guardedUser, url);
      expect(res.status, url).to.equal(403);
      expect(res.json.errcode, url).to.equal("M_FORBIDDEN");
    }
  });

  it("refuses a redirect from an allowed address to a blocked one", async () => {
    const port = (site.address() as AddressInfo).port;
    for (const target of ["http://10.0.0.1/", `http://[::1]:${port}/page`, `http://localhost6:${port}/`, "http://169.254.169.254/"]) {
      const res = await preview(allowing, allowingUser, `${base}/redirect?to=${encodeURIComponent(target)}`);
      expect(res.status, target).to.be.oneOf([403, 502]);
      expect(res.json.errcode, target).to.be.oneOf(["M_FORBIDDEN", "M_UNKNOWN"]);
    }
    const followed = await preview(allowing, allowingUser, `${base}/redirect?to=${encodeURIComponent(`${base}/page?redirected`)}`);
    expect(followed.status).to.equal(200);
  });

  it("stops at url_preview.max_spider_size, and refuses non-http URLs and missing parameters", async () => {
    const big = await preview(allowing, allowingUser, `${base}/big`);
    expect(big.status).to.equal(502);
    expect(big.json.errcode).to.equal("M_TOO_LARGE");
    expect((await preview(allowing, allowingUser, "file:///etc/passwd")).status).to.equal(400);
    const missing = await mediaRequest(allowing.baseUrl, "GET", PREVIEW, { token: allowingUser.access_token });
    expect(missing.status).to.equal(400);
    expect(missing.json.errcode).to.equal("M_MISSING_PARAM");
  });

  it("does not exist when url_preview.enabled is false (the default)", async () => {
    const user = await registerUser(new TestClient(disabled.baseUrl));
    const res = await preview(disabled, user, `${base}/page`);
    expect(res.status).to.equal(404);
    expect(res.json.errcode).to.equal("M_UNRECOGNIZED");
  });
});
