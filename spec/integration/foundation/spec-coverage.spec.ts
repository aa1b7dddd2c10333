// Every non-deprecated client-server operation of the spec is served: a
// request to it, without credentials, reaches a handler (401, 400, 403 …)
// rather than the route table's fallback (404/405 M_UNRECOGNIZED). Operations
// that other open issues cover are listed, and the test fails when one of
// them becomes served, so the list stays honest.
import { readdirSync, readFileSync } from "node:fs";
import { resolve } from "node:path";
import { expect } from "chai";
import YAML from "yaml";
import { startServer, type RunningServer } from "../../support/server-process.ts";
import { specDataDir } from "../../support/spec-data.ts";

interface SpecOperation {
  method: string;
  template: string;
  file: string;
}

/** Operations of the other open issues, as "METHOD template". */
const OTHER_ISSUES = new Map<string, string>([
  ["GET /_matrix/client/v3/pushers", "pushers"],
  ["POST /_matrix/client/v3/pushers/set", "pushers"],
  ["GET /_matrix/client/v3/login/sso/redirect", "SSO"],
  ["GET /_matrix/client/v3/login/sso/redirect/{idpId}", "SSO"],
  ["POST /_matrix/client/v1/appservice/{appserviceId}/ping", "appservices"],
  ["PUT /_matrix/client/v3/directory/list/appservice/{networkId}/{roomId}", "appservices"],
]);

/**
 * Operations whose spec'd answer here is the fallback itself: GET
 * /auth_metadata answers 404 M_UNRECOGNIZED when the server does not offer
 * the OAuth 2.0 API, which this one does not.
 */
const UNRECOGNIZED_BY_SPEC = new Set(["GET /_matrix/client/v1/auth_metadata"]);

function specOperations(): SpecOperation[] {
  const dir = resolve(specDataDir, "data/api/client-server");
  const out: SpecOperation[] = [];
  for (const file of readdirSync(dir).filter((f) => f.endsWith(".yaml"))) {
    const doc = YAML.parse(readFileSync(resolve(dir, file), "utf8")) as {
      servers?: Array<{ variables?: { basePath?: { default?: string } } }>;
      paths?: Record<string, Record<string, { deprecated?: boolean }>>;
    };
    const base = doc.servers?.[0]?.variables?.basePath?.default ?? "";
    for (const [path, item] of Object.entries(doc.paths ?? {})) {
      for (const [method, op] of Object.entries(item)) {
        if (op.deprecated) continue;
        // The spec's YAML has a stray space after /events.
        out.push({ method: method.toUpperCase(), template: (base + path).trim(), file });
      }
    }
  }
  return out;
}

/** A concrete path: each parameter gets a value of the right shape. */
function concrete(template: string): string {
  const samples: Record<string, string> = {
    userId: "@nobody:localhost",
    roomId: "!nowhere:localhost",
    roomIdOrAlias: "!nowhere:localhost",
    roomAlias: "#nowhere:localhost",
    eventId: "$none",
    serverName: "localhost",
  };
  return template.replace(/\{([^}]+)\}/g, (_m, name: string) => encodeURIComponent(samples[name] ?? "x"));
}

async function probe(server: RunningServer, op: SpecOperation): Promise<{ status: number; errcode?: string }> {
  const withBody = op.method === "POST" || op.method === "PUT";
  const res = await fetch(server.baseUrl + concrete(op.template), {
    method: op.method,
    redirect: "manual",
    ...(withBody ? { body: "{}", headers: { "Content-Type": "application/json" } } : {}),
  });
  const text = await res.text();
  let errcode: string | undefined;
  try {
    errcode = (JSON.parse(text) as { errcode?: string }).errcode;
  } catch {
    // not JSON (a redirect, media)
  }
  return { status: res.status, ...(errcode ? { errcode } : {}) };
}

describe("spec coverage: client-server operations", function () {
  this.timeout(60_000);
  let server: RunningServer;
  before(async () => {
    // URL previews are off by default (404 M_UNRECOGNIZED, Synapse's behaviour); on here so the route is probed.
    server = await startServer({ config: { url_preview: { enabled: true } } });
  });
  after(async () => {
    await server?.stop();
  });

  it("serves every non-deprecated operation outside the other open issues", async () => {
    const unserved: string[] = [];
    const servedButListed: string[] = [];
    for (const op of specOperations()) {
      const key = `${op.method} ${op.template}`;
      const answer = await probe(server, op);
      const fallback = (answer.status === 404 || answer.status === 405) && answer.errcode === "M_UNRECOGNIZED";
      if (UNRECOGNIZED_BY_SPEC.has(key)) continue;
      if (OTHER_ISSUES.has(key)) {
        if (!fallback) servedButListed.push(key);
      } else if (fallback) {
        unserved.push(`${key} (${op.file})`);
      }
    }
    expect(unserved, "unserved operations").to.deep.equal([]);
    expect(servedButListed, "served now: remove from OTHER_ISSUES").to.deep.equal([]);
  });
});
