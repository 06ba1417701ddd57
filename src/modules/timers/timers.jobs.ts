import type { Logger } from 'pino';
import type { Db, Trx } from '../../db/index.js';
import type { JobPayloads } from '../../jobs/jobs.js';
import type { TimerKind, TimerPayloads } from './kinds.js';
import * as repo from './timers.repository.js';
import { reconcile, type RelayQueues } from './relay.js';
import { OutcomeMemo } from '../../jobs/memo.js';

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

/**
 * Optional per kind: handles many due timers of that kind at once with set-based SQL, in the
 * firing transaction (same contract as the per-timer handler). Only kinds that have one are
 * swept up into a batch by another timer's job; the others fire one job at a time.
 */
export type TimerBatchHandlers = { [K in TimerKind]?: (trx: Trx, timers: Array<FiredTimer<K>>, logger: Logger) => Promise<void> };

/** Tolerance for clock skew between PostgreSQL and the worker when judging "due". */
const EARLY_TOLERANCE_MS = 1_000;
/** Due timers one firing transaction takes at most (its own included). */
export const DEFAULT_FIRE_BATCH = 200;

/**
 * What this process's firings know, so the jobs of timers a batch already fired cost no
 * statement: each such timer's outcome (a promise while its batch is in flight). Bounded; a job
 * that finds nothing here asks PostgreSQL, which stays the authority. Timers of a batch that
 * failed are kept out of later batches for a while (one bad timer must not sink its neighbours
 * again): they fire through their own jobs.
 */
export class FiringMemo {
  readonly outcomes = new OutcomeMemo<boolean>();
  private readonly suspects = new Map<string, number>();

  /** The outcome for a timer fired by another job's batch, once (its own job asks once). */
  take(timerId: string): Promise<boolean> | undefined {
    return this.outcomes.take(timerId);
  }

  remember(timerIds: string[], outcome: Promise<boolean>): void {
    this.outcomes.remember(timerIds, () => outcome);
  }

  suspect(timerIds: string[], forMs = 10 * 60_000): void {
    const until = Date.now() + forMs;
    for (const id of timerIds) this.suspects.set(id, until);
    for (const id of this.suspects.keys()) {
      if (this.suspects.size <= 1_000) break;
      this.suspects.delete(id);
    }
  }

  excluded(): string[] {
    const now = Date.now();
    const ids: string[] = [];
    for (const [id, until] of this.suspects) {
      if (until < now) this.suspects.delete(id);
      else ids.push(id);
    }
    return ids;
  }
}

export interface TimerJobContext {
  db: Db;
  logger: Logger;
  timerHandlers: TimerHandlers;
  relayQueues: RelayQueues;
  /** Without them every job fires its own timer only (as before batching). */
  timerBatchHandlers?: TimerBatchHandlers;
  firingMemo?: FiringMemo;
  /** Timers one firing takes at most (DEFAULT_FIRE_BATCH). */
  fireBatch?: number;
}

/**
 * `timer.fire`: fires a timer at most once; stale or cancelled timers are skipped. One statement
 * claims the timer (marks it fired, holding its row lock) together with other due timers of the
 * batchable kinds, and their handlers run in the same transaction: a failed handler leaves every
 * timer of the batch as it was. Then the job's own timer is retried alone, so one timer whose
 * handler fails only fails its own job (which BullMQ retries).
 */
