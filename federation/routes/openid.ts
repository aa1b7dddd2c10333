// GET /_matrix/federation/v1/openid/userinfo  https://spec.matrix.org/v1.19/server-server-api/#get_matrixfederationv1openiduserinfo
//
// A third party checking an OpenID token one of our users gave it
// (server/client-api/openid.ts). Not X-Matrix authenticated: the token is the
// credential. Unknown and expired tokens are 401 M_UNKNOWN_TOKEN.
import { hashToken } from "../../server/auth/tokens.ts";
import { MatrixError } from "../../server/errors/matrix-error.ts";
import type { RouteTable } from "../../server/http/route-table.ts";
import type { Database } from "../../server/storage/database.ts";
import { openIdTokenUser } from "../../server/storage/openid-tokens.ts";
import { queryString } from "./params.ts";

export function registerOpenIdUserInfo(table: RouteTable, deps: { db: Database }): void {
  table.add("GET", "/_matrix/federation/v1/openid/userinfo", async (req, res) => {
    const token = queryString(req, "access_token");
    const userId = token === undefined ? undefined : await openIdTokenUser(deps.db, hashToken(token), Date.now());
    if (!userId) throw new MatrixError(401, "M_UNKNOWN_TOKEN", "Access token unknown or expired");
    res.json({ sub: userId });
  });
}
