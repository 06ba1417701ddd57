import cluster from 'node:cluster';
import { randomBytes } from 'node:crypto';
import net from 'node:net';
import os from 'node:os';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import { Queue, Worker } from 'bullmq';
import { sql } from 'kysely';
import { pino } from 'pino';
import { SMTPServer } from 'smtp-server';
import { buildApp } from '../src/app.js';
import { loadConfig } from '../src/config.js';
import { createDb } from '../src/db/index.js';
import { EMAIL_QUEUE_NAME } from '../src/jobs/jobs.js';
import { createQueue } from '../src/jobs/queue.js';
import { createRedis } from '../src/lib/redis.js';
import { notificationJobId } from '../src/modules/timers/relay.js';
import { startWorkers } from '../workers/worker.js';
import { BENCH_REDIS_URL, fmt, managedCommunity, mib, scratchApp, type Benchmark } from './scratch.js';
import { envInt } from './child.js';
import { assertClean, databaseUrlOf, drive, forkSelf, loadAverage, ms1, runAsChild, type Load } from './load.js';

/**
 * The scaling curve of docs/SCALING.md (issue 7): on this machine, how throughput grows with
 * 1, 2 and 4 processes.
 *  - API: the app (buildApp, every plugin) in N node:cluster workers sharing ONE port (the
 *    cluster primary accepts and hands connections round-robin), each with its own PostgreSQL pool
 *    (8) and Redis connection, like N stateless replicas behind a balancer. autocannon in this
 *    process drives GET /api/v1/tickets (one community's first page, as its manager) and then
 *    POST /api/v1/tickets (managers of BENCH_SCALING_COMMUNITIES communities in turn) with
 *    BENCH_SCALING_CONNECTIONS connections, BENCH_SCALING_REQUESTS requests per point after a warm-up.
 *  - Queue: N worker processes consuming one queue. (a) a no-op job: BENCH_SCALING_JOBS jobs added
 *    while the queue is paused, the workers started (concurrency BENCH_SCALING_CONCURRENCY each),
 *    then resumed: jobs/s until the queue is empty; (b) Upkeep's own email job (notification.send):
 *    BENCH_SCALING_EMAILS pending email notifications in PostgreSQL and their jobs on the email queue,
 *    N processes each running Upkeep's startWorkers (claim the row, send over SMTP, mark it sent)
 *    with the email rate limit raised out of the way, into an SMTP sink in this process; emails/s
 *    until every row is sent. The BullMQ prefix is hash-tagged (`{…}`), as it must be on Redis
 *    Cluster.
 * Everything (PostgreSQL, Redis, the load generator, the sink) shares the machine's CPUs with the
 * processes being measured: that is the point of the curve, and why it flattens.
 */

const API_PROCESSES = [1, 2, 4];
const WORKER_PROCESSES = [1, 2, 4];
const REQUESTS = envInt('BENCH_SCALING_REQUESTS', 1_500);
const CONNECTIONS = envInt('BENCH_SCALING_CONNECTIONS', 16);
const COMMUNITIES = envInt('BENCH_SCALING_COMMUNITIES', 20);
const TICKETS_PER_COMMUNITY = envInt('BENCH_SCALING_TICKETS', 1_000);
const JOBS = envInt('BENCH_SCALING_JOBS', 20_000);
const EMAILS = envInt('BENCH_SCALING_EMAILS', 1_500);
const CONCURRENCY = envInt('BENCH_SCALING_CONCURRENCY', 10);
const WARMUP = 300;
const POOL = 8;

type ChildSpec =
  | { role: 'api'; processes: number; databaseUrl: string; prefix: string }
  | { role: 'noop'; prefix: string }
  | { role: 'email'; databaseUrl: string; prefix: string; smtpUrl: string };
type ToChild = { type: 'stats' } | { type: 'close' };
type FromChild = { type: 'ready'; port?: number } | { type: 'stats'; rss: number; cpuMs: number };

const CHILD_ENV = 'UPKEEP_BENCH_SCALING_CHILD';
const SELF = fileURLToPath(import.meta.url);
const NOOP_QUEUE = 'bench-noop';

