// The push worker (role worker:push): today the rotation of push actions into
// unread-count summaries, every push.rotation_interval_ms, and once at start.
// A Redis that lost the schedule only delays it (the next start schedules it
// again); counts stay exact without it, just dearer to read.
import type { Logger } from "../server/observability/logger.ts";
import type { PushRotation } from "../server/rooms/push-rotation.ts";
import type { JobQueues } from "./bullmq.ts";
import { createPushRotationHandler } from "./push-rotation/handler.ts";
import { pushRotationQueue } from "./push-rotation/queue.ts";

export interface PushWorkersDeps {
  queues: JobQueues;
  rotation: PushRotation;
  rotationIntervalMs: number;
  log: Logger;
}

export async function startPushWorkers(deps: PushWorkersDeps): Promise<void> {
  deps.queues.work(pushRotationQueue, createPushRotationHandler(deps), 1);
  await deps.queues.schedule(pushRotationQueue, {}, deps.rotationIntervalMs);
  void deps.rotation.run().catch((err: unknown) => deps.log.warn({ err }, "push rotation at start failed; the scheduled one will retry"));
}
