import { randomUUID } from 'node:crypto';
import pg from 'pg';
import { Redis } from 'ioredis';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { EMAIL_QUEUE_NAME } from '../src/jobs/jobs.js';
import { createQueue, enqueue } from '../src/jobs/queue.js';
import { contractReminderJobId, scheduleContractReminders } from '../src/modules/duties/duties.timers.js';
import { reconcile, SWEEP_GRACE_MS, type RelayQueues } from '../src/modules/timers/relay.js';
import { cancelTimers, getTimerByJobId, scheduleTimer, scheduleTimers, type TimerSpec } from '../src/modules/timers/timers.service.js';
import { FiringMemo, handleTimerFire, sweepDueTimers, type TimerJobContext } from '../src/modules/timers/timers.jobs.js';
import { createTimerBatchHandlers, createTimerHandlers } from '../workers/registry.js';
import { registerSchedulers, SCHEDULER_IDS } from '../workers/schedulers.js';
import { createTestApp, testConfig, type TestApp } from './helpers/app.js';
import { TEST_REDIS_URL } from './helpers/env.js';
import { addMembership, as, makeCommunity, makeOrg, makeUser } from './helpers/factories.js';
import { FreezableProxy } from './helpers/tcp-proxy.js';
import { captureLogs, deletePrefix, sleep, TestWorkers, waitFor, type StartedWorkers } from './helpers/workers.js';

// Timers on real PostgreSQL and real Redis: scheduled in the domain's transaction, relayed to
// BullMQ after commit, fired at most once, restored by the reconciler after Redis lost them.

const DAY = 86_400_000;
let t: TestApp;
let pool: TestWorkers;
const log = captureLogs('info');
const config = () =>
  testConfig({
    databaseUrl: t.testDb.url,
    relayPollMs: 200,
    // The reconciler runs when a test says so (the scheduler would run it every hour).
    reconcileEveryMs: 3_600_000,
    emailRetryBaseMs: 100,
  });

beforeAll(async () => {
  t = await createTestApp();
  pool = new TestWorkers({ db: t.db, databaseUrl: t.testDb.url, config: config(), logger: log.logger });
});

afterEach(async () => {
  await pool.closeAll();
});

afterAll(async () => {
  await pool?.cleanup();
  await t?.close();
});

/**
 * A community whose property company holds the duty: its manager (and a chair) must be told,
 * its staff and a disabled manager not; the owners' committee (chair and member) must be told.
 */
async function holderWorld() {
  const { db } = t;
  const community = await makeCommunity(db);
  const company = await makeOrg(db, 'property_company');
  const committee = await makeOrg(db, 'owners_committee', { communityId: community.id });
  const manager = await makeUser(db, { locale: 'zh-CN' });
  await addMembership(db, manager.id, company.id, 'manager');
  const staff = await makeUser(db);
  await addMembership(db, staff.id, company.id, 'staff');
  const gone = await makeUser(db);
  await addMembership(db, gone.id, company.id, 'manager');
  await db.updateTable('users').set({ disabled_at: new Date() }).where('id', '=', gone.id).execute();
  const chair = await makeUser(db, { locale: 'en' });
  await addMembership(db, chair.id, committee.id, 'chair');
  const member = await makeUser(db);
  await addMembership(db, member.id, committee.id, 'member');
  return { community, company, recipients: [manager, chair, member], notRecipients: [staff, gone] };
}

type World = Awaited<ReturnType<typeof holderWorld>>;

async function insertDuty(w: World, validTo: Date) {
  return t.db
    .insertInto('duty_assignments')
    .values({ community_id: w.community.id, organization_id: w.company.id, basis: 'service_contract', facility_category: null, valid_to: validTo })
    .returningAll()
    .executeTakeFirstOrThrow();
}

const dutyRef = (d: { id: string; community_id: string; valid_to: Date | null }) => ({ id: d.id, communityId: d.community_id, validTo: d.valid_to });

function expectedKeys(jobId: string, users: Array<{ id: string }>) {
  return users.flatMap((u) => [`${jobId}|${u.id}|email`, `${jobId}|${u.id}|in_app`]).sort();
}

function notificationsOf(jobId: string) {
  return t.db.selectFrom('notifications').selectAll().where('dedupe_key', 'like', `${jobId}|%`).orderBy('dedupe_key').execute();
}

async function timer(jobId: string) {
  return getTimerByJobId(t.db, jobId);
}

async function delayedJob(workers: StartedWorkers, jobId: string) {
  const job = await workers.queue.getJob(jobId);
  if (!job || (await job.getState()) !== 'delayed') return undefined;
  return job;
}

/** `n` duties ending a week from now (plus `firstMs`, `stepMs` apart), their reminders scheduled and relayed. */
async function relayedReminders(w: World, workers: StartedWorkers, n: number, firstMs: number, stepMs: number) {
  const duties: Array<Awaited<ReturnType<typeof insertDuty>>> = [];
  for (let i = 0; i < n; i++) duties.push(await insertDuty(w, new Date(Date.now() + 7 * DAY + firstMs + i * stepMs)));
  const jobIds = duties.map((d) => contractReminderJobId(d.id, 7, d.valid_to as Date));
  await t.db.transaction().execute(async (trx) => {
    for (const d of duties) await scheduleContractReminders(trx, dutyRef(d));
  });
  for (const id of jobIds) await waitFor(`the delayed job ${id}`, () => delayedJob(workers, id));
  await waitFor('the timers to be enqueued', async () => {
    const rows = await t.db.selectFrom('timers').select('state').where('job_id', 'in', jobIds).execute();
    return rows.length === jobIds.length && rows.every((r) => r.state === 'enqueued');
  });
  return { duties, jobIds };
}

