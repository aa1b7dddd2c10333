// Queue media-retention: a scheduled job (BullMQ job scheduler, one schedule
// for all processes) that deletes expired media (server/media/retention.ts).
import type { QueueDefinition } from "../bullmq.ts";

export type RetentionPayload = Record<string, never>;

export const retentionQueue: QueueDefinition<RetentionPayload> = {
  name: "media-retention",
  jobId: () => "media-retention",
  options: { attempts: 1 },
};
