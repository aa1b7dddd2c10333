// GET /_matrix/client/unstable/org.myelin.stream (WebSocket upgrade).
// Authenticates with the Authorization header, or with a first `auth` frame
// for browsers (which cannot set headers on a WebSocket; the spec removed
// query-string tokens, MSC4127). Keeps the registry used for per-user limits,
// logout (close that device's sockets in every process) and draining.
import { randomUUID } from "node:crypto";
import type { IncomingMessage, Server } from "node:http";
import type { Duplex } from "node:stream";
import { WebSocketServer, type WebSocket } from "ws";
import { bearerToken, resolveAccessToken, type Requester } from "../../auth/authenticate.ts";
import { MatrixError } from "../../errors/matrix-error.ts";
import type { Logger } from "../../observability/logger.ts";
import type { RoomServices } from "../../services.ts";
import type { Database } from "../../storage/database.ts";
import type { Notifier } from "../notifier.ts";
import { errorBody, StreamConnection } from "./connection.ts";
import { CloseCode, DEFAULT_STREAM_LIMITS, PROTOCOL_VERSION, STREAM_PATH, STREAM_SUBPROTOCOL, type StreamLimits } from "./protocol.ts";
import { createStreamRequests } from "./requests.ts";

export interface StreamServerDeps {
  db: Database;
  services: RoomServices;
  notifier: Notifier;
  log: Logger;
  limits?: Partial<StreamLimits>;
}

export interface StreamServer {
  /** Handles upgrade requests of an HTTP server (call once per listener). */
  attach(server: Server): void;
  /** Tells every client to reconnect elsewhere, then closes the sockets. */
  drain(retryAfterMs: number): Promise<void>;
  connectionCount(): number;
}

function rejectUpgrade(socket: Duplex, status: number, error: MatrixError): void {
  const body = JSON.stringify(error.toJSON());
  socket.end(
    `HTTP/1.1 ${status} ${status === 401 ? "Unauthorized" : status === 400 ? "Bad Request" : "Error"}\r\n` +
      "Content-Type: application/json\r\nConnection: close\r\n" +
      `Content-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`,
  );
}

