// First-run generation: homeserver.yaml, the ed25519 signing key (Synapse's
// key-file format) and, for development, a self-signed TLS pair for the
// federation listener. Existing files are never overwritten.
import { randomBytes } from "node:crypto";
import { existsSync, mkdirSync, writeFileSync } from "node:fs";
import { dirname, resolve } from "node:path";
import { generate as generateCertificate } from "selfsigned";
import YAML from "yaml";
import { parseServerName } from "../protocol/identifiers.ts";
import { formatSigningKeyFile, generateSigningKey } from "../protocol/signing.ts";
import type { HomeserverConfig } from "./schema.ts";

export interface GeneratedFiles {
  configPath: string;
  created: string[];
}

export async function generateConfig(configPath: string, serverName = "localhost"): Promise<GeneratedFiles> {
  const created: string[] = [];
  mkdirSync(dirname(resolve(configPath)), { recursive: true });
  if (!existsSync(configPath)) {
    const config = {
      server_name: serverName,
      signing_key_path: `./${serverName}.signing.key`,
      registration_shared_secret: randomBytes(32).toString("base64url"),
      listeners: {
        client: { port: 8008, bind_addresses: ["127.0.0.1"] },
        federation: {
          enabled: true,
          port: 8448,
          bind_addresses: ["0.0.0.0"],
          tls_certificate_path: `./${serverName}.tls.crt`,
          tls_private_key_path: `./${serverName}.tls.key`,
        },
      },
    } satisfies Partial<HomeserverConfig> & { listeners: HomeserverConfig["listeners"] };
    const header =
      "# Myelin homeserver configuration, generated on first run.\n" +
      "# Every key and its default: documentation-living/configuration.md\n" +
      "# DATABASE_URL and REDIS_URL override database.url and redis.url;\n" +
      "# MYELIN__section__key=value overrides any other key.\n";
    writeFileSync(configPath, header + YAML.stringify(config), { mode: 0o600 });
    created.push(configPath);
  }
  return { configPath, created };
}

/** Creates the signing key and TLS pair named by a loaded config when they are missing. */
export async function ensureKeyMaterial(config: HomeserverConfig): Promise<string[]> {
  const created: string[] = [];
  if (!existsSync(config.signing_key_path)) {
    writeFileSync(config.signing_key_path, formatSigningKeyFile(generateSigningKey()), { mode: 0o600 });
    created.push(config.signing_key_path);
  }
  const federation = config.listeners.federation;
  if (federation.enabled && !existsSync(federation.tls_certificate_path) && !existsSync(federation.tls_private_key_path)) {
    // The certificate names the host without the port; an IP literal goes in an IP entry, as TLS checks it there.
    const parts = parseServerName(config.server_name);
    const host = parts ? parts.host.replace(/^\[|\]$/g, "") : config.server_name;
    const altName = parts && parts.kind !== "dns" ? ({ type: 7, ip: host } as const) : ({ type: 2, value: host } as const);
    const pems = await generateCertificate([{ name: "commonName", value: host }], {
      keyType: "ec",
      notAfterDate: new Date(Date.now() + 2 * 365 * 24 * 3600 * 1000),
      algorithm: "sha256",
      extensions: [{ name: "subjectAltName", altNames: [altName] }],
    });
    writeFileSync(federation.tls_certificate_path, pems.cert);
    writeFileSync(federation.tls_private_key_path, pems.private, { mode: 0o600 });
    created.push(federation.tls_certificate_path, federation.tls_private_key_path);
  }
  return created;
}
