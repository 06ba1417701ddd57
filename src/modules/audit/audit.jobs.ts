import { UnrecoverableError, type BulkJobOptions } from 'bullmq';
import type { Logger } from 'pino';
import type { Db } from '../../db/index.js';
import { jobId, type JobName, type JobPayloads } from '../../jobs/jobs.js';
import type { UpkeepQueue } from '../../jobs/queue.js';
import { communityExists, listAuditChains, verifyAndRecord } from './audit.service.js';

/**
 * Handlers for the audit jobs (DESIGN.md "Audit"): a nightly fan-out that enqueues one
 * verification per chain, and the verification of one chain, whose result is recorded in
 * audit_verifications. The worker registry (workers/registry.ts) maps job names to these.
 */

/** The "day" of a nightly run is a calendar day here, the same zone the scheduler fires in. */
export const AUDIT_TIME_ZONE = 'Asia/Shanghai';

/** Enqueue at most this many jobs per Redis round trip. */
const BULK_SIZE = 500;

/**
 * What these handlers use of the worker's JobContext. Declared here rather than imported from
 * workers/ so that modules do not depend on the worker process; JobContext satisfies it.
 */
export interface AuditJobContext {
  db: Db;
  queue: UpkeepQueue;
  logger: Logger;
}

/** YYYYMMDD of `at` in `timeZone` (no separators: BullMQ refuses ':' in job ids). */
export function auditDay(at: Date, timeZone = AUDIT_TIME_ZONE): string {
  const parts = new Intl.DateTimeFormat('en-CA', { timeZone, year: 'numeric', month: '2-digit', day: '2-digit' }).formatToParts(at);
  const part = (type: Intl.DateTimeFormatPartTypes) => parts.find((p) => p.type === type)?.value ?? '';
  return `${part('year')}${part('month')}${part('day')}`;
}

/** One verification per chain and day: enqueuing the same day twice adds nothing. */
export function verifyChainJobId(communityId: string | null, day: string): string {
  return jobId('audit-verify', communityId ?? 'platform', day);
}

/** A typed entry for queue.addBulk: the payload must match the job name. */
function bulkJob<N extends JobName>(name: N, data: JobPayloads[N], opts: BulkJobOptions & { jobId: string }) {
  return { name, data, opts };
}

/** `audit.verify-all`: lists every chain and enqueues one `audit.verify-chain` job for each. */
export async function handleVerifyAll(data: JobPayloads['audit.verify-all'], ctx: AuditJobContext): Promise<void> {
  const at = data.requestedAt === undefined ? new Date() : new Date(data.requestedAt);
  if (Number.isNaN(at.getTime())) {
    // Retrying cannot fix a bad payload.
    throw new UnrecoverableError(`audit.verify-all: requestedAt "${data.requestedAt}" is not a date`);
  }
  const day = auditDay(at);
  const chains = await listAuditChains(ctx.db);
  ctx.logger.info({ day, chains: chains.length }, 'audit: enqueuing chain verifications');
  let enqueued = 0;
  for (let i = 0; i < chains.length; i += BULK_SIZE) {
    const batch = chains.slice(i, i + BULK_SIZE);
    // Ids are deterministic, so a retry of this job (or a second run the same day) re-adds
    // nothing: BullMQ keeps the existing job for an id it already holds.
    await ctx.queue.addBulk(
      batch.map(({ communityId }) =>
        bulkJob('audit.verify-chain', { communityId, day }, { jobId: verifyChainJobId(communityId, day) }),
      ),
    );
    enqueued += batch.length;
    ctx.logger.info({ day, enqueued, total: chains.length }, 'audit: chain verifications enqueued');
  }
}

/** `audit.verify-chain`: verifies one chain and records the result; skips a community that is gone. */
export async function handleVerifyChain(data: JobPayloads['audit.verify-chain'], ctx: AuditJobContext): Promise<void> {
  const { communityId, day } = data;
  // Payloads carry ids only: re-read PostgreSQL, the source of truth.
  if (communityId !== null && !(await communityExists(ctx.db, communityId))) {
    ctx.logger.info({ communityId, day }, 'audit: community no longer exists; verification skipped');
    return;
  }
  const result = await verifyAndRecord(ctx.db, communityId, 'nightly');
  const fields = { chain: result.chain, communityId, day, eventsChecked: result.eventsChecked };
  if (result.ok) {
    ctx.logger.info(fields, 'audit: chain verified');
  } else {
    // Recorded above; failing the job would only retry a verification that will fail again.
    ctx.logger.warn({ ...fields, firstBrokenSeq: result.firstBrokenSeq, problem: result.problem }, 'audit: chain is BROKEN');
  }
}
