// User-interactive authentication (spec: "User-Interactive Authentication API").
// Sessions live in Redis with a TTL so any server process can continue a flow;
// losing one only makes the client start the flow again.
import { randomBytes } from "node:crypto";
import type { Redis } from "ioredis";
import { MatrixError } from "../errors/matrix-error.ts";
import type { Errcode } from "../errors/errcodes.ts";

export interface UiaFlow {
  stages: string[];
}

/** Checks one stage's auth dict; throws a MatrixError (e.g. M_FORBIDDEN) when it fails. */
export type StageHandler = (auth: Record<string, unknown>) => Promise<void>;

export interface UiaRequest {
  flows: UiaFlow[];
  params?: Record<string, unknown>;
  stages: Record<string, StageHandler>;
  /** Binds a session to the operation that started it, so it cannot authorise another. */
  operation: string;
}

const SESSION_TTL_SECONDS = 15 * 60;

interface StoredSession {
  operation: string;
  completed: string[];
}

/** The 401 answer that tells the client which stages remain. */
export class UiaRequired extends MatrixError {
  readonly body: Record<string, unknown>;
  constructor(body: Record<string, unknown>, errcode?: Errcode, message?: string) {
    super(401, errcode ?? "M_FORBIDDEN", message ?? "User-interactive authentication required");
    this.body = errcode ? { errcode, error: message, ...body } : body;
  }
  override toJSON(): Record<string, unknown> {
    return this.body;
  }
}

export function createUia(redis: Redis) {
  const key = (session: string) => `uia:${session}`;

  async function load(session: string): Promise<StoredSession | undefined> {
    const raw = await redis.get(key(session));
    return raw ? (JSON.parse(raw) as StoredSession) : undefined;
  }

  async function save(session: string, state: StoredSession): Promise<void> {
    await redis.set(key(session), JSON.stringify(state), "EX", SESSION_TTL_SECONDS);
  }

  /**
   * Resolves when a flow is complete (and ends the session); otherwise throws
   * UiaRequired with the session's progress. `auth` is the request's `auth` dict.
   */
  async function authenticate(request: UiaRequest, auth: unknown): Promise<void> {
    const respond = (session: string, completed: string[], errcode?: Errcode, message?: string): never => {
      const body: Record<string, unknown> = { flows: request.flows, params: request.params ?? {}, session };
      if (completed.length > 0) body.completed = completed;
      throw new UiaRequired(body, errcode, message);
    };

    if (auth === undefined || auth === null) {
      const session = randomBytes(18).toString("base64url");
      await save(session, { operation: request.operation, completed: [] });
      respond(session, []);
    }
    if (typeof auth !== "object" || Array.isArray(auth)) throw new MatrixError(400, "M_BAD_JSON", "auth must be an object");
    const dict = auth as Record<string, unknown>;
    let session = typeof dict.session === "string" ? dict.session : undefined;
    let state = session ? await load(session) : undefined;
    if (session && !state) throw new MatrixError(400, "M_UNKNOWN", "Unknown or expired UIA session");
    if (state && state.operation !== request.operation) {
      throw new MatrixError(403, "M_FORBIDDEN", "This UIA session was started for another request");
    }
    if (!session || !state) {
      session = randomBytes(18).toString("base64url");
      state = { operation: request.operation, completed: [] };
    }
    const type = dict.type;
    if (type !== undefined) {
      if (typeof type !== "string") throw new MatrixError(400, "M_BAD_JSON", "auth.type must be a string");
      const allowed = request.flows.some((f) => f.stages.includes(type));
      const handler = request.stages[type];
      if (!allowed || !handler) {
        await save(session, state);
        respond(session, state.completed, "M_UNRECOGNIZED", `Unsupported authentication type ${type}`);
      }
      try {
        await handler!(dict);
      } catch (err) {
        if (!(err instanceof MatrixError)) throw err;
        await save(session, state);
        respond(session, state.completed, err.errcode, err.message);
      }
      if (!state.completed.includes(type)) state.completed.push(type);
    }
    const done = request.flows.some((f) => f.stages.every((s) => state.completed.includes(s)));
    if (done) {
      await redis.del(key(session));
      return;
    }
    await save(session, state);
    respond(session, state.completed);
  }

  return { authenticate };
}

export type Uia = ReturnType<typeof createUia>;
