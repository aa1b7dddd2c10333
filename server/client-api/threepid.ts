// POST /_matrix/client/v3/register/email/requestToken          https://spec.matrix.org/v1.19/client-server-api/#post_matrixclientv3registeremailrequesttoken
// POST /_matrix/client/v3/account/password/email/requestToken  https://spec.matrix.org/v1.19/client-server-api/#post_matrixclientv3accountpasswordemailrequesttoken
// POST /_matrix/client/v3/account/3pid/email/requestToken      https://spec.matrix.org/v1.19/client-server-api/#post_matrixclientv3account3pidemailrequesttoken
// GET  /_matrix/client/v3/account/3pid                         https://spec.matrix.org/v1.19/client-server-api/#get_matrixclientv3account3pid
// POST /_matrix/client/v3/account/3pid/add                     https://spec.matrix.org/v1.19/client-server-api/#post_matrixclientv3account3pidadd
// POST /_matrix/client/v3/account/3pid/delete                  https://spec.matrix.org/v1.19/client-server-api/#post_matrixclientv3account3piddelete
// POST /_matrix/client/v3/account/3pid/bind                    https://spec.matrix.org/v1.19/client-server-api/#post_matrixclientv3account3pidbind
// POST /_matrix/client/v3/account/3pid/unbind                  https://spec.matrix.org/v1.19/client-server-api/#post_matrixclientv3account3pidunbind
// GET  /_synapse/client/email/submit_token   the link in the validation mail (an HTML page)
// POST /_synapse/client/email/submit_token   the same as JSON ({sid, client_secret, token} → {success})
//
// The homeserver validates addresses itself (no identity server): the
// requestToken answers carry no submit_url, the user follows the mailed link.
// Binding goes to an identity server only when it is one of
// `identity_servers` (federation/transport/identity-client.ts); with none
// configured it is refused (M_THREEPID_DENIED). Unbinding asks the servers a
// binding was recorded with, and answers `no-support` when none confirms.
import type { Request, RequestHandler, Response } from "express";
import { requester } from "../auth/authenticate.ts";
import { canonicalEmail, EMAIL, type EmailValidation } from "../auth/email-validation.ts";
import type { EmailPurpose } from "../config/schema.ts";
import { badJson, forbidden, MatrixError } from "../errors/matrix-error.ts";
import { requireJsonObject } from "../http/middleware.ts";
import type { RouteTable } from "../http/route-table.ts";
import type { Database } from "../storage/database.ts";
import {
  deleteThreepid,
  forgetIdServerBinding,
  idServerBindingsOf,
  idServersOf,
  insertThreepid,
  recordIdServerBinding,
  threepidOwner,
  threepidsOfUser,
} from "../storage/threepids.ts";
import { reauthenticate, type ReauthDeps } from "./password.ts";
import { opaqueIdField, optionalString, requiredString, sendAttemptField } from "./params.ts";
import { queryString } from "./rooms/params.ts";

export interface ThreepidDeps extends ReauthDeps {
  db: Database;
  auth: RequestHandler;
  /** Absent when no mail server is configured. */
  validation?: EmailValidation;
  registrationEnabled: boolean;
  /** The trusted identity servers (federation/transport/identity-client.ts). */
  identity?: IdentityServers;
}

/** What the endpoints need of the identity-server client. */
export interface IdentityServers {
  readonly none: boolean;
  trusts(idServer: string): boolean;
  bind(idServer: string, request: { idAccessToken: string; sid: string; clientSecret: string; mxid: string }): Promise<{ outcome: "bound"; medium: string; address: string } | { outcome: "refused" | "unreachable" }>;
  unbind(idServer: string, request: { mxid: string; medium: string; address: string }): Promise<boolean>;
}

function nextLinkField(params: Record<string, unknown>): string | undefined {
  const link = optionalString(params, "next_link");
  if (link === undefined) return undefined;
  let url: URL;
  try {
    url = new URL(link);
  } catch {
    throw new MatrixError(400, "M_INVALID_PARAM", "next_link must be a URL");
  }
  // Anything else (javascript:, data:) would run in our page's origin.
  if (url.protocol !== "https:" && url.protocol !== "http:") throw new MatrixError(400, "M_INVALID_PARAM", "next_link must be http or https");
  return link;
}

const mediumNotSupported = () => new MatrixError(400, "M_THREEPID_MEDIUM_NOT_SUPPORTED", "This server cannot send email");

function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

