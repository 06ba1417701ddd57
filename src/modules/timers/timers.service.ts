import type { Expression, SqlBool } from 'kysely';
import type { DbOrTrx, Trx } from '../../db/index.js';
import { jobId as buildJobId } from '../../jobs/jobs.js';
import * as repo from './timers.repository.js';
import type { TimerKind, TimerPayloads } from './kinds.js';

export interface TimerSpec<K extends TimerKind = TimerKind> {
  kind: K;
  /** The domain record the timer is about (a ticket, a fund request…). */
  subjectId: string;
  communityId: string | null;
  dueAt: Date;
  /** Deterministic: the same domain fact always gives the same id, e.g. sla-breach-<ticket>-v3. */
  jobId: string;
  payload: TimerPayloads[K];
}

/**
 * Schedules timers inside the caller's transaction: they exist only if the state change that
 * causes them commits. The relay puts them on BullMQ after commit (woken by NOTIFY). Scheduling
 * an existing job id again moves its due time (the delayed job is replaced).
 */
export async function scheduleTimers(trx: Trx, specs: TimerSpec[]): Promise<number> {
  for (const s of specs) buildJobId(s.jobId); // refuses ids BullMQ would reject
  return repo.upsertTimers(trx, specs.map((s) => ({ kind: s.kind, subjectId: s.subjectId, communityId: s.communityId, dueAt: s.dueAt, jobId: s.jobId, payload: s.payload })));
}

/** scheduleTimers as a statement to compose into a data-modifying CTE (one atomic statement); `when` gates it. */
export function scheduleTimersSql(specs: TimerSpec[], when?: Expression<SqlBool>) {
  for (const s of specs) buildJobId(s.jobId); // refuses ids BullMQ would reject
  return repo.upsertTimersSql(specs.map((s) => ({ kind: s.kind, subjectId: s.subjectId, communityId: s.communityId, dueAt: s.dueAt, jobId: s.jobId, payload: s.payload })), when);
}

export function scheduleTimer<K extends TimerKind>(trx: Trx, spec: TimerSpec<K>): Promise<number> {
  return scheduleTimers(trx, [spec as TimerSpec]);
}

/** Cancels a subject's open timers (of one kind, or all): a cancelled timer never fires. */
export function cancelTimers(trx: Trx, subjectId: string, kind?: TimerKind): Promise<number> {
  return repo.cancelTimers(trx, { subjectId, kind });
}

/** Replaces a subject's timers of one kind by this one (e.g. a new SLA version). */
export async function replaceTimer<K extends TimerKind>(trx: Trx, spec: TimerSpec<K>): Promise<void> {
  await repo.cancelTimers(trx, { subjectId: spec.subjectId, kind: spec.kind, exceptJobId: spec.jobId });
  await scheduleTimer(trx, spec);
}

export function getTimerByJobId(db: DbOrTrx, jobId: string) {
  return db.selectFrom('timers').selectAll().where('job_id', '=', jobId).executeTakeFirst();
}

/**
 * Replaces all open timers of these kinds for a subject by the given ones (which may reuse
 * job ids: those are re-armed, the rest cancelled), in the caller's transaction.
 */
export async function replaceTimersOfSubject(trx: Trx, subjectId: string, kinds: TimerKind[], specs: TimerSpec[]): Promise<void> {
  const keep = new Set(specs.map((s) => s.jobId));
  await trx
    .updateTable('timers')
    .set({ state: 'cancelled', cancelled_at: new Date(), updated_at: new Date() })
    .where('subject_id', '=', subjectId)
    .where('kind', 'in', kinds)
    .where('state', 'in', ['pending', 'enqueued'])
    .$if(keep.size > 0, (q) => q.where('job_id', 'not in', [...keep]))
    .execute();
  await scheduleTimers(trx, specs);
}
