import { randomBytes, randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildApp } from '../src/app.js';
import { createTestApp, testConfig, type TestApp } from './helpers/app.js';
import { makeCommunityWorld, makeUser, tokenFor, type CommunityWorld } from './helpers/factories.js';
import { captureLogs, sleep, TestWorkers, waitFor } from './helpers/workers.js';

// Observability (issue 7): Prometheus metrics at /metrics, and request ids carried from the API
// into the logs of the jobs a request causes (docs/RELIABILITY.md, "Observability").

/** The value of one series in a Prometheus text exposition, or undefined when absent. */
function sample(text: string, name: string, labels: Record<string, string> = {}): number | undefined {
  for (const line of text.split('\n')) {
    if (line.startsWith('#')) continue;
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(.*)\})? (\S+)$/.exec(line);
    if (!m || m[1] !== name) continue;
    const have = new Map<string, string>();
    for (const l of (m[3] ?? '').matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g)) have.set(l[1] as string, l[2] as string);
    if (Object.entries(labels).every(([k, v]) => have.get(k) === v)) return Number(m[4]);
  }
  return undefined;
}

async function within<T>(ms: number, what: string, promise: Promise<T>): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  try {
    return await Promise.race([promise, new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error(`${what} did not finish within ${ms} ms`)), ms)))]);
  } finally {
    clearTimeout(timer);
  }
}

let t: TestApp;
let w: CommunityWorld;
const bearer = (userId: string) => ({ authorization: `Bearer ${tokenFor(t.app, userId)}` });

beforeAll(async () => {
  t = await createTestApp({ relayPollMs: 200, reconcileEveryMs: 3_600_000 });
  const admin = await makeUser(t.db, { isPlatformAdmin: true });
  w = await makeCommunityWorld(t.db, { district: `O-${randomBytes(3).toString('hex')}`, platformAdmin: admin });
});
afterAll(async () => {
  await t?.close();
});

