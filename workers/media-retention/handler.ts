// Runs one retention pass. Idempotent by nature: it deletes what is expired now.
import type { JobHandler } from "../bullmq.ts";
import type { RetentionPayload } from "./queue.ts";

export function createRetentionHandler(deps: { retention: { run(): Promise<unknown> } }): JobHandler<RetentionPayload> {
  return async () => {
    await deps.retention.run();
  };
}
