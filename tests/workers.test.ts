import { randomBytes } from 'node:crypto';
import { Redis } from 'ioredis';
import { sql, type Kysely } from 'kysely';
import pg from 'pg';
import { pino } from 'pino';
import { UnrecoverableError } from 'bullmq';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../src/config.js';
import { createDb, type Db } from '../src/db/index.js';
import { migrateToLatest } from '../src/db/migrator.js';
import { jobId } from '../src/jobs/jobs.js';
import { enqueue } from '../src/jobs/queue.js';
import { auditDay, verifyChainJobId } from '../src/modules/audit/audit.jobs.js';
import { recordAudit } from '../src/modules/audit/audit.service.js';
import { createHandlers, dispatch, type JobContext, type JobHandlers } from '../workers/registry.js';
import { startWorkers, type Workers } from '../workers/worker.js';

// Self-contained for now: real PostgreSQL (a fresh database) and real Redis (a unique prefix).
const ADMIN_URL = process.env.TEST_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres';
const REDIS_URL = process.env.TEST_REDIS_URL ?? 'redis://127.0.0.1:6379';
const suffix = randomBytes(4).toString('hex');
const DB_NAME = `upkeep_wk_${suffix}`;
const dbUrl = (() => {
  const u = new URL(ADMIN_URL);
  u.pathname = `/${DB_NAME}`;
  return u.toString();
})();

const config = loadConfig({ NODE_ENV: 'test', LOG_LEVEL: 'silent', WORKER_CONCURRENCY: '4' });
const logger = pino({ level: process.env.TEST_LOG_LEVEL ?? 'silent' });

let admin: Db;
let db: Db;
let communityA: string;
let communityB: string;
const started: Array<{ workers: Workers; prefix: string }> = [];

async function start(): Promise<Workers> {
  const prefix = `test-${randomBytes(4).toString('hex')}`;
  const workers = await startWorkers({ config, db, redisUrl: REDIS_URL, logger, prefix });
  started.push({ workers, prefix });
  return workers;
}

async function waitFor<T>(what: string, probe: () => Promise<T | undefined | false>, timeoutMs = 15_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value !== undefined && value !== false) return value;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

async function jobState(workers: Workers, id: string) {
  const job = await workers.queue.getJob(id);
  return job ? job.getState() : undefined;
}

function verifications() {
  return db.selectFrom('audit_verifications').selectAll().orderBy('id').execute();
}

beforeAll(async () => {
  admin = createDb(ADMIN_URL, { max: 1 });
  await sql`CREATE DATABASE ${sql.id(DB_NAME)}`.execute(admin);
  db = createDb(dbUrl, { max: 5 });
  await migrateToLatest(db as unknown as Kysely<unknown>);

  const communities = await db
    .insertInto('communities')
    .values([
      { name: 'Jade Garden', district: 'Xuhui' },
      { name: 'Riverside Court', district: 'Minhang' },
    ])
    .returning('id')
    .execute();
  [communityA, communityB] = communities.map((c) => c.id) as [string, string];

  const events: Array<[string | null, string]> = [
    [communityA, 'facility.create'],
    [communityA, 'facility.update'],
    [communityB, 'facility.create'],
    [null, 'organization.create'],
  ];
  for (const [communityId, action] of events) {
    await db.transaction().execute((trx) =>
      recordAudit(trx, { communityId, actorUserId: null, action, entityType: 'test', entityId: null, after: { action } }),
    );
  }
}, 60_000);

afterAll(async () => {
  const redis = new Redis(REDIS_URL, { maxRetriesPerRequest: 1 });
  try {
    for (const { workers, prefix } of started) {
      await workers.close();
      // Everything BullMQ wrote under this prefix: queue, jobs, schedulers, meta.
      let cursor = '0';
      do {
        const [next, keys] = await redis.scan(cursor, 'MATCH', `${prefix}:*`, 'COUNT', 1000);
        cursor = next;
        if (keys.length > 0) await redis.unlink(...keys);
      } while (cursor !== '0');
    }
  } finally {
    redis.disconnect();
    await db?.destroy();
    if (admin) {
      await sql`DROP DATABASE IF EXISTS ${sql.id(DB_NAME)} WITH (FORCE)`.execute(admin);
      await admin.destroy();
    }
  }
}, 60_000);

