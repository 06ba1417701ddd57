import { UnrecoverableError, Worker, type Job } from 'bullmq';
import type { Redis } from 'ioredis';
import type { Logger } from 'pino';
import type { Config } from '../src/config.js';
import type { Db } from '../src/db/index.js';
import { EMAIL_QUEUE_NAME, QUEUE_NAME } from '../src/jobs/jobs.js';
import { createEmailChannel, type EmailChannel } from '../src/modules/notifications/channels.js';
import { startRelay, type RelayQueues } from '../src/modules/timers/relay.js';
import { createQueue, emailJobOptions, type UpkeepQueue } from '../src/jobs/queue.js';
import { createRedis } from '../src/lib/redis.js';
import { runWithRequestId } from '../src/lib/request-context.js';
import { FiringMemo, startSweeper } from '../src/modules/timers/timers.jobs.js';
import { EmailSender } from '../src/modules/notifications/notifications.service.js';
import { createHandlers, createTimerBatchHandlers, createTimerHandlers, dispatch, type JobHandlers } from './registry.js';
import { registerSchedulers } from './schedulers.js';

export interface StartWorkersOptions {
  config: Config;
  db: Db;
  redisUrl: string;
  logger: Logger;
  /** BullMQ key prefix; defaults to config.queuePrefix (tests pass a unique one). */
  prefix?: string;
  /** For the relay's LISTEN (commits wake it at once); without it the relay only polls. */
  databaseUrl?: string;
  /** Replaces the email channel made from SMTP_URL (tests). */
  channel?: EmailChannel;
}

export interface Workers {
  /** The main queue's worker (absent when WORKER_QUEUES=email). */
  worker: Worker | undefined;
  /** Sends emails, rate-limited (EMAIL_RATE_PER_SECOND); absent when WORKER_QUEUES=main. */
  emailWorker: Worker | undefined;
  /** The producer handlers use to enqueue further jobs. */
  queue: UpkeepQueue;
  emailQueue: UpkeepQueue;
  /** Runs one relay pass now (tests; production relies on NOTIFY and polling). */
  kickRelay(): void;
  /**
   * Graceful: stops taking jobs, waits for the running ones to finish, then closes the queue
   * and both Redis connections. Idempotent. A job that cannot finish (the process is killed
   * first) is handed back by BullMQ's stalled check once its lock lapses (see lockDuration).
   */
  close(): Promise<void>;
}

/** Email jobs an email worker runs at once: five per pooled SMTP connection (SMTP_MAX_CONNECTIONS). */
export const emailJobsAtOnce = (config: Pick<Config, 'smtpMaxConnections'>) => config.smtpMaxConnections * 5;
/** How long the first email job of a batch waits for others to start (EmailSender). */
const EMAIL_BATCH_WINDOW_MS = 2;

/**
 * Starts the BullMQ workers for the jobs in src/jobs/jobs.ts, as WORKER_QUEUES says: the main
 * queue's (with the relay and the schedulers) and the email queue's, or one of them.
 */