/** The emails LogChannel "sent" (logged) to an address. */
function loggedEmailsTo(email: string) {
  return log.entries.filter((e) => e.msg?.startsWith('email (no SMTP_URL') && e.to === email);
}

async function timerJobsInRedis(workers: StartedWorkers) {
  const jobs = await workers.queue.getJobs(['waiting', 'delayed', 'active', 'completed', 'failed', 'prioritized', 'waiting-children']);
  return jobs.filter((j) => j.name === 'timer.fire');
}

/** The relay's queues on their own connection, for calling reconcile() directly. */
async function relayQueuesFor(prefix: string): Promise<RelayQueues & { close(): Promise<void> }> {
  const redis = new Redis(TEST_REDIS_URL, { maxRetriesPerRequest: 1 });
  const main = createQueue(redis, prefix);
  const email = createQueue(redis, prefix, EMAIL_QUEUE_NAME);
  return {
    main,
    email,
    redis,
    async close() {
      await main.close();
      await email.close();
      redis.disconnect();
    },
  };
}

function reminderSpec(dutyId: string, communityId: string, validTo: Date, jobId: string, dueAt: Date): TimerSpec<'duty.contract-ending'> {
  return { kind: 'duty.contract-ending', subjectId: dutyId, communityId, dueAt, jobId, payload: { dutyId, daysBefore: 7, validTo: validTo.toISOString() } };
}

