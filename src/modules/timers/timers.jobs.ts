import { sql } from 'kysely';
import type { Logger } from 'pino';
import type { Db, Trx } from '../../db/index.js';
import type { JobPayloads } from '../../jobs/jobs.js';
import type { TimerKind, TimerPayloads } from './kinds.js';
import * as repo from './timers.repository.js';
import { reconcile, SWEEP_GRACE_MS, type RelayQueues } from './relay.js';
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
/** Batches a sweep runs side by side. */
const SWEEP_PARALLEL = 4;
/** The sweeper's longest sleep: it looks again at least this often (see startSweeper). */
const SWEEP_MAX_SLEEP_MS = 1_000;
/**
 * A job's batch takes other timers due this recently at most. The open-timers index keeps an
 * entry for every fired timer until VACUUM reaches it, and a claim that scanned from the
 * earliest due time would walk over all of them (tens of milliseconds after a busy minute);
 * older stragglers are the sweeper's full scans' and their own jobs'.
 */
const BATCH_LOOKBACK_MS = 60_000;
/** The sweeper scans from the earliest due time at most this often (otherwise from its last pass). */
const SWEEP_FULL_SCAN_EVERY_MS = 10_000;
const EPOCH = new Date(0);
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

/** Fires `ownId` (a job's timer; null for the sweeper) and up to `limit` other due timers of `kinds`, in one transaction. */
async function fire(
  ownId: string | null,
  ctx: TimerJobContext,
  kinds: string[],
  limit: number,
  claimed: string[],
  fired?: Array<{ jobId: string; dueAt: Date }>,
  /** Other timers are taken only if due from then on (see BATCH_LOOKBACK_MS). */
  dueFrom?: Date,
): Promise<void> {
  let settle: (fired: boolean) => void = () => {};
  const outcome = new Promise<boolean>((resolve) => (settle = resolve));
  try {
    const firedIds = await ctx.db.transaction().execute(async (trx) => {
      // The commit does not wait for the WAL flush: a checkpoint's I/O would otherwise stall every
      // firing lane behind fsync. Losing it in a PostgreSQL crash only un-fires the batch (it fires
      // again; the reconciler re-adds removed jobs), and nothing leaves the database on its word
      // alone: an email is sent only after its claim commits synchronously, which flushes this too.
      await sql`SET LOCAL synchronous_commit = off`.execute(trx);
      const now = Date.now();
      // A job from before the deadline moved (due later now) is not claimed: the re-armed timer
      // has (or will get) its own job. Others are taken only once due (never early).
      const rows = await repo.claimDueForFiring(trx, {
        ownId,
        ownDueBy: new Date(now + EARLY_TOLERANCE_MS),
        dueFrom: dueFrom ?? new Date(now - BATCH_LOOKBACK_MS),
        dueBy: new Date(now),
        kinds,
        limit,
        exclude: limit > 0 ? (ctx.firingMemo?.excluded() ?? []) : [],
        firedAt: new Date(now),
      });
      claimed.push(...rows.map((r) => r.id));
      fired?.splice(0, fired.length, ...rows.map((r) => ({ jobId: r.job_id, dueAt: r.due_at })));
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
      for (const timerId of firedIds) ctx.logger.debug({ timerId, outcome: 'fired', by: ownId }, 'timer');
      if (ownId !== null && !firedIds.includes(ownId)) ctx.logger.debug({ timerId: ownId, outcome: await repo.whyNotFired(ctx.db, ownId) }, 'timer');
    }
  } catch (err) {
    settle(false);
    throw err;
  }
}

/**
 * The sweeper: fires every due timer of the batchable kinds, a batch per transaction, without
 * waiting for their jobs. Their BullMQ jobs stay the durable trigger (and fire the other kinds);
 * when they run they find their timers fired (in this process's memo, or with one read). So a
 * backlog of jobs in Redis (thousands falling due in the same seconds) does not make the timers
 * late: the sweeper takes the due ones straight from PostgreSQL. Returns how many it fired.
 */
export async function sweepDueTimers(
  ctx: TimerJobContext,
  parallel = SWEEP_PARALLEL,
  stats?: SweepStats,
  dueFrom: Date = EPOCH,
  /** After each batch (progress logging while a long backlog is swept); false stops the sweep (shutdown). */
  afterBatch?: () => boolean,
): Promise<number> {
  const kinds = Object.keys(ctx.timerBatchHandlers ?? {});
  if (kinds.length === 0) return 0;
  const limit = Math.max(1, ctx.fireBatch ?? DEFAULT_FIRE_BATCH);
  // A batch's transaction mostly waits (round trips, the event loop, row locks): a few run side by side,
  // each claiming different rows (the claim skips locked ones).
  const one = async (): Promise<number> => {
    const claimed: string[] = [];
    const fired: Array<{ jobId: string; dueAt: Date }> = [];
    try {
      const t0 = Date.now();
      await fire(null, ctx, kinds, limit, claimed, fired, dueFrom);
      await removeSweptJobs(ctx.relayQueues, fired);
      if (stats) {
        stats.batches++;
        stats.batchMs += Date.now() - t0;
        stats.fired += claimed.length;
        for (const f of fired) stats.lagMs = Math.max(stats.lagMs, t0 - f.dueAt.getTime());
      }
      return claimed.length;
    } catch (err) {
      // One bad timer must not sink its neighbours again: these fire through their own jobs.
      ctx.firingMemo?.suspect(claimed);
      ctx.logger.warn({ batch: claimed.length, err: (err as Error).message }, 'timer sweep batch failed; its timers fire through their own jobs');
      return -1;
    }
  };
  // Up to `parallel` lanes, each claiming its next batch as soon as its last one is done: a slow
  // batch holds up only its own lane (in rounds, every lane waited for the round's slowest). A
  // lane whose batch came back short (nothing more was due then) or failed ends; any full batch
  // (more may be due) starts the lanes that ended again.
  let total = 0;
  let stop = false;
  let active = 0;
  const lanes: Array<Promise<void>> = [];
  const spawn = () => {
    while (active < Math.max(1, parallel) && !stop) {
      active++;
      lanes.push(lane());
    }
  };
  const lane = async () => {
    try {
      while (!stop) {
        const c = await one();
        total += Math.max(0, c);
        if (afterBatch && !afterBatch()) stop = true;
        if (c < limit) return;
        spawn();
      }
    } finally {
      active--;
    }
  };
  spawn();
  // Lanes started meanwhile are appended: wait for every one.
  for (let i = 0; i < lanes.length; i++) await lanes[i];
  return total;
}

/**
 * Removes the jobs of timers the sweeper fired, while they still wait out their grace in the
 * delayed set (see SWEEP_GRACE_MS): O(log n) each, far cheaper than running them. A job already
 * due is left alone (removing it from the wait list would scan the list); when it runs it finds
 * its timer fired. Best effort: a job left behind only costs a run.
 */
async function removeSweptJobs(queues: RelayQueues, fired: Array<{ jobId: string; dueAt: Date }>): Promise<void> {
  if (!queues.sweptKinds) return;
  const stillDelayedAfter = Date.now() - SWEEP_GRACE_MS + 500;
  const ids = fired.filter((f) => f.dueAt.getTime() > stillDelayedAfter).map((f) => f.jobId);
  await Promise.all(ids.map((id) => queues.main.remove(id).catch(() => 0)));
}

export interface SweepStats {
  batches: number;
  batchMs: number;
  fired: number;
  /** How late the latest-fired timer was when its batch began (ms past its due time). */
  lagMs: number;
}

const noStats = (): SweepStats => ({ batches: 0, batchMs: 0, fired: 0, lagMs: 0 });

/** How often the sweeper logs what it fired (only when it fired something). */
const SWEEP_LOG_EVERY_MS = 10_000;

/**
 * Runs the sweeper in the worker process: sweeps, then sleeps until the next batchable timer
 * falls due (read from PostgreSQL), at least `gapMs` and at most a second later. Several processes may sweep: the claim
 * skips rows another holds.
 */
export function startSweeper(ctx: TimerJobContext, gapMs: number): { close(): Promise<void> } {
  let closed = false;
  let timer: NodeJS.Timeout | undefined;
  let running: Promise<void> | undefined;
  const kinds = Object.keys(ctx.timerBatchHandlers ?? {});
  const stats = noStats();
  let loggedAt = Date.now();
  // Due times before `floor` were swept already (see SWEEP_FULL_SCAN_EVERY_MS, BATCH_LOOKBACK_MS).
  let floor = EPOCH;
  let fullScanAt = 0;
  // Progress while timers fall due in bulk: how many, in how many batches, how long each took,
  // and the most any was late.
  const logProgress = () => {
    if (Date.now() - loggedAt < SWEEP_LOG_EVERY_MS) return;
    if (stats.fired > 0) ctx.logger.info({ ...stats, avgBatchMs: Math.round(stats.batchMs / Math.max(1, stats.batches)), sinceMs: Date.now() - loggedAt }, 'timer sweep: fired due timers');
    Object.assign(stats, noStats());
    loggedAt = Date.now();
  };
  const pass = async () => {
    let delay = Math.max(gapMs, SWEEP_MAX_SLEEP_MS);
    try {
      const startedAt = Date.now();
      const full = startedAt - fullScanAt >= SWEEP_FULL_SCAN_EVERY_MS;
      await sweepDueTimers(ctx, SWEEP_PARALLEL, stats, full ? EPOCH : floor, () => {
        logProgress();
        return !closed; // a graceful stop does not wait for a long backlog: the rest stays due
      });
      logProgress();
      if (full) fullScanAt = startedAt;
      // Anything due before this and still open was held by another firing (which fires it),
      // or kept out after a failure (its own job fires it); the next full scan looks again.
      floor = new Date(startedAt - 1_000);
      // sweepDueTimers took every claimable due timer. Sleep until the next falls due, but at
      // least gapMs: timers falling due every millisecond are taken a batch at a time (a
      // transaction per timer would cost far more), each at most about that late.
      const next = await repo.nextDueAt(ctx.db, kinds, floor);
      const untilDue = next ? next.getTime() - Date.now() : Infinity;
      delay = Math.max(gapMs, Math.min(SWEEP_MAX_SLEEP_MS, untilDue));
    } catch (err) {
      ctx.logger.warn({ err: (err as Error).message }, 'timer sweep failed; retrying');
    }
    if (!closed) timer = setTimeout(run, delay);
  };
  const run = () => {
    running = pass();
  };
  if (kinds.length > 0 && gapMs > 0) timer = setTimeout(run, 0);
  return {
    async close() {
      closed = true;
      clearTimeout(timer);
      await running;
    },
  };
}

/** `timers.reconcile`: restores timers and emails missing from Redis. */
export async function handleReconcile(_data: JobPayloads['timers.reconcile'], ctx: TimerJobContext): Promise<void> {
  const restored = await reconcile(ctx.db, ctx.relayQueues, ctx.logger);
  ctx.logger.debug(restored, 'reconcile pass done');
}
