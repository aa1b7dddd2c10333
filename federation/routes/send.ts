// PUT /_matrix/federation/v1/send/{txnId}  https://spec.matrix.org/v1.19/server-server-api/#put_matrixfederationv1sendtxnid
import type { RequestHandler } from "express";
import { badJson, invalidParam } from "../../server/errors/matrix-error.ts";
import { requireJsonObject } from "../../server/http/middleware.ts";
import { originOf } from "../auth/require-server-auth.ts";
import type { RouteTable } from "../../server/http/route-table.ts";
import type { JsonObject } from "../../server/protocol/json.ts";
import type { TransactionReceiver } from "../ingest/receive-transaction.ts";

export interface SendRouteDeps {
  transactions: TransactionReceiver;
  auth: RequestHandler[];
}

export function registerSendTransaction(table: RouteTable, deps: SendRouteDeps): void {
  table.add("PUT", "/_matrix/federation/v1/send/:txnId", ...deps.auth, async (req, res) => {
    const txnId = String(req.params.txnId ?? "");
    if (txnId.length === 0 || txnId.length > 255) throw invalidParam("Invalid transaction ID");
    const body = requireJsonObject(req) as JsonObject;
    // The origin in the body must be the server that signed the request.
    if (body.origin !== undefined && body.origin !== originOf(res.locals)) throw badJson("origin does not match the signing server");
    res.json(await deps.transactions.receive(originOf(res.locals), txnId, body));
  });
}