describe('timers', () => {
  it('a timer scheduled in a transaction that rolls back never fires; one that commits fires exactly once', async () => {
    const w = await holderWorld();
    // Inside the last reminder window: the 7-day reminder is due at once.
    const duty = await insertDuty(w, new Date(Date.now() + 3 * DAY));
    const jobId = contractReminderJobId(duty.id, 7, duty.valid_to as Date);
    const workers = await pool.start();

    await expect(
      t.db.transaction().execute(async (trx) => {
        await scheduleContractReminders(trx, dutyRef(duty));
        throw new Error('the state change failed');
      }),
    ).rejects.toThrow('the state change failed');
    workers.kickRelay();
    await sleep(1_500);
    expect(await timer(jobId)).toBeUndefined();
    expect(await t.db.selectFrom('timers').select('id').where('subject_id', '=', duty.id).execute()).toHaveLength(0);
    // The daily digest (between 08:00 and 12:00 in the community's time zone) may mention the duty; the reminder must not exist.
    expect(await t.db.selectFrom('notifications').select('id').where('community_id', '=', w.community.id).where('template', '<>', 'digest.daily').execute()).toHaveLength(0);
    expect(await workers.queue.getJob(jobId)).toBeUndefined();
    expect(await timerJobsInRedis(workers)).toHaveLength(0);

    await t.db.transaction().execute((trx) => scheduleContractReminders(trx, dutyRef(duty)));
    const fired = await waitFor('the timer to fire', async () => {
      const row = await timer(jobId);
      return row?.state === 'fired' && row;
    });
    expect(fired.fired_at).not.toBeNull();
    const emails = await waitFor('the emails to be sent', async () => {
      const rows = (await notificationsOf(jobId)).filter((n) => n.channel === 'email');
      return rows.length === w.recipients.length && rows.every((n) => n.status === 'sent') && rows;
    });
    expect(emails.map((n) => n.delivered_via)).toEqual(emails.map(() => 'log'));

    // Exactly once, even given time to misbehave.
    await sleep(1_000);
    const rows = await notificationsOf(jobId);
    expect(rows.map((n) => n.dedupe_key)).toEqual(expectedKeys(jobId, w.recipients));
    for (const u of w.notRecipients) expect(rows.some((n) => n.recipient_user_id === u.id)).toBe(false);
    // The recipient's language picks the template.
    const chair = w.recipients[1] as { id: string };
    expect(rows.find((n) => n.recipient_user_id === chair.id)?.locale).toBe('en');
    expect(rows.find((n) => n.recipient_user_id === chair.id)?.subject).toContain('duty contract ends in 7 days');
    for (const u of w.recipients) expect(loggedEmailsTo(u.email)).toHaveLength(1);
    const again = await timer(jobId);
    expect(again?.state).toBe('fired');
    expect(again?.fired_at).toEqual(fired.fired_at);
    expect(await t.db.selectFrom('timers').select('id').where('subject_id', '=', duty.id).execute()).toHaveLength(1);
  });

  it('rescheduling with the same job id replaces the delayed job: it fires at the new time only', async () => {
    const w = await holderWorld();
    const validTo = new Date(Date.now() + 20 * DAY);
    const duty = await insertDuty(w, validTo);
    const jobId = `test-resched-${duty.id}`;
    // The sweeper off: this is about the job (with it on, the job waits a grace past the due time).
    const workers = await pool.start({ config: { timerSweepMs: 0 } });

    const firstDue = new Date(Date.now() + 1_500);
    await t.db.transaction().execute((trx) => scheduleTimer(trx, reminderSpec(duty.id, w.community.id, validTo, jobId, firstDue)));
    const first = await waitFor('the delayed job', () => delayedJob(workers, jobId));
    expect(Math.abs(first.timestamp + first.delay - firstDue.getTime())).toBeLessThan(200);
    await waitFor('the timer to be enqueued', async () => (await timer(jobId))?.state === 'enqueued');

    const secondDue = new Date(Date.now() + 4_500);
    await t.db.transaction().execute((trx) => scheduleTimer(trx, reminderSpec(duty.id, w.community.id, validTo, jobId, secondDue)));
    await waitFor('the job to be replaced', async () => {
      const job = await delayedJob(workers, jobId);
      const row = await timer(jobId);
      return job !== undefined && Math.abs(job.timestamp + job.delay - secondDue.getTime()) < 200 && row?.state === 'enqueued';
    });
    // One timer row, one job under its id.
    expect(await t.db.selectFrom('timers').select('id').where('job_id', '=', jobId).execute()).toHaveLength(1);

    // Past the first due time (and the early-firing tolerance): nothing happened.
    await sleep(Math.max(0, firstDue.getTime() + 1_300 - Date.now()));
    expect((await timer(jobId))?.state).toBe('enqueued');
    expect(await notificationsOf(jobId)).toHaveLength(0);

    const fired = await waitFor('the timer to fire at the new time', async () => {
      const row = await timer(jobId);
      return row?.state === 'fired' && row;
    });
    expect((fired.fired_at as Date).getTime()).toBeGreaterThanOrEqual(secondDue.getTime() - 50);
    await sleep(500);
    expect((await notificationsOf(jobId)).map((n) => n.dedupe_key)).toEqual(expectedKeys(jobId, w.recipients));
  });

  it('a cancelled timer never fires, whether it was already in Redis or not yet relayed', async () => {
    const w = await holderWorld();
    const validTo = new Date(Date.now() + 20 * DAY);
    const duty = await insertDuty(w, validTo);
    const workers = await pool.start();

    // Relayed (a delayed job in Redis), then cancelled.
    const relayedId = `test-cancel-relayed-${duty.id}`;
    await t.db.transaction().execute((trx) => scheduleTimer(trx, reminderSpec(duty.id, w.community.id, validTo, relayedId, new Date(Date.now() + 1_000))));
    await waitFor('the delayed job', () => delayedJob(workers, relayedId));
    await waitFor('the timer to be enqueued', async () => (await timer(relayedId))?.state === 'enqueued');
    expect(await t.db.transaction().execute((trx) => cancelTimers(trx, duty.id, 'duty.contract-ending'))).toBe(1);

    // Scheduled and cancelled in one transaction: never relayed.
    const unrelayedId = `test-cancel-unrelayed-${duty.id}`;
    await t.db.transaction().execute(async (trx) => {
      await scheduleTimer(trx, reminderSpec(duty.id, w.community.id, validTo, unrelayedId, new Date()));
      await cancelTimers(trx, duty.id, 'duty.contract-ending');
    });

    // The relayed job ran at its time (and found its timer cancelled).
    await waitFor('the cancelled timer’s job to have run', async () => (await workers.queue.getJob(relayedId)) === undefined, 10_000);
    workers.kickRelay();
    await sleep(800);
    for (const id of [relayedId, unrelayedId]) {
      const row = await timer(id);
      expect(row?.state).toBe('cancelled');
      expect(row?.fired_at).toBeNull();
      expect(await notificationsOf(id)).toHaveLength(0);
    }
    expect((await timer(unrelayedId))?.enqueued_at).toBeNull();
    expect(await workers.queue.getJob(unrelayedId)).toBeUndefined();
  });

  it('a job whose timer moved later is skipped; the reconciler re-adds it for the new time', async () => {
    const w = await holderWorld();
    const validTo = new Date(Date.now() + 20 * DAY);
    const duty = await insertDuty(w, validTo);
    const jobId = `test-stale-${duty.id}`;
    const workers = await pool.start();

    await t.db.transaction().execute((trx) => scheduleTimer(trx, reminderSpec(duty.id, w.community.id, validTo, jobId, new Date(Date.now() + 1_000))));
    await waitFor('the delayed job', () => delayedJob(workers, jobId));
    await waitFor('the timer to be enqueued', async () => (await timer(jobId))?.state === 'enqueued');
    // The deadline moves while the job is already in Redis, and the relay has not replaced it
    // (e.g. the job was running and could not be removed).
    const newDue = new Date(Date.now() + 3_600_000);
    await t.db.updateTable('timers').set({ due_at: newDue }).where('job_id', '=', jobId).execute();

    await waitFor('the old job to have run', async () => (await workers.queue.getJob(jobId)) === undefined, 10_000);
    await sleep(300);
    const row = await timer(jobId);
    expect(row?.state).toBe('enqueued');
    expect(row?.fired_at).toBeNull();
    expect(await notificationsOf(jobId)).toHaveLength(0);

    // A job from an old due time, enqueued again by hand: skipped too.
    await enqueue(workers.queue, 'timer.fire', { timerId: row?.id as string }, { jobId: `stale-copy-${duty.id}` });
    await waitFor('the copy to complete', async () => (await (await workers.queue.getJob(`stale-copy-${duty.id}`))?.getState()) === 'completed');
    expect((await timer(jobId))?.state).toBe('enqueued');
    expect(await notificationsOf(jobId)).toHaveLength(0);

    // The timer still has to fire at its new time: the reconciler puts its job back.
    const queues = await relayQueuesFor(workers.prefix);
    try {
      const restored = await reconcile(t.db, queues, log.logger);
      expect(restored.timers).toBeGreaterThanOrEqual(1);
    } finally {
      await queues.close();
    }
    const job = await waitFor('the restored job', () => delayedJob(workers, jobId));
    expect(Math.abs(job.timestamp + job.delay - newDue.getTime())).toBeLessThan(1_000);
  });

  it('a timer whose job failed for good (its handler failed while something was broken) fires once the reconciler runs after the fix', async () => {
    const w = await holderWorld();
    const validTo = new Date(Date.now() + 20 * DAY);
    const duty = await insertDuty(w, validTo);
    const jobId = `test-failed-${duty.id}`;
    const workers = await pool.start();
    // Its handler fails (PostgreSQL refuses the payload's duty id), as it would while the
    // database was away; the job gives up after its attempts (one here) and stays failed.
    const row = await t.db
      .insertInto('timers')
      .values({ kind: 'duty.contract-ending', subject_id: duty.id, community_id: w.community.id, due_at: new Date(), job_id: jobId, payload: JSON.stringify({ dutyId: 'not-a-uuid', daysBefore: 7, validTo: validTo.toISOString() }), state: 'enqueued', enqueued_at: new Date() })
      .returningAll()
      .executeTakeFirstOrThrow();
    await workers.queue.add('timer.fire', { timerId: row.id }, { jobId, attempts: 1, removeOnFail: { age: 3600 } });
    await waitFor('the job to fail for good', async () => (await (await workers.queue.getJob(jobId))?.getState()) === 'failed');
    expect((await timer(jobId))?.state).toBe('enqueued');

    // Fixed; the reconciler replaces the failed job.
    await t.db.updateTable('timers').set({ payload: JSON.stringify(reminderSpec(duty.id, w.community.id, validTo, jobId, new Date()).payload) }).where('id', '=', row.id).execute();
    const queues = await relayQueuesFor(workers.prefix);
    try {
      expect((await reconcile(t.db, queues, log.logger)).timers).toBeGreaterThanOrEqual(1);
    } finally {
      await queues.close();
    }
    await waitFor('the timer to fire', async () => (await timer(jobId))?.state === 'fired');
    await sleep(300);
    expect((await notificationsOf(jobId)).map((n) => n.dedupe_key)).toEqual(expectedKeys(jobId, w.recipients));
  });

  it('a partial loss of Redis data (a job hash left without its delayed entry): the reconciler replaces the orphan, and the timer fires once', async () => {
    const w = await holderWorld();
    const validTo = new Date(Date.now() + 20 * DAY);
    const duty = await insertDuty(w, validTo);
    const jobId = `test-orphan-${duty.id}`;
    const workers = await pool.start();
    const dueAt = new Date(Date.now() + 8_000);
    await t.db.transaction().execute((trx) => scheduleTimer(trx, reminderSpec(duty.id, w.community.id, validTo, jobId, dueAt)));
    workers.kickRelay();
    await waitFor('the timer to be relayed', async () => (await delayedJob(workers, jobId)) !== undefined);
    // Keys deleted one by one (or evicted) while others were written: the job's hash survives,
    // its entry in the delayed set does not. Nothing would ever run it.
    const queues = await relayQueuesFor(workers.prefix);
    try {
      await queues.redis.zrem(queues.main.keys.delayed ?? queues.main.toKey('delayed'), jobId);
      expect(await (await workers.queue.getJob(jobId))?.getState()).toBe('unknown');
      expect((await reconcile(t.db, queues, log.logger)).timers).toBeGreaterThanOrEqual(1);
    } finally {
      await queues.close();
    }
    const job = await delayedJob(workers, jobId);
    expect(job).toBeDefined();
    expect(Math.abs((job?.timestamp ?? 0) + (job?.delay ?? 0) - dueAt.getTime())).toBeLessThan(1_000);
    await waitFor('the timer to fire', async () => (await timer(jobId))?.state === 'fired', 15_000);
    await sleep(300);
    expect((await notificationsOf(jobId)).map((n) => n.dedupe_key)).toEqual(expectedKeys(jobId, w.recipients));
  });

  it('a reminder whose duty changed after scheduling fires but tells no one', async () => {
    const w = await holderWorld();
    const duty = await insertDuty(w, new Date(Date.now() + 3 * DAY));
    const jobId = contractReminderJobId(duty.id, 7, duty.valid_to as Date);
    const workers = await pool.start();
    await t.db.transaction().execute(async (trx) => {
      await scheduleContractReminders(trx, dutyRef(duty));
      // The end date moves in the same breath without rescheduling: the handler re-reads the duty.
      await trx.updateTable('duty_assignments').set({ valid_to: new Date(Date.now() + 5 * DAY) }).where('id', '=', duty.id).execute();
    });
    workers.kickRelay();
    await waitFor('the timer to fire', async () => (await timer(jobId))?.state === 'fired');
    await sleep(300);
    expect(await notificationsOf(jobId)).toHaveLength(0);
  });

  it('after Redis lost its data, the reconciler brings back every pending timer: all fire, none twice; the schedulers come back', async () => {
    const w = await holderWorld();
    const cfg = config();
    // The sweeper off: this is about what the jobs and the reconciler do (the next test: the sweeper).
    const workers = await pool.start({ config: { timerSweepMs: 0 } });
    const { duties, jobIds } = await relayedReminders(w, workers, 5, 2_500, 100);
    expect((await workers.queue.getJobSchedulers()).map((s) => s.key).sort()).toEqual(Object.values(SCHEDULER_IDS).sort());

    // Redis loses everything of this deployment (FLUSHALL, as far as this prefix is concerned).
    expect(await deletePrefix(workers.prefix)).toBeGreaterThan(0);
    for (const id of jobIds) expect(await workers.queue.getJob(id)).toBeUndefined();
    expect(await workers.queue.getJobSchedulers()).toHaveLength(0);

    // Past every due time: without the reconciler, nothing fires.
    const lastDue = Math.max(...duties.map((d) => (d.valid_to as Date).getTime() - 7 * DAY));
    await sleep(Math.max(0, lastDue + 1_000 - Date.now()));
    for (const id of jobIds) {
      expect((await timer(id))?.state).toBe('enqueued');
      expect(await notificationsOf(id)).toHaveLength(0);
    }

    // The workers' periodic refresh re-upserts the schedulers (same call, same fixed ids).
    await registerSchedulers(workers.queue, cfg);
    expect((await workers.queue.getJobSchedulers()).map((s) => s.key).sort()).toEqual(Object.values(SCHEDULER_IDS).sort());

    // The reconcile job (what the scheduler runs): the overdue timers fire at once.
    await enqueue(workers.queue, 'timers.reconcile', { requestedAt: new Date().toISOString() }, { jobId: 'reconcile-after-wipe' });
    await waitFor(
      'every timer to fire',
      async () => {
        const rows = await t.db.selectFrom('timers').select('state').where('job_id', 'in', jobIds).execute();
        return rows.every((r) => r.state === 'fired');
      },
      10_000,
    );
    const firedAt = new Map((await t.db.selectFrom('timers').select(['job_id', 'fired_at']).where('job_id', 'in', jobIds).execute()).map((r) => [r.job_id, r.fired_at?.getTime()]));

    // Reconciling again (and again) adds nothing: fired timers are not in anyone's way.
    await enqueue(workers.queue, 'timers.reconcile', {}, { jobId: 'reconcile-after-wipe-2' });
    await waitFor('the second reconcile', async () => (await (await workers.queue.getJob('reconcile-after-wipe-2'))?.getState()) === 'completed');
    const queues = await relayQueuesFor(workers.prefix);
    try {
      await reconcile(t.db, queues, log.logger);
    } finally {
      await queues.close();
    }
    await waitFor(
      'the emails to be sent',
      async () => {
        const rows = await t.db.selectFrom('notifications').select('status').where('community_id', '=', w.community.id).where('channel', '=', 'email').execute();
        return rows.length === jobIds.length * w.recipients.length && rows.every((r) => r.status === 'sent');
      },
      10_000,
    );
    await sleep(1_000);
    for (const id of jobIds) {
      expect((await notificationsOf(id)).map((n) => n.dedupe_key)).toEqual(expectedKeys(id, w.recipients));
      const row = await timer(id);
      expect(row?.state).toBe('fired');
      expect(row?.fired_at?.getTime()).toBe(firedAt.get(id));
    }
    // One email per reminder and person, however often the reconciler ran.
    for (const u of w.recipients) expect(loggedEmailsTo(u.email)).toHaveLength(jobIds.length);
  }, 30_000);

  it('the sweeper fires due reminders straight from PostgreSQL, in batches, with Redis wiped and no reconciler run; their restored jobs do not fire them again', async () => {
    const w = await holderWorld();
    const workers = await pool.start({ config: { timerSweepMs: 50 } });
    const { jobIds } = await relayedReminders(w, workers, 6, 2_000, 50);
    // Redis loses every job; nobody runs the reconciler.
    expect(await deletePrefix(workers.prefix)).toBeGreaterThan(0);
    for (const id of jobIds) expect(await workers.queue.getJob(id)).toBeUndefined();

    await waitFor(
      'every timer to fire',
      async () => (await t.db.selectFrom('timers').select('state').where('job_id', 'in', jobIds).execute()).every((r) => r.state === 'fired'),
      10_000,
    );
    const rows = await t.db.selectFrom('timers').select(['job_id', 'due_at', 'fired_at']).where('job_id', 'in', jobIds).execute();
    for (const r of rows) {
      // Never early; late by about the sweep interval at most (generous for a loaded machine).
      expect(r.fired_at!.getTime()).toBeGreaterThanOrEqual(r.due_at.getTime());
      expect(r.fired_at!.getTime() - r.due_at.getTime()).toBeLessThan(3_000);
    }
    // The reconciler restores only what is still owed a job (the later reminders of these
    // duties), not the fired ones: each reminder went out once.
    const queues = await relayQueuesFor(workers.prefix);
    try {
      await reconcile(t.db, queues, log.logger);
    } finally {
      await queues.close();
    }
    for (const id of jobIds) expect(await workers.queue.getJob(id)).toBeUndefined();
    await sleep(500);
    for (const id of jobIds) expect((await notificationsOf(id)).map((n) => n.dedupe_key)).toEqual(expectedKeys(id, w.recipients));
  });

  it('with the sweeper on, a reminder’s job waits SWEEP_GRACE_MS past the due time as a fallback; the sweeper fires the timer on time and removes the job', async () => {
    const w = await holderWorld();
    const validTo = new Date(Date.now() + 20 * DAY);
    const duty = await insertDuty(w, validTo);
    const jobId = `test-grace-${duty.id}`;
    const workers = await pool.start({ config: { timerSweepMs: 50 } });
    const dueAt = new Date(Date.now() + 1_500);
    await t.db.transaction().execute((trx) => scheduleTimer(trx, reminderSpec(duty.id, w.community.id, validTo, jobId, dueAt)));
    const job = await waitFor('the delayed job', () => delayedJob(workers, jobId));
    expect(Math.abs(job.timestamp + job.delay - (dueAt.getTime() + SWEEP_GRACE_MS))).toBeLessThan(200);

    const fired = await waitFor('the timer to fire', async () => {
      const row = await timer(jobId);
      return row?.state === 'fired' && row;
    });
    // Fired by the sweeper, well before its job was due.
    expect(fired.fired_at!.getTime()).toBeGreaterThanOrEqual(dueAt.getTime());
    expect(fired.fired_at!.getTime()).toBeLessThan(dueAt.getTime() + SWEEP_GRACE_MS);
    await waitFor('the job to be removed', async () => (await workers.queue.getJob(jobId)) === undefined, 5_000);
    await sleep(SWEEP_GRACE_MS);
    expect((await notificationsOf(jobId)).map((n) => n.dedupe_key)).toEqual(expectedKeys(jobId, w.recipients));
  });

  it('one sweep fires every due batchable timer in batches of the configured size, each once (a stop asked after a batch leaves the rest); a second sweep finds nothing', async () => {
    const w = await holderWorld();
    const validTo = new Date(Date.now() + 20 * DAY);
    const duties = await Promise.all(Array.from({ length: 11 }, () => insertDuty(w, validTo)));
    const due = new Date(Date.now() - 1_000);
    const specs = duties.map((d, i) => reminderSpec(d.id, w.community.id, validTo, `test-sweep-${i}-${d.id}`, due));
    // Not relayed to Redis at all (pending): the sweep needs only PostgreSQL.
    await t.db.transaction().execute((trx) => scheduleTimers(trx, specs));
    const later = reminderSpec(duties[0]!.id, w.community.id, validTo, `test-sweep-later-${duties[0]!.id}`, new Date(Date.now() + 60_000));
    await t.db.transaction().execute((trx) => scheduleTimer(trx, later));
    const queues = await relayQueuesFor(`unused-${duties[0]!.id}`);
    const stats = { batches: 0, batchMs: 0, fired: 0, lagMs: 0 };
    try {
      const ctx: TimerJobContext = { db: t.db, logger: log.logger, timerHandlers: createTimerHandlers(), timerBatchHandlers: createTimerBatchHandlers(), firingMemo: new FiringMemo(), relayQueues: queues, fireBatch: 4 };
      // A stop asked after the first batch (a graceful shutdown) leaves the rest due.
      expect(await sweepDueTimers({ ...ctx, fireBatch: 3 }, 1, undefined, undefined, () => false)).toBe(3);
      expect(await sweepDueTimers(ctx, 2, stats)).toBe(8);
      // Two lanes: 4 + 4, then each lane's short batch (0) ends it; a lane that ended before the
      // other's full batch came back is started again by it (one more empty batch).
      expect(stats.batches).toBeGreaterThanOrEqual(4);
      expect(stats.batches).toBeLessThanOrEqual(5);
      expect(await sweepDueTimers(ctx, 2)).toBe(0);
    } finally {
      await queues.close();
    }
    for (const spec of specs) {
      expect((await timer(spec.jobId))?.state).toBe('fired');
      expect((await notificationsOf(spec.jobId)).map((n) => n.dedupe_key)).toEqual(expectedKeys(spec.jobId, w.recipients));
    }
    // Not due yet: left for later.
    expect((await timer(later.jobId))?.state).toBe('pending');
  });

  it('API writes never wait on Redis: with Redis unreachable they commit at once, and the relay catches up later', async () => {
    const dead = await createTestApp({ redisUrl: 'redis://127.0.0.1:6399' });
    const deadPool = new TestWorkers({ db: dead.db, databaseUrl: dead.testDb.url, config: { ...config(), databaseUrl: dead.testDb.url }, logger: log.logger });
    try {
      const admin = await makeUser(dead.db, { isPlatformAdmin: true });
      let started = Date.now();
      const res = await as(dead.app, admin.id)({ method: 'POST', url: '/api/v1/communities', payload: { name: '无Redis小区', district: 'TestDistrict' } });
      expect(res.statusCode).toBe(201);
      expect(Date.now() - started).toBeLessThan(1_500);

      // A state change that schedules a timer: a duty ending in 3 days (its reminder is due now).
      const community = res.json<{ id: string }>();
      const company = await makeOrg(dead.db, 'property_company');
      const manager = await makeUser(dead.db);
      await addMembership(dead.db, manager.id, company.id, 'manager');
      const validTo = new Date(Date.now() + 3 * DAY);
      started = Date.now();
      const assigned = await as(dead.app, admin.id)({
        method: 'POST',
        url: `/api/v1/communities/${community.id}/duties`,
        payload: { organizationId: company.id, basis: 'service_contract', validTo: validTo.toISOString() },
      });
      expect(assigned.statusCode).toBe(201);
      expect(Date.now() - started).toBeLessThan(1_500);
      const duty = assigned.json<{ id: string }>();
      const jobId = contractReminderJobId(duty.id, 7, validTo);
      expect((await getTimerByJobId(dead.db, jobId))?.state).toBe('pending');

      // An admin's retry of a dead email: committed at once, sent once Redis is back.
      const deadEmail = await dead.db
        .insertInto('notifications')
        .values({ dedupe_key: `test-dead-${duty.id}`, community_id: community.id, recipient_user_id: manager.id, recipient_email: manager.email, channel: 'email', template: 'message.plain', locale: 'zh-CN', subject: '测试', body_text: '正文', status: 'dead', attempts: 6, last_error: 'SMTP 550: no', enqueued_at: new Date() })
        .returningAll()
        .executeTakeFirstOrThrow();
      started = Date.now();
      const retry = await as(dead.app, admin.id)({ method: 'POST', url: `/api/v1/admin/notifications/${deadEmail.id}/retry` });
      expect(retry.statusCode).toBe(200);
      expect(retry.json()).toMatchObject({ retried: true, status: 'pending' });
      expect(Date.now() - started).toBeLessThan(1_500);

      // Workers that can reach Redis relay what was committed meanwhile.
      await deadPool.start();
      await waitFor('the timer to fire', async () => (await getTimerByJobId(dead.db, jobId))?.state === 'fired');
      await waitFor('the retried email to be sent', async () => {
        const row = await dead.db.selectFrom('notifications').select(['status', 'attempts']).where('id', '=', deadEmail.id).executeTakeFirst();
        return row?.status === 'sent' && row.attempts === 1;
      });
    } finally {
      await deadPool.cleanup();
      await dead.close();
    }
  });

  it('a relay stuck on an unresponsive Redis does not hold up domain writes on the same timers', async () => {
    const proxy = await FreezableProxy.start(TEST_REDIS_URL);
    try {
      const w = await holderWorld();
      const duty = await insertDuty(w, new Date(Date.now() + 3 * DAY));
      // The sweeper off: it would fire the overdue reminder from PostgreSQL before the PATCH
      // (as it should); this is about the relay holding it while Redis hangs.
      const workers = await pool.start({ redisUrl: proxy.url(TEST_REDIS_URL), config: { timerSweepMs: 0 } });
      const oldJobId = contractReminderJobId(duty.id, 7, duty.valid_to as Date);

      proxy.freeze();
      await t.db.transaction().execute((trx) => scheduleContractReminders(trx, dutyRef(duty)));
      workers.kickRelay();
      // The relay has picked the timer up and waits for Redis.
      await sleep(800);

      // The contract end moves (PATCH /duties/:id): the reminder is cancelled and replaced, in
      // the request's transaction, while the relay holds the old one.
      const admin = await makeUser(t.db, { isPlatformAdmin: true });
      const newValidTo = new Date(Date.now() + 2 * DAY);
      const started = Date.now();
      const write = as(t.app, admin.id)({ method: 'PATCH', url: `/api/v1/duties/${duty.id}`, payload: { validTo: newValidTo.toISOString() } });
      const outcome = await Promise.race([write.then(() => 'answered' as const), sleep(5_000).then(() => 'blocked' as const)]);
      proxy.thaw();
      expect((await write).statusCode).toBe(200);
      expect(outcome).toBe('answered');
      expect(Date.now() - started).toBeLessThan(1_500);

      // Once Redis answers, only the new reminder fires.
      const newJobId = contractReminderJobId(duty.id, 7, newValidTo);
      await waitFor('the new reminder to fire', async () => (await timer(newJobId))?.state === 'fired', 15_000);
      await sleep(500);
      expect((await timer(oldJobId))?.state).toBe('cancelled');
      expect(await notificationsOf(oldJobId)).toHaveLength(0);
      expect((await notificationsOf(newJobId)).map((n) => n.dedupe_key)).toEqual(expectedKeys(newJobId, w.recipients));
    } finally {
      proxy.thaw();
      await pool.closeAll();
      await proxy.close();
    }
  }, 30_000);
});

