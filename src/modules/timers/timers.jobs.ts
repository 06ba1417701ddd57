import type { Logger } from 'pino';
import type { Db, Trx } from '../../db/index.js';
import type { JobPayloads } from '../../jobs/jobs.js';
import type { TimerKind, TimerPayloads } from './kinds.js';
import * as repo from './timers.repository.js';
import { reconcile, type RelayQueues } from './relay.js';

/** A due timer as its kind's handler sees it. */
export interface FiredTimer<K extends TimerKind = TimerKind> {
  id: string;
  kind: K;
  subjectId: string;
  communityId: string | null;
  dueAt: Date;
  jobId: string;
  payload: TimerPayloads[K];
}

/**
 * One handler per timer kind. It runs in the transaction that marks the timer fired, so its
 * effects (notifications, state changes) and the firing commit together: a worker killed
 * mid-way leaves nothing half-done and the retry starts over. It must re-read the domain and do
 * nothing when the timer no longer applies.
 */
export type TimerHandlers = { [K in TimerKind]: (trx: Trx, timer: FiredTimer<K>, logger: Logger) => Promise<void> };

/** Tolerance for clock skew between PostgreSQL and the worker when judging "due". */
const EARLY_TOLERANCE_MS = 1_000;

export interface TimerJobContext {
  db: Db;
  logger: Logger;
  timerHandlers: TimerHandlers;
  relayQueues: RelayQueues;
}

/**
 * `timer.fire`: fires a timer at most once; stale or cancelled timers are skipped. One statement
 * claims the timer (marks it fired, holding its row lock) and returns it; the handler runs in the
 * same transaction, so a failed handler leaves the timer as it was, for the retry.
 */
export async function handleTimerFire(data: JobPayloads['timer.fire'], ctx: TimerJobContext): Promise<void> {
  const outcome = await ctx.db.transaction().execute(async (trx) => {
    const now = Date.now();
    // A job from before the deadline moved (due later now) is not claimed: the re-armed timer
    // has (or will get) its own job.
    const timer = await repo.claimForFiring(trx, data.timerId, new Date(now + EARLY_TOLERANCE_MS), new Date(now));
    if (!timer) return ctx.logger.isLevelEnabled('debug') ? repo.whyNotFired(trx, data.timerId) : 'skipped';
    // Each handler is typed by its kind; here the kind is only known at run time.
    const handler = ctx.timerHandlers[timer.kind as TimerKind] as ((trx: Trx, t: FiredTimer, logger: Logger) => Promise<void>) | undefined;
    if (!handler) {
      ctx.logger.error({ kind: timer.kind, timerId: timer.id }, 'no handler for this timer kind; marking it fired');
    } else {
      await handler(
        trx,
        {
          id: timer.id,
          kind: timer.kind as TimerKind,
          subjectId: timer.subject_id,
          communityId: timer.community_id,
          dueAt: timer.due_at,
          jobId: timer.job_id,
          payload: timer.payload as TimerPayloads[TimerKind],
        },
        ctx.logger,
      );
    }
    return 'fired';
  });
  ctx.logger.debug({ timerId: data.timerId, outcome }, 'timer');
}

/** `timers.reconcile`: restores timers and emails missing from Redis. */
export async function handleReconcile(_data: JobPayloads['timers.reconcile'], ctx: TimerJobContext): Promise<void> {
  const restored = await reconcile(ctx.db, ctx.relayQueues, ctx.logger);
  ctx.logger.debug(restored, 'reconcile pass done');
}