export async function startWorkers(opts: StartWorkersOptions): Promise<Workers> {
  const { config, db } = opts;
  const prefix = opts.prefix ?? config.queuePrefix;
  const logger = opts.logger.child({ component: 'workers', queue: QUEUE_NAME, prefix });
  const consumesMain = config.workerQueues !== 'email';
  const consumesEmail = config.workerQueues !== 'main';

  // Both connections are worker-role (maxRetriesPerRequest: null): a worker waits for Redis to
  // come back rather than failing; BullMQ requires it for the worker's blocking connection,
  // and the queue's separate connection keeps handler enqueues off the worker's own.
  const workerConnection = createRedis(opts.redisUrl, 'worker');
  const queueConnection = createRedis(opts.redisUrl, 'worker');
  const queue = createQueue(queueConnection, prefix);
  // Email jobs retry on the row's terms (EMAIL_MAX_ATTEMPTS, EMAIL_RETRY_BASE_MS): see emailJobOptions.
  const emailQueue = createQueue(queueConnection, prefix, EMAIL_QUEUE_NAME, emailJobOptions(config));
  const timerBatchHandlers = createTimerBatchHandlers();
  // With the sweeper on, the batchable kinds' jobs are its fallback (see RelayQueues.sweptKinds).
  const relayQueues: RelayQueues = {
    main: queue,
    email: emailQueue,
    redis: queueConnection,
    ...(config.timerSweepMs > 0 ? { sweptKinds: new Set(Object.keys(timerBatchHandlers)) } : {}),
    // Emails are relayed by the process that sends them, timers by the one that fires them.
    outboxes: { timers: consumesMain, emails: consumesEmail },
  };
  // Emails go out over SMTP_MAX_CONNECTIONS pooled SMTP connections...
  const channel =
    opts.channel ?? createEmailChannel({ smtpUrl: config.smtpUrl, from: config.emailFrom, logger: logger.child({ component: 'email' }), maxConnections: config.smtpMaxConnections });
  // ...and this many email jobs run at once. The jobs that start together share one claim and
  // one mark (EmailSender), so a few per connection keep the connections busy while PostgreSQL
  // sees one statement per batch. The limiter still counts one job per email.
  const emailConcurrency = emailJobsAtOnce(config);
  const emailSender = new EmailSender(
    { db, channel, config },
    { maxBatch: emailConcurrency, windowMs: EMAIL_BATCH_WINDOW_MS, onBatch: (size) => logger.debug({ size }, 'email batch') },
  );
  const handlers: JobHandlers = createHandlers();
  const timerHandlers = createTimerHandlers();
  const firingMemo = new FiringMemo();

  const processor = async (job: Job): Promise<void> => {
    // The API request that caused this job (timers and emails carry it): in every line the job
    // logs, and current while it runs, so what it schedules in turn carries it too.
    const requestId = requestIdOf(job);
    const jobLogger = logger.child({ jobId: job.id, job: job.name, attempt: job.attemptsMade + 1, ...(requestId ? { requestId } : {}) });
    await runWithRequestId(requestId, () => dispatch(handlers, job, {
      db,
      queue,
      emailQueue,
      channel,
      config,
      timerHandlers,
      timerBatchHandlers,
      firingMemo,
      emailSender,
      relayQueues,
      logger: jobLogger,
      job: { id: job.id, name: job.name, attemptsMade: job.attemptsMade },
    }));
  };

  let worker: Worker | undefined;
  let emailWorker: Worker | undefined;
  let relay: ReturnType<typeof startRelay> | undefined;
  let sweeper: ReturnType<typeof startSweeper> | undefined;
  let schedulerRefresh: NodeJS.Timeout | undefined;
  try {
    await warnUnlessNoEviction(queueConnection, logger);

    if (consumesMain) worker = new Worker(QUEUE_NAME, processor, {
      connection: workerConnection,
      prefix,
      concurrency: config.workerConcurrency,
      // While a job runs its lock is renewed every lockDuration/2 (15 s). If the process dies
      // (crash, OOM, SIGKILL after a failed graceful stop) the lock lapses within 30 s and the
      // job counts as stalled. Handlers must therefore never block the event loop for 30 s:
      // they page through PostgreSQL (verifyChain reads 5,000 events at a time).
      lockDuration: 30_000,
      // How often to look for jobs whose lock lapsed and hand them back to the wait list
      // (STALLED_INTERVAL_MS, 30 s): with the lock above, a dead worker's job runs again
      // elsewhere within about a minute.
      stalledInterval: config.stalledIntervalMs,
      // A job may stall twice (a deploy's kill, then a crash) before it is failed instead of
      // re-queued: a job that kills its worker every time must not crash-loop the fleet.
      maxStalledCount: 2,
    });

    // Emails: their own queue, so the limiter throttles SMTP and nothing else.
    if (consumesEmail) emailWorker = new Worker(EMAIL_QUEUE_NAME, processor, {
      connection: createRedis(opts.redisUrl, 'worker'),
      prefix,
      concurrency: emailConcurrency,
      limiter: { max: config.emailRatePerSecond, duration: 1_000 },
      // EMAIL_LOCK_MS (60 s). A live worker renews the lock every half of it, however long the
      // send takes (the SMTP timeouts bound it to about 40 s anyway). A worker killed mid-send
      // gives its job back after this plus the stalled interval; the retry finds the row's lease
      // lapsed (EMAIL_LEASE_SECONDS) and sends again with the same Message-ID.
      lockDuration: config.emailLockMs,
      stalledInterval: config.stalledIntervalMs,
      maxStalledCount: 2,
    });
    emailWorker?.on('error', (err) => logger.error({ err }, 'email worker error'));
    emailWorker?.on('failed', (job, err) => logger.warn({ jobId: job?.id, attemptsMade: job?.attemptsMade, requestId: job && requestIdOf(job), err: err.message }, 'email send failed'));

    if (worker) {
      const main = worker;
      // Debug only: at info a line per job (one per timer fired) costs a serialisation and a write
      // each on the worker's event loop; failures and stalls below stay at warn/error.
      if (logger.isLevelEnabled('debug')) {
        main.on('completed', (job) => {
          const ms = job.finishedOn !== undefined && job.processedOn !== undefined ? job.finishedOn - job.processedOn : undefined;
          logger.debug({ jobId: job.id, job: job.name, ms, requestId: requestIdOf(job) }, 'job completed');
        });
      }
      main.on('failed', (job, err) => {
        const attempts = job?.opts.attempts ?? 1;
        const willRetry = job !== undefined && job.attemptsMade < attempts && !(err instanceof UnrecoverableError);
        logger[willRetry ? 'warn' : 'error'](
          { jobId: job?.id, job: job?.name, attemptsMade: job?.attemptsMade, attempts, willRetry, requestId: job && requestIdOf(job), err },
          willRetry ? 'job failed; will retry' : 'job failed',
        );
      });
      main.on('stalled', (jobId) => logger.warn({ jobId }, 'job stalled (its worker stopped renewing the lock); handed back to the queue'));
      // Without a listener an 'error' event would throw; connection trouble is retried by ioredis.
      main.on('error', (err) => logger.error({ err }, 'worker error'));

      await registerSchedulers(queue, config);
      // Schedulers live in Redis: re-upserting them regularly brings them back after Redis lost
      // its data (the reconciler they run then restores every timer).
      schedulerRefresh = setInterval(() => {
        registerSchedulers(queue, config).catch((err: unknown) => logger.warn({ err: (err as Error).message }, 'could not refresh schedulers'));
      }, config.reconcileEveryMs);
      schedulerRefresh.unref();
      sweeper = startSweeper({ db, logger: logger.child({ component: 'sweeper' }), timerHandlers, timerBatchHandlers, firingMemo, relayQueues }, config.timerSweepMs);
    }
    relay = startRelay({ db, databaseUrl: opts.databaseUrl, queues: relayQueues, logger: logger.child({ component: 'relay' }), pollMs: config.relayPollMs });
  } catch (err) {
    clearInterval(schedulerRefresh);
    await sweeper?.close();
    await relay?.close();
    await emailWorker?.close();
    await closeAll(worker, queue, [workerConnection, queueConnection]);
    throw err;
  }

  logger.info({ concurrency: config.workerConcurrency, queues: config.workerQueues }, 'workers started');

  const started = worker;
  const startedEmail = emailWorker;
  const startedRelay = relay;
  const startedSweeper = sweeper;
  let closing: Promise<void> | undefined;
  return {
    worker: started,
    emailWorker: startedEmail,
    queue,
    emailQueue,
    kickRelay: () => startedRelay?.kick(),
    close() {
      closing ??= (async () => {
        logger.info('workers closing: waiting for running jobs to finish');
        clearInterval(schedulerRefresh);
        await startedSweeper?.close();
        await startedRelay?.close();
        await startedEmail?.close();
        await emailQueue.close();
        channel.close();
        await closeAll(started, queue, [workerConnection, queueConnection]);
        logger.info('workers closed');
      })();
      return closing;
    },
  };
}

