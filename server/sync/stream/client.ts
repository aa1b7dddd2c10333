// A small client for the org.myelin.stream protocol, used by the tests and
// the benchmark and usable by bots. It resumes from the last next_batch it
// handed to `onSync` after any drop, with exponential backoff and jitter, and
// gives up only when the server says the session is over (4001, 4002).
import { WebSocket } from "ws";
import { CloseCode, STREAM_PATH, STREAM_SUBPROTOCOL, type ErrorBody } from "./protocol.ts";

export interface StreamClientOptions {
  /** Base URL of the client API, e.g. http://127.0.0.1:8008 (several: tried in turn on reconnect). */
  baseUrls: string[];
  accessToken: string;
  /** Send the token in the first frame instead of the Authorization header (as a browser must). */
  authInFrame?: boolean;
  since?: string;
  filter?: unknown;
  /** Called for each sync frame; the token advances once it returns (so a crash inside replays the frame). */
  onSync: (frame: Record<string, unknown> & { next_batch: string }) => void | Promise<void>;
  onClose?: (code: number, reason: string) => void;
  /** Backoff base and cap, ms. */
  minBackoffMs?: number;
  maxBackoffMs?: number;
  reconnect?: boolean;
}

const FINAL_CODES = new Set<number>([CloseCode.authFailed, CloseCode.sessionRevoked]);

export class StreamClient {
  private readonly options: StreamClientOptions;
  private ws: WebSocket | undefined;
  private pending = new Map<string, { resolve: (v: unknown) => void; reject: (e: Error & { body?: ErrorBody }) => void }>();
  private nextId = 0;
  private attempt = 0;
  private urlIndex = 0;
  private stopped = false;
  private readyWaiters: Array<() => void> = [];
  /** The last next_batch fully processed by onSync: where a reconnect resumes. */
  token: string | undefined;
  lastClose: { code: number; reason: string } | undefined;

  constructor(options: StreamClientOptions) {
    this.options = options;
    this.token = options.since;
  }

  /** Opens the stream; resolves once the server has said hello. */
  connect(): Promise<void> {
    this.stopped = false;
    this.open();
    return new Promise((resolve) => this.readyWaiters.push(resolve));
  }

  private open(): void {
    const base = this.options.baseUrls[this.urlIndex % this.options.baseUrls.length]!;
    const url = base.replace(/^http/, "ws") + STREAM_PATH;
    const headers: Record<string, string> = this.options.authInFrame ? {} : { Authorization: `Bearer ${this.options.accessToken}` };
    const ws = new WebSocket(url, [STREAM_SUBPROTOCOL], { headers });
    this.ws = ws;
    let queue = Promise.resolve();
    ws.on("open", () => {
      if (this.options.authInFrame) ws.send(JSON.stringify({ type: "auth", access_token: this.options.accessToken }));
    });
    ws.on("message", (data) => {
      const frame = JSON.parse(data.toString()) as Record<string, unknown>;
      if (frame.type === "hello") {
        this.attempt = 0;
        ws.send(JSON.stringify({ type: "sync", ...(this.token ? { since: this.token } : {}), ...(this.options.filter ? { filter: this.options.filter } : {}) }));
        for (const resolve of this.readyWaiters.splice(0)) resolve();
      } else if (frame.type === "sync") {
        // Frames are processed strictly in order, each before the token moves past it.
        queue = queue.then(async () => {
          await this.options.onSync(frame as Record<string, unknown> & { next_batch: string });
          this.token = frame.next_batch as string;
        });
      } else if (frame.type === "response") {
        const waiter = this.pending.get(frame.id as string);
        this.pending.delete(frame.id as string);
        if (!waiter) return;
        if (frame.error) {
          const body = frame.error as ErrorBody;
          waiter.reject(Object.assign(new Error(`${body.errcode}: ${body.error}`), { body }));
        } else waiter.resolve(frame.result);
      }
    });
    ws.on("error", () => undefined);
    ws.on("close", (code, reasonBuffer) => {
      const reason = reasonBuffer.toString();
      this.lastClose = { code, reason };
      for (const waiter of this.pending.values()) waiter.reject(Object.assign(new Error(`stream closed (${code})`), {}));
      this.pending.clear();
      this.options.onClose?.(code, reason);
      void queue.then(() => this.scheduleReconnect(code));
    });
  }

  private scheduleReconnect(code: number): void {
    if (this.stopped || this.options.reconnect === false || FINAL_CODES.has(code)) return;
    this.attempt += 1;
    this.urlIndex += 1;
    const min = this.options.minBackoffMs ?? 250;
    const max = this.options.maxBackoffMs ?? 30_000;
    // Full jitter: spreads the reconnections of many clients after a restart.
    const delay = Math.random() * Math.min(max, min * 2 ** this.attempt);
    setTimeout(() => {
      if (!this.stopped) this.open();
    }, delay).unref();
  }

  /** A request over the stream; rejects with the Matrix error the server answered. */
  request(method: string, params: Record<string, unknown> = {}): Promise<unknown> {
    const id = `r${++this.nextId}`;
    return new Promise((resolve, reject) => {
      this.pending.set(id, { resolve, reject });
      this.ws?.send(JSON.stringify({ type: "request", id, method, params }));
    });
  }

  /** Drops the connection without stopping (as a network failure would). */
  drop(): void {
    this.ws?.terminate();
  }

  close(): void {
    this.stopped = true;
    this.ws?.close(CloseCode.normal);
  }
}
