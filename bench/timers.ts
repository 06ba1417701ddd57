import { fork, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import os from 'node:os';
import { performance } from 'node:perf_hooks';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { Queue, Worker } from 'bullmq';
import { sql } from 'kysely';
import pg from 'pg';
import { pino } from 'pino';
import { SMTPServer } from 'smtp-server';
import { loadConfig, type Config } from '../src/config.js';
import { createDb, type Db } from '../src/db/index.js';
import { createRedis } from '../src/lib/redis.js';
import { contractReminderJobId } from '../src/modules/duties/duties.timers.js';
import { messageIdFor, SmtpChannel } from '../src/modules/notifications/channels.js';
import { render } from '../src/modules/notifications/templates.js';
import { scheduleTimers, type TimerSpec } from '../src/modules/timers/timers.service.js';
import { emailJobsAtOnce, startWorkers, type Workers } from '../workers/worker.js';
import { DEFAULT_FIRE_BATCH } from '../src/modules/timers/timers.jobs.js';
import { SWEEP_GRACE_MS } from '../src/modules/timers/relay.js';
import { BENCH_DATABASE_URL, BENCH_REDIS_URL, fmt, mib, scratchApp, type Benchmark } from './scratch.js';
import { closeChild, envInt, nextMessage } from './child.js';

/**
 * The reminder engine at scale (issue 3's benchmark), in one run on the same PostgreSQL and Redis:
 *  1. raw BullMQ: BENCH_RAW_JOBS (default BENCH_TIMERS) no-op jobs added with addBulk (batches of
 *     1,000) to a scratch queue and processed by a Worker with Upkeep's worker concurrency; jobs/s
 *     from the first add to the last completion; run before and after Upkeep's scenarios;
 *  2. Upkeep end to end: a scratch database with BENCH_TIMER_COMMUNITIES (1,000) communities, each
 *     with a property company holding a duty whose manager has an email address; BENCH_TIMERS
 *     (100,000) timers of kind 'duty.contract-ending' scheduled through the timers service
 *     (scheduleTimers, in transactions of 2,000) while the workers already run (startWorkers, in
 *     this process, as in production: relay woken by LISTEN, rate-limited email worker, SMTP via
 *     nodemailer from SMTP_URL), due evenly over BENCH_TIMERS_WINDOW_MS (60 s) starting about 10 s
 *     after the scheduling finished. Each firing runs the real handler (re-reads the duty,
 *     resolves the holder's managers and the committee, writes an in-app and an email
 *     notification), the relay hands the email to the email queue, and the email worker claims,
 *     sends and marks it. The SMTP sink is an smtp-server in a child process on loopback (so that
 *     parsing messages does not share the workers' event loop; it does share the machine's CPUs);
 *  3. Upkeep at capacity: BENCH_TIMERS_BURST (20,000) more timers all due at one instant, to
 *     measure what the pipeline carries per second (the even spread caps scenario 2's rate at
 *     BENCH_TIMERS / 60 s by construction).
 * Also recorded: where the CPU went (this process, the PostgreSQL backends, Redis, the sink, the
 * machine) and the SQL statements sent per notification. Other knobs: WORKER_CONCURRENCY,
 * BENCH_PG_POOL (the workers' pool, default DATABASE_POOL_MAX's default as src/bootstrap makes it), BENCH_LOG_LEVEL (info),
 * BENCH_TIMERS_DRAIN_TIMEOUT_MS / BENCH_TIMERS_BURST_DRAIN_TIMEOUT_MS (how long to wait for the
 * last emails; what is missing then counts as a lower bound).
 */


const TIMERS = envInt('BENCH_TIMERS', 100_000);
const COMMUNITIES = envInt('BENCH_TIMER_COMMUNITIES', 1_000);
const WINDOW_MS = envInt('BENCH_TIMERS_WINDOW_MS', 60_000);
const BURST = envInt('BENCH_TIMERS_BURST', 20_000, 0);
const RAW_JOBS = envInt('BENCH_RAW_JOBS', TIMERS);
/** Messages sent through SmtpChannel alone, for what SMTP by itself costs. */
const SMTP_ALONE = envInt('BENCH_SMTP_ALONE', 10_000);
/** The workers' PostgreSQL pool (src/db createDb's default is 10). */
/** As src/bootstrap/start.ts sizes the pool: DATABASE_POOL_MAX (its default unless BENCH_PG_POOL says otherwise). */
const PRODUCTION_POOL = loadConfig({ NODE_ENV: 'development' }).databasePoolMax;
const PG_POOL = envInt('BENCH_PG_POOL', PRODUCTION_POOL);
/** The first timer is due this long after the last scheduling transaction committed (about). */
const LEAD_MS = 10_000;
const SCHEDULE_BATCH = 2_000;
const ADD_BATCH = 1_000;
/** Generous: the run reports what it got rather than hang. */
const DRAIN_TIMEOUT_MS = envInt('BENCH_TIMERS_DRAIN_TIMEOUT_MS', 90_000);
const BURST_DRAIN_TIMEOUT_MS = envInt('BENCH_TIMERS_BURST_DRAIN_TIMEOUT_MS', 45_000);
/**
 * `one`: one worker process consumes both queues (WORKER_QUEUES=all, what `npm start` runs);
 * `split`: the timers' process (WORKER_QUEUES=main) and an email process (WORKER_QUEUES=email),
 * as docker-compose.yml deploys them.
 */
/**
 * BENCH_TIMERS_WORKERS: `split` (default) as docker-compose.yml deploys them, timers in one
 * process and emails in another with a lower CPU weight; `one`, everything in one process as
 * `npm start` runs it.
 */
const WORKER_LAYOUT = (process.env.BENCH_TIMERS_WORKERS ?? 'split') as 'one' | 'split';
if (WORKER_LAYOUT !== 'one' && WORKER_LAYOUT !== 'split') throw new Error('BENCH_TIMERS_WORKERS must be one or split');
/** The split layout's email process runs at this nice level (BENCH_TIMERS_EMAIL_NICE; 0: as the rest), as docker-compose's cpu_shares 128. */
const EMAIL_NICE = envInt('BENCH_TIMERS_EMAIL_NICE', 10, 0);
/** Where the workers' logs go (BENCH_TIMERS_LOG_FILE): dropped by default, their cost still paid. */
const LOG_FILE = process.env.BENCH_TIMERS_LOG_FILE ?? '/dev/null';
const EMAIL_RATE = 10_000; // the config's ceiling: far above what this machine sends, so never the limit
const P99_TARGET_MS = 1_000;
const RATIO_TARGET = 0.5;

/* ----------------------------------------- SMTP sink ---------------------------------------- */

const SINK_ENV = 'UPKEEP_BENCH_TIMERS_SINK';
const SELF = fileURLToPath(import.meta.url);

type ToSink = { type: 'stats' } | { type: 'dump' } | { type: 'close' };
type FromSink =
  | { type: 'ready'; port: number }
  | { type: 'stats'; messages: number; unique: number; first: number | null; last: number | null; cpuMicros: number }
  | { type: 'dump'; received: Array<[string, number]> };

/** Child process: accepts every message, remembers its Message-ID and when it arrived (epoch ms). */
async function serveSink(): Promise<void> {
  const send = (m: FromSink) => process.send?.(m);
  const received: Array<[string, number]> = [];
  const ids = new Set<string>();
  const server = new SMTPServer({
    secure: false,
    authOptional: true,
    disabledCommands: ['STARTTLS', 'AUTH'],
    logger: false,
    closeTimeout: 100,
    maxClients: 1_000,
    // A sink: no DNS lookups per connection.
    disableReverseLookup: true,
    onData(stream, _session, callback) {
      const chunks: Buffer[] = [];
      stream.on('data', (c: Buffer) => chunks.push(c));
      stream.on('end', () => {
        const raw = Buffer.concat(chunks).toString('latin1');
        const head = raw.slice(0, Math.max(0, raw.search(/\r?\n\r?\n/)));
        const id = /^message-id:\s*(\S+)/im.exec(head)?.[1] ?? `(none ${received.length})`;
        received.push([id, Date.now()]);
        ids.add(id);
        callback(null);
      });
    },
  });
  server.on('error', () => {});
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.server.address();
  if (!address || typeof address !== 'object') throw new Error('sink: no address');
  process.on('message', (m: ToSink) => {
    if (m.type === 'stats') {
      const cpu = process.cpuUsage();
      send({ type: 'stats', messages: received.length, unique: ids.size, first: received[0]?.[1] ?? null, last: received[received.length - 1]?.[1] ?? null, cpuMicros: cpu.user + cpu.system });
    } else if (m.type === 'dump') {
      send({ type: 'dump', received });
    } else if (m.type === 'close') {
      server.close(() => process.exit(0));
      setTimeout(() => process.exit(0), 2_000).unref();
    }
  });
  send({ type: 'ready', port: address.port });
}

interface Sink {
  url: string;
  stats(): Promise<Extract<FromSink, { type: 'stats' }>>;
  dump(): Promise<Array<[string, number]>>;
  close(): Promise<void>;
}

async function startSink(): Promise<Sink> {
  const child: ChildProcess = fork(SELF, [], { execArgv: ['--import', 'tsx'], env: { ...process.env, [SINK_ENV]: '1' }, stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
  const next = <T extends FromSink['type']>(type: T) => nextMessage<FromSink, T>(child, type, `the SMTP sink`);
  const ready = await next('ready');
  return {
    url: `smtp://127.0.0.1:${ready.port}`,
    async stats() {
      const answer = next('stats');
      child.send({ type: 'stats' } satisfies ToSink);
      return answer;
    },
    async dump() {
      const answer = next('dump');
      child.send({ type: 'dump' } satisfies ToSink);
      return (await answer).received;
    },
    close: () => closeChild(child, 5_000),
  };
}

/* ------------------------------- the email worker process (split) ----------------------------- */

const EMAIL_WORKER_ENV = 'UPKEEP_BENCH_TIMERS_EMAIL_WORKER';
interface EmailWorkerSpec {
  databaseUrl: string;
  prefix: string;
  smtpUrl: string;
}
type ToEmailWorker = { type: 'close' };
type FromEmailWorker = { type: 'ready' };

/** Child process: Upkeep's workers with WORKER_QUEUES=email, as a separate deployment runs them. */
async function serveEmailWorker(spec: EmailWorkerSpec): Promise<void> {
  const config = { ...benchConfig({ SMTP_URL: spec.smtpUrl, WORKER_QUEUES: 'email' }), databaseUrl: spec.databaseUrl, redisUrl: BENCH_REDIS_URL, queuePrefix: spec.prefix };
  const db = createDb(spec.databaseUrl, { max: PG_POOL });
  const logger = pino({ level: config.logLevel }, pino.destination({ dest: LOG_FILE, sync: false }));
  const workers = await startWorkers({ config, db, redisUrl: BENCH_REDIS_URL, logger, prefix: spec.prefix });
  process.on('message', (m: ToEmailWorker) => {
    if (m.type === 'close') void workers.close().then(() => db.destroy()).finally(() => process.exit(0));
  });
  process.send?.({ type: 'ready' } satisfies FromEmailWorker);
}

async function startEmailWorker(spec: EmailWorkerSpec): Promise<{ pid: number; close(): Promise<void> }> {
  // BENCH_CPU_PROF=<dir>: the email process writes a V8 CPU profile there, as bench/load.ts's children.
  const prof = process.env.BENCH_CPU_PROF ? ['--cpu-prof', `--cpu-prof-dir=${process.env.BENCH_CPU_PROF}`] : [];
  const child: ChildProcess = fork(SELF, [], { execArgv: ['--import', 'tsx', ...prof], env: { ...process.env, [EMAIL_WORKER_ENV]: JSON.stringify(spec) }, stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
  await nextMessage<FromEmailWorker, 'ready'>(child, 'ready', 'the email worker process');
  // Sending yields the CPU to firing (docker-compose.yml gives the email service a lower cpu_shares).
  if (EMAIL_NICE > 0) os.setPriority(child.pid as number, EMAIL_NICE);
  return { pid: child.pid as number, close: () => closeChild(child, 15_000) };
}

/* -------------------------------------- raw BullMQ baseline --------------------------------- */

interface RawResult {
  ms: number;
  rate: number;
  addMs: number;
  nodeMs: number;
  redisMs: number;
}

async function rawBullmq(n: number, concurrency: number): Promise<RawResult> {
  const prefix = `bench-raw-${randomBytes(5).toString('hex')}`;
  const queueConnection = createRedis(BENCH_REDIS_URL, 'worker');
  const workerConnection = createRedis(BENCH_REDIS_URL, 'worker');
  const queue = new Queue('raw', { connection: queueConnection, prefix });
  let completed = 0;
  let resolveDone: (t: number) => void = () => {};
  const done = new Promise<number>((resolve) => (resolveDone = resolve));
  // The same per-job options as Upkeep's timer jobs (removed once complete).
  const worker = new Worker('raw', async () => {}, { connection: workerConnection, prefix, concurrency, lockDuration: 30_000 });
  worker.on('error', () => {});
  worker.on('completed', () => {
    if (++completed === n) resolveDone(performance.now());
  });
  try {
    await worker.waitUntilReady();
    const redisCpu = async () => {
      const info = await queueConnection.info('cpu');
      return ['used_cpu_user', 'used_cpu_sys'].reduce((sum, k) => sum + Number(new RegExp(`^${k}:([\\d.]+)`, 'm').exec(info)?.[1] ?? 0) * 1000, 0);
    };
    const redis0 = await redisCpu();
    const cpu0 = process.cpuUsage();
    const t0 = performance.now();
    for (let i = 0; i < n; i += ADD_BATCH) {
      const size = Math.min(ADD_BATCH, n - i);
      await queue.addBulk(
        Array.from({ length: size }, (_, k) => ({ name: 'noop', data: { timerId: `raw-${i + k}` }, opts: { jobId: `raw-${i + k}`, removeOnComplete: true, removeOnFail: { age: 7 * 24 * 3600 } } })),
      );
    }
    const addMs = performance.now() - t0;
    const t1 = await Promise.race([done, new Promise<number>((_, reject) => setTimeout(() => reject(new Error(`raw BullMQ: only ${completed} of ${n} jobs completed in 120 s`)), 120_000).unref())]);
    const ms = t1 - t0;
    const cpu = process.cpuUsage(cpu0);
    return { ms, rate: n / (ms / 1000), addMs, nodeMs: (cpu.user + cpu.system) / 1000, redisMs: (await redisCpu()) - redis0 };
  } finally {
    await worker.close();
    await queue.obliterate({ force: true }).catch(() => {});
    await queue.close();
    queueConnection.disconnect();
    workerConnection.disconnect();
    await deletePrefix(prefix).catch(() => {});
  }
}

/** Deletes every key under a BullMQ prefix (SCAN + DEL): the shared Redis is never flushed. */
async function deletePrefix(prefix: string): Promise<void> {
  const redis = createRedis(BENCH_REDIS_URL, 'worker');
  try {
    let cursor = '0';
    do {
      const [next, keys] = await redis.scan(cursor, 'MATCH', `${prefix}:*`, 'COUNT', 1000);
      cursor = next;
      if (keys.length > 0) await redis.del(...keys);
    } while (cursor !== '0');
  } finally {
    redis.disconnect();
  }
}

/* ------------------------------------------ CPU use ------------------------------------------ */

/**
 * Where the CPU went during a scenario: this process (the workers), the SMTP sink, the
 * PostgreSQL backends serving the scratch database, Redis (the whole server), and the machine as
 * a whole (from /proc/stat), so that what other processes took shows too.
 */
interface CpuSnap {
  at: number;
  node: number;
  sink: number;
  pg: Map<number, number>;
  redis: number;
  machineBusy: number;
  machineTotal: number;
}

const CLK_TCK_MS = 10; // Linux USER_HZ = 100

async function procTicksMs(pid: number): Promise<number | undefined> {
  try {
    const stat = await readFile(`/proc/${pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return (Number(fields[11]) + Number(fields[12])) * CLK_TCK_MS; // utime, stime (fields 14 and 15)
  } catch {
    return undefined;
  }
}

/** Other worker processes of ours (the split layout's email process), counted with this one's. */
const workerPids: number[] = [];

async function cpuSnap(db: Db, sink: Sink, redis: ReturnType<typeof createRedis>): Promise<CpuSnap> {
  const node = process.cpuUsage();
  let otherWorkersMs = 0;
  for (const pid of workerPids) otherWorkersMs += (await procTicksMs(pid)) ?? 0;
  const { rows } = await sql<{ pid: number }>`SELECT pid FROM pg_stat_activity WHERE datname = current_database()`.execute(db);
  const pg = new Map<number, number>();
  for (const { pid } of rows) {
    const ms = await procTicksMs(pid);
    if (ms !== undefined) pg.set(pid, ms);
  }
  const info = await redis.info('cpu');
  const num = (k: string) => Number(new RegExp(`^${k}:([\\d.]+)`, 'm').exec(info)?.[1] ?? 0);
  const cpuLine = (await readFile('/proc/stat', 'utf8').catch(() => 'cpu 0 0 0 0 0')).split('\n')[0] ?? '';
  const t = cpuLine.trim().split(/\s+/).slice(1).map(Number);
  const total = t.slice(0, 8).reduce((a, b) => a + b, 0);
  const idle = (t[3] ?? 0) + (t[4] ?? 0);
  return {
    at: Date.now(),
    node: (node.user + node.system) / 1000 + otherWorkersMs,
    sink: (await sink.stats()).cpuMicros / 1000,
    pg,
    redis: (num('used_cpu_user') + num('used_cpu_sys')) * 1000,
    machineBusy: (total - idle) * CLK_TCK_MS,
    machineTotal: total * CLK_TCK_MS,
  };
}

interface CpuUse {
  wallMs: number;
  /** From the first due time to the end: the machine's figures below cover only that span. */
  activeWallMs?: number;
  activeOursMs?: number;
  nodeMs: number;
  sinkMs: number;
  pgMs: number;
  redisMs: number;
  machineBusyMs: number;
  machineMs: number;
}

function cpuUse(a: CpuSnap, b: CpuSnap): CpuUse {
  let pgMs = 0;
  for (const [pid, ms] of b.pg) pgMs += ms - (a.pg.get(pid) ?? 0);
  return {
    wallMs: b.at - a.at,
    nodeMs: b.node - a.node,
    sinkMs: b.sink - a.sink,
    pgMs,
    redisMs: b.redis - a.redis,
    machineBusyMs: b.machineBusy - a.machineBusy,
    machineMs: b.machineTotal - a.machineTotal,
  };
}

/* ------------------------------------ PostgreSQL statements ------------------------------------ */

/**
 * Every statement this process sends to PostgreSQL, counted by its text's start (BEGIN, COMMIT and
 * each query the code builds): what one reminder costs in round trips. Counting is a Map update
 * per query, negligible next to a round trip.
 */
const statementCounts = new Map<string, number>();
let countStatements = false;
{
  const proto = pg.Client.prototype as unknown as { query: (...args: unknown[]) => unknown };
  const original = proto.query;
  proto.query = function (this: unknown, ...args: unknown[]) {
    if (countStatements) {
      const q = args[0];
      const text = typeof q === 'string' ? q : q && typeof q === 'object' && 'text' in q ? String((q as { text: unknown }).text) : '';
      // Keyed by the raw start of the text (cheap); whitespace is normalised when reporting.
      const key = text.slice(0, 160);
      statementCounts.set(key, (statementCounts.get(key) ?? 0) + 1);
    }
    return original.apply(this, args);
  };
}

/* ------------------------------------------ SMTP alone ------------------------------------------ */

interface SmtpAlone {
  n: number;
  ms: number;
  rate: number;
  nodeMs: number;
  sinkMs: number;
}

/**
 * What one email costs in SMTP alone, with no queue, database or template work: the rendered
 * contract-ending reminder sent `n` times through Upkeep's SmtpChannel (nodemailer, pooled, as
 * many connections and sends at a time as the email worker) into a fresh sink. The floor under
 * any end-to-end rate that sends one message per notification on this machine.
 */
async function smtpAlone(n: number, concurrency: number): Promise<SmtpAlone> {
  const sink = await startSink();
  const channel = new SmtpChannel(sink.url, 'Upkeep <no-reply@upkeep.local>', { maxConnections: concurrency });
  const email = (i: number) => {
    const locale = i % 2 ? 'en' : 'zh-CN';
    const r = render(
      'duty.contract_ending',
      { communityName: `提醒基准小区-${i % 1000}`, organizationName: `物业公司-${i % 1000}`, validTo: VALID_TO.toISOString(), daysBefore: 7, category: null },
      { locale, timeZone: 'Asia/Shanghai', recipientName: `经理${i % 1000}` },
    );
    return { to: `manager-${i}@bench.upkeep.cn`, subject: r.subject, text: r.text, html: r.html, dedupeKey: `smtp-alone-${randomBytes(4).toString('hex')}-${i}` };
  };
  const sendAll = async (count: number) => {
    let next = 0;
    await Promise.all(
      Array.from({ length: concurrency }, async () => {
        while (next < count) await channel.send(email(next++));
      }),
    );
  };
  try {
    await sendAll(Math.min(500, n)); // warm-up: connections open, code hot
    const s0 = await sink.stats();
    const c0 = process.cpuUsage();
    const t0 = performance.now();
    await sendAll(n);
    const ms = performance.now() - t0;
    const c = process.cpuUsage(c0);
    const s1 = await sink.stats();
    return { n, ms, rate: n / (ms / 1000), nodeMs: (c.user + c.system) / 1000, sinkMs: (s1.cpuMicros - s0.cpuMicros) / 1000 };
  } finally {
    channel.close();
    await sink.close();
  }
}

/* ----------------------------------------- Upkeep e2e -------------------------------------- */

interface Duty {
  id: string;
  communityId: string;
  managerId: string;
}

const VALID_TO = new Date(Date.UTC(2031, 5, 30, 16, 0, 0)); // 2031-07-01 00:00 in Shanghai

/** Communities, each with a property company holding a duty (ending VALID_TO) and its manager (half zh-CN, half en). */
async function seedWorld(db: Db, communities: number): Promise<Duty[]> {
  const tag = randomBytes(3).toString('hex');
  const { rows } = await sql<{ duty_id: string; community_id: string; manager_id: string }>`
    WITH c AS (
      INSERT INTO communities (name, district, address, time_zone)
      SELECT '提醒基准小区-' || ${tag} || '-' || i, 'BenchDistrict-' || (i % 16), '基准路 ' || i || ' 号', 'Asia/Shanghai'
      FROM generate_series(1, ${communities}) AS i
      RETURNING id, name
    ), cn AS (
      SELECT id, (regexp_match(name, '-(\\d+)$'))[1]::int AS i FROM c
    ), o AS (
      INSERT INTO organizations (kind, name, community_id, district)
      SELECT 'property_company', '物业公司-' || ${tag} || '-' || i, NULL, NULL FROM generate_series(1, ${communities}) AS i
      RETURNING id, name
    ), onum AS (
      SELECT id, (regexp_match(name, '-(\\d+)$'))[1]::int AS i FROM o
    ), u AS (
      INSERT INTO users (email, name, password_hash, is_platform_admin, locale)
      SELECT 'manager-' || ${tag} || '-' || i || '@bench.upkeep.cn', '经理' || i, 'not-a-login', false, CASE WHEN i % 2 = 0 THEN 'en' ELSE 'zh-CN' END
      FROM generate_series(1, ${communities}) AS i
      RETURNING id, email
    ), unum AS (
      SELECT id, (regexp_match(email, '-(\\d+)@'))[1]::int AS i FROM u
    ), m AS (
      INSERT INTO memberships (user_id, organization_id, role)
      SELECT unum.id, onum.id, 'manager' FROM unum JOIN onum USING (i)
    ), d AS (
      INSERT INTO duty_assignments (community_id, organization_id, basis, facility_category, valid_to)
      SELECT cn.id, onum.id, 'service_contract', NULL, ${VALID_TO.toISOString()}::timestamptz FROM cn JOIN onum USING (i)
      RETURNING id, community_id, organization_id
    )
    SELECT d.id AS duty_id, d.community_id, unum.id AS manager_id
    FROM d JOIN onum ON onum.id = d.organization_id JOIN unum USING (i)`.execute(db);
  if (rows.length !== communities) throw new Error(`seeded ${rows.length} duties, expected ${communities}`);
  return rows.map((r) => ({ id: r.duty_id, communityId: r.community_id, managerId: r.manager_id }));
}

/** Timer i belongs to duty i mod D; its reminder day count (and so its deterministic job id) is unique per duty. */
function timerSpecs(duties: Duty[], from: number, count: number, dueAt: (i: number) => Date, dayOffset: number): TimerSpec<'duty.contract-ending'>[] {
  const specs: TimerSpec<'duty.contract-ending'>[] = [];
  for (let i = from; i < from + count; i++) {
    const duty = duties[i % duties.length] as Duty;
    const daysBefore = dayOffset + Math.floor(i / duties.length) + 1;
    specs.push({
      kind: 'duty.contract-ending',
      subjectId: duty.id,
      communityId: duty.communityId,
      dueAt: dueAt(i),
      jobId: contractReminderJobId(duty.id, daysBefore, VALID_TO),
      payload: { dutyId: duty.id, daysBefore, validTo: VALID_TO.toISOString() },
    });
  }
  return specs;
}

/** The Message-ID each timer's email must arrive with (the dedupe key is `<job id>|<user>|email`). */
function expectedMessageIds(duties: Duty[], from: number, count: number, dayOffset: number, dueAt: (i: number) => Date): Map<string, number> {
  const map = new Map<string, number>();
  for (let i = from; i < from + count; i++) {
    const duty = duties[i % duties.length] as Duty;
    const daysBefore = dayOffset + Math.floor(i / duties.length) + 1;
    map.set(messageIdFor(`${contractReminderJobId(duty.id, daysBefore, VALID_TO)}|${duty.managerId}|email`), dueAt(i).getTime());
  }
  return map;
}

async function schedule(db: Db, specs: TimerSpec[]): Promise<void> {
  for (let i = 0; i < specs.length; i += SCHEDULE_BATCH) {
    const batch = specs.slice(i, i + SCHEDULE_BATCH);
    await db.transaction().execute((trx) => scheduleTimers(trx, batch));
  }
}

const pct = (sorted: number[], p: number) => (sorted.length ? (sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))] as number) : NaN);

interface PhaseResult {
  label: string;
  timers: number;
  scheduleMs: number;
  /** Due time of the first timer minus the moment scheduling finished. */
  leadMs: number;
  fired: number;
  lateness: { p50: number; p99: number; max: number; over1s: number };
  /** Due time → message in the sink, per email. */
  delivery: { p50: number; p99: number; max: number };
  emails: number;
  uniqueEmails: number;
  /** Expected emails that had not arrived when the wait ended. */
  missingEmails: number;
  unexpected: number;
  sentRows: number;
  emailSpanMs: number;
  emailRate: number;
  fireSpanMs: number;
  fireRate: number;
  wallMs: number;
  drained: boolean;
  cpu: CpuUse;
  /** Statements sent to PostgreSQL by this process during the scenario, by text (most frequent first). */
  statements: Array<[string, number]>;
}

async function phase(opts: {
  label: string;
  db: Db;
  duties: Duty[];
  sink: Sink;
  redis: ReturnType<typeof createRedis>;
  sinkBase: number;
  count: number;
  dayOffset: number;
  /** Due time of timer i, given when the window starts. */
  dueOffsetMs: (i: number) => number;
  windowMs: number;
  /** How long scheduling `count` timers is expected to take, to place the window ~10 s after it. */
  expectedScheduleMs: number;
  /** The window starts this long after scheduling is expected to finish. */
  leadMs?: number;
  /** Gives up waiting for the emails this long after the last timer was due (results then count what was missing as a lower bound). */
  drainTimeoutMs: number;
  log: (line: string) => void;
}): Promise<PhaseResult> {
  const { db, duties, sink, count, log } = opts;
  const t0 = Date.now();
  const windowStart = t0 + opts.expectedScheduleMs + (opts.leadMs ?? LEAD_MS);
  const dueAt = (i: number) => new Date(windowStart + opts.dueOffsetMs(i));
  const specs = timerSpecs(duties, 0, count, dueAt, opts.dayOffset);
  const expected = expectedMessageIds(duties, 0, count, opts.dayOffset, dueAt);
  const cpuBefore = await cpuSnap(db, sink, opts.redis);
  statementCounts.clear();
  countStatements = true;
  const ts = performance.now();
  await schedule(db, specs);
  const scheduleMs = performance.now() - ts;
  const leadMs = windowStart - Date.now();
  log(`timers: ${opts.label}: scheduled ${fmt(count)} timers in ${fmt(scheduleMs)} ms; first due in ${fmt(leadMs)} ms`);
  // The machine's busy share is taken from the first due time on (the lead is idle by design).
  await new Promise((r) => setTimeout(r, Math.max(0, windowStart - Date.now())));
  countStatements = false; // the snapshot's own query is not the pipeline's
  const cpuAtFirstDue = await cpuSnap(db, sink, opts.redis);
  countStatements = true;
  const deadline = windowStart + opts.windowMs + opts.drainTimeoutMs;
  let stats = await sink.stats();
  let lastLog = 0;
  while (stats.messages - opts.sinkBase < count && Date.now() < deadline) {
    await new Promise((r) => setTimeout(r, 500));
    stats = await sink.stats();
    if (Date.now() - lastLog > 10_000) {
      lastLog = Date.now();
      log(`timers: ${opts.label}: ${fmt(stats.messages - opts.sinkBase)} of ${fmt(count)} emails in the sink (${fmt((Date.now() - windowStart) / 1000, 1)} s after the first due time)`);
    }
  }
  const drained = stats.messages - opts.sinkBase >= count;
  const endedAt = Date.now();
  countStatements = false;
  const merged = new Map<string, number>();
  for (const [raw, n] of statementCounts) {
    const key = raw.replace(/\s+/g, ' ').trim().slice(0, 90);
    merged.set(key, (merged.get(key) ?? 0) + n);
  }
  const statements = [...merged].sort((a, b) => b[1] - a[1]);
  const cpuAtEnd = await cpuSnap(db, sink, opts.redis);
  const cpu = cpuUse(cpuBefore, cpuAtEnd);
  const active = cpuUse(cpuAtFirstDue, cpuAtEnd);
  cpu.machineBusyMs = active.machineBusyMs;
  cpu.machineMs = active.machineMs;
  cpu.activeWallMs = active.wallMs;
  cpu.activeOursMs = active.nodeMs + active.pgMs + active.redisMs + active.sinkMs;
  // Give stragglers (a duplicate, if any) a moment to show.
  await new Promise((r) => setTimeout(r, 1_000));
  const wallMs = Date.now() - t0;

  const received = (await sink.dump()).slice(opts.sinkBase);
  const delivery: number[] = [];
  const seen = new Set<string>();
  let unexpected = 0;
  for (const [id, at] of received) {
    const due = expected.get(id);
    if (due === undefined) unexpected++;
    else if (!seen.has(id)) {
      seen.add(id);
      delivery.push(at - due);
    }
  }
  // Emails that never arrived count as late as the end of the wait: a lower bound.
  const missingEmails = [...expected].filter(([id]) => !seen.has(id));
  for (const [, due] of missingEmails) delivery.push(endedAt - due);
  delivery.sort((a, b) => a - b);
  const times = received.map(([, at]) => at);
  const emailSpanMs = times.length > 1 ? Math.max(...times) - Math.min(...times) : NaN;

  const jobIds = specs.map((s) => s.jobId);
  const { rows: all } = await sql<{ late_ms: number | null; fired_ms: number | null; due_ms: number }>`
    SELECT (extract(epoch FROM fired_at - due_at) * 1000)::float8 AS late_ms, (extract(epoch FROM fired_at) * 1000)::float8 AS fired_ms,
           (extract(epoch FROM due_at) * 1000)::float8 AS due_ms
    FROM timers WHERE job_id = ANY(${jobIds}::text[])`.execute(db);
  const rows = all.filter((r) => r.fired_ms !== null);
  // Timers not fired by the end of the wait count as late as that: a lower bound.
  const late = all.map((r) => r.late_ms ?? endedAt - r.due_ms).sort((a, b) => a - b);
  const fired = rows.map((r) => r.fired_ms as number);
  const fireSpanMs = fired.length > 1 ? Math.max(...fired) - Math.min(...fired) : NaN;
  const sent = await sql<{ n: number }>`
    SELECT count(*)::int AS n FROM notifications WHERE channel = 'email' AND status = 'sent' AND split_part(dedupe_key, '|', 1) = ANY(${jobIds}::text[])`.execute(db);
  return {
    label: opts.label,
    timers: count,
    scheduleMs,
    leadMs,
    fired: rows.length,
    lateness: { p50: pct(late, 50), p99: pct(late, 99), max: late[late.length - 1] ?? NaN, over1s: late.filter((l) => l > 1_000).length },
    delivery: { p50: pct(delivery, 50), p99: pct(delivery, 99), max: delivery[delivery.length - 1] ?? NaN },
    emails: received.length,
    uniqueEmails: seen.size,
    missingEmails: missingEmails.length,
    unexpected,
    sentRows: sent.rows[0]?.n ?? 0,
    emailSpanMs,
    emailRate: received.length / (emailSpanMs / 1000),
    fireSpanMs,
    fireRate: rows.length / (fireSpanMs / 1000),
    wallMs,
    drained,
    cpu,
    statements,
  };
}

function benchConfig(overrides: Record<string, string>): Config {
  const env: NodeJS.ProcessEnv = {
    NODE_ENV: 'development',
    LOG_LEVEL: process.env.BENCH_LOG_LEVEL ?? 'info',
    EMAIL_RATE_PER_SECOND: String(EMAIL_RATE),
    SEED_DEMO: 'false',
    ...overrides,
  };
  for (const k of ['WORKER_CONCURRENCY', 'RELAY_POLL_MS', 'RECONCILE_EVERY_MS', 'TIMER_SWEEP_MS']) if (process.env[k]) env[k] = process.env[k];
  return loadConfig(env);
}

interface Upkeep {
  warm: PhaseResult;
  result: PhaseResult;
  config: Config;
  /** SMTP connections and email jobs at once of the email worker. */
  email: { connections: number; jobs: number };
  rss: number;
}

type ScenarioSpec = Pick<Parameters<typeof phase>[0], 'label' | 'count' | 'dayOffset' | 'dueOffsetMs' | 'windowMs' | 'expectedScheduleMs' | 'drainTimeoutMs'>;

/**
 * One scenario in a world of its own: a scratch database (created, migrated, seeded), the workers
 * started in this process on a fresh BullMQ prefix, the SMTP sink; all torn down afterwards, so
 * a scenario that did not drain leaves no backlog to the next.
 */
async function upkeep(log: (line: string) => void, scenario: ScenarioSpec): Promise<Upkeep> {
  const s = await scratchApp();
  const sink = await startSink();
  let workers: Workers | undefined;
  let workerDb: Db | undefined;
  let emailWorker: Awaited<ReturnType<typeof startEmailWorker>> | undefined;
  const statsRedis = createRedis(BENCH_REDIS_URL, 'worker');
  const prefix = `bench-timers-${randomBytes(5).toString('hex')}`;
  try {
    log(`timers: ${scenario.label}: scratch database ${s.dbName}; SMTP sink ${sink.url}`);
    const duties = await seedWorld(s.db, COMMUNITIES);
    const dbUrl = new URL(BENCH_DATABASE_URL);
    dbUrl.pathname = `/${s.dbName}`;
    const config = { ...benchConfig({ SMTP_URL: sink.url, WORKER_QUEUES: WORKER_LAYOUT === 'split' ? 'main' : 'all' }), databaseUrl: dbUrl.toString(), redisUrl: BENCH_REDIS_URL, queuePrefix: prefix };
    if (WORKER_LAYOUT === 'split') {
      emailWorker = await startEmailWorker({ databaseUrl: dbUrl.toString(), prefix, smtpUrl: sink.url });
      workerPids.push(emailWorker.pid);
    }
    // The worker process's pool: as src/bootstrap/start.ts makes it (DATABASE_POOL_MAX) unless BENCH_PG_POOL says otherwise.
    workerDb = createDb(dbUrl.toString(), { max: PG_POOL });
    // Production logging (JSON at LOG_LEVEL's default, info) to /dev/null: its cost is counted, its output dropped.
    const logger = pino({ level: config.logLevel }, pino.destination({ dest: LOG_FILE, sync: false }));
    workers = await startWorkers({ config, db: workerDb, redisUrl: BENCH_REDIS_URL, logger, prefix, databaseUrl: dbUrl.toString() });
    const common = { db: s.db, duties, sink, redis: statsRedis, log };

    // Warm-up (not reported): 200 timers due at once, through the whole pipeline.
    const warm = await phase({ ...common, label: 'warm-up', sinkBase: 0, count: Math.min(200, duties.length), dayOffset: 10_000, dueOffsetMs: () => 0, windowMs: 0, expectedScheduleMs: 0, leadMs: 500, drainTimeoutMs: 30_000 });
    if (!warm.drained) throw new Error('warm-up: not every email arrived');
    const result = await phase({ ...common, ...scenario, sinkBase: (await sink.stats()).messages });
    return { warm, result, config, email: { connections: config.smtpMaxConnections, jobs: emailJobsAtOnce(config) }, rss: process.memoryUsage().rss };
  } finally {
    await workers?.close().catch(() => {});
    await emailWorker?.close().catch(() => {});
    workerPids.length = 0;
    await workerDb?.destroy().catch(() => {});
    await sink.close().catch(() => {});
    await deletePrefix(prefix).catch(() => {});
    statsRedis.disconnect();
    await s.close();
    log(`timers: dropped ${s.dbName}`);
  }
}

const sumStatements = (p: PhaseResult) => p.statements.reduce((n, [, c]) => n + c, 0);
/** Per-notification figures divide by the emails that arrived (all of them, once a scenario drained). */
const done = (p: PhaseResult) => Math.max(1, p.uniqueEmails);

function phaseLog(p: PhaseResult, rawRate: number): string {
  return (
    `timers: ${p.label}: fired ${fmt(p.fired)}/${fmt(p.timers)}; lateness p50 ${fmt(p.lateness.p50)} ms p99 ${fmt(p.lateness.p99)} ms max ${fmt(p.lateness.max)} ms; ` +
    `${fmt(p.emails)} emails (${fmt(p.uniqueEmails)} distinct, ${fmt(p.missingEmails)} missing) in ${fmt(p.emailSpanMs)} ms = ${fmt(p.emailRate)}/s (${fmt((p.emailRate / rawRate) * 100)}% of raw); ` +
    `due → sink p50 ${fmt(p.delivery.p50)} ms p99 ${fmt(p.delivery.p99)} ms; CPU ms per notification: node ${fmt(p.cpu.nodeMs / done(p), 2)}, pg ${fmt(p.cpu.pgMs / done(p), 2)}, ` +
    `redis ${fmt(p.cpu.redisMs / done(p), 2)}, sink ${fmt(p.cpu.sinkMs / done(p), 2)}; machine ${fmt((p.cpu.machineBusyMs / p.cpu.machineMs) * 100)}% busy; ` +
    `${fmt(sumStatements(p) / done(p), 2)} SQL statements per notification`
  );
}

/** A paragraph from the figures: the CPU a notification costs against what the machine has. */
function limits(spread: PhaseResult, burst: PhaseResult | undefined, rawBefore: RawResult, rawAfter: RawResult, needed: number, smtp: SmtpAlone): string {
  const p = burst ?? spread;
  const c = p.cpu;
  const perNotification = (c.nodeMs + c.pgMs + c.redisMs + c.sinkMs) / done(p);
  const perRawJob = (rawBefore.nodeMs + rawBefore.redisMs + rawAfter.nodeMs + rawAfter.redisMs) / (2 * RAW_JOBS);
  const cpus = os.cpus().length;
  const ceiling = (cpus * 1000) / perNotification;
  const othersShare = Math.max(0, (c.machineBusyMs - (c.activeOursMs ?? 0)) / c.machineMs);
  const statements = sumStatements(spread) / done(spread);
  return (
    `CPU. A reminder carried end to end cost ${fmt(perNotification, 2)} ms of CPU in the ${p.label} scenario (workers ${fmt(c.nodeMs / done(p), 2)}, PostgreSQL ${fmt(c.pgMs / done(p), 2)}, ` +
    `Redis ${fmt(c.redisMs / done(p), 2)}, sink ${fmt(c.sinkMs / done(p), 2)}), against ${fmt(perRawJob, 3)} ms for a raw no-op BullMQ job: it is two BullMQ jobs (timer.fire, notification.send), ` +
    `${fmt(statements, 2)} SQL statements (the firing transaction, the email's claim before the send and its mark after it, each shared by a batch), ` +
    `the handler's share of its batch's reads, a message rendered in the recipient's language, and an SMTP conversation. At that cost the ${cpus} CPUs of this machine, were they all ours, would carry about ${fmt(ceiling)} reminders/s ` +
    `(${fmt((ceiling / ((rawBefore.rate + rawAfter.rate) / 2)) * 100, 1)}% of raw BullMQ's rate); the even spread needs ${fmt(needed)}/s sustained to fire every timer within a second of its due time. ` +
    `From the first due time to the last email the machine was ${fmt((c.machineBusyMs / c.machineMs) * 100)}% busy, other processes taking ${fmt(othersShare * 100)}% of it: ` +
    `${c.machineBusyMs / c.machineMs > 0.85 ? 'the pipeline was short of CPU rather than waiting on commits or round trips' : 'the CPUs were not saturated, so waiting (commits, round trips, concurrency) limited it too'}. ` +
    `SMTP alone (measured apart, above) cost ${fmt(smtpPerMessage(smtp), 3)} ms of CPU per message: with one message per notification, ${cpus} CPUs doing nothing else could send at most ${fmt(smtpCeiling(smtp))}/s, ` +
    `${fmt((smtpCeiling(smtp) / rawRateOf(rawBefore, rawAfter)) * 100, 1)}% of raw BullMQ's rate${smtpCeiling(smtp) / rawRateOf(rawBefore, rawAfter) < RATIO_TARGET ? ': the 50% ratio is out of reach on this machine whatever the engine does, before any queue, database or template work' : ''}.`
  );
}

const smtpPerMessage = (x: SmtpAlone) => (x.nodeMs + x.sinkMs) / x.n;
const smtpCeiling = (x: SmtpAlone) => (os.cpus().length * 1000) / smtpPerMessage(x);
const rawRateOf = (a: RawResult, b: RawResult) => (a.rate + b.rate) / 2;

export const timers: Benchmark = {
  id: 'timers',
  title: `Reminder engine: ${fmt(TIMERS)} timers due within ${fmt(WINDOW_MS / 1000)} s, into an SMTP sink`,
  async run(log) {
    const loadBefore = os.loadavg();
    const concurrency = benchConfig({}).workerConcurrency;
    const rawLog = (label: string, r: RawResult) =>
      log(`timers: raw BullMQ ${label}: ${fmt(RAW_JOBS)} jobs in ${fmt(r.ms)} ms (adds ${fmt(r.addMs)} ms): ${fmt(r.rate)} jobs/s at concurrency ${concurrency}; CPU ms per job: node ${fmt(r.nodeMs / RAW_JOBS, 3)}, redis ${fmt(r.redisMs / RAW_JOBS, 3)}`);

    // 1. Raw BullMQ on the same Redis, before and after Upkeep (the machine's load may change), after a warm-up.
    await rawBullmq(Math.min(5_000, RAW_JOBS), concurrency);
    const rawBefore = await rawBullmq(RAW_JOBS, concurrency);
    rawLog('before', rawBefore);
    // 2. Upkeep end to end, timers due evenly over the window.
    // Scheduling runs at about 20k timers/s here; a slower machine gets a shorter lead (reported).
    const u = await upkeep(log, {
      label: 'spread',
      count: TIMERS,
      dayOffset: 0,
      dueOffsetMs: (i) => Math.floor((i * WINDOW_MS) / TIMERS),
      windowMs: WINDOW_MS,
      expectedScheduleMs: TIMERS / 20,
      drainTimeoutMs: DRAIN_TIMEOUT_MS,
    });
    const spread = u.result;
    // 3. Upkeep at capacity: all due at one instant, in a world of its own.
    const b =
      BURST > 0
        ? await upkeep(log, { label: 'burst', count: BURST, dayOffset: 20_000, dueOffsetMs: () => 0, windowMs: 0, expectedScheduleMs: BURST / 20, drainTimeoutMs: BURST_DRAIN_TIMEOUT_MS })
        : undefined;
    const burst = b?.result;
    const rawAfter = await rawBullmq(RAW_JOBS, concurrency);
    rawLog('after', rawAfter);
    // 4. SMTP alone: the floor under one message per notification.
    const smtp = await smtpAlone(SMTP_ALONE, u.email.connections);
    log(`timers: SMTP alone: ${fmt(smtp.n)} messages in ${fmt(smtp.ms)} ms = ${fmt(smtp.rate)}/s; CPU ms per message: node ${fmt(smtp.nodeMs / smtp.n, 3)}, sink ${fmt(smtp.sinkMs / smtp.n, 3)}`);
    const loadAfter = os.loadavg();
    const rawRate = (rawBefore.rate + rawAfter.rate) / 2;
    for (const p of [spread, burst]) if (p) log(phaseLog(p, rawRate));

    const ms = (x: number) => (Number.isFinite(x) ? fmt(x) : '–');
    const pctOf = (x: number) => `${fmt((x / rawRate) * 100, 1)}%`;
    const ratio = spread.emailRate / rawRate;
    const p99Met = spread.lateness.p99 < P99_TARGET_MS && spread.fired === spread.timers;
    const burstRatio = burst ? burst.emailRate / rawRate : NaN;
    const capped = TIMERS / (WINDOW_MS / 1000);
    const phaseRow = (p: PhaseResult) =>
      `| ${p.label === 'spread' ? `${fmt(p.timers)} due evenly over ${fmt(WINDOW_MS / 1000)} s` : `${fmt(p.timers)} due at one instant`} | ${fmt(p.fired)} | ${ms(p.lateness.p50)} | ${ms(p.lateness.p99)} | ${ms(p.lateness.max)} | ${fmt(p.lateness.over1s)} | ` +
      `${fmt(p.uniqueEmails)} (${fmt(p.emails - p.uniqueEmails)} dup., ${fmt(p.unexpected)} unexpected, ${fmt(p.missingEmails)} missing) | ${ms(p.delivery.p50)} / ${ms(p.delivery.p99)} / ${ms(p.delivery.max)} | ` +
      `${fmt(p.fireRate)} | **${fmt(p.emailRate)}** | ${pctOf(p.emailRate)} | ${fmt(p.wallMs / 1000, 1)} s |`;
    const cpuRow = (p: PhaseResult) => {
      const c = p.cpu;
      const per = (x: number) => fmt(x / done(p), 3);
      const ours = c.nodeMs + c.pgMs + c.redisMs + c.sinkMs;
      return `| ${p.label} (per notification) | ${per(c.nodeMs)} | ${per(c.pgMs)} | ${per(c.redisMs)} | ${per(c.sinkMs)} | ${per(ours)} | ${fmt((c.machineBusyMs / c.machineMs) * 100)}% of ${os.cpus().length} CPUs over the ${fmt((c.activeWallMs ?? c.wallMs) / 1000, 1)} s from first due time to last email | ${fmt(Math.max(0, ((c.machineBusyMs - (c.activeOursMs ?? ours)) / c.machineMs) * 100))}% |`;
    };
    const rawCpuRow = (label: string, r: RawResult) =>
      `| raw BullMQ ${label} (per job) | ${fmt(r.nodeMs / RAW_JOBS, 3)} | – | ${fmt(r.redisMs / RAW_JOBS, 3)} | – | ${fmt((r.nodeMs + r.redisMs) / RAW_JOBS, 3)} | – | – |`;
    const unfinished = [spread, burst].filter((p): p is PhaseResult => p !== undefined && !p.drained);

    const markdown = [
      `Same run, same Redis (${BENCH_REDIS_URL.replace(/\/\/[^@]*@/, '//')}), same PostgreSQL; everything on this one machine (${os.cpus().length} logical CPUs shared by PostgreSQL, Redis, the workers and the SMTP sink). ` +
        `Worker concurrency ${concurrency} (WORKER_CONCURRENCY${process.env.WORKER_CONCURRENCY ? ', set for this run' : ', the default'}) for the raw baseline and Upkeep's main worker alike; Upkeep's email worker runs ${u.email.jobs} email jobs at a time over ${u.email.connections} pooled SMTP connections, as in production. ` +
        `EMAIL_RATE_PER_SECOND=${fmt(EMAIL_RATE)} (the configuration's ceiling; the production default is ${loadConfig({}).emailRatePerSecond}/s), far above the rates below, so the email limiter is not what limits them. ` +
        `Logging at ${u.config.logLevel} (pino JSON, to /dev/null: its CPU cost counts, its output is dropped).`,
      '',
      `**Raw BullMQ**: ${fmt(RAW_JOBS)} jobs added in \`addBulk\` batches of ${fmt(ADD_BATCH)} (deterministic ids, removed on completion, like timer jobs) to a scratch queue while a no-op \`Worker\` ` +
        `(concurrency ${concurrency}) processes them, timed from the first add to the last completion, after an unreported 5,000-job warm-up; run before Upkeep's scenarios and again after them: ` +
        `**${fmt(rawBefore.rate)}** and **${fmt(rawAfter.rate)} jobs/s** (${fmt(rawBefore.ms)} and ${fmt(rawAfter.ms)} ms). Ratios below are against their mean, ${fmt(rawRate)} jobs/s.`,
      '',
      `**Upkeep end to end**: a scratch database (migrated) with ${fmt(COMMUNITIES)} communities, each with a property company holding a service-contract duty and that company's manager (half zh-CN, half en). ` +
        `Timers of kind \`duty.contract-ending\` (deterministic ids \`duty-ending-<duty>-<n>d-<end>\`, ${fmt(TIMERS / COMMUNITIES)} per duty) are scheduled through \`scheduleTimers\` in transactions of ${fmt(SCHEDULE_BATCH)} ` +
        `while the workers already run ${WORKER_LAYOUT === 'one' ? 'in this process (`startWorkers` as in production, WORKER_QUEUES=all' : 'in this process (WORKER_QUEUES=main) and in a child process (WORKER_QUEUES=email' + (EMAIL_NICE > 0 ? `, nice ${EMAIL_NICE}` : '')}: relay woken by LISTEN upkeep_outbox, main worker, timer sweeper every TIMER_SWEEP_MS (${fmt(benchConfig({}).timerSweepMs)} ms), rate-limited email worker, nodemailer to \`SMTP_URL\`; ` +
        `a pool of ${PG_POOL} PostgreSQL connections${PG_POOL === PRODUCTION_POOL ? ', DATABASE_POOL_MAX as src/bootstrap sizes it' : ' (BENCH_PG_POOL)'}${WORKER_LAYOUT === 'split' ? ' in each' : ''}). ` +
        `The sweeper claims the due timers of the batchable kinds straight from PostgreSQL, up to ${fmt(DEFAULT_FIRE_BATCH)} per transaction and four transactions side by side (marks them fired, holding their row locks; timers are never taken before their due time), and runs the real handler over each batch ` +
        `(their BullMQ jobs wait ${fmt(SWEEP_GRACE_MS)} ms past the due time as the fallback, and the sweeper removes them once it fired their timers; a job that finds its timer not yet fired claims it and the other due ones itself) ` +
        `(the handler re-reads the duties, resolves the holders' managers and the committees, renders zh-CN or en, writes an in-app and an email notification each, in one INSERT, in the firing transaction); ` +
        `${WORKER_LAYOUT === 'split' ? "the email process's relay" : 'the relay'} hands the emails to the email queue; the email jobs that start within 2 ms of each other claim their rows in one statement (leased before sending), send over the pooled SMTP connections and mark the sent ones in one statement. ` +
        `The job of a timer a batch already fired finishes without a statement (it learns the batch's outcome in memory; PostgreSQL stays the authority). Hot statements run as named prepared statements (src/db). The sink is an \`smtp-server\` on 127.0.0.1 in a child process that records each message's Message-ID and arrival time. ` +
        `An unreported warm-up of ${fmt(u.warm.timers)} timers goes through the whole pipeline first.`,
      '',
      'What is counted:',
      '- **lateness** = `fired_at − due_at` of each timer, from the timers table (`fired_at` is when the firing transaction claimed the timer: the sweeper\'s pass interval and the wait for a free batch, or the relay, the BullMQ delay and the wait for a free worker when a job fired it; not the email);',
      "- **due → email in sink** = arrival time in the SMTP sink minus the timer's due time, per email matched by Message-ID (adds the handler, the email relay, the email queue and SMTP);",
      `- a timer not fired, or an email not arrived, when the wait ended (${fmt(DRAIN_TIMEOUT_MS / 1000)} s after the last due time; ${fmt(BURST_DRAIN_TIMEOUT_MS / 1000)} s for the burst) counts as late as that: the percentiles are then lower bounds;`,
      '- **fires/s** = timers fired / (last `fired_at` − first); **emails/s** = messages accepted by the sink / (last arrival − first arrival): the end-to-end notification rate; the ratio is emails/s ÷ raw BullMQ jobs/s;',
      `- every message is matched against the expected Message-IDs (one per timer): duplicates and unexpected messages would show. Email rows marked sent: ${fmt(spread.sentRows)} of ${fmt(spread.timers)} (spread)${burst ? `, ${fmt(burst.sentRows)} of ${fmt(burst.timers)} (burst)` : ''}.`,
      '',
      '| Scenario | fired | lateness p50 ms | p99 ms | max ms | fired > 1 s late | distinct emails in sink | due → email in sink p50 / p99 / max ms | fires/s | emails/s | of raw BullMQ | wall |',
      '|---|---:|---:|---:|---:|---:|---|---|---:|---:|---:|---:|',
      phaseRow(spread),
      ...(burst ? [phaseRow(burst)] : []),
      '',
      `Scheduling: ${fmt(spread.timers)} timers in ${fmt(spread.scheduleMs)} ms (${fmt(spread.timers / (spread.scheduleMs / 1000))} timers/s through \`scheduleTimers\`, relayed to BullMQ meanwhile); the first was due ${fmt(spread.leadMs / 1000, 1)} s after the last commit. ` +
        `Wall time counts from the first scheduling transaction to the last email (plus 1 s watching for stragglers). RSS of this process (the workers and the bench's bookkeeping) after the spread scenario ${mib(u.rss)}${b ? `, after the burst ${mib(b.rss)}` : ''}. ` +
        `Each scenario runs in a world of its own (scratch database, BullMQ prefix, workers, sink), so one that did not drain leaves nothing behind for the next.`,
      '',
      `**Where the CPU went** during each scenario (first scheduling transaction to last email), in ms of CPU per notification, next to raw BullMQ's per job: ` +
        `this process (the workers: BullMQ, pg, Kysely, nodemailer, handlers, templates), the PostgreSQL backends of the scratch database (/proc; WAL writer and checkpointer not counted), ` +
        `Redis (the whole server, INFO cpu), the SMTP sink; and the whole machine (/proc/stat) from the first due time on (the lead before it is idle by design), whose remainder is what other processes took. ` +
        `Per notification means per email that reached the sink (a scenario that did not drain also did work for timers fired whose email had not arrived yet, which inflates its figures a little).`,
      '',
      '| ms of CPU | workers (Node) | PostgreSQL | Redis | SMTP sink | sum | machine busy meanwhile | of which others |',
      '|---|---:|---:|---:|---:|---:|---:|---:|',
      rawCpuRow('before', rawBefore),
      rawCpuRow('after', rawAfter),
      ...[spread, burst].filter((p): p is PhaseResult => p !== undefined).map(cpuRow),
      '',
      `**PostgreSQL statements** this process sent during the spread scenario, per notification: **${fmt(sumStatements(spread) / done(spread), 2)}** in all (scheduling's ${fmt(Math.ceil(spread.timers / SCHEDULE_BATCH))} transactions included):`,
      '',
      '| Statement (start of its text) | per notification |',
      '|---|---:|',
      ...spread.statements.slice(0, 14).map(([text, n]) => `| \`${text.replace(/\|/g, '\\|')}${text.length >= 90 ? '…' : ''}\` | ${fmt(n / done(spread), 3)} |`),
      '',
      `**Targets** (issue 3): p99 lateness under 1 s: **${p99Met ? 'met' : 'not met'}** (${ms(spread.lateness.p99)} ms${spread.drained ? '' : ', a lower bound'}). ` +
        `End-to-end notifications at least 50% of raw BullMQ: **${ratio >= RATIO_TARGET ? 'met' : 'not met'}** in the scenario as specified (${fmt(ratio * 100, 1)}%)` +
        (burst ? `, and **${burstRatio >= RATIO_TARGET ? 'met' : 'not met'}** at capacity (all due at once: ${fmt(burstRatio * 100, 1)}%).` : '.') +
        ` With ${fmt(TIMERS)} timers due evenly over ${fmt(WINDOW_MS / 1000)} s, the end-to-end rate cannot exceed about ${fmt(capped)}/s however fast the engine is (only that many fall due each second), ` +
        `${capped / rawRate < RATIO_TARGET ? `${fmt((capped / rawRate) * 100, 1)}% of raw BullMQ here: that scenario cannot meet the ratio by construction, which is why the burst scenario measures capacity` : 'which is why the burst scenario measures capacity too'}.` +
        (unfinished.length ? ` Not drained within the wait: ${unfinished.map((p) => `${p.label} (${fmt(p.fired)} of ${fmt(p.timers)} fired, ${fmt(p.missingEmails)} emails missing)`).join('; ')}.` : ''),
      '',
      `**SMTP alone**: ${fmt(smtp.n)} messages (the contract-ending reminder as rendered, half zh-CN, half en) sent through Upkeep's \`SmtpChannel\` (nodemailer, pooled, ${u.email.connections} connections and sends at a time, as the email worker's connections) into a fresh sink, after a warm-up, with nothing else of Upkeep's running: ` +
        `${fmt(smtp.rate)} messages/s; CPU per message ${fmt(smtp.nodeMs / smtp.n, 3)} ms in this process (composing the message, nodemailer's SMTP conversation) and ${fmt(smtp.sinkMs / smtp.n, 3)} ms in the sink (smtp-server parsing), ${fmt(smtpPerMessage(smtp), 3)} ms in all.`,
      '',
      `**What limits it here.** ${limits(spread, burst, rawBefore, rawAfter, capped, smtp)}`,
      '',
      `Machine load average (1 / 5 / 15 min) when this section started: ${loadBefore.map((x) => fmt(x, 2)).join(' / ')}; when it ended: ${loadAfter.map((x) => fmt(x, 2)).join(' / ')} ` +
        `(on ${os.cpus().length} logical CPUs; anything above the bench's own load means other processes competed for the CPU).`,
    ].join('\n');
    return { markdown };
  },
};

// Started as a child by startEmailWorker(): the email queue's workers, until told to close.
if (process.env[EMAIL_WORKER_ENV] && process.send && import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  serveEmailWorker(JSON.parse(process.env[EMAIL_WORKER_ENV]) as EmailWorkerSpec).catch((err: unknown) => {
    console.error(err);
    process.exit(1);
  });
}

// Started as a child by startSink(): the SMTP sink, until told to close.
if (process.env[SINK_ENV] && process.send && import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  serveSink().catch((err: unknown) => {
    console.error(err);
    process.exit(1);
  });
}
