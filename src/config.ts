import { join } from 'node:path';
import { envReader } from './lib/env.js';

export { ConfigError } from './lib/env.js';

/**
 * Typed configuration read from the environment once, at start. Every variable is optional:
 * with none set Upkeep runs on an embedded PostgreSQL and a local Redis (see src/bootstrap).
 */
export interface Config {
  nodeEnv: 'development' | 'production' | 'test';
  host: string;
  port: number;
  /** Absent: start the embedded PostgreSQL under dataDir. */
  databaseUrl: string | undefined;
  /** Absent: Redis at 127.0.0.1:6379, else a redis-server started under dataDir. */
  redisUrl: string | undefined;
  /** PostgreSQL connections per process. */
  databasePoolMax: number;
  /** Named prepared statements for hot queries; off behind a transaction-mode PgBouncer. */
  databasePreparedStatements: boolean;
  smtpUrl: string | undefined;
  dataDir: string;
  embeddedPgPort: number;
  jwtSecret: string;
  accessTokenTtlSeconds: number;
  refreshTokenTtlDays: number;
  loginMaxFailures: number;
  lockoutMinutes: number;
  loginRateLimitPerMinute: number;
  queuePrefix: string;
  workerConcurrency: number;
  /**
   * Which queues this worker process consumes: `all` (the default: one process does everything),
   * `main` (timers, digests, inspections; runs the relay and the schedulers) or `email` (sends
   * only). Splitting them across processes keeps timer firing off the email sender's event loop.
   */
  workerQueues: 'all' | 'main' | 'email';
  logLevel: string;
  seedDemo: boolean;
  publicUrl: string | undefined;
  emailFrom: string;
  /** SMTP sends per second at most (BullMQ limiter): a large vote must not flood the server. */
  emailRatePerSecond: number;
  /**
   * SMTP connections an email worker process keeps open at most (nodemailer's pool opens them as
   * sends need them). Each carries one message at a time, so while a backlog drains this, not the
   * CPU, bounds the rate: a message spends most of its SMTP conversation waiting for answers.
   */
  smtpMaxConnections: number;
  /** Attempts before an email ends as dead. */
  emailMaxAttempts: number;
  /** How long a sender's claim on an email lasts; past it the send is presumed dead and retried. */
  emailLeaseSeconds: number;
  /**
   * How often the relay polls for unrelayed timers and emails. NOTIFY wakes it sooner for emails
   * and for timers due within 60 s; later timers wait for the poll, hence at most 60 s.
   */
  relayPollMs: number;
  /** How often the reconciler restores timers missing from Redis. */
  reconcileEveryMs: number;
  /**
   * The timer sweeper's pass interval while timers fall due: it fires due timers of the
   * batchable kinds straight from PostgreSQL, a batch per transaction, at most this late (plus
   * the batch's own time). 0 turns it off (timers then fire only through their BullMQ jobs).
   */
  timerSweepMs: number;
  /**
   * How long an API process may keep reference data it read (actors, communities' SLA context),
   * at most: the change feed (LISTEN upkeep_changes) empties the caches on every change, this
   * bounds what a missed notification could cost. 0 turns the caches off.
   */
  cacheTtlMs: number;
  /** First retry delay of a failed email send; each further retry waits twice as long. */
  emailRetryBaseMs: number;
  /**
   * How long an email job's lock lasts without renewal (a live worker renews it every half of
   * this): a worker that died mid-send gives its job back after at most this plus stalledIntervalMs.
   */
  emailLockMs: number;
  /** How often workers look for jobs whose lock lapsed (their worker died) and hand them back. */
  stalledIntervalMs: number;
  /** Public QR fault reports accepted a minute per client address and facility token. */
  publicReportRateLimitPerMinute: number;
  /** Alarms accepted a minute per device. */
  deviceAlarmRateLimitPerMinute: number;
  /** The largest ticket attachment accepted, in bytes. */
  uploadMaxBytes: number;
  /** Where ticket attachments are stored, at server-chosen paths (default <DATA_DIR>/uploads). */
  uploadDir: string;
  /** When set, GET /metrics requires `Authorization: Bearer <METRICS_TOKEN>`; unset, it is open. */
  metricsToken: string | undefined;
  /** How many days ahead inspection tasks are generated (the rolling horizon). */
  inspectionHorizonDays: number;
}

