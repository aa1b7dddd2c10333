// One authenticated stream connection: the sync loop that pushes deltas as
// they are committed, requests answered by id, heartbeats, backpressure and
// a per-socket request budget.
import type { WebSocket } from "ws";
import type { Requester } from "../../auth/authenticate.ts";
import { MatrixError } from "../../errors/matrix-error.ts";
import type { JsonObject, JsonValue } from "../../protocol/json.ts";
import type { Logger } from "../../observability/logger.ts";
import type { Database } from "../../storage/database.ts";
import { getFilter } from "../../storage/filters.ts";
import { sinceToken, type SyncEngine, type SyncRequest } from "../sync-engine.ts";
import { parseSyncFilter, type SyncFilter } from "../sync-filter.ts";
import { CloseCode, type ErrorBody, type ServerFrame, type StreamLimits } from "./protocol.ts";
import { unknownMethod } from "./requests.ts";

/** A sync loop waits this long per round; the loop simply goes round again. */
const SYNC_ROUND_MS = 25_000;

export interface ConnectionDeps {
  db: Database;
  engine: SyncEngine;
  requests: Record<string, (me: Requester, params: Record<string, unknown>) => Promise<unknown>>;
  limits: StreamLimits;
  log: Logger;
}

function isEmptySync(body: JsonObject): boolean {
  const rooms = body.rooms as Record<string, Record<string, unknown>>;
  const sections = Object.values(rooms).every((section) => Object.keys(section).length === 0);
  const list = (key: string) => ((body[key] as { events?: unknown[] } | undefined)?.events ?? []).length;
  const deviceLists = body.device_lists as { changed?: unknown[]; left?: unknown[] } | undefined;
  const listChanges = (deviceLists?.changed?.length ?? 0) + (deviceLists?.left?.length ?? 0);
  return sections && list("account_data") === 0 && list("presence") === 0 && list("to_device") === 0 && listChanges === 0;
}

export function errorBody(err: unknown): ErrorBody {
  if (err instanceof MatrixError) return { ...err.toJSON(), status: err.status } as ErrorBody;
  return { errcode: "M_UNKNOWN", error: "Internal server error", status: 500 };
}

export class StreamConnection {
  readonly ws: WebSocket;
  readonly me: Requester;
  private readonly deps: ConnectionDeps;
  private readonly abort = new AbortController();
  private syncing = false;
  private tokens: number;
  private lastRefill = Date.now();
  private alive = true;
  private readonly heartbeat: NodeJS.Timeout;

  constructor(ws: WebSocket, me: Requester, deps: ConnectionDeps) {
    this.ws = ws;
    this.me = me;
    this.deps = deps;
    this.tokens = deps.limits.requestBurst;
    ws.on("pong", () => {
      this.alive = true;
    });
    this.heartbeat = setInterval(() => {
      if (!this.alive) {
        this.close(CloseCode.idleTimeout, "no pong");
        this.ws.terminate();
        return;
      }
      this.alive = false;
      ws.ping();
    }, deps.limits.heartbeatIntervalMs);
    ws.on("close", () => {
      clearInterval(this.heartbeat);
      this.abort.abort();
    });
  }

  send(frame: ServerFrame): boolean {
    if (this.ws.readyState !== this.ws.OPEN) return false;
    // A client that does not read its socket would make us buffer without bound.
    if (this.ws.bufferedAmount > this.deps.limits.maxBufferedBytes) {
      this.close(CloseCode.slowConsumer, "too slow: reconnect and resume from your last next_batch");
      return false;
    }
    this.ws.send(JSON.stringify(frame));
    return true;
  }

  close(code: number, reason: string): void {
    if (this.ws.readyState === this.ws.OPEN || this.ws.readyState === this.ws.CONNECTING) this.ws.close(code, reason.slice(0, 120));
  }

  async onFrame(frame: Record<string, unknown>): Promise<void> {
    if (frame.type === "sync") return this.startSync(frame);
    if (frame.type === "request") return this.onRequest(frame);
    this.close(CloseCode.protocolError, `unexpected frame type ${String(frame.type)}`);
  }

