import { fork } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import os from 'node:os';
import { performance } from 'node:perf_hooks';
import { pathToFileURL } from 'node:url';
import autocannon from 'autocannon';
import type { FastifyInstance } from 'fastify';
import type { LogEvent } from 'kysely';
import { buildApp } from '../src/app.js';
import { loadConfig } from '../src/config.js';
import { createDb, type Db } from '../src/db/index.js';
import { EMAIL_QUEUE_NAME } from '../src/jobs/jobs.js';
import { createQueue } from '../src/jobs/queue.js';
import { createRedis } from '../src/lib/redis.js';
import { closeChild, nextMessage } from './child.js';
import { BENCH_DATABASE_URL, BENCH_REDIS_URL, fmt } from './scratch.js';

/* ------------------------------------------------------------------------------------------- */
/* Small shared figures                                                                          */

/** Milliseconds with two decimals below 10, one above. */
export const ms1 = (n: number) => fmt(n, n < 10 ? 2 : 1);

/** The q-quantile of sorted values (nearest rank). */
export const pct = (sorted: number[], q: number) => sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1))] ?? NaN;

/** The machine's load average as the reports print it: `1.0 / 0.8 / 0.5`. */
export const loadAverage = () =>
  os
    .loadavg()
    .map((x) => fmt(x, 1))
    .join(' / ');

/** The connection string of a scratch database on the bench server. */
export function databaseUrlOf(dbName: string): string {
  const url = new URL(BENCH_DATABASE_URL);
  url.pathname = `/${dbName}`;
  return url.toString();
}

/* ------------------------------------------------------------------------------------------- */
/* Load from this process                                                                        */

export interface Load {
  requests: number;
  /** Answers with the expected status (the only ones whose latencies count). */
  ok: number;
  errors: number;
  seconds: number;
  rps: number;
  p50: number;
  p99: number;
  max: number;
  statuses: Record<string, number>;
}

export interface LoadRequest {
  method: 'GET' | 'POST';
  path: string;
  headers?: Record<string, string>;
  body?: string;
}

/**
 * `amount` requests over `connections` keep-alive connections, the i-th built by build(i) (each
 * connection gets its own request object in setupClient: autocannon would otherwise build a
 * connection's first request once for all of them). Exact latencies, not autocannon's histogram.
 */
export async function drive(opts: { url: string; amount: number; connections: number; expect: number; build: (i: number) => LoadRequest }): Promise<Load> {
  const latencies: number[] = [];
  const statuses: Record<string, number> = {};
  let errors = 0;
  let cursor = 0;
  const setupRequest = (req: autocannon.Request): autocannon.Request => {
    const r = opts.build(cursor++);
    return { ...req, method: r.method, path: r.path, headers: { ...(r.headers ?? {}), ...(r.body ? { 'content-type': 'application/json' } : {}) }, body: r.body };
  };
  const start = performance.now();
  let last = start;
  await new Promise<void>((resolve, reject) => {
    const instance = autocannon(
      { url: opts.url, connections: Math.max(1, Math.min(opts.connections, opts.amount)), amount: opts.amount, timeout: 60, setupClient: (client) => client.setRequests([{ setupRequest }]) },
      (err) => (err ? reject(err as Error) : resolve()),
    );
    instance.on('response', (_client, statusCode, _bytes, responseTime) => {
      statuses[statusCode] = (statuses[statusCode] ?? 0) + 1;
      if (statusCode === opts.expect) latencies.push(responseTime);
      last = performance.now();
    });
    instance.on('reqError', () => {
      errors++;
    });
  });
  const seconds = (last - start) / 1000;
  latencies.sort((a, b) => a - b);
  const total = Object.values(statuses).reduce((a, b) => a + b, 0);
  return { requests: total, ok: latencies.length, errors, seconds, rps: total / seconds, p50: pct(latencies, 0.5), p99: pct(latencies, 0.99), max: latencies[latencies.length - 1] ?? NaN, statuses };
}

