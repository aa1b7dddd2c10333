// Remote servers' signing keys, for checking request and PDU signatures.
// https://spec.matrix.org/v1.19/server-server-api/#retrieving-server-keys
//
// Lookup order: a bounded in-memory cache, then PostgreSQL, then the server
// itself (GET /_matrix/key/v2/server), then each configured notary
// (POST /_matrix/key/v2/query, its signature checked with the key from our
// config). Concurrent look-ups of one server share one fetch; after a fetch
// (successful or not) the same server is not fetched again for
// REFETCH_INTERVAL_MS, so a dead server, or a sender naming a key that does
// not exist, cannot make us hammer it.
import type { Logger } from "../../server/observability/logger.ts";
import { decodeBase64 } from "../../server/protocol/base64.ts";
import { isJsonObject, type JsonObject, type JsonValue } from "../../server/protocol/json.ts";
import { checkSelfSigned, effectiveValidUntil, keyAnswersAt, parseServerKeys, signedByNotary, type ServerKeys } from "../../server/protocol/server-keys.ts";
import type { SigningKey } from "../../server/protocol/signing.ts";
import type { Database } from "../../server/storage/database.ts";
import { getKeyResponses, getServerKeys, persistKeyResponse } from "../../server/storage/server-keys.ts";
import type { FederationClient } from "../transport/federation-client.ts";

export const REFETCH_INTERVAL_MS = 60_000;
const MEMORY_SERVERS = 1000;

export interface Notary {
  serverName: string;
  keys: Array<{ keyId: string; publicKey: Buffer }>;
}

export interface KeyringDeps {
  db: Database;
  client: Pick<FederationClient, "request">;
  serverName: string;
  signingKey: SigningKey;
  /** Our retired keys (config old_signing_keys). */
  oldKeys: Record<string, { key: string; expired_ts: number }>;
  notaries: Notary[];
  fetchTimeoutMs: number;
  log: Logger;
  now?: () => number;
}

interface CachedKey {
  publicKey: Buffer;
  validUntilTs: number | null;
  expiredTs: number | null;
}

export interface Keyring {
  /**
   * The public keys among `keyIds` that may verify a signature made at
   * `atTs` (an event's origin_server_ts, or now for a request). With
   * enforceValidity false (room versions 1–4) any key ever seen answers.
   * Keys that cannot be found are simply absent from the result.
   */
  verifyKeysFor(serverName: string, keyIds: readonly string[], atTs: number, options?: { enforceValidity?: boolean }): Promise<Map<string, Buffer>>;
  /**
   * For the notary endpoints: the newest stored key response of `serverName`,
   * fetched first when none is valid until `minimumValidUntilTs`; a stale one
   * is still returned when the server cannot be reached (as the spec asks).
   */
  keyResponsesFor(serverName: string, minimumValidUntilTs: number): Promise<JsonObject[]>;
}

