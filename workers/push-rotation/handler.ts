// Runs one rotation. Idempotent: PostgreSQL's push_rotation says how far it got.
import type { JobHandler } from "../bullmq.ts";
import type { PushRotationPayload } from "./queue.ts";

export function createPushRotationHandler(deps: { rotation: { run(): Promise<unknown> } }): JobHandler<PushRotationPayload> {
  return async () => {
    await deps.rotation.run();
  };
}