/* ------------------------------------------------------------------------------------------- */
/* Children                                                                                      */

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const address = srv.address();
      srv.close(() => (address && typeof address !== 'string' ? resolve(address.port) : reject(new Error('no port'))));
    });
  });
}

/** One cluster worker: the whole app on the shared port. */
async function apiWorker(spec: Extract<ChildSpec, { role: 'api' }>, port: number): Promise<void> {
  const db = createDb(spec.databaseUrl, { max: POOL });
  const redis = createRedis(BENCH_REDIS_URL, 'producer');
  const queue = createQueue(redis, spec.prefix);
  const emailQueue = createQueue(redis, spec.prefix, EMAIL_QUEUE_NAME);
  const config = { ...loadConfig({ NODE_ENV: 'test', LOG_LEVEL: 'silent' }), databaseUrl: spec.databaseUrl, redisUrl: BENCH_REDIS_URL, queuePrefix: spec.prefix };
  const app = await buildApp({ config, db, redis, queue, emailQueue, databaseUrl: spec.databaseUrl }, { logger: false });
  await app.listen({ host: '127.0.0.1', port });
  process.on('message', (m: { type: string }) => {
    if (m.type === 'stats') {
      const cpu = process.cpuUsage();
      process.send?.({ type: 'stats', rss: process.memoryUsage().rss, cpuMs: (cpu.user + cpu.system) / 1000 });
    } else if (m.type === 'close') {
      void (async () => {
        await app.close().catch(() => {});
        await queue.close().catch(() => {});
        await emailQueue.close().catch(() => {});
        redis.disconnect();
        await db.destroy().catch(() => {});
        process.exit(0);
      })();
    }
  });
  process.send?.({ type: 'ready' });
}

/** The cluster primary: forks the workers, answers for all of them (RSS and CPU summed). */
async function apiPrimary(spec: Extract<ChildSpec, { role: 'api' }>): Promise<void> {
  const port = await freePort();
  cluster.setupPrimary({ exec: SELF, execArgv: process.execArgv });
  const workers = Array.from({ length: spec.processes }, () => cluster.fork({ [CHILD_ENV]: JSON.stringify(spec), UPKEEP_BENCH_SCALING_PORT: String(port) }));
  await Promise.all(workers.map((w) => new Promise<void>((resolve, reject) => {
    w.on('message', (m: { type: string }) => m.type === 'ready' && resolve());
    w.once('exit', (code) => reject(new Error(`API worker exited (${code})`)));
  })));
  process.on('message', (m: ToChild) => {
    if (m.type === 'stats') {
      void Promise.all(
        workers.map((w) => new Promise<{ rss: number; cpuMs: number }>((resolve) => {
          const on = (x: { type: string; rss: number; cpuMs: number }) => {
            if (x.type !== 'stats') return;
            w.off('message', on);
            resolve(x);
          };
          w.on('message', on);
          w.send({ type: 'stats' });
        })),
      ).then((all) => process.send?.({ type: 'stats', rss: all.reduce((a, x) => a + x.rss, 0), cpuMs: all.reduce((a, x) => a + x.cpuMs, 0) } satisfies FromChild));
    } else if (m.type === 'close') {
      void Promise.all(workers.map((w) => new Promise<void>((resolve) => {
        w.once('exit', () => resolve());
        w.send({ type: 'close' });
      }))).then(() => process.exit(0));
    }
  });
  process.send?.({ type: 'ready', port } satisfies FromChild);
}

