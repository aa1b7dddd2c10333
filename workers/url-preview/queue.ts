// Queue url-preview: one job per URL (its SHA-256 is the job id), so a link
// posted in a busy room is fetched once however many clients ask.
import { createHash } from "node:crypto";
import type { QueueDefinition } from "../bullmq.ts";

export interface UrlPreviewPayload {
  url: string;
  /** Who asked: the og:image is stored as their media, as in Synapse. */
  userId: string;
}

export const urlPreviewQueue: QueueDefinition<UrlPreviewPayload> = {
  name: "url-preview",
  jobId: (p) => `preview-${createHash("sha256").update(p.url).digest("hex")}`,
  // A failure is an answer (cached like a preview); no retry.
  options: { attempts: 1 },
};
