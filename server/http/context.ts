// Per-request state kept on res.locals, typed once here.
import type { Logger } from "../observability/logger.ts";

declare global {
  // eslint-disable-next-line @typescript-eslint/no-namespace
  namespace Express {
    interface Locals {
      reqId: string;
      log: Logger;
      /** The matched route template, e.g. /_matrix/client/v3/rooms/:roomId/send/:eventType/:txnId */
      route?: string;
      userId?: string;
      /** The authenticated remote server of a federation request (federation/auth/require-server-auth.ts). */
      origin?: string;
    }
  }
}

export {};