export function createKeyring(deps: KeyringDeps): Keyring {
  const now = deps.now ?? Date.now;
  const memory = new Map<string, Map<string, CachedKey>>();
  const inFlight = new Map<string, Promise<void>>();
  const nextFetchAt = new Map<string, number>();

  function remember(serverName: string, keys: Map<string, CachedKey>): void {
    memory.delete(serverName);
    if (memory.size >= MEMORY_SERVERS) memory.delete(memory.keys().next().value!);
    memory.set(serverName, keys);
  }

  function ownKeys(): Map<string, CachedKey> {
    const keys = new Map<string, CachedKey>();
    keys.set(deps.signingKey.keyId, { publicKey: deps.signingKey.publicKey, validUntilTs: now() + 7 * 24 * 3600_000, expiredTs: null });
    for (const [keyId, old] of Object.entries(deps.oldKeys)) keys.set(keyId, { publicKey: decodeBase64(old.key), validUntilTs: null, expiredTs: old.expired_ts });
    return keys;
  }

  async function loadStored(serverName: string): Promise<Map<string, CachedKey>> {
    const keys = new Map<string, CachedKey>();
    for (const row of await getServerKeys(deps.db, serverName)) {
      keys.set(row.keyId, { publicKey: decodeBase64(row.publicKey), validUntilTs: row.validUntilTs, expiredTs: row.expiredTs });
    }
    remember(serverName, keys);
    return keys;
  }

  async function store(serverName: string, source: string, response: JsonObject, keys: ServerKeys, receivedTs: number): Promise<void> {
    const validUntil = effectiveValidUntil(keys.validUntilTs, receivedTs);
    await persistKeyResponse(deps.db, {
      serverName,
      source,
      fetchedTs: receivedTs,
      validUntilTs: keys.validUntilTs,
      json: JSON.stringify(response),
      keys: [
        ...keys.verifyKeys.map((k) => ({ keyId: k.keyId, publicKey: k.key, validUntilTs: validUntil, expiredTs: null })),
        ...keys.oldVerifyKeys.map((k) => ({ keyId: k.keyId, publicKey: k.key, validUntilTs: null, expiredTs: k.expiredTs })),
      ],
    });
  }

  const satisfied = (keys: ServerKeys, keyIds: readonly string[]) =>
    keyIds.every((id) => keys.verifyKeys.some((k) => k.keyId === id) || keys.oldVerifyKeys.some((k) => k.keyId === id));

  async function fetchDirect(serverName: string): Promise<ServerKeys> {
    const response = await deps.client.request(serverName, "GET", "/_matrix/key/v2/server", { signed: false, timeoutMs: deps.fetchTimeoutMs, maxResponseBytes: 1 << 20 });
    const receivedTs = now();
    const keys = parseServerKeys(response, serverName);
    checkSelfSigned(response as JsonObject, keys);
    await store(serverName, serverName, response as JsonObject, keys, receivedTs);
    return keys;
  }

  async function fetchThroughNotary(notary: Notary, serverName: string, keyIds: readonly string[], minimumValidUntilTs: number): Promise<ServerKeys[]> {
    const criteria: JsonObject = Object.fromEntries(keyIds.map((id) => [id, { minimum_valid_until_ts: minimumValidUntilTs }]));
    const answer = await deps.client.request(notary.serverName, "POST", "/_matrix/key/v2/query", {
      signed: false,
      body: { server_keys: { [serverName]: criteria } },
      timeoutMs: deps.fetchTimeoutMs,
      maxResponseBytes: 4 << 20,
    });
    const list: JsonValue = isJsonObject(answer) ? (answer.server_keys ?? []) : [];
    if (!Array.isArray(list)) throw new Error(`${notary.serverName} answered server_keys that is not an array`);
    const receivedTs = now();
    const found: ServerKeys[] = [];
    for (const entry of list) {
      if (!isJsonObject(entry) || entry.server_name !== serverName) continue;
      const keys = parseServerKeys(entry, serverName);
      checkSelfSigned(entry, keys);
      if (!signedByNotary(entry, notary.serverName, notary.keys)) throw new Error(`the answer about ${serverName} is not signed by ${notary.serverName}'s configured key`);
      await store(serverName, notary.serverName, entry, keys, receivedTs);
      found.push(keys);
    }
    return found;
  }

  async function fetchKeys(serverName: string, keyIds: readonly string[], minimumValidUntilTs: number): Promise<void> {
    const failures: string[] = [];
    try {
      const keys = await fetchDirect(serverName);
      if (satisfied(keys, keyIds) && effectiveValidUntil(keys.validUntilTs, now()) >= minimumValidUntilTs) return;
      failures.push(`${serverName} does not list ${keyIds.join(", ") || "keys"} valid until ${minimumValidUntilTs}`);
    } catch (err) {
      failures.push(`direct: ${(err as Error).message}`);
    }
    for (const notary of deps.notaries) {
      try {
        const found = await fetchThroughNotary(notary, serverName, keyIds, minimumValidUntilTs);
        if (found.some((keys) => satisfied(keys, keyIds))) return;
        failures.push(`${notary.serverName}: no matching keys`);
      } catch (err) {
        failures.push(`${notary.serverName}: ${(err as Error).message}`);
      }
    }
    deps.log.warn({ server: serverName, keyIds, failures }, "could not fetch server keys");
  }

  /** Fetches unless a fetch of this server ran recently; concurrent callers share one fetch. */
  function refresh(serverName: string, keyIds: readonly string[], minimumValidUntilTs: number): Promise<void> {
    const pending = inFlight.get(serverName);
    if (pending) return pending;
    if ((nextFetchAt.get(serverName) ?? 0) > now()) return Promise.resolve();
    nextFetchAt.delete(serverName);
    if (nextFetchAt.size >= MEMORY_SERVERS) nextFetchAt.delete(nextFetchAt.keys().next().value!);
    nextFetchAt.set(serverName, now() + REFETCH_INTERVAL_MS);
    const run = fetchKeys(serverName, keyIds, minimumValidUntilTs).finally(() => inFlight.delete(serverName));
    inFlight.set(serverName, run);
    return run;
  }

  function answering(keys: Map<string, CachedKey>, keyIds: readonly string[], atTs: number, enforce: boolean): Map<string, Buffer> {
    const out = new Map<string, Buffer>();
    for (const id of keyIds) {
      const key = keys.get(id);
      if (key && keyAnswersAt(key, atTs, enforce)) out.set(id, key.publicKey);
    }
    return out;
  }

  return {
    async verifyKeysFor(serverName, keyIds, atTs, options = {}) {
      const enforce = options.enforceValidity ?? true;
      if (serverName === deps.serverName) return answering(ownKeys(), keyIds, atTs, enforce);
      let found = answering(memory.get(serverName) ?? new Map(), keyIds, atTs, enforce);
      if (found.size === keyIds.length) return found;
      found = answering(await loadStored(serverName), keyIds, atTs, enforce);
      if (found.size === keyIds.length) return found;
      await refresh(serverName, keyIds, atTs);
      return answering(await loadStored(serverName), keyIds, atTs, enforce);
    },

    async keyResponsesFor(serverName, minimumValidUntilTs) {
      let stored = await getKeyResponses(deps.db, serverName);
      // "Intermediate notary servers should cache a response for half of its lifetime."
      const fresh = (r: (typeof stored)[number]) =>
        effectiveValidUntil(r.validUntilTs, r.fetchedTs) >= minimumValidUntilTs && now() <= r.fetchedTs + (r.validUntilTs - r.fetchedTs) / 2;
      if (!stored.some(fresh)) {
        await refresh(serverName, [], minimumValidUntilTs);
        stored = await getKeyResponses(deps.db, serverName);
      }
      return stored.slice(0, 1).map((r) => JSON.parse(r.json) as JsonObject);
    },
  };
}

/** The notaries of config trusted_key_servers, with their keys decoded. */
export function notariesFromConfig(entries: ReadonlyArray<{ server_name: string; verify_keys: Record<string, string> }>): Notary[] {
  return entries.map((entry) => ({
    serverName: entry.server_name,
    keys: Object.entries(entry.verify_keys).map(([keyId, key]) => ({ keyId, publicKey: decodeBase64(key) })),
  }));
}

