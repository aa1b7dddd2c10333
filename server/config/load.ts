// Loads homeserver.yaml, applies environment overrides and validates the result.
//
// Environment overrides, strongest first:
//   DATABASE_URL, REDIS_URL                  the usual twelve-factor names
//   MYELIN__<key>__<key>=<yaml scalar>       any key, e.g. MYELIN__listeners__client__port=8080
import { readFileSync } from "node:fs";
import { dirname, isAbsolute, resolve } from "node:path";
import { Ajv, type ErrorObject } from "ajv";
import YAML from "yaml";
import { ConfigError } from "./config-error.ts";
import { checkDerivedConfig } from "./derived.ts";
import { configSchema, type HomeserverConfig } from "./schema.ts";

const ajv = new Ajv({ allErrors: false, useDefaults: true, strict: true });
const validate = ajv.compile<HomeserverConfig>(configSchema);

type Mutable = Record<string, unknown>;

export function loadConfig(path: string, env: NodeJS.ProcessEnv = process.env): HomeserverConfig {
  let text: string;
  try {
    text = readFileSync(path, "utf8");
  } catch (err) {
    throw new ConfigError(`cannot read config file ${path}: ${(err as NodeJS.ErrnoException).code ?? String(err)}`);
  }
  let parsed: unknown;
  try {
    parsed = YAML.parse(text, { prettyErrors: false }) ?? {};
  } catch (err) {
    const first = String((err as Error).message).split("\n")[0];
    throw new ConfigError(`${path} is not valid YAML: ${first}`);
  }
  if (typeof parsed !== "object" || parsed === null || Array.isArray(parsed)) {
    throw new ConfigError(`${path} must contain a YAML mapping of config keys`);
  }
  const config = parsed as Mutable;
  applyEnvOverrides(config, env);
  if (!validate(config)) throw new ConfigError(`${path}: ${describeError(validate.errors?.[0])}`);
  resolvePaths(config, dirname(resolve(path)));
  checkDerivedConfig(config);
  return config;
}

function applyEnvOverrides(config: Mutable, env: NodeJS.ProcessEnv): void {
  for (const [name, value] of Object.entries(env)) {
    if (!name.startsWith("MYELIN__") || value === undefined) continue;
    const keys = name.slice("MYELIN__".length).split("__").filter(Boolean);
    if (keys.length === 0) continue;
    let node = config;
    for (const key of keys.slice(0, -1)) {
      if (typeof node[key] !== "object" || node[key] === null) node[key] = {};
      node = node[key] as Mutable;
    }
    node[keys[keys.length - 1]!] = YAML.parse(value);
  }
  if (env.DATABASE_URL) ((config.database ??= {}) as Mutable).url = env.DATABASE_URL;
  if (env.REDIS_URL) ((config.redis ??= {}) as Mutable).url = env.REDIS_URL;
}

function describeError(error: ErrorObject | undefined): string {
  if (!error) return "invalid configuration";
  const path = error.instancePath.split("/").filter(Boolean).join(".");
  const at = (key: string) => (path ? `${path}.${key}` : key);
  switch (error.keyword) {
    case "additionalProperties":
      return `unknown key "${at(String(error.params.additionalProperty))}"`;
    case "required":
      return `missing required key "${at(String(error.params.missingProperty))}"`;
    case "type":
      return `"${path}" must be of type ${String(error.params.type)}`;
    case "enum":
      return `"${path}" must be one of ${(error.params.allowedValues as unknown[]).map(String).join(", ")}`;
    default:
      return `"${path}" ${error.message ?? "is invalid"}`;
  }
}

function resolvePaths(config: HomeserverConfig, base: string): void {
  const abs = (p: string) => (isAbsolute(p) ? p : resolve(base, p));
  config.signing_key_path = abs(config.signing_key_path);
  config.database.embedded_data_dir = abs(config.database.embedded_data_dir);
  config.listeners.federation.tls_certificate_path = abs(config.listeners.federation.tls_certificate_path);
  config.listeners.federation.tls_private_key_path = abs(config.listeners.federation.tls_private_key_path);
  config.media.store_path = abs(config.media.store_path);
  if (config.search.elasticsearch?.ca_bundle_path !== undefined) config.search.elasticsearch.ca_bundle_path = abs(config.search.elasticsearch.ca_bundle_path);
  if (config.federation.ca_bundle_path !== undefined) config.federation.ca_bundle_path = abs(config.federation.ca_bundle_path);
}
