import { createHash, timingSafeEqual } from 'node:crypto';
import fp from 'fastify-plugin';
import { sql } from 'kysely';
import { Queue } from 'bullmq';
import { collectDefaultMetrics, Gauge, Histogram, Registry } from 'prom-client';
import { EMAIL_QUEUE_NAME, QUEUE_NAME } from '../jobs/jobs.js';
import type { UpkeepQueue } from '../jobs/queue.js';
import { unauthorized } from '../lib/errors.js';
import { OPEN_STATUSES } from '../modules/tickets/state-machine.js';
import { withTimeout } from '../lib/timeout.js';

/**
 * Prometheus metrics at GET /metrics (text exposition format), outside the OpenAPI document.
 * Open by default; with METRICS_TOKEN set it requires `Authorization: Bearer <token>`.
 *
 * - upkeep_http_request_duration_seconds{method,route,status_code}: histogram of every request,
 *   by route pattern (/api/v1/tickets/:id, never the raw URL; "unmatched" for 404s of no route);
 * - upkeep_queue_jobs{queue,state}: jobs per BullMQ queue and state (waiting, delayed, active,
 *   failed), read from Redis on each scrape;
 * - upkeep_queue_oldest_due_lateness_seconds{queue}: how long past its due time the earliest
 *   delayed job is (0 when none is due yet): grows when no worker promotes due jobs;
 * - upkeep_notifications{channel,status}: notifications by status, from PostgreSQL on each scrape;
 * - upkeep_sla_breached_tickets{target,state}: tickets whose response / resolution target was
 *   breached, open or no longer open, from PostgreSQL on each scrape;
 * - upkeep_actor_cache_lookups{result}: the actor cache's hits and misses since start (src/plugins/auth.ts);
 *   upkeep_change_feed_live: 1 while the change feed that keeps the caches honest listens, else 0
 *   (then nothing is cached: every request reads its actor);
 * - upkeep_metrics_collector_up{collector}: 1 when the scrape could read that source (queues from
 *   Redis; notifications and sla from PostgreSQL), else 0 and its series are left out: a scrape
 *   never fails or hangs because a dependency is down (each read is bounded by COLLECT_TIMEOUT_MS);
 * - the process metrics of prom-client's collectDefaultMetrics (CPU, memory, event loop lag, GC…).
 *
 * Each app instance has its own registry (tests build many apps in one process); the process
 * metrics live in one registry per process.
 */

const COLLECT_TIMEOUT_MS = 1_500;
const QUEUE_STATES = ['waiting', 'delayed', 'active', 'failed'] as const;
const NOTIFICATION_STATUSES = ['pending', 'sending', 'sent', 'failed', 'dead'] as const;

let processRegistry: Registry | undefined;
function processMetrics(): Registry {
  if (!processRegistry) {
    processRegistry = new Registry();
    collectDefaultMetrics({ register: processRegistry });
  }
  return processRegistry;
}

const digest = (s: string) => createHash('sha256').update(s).digest();

export interface MetricsOptions {
  /** METRICS_TOKEN: when set, scrapes must send it as a bearer token. */
  token?: string;
}

