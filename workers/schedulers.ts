import type { RepeatOptions } from 'bullmq';
import type { JobName, JobPayloads } from '../src/jobs/jobs.js';
import type { UpkeepQueue } from '../src/jobs/queue.js';
import type { Config } from '../src/config.js';
import { AUDIT_TIME_ZONE } from '../src/modules/audit/audit.jobs.js';

/** Scheduler ids are fixed: upserting the same id on every start updates it, never duplicates. */
export const SCHEDULER_IDS = {
  auditVerifyNightly: 'audit-verify-nightly',
  timersReconcile: 'timers-reconcile',
  digestTick: 'digest-tick',
  inspectionsGenerate: 'inspections-generate',
} as const;

/** Typed upsert: the template's payload must match its job name. */
function upsert<N extends JobName>(queue: UpkeepQueue, id: string, repeat: Omit<RepeatOptions, 'key'>, name: N, data: JobPayloads[N]) {
  return queue.upsertJobScheduler(id, repeat, { name, data });
}

/** Registers every repeating job. Safe to call from each worker replica on each start. */
export async function registerSchedulers(queue: UpkeepQueue, config: Pick<Config, 'reconcileEveryMs'>): Promise<void> {
  // Restores timers and emails missing from Redis; overdue timers fire at once.
  await upsert(queue, SCHEDULER_IDS.timersReconcile, { every: config.reconcileEveryMs }, 'timers.reconcile', {});
  // Every 15 minutes: communities reaching 08:00 local time get their daily digest.
  await upsert(queue, SCHEDULER_IDS.digestTick, { pattern: '*/15 * * * *' }, 'digest.tick', {});
  // 03:00 in Shanghai: after the day's activity, before staff start work.
  await upsert(queue, SCHEDULER_IDS.auditVerifyNightly, { pattern: '0 3 * * *', tz: AUDIT_TIME_ZONE }, 'audit.verify-all', {});
  // Hourly: inspection tasks for the rolling horizon (idempotent; a pass with nothing due is cheap).
  await upsert(queue, SCHEDULER_IDS.inspectionsGenerate, { pattern: '17 * * * *' }, 'inspections.generate', {});
}
