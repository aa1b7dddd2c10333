// GET        /_matrix/client/v3/pushrules/                                  https://spec.matrix.org/v1.19/client-server-api/#get_matrixclientv3pushrules
// GET        /_matrix/client/v3/pushrules/global/                           https://spec.matrix.org/v1.19/client-server-api/#get_matrixclientv3pushrulesglobal
// GET/PUT/DELETE /_matrix/client/v3/pushrules/global/{kind}/{ruleId}        https://spec.matrix.org/v1.19/client-server-api/#put_matrixclientv3pushrulesglobalkindruleid
// GET/PUT    /_matrix/client/v3/pushrules/global/{kind}/{ruleId}/enabled    https://spec.matrix.org/v1.19/client-server-api/#put_matrixclientv3pushrulesglobalkindruleidenabled
// GET/PUT    /_matrix/client/v3/pushrules/global/{kind}/{ruleId}/actions    https://spec.matrix.org/v1.19/client-server-api/#put_matrixclientv3pushrulesglobalkindruleidactions
//
// A user's changes are kept as global account data of type m.push_rules
// (StoredPushRules: user rules plus changes to server-default rules) and
// written through the stream writer, so the next /sync carries the new
// m.push_rules event; the effective ruleset is rebuilt from the defaults on
// every read, so a server upgrade that changes the defaults reaches everyone.
import type { Request, RequestHandler } from "express";
import { requester } from "../auth/authenticate.ts";
import type { RouteTable } from "../http/route-table.ts";
import {
  buildPushRuleset,
  deletePushRule,
  getPushRule,
  parseActionsBody,
  parseEnabledBody,
  parsePushRuleKind,
  parseStoredPushRules,
  PUSH_RULES_ACCOUNT_DATA_TYPE,
  pushRulesResponse,
  putPushRule,
  setPushRuleActions,
  setPushRuleEnabled,
  type StoredPushRules,
} from "../push/rule-set.ts";
import { getAccountData, putAccountData } from "../storage/account-data.ts";
import type { Database, Queryable } from "../storage/database.ts";
import type { StreamWriter } from "../sync/stream-writer.ts";
import { queryString } from "./rooms/params.ts";

export interface PushRulesDeps {
  db: Database;
  streams: StreamWriter;
  auth: RequestHandler;
}

/** A user's stored push rule changes (none yet: the defaults alone). */
export async function storedPushRulesOf(q: Queryable, userId: string): Promise<StoredPushRules> {
  return parseStoredPushRules(await getAccountData(q, userId, "", PUSH_RULES_ACCOUNT_DATA_TYPE));
}

export function registerPushRules(table: RouteTable, body: RequestHandler, deps: PushRulesDeps): void {
  const { db, streams, auth } = deps;

  /**
   * Read-modify-write of one user's rules. The stream writer takes the stream
   * head row lock before `update` reads, so concurrent changes apply one after
   * the other; a MatrixError thrown by `update` rolls everything back.
   */
  async function change(userId: string, update: (stored: StoredPushRules) => StoredPushRules): Promise<void> {
    await streams.write({ userIds: [userId] }, async (tx, position) => {
      const next = update(await storedPushRulesOf(tx, userId));
      await putAccountData(tx, userId, "", PUSH_RULES_ACCOUNT_DATA_TYPE, next, position);
    });
  }

  const target = (req: Request) => ({ kind: parsePushRuleKind(String(req.params.kind)), ruleId: String(req.params.ruleId) });

  async function currentRule(req: Request, userId: string) {
    const { kind, ruleId } = target(req);
    return getPushRule(buildPushRuleset(userId, await storedPushRulesOf(db, userId)), kind, ruleId);
  }

  for (const prefix of ["/_matrix/client/v3", "/_matrix/client/r0"]) {
    const rules = `${prefix}/pushrules/global/:kind/:ruleId`;

    table.add("GET", `${prefix}/pushrules/`, auth, async (_req, res) => {
      const me = requester(res.locals);
      res.json(pushRulesResponse(me.userId, await storedPushRulesOf(db, me.userId)));
    });

    table.add("GET", `${prefix}/pushrules/global/`, auth, async (_req, res) => {
      const me = requester(res.locals);
      res.json(buildPushRuleset(me.userId, await storedPushRulesOf(db, me.userId)));
    });

    table.add("GET", rules, auth, async (req, res) => {
      res.json(await currentRule(req, requester(res.locals).userId));
    });

    table.add("PUT", rules, auth, body, async (req, res) => {
      const me = requester(res.locals);
      const { kind, ruleId } = target(req);
      const position = { before: queryString(req, "before"), after: queryString(req, "after") };
      await change(me.userId, (stored) => putPushRule(stored, kind, ruleId, req.body, position));
      res.json({});
    });

    table.add("DELETE", rules, auth, async (req, res) => {
      const me = requester(res.locals);
      const { kind, ruleId } = target(req);
      await change(me.userId, (stored) => deletePushRule(stored, kind, ruleId));
      res.json({});
    });

    table.add("GET", `${rules}/enabled`, auth, async (req, res) => {
      res.json({ enabled: (await currentRule(req, requester(res.locals).userId)).enabled });
    });

    table.add("PUT", `${rules}/enabled`, auth, body, async (req, res) => {
      const me = requester(res.locals);
      const { kind, ruleId } = target(req);
      const enabled = parseEnabledBody(req.body);
      await change(me.userId, (stored) => setPushRuleEnabled(stored, kind, ruleId, enabled));
      res.json({});
    });

    table.add("GET", `${rules}/actions`, auth, async (req, res) => {
      res.json({ actions: (await currentRule(req, requester(res.locals).userId)).actions });
    });

    table.add("PUT", `${rules}/actions`, auth, body, async (req, res) => {
      const me = requester(res.locals);
      const { kind, ruleId } = target(req);
      const actions = parseActionsBody(req.body);
      await change(me.userId, (stored) => setPushRuleActions(stored, kind, ruleId, actions));
      res.json({});
    });
  }
}
