// What the matrix-js-sdk scenarios share: quiet SDK loggers that keep
// warnings and errors for failure messages, a fetch wrapper that checks
// every answer against the spec's OpenAPI schema and records every error
// answer the scenario did not ask for, and Rust-crypto clients (creation,
// first sync, what they decrypted).
import { ClientEvent, createClient, PendingEventOrdering, SyncState, type ICreateClientOpts, type MatrixClient } from "matrix-js-sdk";
import { logger as sdkGlobalLogger, type Logger } from "matrix-js-sdk/lib/logger.js";
import { expectSpecResponse } from "../support/openapi.ts";

/** Set MYELIN_SDK_LOG=1 to see the SDK's own warnings and errors as they happen. */
const ECHO_SDK_LOG = process.env.MYELIN_SDK_LOG === "1";

/** An HTTP exchange the SDK made that did not go as the spec says. */
export interface Finding {
  who: string;
  request: string;
  status: number;
  detail: string;
}

/** An error answer a scenario causes on purpose. */
export interface ExpectedError {
  method: string;
  path: RegExp;
  status: number;
}

/** Warnings and errors logged by the SDK's shared loggers (not a client's own), for failure messages. */
export const sdkGlobalLog: string[] = [];
const describeLogged = (msg: unknown[]) => msg.map((m) => (m instanceof Error ? m.message : typeof m === "string" ? m : JSON.stringify(m))).join(" ");

// Some SDK modules log through its global loglevel logger (or children of it
// made at run time, e.g. MatrixRTCSession, the Rust crypto glue) rather than
// the client's logger. Replacing its methodFactory, the extension point the
// SDK documents for that logger and passes on to children, keeps only
// warnings and errors.
{
  type MethodFactory = (method: string, level: number, name: string | symbol) => (...msg: unknown[]) => void;
  const root = sdkGlobalLogger as unknown as { methodFactory: MethodFactory; rebuild(): void };
  const original = root.methodFactory;
  root.methodFactory = (method, level, name) => {
    if (ECHO_SDK_LOG) return original(method, level, name);
    if (method !== "warn" && method !== "error") return () => undefined;
    return (...msg) => void sdkGlobalLog.push(`sdk ${method}: ${describeLogged(msg)}`);
  };
  root.rebuild();
  sdkGlobalLogger.getChild("RoomStickyEvents"); // made at import time: getChild re-applies the factory
}

/** The SDK's logger, quiet: warnings and errors are kept in `sink`, the rest dropped. */
export function quietLogger(who: string, sink: string[]): Logger {
  const keep =
    (level: string) =>
    (...msg: unknown[]): void => {
      const line = `${who} ${level}: ${describeLogged(msg)}`;
      sink.push(line);
      if (ECHO_SDK_LOG) console.warn(line);
    };
  const drop = (): void => undefined;
  const logger: Logger = { trace: drop, debug: drop, info: drop, warn: keep("warn"), error: keep("error"), getChild: () => logger };
  return logger;
}

export interface RecordingFetchOptions {
  findings: Finding[];
  expectedErrors: readonly ExpectedError[];
  /** Sees each answer first; a Response returned replaces it (and is what gets checked). */
  intercept?: (method: string, url: URL, res: Response) => Response | undefined;
}

/** fetch for one SDK client: every answer checked against the spec, unexpected errors recorded. */
export function recordingFetch(who: string, options: RecordingFetchOptions): typeof fetch {
  return async (input, init) => {
    const url = new URL(input instanceof Request ? input.url : String(input));
    const method = (init?.method ?? (input instanceof Request ? input.method : "GET")).toUpperCase();
    const fetched = await fetch(input, init);
    const res = options.intercept?.(method, url, fetched) ?? fetched;
    const request = `${method} ${url.pathname}`;
    const text = await res.clone().text();
    let body: unknown;
    try {
      body = text ? JSON.parse(text) : undefined;
    } catch {
      body = undefined;
    }
    if (res.status >= 400 && !options.expectedErrors.some((e) => e.method === method && e.path.test(url.pathname) && e.status === res.status)) {
      options.findings.push({ who, request, status: res.status, detail: text.slice(0, 300) });
    }
    if (body !== undefined && url.pathname.startsWith("/_matrix/")) {
      try {
        expectSpecResponse(method, url.pathname, res.status, body);
      } catch (err) {
        const message = (err as Error).message;
        if (!message.startsWith("no OpenAPI operation")) options.findings.push({ who, request, status: res.status, detail: `schema: ${message.slice(0, 600)}` });
      }
    }
    return res;
  };
}

/** A matrix-js-sdk client with Rust crypto (in-memory store), its user and its log. */
export interface CryptoActor {
  name: string;
  user: { user_id: string; device_id: string; access_token: string; password: string };
  client: MatrixClient;
  log: string[];
}

export interface CryptoActorOptions extends RecordingFetchOptions {
  baseUrl: string;
  cryptoCallbacks?: ICreateClientOpts["cryptoCallbacks"];
}

/** Creates the client and starts its Rust crypto (no IndexedDB in Node: an in-memory store). */
export async function cryptoActor(name: string, user: CryptoActor["user"], options: CryptoActorOptions): Promise<CryptoActor> {
  const log: string[] = [];
  const client = createClient({
    baseUrl: options.baseUrl,
    accessToken: user.access_token,
    userId: user.user_id,
    deviceId: user.device_id,
    fetchFn: recordingFetch(name, options),
    logger: quietLogger(name, log),
    ...(options.cryptoCallbacks ? { cryptoCallbacks: options.cryptoCallbacks } : {}),
  });
  await client.initRustCrypto({ useIndexedDB: false });
  return { name, user, client, log };
}

/** Starts the client's sync loop and resolves once its first sync is done. */
export async function startSyncing(client: MatrixClient): Promise<void> {
  const ready = new Promise<void>((resolve) => {
    const onSync = (state: SyncState) => {
      if (state === SyncState.Prepared || state === SyncState.Syncing) {
        client.off(ClientEvent.Sync, onSync);
        resolve();
      }
    };
    client.on(ClientEvent.Sync, onSync);
  });
  await client.startClient({ initialSyncLimit: 50, pendingEventOrdering: PendingEventOrdering.Detached });
  await ready;
}

/** Event IDs of `roomId` the client could decrypt (m.room.message), with their bodies. */
export function decryptedBodies(client: MatrixClient, roomId: string): Map<string, string> {
  const out = new Map<string, string>();
  for (const timeline of client.getRoom(roomId)?.getUnfilteredTimelineSet().getTimelines() ?? []) {
    for (const event of timeline.getEvents()) {
      if (!event.isEncrypted() || event.isDecryptionFailure() || event.getType() !== "m.room.message") continue;
      const body = event.getContent().body as string | undefined;
      if (body !== undefined) out.set(event.getId()!, body);
    }
  }
  return out;
}

/** Waits until `condition` holds; the failure names what was awaited and what `diagnostics` says. */
export async function until(what: string, condition: () => boolean | Promise<boolean>, timeoutMs: number, diagnostics: () => string = () => ""): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting until ${what}${diagnostics()}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** The last findings and log lines of a scenario, for a failure message. */
export function sdkDiagnostics(findings: readonly Finding[], actors: ReadonlyArray<CryptoActor | undefined>): string {
  const lines = [...findings.slice(-10).map((f) => `${f.who} ${f.request} -> ${f.status} ${f.detail}`), ...actors.flatMap((a) => (a ? a.log.slice(-5) : [])), ...sdkGlobalLog.slice(-5)];
  return lines.length ? `\n  ${lines.join("\n  ")}` : "";
}
