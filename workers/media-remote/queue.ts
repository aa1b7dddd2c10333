// Queue media-remote: fetch mxc://origin/mediaId into the cache. The job id is
// the media, so every request for it, in any process, waits on one fetch.
import { jobIdPart, type QueueDefinition } from "../bullmq.ts";

export interface RemoteMediaPayload {
  origin: string;
  mediaId: string;
}

export const remoteMediaQueue: QueueDefinition<RemoteMediaPayload> = {
  name: "media-remote",
  jobId: (p) => `remote-${jobIdPart(p.origin)}-${p.mediaId}`,
  // A remote outage is retried twice, 2 s and 4 s later; waiting clients give up sooner and try again.
  options: { attempts: 3, backoff: { type: "exponential", delay: 2000 } },
};
