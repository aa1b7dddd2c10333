// A throwaway certificate authority for federation tests: one CA per test
// run and one server certificate it signs, valid for 127.0.0.1, localhost and
// any name under TEST_DOMAIN. Servers get the pair as their TLS files and the
// CA through federation.ca_bundle_path, so certificate checks stay on.
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { generate } from "selfsigned";

/** Names the test DNS server answers; the certificate covers *.TEST_DOMAIN. */
export const TEST_DOMAIN = "myelin.test";

export interface TestCertificates {
  caPath: string;
  certPath: string;
  keyPath: string;
  caPem: string;
  certPem: string;
  keyPem: string;
}

let made: Promise<TestCertificates> | undefined;

async function make(): Promise<TestCertificates> {
  const notAfterDate = new Date(Date.now() + 7 * 24 * 3600_000);
  const ca = await generate([{ name: "commonName", value: "Myelin test CA" }], {
    keyType: "ec",
    algorithm: "sha256",
    notAfterDate,
    extensions: [
      { name: "basicConstraints", cA: true, critical: true },
      { name: "keyUsage", keyCertSign: true, cRLSign: true, digitalSignature: true, critical: true },
    ],
  });
  const leaf = await generate([{ name: "commonName", value: "127.0.0.1" }], {
    keyType: "ec",
    algorithm: "sha256",
    notAfterDate,
    ca: { key: ca.private, cert: ca.cert },
    extensions: [
      { name: "basicConstraints", cA: false },
      { name: "keyUsage", digitalSignature: true, keyEncipherment: true },
      { name: "extKeyUsage", serverAuth: true },
      {
        name: "subjectAltName",
        altNames: [
          { type: 7, ip: "127.0.0.1" },
          { type: 2, value: "localhost" },
          { type: 2, value: TEST_DOMAIN },
          { type: 2, value: `*.${TEST_DOMAIN}` },
        ],
      },
    ],
  });
  const dir = mkdtempSync(join(tmpdir(), "myelin-test-ca-"));
  const paths = { caPath: join(dir, "ca.crt"), certPath: join(dir, "server.crt"), keyPath: join(dir, "server.key") };
  writeFileSync(paths.caPath, ca.cert);
  writeFileSync(paths.certPath, leaf.cert);
  writeFileSync(paths.keyPath, leaf.private, { mode: 0o600 });
  return { ...paths, caPem: ca.cert, certPem: leaf.cert, keyPem: leaf.private };
}

/** The run's CA and server certificate, made on first use. */
export function testCertificates(): Promise<TestCertificates> {
  made ??= make();
  return made;
}
