// Media between our server and a real Synapse over federation: a file
// uploaded to Synapse through its client API is downloaded through our
// server (our federation client fetching Synapse's
// /_matrix/federation/v1/media/download), and a file uploaded to our server
// is downloaded, and thumbnailed, through Synapse (Synapse fetching ours).
import { expect } from "chai";
import sharp from "sharp";
import { registerUser, type TestUser } from "../support/accounts.ts";
import type { FederatedServer } from "../support/federation.ts";
import { TestClient } from "../support/http-client.ts";
import { downloadPath, mediaRequest, mxcParts, testImage, thumbnailPath, uploadMedia } from "../support/media.ts";
import type { RunningSynapse, SynapseUser } from "../support/synapse.ts";
import { printLogsOnFailure, startSynapsePair, stopSynapsePair } from "../support/synapse-pair.ts";

const START_TIMEOUT_MS = 120_000;

/** Synapse's answers are its own business: no schema check on them. */
async function onSynapse(synapse: RunningSynapse, method: string, path: string, token: string, body?: Buffer, contentType?: string) {
  const res = await fetch(synapse.clientUrl + path, {
    method,
    headers: { Authorization: `Bearer ${token}`, ...(contentType ? { "Content-Type": contentType } : {}) },
    ...(body ? { body } : {}),
  });
  return { status: res.status, headers: res.headers, bytes: Buffer.from(await res.arrayBuffer()) };
}

describe("media with a real Synapse", function () {
  this.timeout(START_TIMEOUT_MS + 60_000);
  let synapse: RunningSynapse | undefined;
  let ours: FederatedServer | undefined;
  let olive: TestUser;
  let sam: SynapseUser;

  let pair: Awaited<ReturnType<typeof startSynapsePair>> | undefined;

  before(async function () {
    this.timeout(2 * START_TIMEOUT_MS);
    pair = await startSynapsePair(START_TIMEOUT_MS);
    if (pair.error) throw pair.error;
    synapse = pair.synapse;
    ours = pair.ours;
    [olive, sam] = await Promise.all([registerUser(new TestClient(ours!.baseUrl)), synapse!.registerUser("sam")]);
  });
  after(async function () {
    this.timeout(60_000);
    await stopSynapsePair(pair);
  });
  afterEach(function () {
    printLogsOnFailure(this, pair);
  });

  it("downloads media uploaded to Synapse through our server", async () => {
    const image = await testImage("jpeg", 320, 240);
    const up = await onSynapse(synapse!, "POST", "/_matrix/media/v3/upload?filename=photo.jpg", sam.access_token, image, "image/jpeg");
    expect(up.status, up.bytes.toString()).to.equal(200);
    const uri = (JSON.parse(up.bytes.toString()) as { content_uri: string }).content_uri;
    expect(mxcParts(uri).serverName).to.equal(synapse!.serverName);
    const down = await mediaRequest(ours!.baseUrl, "GET", downloadPath(uri), { token: olive.access_token });
    expect(down.status, down.bytes.toString().slice(0, 300)).to.equal(200);
    expect(down.bytes.equals(image)).to.equal(true);
    expect(down.headers.get("content-type")).to.equal("image/jpeg");
    expect(down.headers.get("content-disposition")).to.equal('inline; filename="photo.jpg"');
    const thumb = await mediaRequest(ours!.baseUrl, "GET", thumbnailPath(uri, "width=96&height=96&method=crop"), { token: olive.access_token });
    expect(thumb.status).to.equal(200);
    const meta = await sharp(thumb.bytes).metadata();
    expect([meta.width, meta.height]).to.deep.equal([96, 96]);
  });

  it("lets Synapse download and thumbnail our media over federation", async () => {
    const image = await testImage("png", 400, 300);
    const up = await uploadMedia(ours!.baseUrl, olive.access_token, image, "image/png", "ours.png");
    expect(up.status).to.equal(200);
    const { serverName, mediaId } = mxcParts(up.json.content_uri);
    const down = await onSynapse(synapse!, "GET", `/_matrix/client/v1/media/download/${encodeURIComponent(serverName)}/${mediaId}`, sam.access_token);
    expect(down.status, down.bytes.toString().slice(0, 300)).to.equal(200);
    expect(down.bytes.equals(image)).to.equal(true);
    const fetched = ours!.logs().filter((l) => l.route === "/_matrix/federation/v1/media/download/:mediaId");
    expect(fetched.map((l) => l.status)).to.include(200);
    const thumb = await onSynapse(synapse!, "GET", `/_matrix/client/v1/media/thumbnail/${encodeURIComponent(serverName)}/${mediaId}?width=32&height=32&method=crop`, sam.access_token);
    expect(thumb.status, thumb.bytes.toString().slice(0, 300)).to.equal(200);
    const meta = await sharp(thumb.bytes).metadata();
    expect(meta.width).to.be.at.most(400);
  });
});