/** Throws unless every request of a run answered the expected status. */
export function assertClean(r: Load, what: string): void {
  if (r.ok !== r.requests || r.errors) throw new Error(`${what}: ${JSON.stringify(r.statuses)}, ${r.errors} errors`);
}

/* ------------------------------------------------------------------------------------------- */
/* Children                                                                                      */

/**
 * Forks this benchmark's own module (`self`) with `spec` in the environment variable `envName`; the
 * module's runAsChild() picks it up there. Messages both ways are `{ type }` objects.
 */
export function forkSelf<From extends { type: string }, To extends { type: string }>(self: string, envName: string, spec: unknown, what: string, killAfterMs = 10_000) {
  // BENCH_CPU_PROF=<dir>: every child writes a V8 CPU profile there (open it in Chrome DevTools).
  const prof = process.env.BENCH_CPU_PROF ? ['--cpu-prof', `--cpu-prof-dir=${process.env.BENCH_CPU_PROF}`] : [];
  const child = fork(self, [], { execArgv: ['--import', 'tsx', ...prof], env: { ...process.env, [envName]: JSON.stringify(spec) }, stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
  const next = <T extends From['type']>(type: T) => nextMessage<From, T>(child, type, what);
  return {
    child,
    next,
    /** Sends `m` and waits for the child's message of type `answer`. */
    async ask<T extends From['type']>(m: To, answer: T): Promise<Extract<From, { type: T }>> {
      const reply = next(answer);
      child.send(m);
      return reply;
    },
    close: () => closeChild(child, killAfterMs),
  };
}

/** In the child started by forkSelf(): when this module is the one started, runs main(spec). */
export function runAsChild<S>(envName: string, moduleUrl: string, main: (spec: S) => Promise<void>): void {
  const spec = process.env[envName];
  if (!spec || !process.send || moduleUrl !== pathToFileURL(process.argv[1] ?? '').href) return;
  main(JSON.parse(spec) as S).catch((err: unknown) => {
    console.error(err);
    process.exit(1);
  });
}

/* ------------------------------------------------------------------------------------------- */
/* A server under load in a child process: the app or a bare route                              */

export interface ServerSpec {
  mode: 'app' | 'bare';
  databaseUrl: string;
  /** application_name of the server's connections (to find their backends, e.g. for their CPU time). */
  applicationName?: string;
}
export type ServerStats<X> = { rss: number; cpuMs: number; requests: number } & X;
type ToServer = { type: 'record'; on: boolean } | { type: 'reset' } | { type: 'stats' } | { type: 'close' };
type FromServer<X> = { type: 'ready'; port: number } | { type: 'stats'; stats: ServerStats<X> } | { type: 'ack' };

/** One distinct statement seen while recording: how often it ran, and its total time. */
export interface QueryStat {
  sql: string;
  count: number;
  ms: number;
}

/** Per-statement counts and times from Kysely's query log: what the benchmarks' recorders keep. */
export function statementStats() {
  const stats = new Map<string, QueryStat>();
  return {
    add(e: LogEvent) {
      const key = e.query.sql.replace(/\s+/g, ' ').trim();
      const s = stats.get(key) ?? { sql: key, count: 0, ms: 0 };
      s.count++;
      s.ms += e.queryDurationMillis;
      stats.set(key, s);
    },
    clear: () => stats.clear(),
    list: () => [...stats.values()],
  };
}

/** What a server records from its query log while the parent asks it to (counts, timings…). */
export interface QueryRecorder<X> {
  query(e: LogEvent): void;
  /** When given: each request's server time in ms (onRequest → onResponse). */
  request?(ms: number): void;
  reset(): void;
  stats(): X;
}

/**
 * In the child: the app (buildApp, every plugin) or a bare Fastify app, both on a pool made by
 * createDb as in production (src/db/index.ts: named prepared statements for repeated texts), listening on 127.0.0.1; queries (and, if it takes them, request
 * times) go to the recorder only between record(true) and record(false). Answers the parent's reset/stats/close until told to close.
 */
export async function serveUnderLoad<X>(spec: ServerSpec, recorder: QueryRecorder<X>, bare: (db: Db) => FastifyInstance): Promise<void> {
  const send = (m: FromServer<X>) => process.send?.(m);
  let recording = false;
  const log = (e: LogEvent) => {
    if (recording && e.level === 'query') recorder.query(e);
  };
  // Made as in production (src/bootstrap/start.ts), named prepared statements included, for the
  // app and the bare baseline alike.
  const db: Db = createDb(spec.databaseUrl, { max: 10, applicationName: spec.applicationName, log });
  const prefix = `bench-${randomBytes(5).toString('hex')}`;
  const redis = spec.mode === 'app' ? createRedis(BENCH_REDIS_URL, 'producer') : undefined;
  const queue = redis ? createQueue(redis, prefix) : undefined;
  // Given to the app so that it is removed with the rest (the metrics plugin would make its own).
  const emailQueue = redis ? createQueue(redis, prefix, EMAIL_QUEUE_NAME) : undefined;
  let app: FastifyInstance;
  if (spec.mode === 'app' && redis && queue) {
    const config = { ...loadConfig({ NODE_ENV: 'test', LOG_LEVEL: 'silent' }), databaseUrl: spec.databaseUrl, redisUrl: BENCH_REDIS_URL, queuePrefix: prefix };
    app = await buildApp({ config, db, redis, queue, emailQueue, databaseUrl: spec.databaseUrl }, { logger: false });
  } else {
    app = bare(db);
  }
  let requests = 0;
  const started = new WeakMap<object, number>();
  if (recorder.request) {
    app.addHook('onRequest', async (req) => {
      started.set(req, performance.now());
    });
  }
  app.addHook('onResponse', async (req) => {
    requests++;
    const from = started.get(req);
    if (recording && from !== undefined) recorder.request?.(performance.now() - from);
  });
  let cpuFrom = process.cpuUsage();
  await app.listen({ host: '127.0.0.1', port: 0 });
  const address = app.server.address();
  if (!address || typeof address === 'string') throw new Error('no port');
  process.on('message', (m: ToServer) => {
    if (m.type === 'record') {
      recording = m.on;
      send({ type: 'ack' });
    } else if (m.type === 'reset') {
      recorder.reset();
      requests = 0;
      cpuFrom = process.cpuUsage();
      send({ type: 'ack' });
    } else if (m.type === 'stats') {
      const cpu = process.cpuUsage(cpuFrom);
      send({ type: 'stats', stats: { rss: process.memoryUsage().rss, cpuMs: (cpu.user + cpu.system) / 1000, requests, ...recorder.stats() } });
    } else if (m.type === 'close') {
      void (async () => {
        await app.close().catch(() => {});
        for (const q of [queue, emailQueue]) {
          await q?.obliterate({ force: true }).catch(() => {});
          await q?.close().catch(() => {});
        }
        redis?.disconnect();
        await db.destroy().catch(() => {});
        process.exit(0);
      })();
    }
  });
  send({ type: 'ready', port: address.port });
}

export interface ServerHandle<X> {
  url: string;
  port: number;
  /** RSS, CPU and requests since the last reset, and what the recorder holds. */
  stats(): Promise<ServerStats<X>>;
  reset(): Promise<void>;
  /** Turns the query recorder on or off. */
  record(on: boolean): Promise<void>;
  close(): Promise<void>;
}

/** In the parent: starts `self` as a child running serveUnderLoad (through runAsChild) and waits for it to listen. */
export async function startServer<X>(self: string, envName: string, spec: ServerSpec): Promise<ServerHandle<X>> {
  const link = forkSelf<FromServer<X>, ToServer>(self, envName, spec, `the ${spec.mode} server`);
  const ready = await link.next('ready');
  return {
    url: `http://127.0.0.1:${ready.port}`,
    port: ready.port,
    stats: async () => (await link.ask({ type: 'stats' }, 'stats')).stats,
    reset: async () => void (await link.ask({ type: 'reset' }, 'ack')),
    record: async (on) => void (await link.ask({ type: 'record', on }, 'ack')),
    close: link.close,
  };
}