async function closeAll(worker: Worker | undefined, queue: UpkeepQueue, connections: Redis[]): Promise<void> {
  // worker.close() without force waits for the jobs in progress to complete.
  await worker?.close();
  await queue.close();
  await Promise.all(connections.map((c) => closeRedis(c)));
}

/** QUIT, or drop the connection if Redis does not answer (it may be the reason we stop). */
async function closeRedis(redis: Redis, timeoutMs = 2_000): Promise<void> {
  if (redis.status === 'end') return;
  let timer: NodeJS.Timeout | undefined;
  try {
    await Promise.race([
      redis.quit(),
      new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new Error('QUIT timed out')), timeoutMs);
      }),
    ]);
  } catch {
    redis.disconnect();
  } finally {
    clearTimeout(timer);
  }
}

/**
 * BullMQ needs `maxmemory-policy noeviction`: under any other policy Redis may evict queue
 * keys under memory pressure, silently losing jobs. Managed Redis often disables CONFIG; then
 * we cannot tell and say so at debug level only.
 */
async function warnUnlessNoEviction(redis: Redis, logger: Logger): Promise<void> {
  let policy: string | undefined;
  try {
    const reply: unknown = await redis.config('GET', 'maxmemory-policy');
    if (Array.isArray(reply)) policy = typeof reply[1] === 'string' ? reply[1] : undefined;
    else if (reply !== null && typeof reply === 'object') policy = (reply as Record<string, unknown>)['maxmemory-policy'] as string | undefined;
  } catch (err) {
    logger.debug({ err }, 'could not read Redis maxmemory-policy (CONFIG may be disabled)');
    return;
  }
  if (policy !== undefined && policy !== 'noeviction') {
    logger.warn({ maxmemoryPolicy: policy }, 'Redis maxmemory-policy is not "noeviction": Redis may evict queued jobs under memory pressure; set maxmemory-policy noeviction');
  }
}

/** The request id a job carries in its data (timer.fire, notification.send), if a sane one. */
function requestIdOf(job: Job): string | undefined {
  const id = (job.data as { requestId?: unknown } | undefined)?.requestId;
  return typeof id === 'string' && id.length > 0 && id.length <= 128 ? id : undefined;
}
