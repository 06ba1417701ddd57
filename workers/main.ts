import { realpathSync } from 'node:fs';
import { pathToFileURL } from 'node:url';
import { pino, type Logger } from 'pino';
import type { Kysely } from 'kysely';
import { StartupError, resolveServices, type ResolvedServices } from '../src/bootstrap/services.js';
import { ConfigError, loadConfig, type Config } from '../src/config.js';
import { createDb, type Db } from '../src/db/index.js';
import { migrateToLatest } from '../src/db/migrator.js';
import { startWorkers, type Workers } from './worker.js';

/**
 * The worker process: `npm run start:workers`. SIGTERM or SIGINT stops it gracefully (running
 * jobs finish); a second signal exits at once, and BullMQ hands the interrupted jobs back to
 * the queue when their locks lapse. The one-process mode reuses startWorkers from worker.ts.
 */

/** How long a stop waits for a start still in progress (e.g. waiting for Redis) to settle. */
const STARTUP_SETTLE_MS = 5_000;

class StopRequested extends Error {}

interface Running {
  stopping: boolean;
  services?: ResolvedServices;
  db?: Db;
  workers?: Workers;
}

async function start(config: Config, logger: Logger, running: Running): Promise<void> {
  const check = () => {
    if (running.stopping) throw new StopRequested();
  };
  running.services = await resolveServices(config, logger);
  check();
  running.db = createDb(running.services.databaseUrl);
  // Idempotent and run in a transaction: safe even when the API process migrates at the same time.
  // The cast: migrateToLatest takes Kysely<unknown>, to which Kysely<Database> does not assign.
  const applied = await migrateToLatest(running.db as unknown as Kysely<unknown>);
  if (applied.length > 0) logger.info({ applied }, 'migrations applied');
  check();
  running.workers = await startWorkers({ config, db: running.db, redisUrl: running.services.redisUrl, logger });
}

/** Closes what has been started, last first. */
async function stop(running: Running): Promise<void> {
  await running.workers?.close();
  await running.db?.destroy();
  await running.services?.stop();
}

async function main(): Promise<void> {
  let config: Config;
  try {
    config = loadConfig();
  } catch (err) {
    if (err instanceof ConfigError) {
      process.stderr.write(`${err.message}\n`);
      process.exit(1);
    }
    throw err;
  }
  const logger = pino({ name: 'upkeep-workers', level: config.logLevel });
  const running: Running = { stopping: false };
  // Set once start() begins; the signal handler may run before that.
  const startup: { promise?: Promise<void> } = {};

  const onSignal = (signal: NodeJS.Signals) => {
    if (running.stopping) {
      logger.warn({ signal }, 'second signal: exiting now; interrupted jobs return to the queue when their locks lapse');
      process.exit(1);
    }
    running.stopping = true;
    logger.info({ signal }, 'stopping: waiting for running jobs to finish (send the signal again to force)');
    void (async () => {
      // A start still in progress notices `stopping` at its next step; do not wait forever for it.
      await Promise.race([startup.promise?.catch(() => {}), new Promise((resolve) => setTimeout(resolve, STARTUP_SETTLE_MS).unref())]);
      await stop(running);
      logger.info('stopped');
      process.exit(0);
    })().catch((err: unknown) => {
      logger.error({ err }, 'error while stopping');
      process.exit(1);
    });
  };
  process.on('SIGTERM', onSignal);
  process.on('SIGINT', onSignal);

  startup.promise = start(config, logger, running);
  try {
    await startup.promise;
  } catch (err) {
    if (err instanceof StopRequested) return; // the signal handler finishes the stop
    if (running.stopping) return; // a failure caused by stopping mid-start is not news
    if (err instanceof ConfigError || err instanceof StartupError) {
      // Something the operator fixes: the message says what; a stack trace would only hide it.
      process.stderr.write(`${err.message}\n`);
    } else {
      logger.fatal({ err }, 'workers failed to start');
    }
    await stop(running).catch(() => {});
    process.exit(1);
  }
}

function isEntryPoint(): boolean {
  const entry = process.argv[1];
  if (entry === undefined) return false;
  try {
    return import.meta.url === pathToFileURL(realpathSync(entry)).href;
  } catch {
    return false;
  }
}

if (isEntryPoint()) {
  main().catch((err: unknown) => {
    process.stderr.write(`${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
    process.exit(1);
  });
}