export async function handleTimerFire(data: JobPayloads['timer.fire'], ctx: TimerJobContext): Promise<void> {
  const known = ctx.firingMemo?.take(data.timerId);
  if (known && (await known)) {
    ctx.logger.debug({ timerId: data.timerId, outcome: 'fired-by-batch' }, 'timer');
    return;
  }
  // Fired elsewhere (another process's batch), cancelled or gone: one cheap read, no transaction.
  const current = await repo.timerState(ctx.db, data.timerId);
  if (!current || current.state === 'fired' || current.state === 'cancelled') {
    ctx.logger.debug({ timerId: data.timerId, outcome: current ? `already-${current.state}` : 'gone' }, 'timer');
    return;
  }
  const kinds = Object.keys(ctx.timerBatchHandlers ?? {});
  const batch = ctx.firingMemo && kinds.length > 0 ? Math.max(1, ctx.fireBatch ?? DEFAULT_FIRE_BATCH) : 1;
  const claimed: string[] = [];
  try {
    await fire(data.timerId, ctx, batch > 1 ? kinds : [], batch - 1, claimed);
  } catch (err) {
    const others = claimed.filter((id) => id !== data.timerId);
    if (others.length === 0) throw err;
    ctx.firingMemo?.suspect(others);
    ctx.logger.warn({ timerId: data.timerId, batch: claimed.length, err: (err as Error).message }, 'timer batch failed; firing this job’s timer alone');
    await fire(data.timerId, ctx, [], 0, []);
  }
}

async function fire(ownId: string, ctx: TimerJobContext, kinds: string[], limit: number, claimed: string[]): Promise<void> {
  let settle: (fired: boolean) => void = () => {};
  const outcome = new Promise<boolean>((resolve) => (settle = resolve));
  try {
    const fired = await ctx.db.transaction().execute(async (trx) => {
      const now = Date.now();
      // A job from before the deadline moved (due later now) is not claimed: the re-armed timer
      // has (or will get) its own job. Others are taken only once due (never early).
      const rows = await repo.claimDueForFiring(trx, {
        ownId,
        ownDueBy: new Date(now + EARLY_TOLERANCE_MS),
        dueBy: new Date(now),
        kinds,
        limit,
        exclude: limit > 0 ? (ctx.firingMemo?.excluded() ?? []) : [],
        firedAt: new Date(now),
      });
      claimed.push(...rows.map((r) => r.id));
      // Their own jobs, if they run meanwhile in this process, wait for this outcome.
      ctx.firingMemo?.remember(claimed.filter((id) => id !== ownId), outcome);
      const byKind = new Map<TimerKind, FiredTimer[]>();
      for (const r of rows) {
        const timer: FiredTimer = { id: r.id, kind: r.kind as TimerKind, subjectId: r.subject_id, communityId: r.community_id, dueAt: r.due_at, jobId: r.job_id, payload: r.payload as TimerPayloads[TimerKind] };
        byKind.set(timer.kind, [...(byKind.get(timer.kind) ?? []), timer]);
      }
      for (const [kind, timers] of byKind) {
        // Each handler is typed by its kind; here the kind is only known at run time.
        const many = ctx.timerBatchHandlers?.[kind] as ((trx: Trx, t: FiredTimer[], logger: Logger) => Promise<void>) | undefined;
        const one = ctx.timerHandlers[kind] as ((trx: Trx, t: FiredTimer, logger: Logger) => Promise<void>) | undefined;
        if (many) await many(trx, timers, ctx.logger);
        else if (one) for (const t of timers) await one(trx, t, ctx.logger);
        else ctx.logger.error({ kind, timerIds: timers.map((t) => t.id) }, 'no handler for this timer kind; marking it fired');
      }
      return rows.map((r) => r.id);
    });
    settle(true);
    if (ctx.logger.isLevelEnabled('debug')) {
      for (const timerId of fired) ctx.logger.debug({ timerId, outcome: 'fired', by: ownId }, 'timer');
      if (!fired.includes(ownId)) ctx.logger.debug({ timerId: ownId, outcome: await repo.whyNotFired(ctx.db, ownId) }, 'timer');
    }
  } catch (err) {
    settle(false);
    throw err;
  }
}

/** `timers.reconcile`: restores timers and emails missing from Redis. */
export async function handleReconcile(_data: JobPayloads['timers.reconcile'], ctx: TimerJobContext): Promise<void> {
  const restored = await reconcile(ctx.db, ctx.relayQueues, ctx.logger);
  ctx.logger.debug(restored, 'reconcile pass done');
}
