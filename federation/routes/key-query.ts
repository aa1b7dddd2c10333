// POST /_matrix/key/v2/query               https://spec.matrix.org/v1.19/server-server-api/#post_matrixkeyv2query
// GET  /_matrix/key/v2/query/{serverName}  https://spec.matrix.org/v1.19/server-server-api/#get_matrixkeyv2queryservername
//
// This server as a notary: other servers' keys, from our cache or fetched,
// each response also signed by us. Unauthenticated, as the spec has it, so it
// is rate-limited by client address and bounded in servers per request.
import type { RequestHandler } from "express";
import { badJson, invalidParam } from "../../server/errors/matrix-error.ts";
import { requireJsonObject } from "../../server/http/middleware.ts";
import type { RouteTable } from "../../server/http/route-table.ts";
import { isValidServerName } from "../../server/protocol/identifiers.ts";
import { isJsonObject, type JsonObject } from "../../server/protocol/json.ts";
import { signJson } from "../../server/protocol/signing.ts";
import type { Keyring } from "../keys/keyring.ts";
import { ownKeyResponse, type OwnKeys } from "./key-server.ts";

/** Servers one query may ask about (Synapse has no bound; an unbounded fan-out is an amplifier). */
export const MAX_SERVERS_PER_QUERY = 100;

export interface KeyQueryDeps {
  keys: OwnKeys;
  keyring: Pick<Keyring, "keyResponsesFor">;
  body: RequestHandler;
  rateLimit: RequestHandler;
  now?: () => number;
}

export function registerKeyQuery(table: RouteTable, deps: KeyQueryDeps): void {
  const now = deps.now ?? Date.now;
  const { serverName, signingKey } = deps.keys;

  async function responsesFor(server: string, minimumValidUntilTs: number): Promise<JsonObject[]> {
    if (server === serverName) return [ownKeyResponse(deps.keys, now())];
    const found = await deps.keyring.keyResponsesFor(server, minimumValidUntilTs);
    return found.map((r) => signJson(r, serverName, signingKey));
  }

  table.add("POST", "/_matrix/key/v2/query", deps.rateLimit, deps.body, async (req, res) => {
    const body = requireJsonObject(req);
    const query = body.server_keys;
    if (!isJsonObject(query)) throw badJson("server_keys must be an object");
    const servers = Object.entries(query);
    if (servers.length > MAX_SERVERS_PER_QUERY) throw invalidParam(`At most ${MAX_SERVERS_PER_QUERY} servers per query`);
    const results = await Promise.all(
      servers.map(async ([server, criteria]) => {
        if (!isValidServerName(server)) return [];
        // The latest minimum asked for any of the server's keys; now when none is given.
        const asked = (isJsonObject(criteria) ? Object.values(criteria) : []).map((c) => (isJsonObject(c) ? c.minimum_valid_until_ts : undefined));
        const given = asked.filter((ts): ts is number => typeof ts === "number" && Number.isSafeInteger(ts));
        return responsesFor(server, given.length > 0 ? Math.max(...given) : now());
      }),
    );
    res.json({ server_keys: results.flat() });
  });

  table.add("GET", "/_matrix/key/v2/query/:serverName", deps.rateLimit, async (req, res) => {
    const server = String(req.params.serverName);
    if (!isValidServerName(server)) throw invalidParam(`${server} is not a valid server name`);
    const raw = req.query.minimum_valid_until_ts;
    let minimum = now();
    if (raw !== undefined) {
      if (typeof raw !== "string" || !/^\d{1,16}$/.test(raw)) throw invalidParam("minimum_valid_until_ts must be an integer");
      minimum = Number(raw);
    }
    res.json({ server_keys: await responsesFor(server, minimum) });
  });
}
