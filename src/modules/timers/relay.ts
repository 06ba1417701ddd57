import type { Queue } from 'bullmq';
import type { Logger } from 'pino';
import type { Redis } from 'ioredis';
import pg from 'pg';
import type { Db } from '../../db/index.js';
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
}

const BATCH = 1_000;

/** Timer jobs vanish once done: the timers row records the firing, and a re-armed timer can reuse its id. */
const TIMER_JOB_OPTS = { removeOnComplete: true, removeOnFail: { age: 7 * 24 * 3600 } } as const;

export function notificationJobId(notificationId: string): string {
  return jobId('notif', notificationId);
}

/** One pass: relays pending timers and unrelayed emails. Returns how many of each. */
export async function relayOnce(db: Db, queues: RelayQueues): Promise<{ timers: number; emails: number }> {
  let timerCount = 0;
  let emailCount = 0;
  for (;;) {
    const n = await db.transaction().execute(async (trx) => {
      const rows = await timers.claimPending(trx, BATCH);
      if (rows.length === 0) return 0;
      const now = Date.now();
      // A re-armed timer (moved deadline) replaces its delayed job. A job that is running now
      // cannot be removed; it will see the new due time and skip, and the reconciler re-adds.
      const rearmed = rows.filter((r) => r.enqueued_at !== null);
      await Promise.all(rearmed.map((r) => queues.main.remove(r.job_id).catch(() => 0)));
      await queues.main.addBulk(
        rows.map((r) => ({
          name: 'timer.fire',
          data: { timerId: r.id },
          opts: { jobId: r.job_id, delay: Math.max(0, r.due_at.getTime() - now), ...TIMER_JOB_OPTS },
        })),
      );
      await timers.markEnqueued(trx, rows.map((r) => r.id));
      return rows.length;
    });
    timerCount += n;
    if (n < BATCH) break;
  }
  for (;;) {
    const n = await db.transaction().execute(async (trx) => {
      const rows = await notifications.claimUnrelayed(trx, BATCH);
      if (rows.length === 0) return 0;
      await queues.email.addBulk(rows.map((r) => ({ name: 'notification.send', data: { notificationId: r.id }, opts: { jobId: notificationJobId(r.id) } })));
      await notifications.markRelayed(trx, rows.map((r) => r.id));
      return rows.length;
    });
    emailCount += n;
    if (n < BATCH) break;
  }
  return { timers: timerCount, emails: emailCount };
}

/** Which of these job ids have no job in Redis (one pipelined EXISTS round trip per page). */
async function missingJobIds(client: Redis, queue: Queue, ids: string[]): Promise<Set<string>> {
  const pipeline = client.pipeline();
  for (const id of ids) pipeline.exists(queue.toKey(id));
  const results = (await pipeline.exec()) ?? [];
  const missing = new Set<string>();
  results.forEach(([err, exists], i) => {
    if (!err && exists === 0) missing.add(ids[i] as string);
  });
  return missing;
}

/**
 * The reconciler: finds timers and emails that should be in Redis and are not (Redis lost its
 * data, a FLUSHALL, an add that failed after commit) and puts them back. Overdue timers fire at once.
 */
export async function reconcile(db: Db, queues: RelayQueues, logger: Logger): Promise<{ timers: number; emails: number }> {
  const PAGE = 2_000;
  let restoredTimers = 0;
  let after: string | null = null;
  for (;;) {
    const page = await timers.enqueuedPage(db, after, PAGE);
    if (page.length === 0) break;
    after = page[page.length - 1]?.id ?? null;
    const missing = await missingJobIds(queues.redis, queues.main, page.map((t) => t.job_id));
    const toAdd = page.filter((t) => missing.has(t.job_id));
    if (toAdd.length > 0) {
      const now = Date.now();
      await queues.main.addBulk(
        toAdd.map((t) => ({ name: 'timer.fire', data: { timerId: t.id }, opts: { jobId: t.job_id, delay: Math.max(0, t.due_at.getTime() - now), ...TIMER_JOB_OPTS } })),
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
    const ids = page.map((n) => notificationJobId(n.id));
    const missing = await missingJobIds(queues.redis, queues.email, ids);
    const toAdd = page.filter((n) => missing.has(notificationJobId(n.id)));
    if (toAdd.length > 0) {
      await queues.email.addBulk(toAdd.map((n) => ({ name: 'notification.send', data: { notificationId: n.id }, opts: { jobId: notificationJobId(n.id) } })));
      restoredEmails += toAdd.length;
    }
    if (page.length < PAGE) break;
  }
  if (restoredTimers + restoredEmails > 0) logger.warn({ restoredTimers, restoredEmails }, 'reconciler restored jobs missing from Redis');
  const relayed = await relayOnce(db, queues);
  return { timers: restoredTimers + relayed.timers, emails: restoredEmails + relayed.emails };
}

/**
 * Runs the relay in the worker process: LISTEN upkeep_outbox for commits, a poll as fallback.
 * Redis outages only delay it: the rows stay pending and the next pass relays them.
 */
export function startRelay(opts: { db: Db; databaseUrl?: string; queues: RelayQueues; logger: Logger; pollMs: number }): { close(): Promise<void>; kick(): void } {
  const { logger } = opts;
  let running = false;
  let again = false;
  let closed = false;
  let listener: pg.Client | undefined;

  const pass = async () => {
    if (closed) return;
    if (running) {
      again = true;
      return;
    }
    running = true;
    try {
      do {
        again = false;
        const n = await relayOnce(opts.db, opts.queues);
        if (n.timers + n.emails > 0) logger.debug(n, 'relayed');
      } while (again && !closed);
    } catch (err) {
      logger.warn({ err: (err as Error).message }, 'relay pass failed; retrying on the next poll');
    } finally {
      running = false;
    }
  };

  const listen = async () => {
    if (closed || !opts.databaseUrl) return;
    const client = new pg.Client({ connectionString: opts.databaseUrl });
    client.on('error', () => {});
    client.on('end', () => {
      if (!closed) setTimeout(() => void listen(), 1_000).unref();
    });
    client.on('notification', () => void pass());
    try {
      await client.connect();
      await client.query('LISTEN upkeep_outbox');
      listener = client;
    } catch (err) {
      logger.warn({ err: (err as Error).message }, 'relay could not LISTEN; polling only until it can');
      await client.end().catch(() => {});
    }
  };

  void listen();
  const timer = setInterval(() => void pass(), opts.pollMs);
  timer.unref();
  void pass();
  return {
    kick: () => void pass(),
    async close() {
      closed = true;
      clearInterval(timer);
      await listener?.end().catch(() => {});
      while (running) await new Promise((r) => setTimeout(r, 20));
    },
  };
}