function page(res: Response, status: number, title: string, message: string): void {
  res
    .status(status)
    .type("html")
    .set("Content-Security-Policy", "default-src 'none'")
    .send(`<!doctype html><html><head><meta charset="utf-8"><title>${escapeHtml(title)}</title></head><body><h1>${escapeHtml(title)}</h1><p>${escapeHtml(message)}</p></body></html>`);
}

/**
 * Asks the identity servers holding a binding of this identifier (or the one
 * named) to forget it: "success" when all that were asked confirmed,
 * "no-support" when there was none to ask or one did not.
 */
export async function unbindThreepid(
  db: Database,
  identity: IdentityServers | undefined,
  b: { userId: string; medium: string; address: string; idServer?: string | undefined },
): Promise<"success" | "no-support"> {
  const servers = b.idServer !== undefined ? [b.idServer] : await idServersOf(db, b.userId, b.medium, b.address);
  if (servers.length === 0) return "no-support";
  let all = true;
  for (const server of servers) {
    const done = identity?.trusts(server) ? await identity.unbind(server, { mxid: b.userId, medium: b.medium, address: b.address }) : false;
    if (done) await forgetIdServerBinding(db, { userId: b.userId, medium: b.medium, address: b.address, idServer: server });
    else all = false;
  }
  return all ? "success" : "no-support";
}

/** Unbinds every identifier a user bound to identity servers (deactivation): "success" unless one could not be. */
export async function unbindAllThreepids(db: Database, identity: IdentityServers | undefined, userId: string, idServer: string | undefined): Promise<"success" | "no-support"> {
  let all: "success" | "no-support" = "success";
  for (const binding of await idServerBindingsOf(db, userId)) {
    if (idServer !== undefined && binding.idServer !== idServer) continue;
    if ((await unbindThreepid(db, identity, { userId, ...binding })) !== "success") all = "no-support";
  }
  return all;
}

