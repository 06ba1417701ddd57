import { randomBytes } from 'node:crypto';
import type { FastifyInstance } from 'fastify';
import type { Redis } from 'ioredis';
import pg from 'pg';
import { buildApp } from '../src/app.js';
import { loadConfig } from '../src/config.js';
import { createDb, type Db } from '../src/db/index.js';
import { migrateToLatest } from '../src/db/migrator.js';
import { createQueue, type UpkeepQueue } from '../src/jobs/queue.js';
import { createRedis } from '../src/lib/redis.js';

/**
 * Shared by the benchmarks: a scratch database on the real PostgreSQL (created, migrated, dropped
 * afterwards) and the whole app built on it with a producer Redis connection, as in
 * tests/helpers/app.ts. Requests go through app.inject (no socket).
 */

export const BENCH_DATABASE_URL = process.env.BENCH_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres';
export const BENCH_REDIS_URL = process.env.BENCH_REDIS_URL ?? process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';

function urlFor(name: string): string {
  const u = new URL(BENCH_DATABASE_URL);
  u.pathname = `/${name}`;
  return u.toString();
}

async function admin<T>(fn: (client: pg.Client) => Promise<T>): Promise<T> {
  const client = new pg.Client({ connectionString: BENCH_DATABASE_URL });
  await client.connect();
  try {
    return await fn(client);
  } finally {
    await client.end();
  }
}

export async function postgresVersion(): Promise<string> {
  return admin(async (c) => (await c.query<{ server_version: string }>('SHOW server_version')).rows[0]?.server_version ?? 'unknown');
}

export interface ScratchApp {
  app: FastifyInstance;
  db: Db;
  dbName: string;
  redis: Redis;
  queue: UpkeepQueue;
  close(): Promise<void>;
}

/** A fresh migrated database `upkeep_bench_<random>` and the app on it; close() drops it. */
export async function scratchApp(): Promise<ScratchApp> {
  const suffix = randomBytes(5).toString('hex');
  const dbName = `upkeep_bench_${suffix}`;
  await admin((c) => c.query(`CREATE DATABASE ${dbName}`));
  const db = createDb(urlFor(dbName), { max: 10 });
  let redis: Redis | undefined;
  let queue: UpkeepQueue | undefined;
  let app: FastifyInstance | undefined;
  const close = async () => {
    await app?.close().catch(() => {});
    await queue?.obliterate({ force: true }).catch(() => {});
    await queue?.close().catch(() => {});
    redis?.disconnect();
    await db.destroy().catch(() => {});
    await admin((c) => c.query(`DROP DATABASE IF EXISTS ${dbName} WITH (FORCE)`));
  };
  try {
    await migrateToLatest(db);
    const prefix = `bench-${suffix}`;
    const config = { ...loadConfig({ NODE_ENV: 'test', LOG_LEVEL: 'silent' }), databaseUrl: urlFor(dbName), redisUrl: BENCH_REDIS_URL, queuePrefix: prefix };
    redis = createRedis(BENCH_REDIS_URL, 'producer');
    queue = createQueue(redis, prefix);
    app = await buildApp({ config, db, redis, queue, databaseUrl: urlFor(dbName) }, { logger: false });
    await app.ready();
    return { app, db, dbName, redis, queue, close };
  } catch (err) {
    await close();
    throw err;
  }
}

/** A community whose property company's manager may manage it; returns an access token for that manager. */
export async function managedCommunity(s: ScratchApp, label: string) {
  const community = await s.db
    .insertInto('communities')
    .values({ name: `基准小区-${label}-${randomBytes(3).toString('hex')}`, district: 'BenchDistrict', address: null, time_zone: 'Asia/Shanghai' })
    .returning('id')
    .executeTakeFirstOrThrow();
  const company = await s.db.insertInto('organizations').values({ kind: 'property_company', name: `物业-${randomBytes(3).toString('hex')}`, community_id: null, district: null }).returning('id').executeTakeFirstOrThrow();
  await s.db.insertInto('duty_assignments').values({ community_id: community.id, organization_id: company.id, basis: 'service_contract', facility_category: null }).execute();
  const user = await s.db
    .insertInto('users')
    .values({ email: `bench-${randomBytes(4).toString('hex')}@bench.upkeep.cn`, name: '基准经理', password_hash: 'not-a-login', is_platform_admin: false, locale: 'zh-CN' })
    .returning('id')
    .executeTakeFirstOrThrow();
  await s.db.insertInto('memberships').values({ user_id: user.id, organization_id: company.id, role: 'manager' }).execute();
  return { communityId: community.id, userId: user.id, token: s.app.jwt.sign({ sub: user.id, typ: 'access' }) };
}

/* ------------------------------------------------------------------------------------------- */

export const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  const mid = Math.floor(s.length / 2);
  return s.length % 2 ? (s[mid] as number) : ((s[mid - 1] as number) + (s[mid] as number)) / 2;
};

export const fmt = (n: number, digits = 0) => n.toLocaleString('en-US', { minimumFractionDigits: digits, maximumFractionDigits: digits });
export const mib = (bytes: number) => `${fmt(bytes / 1024 / 1024)} MiB`;

/** One benchmark: run() does its own setup and teardown and returns its section of docs/BENCHMARKS.md. */
export interface Benchmark {
  /** Short id, e.g. "csv-import". */
  id: string;
  title: string;
  run(log: (line: string) => void): Promise<{ markdown: string }>;
}
