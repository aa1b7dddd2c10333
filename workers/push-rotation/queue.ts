// Queue push-rotation: a scheduled job (one schedule for all processes) that
// folds new push actions into the unread-count summaries (server/rooms/push-rotation.ts).
import type { QueueDefinition } from "../bullmq.ts";

export type PushRotationPayload = Record<string, never>;

export const pushRotationQueue: QueueDefinition<PushRotationPayload> = {
  name: "push-rotation",
  jobId: () => "push-rotation",
  options: { attempts: 1 },
};