export default fp(
  async (app, opts: MetricsOptions) => {
    // Started with the first app, so the process counters (CPU…) count from then on.
    processMetrics();
    const registry = new Registry();
    const httpDuration = new Histogram({
      name: 'upkeep_http_request_duration_seconds',
      help: 'HTTP request latency by route pattern, method and status code',
      labelNames: ['method', 'route', 'status_code'] as const,
      buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
      registers: [registry],
    });
    const queueJobs = new Gauge({ name: 'upkeep_queue_jobs', help: 'Jobs per queue and state (read from Redis at scrape time)', labelNames: ['queue', 'state'] as const, registers: [registry] });
    const queueLateness = new Gauge({
      name: 'upkeep_queue_oldest_due_lateness_seconds',
      help: 'How long past its due time the earliest delayed job of the queue is (0 when none is due yet)',
      labelNames: ['queue'] as const,
      registers: [registry],
    });
    const notifications = new Gauge({ name: 'upkeep_notifications', help: 'Notifications by channel and status (from PostgreSQL at scrape time)', labelNames: ['channel', 'status'] as const, registers: [registry] });
    const slaBreached = new Gauge({
      name: 'upkeep_sla_breached_tickets',
      help: 'Tickets whose response or resolution target was breached, by whether the ticket is still open (from PostgreSQL at scrape time)',
      labelNames: ['target', 'state'] as const,
      registers: [registry],
    });
    const actorCache = new Gauge({ name: 'upkeep_actor_cache_lookups', help: 'Actor cache hits and misses since start', labelNames: ['result'] as const, registers: [registry] });
    const feedLive = new Gauge({ name: 'upkeep_change_feed_live', help: '1 while the change feed (LISTEN upkeep_changes) is connected', registers: [registry] });
    const collectorUp = new Gauge({
      name: 'upkeep_metrics_collector_up',
      help: '1 when the last scrape could read this source (queues: Redis; notifications, sla: PostgreSQL), else 0',
      labelNames: ['collector'] as const,
      registers: [registry],
    });

    app.addHook('onResponse', (request, reply, done) => {
      httpDuration.observe({ method: request.method, route: request.routeOptions.url ?? 'unmatched', status_code: String(reply.statusCode) }, reply.elapsedTime / 1_000);
      done();
    });

    // The queues to watch: the app's, and the email queue beside it (a reader on the same
    // producer connection when the app was not given one).
    const main: UpkeepQueue = app.deps.queue;
    let ownEmailQueue: Queue | undefined;
    const email: UpkeepQueue = app.deps.emailQueue ?? (ownEmailQueue = new Queue(EMAIL_QUEUE_NAME, { connection: app.deps.redis, prefix: main.opts.prefix }));
    ownEmailQueue?.on('error', () => {});
    const queues: Array<{ label: string; queue: UpkeepQueue }> = [
      { label: main.name || QUEUE_NAME, queue: main },
      { label: email.name, queue: email },
    ];
    app.addHook('onClose', async () => {
      await ownEmailQueue?.close().catch(() => {});
    });

    async function collectQueue({ label, queue }: { label: string; queue: UpkeepQueue }) {
      const counts = await queue.getJobCounts(...QUEUE_STATES);
      // BullMQ scores a delayed job by its due time: score = due ms × 0x1000 + a counter. (The
      // queues share the app's producer connection.)
      const first: unknown = await app.deps.redis.zrange(queue.keys.delayed ?? queue.toKey('delayed'), '0', '0', 'WITHSCORES');
      // [member, score] (RESP2) or [[member, score]] (RESP3).
      const pair = Array.isArray(first) && Array.isArray(first[0]) ? (first[0] as unknown[]) : (first as unknown[]);
      const due = pair.length === 2 ? Math.floor(Number(pair[1]) / 0x1000) : undefined;
      return { label, counts, lateness: due === undefined ? 0 : Math.max(0, (Date.now() - due) / 1_000) };
    }

    async function collectQueues() {
      queueJobs.reset();
      queueLateness.reset();
      // The producer connection fails fast when Redis is away (no offline queue); the bound
      // covers a Redis that hangs.
      const results = await withTimeout(Promise.all(queues.map(collectQueue)), COLLECT_TIMEOUT_MS, 'Redis');
      for (const r of results) {
        for (const state of QUEUE_STATES) queueJobs.set({ queue: r.label, state }, r.counts[state] ?? 0);
        queueLateness.set({ queue: r.label }, r.lateness);
      }
    }

    async function collectNotifications() {
      notifications.reset();
      const rows = await withTimeout(
        app.deps.db.selectFrom('notifications').select(['channel', 'status', (eb) => eb.fn.countAll<number>().as('n')]).groupBy(['channel', 'status']).execute(),
        COLLECT_TIMEOUT_MS,
        'PostgreSQL',
      );
      for (const channel of ['email', 'in_app'] as const) for (const status of NOTIFICATION_STATUSES) notifications.set({ channel, status }, 0);
      for (const r of rows) notifications.set({ channel: r.channel, status: r.status }, Number(r.n));
    }

    async function collectSla() {
      slaBreached.reset();
      const open = sql.join(OPEN_STATUSES.map((s) => sql`${s}`));
      const { rows } = await withTimeout(
        sql<{ response_open: number; response_closed: number; resolution_open: number; resolution_closed: number }>`
          SELECT count(*) FILTER (WHERE response_breached_at IS NOT NULL AND status IN (${open}))::int AS response_open,
                 count(*) FILTER (WHERE response_breached_at IS NOT NULL AND status NOT IN (${open}))::int AS response_closed,
                 count(*) FILTER (WHERE resolution_breached_at IS NOT NULL AND status IN (${open}))::int AS resolution_open,
                 count(*) FILTER (WHERE resolution_breached_at IS NOT NULL AND status NOT IN (${open}))::int AS resolution_closed
          FROM tickets
          WHERE response_breached_at IS NOT NULL OR resolution_breached_at IS NOT NULL`.execute(app.deps.db),
        COLLECT_TIMEOUT_MS,
        'PostgreSQL',
      );
      const r = rows[0];
      slaBreached.set({ target: 'response', state: 'open' }, r?.response_open ?? 0);
      slaBreached.set({ target: 'response', state: 'closed' }, r?.response_closed ?? 0);
      slaBreached.set({ target: 'resolution', state: 'open' }, r?.resolution_open ?? 0);
      slaBreached.set({ target: 'resolution', state: 'closed' }, r?.resolution_closed ?? 0);
    }

    // One scrape at a time: each collector resets and refills its gauges.
    let scraping: Promise<string> = Promise.resolve('');
    async function scrape(): Promise<string> {
      const collectors = { queues: collectQueues, notifications: collectNotifications, sla: collectSla };
      if (app.hasDecorator('actorCache')) {
        actorCache.set({ result: 'hit' }, app.actorCache.hits);
        actorCache.set({ result: 'miss' }, app.actorCache.misses);
      }
      feedLive.set(app.changeFeed?.live ? 1 : 0);
      await Promise.all(
        Object.entries(collectors).map(async ([name, collect]) => {
          try {
            await collect();
            collectorUp.set({ collector: name }, 1);
          } catch (err) {
            collectorUp.set({ collector: name }, 0);
            app.log.warn({ err: (err as Error).message, collector: name }, 'metrics: a source could not be read; its series are left out of this scrape');
          }
        }),
      );
      return `${await processMetrics().metrics()}\n${await registry.metrics()}`;
    }

    const expected = opts.token ? digest(opts.token) : undefined;
    app.get('/metrics', { schema: { hide: true } }, async (request, reply) => {
      if (expected) {
        const header = request.headers.authorization ?? '';
        const given = header.startsWith('Bearer ') ? header.slice('Bearer '.length) : '';
        if (!timingSafeEqual(digest(given), expected)) throw unauthorized('A valid metrics token is required (METRICS_TOKEN)');
      }
      const next = scraping.then(scrape, scrape);
      scraping = next.catch(() => '');
      const body = await next;
      return reply.header('content-type', registry.contentType).header('cache-control', 'no-store').send(body);
    });
  },
  { name: 'metrics', dependencies: ['deps'] },
);