describe('GET /metrics', () => {
  it('answers in the Prometheus text format, with the process metrics, outside the OpenAPI document', async () => {
    const res = await t.app.inject({ method: 'GET', url: '/metrics' });
    expect(res.statusCode).toBe(200);
    expect(res.headers['content-type']).toMatch(/^text\/plain; version=0\.0\.4/);
    expect(res.body).toContain('# TYPE upkeep_http_request_duration_seconds histogram');
    // Counted from when the first app registered the process metrics: present, perhaps still 0.
    expect(sample(res.body, 'process_cpu_user_seconds_total')).toBeGreaterThanOrEqual(0);
    expect(sample(res.body, 'process_resident_memory_bytes')).toBeGreaterThan(0);
    expect(sample(res.body, 'nodejs_heap_size_used_bytes')).toBeGreaterThan(0);
    const doc = (await t.app.inject({ method: 'GET', url: '/api/v1/docs/json' })).json<{ paths: Record<string, unknown> }>();
    expect(Object.keys(doc.paths)).not.toContain('/metrics');
  });

  it('times requests by route pattern and status code, never by raw URL', async () => {
    const ids = [randomUUID(), randomUUID(), randomUUID()];
    for (const id of ids) {
      const res = await t.app.inject({ method: 'GET', url: `/api/v1/tickets/${id}`, headers: bearer(w.users.propertyManager.id) });
      expect(res.statusCode).toBe(404);
    }
    const ok = await t.app.inject({ method: 'GET', url: '/healthz' });
    expect(ok.statusCode).toBe(200);
    await t.app.inject({ method: 'GET', url: `/no/such/route/${ids[0]}` });
    const text = (await t.app.inject({ method: 'GET', url: '/metrics' })).body;
    expect(sample(text, 'upkeep_http_request_duration_seconds_count', { method: 'GET', route: '/api/v1/tickets/:id', status_code: '404' })).toBe(3);
    expect(sample(text, 'upkeep_http_request_duration_seconds_count', { method: 'GET', route: '/healthz', status_code: '200' })).toBeGreaterThanOrEqual(1);
    expect(sample(text, 'upkeep_http_request_duration_seconds_bucket', { method: 'GET', route: '/api/v1/tickets/:id', status_code: '404', le: '+Inf' })).toBe(3);
    expect(sample(text, 'upkeep_http_request_duration_seconds_count', { method: 'GET', route: 'unmatched', status_code: '404' })).toBeGreaterThanOrEqual(1);
    for (const id of ids) expect(text).not.toContain(id);
  });

  it('reports queue depth per queue and state, and how late the earliest due delayed job is', async () => {
    // No worker runs on this app's prefix: what is added stays where it is put.
    await t.queue.add('audit.verify-all', {}, { jobId: 'obs-waiting-1' });
    await t.queue.add('audit.verify-all', {}, { jobId: 'obs-waiting-2' });
    await t.queue.add('audit.verify-all', {}, { jobId: 'obs-delayed-due', delay: 300 });
    await t.queue.add('audit.verify-all', {}, { jobId: 'obs-delayed-later', delay: 3_600_000 });
    await sleep(1_300);
    const text = (await t.app.inject({ method: 'GET', url: '/metrics' })).body;
    expect(sample(text, 'upkeep_queue_jobs', { queue: 'upkeep', state: 'waiting' })).toBe(2);
    expect(sample(text, 'upkeep_queue_jobs', { queue: 'upkeep', state: 'delayed' })).toBe(2);
    expect(sample(text, 'upkeep_queue_jobs', { queue: 'upkeep', state: 'active' })).toBe(0);
    expect(sample(text, 'upkeep_queue_jobs', { queue: 'upkeep', state: 'failed' })).toBe(0);
    for (const state of ['waiting', 'delayed', 'active', 'failed']) expect(sample(text, 'upkeep_queue_jobs', { queue: 'upkeep-email', state })).toBe(0);
    // Due 300 ms after it was added, nobody promoted it: about a second late by now.
    const late = sample(text, 'upkeep_queue_oldest_due_lateness_seconds', { queue: 'upkeep' }) as number;
    expect(late).toBeGreaterThanOrEqual(0.8);
    expect(late).toBeLessThan(10);
    expect(sample(text, 'upkeep_queue_oldest_due_lateness_seconds', { queue: 'upkeep-email' })).toBe(0);
    expect(sample(text, 'upkeep_metrics_collector_up', { collector: 'queues' })).toBe(1);
    await t.queue.obliterate({ force: true });
  });

  it('reports notifications by channel and status, and tickets whose SLA was breached, from PostgreSQL', async () => {
    const base = { community_id: w.community.id, recipient_user_id: w.users.owner.id, recipient_email: w.users.owner.email, template: 'message.plain', locale: 'zh-CN' as const, subject: 's', body_text: 'b' };
    const rows = [
      ...Array.from({ length: 3 }, () => ({ ...base, channel: 'email' as const, status: 'sent' as const })),
      ...Array.from({ length: 2 }, () => ({ ...base, channel: 'email' as const, status: 'dead' as const })),
      { ...base, channel: 'in_app' as const, status: 'sent' as const },
    ];
    await t.db
      .insertInto('notifications')
      .values(rows.map((r) => ({ ...r, dedupe_key: `obs-${randomBytes(6).toString('hex')}` })))
      .execute();
    const before = (await t.app.inject({ method: 'GET', url: '/metrics' })).body;

    // Three tickets: one past its response target and still open, one past both and resolved.
    const owner = bearer(w.users.owner.id);
    const ids: string[] = [];
    for (let i = 0; i < 3; i++) {
      const res = await t.app.inject({ method: 'POST', url: '/api/v1/tickets', headers: owner, payload: { communityId: w.community.id, title: `观测 ${i}` } });
      expect(res.statusCode).toBe(201);
      ids.push(res.json<{ id: string }>().id);
    }
    await t.db.updateTable('tickets').set({ response_breached_at: new Date() }).where('id', '=', ids[0] as string).execute();
    await t.db.updateTable('tickets').set({ response_breached_at: new Date(), resolution_breached_at: new Date(), status: 'resolved', resolved_at: new Date() }).where('id', '=', ids[1] as string).execute();
    const text = (await t.app.inject({ method: 'GET', url: '/metrics' })).body;

    expect(sample(text, 'upkeep_notifications', { channel: 'email', status: 'sent' })).toBe((sample(before, 'upkeep_notifications', { channel: 'email', status: 'sent' }) as number));
    expect(sample(before, 'upkeep_notifications', { channel: 'email', status: 'sent' })).toBeGreaterThanOrEqual(3);
    expect(sample(before, 'upkeep_notifications', { channel: 'email', status: 'dead' })).toBe(2);
    expect(sample(before, 'upkeep_notifications', { channel: 'email', status: 'failed' })).toBe(0);
    expect(sample(before, 'upkeep_notifications', { channel: 'in_app', status: 'sent' })).toBeGreaterThanOrEqual(1);
    expect(sample(text, 'upkeep_sla_breached_tickets', { target: 'response', state: 'open' })).toBe(1);
    expect(sample(text, 'upkeep_sla_breached_tickets', { target: 'response', state: 'closed' })).toBe(1);
    expect(sample(text, 'upkeep_sla_breached_tickets', { target: 'resolution', state: 'open' })).toBe(0);
    expect(sample(text, 'upkeep_sla_breached_tickets', { target: 'resolution', state: 'closed' })).toBe(1);
    expect(sample(text, 'upkeep_metrics_collector_up', { collector: 'notifications' })).toBe(1);
    expect(sample(text, 'upkeep_metrics_collector_up', { collector: 'sla' })).toBe(1);
  });

  it('with Redis unreachable, still answers promptly: the queue series are left out and flagged, the rest is there', async () => {
    const dead = await within(15_000, 'building the app', createTestApp({ redisUrl: 'redis://127.0.0.1:6399' }));
    dead.queue.on('error', () => {});
    try {
      const started = Date.now();
      const res = await within(5_000, 'the scrape', dead.app.inject({ method: 'GET', url: '/metrics' }));
      expect(Date.now() - started).toBeLessThan(3_000);
      expect(res.statusCode).toBe(200);
      expect(sample(res.body, 'upkeep_metrics_collector_up', { collector: 'queues' })).toBe(0);
      expect(sample(res.body, 'upkeep_queue_jobs', { queue: 'upkeep', state: 'waiting' })).toBeUndefined();
      expect(sample(res.body, 'upkeep_metrics_collector_up', { collector: 'notifications' })).toBe(1);
      expect(sample(res.body, 'upkeep_notifications', { channel: 'email', status: 'sent' })).toBe(0);
    } finally {
      await within(
        15_000,
        'closing the app',
        (async () => {
          await dead.app.close();
          await dead.queue.close();
          dead.redis.disconnect();
          await dead.testDb.drop();
        })(),
      );
    }
  }, 30_000);

  it('requires the bearer token when METRICS_TOKEN is set', async () => {
    const app = await buildApp({ config: testConfig({ ...t.config, metricsToken: 'scrape-secret-0123456789' }), db: t.db, redis: t.redis, queue: t.queue }, { logger: false });
    try {
      for (const headers of [{}, { authorization: 'Bearer wrong' }, { authorization: 'scrape-secret-0123456789' }]) {
        const res = await app.inject({ method: 'GET', url: '/metrics', headers });
        expect(res.statusCode).toBe(401);
        expect(res.json()).toEqual({ error: { code: 'UNAUTHORIZED', message: expect.any(String) } });
      }
      const ok = await app.inject({ method: 'GET', url: '/metrics', headers: { authorization: 'Bearer scrape-secret-0123456789' } });
      expect(ok.statusCode).toBe(200);
      expect(ok.body).toContain('upkeep_http_request_duration_seconds');
    } finally {
      await app.close();
    }
  });
});

