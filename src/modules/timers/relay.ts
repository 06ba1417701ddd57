import type { Queue } from 'bullmq';
import type { Logger } from 'pino';
import type { Redis } from 'ioredis';
import type { Db } from '../../db/index.js';
import { startChangeFeed } from '../../db/change-feed.js';
import { jobId } from '../../jobs/jobs.js';
import * as timers from './timers.repository.js';
import * as notifications from '../notifications/notifications.repository.js';

/**
 * The outbox relay: PostgreSQL holds every timer and email; this puts them on BullMQ after the
 * transactions that made them commit. It is woken by NOTIFY (sent only on commit) and also
 * polls, so a missed notification only delays. Ids are deterministic: relaying twice is harmless.
 */

export interface RelayQueues {
  main: Queue;
  email: Queue;
  /** A connection to the queues' Redis, for pipelined existence checks. */
  redis: Redis;
  /**
   * Kinds the timer sweeper fires on time (src/modules/timers/timers.jobs.ts startSweeper). Their
   * jobs are the fallback: delayed SWEEP_GRACE_MS past the due time, and removed by the sweeper
   * once it fired them, so a timer costs no job run when the sweeper is doing its work.
   */
  sweptKinds?: ReadonlySet<string>;
  /**
   * Which outboxes this process relays (default both): the process that fires timers relays
   * timers and the one that sends emails relays emails, so that a burst of reminders does not
   * also make the timer process add every email's job to Redis (WORKER_QUEUES, workers/worker.ts).
   * The reconciler's own pass relays what its process relays.
   */
  outboxes?: Outboxes;
}

export interface Outboxes {
  timers: boolean;
  emails: boolean;
}
const BOTH_OUTBOXES: Outboxes = { timers: true, emails: true };

/** How long past its due time a swept kind's job waits for the sweeper before firing itself. */
export const SWEEP_GRACE_MS = 2_000;

/** The delay of a timer's job, from now. */
function timerJobDelay(queues: RelayQueues, t: { kind: string; due_at: Date }, now: number): number {
  return Math.max(0, t.due_at.getTime() - now) + (queues.sweptKinds?.has(t.kind) ? SWEEP_GRACE_MS : 0);
}

const BATCH = 1_000;
/** Passes woken by commits start at most this often (see startRelay). */
const MIN_PASS_GAP_MS = 20;

/**
 * Timer jobs vanish once done: the timers row records the firing, and a re-armed timer can reuse
 * its id. A job that failed for good is kept a while for inspection; the reconciler replaces it
 * (see missingJobIds), so a timer whose handler failed during an outage still fires afterwards.
 */
const TIMER_JOB_OPTS = { removeOnComplete: true, removeOnFail: { age: 7 * 24 * 3600 } } as const;

/**
 * Email jobs vanish once done, whatever the outcome: the notifications row keeps status, attempts
 * and the last error, and a job id left behind would stop a retried email (POST
 * /admin/notifications/:id/retry) or a reconciled one from being enqueued again. Attempts and
 * backoff come from the email queue's defaults (src/jobs/queue.ts emailJobOptions).
 */
const EMAIL_JOB_OPTS = { removeOnComplete: true, removeOnFail: true } as const;

export function notificationJobId(notificationId: string): string {
  return jobId('notif', notificationId);
}

/** Job data: the row's id, and the request that caused it when there was one (for the job's logs). */
const timerJobData = (r: { id: string; request_id: string | null }) => ({ timerId: r.id, ...(r.request_id ? { requestId: r.request_id } : {}) });
const emailJobData = (r: { id: string; request_id: string | null }) => ({ notificationId: r.id, ...(r.request_id ? { requestId: r.request_id } : {}) });

/**
 * One pass: relays pending timers and unrelayed emails. Returns how many of each.
 *
 * No row lock is held while Redis is being talked to (a Redis that hangs must not hold up the
 * domain transactions that schedule, move or cancel timers): rows are claimed and marked in
 * short statements that skip locked rows, and a timer counts as enqueued only if its due time
 * is still the one its job was made for; otherwise the next pass replaces the job.
 */
