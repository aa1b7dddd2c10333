// GET /_matrix/key/v2/server
// https://spec.matrix.org/v1.19/server-server-api/#get_matrixkeyv2server
// Publishes this server's signing key, self-signed, so remote servers can
// verify our events and requests, and the keys it used before (config
// old_signing_keys) so signatures made with them stay checkable.
import type { RouteTable } from "../../server/http/route-table.ts";
import type { JsonObject } from "../../server/protocol/json.ts";
import { publicKeyBase64, signJson, type SigningKey } from "../../server/protocol/signing.ts";

/** How long remote servers may cache our key before asking again (Synapse uses a day too). */
export const KEY_VALIDITY_MS = 24 * 3600 * 1000;

export interface OwnKeys {
  serverName: string;
  signingKey: SigningKey;
  oldKeys: Record<string, { key: string; expired_ts: number }>;
}

/** Our key response as GET /_matrix/key/v2/server answers it, signed. */
export function ownKeyResponse(keys: OwnKeys, now = Date.now()): JsonObject {
  const oldVerifyKeys: JsonObject = {};
  for (const [keyId, old] of Object.entries(keys.oldKeys)) {
    if (keyId !== keys.signingKey.keyId) oldVerifyKeys[keyId] = { key: old.key, expired_ts: old.expired_ts };
  }
  const body = {
    server_name: keys.serverName,
    valid_until_ts: now + KEY_VALIDITY_MS,
    verify_keys: { [keys.signingKey.keyId]: { key: publicKeyBase64(keys.signingKey) } },
    old_verify_keys: oldVerifyKeys,
  };
  return signJson(body, keys.serverName, keys.signingKey);
}

export function registerKeyServer(table: RouteTable, keys: OwnKeys): void {
  table.add("GET", "/_matrix/key/v2/server", (_req, res) => {
    res.json(ownKeyResponse(keys));
  });
}
