// The org.myelin.stream wire protocol, version 1: JSON text frames over a
// WebSocket with sub-protocol "m.json". The contract is written out in
// documentation-living/11005-websocket-plan.md; these constants are its source.

export const STREAM_PATH = "/_matrix/client/unstable/org.myelin.stream";
export const STREAM_SUBPROTOCOL = "m.json";
export const PROTOCOL_VERSION = 1;

export const CloseCode = {
  normal: 1000,
  /** Sent by the ws library itself when a frame exceeds maxPayload. */
  frameTooLarge: 1009,
  /** The server is restarting or draining: reconnect (to any process) and resume from your token. */
  serviceRestart: 1012,
  protocolError: 4000,
  authFailed: 4001,
  sessionRevoked: 4002,
  /** The client did not read fast enough; reconnect and resume from the last next_batch processed. */
  slowConsumer: 4003,
  rateLimited: 4004,
  tooManyConnections: 4005,
  idleTimeout: 4008,
} as const;

export type ClientFrame =
  | { type: "auth"; access_token: string }
  | { type: "sync"; since?: string; filter?: unknown; full_state?: boolean }
  | { type: "request"; id: string; method: string; params?: Record<string, unknown> };

export interface ErrorBody {
  errcode: string;
  error: string;
  status: number;
  [key: string]: unknown;
}

export type ServerFrame =
  | { type: "hello"; version: number; user_id: string; device_id: string; heartbeat_interval_ms: number; max_frame_bytes: number }
  | ({ type: "sync"; next_batch: string } & Record<string, unknown>)
  | { type: "response"; id: string; result: unknown }
  | { type: "response"; id: string; error: ErrorBody }
  | { type: "reconnect"; reason: string; retry_after_ms: number };

export interface StreamLimits {
  /** Largest frame accepted from a client, bytes. */
  maxFrameBytes: number;
  /** Time allowed for the auth frame when no Authorization header was sent. */
  authTimeoutMs: number;
  /** Interval of server pings; a connection that misses one pong is closed. */
  heartbeatIntervalMs: number;
  /** Bytes queued to one client before it is closed as a slow consumer. */
  maxBufferedBytes: number;
  maxConnectionsPerUser: number;
  maxConnections: number;
  /** Requests per second per socket (token bucket) and burst size. */
  requestsPerSecond: number;
  requestBurst: number;
}

export const DEFAULT_STREAM_LIMITS: StreamLimits = {
  maxFrameBytes: 65_536,
  authTimeoutMs: 5_000,
  heartbeatIntervalMs: 30_000,
  maxBufferedBytes: 4 * 1024 * 1024,
  maxConnectionsPerUser: 20,
  maxConnections: 50_000,
  requestsPerSecond: 10,
  requestBurst: 30,
};