export async function relayOnce(db: Db, queues: RelayQueues, what: { timers: boolean; emails: boolean } = { timers: true, emails: true }): Promise<{ timers: number; emails: number }> {
  let timerCount = 0;
  let emailCount = 0;
  while (what.timers) {
    const rows = await timers.claimForRelay(db, BATCH);
    if (rows.length === 0) break;
    const now = Date.now();
    // A re-armed timer (moved deadline) replaces its delayed job. A job that is running now
    // cannot be removed; it will see the new due time and skip, and the reconciler re-adds.
    const rearmed = rows.filter((r) => r.prev_enqueued_at !== null);
    await Promise.all(rearmed.map((r) => queues.main.remove(r.job_id).catch(() => 0)));
    await queues.main.addBulk(
      rows.map((r) => ({
        name: 'timer.fire',
        data: timerJobData(r),
        opts: { jobId: r.job_id, delay: timerJobDelay(queues, r, now), ...TIMER_JOB_OPTS },
      })),
    );
    await timers.markEnqueued(db, rows);
    timerCount += rows.length;
    if (rows.length < BATCH) break;
  }
  while (what.emails) {
    const rows = await notifications.claimUnrelayed(db, BATCH);
    if (rows.length === 0) break;
    try {
      await queues.email.addBulk(rows.map((r) => ({ name: 'notification.send', data: emailJobData(r), opts: { jobId: notificationJobId(r.id), ...EMAIL_JOB_OPTS } })));
    } catch (err) {
      // Give them back to the next pass rather than wait for the reconciler.
      await notifications.unmarkRelayed(db, rows.map((r) => r.id)).catch(() => {});
      throw err;
    }
    emailCount += rows.length;
    if (rows.length < BATCH) break;
  }
  return { timers: timerCount, emails: emailCount };
}

/** A timer due further ahead than this must be a delayed job; nearer, it may be waiting or running. */
const SURELY_DELAYED_MS = 5_000;

/**
 * Which of these jobs have no live job in Redis: none at all, one that failed for good, or an
 * orphaned job hash whose timer is due later but which is not in the delayed set (a partial loss
 * of Redis data: keys deleted one by one, or evicted). Those in `stale` must be removed before
 * their id can be used again. One pipelined round trip per page.
 */
async function missingJobIds(client: Redis, queue: Queue, jobs: Array<{ jobId: string; dueAt?: Date }>): Promise<{ missing: Set<string>; stale: Set<string> }> {
  const pipeline = client.pipeline();
  const delayedKey = queue.keys.delayed ?? queue.toKey('delayed');
  const failedKey = queue.keys.failed ?? queue.toKey('failed');
  const surelyDelayedAfter = Date.now() + SURELY_DELAYED_MS;
  for (const { jobId } of jobs) {
    pipeline.exists(queue.toKey(jobId));
    pipeline.zscore(failedKey, jobId);
    pipeline.zscore(delayedKey, jobId);
  }
  const results = (await pipeline.exec()) ?? [];
  const missing = new Set<string>();
  const stale = new Set<string>();
  jobs.forEach(({ jobId, dueAt }, i) => {
    const [existsErr, exists] = results[3 * i] ?? [null, 1];
    const [failedErr, failedScore] = results[3 * i + 1] ?? [null, null];
    const [delayedErr, delayedScore] = results[3 * i + 2] ?? [null, 0];
    if (existsErr || failedErr || delayedErr) return;
    if (exists === 0) missing.add(jobId);
    else if (failedScore !== null || (dueAt !== undefined && dueAt.getTime() > surelyDelayedAfter && delayedScore === null)) {
      missing.add(jobId);
      stale.add(jobId);
    }
  });
  return { missing, stale };
}

/**
 * The reconciler: finds timers and emails that should be in Redis and are not (Redis lost its
 * data, a FLUSHALL, an add that failed after commit, a job that failed for good while the
 * database was away) and puts them back. Overdue timers fire at once.
 */
