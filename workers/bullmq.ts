// The one BullMQ setup every queue uses: the Redis connection (the server's
// redis.url, with BullMQ's own key prefix `<redis.key_prefix>bull`, because
// BullMQ refuses an ioredis keyPrefix), the default job options, and the
// shape of a queue definition and its handler.
//
// The pattern for a queue (media-thumbnails, media-remote, url-preview,
// media-retention today; search indexing, bots, push later):
//
//   workers/<queue>/queue.ts    exports `<x>Queue: QueueDefinition<Payload>`:
//                               the queue name, the payload type and its
//                               deterministic job id (duplicates collapse);
//                               imports nothing but this file.
//   workers/<queue>/handler.ts  exports `create<X>Handler(deps)`, deps narrow
//                               (the storage and services it really uses),
//                               returning `(payload) => Promise<void>`. It must
//                               be idempotent: a job can run twice (a retry
//                               after a crash, a sweep re-queueing it), and
//                               PostgreSQL, not Redis, says what is done.
//
// Producers call `queues.enqueue(definition, payload)`; workers are started
// with `queues.work(definition, handler, concurrency)`. Redis may lose every
// job: each worker module has a sweep that rebuilds its jobs from PostgreSQL
// at start (and the handler re-checks PostgreSQL before doing anything).
import { Queue, Worker, type JobsOptions } from "bullmq";
import { Redis } from "ioredis";
import type { Logger } from "../server/observability/logger.ts";

export interface QueueDefinition<P> {
  name: string;
  /** The BullMQ job id of a payload: the same work gets the same id, so it is queued once. No ":" (BullMQ refuses it). */
  jobId(payload: P): string;
  /** Overrides of DEFAULT_JOB_OPTIONS for this queue. */
  options?: JobsOptions;
}

export interface JobAttempt {
  /** 1 for the first run. */
  attempt: number;
  /** No retry follows if this run fails: the handler records the failure in PostgreSQL. */
  final: boolean;
}

export type JobHandler<P> = (payload: P, attempt: JobAttempt) => Promise<void>;

/**
 * Three tries, 1 s then 2 s apart. Finished and finally failed jobs are
 * removed at once: the result (or the recorded failure) is in PostgreSQL, and
 * a job kept under its deterministic id would swallow a later re-queue of the
 * same work. A failure is logged with its job id ("job failed") instead.
 */
export const DEFAULT_JOB_OPTIONS: JobsOptions = {
  attempts: 3,
  backoff: { type: "exponential", delay: 1000 },
  removeOnComplete: true,
  removeOnFail: true,
};

export interface JobQueues {
  enqueue<P>(definition: QueueDefinition<P>, payload: P, options?: JobsOptions): Promise<void>;
  work<P>(definition: QueueDefinition<P>, handler: JobHandler<P>, concurrency: number): void;
  /** Runs `definition` every `everyMs` (one schedule across all processes). */
  schedule<P>(definition: QueueDefinition<P>, payload: P, everyMs: number): Promise<void>;
  close(): Promise<void>;
}

/** Encodes a value for use inside a job id (origins contain ":"). */
export const jobIdPart = (value: string): string => Buffer.from(value).toString("base64url");

export function createJobQueues(options: { redisUrl: string; keyPrefix: string; log: Logger }): JobQueues {
  // BullMQ needs maxRetriesPerRequest null for its blocking commands.
  const connection = new Redis(options.redisUrl, { maxRetriesPerRequest: null, lazyConnect: false });
  connection.on("error", () => undefined);
  const prefix = `${options.keyPrefix}bull`;
  const queues = new Map<string, Queue>();
  const workers: Worker[] = [];
  const queueOf = (name: string) => {
    let queue = queues.get(name);
    if (!queue) {
      queue = new Queue(name, { connection, prefix, defaultJobOptions: DEFAULT_JOB_OPTIONS });
      queue.on("error", (err) => options.log.warn({ err, queue: name }, "job queue error"));
      queues.set(name, queue);
    }
    return queue;
  };
  return {
    async enqueue(definition, payload, extra) {
      await queueOf(definition.name).add(definition.name, payload as object, { ...definition.options, ...extra, jobId: definition.jobId(payload) });
    },
    work(definition, handler, concurrency) {
      const log = options.log.child({ queue: definition.name });
      const worker = new Worker(
        definition.name,
        async (job) => {
          const started = Date.now();
          const attempt = job.attemptsMade + 1;
          await handler(job.data as never, { attempt, final: attempt >= (job.opts.attempts ?? 1) });
          log.debug({ job: job.id, durationMs: Date.now() - started }, "job done");
        },
        { connection, prefix, concurrency },
      );
      worker.on("failed", (job, err) => log.warn({ job: job?.id, attempt: job?.attemptsMade, err: err.message }, "job failed"));
      worker.on("error", (err) => log.warn({ err: err.message }, "worker error"));
      workers.push(worker);
    },
    async schedule(definition, payload, everyMs) {
      await queueOf(definition.name).upsertJobScheduler(definition.jobId(payload), { every: everyMs }, { name: definition.name, data: payload as object, opts: { ...definition.options } });
    },
    async close() {
      await Promise.all(workers.map((w) => w.close()));
      await Promise.all([...queues.values()].map((q) => q.close()));
      connection.disconnect();
    },
  };
}