export function registerThreepids(table: RouteTable, body: RequestHandler, deps: ThreepidDeps): void {
  const { db, auth, validation } = deps;

  /** The requestToken body, checked before anything is looked up. */
  const tokenRequest = (req: Request) => {
    const params = requireJsonObject(req);
    const clientSecret = opaqueIdField(params, "client_secret");
    const address = canonicalEmail(requiredString(params, "email"));
    const sendAttempt = sendAttemptField(params);
    const nextLink = nextLinkField(params);
    return { clientSecret, address, sendAttempt, ...(nextLink !== undefined ? { nextLink } : {}) };
  };

  const requestToken = (purpose: EmailPurpose, check: (address: string) => Promise<void>): RequestHandler => async (req, res) => {
    const request = tokenRequest(req);
    if (!validation) throw mediumNotSupported();
    await check(request.address);
    const sid = await validation.requestToken({ purpose, ...request });
    res.json({ sid });
  };

  const unbindEverywhere = (userId: string, medium: string, address: string, idServer: string | undefined) => unbindThreepid(db, deps.identity, { userId, medium, address, idServer });
  const addressParam = (medium: string, address: string) => (medium === EMAIL ? canonicalEmail(address) : address);

  const inUse = async (address: string) => {
    if ((await threepidOwner(db, EMAIL, address)) !== undefined) throw new MatrixError(400, "M_THREEPID_IN_USE", "This email address is already in use");
  };

  for (const prefix of ["/_matrix/client/v3", "/_matrix/client/r0"]) {
    table.add(
      "POST",
      `${prefix}/register/email/requestToken`,
      body,
      requestToken("registration", async (address) => {
        if (!deps.registrationEnabled) throw forbidden("Registration has been disabled");
        await inUse(address);
      }),
    );
    table.add(
      "POST",
      `${prefix}/account/password/email/requestToken`,
      body,
      requestToken("password_reset", async (address) => {
        if ((await threepidOwner(db, EMAIL, address)) === undefined) throw new MatrixError(400, "M_THREEPID_NOT_FOUND", "Email not known to this server");
      }),
    );
    table.add("POST", `${prefix}/account/3pid/email/requestToken`, body, requestToken("add_threepid", inUse));

    table.add("GET", `${prefix}/account/3pid`, auth, async (_req, res) => {
      const me = requester(res.locals);
      const threepids = (await threepidsOfUser(db, me.userId)).map((t) => ({ medium: t.medium, address: t.address, validated_at: t.validatedTs, added_at: t.addedTs }));
      res.json({ threepids });
    });

    // Re-authentication (m.login.password) guards adding an address; the
    // validated session is checked first so nobody proves themselves for a
    // session that cannot succeed, and consumed only when the address is bound.
    table.add("POST", `${prefix}/account/3pid/add`, auth, body, async (req, res) => {
      const me = requester(res.locals);
      const params = requireJsonObject(req);
      const creds = { sessionId: opaqueIdField(params, "sid"), clientSecret: opaqueIdField(params, "client_secret") };
      if (!validation) throw new MatrixError(400, "M_THREEPID_AUTH_FAILED", "No validated email session found");
      const address = await validation.check(creds, "add_threepid");
      await reauthenticate(deps, me.userId, `POST /account/3pid/add ${creds.sessionId}`, params.auth);
      await db.transaction(async (tx) => {
        const owner = await threepidOwner(tx, EMAIL, address);
        if (owner !== undefined && owner !== me.userId) throw new MatrixError(400, "M_THREEPID_IN_USE", "This email address is already in use");
        const session = await validation.consume(creds, "add_threepid", tx);
        if (owner === undefined) await insertThreepid(tx, { userId: me.userId, medium: EMAIL, address, validatedTs: session.validatedTs, addedTs: Date.now() });
      });
      res.json({});
    });

    table.add("POST", `${prefix}/account/3pid/delete`, auth, body, async (req, res) => {
      const me = requester(res.locals);
      const params = requireJsonObject(req);
      const medium = requiredString(params, "medium");
      const address = addressParam(medium, requiredString(params, "address"));
      const idServer = optionalString(params, "id_server");
      await deleteThreepid(db, me.userId, medium, address);
      res.json({ id_server_unbind_result: await unbindEverywhere(me.userId, medium, address, idServer) });
    });

    // The sid and client_secret are the identity server's own session (the
    // client validated the address with it); we only forward them.
    table.add("POST", `${prefix}/account/3pid/bind`, auth, body, async (req, res) => {
      const me = requester(res.locals);
      const params = requireJsonObject(req);
      const clientSecret = opaqueIdField(params, "client_secret");
      const sid = opaqueIdField(params, "sid");
      const idServer = requiredString(params, "id_server");
      const idAccessToken = requiredString(params, "id_access_token");
      const identity = deps.identity;
      if (!identity || identity.none) throw new MatrixError(403, "M_THREEPID_DENIED", "This server binds identifiers to no identity server");
      if (!identity.trusts(idServer)) throw new MatrixError(400, "M_SERVER_NOT_TRUSTED", "This identity server is not trusted by this homeserver");
      const result = await identity.bind(idServer, { idAccessToken, sid, clientSecret, mxid: me.userId });
      if (result.outcome !== "bound") {
        if (result.outcome === "refused") throw new MatrixError(400, "M_THREEPID_AUTH_FAILED", "The identity server refused the binding");
        throw new MatrixError(502, "M_UNKNOWN", "The identity server could not be reached");
      }
      await recordIdServerBinding(db, { userId: me.userId, medium: result.medium, address: addressParam(result.medium, result.address), idServer });
      res.json({});
    });

    table.add("POST", `${prefix}/account/3pid/unbind`, auth, body, async (req, res) => {
      const me = requester(res.locals);
      const params = requireJsonObject(req);
      const medium = requiredString(params, "medium");
      const address = addressParam(medium, requiredString(params, "address"));
      res.json({ id_server_unbind_result: await unbindEverywhere(me.userId, medium, address, optionalString(params, "id_server")) });
    });
  }

  // The mailed link, on the client listener so no other host is needed.
  table.add("GET", "/_synapse/client/email/submit_token", async (req, res) => {
    const sessionId = queryString(req, "sid");
    const clientSecret = queryString(req, "client_secret");
    const token = queryString(req, "token");
    if (!validation || sessionId === undefined || clientSecret === undefined || token === undefined) {
      page(res, 400, "Invalid link", "This validation link is incomplete.");
      return;
    }
    try {
      const { nextLink } = await validation.submitToken({ sessionId, clientSecret, token });
      if (nextLink) {
        res.redirect(302, nextLink);
        return;
      }
      page(res, 200, "Email validated", "Your email address has been validated. You can return to your Matrix client.");
    } catch (err) {
      if (!(err instanceof MatrixError)) throw err;
      page(res, 400, "Invalid link", "This validation link is invalid, has been used already or has expired. Ask your Matrix client to send a new one.");
    }
  });
  table.add("POST", "/_synapse/client/email/submit_token", body, async (req, res) => {
    const params = requireJsonObject(req);
    const sessionId = requiredString(params, "sid");
    const clientSecret = requiredString(params, "client_secret");
    const token = requiredString(params, "token");
    if (!validation) throw badJson("Email validation is not configured");
    await validation.submitToken({ sessionId, clientSecret, token });
    res.json({ success: true });
  });
}