export async function reconcile(db: Db, queues: RelayQueues, logger: Logger): Promise<{ timers: number; emails: number }> {
  const PAGE = 2_000;
  let restoredTimers = 0;
  let after: string | null = null;
  for (;;) {
    const page = await timers.enqueuedPage(db, after, PAGE);
    if (page.length === 0) break;
    after = page[page.length - 1]?.id ?? null;
    const { missing, stale } = await missingJobIds(queues.redis, queues.main, page.map((t) => ({ jobId: t.job_id, dueAt: t.due_at })));
    const toAdd = page.filter((t) => missing.has(t.job_id));
    if (toAdd.length > 0) {
      await Promise.all([...stale].map((id) => queues.main.remove(id).catch(() => 0)));
      const now = Date.now();
      await queues.main.addBulk(
        toAdd.map((t) => ({ name: 'timer.fire', data: timerJobData(t), opts: { jobId: t.job_id, delay: timerJobDelay(queues, t, now), ...TIMER_JOB_OPTS } })),
      );
      restoredTimers += toAdd.length;
    }
    if (page.length < PAGE) break;
  }
  let restoredEmails = 0;
  after = null;
  for (;;) {
    const page = await notifications.undeliveredPage(db, after, PAGE);
    if (page.length === 0) break;
    after = page[page.length - 1]?.id ?? null;
    const { missing, stale } = await missingJobIds(queues.redis, queues.email, page.map((n) => ({ jobId: notificationJobId(n.id) })));
    const toAdd = page.filter((n) => missing.has(notificationJobId(n.id)));
    if (toAdd.length > 0) {
      await Promise.all([...stale].map((id) => queues.email.remove(id).catch(() => 0)));
      await queues.email.addBulk(toAdd.map((n) => ({ name: 'notification.send', data: emailJobData(n), opts: { jobId: notificationJobId(n.id), ...EMAIL_JOB_OPTS } })));
      restoredEmails += toAdd.length;
    }
    if (page.length < PAGE) break;
  }
  if (restoredTimers + restoredEmails > 0) logger.warn({ restoredTimers, restoredEmails }, 'reconciler restored jobs missing from Redis');
  const relayed = await relayOnce(db, queues, queues.outboxes ?? BOTH_OUTBOXES);
  return { timers: restoredTimers + relayed.timers, emails: restoredEmails + relayed.emails };
}

/**
 * Runs the relay in the worker process: LISTEN upkeep_outbox for commits, a poll as fallback.
 * Redis outages only delay it: the rows stay pending and the next pass relays them.
 */
export function startRelay(opts: {
  db: Db;
  databaseUrl?: string;
  queues: RelayQueues;
  logger: Logger;
  pollMs: number;
}): { close(): Promise<void>; kick(): void } {
  const { logger } = opts;
  const outboxes = opts.queues.outboxes ?? BOTH_OUTBOXES;
  let running = false;
  let closed = false;
  // What changed since the last pass began: NOTIFY says which table a commit touched.
  const dirty = { timers: false, emails: false };

  const pass = async (what: Outboxes = outboxes) => {
    if (closed) return;
    dirty.timers ||= what.timers && outboxes.timers;
    dirty.emails ||= what.emails && outboxes.emails;
    if (running) return;
    running = true;
    try {
      while ((dirty.timers || dirty.emails) && !closed) {
        const started = Date.now();
        const now = { ...dirty };
        dirty.timers = dirty.emails = false;
        try {
          const n = await relayOnce(opts.db, opts.queues, now);
          if (n.timers + n.emails > 0) logger.debug(n, 'relayed');
        } catch (err) {
          logger.warn({ err: (err as Error).message }, 'relay pass failed; retrying on the next poll');
          return;
        }
        // Under a stream of commits (every timer fired and every email sent is one) passes
        // would run back to back, each a round trip or two for a row or two: a short gap lets
        // the rows gather, so one claim and one addBulk carry them all.
        const wait = MIN_PASS_GAP_MS - (Date.now() - started);
        if ((dirty.timers || dirty.emails) && wait > 0) await new Promise((r) => setTimeout(r, wait));
      }
    } finally {
      running = false;
    }
  };

  // Commits wake it through the same kind of feed as the API's caches (reconnects, heartbeat);
  // notifications name the table. A lost or re-made connection calls both: a full pass.
  const feed = opts.databaseUrl ? startChangeFeed({ databaseUrl: opts.databaseUrl, logger, channel: 'upkeep_outbox' }) : undefined;
  if (outboxes.timers) feed?.subscribe(['timers'], () => void pass({ timers: true, emails: false }));
  if (outboxes.emails) feed?.subscribe(['notifications'], () => void pass({ timers: false, emails: true }));
  const timer = setInterval(() => void pass(), opts.pollMs);
  timer.unref();
  void pass();
  return {
    kick: () => void pass(),
    async close() {
      closed = true;
      clearInterval(timer);
      await feed?.close();
      while (running) await new Promise((r) => setTimeout(r, 20));
    },
  };
}