async function queueWorker(spec: Exclude<ChildSpec, { role: 'api' }>): Promise<void> {
  let close: () => Promise<void>;
  if (spec.role === 'noop') {
    const connection = createRedis(BENCH_REDIS_URL, 'worker');
    // A no-op processor: what remains is BullMQ's own work (fetch, lock, complete) per job.
    const worker = new Worker(NOOP_QUEUE, async () => {}, { connection, prefix: spec.prefix, concurrency: CONCURRENCY });
    worker.on('error', () => {});
    await worker.waitUntilReady();
    close = async () => {
      await worker.close();
      connection.disconnect();
    };
  } else {
    const db = createDb(spec.databaseUrl, { max: POOL });
    const config = {
      ...loadConfig({ NODE_ENV: 'test', LOG_LEVEL: 'silent' }),
      databaseUrl: spec.databaseUrl,
      redisUrl: BENCH_REDIS_URL,
      queuePrefix: spec.prefix,
      smtpUrl: spec.smtpUrl,
      workerConcurrency: CONCURRENCY,
      // Out of the way: the curve is about processes, not the configured SMTP rate.
      emailRatePerSecond: 10_000,
    };
    const workers = await startWorkers({ config, db, redisUrl: BENCH_REDIS_URL, logger: pino({ level: 'silent' }), prefix: spec.prefix });
    await workers.emailWorker?.waitUntilReady();
    close = async () => {
      await workers.close();
      await db.destroy().catch(() => {});
    };
  }
  process.on('message', (m: ToChild) => {
    if (m.type === 'stats') {
      const cpu = process.cpuUsage();
      process.send?.({ type: 'stats', rss: process.memoryUsage().rss, cpuMs: (cpu.user + cpu.system) / 1000 } satisfies FromChild);
    } else if (m.type === 'close') void close().then(() => process.exit(0));
  });
  process.send?.({ type: 'ready' } satisfies FromChild);
}

interface Handle {
  port?: number;
  stats(): Promise<{ rss: number; cpuMs: number }>;
  close(): Promise<void>;
}

async function start(spec: ChildSpec): Promise<Handle> {
  const link = forkSelf<FromChild, ToChild>(SELF, CHILD_ENV, spec, `the ${spec.role} child`, 15_000);
  const ready = await link.next('ready');
  return {
    port: ready.port,
    async stats() {
      const s = await link.ask({ type: 'stats' }, 'stats');
      return { rss: s.rss, cpuMs: s.cpuMs };
    },
    close: link.close,
  };
}

/* ------------------------------------------------------------------------------------------- */
/* The run                                                                                       */

