// GET /_matrix/client/v3/voip/turnServer  https://spec.matrix.org/v1.19/client-server-api/#get_matrixclientv3voipturnserver
//
// With a shared secret, credentials follow the TURN REST API that coturn
// checks with `use-auth-secret`: the username is "<expiry unix seconds>:<user
// id>" and the password Base64(HMAC-SHA1(secret, username)), so coturn needs
// no call back to us. Without TURN configured the spec's answer is an empty
// object (Synapse does the same).
import { createHmac } from "node:crypto";
import type { RequestHandler } from "express";
import { requester } from "../auth/authenticate.ts";
import type { HomeserverConfig } from "../config/schema.ts";
import type { RouteTable } from "../http/route-table.ts";

export function turnCredentials(voip: HomeserverConfig["voip"], userId: string, now: number): Record<string, unknown> {
  const ttl = Math.floor(voip.turn_user_lifetime_ms / 1000);
  if (voip.turn_shared_secret !== undefined) {
    const username = `${Math.floor(now / 1000) + ttl}:${userId}`;
    const password = createHmac("sha1", voip.turn_shared_secret).update(username).digest("base64");
    return { username, password, uris: voip.turn_uris, ttl };
  }
  if (voip.turn_username !== undefined && voip.turn_password !== undefined) {
    return { username: voip.turn_username, password: voip.turn_password, uris: voip.turn_uris, ttl };
  }
  return {};
}

export function registerVoip(table: RouteTable, deps: { voip: HomeserverConfig["voip"]; auth: RequestHandler }): void {
  for (const prefix of ["/_matrix/client/v3", "/_matrix/client/r0"]) {
    table.add("GET", `${prefix}/voip/turnServer`, deps.auth, (_req, res) => {
      const me = requester(res.locals);
      const configured = deps.voip.turn_uris.length > 0;
      if (!configured || (me.isGuest && !deps.voip.turn_allow_guests)) {
        res.json({});
        return;
      }
      res.json(turnCredentials(deps.voip, me.userId, Date.now()));
    });
  }
}