describe('timers fired in batches', () => {
  /** `n` reminders of one world, all due a second ago, committed (not relayed: the jobs are called directly). */
  async function dueReminders(n: number) {
    const w = await holderWorld();
    const specs: TimerSpec<'duty.contract-ending'>[] = [];
    for (let i = 0; i < n; i++) {
      const duty = await insertDuty(w, new Date(Date.now() + (3 + i) * DAY));
      specs.push(reminderSpec(duty.id, w.community.id, duty.valid_to as Date, contractReminderJobId(duty.id, 7, duty.valid_to as Date), new Date(Date.now() - 1_000)));
    }
    await t.db.transaction().execute((trx) => scheduleTimers(trx, specs));
    const rows = await t.db.selectFrom('timers').select(['id', 'job_id']).where('job_id', 'in', specs.map((s) => s.jobId)).execute();
    return { w, timers: specs.map((s) => rows.find((r) => r.job_id === s.jobId) as { id: string; job_id: string }) };
  }

  function batchCtx(logger = log.logger, overrides: Partial<TimerJobContext> = {}): TimerJobContext {
    return {
      db: t.db,
      logger,
      timerHandlers: createTimerHandlers(),
      timerBatchHandlers: createTimerBatchHandlers(),
      firingMemo: new FiringMemo(),
      relayQueues: { main: t.queue, email: t.queue, redis: t.redis },
      ...overrides,
    };
  }

  it('one job fires every due reminder in one transaction; the other jobs find theirs fired without firing again', async () => {
    const { w, timers } = await dueReminders(5);
    const capture = captureLogs('debug');
    const ctx = batchCtx(capture.logger);
    await handleTimerFire({ timerId: (timers[2] as { id: string }).id }, ctx);
    const rows = await t.db.selectFrom('timers').select(['state', 'fired_at']).where('id', 'in', timers.map((x) => x.id)).execute();
    expect(rows.map((r) => r.state)).toEqual(timers.map(() => 'fired'));
    // One claim: one firing time for all.
    expect(new Set(rows.map((r) => r.fired_at?.getTime())).size).toBe(1);
    for (const x of timers) expect((await notificationsOf(x.job_id)).map((n) => n.dedupe_key)).toEqual(expectedKeys(x.job_id, w.recipients));
    for (const x of timers) await handleTimerFire({ timerId: x.id }, ctx);
    // (Due timers left open by earlier tests may be swept up too: only these five are counted.)
    const ours = new Set(timers.map((x) => x.id));
    const outcomes = capture.entries.filter((e) => e.msg === 'timer' && ours.has(e.timerId as string)).map((e) => e.outcome);
    expect(outcomes.filter((o) => o === 'fired')).toHaveLength(5);
    // The four swept up learn it from the batch; the job that fired them asks PostgreSQL again.
    expect(outcomes.filter((o) => o === 'fired-by-batch')).toHaveLength(4);
    expect(outcomes.filter((o) => o === 'already-fired')).toHaveLength(1);
    for (const x of timers) expect(await notificationsOf(x.job_id)).toHaveLength(w.recipients.length * 2);
  });

  it('a timer whose handler fails fails only its own job: the others fire, alone and in later batches', async () => {
    const { timers } = await dueReminders(4);
    const poison = (timers[3] as { id: string }).id;
    const boom = <T extends { id: string }>(list: T[]) => {
      if (list.some((x) => x.id === poison)) throw new Error('handler failed');
    };
    const real = createTimerBatchHandlers();
    const ctx = batchCtx(log.logger, {
      timerBatchHandlers: {
        'duty.contract-ending': async (trx, list, logger) => {
          boom(list);
          await real['duty.contract-ending']?.(trx, list, logger);
        },
      },
      timerHandlers: {
        ...createTimerHandlers(),
        'duty.contract-ending': async (trx, timer, logger) => {
          boom([timer]);
          await real['duty.contract-ending']?.(trx, [timer], logger);
        },
      },
    });
    const state = async () => Object.fromEntries((await t.db.selectFrom('timers').select(['id', 'state']).where('id', 'in', timers.map((x) => x.id)).execute()).map((r) => [r.id, r.state]));
    // The batch (all four) fails; the job's own timer then fires alone.
    await handleTimerFire({ timerId: (timers[0] as { id: string }).id }, ctx);
    expect((await state())[(timers[0] as { id: string }).id]).toBe('fired');
    expect((await state())[(timers[1] as { id: string }).id]).not.toBe('fired');
    // The failed batch's timers are kept out of batches for a while: each fires through its own job.
    await handleTimerFire({ timerId: (timers[1] as { id: string }).id }, ctx);
    await handleTimerFire({ timerId: (timers[2] as { id: string }).id }, ctx);
    await expect(handleTimerFire({ timerId: poison }, ctx)).rejects.toThrow('handler failed');
    const after = await state();
    expect(timers.slice(0, 3).map((x) => after[x.id])).toEqual(['fired', 'fired', 'fired']);
    expect(after[poison]).not.toBe('fired');
    expect(await notificationsOf((timers[3] as { job_id: string }).job_id)).toHaveLength(0);
  });
});

