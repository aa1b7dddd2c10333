// POST /_matrix/client/v3/register/msisdn/requestToken          https://spec.matrix.org/v1.19/client-server-api/#post_matrixclientv3registermsisdnrequesttoken
// POST /_matrix/client/v3/account/password/msisdn/requestToken  https://spec.matrix.org/v1.19/client-server-api/#post_matrixclientv3accountpasswordmsisdnrequesttoken
// POST /_matrix/client/v3/account/3pid/msisdn/requestToken      https://spec.matrix.org/v1.19/client-server-api/#post_matrixclientv3account3pidmsisdnrequesttoken
//
// There is no SMS provider: after checking the request, each answers the
// spec's 400 M_THREEPID_MEDIUM_NOT_SUPPORTED, so clients stop offering phone
// numbers (Synapse answers 400 too when no msisdn delegate is configured).
import type { RequestHandler } from "express";
import { MatrixError } from "../errors/matrix-error.ts";
import { requireJsonObject } from "../http/middleware.ts";
import type { RouteTable } from "../http/route-table.ts";
import { opaqueIdField, requiredString, sendAttemptField } from "./params.ts";

export function registerMsisdn(table: RouteTable, body: RequestHandler): void {
  for (const prefix of ["/_matrix/client/v3", "/_matrix/client/r0"]) {
    for (const path of ["register", "account/password", "account/3pid"]) {
      table.add("POST", `${prefix}/${path}/msisdn/requestToken`, body, (req) => {
        const params = requireJsonObject(req);
        opaqueIdField(params, "client_secret");
        requiredString(params, "country");
        requiredString(params, "phone_number");
        sendAttemptField(params);
        throw new MatrixError(400, "M_THREEPID_MEDIUM_NOT_SUPPORTED", "This server does not support phone numbers");
      });
    }
  }
}