  private takeToken(): boolean {
    const now = Date.now();
    const { requestsPerSecond, requestBurst } = this.deps.limits;
    this.tokens = Math.min(requestBurst, this.tokens + ((now - this.lastRefill) / 1000) * requestsPerSecond);
    this.lastRefill = now;
    if (this.tokens < 1) return false;
    this.tokens -= 1;
    return true;
  }

  private async onRequest(frame: Record<string, unknown>): Promise<void> {
    const id = frame.id;
    if (typeof id !== "string" || id.length === 0 || id.length > 64) {
      this.close(CloseCode.protocolError, "request id must be a string of 1-64 characters");
      return;
    }
    if (!this.takeToken()) {
      // Past twice the burst in debt the client is flooding: cut it off.
      this.tokens -= 1;
      if (this.tokens < -this.deps.limits.requestBurst) {
        this.close(CloseCode.rateLimited, "too many requests");
        return;
      }
      const retryAfter = Math.ceil(((1 - this.tokens) / this.deps.limits.requestsPerSecond) * 1000);
      this.send({ type: "response", id, error: { errcode: "M_LIMIT_EXCEEDED", error: "Too many requests", retry_after_ms: retryAfter, status: 429 } });
      return;
    }
    const method = typeof frame.method === "string" ? frame.method : "";
    const params = frame.params ?? {};
    try {
      if (typeof params !== "object" || params === null || Array.isArray(params)) throw new MatrixError(400, "M_BAD_JSON", "params must be an object");
      const handler = Object.hasOwn(this.deps.requests, method) ? this.deps.requests[method] : undefined;
      if (!handler) throw unknownMethod(method);
      const result = await handler(this.me, params as Record<string, unknown>);
      this.send({ type: "response", id, result });
    } catch (err) {
      if (!(err instanceof MatrixError)) this.deps.log.error({ err, method }, "stream request failed");
      this.send({ type: "response", id, error: errorBody(err) });
    }
  }

  private async resolveFilter(raw: unknown): Promise<SyncFilter> {
    if (raw === undefined || raw === null) return parseSyncFilter(undefined);
    if (typeof raw === "string") {
      const stored = await getFilter(this.deps.db, this.me.userId, raw);
      if (stored === undefined) throw new MatrixError(404, "M_NOT_FOUND", "No such filter");
      return parseSyncFilter(stored as JsonValue);
    }
    return parseSyncFilter(raw as JsonValue);
  }

  private async startSync(frame: Record<string, unknown>): Promise<void> {
    if (this.syncing) {
      this.close(CloseCode.protocolError, "sync already started on this connection");
      return;
    }
    this.syncing = true;
    let since: Pick<SyncRequest, "since" | "toDeviceSince"> = {};
    let filter: SyncFilter;
    try {
      if (frame.since !== undefined && frame.since !== null) {
        if (typeof frame.since !== "string") throw new MatrixError(400, "M_INVALID_PARAM", "since must be a string");
        since = sinceToken(frame.since);
      }
      filter = await this.resolveFilter(frame.filter);
    } catch (err) {
      this.send({ type: "response", id: "sync", error: errorBody(err) });
      this.close(CloseCode.protocolError, "bad sync frame");
      return;
    }
    let fullState = frame.full_state === true;
    let first = true;
    while (this.ws.readyState === this.ws.OPEN && !this.abort.signal.aborted) {
      let body: JsonObject;
      try {
        body = await this.deps.engine.sync({
          viewer: { userId: this.me.userId, deviceId: this.me.deviceId },
          ...since,
          fullState,
          // The first answer comes at once, like a sync with timeout=0.
          timeoutMs: first ? 0 : SYNC_ROUND_MS,
          filter,
          signal: this.abort.signal,
        });
      } catch (err) {
        this.deps.log.error({ err }, "stream sync failed");
        this.close(CloseCode.serviceRestart, "sync failed; reconnect and resume");
        return;
      }
      if (this.abort.signal.aborted) return;
      const next = body.next_batch as string;
      if (first || !isEmptySync(body)) {
        if (!this.send({ ...body, type: "sync", next_batch: next })) return;
      }
      first = false;
      fullState = false;
      since = sinceToken(next);
    }
  }

  shutdown(retryAfterMs: number): void {
    this.send({ type: "reconnect", reason: "server shutting down", retry_after_ms: retryAfterMs });
    this.close(CloseCode.serviceRestart, "server restarting; reconnect and resume");
  }
}
