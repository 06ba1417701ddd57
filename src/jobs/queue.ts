import { Queue, type JobsOptions } from 'bullmq';
import type { Redis } from 'ioredis';
import { QUEUE_NAME, type JobName, type JobPayloads } from './jobs.js';

/** Completed and failed jobs are kept for a bounded time and count: Redis must not grow forever. */
export const DEFAULT_JOB_OPTIONS: JobsOptions = {
  attempts: 5,
  backoff: { type: 'exponential', delay: 5_000 },
  removeOnComplete: { age: 24 * 3600, count: 10_000 },
  removeOnFail: { age: 7 * 24 * 3600, count: 10_000 },
};

export type UpkeepQueue = Queue;

export function createQueue(connection: Redis, prefix: string, name: string = QUEUE_NAME): UpkeepQueue {
  const queue = new Queue(name, { connection, prefix, defaultJobOptions: DEFAULT_JOB_OPTIONS });
  // Connection trouble is reported by readyz and by the calls that need Redis; without a
  // listener BullMQ would print every refused reconnect.
  queue.on('error', () => {});
  return queue;
}

/** Typed enqueue: the payload must match the job name. */
export function enqueue<N extends JobName>(queue: UpkeepQueue, name: N, data: JobPayloads[N], opts: JobsOptions & { jobId: string }) {
  return queue.add(name, data, opts);
}
