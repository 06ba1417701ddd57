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
}

export type JobName = keyof JobPayloads;

export const QUEUE_NAME = 'upkeep';

/** BullMQ refuses ':' in custom job ids and all-digit ids; ours are `<kind>-<ids…>`. */
export function jobId(...parts: Array<string | number>): string {
  const id = parts.join('-');
  if (id.includes(':') || /^\d+$/.test(id)) throw new Error(`invalid job id "${id}"`);
  return id;
}