async function until(check: () => Promise<boolean>, timeoutMs: number, what: string): Promise<number> {
  const t0 = performance.now();
  for (;;) {
    if (await check()) return performance.now();
    if (performance.now() - t0 > timeoutMs) throw new Error(`${what}: not done after ${timeoutMs / 1000} s`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

export const scaling: Benchmark = {
  id: 'scaling',
  title: 'Scaling on this machine: 1, 2, 4 API processes and 1, 2, 4 worker processes',
  async run(log) {
    const loadBefore = loadAverage();
    const s = await scratchApp();
    const databaseUrl = databaseUrlOf(s.dbName);
    // Hash-tagged: every key of these queues lands in one Redis Cluster slot, as BullMQ's Lua scripts need.
    const prefix = `{bench-${randomBytes(4).toString('hex')}}`;
    const children: Handle[] = [];
    const sink = new SMTPServer({
      authOptional: true,
      disabledCommands: ['STARTTLS', 'AUTH'],
      logger: false,
      onData(stream, _session, callback) {
        stream.on('data', () => {});
        stream.on('end', () => {
          received++;
          callback();
        });
      },
    });
    let received = 0;
    try {
      /* Data: communities with a manager each, and their tickets (SQL). */
      const managers: Array<{ communityId: string; token: string }> = [];
      for (let i = 0; i < COMMUNITIES; i++) {
        const m = await managedCommunity(s, `scaling-${i}`);
        managers.push({ communityId: m.communityId, token: m.token });
      }
      await sql`
        INSERT INTO tickets (community_id, kind, channel, category, priority, title, description, reporter_name, is_public, opened_at, created_at, updated_at)
        SELECT c.id, 'fault', 'staff', 'camera', 'P3', '摄像头离线' || g, '巡检时发现，需安排检修', '巡检员', true,
               now() - g * interval '1 minute', now() - g * interval '1 minute', now() - g * interval '1 minute'
        FROM communities c CROSS JOIN generate_series(1, ${TICKETS_PER_COMMUNITY}::int) AS g`.execute(s.db);
      await sql`ANALYZE`.execute(s.db);
      const first = managers[0];
      if (!first) throw new Error('no community');

      /* API */
      interface ApiPoint {
        processes: number;
        route: 'list' | 'create';
        r: Load;
        rss: number;
        cpuMs: number;
      }
      const api: ApiPoint[] = [];
      let createI = 0;
      const builders = {
        list: () => ({ method: 'GET' as const, path: `/api/v1/tickets?communityId=${first.communityId}&limit=50`, headers: { authorization: `Bearer ${first.token}` } }),
        create: () => {
          const i = createI++;
          const m = managers[i % managers.length] as (typeof managers)[number];
          return {
            method: 'POST' as const,
            path: '/api/v1/tickets',
            headers: { authorization: `Bearer ${m.token}` },
            body: JSON.stringify({ communityId: m.communityId, title: `${(i % 28) + 1}号楼电梯异响（扩展测试 ${i}）`, description: '业主反映，请物业跟进', category: 'elevator', priority: 'P3' }),
          };
        },
      };
      for (const n of API_PROCESSES) {
        const h = await start({ role: 'api', processes: n, databaseUrl, prefix });
        children.push(h);
        const url = `http://127.0.0.1:${h.port}`;
        for (const route of ['list', 'create'] as const) {
          const expect = route === 'list' ? 200 : 201;
          await drive({ url, amount: WARMUP, connections: CONNECTIONS, expect, build: builders[route] });
          const before = await h.stats();
          const r = await drive({ url, amount: REQUESTS, connections: CONNECTIONS, expect, build: builders[route] });
          assertClean(r, `api ×${n} ${route}`);
          const after = await h.stats();
          api.push({ processes: n, route, r, rss: after.rss, cpuMs: after.cpuMs - before.cpuMs });
          log(`scaling: API ×${n} ${route}: ${fmt(r.rps)} req/s, p50 ${ms1(r.p50)} ms, p99 ${ms1(r.p99)} ms, RSS ${mib(after.rss)} in all`);
        }
        await h.close();
        children.pop();
      }

      /* Queues */
      await new Promise<void>((resolve) => sink.listen(0, '127.0.0.1', resolve));
      const sinkAddress = sink.server.address();
      if (!sinkAddress || typeof sinkAddress === 'string') throw new Error('no sink port');
      const smtpUrl = `smtp://127.0.0.1:${sinkAddress.port}`;
      const connection = createRedis(BENCH_REDIS_URL, 'producer');
      const noopQueue = new Queue(NOOP_QUEUE, { connection, prefix, defaultJobOptions: { removeOnComplete: true, removeOnFail: true } });
      const emailQueue = createQueue(connection, prefix, EMAIL_QUEUE_NAME, { removeOnComplete: true, removeOnFail: true });
      noopQueue.on('error', () => {});
      interface QueuePoint {
        processes: number;
        job: 'noop' | 'email';
        jobs: number;
        seconds: number;
        rate: number;
        rss: number;
        cpuMs: number;
      }
      const queues: QueuePoint[] = [];
      const recipient = await s.db.selectFrom('users').select(['id', 'email']).executeTakeFirstOrThrow();
      try {
        for (const n of WORKER_PROCESSES) {
          // (a) no-op jobs
          await noopQueue.pause();
          for (let i = 0; i < JOBS; i += 1_000) {
            await noopQueue.addBulk(Array.from({ length: Math.min(1_000, JOBS - i) }, (_, j) => ({ name: 'noop', data: { i: i + j } })));
          }
          const noopWorkers: Handle[] = [];
          for (let k = 0; k < n; k++) noopWorkers.push(await start({ role: 'noop', prefix }));
          children.push(...noopWorkers);
          const c0 = await Promise.all(noopWorkers.map((w) => w.stats()));
          let t0 = performance.now();
          await noopQueue.resume();
          let t1 = await until(async () => {
            const c = await noopQueue.getJobCounts('waiting', 'active', 'prioritized');
            return (c.waiting ?? 0) + (c.active ?? 0) + (c.prioritized ?? 0) === 0;
          }, 600_000, 'no-op jobs');
          let st = await Promise.all(noopWorkers.map((w) => w.stats()));
          queues.push({ processes: n, job: 'noop', jobs: JOBS, seconds: (t1 - t0) / 1000, rate: JOBS / ((t1 - t0) / 1000), rss: st.reduce((a, x) => a + x.rss, 0), cpuMs: st.reduce((a, x, i) => a + x.cpuMs - (c0[i]?.cpuMs ?? 0), 0) });
          log(`scaling: ${n} worker process(es), no-op: ${fmt(JOBS / ((t1 - t0) / 1000))} jobs/s`);
          for (const w of noopWorkers) await w.close();
          children.length = 0;

          // (b) Upkeep's email job, into the sink
          await emailQueue.pause();
          const ids = await sql<{ id: string }>`
            INSERT INTO notifications (dedupe_key, recipient_user_id, recipient_email, channel, template, locale, payload, subject, body_text, status, enqueued_at)
            SELECT 'bench-scaling-' || ${n}::int || '-' || g, ${recipient.id}::uuid, ${recipient.email}, 'email', 'bench', 'zh-CN', '{}'::jsonb,
                   '工单提醒 ' || g, '您有一张工单需要处理（扩展测试 ' || g || '）', 'pending', now()
            FROM generate_series(1, ${EMAILS}::int) AS g RETURNING id`.execute(s.db);
          for (let i = 0; i < ids.rows.length; i += 1_000) {
            await emailQueue.addBulk(ids.rows.slice(i, i + 1_000).map((r) => ({ name: 'notification.send', data: { notificationId: r.id }, opts: { jobId: notificationJobId(r.id) } })));
          }
          const emailWorkers: Handle[] = [];
          for (let k = 0; k < n; k++) emailWorkers.push(await start({ role: 'email', databaseUrl, prefix, smtpUrl }));
          children.push(...emailWorkers);
          const e0 = await Promise.all(emailWorkers.map((w) => w.stats()));
          const sinkBefore = received;
          t0 = performance.now();
          await emailQueue.resume();
          const sent = async () =>
            Number((await sql<{ n: number }>`SELECT count(*)::int AS n FROM notifications WHERE status = 'sent' AND dedupe_key LIKE ${`bench-scaling-${n}-%`}`.execute(s.db)).rows[0]?.n);
          t1 = await until(async () => received - sinkBefore >= EMAILS && (await sent()) === EMAILS, 600_000, 'emails');
          if (received - sinkBefore !== EMAILS) throw new Error(`${received - sinkBefore} messages in the sink for ${EMAILS} emails`);
          st = await Promise.all(emailWorkers.map((w) => w.stats()));
          queues.push({ processes: n, job: 'email', jobs: EMAILS, seconds: (t1 - t0) / 1000, rate: EMAILS / ((t1 - t0) / 1000), rss: st.reduce((a, x) => a + x.rss, 0), cpuMs: st.reduce((a, x, i) => a + x.cpuMs - (e0[i]?.cpuMs ?? 0), 0) });
          log(`scaling: ${n} worker process(es), notification.send: ${fmt(EMAILS / ((t1 - t0) / 1000))} emails/s`);
          for (const w of emailWorkers) await w.close();
          children.length = 0;
        }
      } finally {
        await noopQueue.obliterate({ force: true }).catch(() => {});
        await emailQueue.obliterate({ force: true }).catch(() => {});
        await noopQueue.close().catch(() => {});
        await emailQueue.close().catch(() => {});
        // The main queue the email workers' schedulers registered jobs on.
        const main = createQueue(connection, prefix);
        await main.obliterate({ force: true }).catch(() => {});
        await main.close().catch(() => {});
        connection.disconnect();
      }
      const loadAfter = loadAverage();

      /* Report */
      const base = (route: string, n: number, f: (p: ApiPoint) => number) => {
        const one = api.find((p) => p.route === route && p.processes === 1);
        const p = api.find((x) => x.route === route && x.processes === n);
        return one && p ? f(p) / f(one) : NaN;
      };
      const qbase = (job: string, n: number) => {
        const one = queues.find((p) => p.job === job && p.processes === 1);
        const p = queues.find((x) => x.job === job && x.processes === n);
        return one && p ? p.rate / one.rate : NaN;
      };
      const markdown = [
        `API: the app in N \`node:cluster\` workers sharing one port (the primary hands connections out round-robin), each with its own PostgreSQL pool (${POOL}) and Redis connection; ` +
          `autocannon in the bench process, ${CONNECTIONS} keep-alive connections, ${fmt(REQUESTS)} requests per point after ${WARMUP} of warm-up. ` +
          `List: \`GET /api/v1/tickets?communityId=…&limit=50\` (a community of ${fmt(TICKETS_PER_COMMUNITY)} tickets, as its manager). Create: \`POST /api/v1/tickets\` by the managers of ${COMMUNITIES} communities in turn. ` +
          `Queues: N worker processes on one queue, the jobs added while it was paused, timed from resume to empty. No-op: ${fmt(JOBS)} jobs, a BullMQ \`Worker\` with an empty processor, concurrency ${CONCURRENCY} per process. ` +
          `Email: ${fmt(EMAILS)} pending email notifications and their \`notification.send\` jobs; each process runs Upkeep's \`startWorkers\` (email concurrency ${Math.min(CONCURRENCY * 2, 20)}, rate limit raised to 10,000/s), ` +
          `which claims the row, sends through nodemailer to an SMTP sink in the bench process and marks the row sent; done when every row is \`sent\` and the sink has every message. ` +
          `BullMQ prefix hash-tagged (\`{bench-…}\`). ${os.cpus().length} logical CPUs shared by PostgreSQL, Redis, the load generator, the sink and the processes measured; ` +
          `load average ${loadBefore} before, ${loadAfter} after. ` +
          'Sizes: `BENCH_SCALING_REQUESTS`, `BENCH_SCALING_CONNECTIONS`, `BENCH_SCALING_JOBS`, `BENCH_SCALING_EMAILS`, `BENCH_SCALING_CONCURRENCY`, `BENCH_SCALING_COMMUNITIES`, `BENCH_SCALING_TICKETS`.',
        '',
        '### API processes',
        '',
        '| route | processes | req/s | × one process | p50 ms | p99 ms | RSS of all processes | server CPU per request |',
        '|---|---:|---:|---:|---:|---:|---:|---:|',
        ...api.map(
          (p) =>
            `| ${p.route === 'list' ? 'GET /api/v1/tickets (list)' : 'POST /api/v1/tickets (create)'} | ${p.processes} | **${fmt(p.r.rps)}** | ${fmt(base(p.route, p.processes, (x) => x.r.rps), 2)} | ${ms1(p.r.p50)} | ${ms1(p.r.p99)} | ${mib(p.rss)} | ${ms1(p.cpuMs / p.r.requests)} ms |`,
        ),
        '',
        '### Worker processes',
        '',
        '| job | processes | jobs | seconds | jobs/s | × one process | RSS of all processes | worker CPU per job |',
        '|---|---:|---:|---:|---:|---:|---:|---:|',
        ...queues.map(
          (p) =>
            `| ${p.job === 'noop' ? 'no-op (BullMQ only)' : 'notification.send (Upkeep, into an SMTP sink)'} | ${p.processes} | ${fmt(p.jobs)} | ${fmt(p.seconds, 1)} | **${fmt(p.rate)}** | ${fmt(qbase(p.job, p.processes), 2)} | ${mib(p.rss)} | ${ms1(p.cpuMs / p.jobs)} ms |`,
        ),
      ].join('\n');
      return { markdown };
    } finally {
      for (const c of children) await c.close().catch(() => {});
      await new Promise<void>((resolve) => sink.close(() => resolve()));
      await s.close();
      log(`scaling: dropped ${s.dbName}`);
    }
  },
};

// Started as a child by start(), or as a cluster worker of the API child.
runAsChild<ChildSpec>(CHILD_ENV, import.meta.url, (spec) =>
  spec.role === 'api' ? (cluster.isPrimary ? apiPrimary(spec) : apiWorker(spec, Number(process.env.UPKEEP_BENCH_SCALING_PORT))) : queueWorker(spec),
);