export function loadConfig(env: NodeJS.ProcessEnv = process.env): Config {
  const r = envReader(env);
  const nodeEnv = r.oneOf('NODE_ENV', ['development', 'production', 'test'] as const, 'development');
  const jwtSecret = r.string('JWT_SECRET', nodeEnv === 'production' ? undefined : 'upkeep-dev-secret-change-me-in-production');
  if (jwtSecret && jwtSecret.length < 32 && nodeEnv === 'production') {
    r.problem('JWT_SECRET must be at least 32 characters in production');
  }
  const config: Config = {
    nodeEnv,
    host: r.string('HOST', '127.0.0.1'),
    port: r.int('PORT', 3000, 0, 65535),
    databaseUrl: r.url('DATABASE_URL', ['postgres:', 'postgresql:']),
    redisUrl: r.url('REDIS_URL', ['redis:', 'rediss:']),
    databasePoolMax: r.int('DATABASE_POOL_MAX', 20, 2, 500),
    databasePreparedStatements: r.bool('DATABASE_PREPARED_STATEMENTS', true),
    smtpUrl: r.url('SMTP_URL', ['smtp:', 'smtps:']),
    dataDir: r.string('DATA_DIR', '.data'),
    embeddedPgPort: r.int('EMBEDDED_PG_PORT', 54329, 1, 65535),
    jwtSecret,
    accessTokenTtlSeconds: r.int('ACCESS_TOKEN_TTL_SECONDS', 900, 30, 86400),
    refreshTokenTtlDays: r.int('REFRESH_TOKEN_TTL_DAYS', 30, 1, 365),
    loginMaxFailures: r.int('LOGIN_MAX_FAILURES', 5, 1, 100),
    lockoutMinutes: r.int('LOCKOUT_MINUTES', 15, 1, 1440),
    loginRateLimitPerMinute: r.int('LOGIN_RATE_LIMIT_PER_MINUTE', 20, 1, 10000),
    queuePrefix: r.string('QUEUE_PREFIX', 'upkeep'),
    workerConcurrency: r.int('WORKER_CONCURRENCY', 5, 1, 200),
    workerQueues: r.oneOf('WORKER_QUEUES', ['all', 'main', 'email'] as const, 'all'),
    logLevel: r.oneOf('LOG_LEVEL', ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const, 'info'),
    seedDemo: r.bool('SEED_DEMO', true),
    publicUrl: r.url('PUBLIC_URL', ['http:', 'https:']),
    emailFrom: r.string('EMAIL_FROM', 'Upkeep <no-reply@upkeep.local>'),
    emailRatePerSecond: r.int('EMAIL_RATE_PER_SECOND', 20, 1, 10_000),
    smtpMaxConnections: r.int('SMTP_MAX_CONNECTIONS', 20, 1, 100),
    emailMaxAttempts: r.int('EMAIL_MAX_ATTEMPTS', 6, 1, 50),
    emailLeaseSeconds: r.int('EMAIL_LEASE_SECONDS', 60, 1, 3600),
    relayPollMs: r.int('RELAY_POLL_MS', 5_000, 50, 60_000),
    reconcileEveryMs: r.int('RECONCILE_EVERY_MS', 60_000, 1_000, 86_400_000),
    timerSweepMs: r.int('TIMER_SWEEP_MS', 100, 0, 60_000),
    cacheTtlMs: r.int('CACHE_TTL_MS', 30_000, 0, 3_600_000),
    emailRetryBaseMs: r.int('EMAIL_RETRY_BASE_MS', 5_000, 10, 3_600_000),
    emailLockMs: r.int('EMAIL_LOCK_MS', 60_000, 1_000, 600_000),
    stalledIntervalMs: r.int('STALLED_INTERVAL_MS', 30_000, 500, 600_000),
    publicReportRateLimitPerMinute: r.int('PUBLIC_REPORT_RATE_LIMIT_PER_MINUTE', 5, 1, 10_000),
    deviceAlarmRateLimitPerMinute: r.int('DEVICE_ALARM_RATE_LIMIT_PER_MINUTE', 120, 1, 100_000),
    uploadMaxBytes: r.int('UPLOAD_MAX_BYTES', 10 * 1024 * 1024, 1024, 1024 * 1024 * 1024),
    uploadDir: r.string('UPLOAD_DIR', join(r.string('DATA_DIR', '.data'), 'uploads')),
    metricsToken: env.METRICS_TOKEN?.trim() ? env.METRICS_TOKEN.trim() : undefined,
    inspectionHorizonDays: r.int('INSPECTION_HORIZON_DAYS', 30, 1, 366),
  };
  r.done();
  return config;
}