describe('request ids', () => {
  it('keeps a sane incoming X-Request-Id, replaces anything else, and returns it on every answer', async () => {
    const kept = await t.app.inject({ method: 'GET', url: '/healthz', headers: { 'x-request-id': 'lb-7f3a.42:9' } });
    expect(kept.headers['x-request-id']).toBe('lb-7f3a.42:9');
    for (const bad of ['has spaces', 'x'.repeat(129), '<script>', 'a\u00e9b']) {
      const res = await t.app.inject({ method: 'GET', url: '/healthz', headers: { 'x-request-id': bad } });
      expect(res.headers['x-request-id']).toMatch(/^[0-9a-f-]{36}$/);
    }
    const none = await t.app.inject({ method: 'GET', url: '/api/v1/tickets', headers: bearer(w.users.propertyManager.id) });
    expect(none.headers['x-request-id']).toMatch(/^[0-9a-f-]{36}$/);
    // Errors carry it too.
    const err = await t.app.inject({ method: 'GET', url: '/api/v1/tickets', headers: { 'x-request-id': 'err-req-1' } });
    expect(err.statusCode).toBe(401);
    expect(err.headers['x-request-id']).toBe('err-req-1');
  });

  it('a request’s id is in its own log lines and in the logs of the jobs it caused (the email sent, the timer fired)', async () => {
    const apiLog = captureLogs('info');
    const app = await buildApp({ config: t.config, db: t.db, redis: t.redis, queue: t.queue }, { loggerInstance: apiLog.logger });
    const jobLog = captureLogs('debug');
    const workers = new TestWorkers({ db: t.db, databaseUrl: t.testDb.url, config: { ...t.config, relayPollMs: 200, reconcileEveryMs: 3_600_000 }, logger: jobLog.logger });
    try {
      const started = await workers.start({ prefix: t.prefix });
      const tag = randomBytes(4).toString('hex');
      const createId = `req-create-${tag}`;
      const resolveId = `req-resolve-${tag}`;
      const owner = { authorization: `Bearer ${tokenFor(app, w.users.owner.id)}` };
      const manager = { authorization: `Bearer ${tokenFor(app, w.users.propertyManager.id)}` };

      const created = await app.inject({ method: 'POST', url: '/api/v1/tickets', headers: { ...owner, 'x-request-id': createId }, payload: { communityId: w.community.id, title: '路灯不亮' } });
      expect(created.statusCode).toBe(201);
      expect(created.headers['x-request-id']).toBe(createId);
      const id = created.json<{ id: string }>().id;
      // The API's own log line of the request carries it.
      expect(apiLog.entries.some((e) => e.requestId === createId && e.msg === 'request completed')).toBe(true);
      // The SLA timers it scheduled carry it, in PostgreSQL and in their jobs' data.
      const slaTimers = await t.db.selectFrom('timers').select(['job_id', 'request_id']).where('subject_id', '=', id).execute();
      expect(slaTimers.length).toBeGreaterThan(0);
      expect(slaTimers.every((r) => r.request_id === createId)).toBe(true);
      const firstJob = await waitFor('the SLA timer job', () => started.queue.getJob(slaTimers[0]?.job_id as string));
      expect(firstJob.data).toEqual({ timerId: expect.any(String), requestId: createId });

      for (const to of ['acknowledged', 'in_progress', 'resolved']) {
        const res = await app.inject({ method: 'POST', url: `/api/v1/tickets/${id}/transitions`, headers: { ...manager, 'x-request-id': to === 'resolved' ? resolveId : `req-${to}-${tag}` }, payload: { to } });
        expect(res.statusCode).toBe(200);
      }
      // Resolving emailed the reporter: the send job logged the resolving request's id.
      await waitFor(
        'the email’s send job to log the request id',
        () => jobLog.entries.some((e) => e.requestId === resolveId && e.job === 'notification.send' && e.msg === 'email' && e.outcome === 'sent'),
        15_000,
      );
      const email = await t.db.selectFrom('notifications').select(['request_id']).where('dedupe_key', 'like', `ticket-resolved-${id}-%|email`).executeTakeFirstOrThrow();
      expect(email.request_id).toBe(resolveId);

      // The auto-close timer it armed fires (time passes: due now, job promoted): its job logs
      // the same id, and so does what that job caused in turn.
      const autoClose = await t.db.selectFrom('timers').select(['id', 'job_id', 'request_id']).where('subject_id', '=', id).where('kind', '=', 'ticket.auto-close').executeTakeFirstOrThrow();
      expect(autoClose.request_id).toBe(resolveId);
      await waitFor('the auto-close job', async () => (await (await started.queue.getJob(autoClose.job_id))?.getState()) === 'delayed');
      await t.db.updateTable('timers').set({ due_at: new Date() }).where('id', '=', autoClose.id).execute();
      await (await started.queue.getJob(autoClose.job_id))?.promote();
      await waitFor('the timer job to log the request id', () => jobLog.entries.some((e) => e.requestId === resolveId && e.job === 'timer.fire' && e.msg === 'timer' && e.outcome === 'fired'), 15_000);
      expect((await t.db.selectFrom('tickets').select('status').where('id', '=', id).executeTakeFirstOrThrow()).status).toBe('closed');
      // Jobs of other requests do not claim this one's id.
      const other = jobLog.entries.filter((e) => e.requestId === resolveId && e.job !== undefined).map((e) => e.job);
      expect(new Set(other)).toEqual(new Set(['notification.send', 'timer.fire']));
    } finally {
      await workers.cleanup();
      await app.close();
    }
  }, 30_000);
});