describe('workers', () => {
  it('verifies every audit chain nightly, once per chain and day', async () => {
    const workers = await start();
    const requestedAt = new Date().toISOString();
    const day = auditDay(new Date(requestedAt));
    expect(day).toMatch(/^\d{8}$/);

    await enqueue(workers.queue, 'audit.verify-all', { requestedAt }, { jobId: jobId('audit-verify-all', day, 'first') });
    const rows = await waitFor('one verification per chain', async () => {
      const r = await verifications();
      return r.length >= 3 && r;
    });

    // The platform chain (community null) and one chain per community.
    expect(rows).toHaveLength(3);
    const byChain = new Map(rows.map((r) => [r.community_id, r]));
    expect([...byChain.keys()].sort()).toEqual([communityA, communityB, null].sort());
    for (const r of rows) {
      expect(r.ok).toBe(true);
      expect(r.trigger).toBe('nightly');
      expect(r.first_broken_seq).toBeNull();
    }
    expect(byChain.get(communityA)?.events_checked).toBe(2);
    expect(byChain.get(communityB)?.events_checked).toBe(1);
    expect(byChain.get(null)?.events_checked).toBe(1);
    for (const communityId of [communityA, communityB, null]) {
      expect(await jobState(workers, verifyChainJobId(communityId, day))).toBe('completed');
    }

    // A second fan-out for the same day (a retry, a second replica's scheduler) adds nothing.
    const secondId = jobId('audit-verify-all', day, 'second');
    await enqueue(workers.queue, 'audit.verify-all', { requestedAt }, { jobId: secondId });
    await waitFor('the second fan-out to complete', async () => (await jobState(workers, secondId)) === 'completed');
    // Only the audit jobs: the reconcile and digest schedulers run their own jobs beside them.
    const auditJobs = (await workers.queue.getJobs(['waiting', 'active', 'delayed', 'completed', 'failed'])).filter((j) => j.name.startsWith('audit.') && !j.repeatJobKey);
    expect(auditJobs).toHaveLength(5); // 2 fan-outs + 3 chains
    for (const j of auditJobs) expect(await j.getState()).toBe('completed');
    await new Promise((r) => setTimeout(r, 300));
    expect(await verifications()).toHaveLength(3);

    // The schedulers are registered under their fixed ids, once each.
    const schedulers = await workers.queue.getJobSchedulers();
    expect(schedulers.map((s) => s.key).sort()).toEqual(['audit-verify-nightly', 'digest-tick', 'inspections-generate', 'timers-reconcile']);
  }, 30_000);

  it('close() lets a running job finish before it resolves', async () => {
    const workers = await start();
    const day = '20260101';
    const before = (await verifications()).length;

    // Hold back the job's INSERT into audit_verifications so it is still running at close().
    const blocker = new pg.Client({ connectionString: dbUrl });
    await blocker.connect();
    try {
      await blocker.query('BEGIN');
      await blocker.query('LOCK TABLE audit_verifications IN EXCLUSIVE MODE');

      const id = verifyChainJobId(communityA, day);
      await enqueue(workers.queue, 'audit.verify-chain', { communityId: communityA, day }, { jobId: id });
      await waitFor('the job to be running', async () => (await jobState(workers, id)) === 'active');
      await waitFor('the job to wait on the lock', async () => {
        // Asked outside the blocker's transaction: pg_stat_activity is a snapshot per transaction.
        const { rows } = await sql<{ n: number }>`
          SELECT count(*)::int AS n FROM pg_stat_activity
          WHERE datname = ${DB_NAME} AND wait_event_type = 'Lock' AND query ILIKE 'insert into "audit_verifications"%'`.execute(db);
        return (rows[0]?.n ?? 0) > 0;
      });

      let closed = false;
      const closing = workers.close().then(() => {
        closed = true;
      });
      await new Promise((r) => setTimeout(r, 500));
      expect(closed).toBe(false); // still waiting for the running job

      await blocker.query('COMMIT');
      await closing;
      expect(closed).toBe(true);

      const rows = await verifications();
      expect(rows).toHaveLength(before + 1);
      expect(rows.at(-1)).toMatchObject({ community_id: communityA, ok: true, trigger: 'nightly', events_checked: 2 });
    } finally {
      await blocker.query('ROLLBACK').catch(() => {});
      await blocker.end();
    }

    // The job finished (not handed back): read its state through a fresh connection.
    const redis = new Redis(REDIS_URL, { maxRetriesPerRequest: 1 });
    try {
      const prefix = started.at(-1)?.prefix;
      const finishedOn = await redis.hget(`${prefix}:upkeep:${verifyChainJobId(communityA, day)}`, 'finishedOn');
      expect(finishedOn).not.toBeNull();
    } finally {
      redis.disconnect();
    }
  }, 30_000);

  it('skips a chain whose community no longer exists', async () => {
    const workers = await start();
    const before = (await verifications()).length;
    const missing = '00000000-0000-4000-8000-000000000000';
    const id = verifyChainJobId(missing, '20260102');
    await enqueue(workers.queue, 'audit.verify-chain', { communityId: missing, day: '20260102' }, { jobId: id });
    await waitFor('the job to complete', async () => (await jobState(workers, id)) === 'completed');
    expect(await verifications()).toHaveLength(before);
  }, 30_000);

  it('has a handler for every job, and fails unknown jobs without retries', async () => {
    const handlers = createHandlers();
    // @ts-expect-error a registry missing a job's handler does not compile
    const incomplete: JobHandlers = { 'audit.verify-all': handlers['audit.verify-all'] };
    void incomplete;
    expect(Object.keys(handlers).sort()).toEqual(['audit.verify-all', 'audit.verify-chain', 'digest.community', 'digest.tick', 'inspections.generate', 'notification.send', 'timer.fire', 'timers.reconcile']);

    const workers = started[0]?.workers ?? (await start());
    const ctx = { db, queue: workers.queue, logger, job: { id: 'x', name: 'audit.nope', attemptsMade: 0 } } as unknown as JobContext;
    await expect(dispatch(handlers, { name: 'audit.nope', data: {} }, ctx)).rejects.toBeInstanceOf(UnrecoverableError);
  });
});
