// Media across two real server processes over federation (real HTTPS, the
// test CA): a client of A downloads B's media (fetched once through the
// signed federation endpoint however many ask at once, then cached), A
// thumbnails its cached copy, B's federation media endpoints answer
// multipart/mixed only to signed requests, and unknown remote media is 404.
import { expect } from "chai";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import sharp from "sharp";
import { authorizationHeader } from "../../../federation/transport/federation-client.ts";
import { parseSigningKeyFile } from "../../../server/protocol/signing.ts";
import { registerUser, type TestUser } from "../../support/accounts.ts";
import { federationRequest, startFederatedServer, type FederatedServer } from "../../support/federation.ts";
import { TestClient } from "../../support/http-client.ts";
import { downloadPath, mediaRequest, mxcParts, testImage, thumbnailPath, uploadMedia } from "../../support/media.ts";
import { expectSpecResponse } from "../../support/openapi.ts";
import { createServer as createHttpsServer } from "node:https";
import { createServer as createHttpServer } from "node:http";
import type { AddressInfo } from "node:net";
import { freePort } from "../../support/ports.ts";
import { testCertificates } from "../../support/test-ca.ts";

describe("media over federation (two server processes)", function () {
  this.timeout(120_000);
  let a: FederatedServer;
  let b: FederatedServer;
  let alice: TestUser;
  let bob: TestUser;

  before(async () => {
    [a, b] = await Promise.all([startFederatedServer(), startFederatedServer()]);
    [alice, bob] = await Promise.all([registerUser(new TestClient(a.baseUrl)), registerUser(new TestClient(b.baseUrl))]);
  });
  after(async () => {
    await Promise.all([a?.destroy(), b?.destroy()]);
  });

  const federationFetches = (server: FederatedServer) => server.logs().filter((l) => l.route === "/_matrix/federation/v1/media/download/:mediaId" && l.status === 200).length;

  it("downloads B's media through A, one federation fetch for concurrent requests, then from A's cache", async () => {
    const image = await testImage("png", 300, 200);
    const up = await uploadMedia(b.baseUrl, bob.access_token, image, "image/png", "chart.png");
    expect(up.status).to.equal(200);
    expect(mxcParts(up.json.content_uri).serverName).to.equal(b.serverName);
    const before = federationFetches(b);
    const answers = await Promise.all(Array.from({ length: 6 }, () => mediaRequest(a.baseUrl, "GET", downloadPath(up.json.content_uri), { token: alice.access_token })));
    for (const answer of answers) {
      expect(answer.status, answer.bytes.toString().slice(0, 200)).to.equal(200);
      expect(answer.bytes.equals(image)).to.equal(true);
      expect(answer.headers.get("content-type")).to.equal("image/png");
      expect(answer.headers.get("content-disposition")).to.equal('inline; filename="chart.png"');
    }
    await new Promise((r) => setTimeout(r, 200));
    expect(federationFetches(b) - before, "one fetch for six concurrent requests").to.equal(1);
    const cached = await mediaRequest(a.baseUrl, "GET", downloadPath(up.json.content_uri), { token: alice.access_token });
    expect(cached.bytes.equals(image)).to.equal(true);
    expect(federationFetches(b) - before).to.equal(1);

    const thumb = await mediaRequest(a.baseUrl, "GET", thumbnailPath(up.json.content_uri, "width=32&height=32&method=crop"), { token: alice.access_token });
    expect(thumb.status).to.equal(200);
    const meta = await sharp(thumb.bytes).metadata();
    expect([meta.width, meta.height]).to.deep.equal([32, 32]);
  });

  it("answers unknown remote media 404 M_NOT_FOUND, and allow_remote=false does not fetch", async () => {
    const missing = await mediaRequest(a.baseUrl, "GET", `/_matrix/client/v1/media/download/${encodeURIComponent(b.serverName)}/nosuchmedia`, { token: alice.access_token });
    expect(missing.status).to.equal(404);
    expect(missing.json.errcode).to.equal("M_NOT_FOUND");
    const up = await uploadMedia(b.baseUrl, bob.access_token, Buffer.from("stay home"));
    const local = await mediaRequest(a.baseUrl, "GET", `${downloadPath(up.json.content_uri)}?allow_remote=false`, { token: alice.access_token });
    expect(local.status).to.equal(404);
  });

  it("serves its own media to a signed federation request as multipart/mixed, and refuses unsigned ones", async () => {
    const body = Buffer.from("federated bytes");
    const up = await uploadMedia(b.baseUrl, bob.access_token, body, "text/plain", "f.txt");
    const { mediaId } = mxcParts(up.json.content_uri);
    const path = `/_matrix/federation/v1/media/download/${mediaId}`;
    const unsigned = await federationRequest(b.federationUrl!, "GET", path);
    expect(unsigned.status).to.equal(401);
    expectSpecResponse("GET", path, 401, unsigned.body);
    const keyA = parseSigningKeyFile(readFileSync(join(a.dir, "signing.key"), "utf8"))[0]!;
    const signed = await federationRequest(b.federationUrl!, "GET", path, { headers: { Authorization: authorizationHeader(a.serverName, b.serverName, keyA, "GET", path, undefined) } });
    expect(signed.status).to.equal(200);
    const type = String(signed.headers["content-type"]);
    expect(type).to.match(/^multipart\/mixed; boundary=/);
    const boundary = type.split("boundary=")[1]!;
    const text = String(signed.body);
    expect(text).to.equal(
      `--${boundary}\r\nContent-Type: application/json\r\n\r\n{}\r\n--${boundary}\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Disposition: inline; filename="f.txt"\r\n\r\nfederated bytes\r\n--${boundary}--\r\n`,
    );
    const image = await uploadMedia(b.baseUrl, bob.access_token, await testImage("png", 200, 100), "image/png");
    const thumbPath = `/_matrix/federation/v1/media/thumbnail/${mxcParts(image.json.content_uri).mediaId}?width=32&height=32&method=crop`;
    const thumb = await federationRequest(b.federationUrl!, "GET", thumbPath, { headers: { Authorization: authorizationHeader(a.serverName, b.serverName, keyA, "GET", thumbPath, undefined) } });
    expect(thumb.status).to.equal(200);
    expect(String(thumb.body)).to.match(/\r\n\r\n\{\}\r\n--[0-9a-f]+\r\nContent-Type: image\/png\r\nContent-Disposition: inline\r\n\r\n[\s\S]PNG/);
    const unknownPath = "/_matrix/federation/v1/media/download/nosuchmedia";
    const unknown = await federationRequest(b.federationUrl!, "GET", unknownPath, { headers: { Authorization: authorizationHeader(a.serverName, b.serverName, keyA, "GET", unknownPath, undefined) } });
    expect(unknown.status).to.equal(404);
    expectSpecResponse("GET", unknownPath, 404, unknown.body);
  });

  it("falls back to the legacy endpoint only on M_UNRECOGNIZED, and follows a Location part", async () => {
    const certs = await testCertificates();
    const port = await freePort();
    const name = `127.0.0.1:${port}`;
    const seen: string[] = [];
    const cdn = createHttpServer((_req, res) => res.writeHead(200, { "Content-Type": "text/plain" }).end("from the CDN"));
    await new Promise<void>((r) => cdn.listen(0, "127.0.0.1", r));
    const cdnUrl = `http://127.0.0.1:${(cdn.address() as AddressInfo).port}/blob`;
    // An "old" origin: no federation media endpoint for "old", a Location for "moved", 404 for "gone".
    const origin = createHttpsServer({ cert: certs.certPem, key: certs.keyPem }, (req, res) => {
      const url = req.url ?? "";
      seen.push(url.split("?")[0]!);
      if (url.startsWith("/_matrix/federation/v1/media/download/old")) return res.writeHead(404, { "Content-Type": "application/json" }).end('{"errcode":"M_UNRECOGNIZED","error":"Unrecognized request"}');
      if (url.startsWith("/_matrix/federation/v1/media/download/gone")) return res.writeHead(404, { "Content-Type": "application/json" }).end('{"errcode":"M_NOT_FOUND","error":"Not found"}');
      if (url.startsWith("/_matrix/federation/v1/media/download/moved")) {
        const boundary = "xyz";
        return res
          .writeHead(200, { "Content-Type": `multipart/mixed; boundary=${boundary}` })
          .end(`--${boundary}\r\nContent-Type: application/json\r\n\r\n{}\r\n--${boundary}\r\nLocation: ${cdnUrl}\r\n\r\n\r\n--${boundary}--\r\n`);
      }
      if (url.startsWith(`/_matrix/media/v3/download/${encodeURIComponent(name)}/old?allow_remote=false`)) {
        return res.writeHead(200, { "Content-Type": "text/plain", "Content-Disposition": 'attachment; filename="legacy.txt"' }).end("legacy bytes");
      }
      res.writeHead(404).end();
    });
    await new Promise<void>((r) => origin.listen(port, "127.0.0.1", r));
    try {
      const get = (id: string) => mediaRequest(a.baseUrl, "GET", `/_matrix/client/v1/media/download/${encodeURIComponent(name)}/${id}`, { token: alice.access_token });
      const old = await get("old");
      expect(old.status, old.bytes.toString()).to.equal(200);
      expect(old.bytes.toString()).to.equal("legacy bytes");
      expect(old.headers.get("content-disposition")).to.equal('inline; filename="legacy.txt"');
      const moved = await get("moved");
      expect(moved.status, moved.bytes.toString()).to.equal(200);
      expect(moved.bytes.toString()).to.equal("from the CDN");
      const gone = await get("gone");
      expect(gone.status).to.equal(404);
      expect(gone.json.errcode).to.equal("M_NOT_FOUND");
      expect(seen.filter((p) => p.startsWith("/_matrix/media/v3/download/")), "the legacy endpoint only for the unrecognised one").to.deep.equal([
        `/_matrix/media/v3/download/${encodeURIComponent(name)}/old`,
      ]);
    } finally {
      origin.close();
      cdn.close();
    }
  });
});
