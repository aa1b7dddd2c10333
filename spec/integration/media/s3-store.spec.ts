// The S3 media store against moto's S3-compatible server (PyPI, installed by
// scripts/moto-venv.sh into .venv-moto): SigV4 checked against AWS's own
// worked example, the store's put/get/range/exists/delete, and a real server
// process keeping its media in the bucket.
import { expect } from "chai";
import { spawn, type ChildProcess } from "node:child_process";
import { createHash } from "node:crypto";
import { existsSync } from "node:fs";
import { join } from "node:path";
import { Readable } from "node:stream";
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import type { S3Config } from "../../../server/config/schema.ts";
import { createS3MediaStore, signS3Request } from "../../../server/media/store/s3-store.ts";
import { registerUser } from "../../support/accounts.ts";
import { TestClient } from "../../support/http-client.ts";
import { downloadPath, mediaRequest, uploadMedia } from "../../support/media.ts";
import { freePort } from "../../support/ports.ts";
import { repoRoot } from "../../support/repo-root.ts";
import { startServer, type RunningServer } from "../../support/server-process.ts";

const MOTO = join(repoRoot, ".venv-moto/bin/moto_server");

async function readAll(stream: Readable): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of stream) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks);
}

describe("S3 media store", function () {
  this.timeout(60_000);

  it("signs requests as AWS's SigV4 example does (GET with a Range)", () => {
    const config: S3Config = {
      bucket: "examplebucket",
      region: "us-east-1",
      endpoint: "https://s3.amazonaws.com",
      access_key_id: "AKIAIOSFODNN7EXAMPLE",
      secret_access_key: "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
      prefix: "",
      force_path_style: false,
    };
    const signed = signS3Request(config, "GET", "test.txt", { range: "bytes=0-9" }, "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855", new Date("2013-05-24T00:00:00Z"));
    expect(signed.url).to.equal("https://examplebucket.s3.amazonaws.com/test.txt");
    expect(signed.headers.authorization).to.equal(
      "AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20130524/us-east-1/s3/aws4_request, SignedHeaders=host;range;x-amz-content-sha256;x-amz-date, Signature=f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41",
    );
  });

  describe("against moto's S3 server", () => {
    let moto: ChildProcess | undefined;
    let config: S3Config;
    let server: RunningServer | undefined;

    before(async function () {
      if (!existsSync(MOTO)) throw new Error(`${MOTO} is missing: run bash scripts/moto-venv.sh`);
      const port = await freePort("127.0.0.1");
      moto = spawn(MOTO, ["-H", "127.0.0.1", "-p", String(port)], { stdio: "ignore" });
      config = { bucket: "myelin-media", region: "us-east-1", endpoint: `http://127.0.0.1:${port}`, access_key_id: "test", secret_access_key: "test", prefix: "media/", force_path_style: true };
      const deadline = Date.now() + 30_000;
      for (;;) {
        try {
          const signed = signS3Request({ ...config, prefix: "" }, "PUT", "", {}, createHash("sha256").update("").digest("hex"));
          const res = await fetch(signed.url, { method: "PUT", headers: signed.headers });
          if (res.ok) break;
        } catch {
          // not listening yet
        }
        if (Date.now() > deadline) throw new Error("moto_server did not start");
        await new Promise((r) => setTimeout(r, 200));
      }
    });
    after(async () => {
      await server?.stop();
      moto?.kill();
    });

    it("puts, reads (whole and a range), finds and deletes content", async () => {
      const store = createS3MediaStore(config, mkdtempSync(join(tmpdir(), "myelin-s3-")));
      const bytes = Buffer.from("content addressed in a bucket");
      const put = await store.put(Readable.from([bytes]), { maxBytes: 1024 });
      expect(put.sha256).to.equal(createHash("sha256").update(bytes).digest("hex"));
      expect(await store.exists(put.sha256)).to.equal(true);
      expect((await readAll((await store.get(put.sha256))!)).equals(bytes)).to.equal(true);
      expect((await readAll((await store.get(put.sha256, { start: 8, end: 16 }))!)).toString()).to.equal("addressed");
      await store.delete(put.sha256);
      expect(await store.exists(put.sha256)).to.equal(false);
      expect(await store.get(put.sha256)).to.equal(undefined);
    });

    it("serves a real server's uploads from the bucket", async () => {
      server = await startServer({ configFor: (dir) => ({ media: { store: "s3", store_path: join(dir, "staging"), s3: config } }) });
      const user = await registerUser(new TestClient(server.baseUrl));
      const bytes = Buffer.from("uploaded into S3");
      const up = await uploadMedia(server.baseUrl, user.access_token, bytes, "text/plain");
      expect(up.status).to.equal(200);
      const down = await mediaRequest(server.baseUrl, "GET", downloadPath(up.json.content_uri), { token: user.access_token });
      expect(down.status).to.equal(200);
      expect(down.bytes.equals(bytes)).to.equal(true);
      const key = createHash("sha256").update(bytes).digest("hex");
      const signed = signS3Request(config, "HEAD", `media/${key}`, {}, createHash("sha256").update("").digest("hex"));
      expect((await fetch(signed.url, { method: "HEAD", headers: signed.headers })).status).to.equal(200);
    });
  });
});
