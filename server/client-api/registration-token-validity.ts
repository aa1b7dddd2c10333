// GET /_matrix/client/v1/register/m.login.registration_token/validity  https://spec.matrix.org/v1.19/client-server-api/#get_matrixclientv1registermloginregistration_tokenvalidity
import type { RequestHandler } from "express";
import { registrationTokenValid } from "../auth/registration-tokens.ts";
import { forbidden, missingParam } from "../errors/matrix-error.ts";
import type { RouteTable } from "../http/route-table.ts";
import type { Database } from "../storage/database.ts";

export interface RegistrationTokenValidityDeps {
  db: Database;
  registration: { enabled: boolean };
  /** The spec asks for a rate limit against guessing; the registration limiter serves. */
  rateLimit: RequestHandler;
}

export function registerRegistrationTokenValidity(table: RouteTable, deps: RegistrationTokenValidityDeps): void {
  table.add("GET", "/_matrix/client/v1/register/m.login.registration_token/validity", deps.rateLimit, async (req, res) => {
    if (!deps.registration.enabled) throw forbidden("Registration has been disabled");
    const token = req.query.token;
    if (typeof token !== "string") throw missingParam("Missing token");
    res.json({ valid: await registrationTokenValid(deps.db, token) });
  });
}
