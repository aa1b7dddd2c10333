// Validates response bodies against the spec's OpenAPI definitions in
// ../shared/matrix-spec/data/api (read at test time). Every integration test
// that receives a JSON body passes it through `expectSpecResponse`.
import { readdirSync, readFileSync } from "node:fs";
import { dirname, resolve } from "node:path";
import { Ajv2020 } from "ajv/dist/2020.js";
import type { ValidateFunction } from "ajv";
import addFormats from "ajv-formats";
import YAML from "yaml";
import { specDataDir } from "./spec-data.ts";

type Node = Record<string, unknown>;

const fileCache = new Map<string, unknown>();
function load(file: string): unknown {
  if (!fileCache.has(file)) fileCache.set(file, YAML.parse(readFileSync(file, "utf8")));
  return fileCache.get(file);
}

/** Inlines every $ref (relative file paths with optional JSON pointer); sibling keys override. */
function deref(node: unknown, file: string): unknown {
  if (Array.isArray(node)) return node.map((n) => deref(n, file));
  if (node === null || typeof node !== "object") return node;
  const obj = node as Node;
  let out: Node = {};
  if (typeof obj.$ref === "string") {
    const [path = "", pointer = ""] = obj.$ref.split("#");
    const target = path ? resolve(dirname(file), path) : file;
    let value = load(target) as Node | undefined;
    for (const part of pointer.split("/").filter(Boolean)) {
      value = (value as Node)[part.replace(/~1/g, "/").replace(/~0/g, "~")] as Node;
    }
    const resolved = deref(value, target);
    if (resolved === null || typeof resolved !== "object" || Array.isArray(resolved)) return resolved;
    out = { ...(resolved as Node) };
  }
  for (const [k, v] of Object.entries(obj)) if (k !== "$ref") out[k] = deref(v, file);
  return out;
}

interface Operation {
  template: string;
  regex: RegExp;
  method: string;
  responses: Record<string, Node>;
}

let operations: Operation[] | undefined;

function loadOperations(): Operation[] {
  if (operations) return operations;
  operations = [];
  for (const api of ["client-server", "server-server"]) {
    const dir = resolve(specDataDir, "data/api", api);
    for (const name of readdirSync(dir).filter((f) => f.endsWith(".yaml"))) {
      const file = resolve(dir, name);
      const doc = deref(load(file), file) as Node;
      const servers = (doc.servers as Node[] | undefined) ?? [];
      const basePath = (((servers[0]?.variables as Node | undefined)?.basePath as Node | undefined)?.default as string | undefined) ?? "";
      for (const [path, item] of Object.entries((doc.paths as Node | undefined) ?? {})) {
        const template = basePath + path;
        const regex = new RegExp(`^${template.replace(/[.*+?^${}()|[\]\\]/g, (c) => (c === "{" || c === "}" ? c : `\\${c}`)).replace(/\{[^}]+\}/g, "[^/]*")}$`);
        for (const [method, op] of Object.entries(item as Node)) {
          const responses = (op as Node).responses as Record<string, Node> | undefined;
          if (responses) operations.push({ template, regex, method: method.toUpperCase(), responses });
        }
      }
    }
  }
  return operations;
}

const ajv = new Ajv2020({ strict: false, allErrors: true, validateFormats: true });
addFormats.default(ajv);
const prefixFormat = (prefix: string) => (value: string) => value.startsWith(prefix);
ajv.addFormat("mx-user-id", prefixFormat("@"));
ajv.addFormat("mx-room-id", prefixFormat("!"));
ajv.addFormat("mx-event-id", prefixFormat("$"));
ajv.addFormat("mx-room-alias", prefixFormat("#"));
ajv.addFormat("mx-mxc-uri", prefixFormat("mxc://"));
ajv.addFormat("mx-server-name", (v: string) => v.length > 0);
ajv.addFormat("mx-unpadded-base64", /^[A-Za-z0-9+/]*$/);
ajv.addFormat("mx-urlsafe-unpadded-base64", /^[A-Za-z0-9_-]*$/);
ajv.addFormat("int64", { type: "number", validate: (n: number) => Number.isInteger(n) });
ajv.addFormat("float", { type: "number", validate: () => true });