describe('the relay’s wake-up (NOTIFY upkeep_outbox)', () => {
  it('comes on commit of a timer due within 60 s, not of a later one (the poll relays those; NOTIFY would serialise the commits)', async () => {
    const listener = new pg.Client({ connectionString: t.testDb.url });
    await listener.connect();
    const heard: string[] = [];
    listener.on('notification', (m) => heard.push(m.payload ?? ''));
    await listener.query('LISTEN upkeep_outbox');
    try {
      const w = await makeCommunity(t.db);
      const schedule = (jobId: string, dueAt: Date) =>
        t.db.transaction().execute((trx) => scheduleTimer(trx, reminderSpec(randomUUID(), w.id, new Date(Date.now() + 30 * 86_400_000), jobId, dueAt)));
      await schedule(`test-wake-later-${Date.now()}`, new Date(Date.now() + 10 * 60_000));
      await sleep(300);
      expect(heard).toEqual([]);
      await schedule(`test-wake-soon-${Date.now()}`, new Date(Date.now() + 20_000));
      await waitFor('the notification', () => heard.length > 0, 3_000);
      expect(heard).toEqual(['timers']);
    } finally {
      await listener.end();
    }
  });

  it('wakes the relay: a timer due soon is on BullMQ long before the next poll would run', async () => {
    const w = await holderWorld();
    const validTo = new Date(Date.now() + 20 * DAY);
    const duty = await insertDuty(w, validTo);
    // The poll at its longest: only the notification can relay it within the test's bound.
    const workers = await pool.start({ config: { relayPollMs: 60_000, timerSweepMs: 0 } });
    await sleep(500); // the start's own pass is over, the feed listens
    const jobId = `test-wake-relay-${duty.id}`;
    await t.db.transaction().execute((trx) => scheduleTimer(trx, reminderSpec(duty.id, w.community.id, validTo, jobId, new Date(Date.now() + 20_000))));
    await waitFor('the notified relay to enqueue the timer', async () => (await timer(jobId))?.state === 'enqueued', 3_000);
    expect(await delayedJob(workers, jobId)).toBeTruthy();
  });
});
