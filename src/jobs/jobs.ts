/**
 * Every job Upkeep runs: one typed union of names and payloads. The worker's handler registry
 * is typed against this map, so a job without a handler is a compile error. Payloads carry ids
 * only; handlers re-read PostgreSQL and skip when the record is gone.
 */
export interface JobPayloads {
  /** Nightly: fan out one verification per audit chain. */
  'audit.verify-all': { requestedAt?: string };
  /** Verify one community's chain (or the platform chain when communityId is null). */
  'audit.verify-chain': { communityId: string | null; day: string };
  /**
   * A timer is due: its handler re-reads the domain and acts only if the timer still applies.
   * requestId: the API request that scheduled it, for the job's logs (src/lib/request-context.ts).
   */
  'timer.fire': { timerId: string; requestId?: string };
  /** Puts back into Redis every timer and email that should be there and is not. */
  'timers.reconcile': { requestedAt?: string };
  /** Sends one email notification (on the rate-limited email queue); requestId as for timer.fire. */
  'notification.send': { notificationId: string; requestId?: string };
  /** Frequent tick: enqueue the daily digest of each community where it is now 08:00 or later. */
  'digest.tick': { requestedAt?: string };
  /** The daily digest of one community for one local day. */
  'digest.community': { communityId: string; day: string };
  /** Hourly: inspection tasks of every active plan for the rolling horizon (idempotent). */
  'inspections.generate': { requestedAt?: string };
}

export type JobName = keyof JobPayloads;

export const QUEUE_NAME = 'upkeep';
/** Emails have their own queue so its rate limiter throttles only SMTP. */
export const EMAIL_QUEUE_NAME = 'upkeep-email';
/** Which queue each job goes to. */
export const EMAIL_JOBS: ReadonlySet<JobName> = new Set<JobName>(['notification.send']);

/** BullMQ refuses ':' in custom job ids and all-digit ids; ours are `<kind>-<ids…>`. */
export function jobId(...parts: Array<string | number>): string {
  const id = parts.join('-');
  if (id.includes(':') || /^\d+$/.test(id)) throw new Error(`invalid job id "${id}"`);
  return id;
}
