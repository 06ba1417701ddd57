import { Queue, type JobsOptions } from 'bullmq';
import type { Redis } from 'ioredis';
import type { Config } from '../config.js';
import { QUEUE_NAME, type JobName, type JobPayloads } from './jobs.js';

/** Completed and failed jobs are kept for a bounded time and count: Redis must not grow forever. */
export const DEFAULT_JOB_OPTIONS: JobsOptions = {
  attempts: 5,
  backoff: { type: 'exponential', delay: 5_000 },
  removeOnComplete: { age: 24 * 3600, count: 10_000 },
  removeOnFail: { age: 7 * 24 * 3600, count: 10_000 },
};

/**
 * Email jobs (the 'upkeep-email' queue). The notifications row counts attempts and decides when
 * an email is dead (EMAIL_MAX_ATTEMPTS); BullMQ only paces the retries (exponential from
 * EMAIL_RETRY_BASE_MS). Its budget is larger than the row's, because a retry that found the row
 * leased by another sender does not count as an attempt: BullMQ must not give up before the row
 * does. Finished jobs are removed: the row is the record, and a job id left behind would stop
 * a retried (or reconciled) email from being enqueued again under the same id.
 */
export function emailJobOptions(config: Pick<Config, 'emailMaxAttempts' | 'emailRetryBaseMs'>): JobsOptions {
  return {
    attempts: config.emailMaxAttempts + 5,
    backoff: { type: 'exponential', delay: config.emailRetryBaseMs },
    removeOnComplete: true,
    removeOnFail: true,
  };
}

export type UpkeepQueue = Queue;

export function createQueue(connection: Redis, prefix: string, name: string = QUEUE_NAME, defaultJobOptions: JobsOptions = DEFAULT_JOB_OPTIONS): UpkeepQueue {
  const queue = new Queue(name, { connection, prefix, defaultJobOptions });
  // Connection trouble is reported by readyz and by the calls that need Redis; without a
  // listener BullMQ would print every refused reconnect.
  queue.on('error', () => {});
  return queue;
}

/** Typed enqueue: the payload must match the job name. */
export function enqueue<N extends JobName>(queue: UpkeepQueue, name: N, data: JobPayloads[N], opts: JobsOptions & { jobId: string }) {
  return queue.add(name, data, opts);
}