const compiled = new Map<Node, ValidateFunction>();

/**
 * Asserts that `body` matches the spec's schema for `method path` answering
 * `status`. `path` is the concrete request path (e.g. /_matrix/client/v3/login).
 * Throws when the spec defines no such response, so a typo cannot pass.
 */
export function expectSpecResponse(method: string, path: string, status: number, body: unknown): void {
  const bare = path.split("?")[0]!;
  const candidates = loadOperations().filter((op) => op.method === method.toUpperCase() && op.regex.test(bare));
  if (candidates.length === 0) {
    // Errors on paths or methods the spec does not define still use the standard error shape.
    if (status >= 400) return expectStandardError(method, bare, status, body);
    throw new Error(`no OpenAPI operation for ${method} ${bare}`);
  }
  // Prefer the most literal template (fewest parameters) when several match.
  candidates.sort((a, b) => (a.template.match(/\{/g)?.length ?? 0) - (b.template.match(/\{/g)?.length ?? 0));
  const op = candidates[0]!;
  const response = op.responses[String(status)];
  if (!response) {
    // POST /keys/device_signing/upload uses user-interactive auth but its OpenAPI lists no 401.
    if (status === 401 && typeof body === "object" && body !== null && "flows" in body) return expectUiaResponse(method, bare, body);
    if (status >= 400) return expectStandardError(method, bare, status, body);
    throw new Error(`spec defines no ${status} response for ${method} ${op.template}`);
  }
  const schema = ((response.content as Node | undefined)?.["application/json"] as Node | undefined)?.schema as Node | undefined;
  if (!schema) return; // The spec gives no body schema for this response.
  let validate = compiled.get(schema);
  if (!validate) {
    validate = ajv.compile(oneOfAsAnyOf(schema) as Node);
    compiled.set(schema, validate);
  }
  if (!validate(body)) {
    throw new Error(`${method} ${bare} ${status} does not match the spec schema: ${ajv.errorsText(validate.errors)}\n${JSON.stringify(body).slice(0, 2000)}`);
  }
}

/**
 * The spec uses oneOf where its alternatives overlap (e.g. GET .../state/{type}/{key}:
 * event content, an open object, or the full event, which is an object too),
 * so a correct body can match both. anyOf keeps the check meaningful.
 */
function oneOfAsAnyOf(node: unknown): unknown {
  if (Array.isArray(node)) return node.map(oneOfAsAnyOf);
  if (node === null || typeof node !== "object") return node;
  const out: Node = {};
  for (const [k, v] of Object.entries(node as Node)) out[k === "oneOf" ? "anyOf" : k] = oneOfAsAnyOf(v);
  return out;
}

let uiaResponse: ValidateFunction | undefined;

/** A user-interactive authentication answer (401 with flows, params, session). */
function expectUiaResponse(method: string, path: string, body: unknown): void {
  if (!uiaResponse) {
    const file = resolve(specDataDir, "data/api/client-server/definitions/auth_response.yaml");
    uiaResponse = ajv.compile(deref(load(file), file) as Node);
  }
  if (!uiaResponse(body)) throw new Error(`${method} ${path} 401 is not a user-interactive auth response: ${ajv.errorsText(uiaResponse.errors)} ${JSON.stringify(body)}`);
}

let standardError: ValidateFunction | undefined;

/** Any error answer: the spec's standard error body (errcode + error). */
export function expectStandardError(method: string, path: string, status: number, body: unknown): void {
  if (!standardError) {
    const file = resolve(specDataDir, "data/api/client-server/definitions/errors/error.yaml");
    standardError = ajv.compile({ ...(deref(load(file), file) as Node), required: ["errcode", "error"] });
  }
  if (!standardError(body)) {
    throw new Error(`${method} ${path} ${status} is not a standard Matrix error: ${ajv.errorsText(standardError.errors)} ${JSON.stringify(body)}`);
  }
}