export function createStreamServer(deps: StreamServerDeps): StreamServer {
  const limits: StreamLimits = { ...DEFAULT_STREAM_LIMITS, ...deps.limits };
  const requests = createStreamRequests(deps.services, deps.db);
  const byUser = new Map<string, Set<StreamConnection>>();
  let total = 0;
  let draining = false;
  const wss = new WebSocketServer({
    noServer: true,
    maxPayload: limits.maxFrameBytes,
    handleProtocols: (protocols) => (protocols.has(STREAM_SUBPROTOCOL) ? STREAM_SUBPROTOCOL : false),
  });

  deps.notifier.onRevoke((userId, deviceIds) => {
    for (const connection of byUser.get(userId) ?? []) {
      if (deviceIds.includes(connection.me.deviceId)) connection.close(CloseCode.sessionRevoked, "logged out");
    }
  });

  function register(connection: StreamConnection): boolean {
    const set = byUser.get(connection.me.userId) ?? new Set<StreamConnection>();
    if (set.size >= limits.maxConnectionsPerUser || total >= limits.maxConnections) return false;
    set.add(connection);
    byUser.set(connection.me.userId, set);
    total += 1;
    connection.ws.once("close", () => {
      set.delete(connection);
      if (set.size === 0) byUser.delete(connection.me.userId);
      total -= 1;
    });
    return true;
  }

  function start(ws: WebSocket, me: Requester, log: Logger): StreamConnection | undefined {
    const connection = new StreamConnection(ws, me, { db: deps.db, engine: deps.services.syncEngine, requests, limits, log });
    if (!register(connection)) {
      connection.close(CloseCode.tooManyConnections, "connection limit reached");
      return undefined;
    }
    connection.send({
      type: "hello",
      version: PROTOCOL_VERSION,
      user_id: me.userId,
      device_id: me.deviceId,
      heartbeat_interval_ms: limits.heartbeatIntervalMs,
      max_frame_bytes: limits.maxFrameBytes,
    });
    log.info({ userId: me.userId, deviceId: me.deviceId }, "stream connected");
    return connection;
  }

  function accept(ws: WebSocket, headerUser: Requester | undefined, log: Logger): void {
    // Protocol violations (oversized frame, bad UTF-8) surface as 'error' and
    // the library closes the socket with the right code; unhandled, the event
    // would crash the process, so one client could stop the server.
    ws.on("error", (err) => log.debug({ err }, "stream socket error"));
    let connection = headerUser ? start(ws, headerUser, log) : undefined;
    let authenticating = false;
    const authDeadline = headerUser
      ? undefined
      : setTimeout(() => {
          if (!connection) ws.close(CloseCode.authFailed, "no auth frame in time");
        }, limits.authTimeoutMs);
    ws.on("close", () => clearTimeout(authDeadline));
    ws.on("message", (data, isBinary) => {
      let frame: Record<string, unknown>;
      try {
        if (isBinary) throw new Error("binary frame");
        const parsed: unknown = JSON.parse(data.toString());
        if (typeof parsed !== "object" || parsed === null || Array.isArray(parsed)) throw new Error("not an object");
        frame = parsed as Record<string, unknown>;
      } catch {
        ws.close(CloseCode.protocolError, "frames must be JSON objects in text frames");
        return;
      }
      if (connection) {
        void connection.onFrame(frame).catch((err: unknown) => log.error({ err }, "stream frame failed"));
        return;
      }
      if (authenticating) return;
      if (frame.type !== "auth" || typeof frame.access_token !== "string") {
        ws.close(CloseCode.authFailed, "the first frame must be an auth frame");
        return;
      }
      authenticating = true;
      resolveAccessToken(deps.db, frame.access_token, Date.now()).then(
        (me) => {
          clearTimeout(authDeadline);
          if (ws.readyState === ws.OPEN) connection = start(ws, me, log.child({ userId: me.userId }));
        },
        (err: unknown) => {
          const body = errorBody(err);
          ws.close(CloseCode.authFailed, body.errcode);
        },
      );
    });
  }

  async function onUpgrade(req: IncomingMessage, socket: Duplex, head: Buffer): Promise<void> {
    const url = new URL(req.url ?? "/", "http://localhost");
    if (url.pathname !== STREAM_PATH) {
      rejectUpgrade(socket, 404, new MatrixError(404, "M_UNRECOGNIZED", "Unrecognized request"));
      return;
    }
    const log = deps.log.child({ reqId: randomUUID(), route: STREAM_PATH });
    if (draining) {
      rejectUpgrade(socket, 503, new MatrixError(503, "M_UNKNOWN", "Server is restarting"));
      return;
    }
    const offered = (req.headers["sec-websocket-protocol"] ?? "").split(",").map((p) => p.trim());
    if (!offered.includes(STREAM_SUBPROTOCOL)) {
      rejectUpgrade(socket, 400, new MatrixError(400, "M_UNRECOGNIZED", `The ${STREAM_SUBPROTOCOL} sub-protocol is required`));
      return;
    }
    let headerUser: Requester | undefined;
    const token = bearerToken(req.headers.authorization);
    if (token) {
      try {
        headerUser = await resolveAccessToken(deps.db, token, Date.now());
      } catch (err) {
        rejectUpgrade(socket, 401, err instanceof MatrixError ? err : new MatrixError(401, "M_UNKNOWN_TOKEN", "Unrecognised access token"));
        return;
      }
    }
    wss.handleUpgrade(req, socket, head, (ws) => accept(ws, headerUser, headerUser ? log.child({ userId: headerUser.userId }) : log));
  }

  return {
    attach(server) {
      server.on("upgrade", (req: IncomingMessage, socket: Duplex, head: Buffer) => {
        socket.on("error", () => undefined);
        onUpgrade(req, socket, head).catch((err: unknown) => {
          deps.log.error({ err }, "stream upgrade failed");
          rejectUpgrade(socket, 500, new MatrixError(500, "M_UNKNOWN", "Internal server error"));
        });
      });
    },
    async drain(retryAfterMs) {
      draining = true;
      for (const set of byUser.values()) for (const connection of set) connection.shutdown(retryAfterMs);
      // Give close frames a moment to flush, then drop whatever is left.
      await new Promise((resolve) => setTimeout(resolve, 200));
      for (const ws of wss.clients) ws.terminate();
      wss.close();
    },
    connectionCount: () => total,
  };
}
