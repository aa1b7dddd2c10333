// Queue media-thumbnails: one job per (media, box, method, animated). The job
// id is that tuple, so the thumbnails queued after an upload, a request
// waiting for one and the start-up sweep never make the same one twice.
import { jobIdPart, type QueueDefinition } from "../bullmq.ts";

export interface ThumbnailPayload {
  origin: string;
  mediaId: string;
  width: number;
  height: number;
  method: "crop" | "scale";
  animated: boolean;
}

export const thumbnailQueue: QueueDefinition<ThumbnailPayload> = {
  name: "media-thumbnails",
  jobId: (p) => `thumb-${jobIdPart(p.origin)}-${p.mediaId}-${p.width}x${p.height}-${p.method}${p.animated ? "-animated" : ""}`,
};
