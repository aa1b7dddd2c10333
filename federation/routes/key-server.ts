// GET /_matrix/key/v2/server
// https://spec.matrix.org/v1.19/server-server-api/#get_matrixkeyv2server
// Publishes this server's signing key, self-signed, so remote servers can
// verify our events and requests.
import type { RouteTable } from "../../server/http/route-table.ts";
import { publicKeyBase64, signJson, type SigningKey } from "../../server/protocol/signing.ts";

/** How long remote servers may cache our key before asking again (Synapse uses a day too). */
const KEY_VALIDITY_MS = 24 * 3600 * 1000;

export function registerKeyServer(table: RouteTable, serverName: string, key: SigningKey): void {
  table.add("GET", "/_matrix/key/v2/server", (_req, res) => {
    const body = {
      server_name: serverName,
      valid_until_ts: Date.now() + KEY_VALIDITY_MS,
      verify_keys: { [key.keyId]: { key: publicKeyBase64(key) } },
      old_verify_keys: {},
    };
    res.json(signJson(body, serverName, key));
  });
}
