import diagnostics from 'node:diagnostics_channel';
import http from 'node:http';
import helmet from 'helmet';
import type { FastifyInstance, RouteOptions } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { API_PREFIX } from '../src/app.js';
import { createTestApp, type TestApp } from './helpers/app.js';
import { within } from './helpers/http.js';
import { CONSOLE_PATHS } from '../src/plugins/web.js';

interface Check {
  ok: boolean;
  latencyMs: number;
  error?: string;
}
interface Readiness {
  status: string;
  checks: { postgres: Check; redis: Check };
}
interface RegisteredRoute {
  method: string;
  url: string;
  hidden: boolean;
}

/**
 * Builds a test app while recording every route it registers: Fastify announces each new
 * instance on the 'fastify.initialization' channel, where an onRoute hook can still be added.
 */
async function createAppRecordingRoutes(): Promise<{ t: TestApp; routes: RegisteredRoute[] }> {
  const routes: RegisteredRoute[] = [];
  const channel = diagnostics.channel('fastify.initialization');
  const onInit = (message: unknown) => {
    const { fastify } = message as { fastify: FastifyInstance };
    fastify.addHook('onRoute', (route: RouteOptions) => {
      const methods = Array.isArray(route.method) ? route.method : [route.method];
      for (const method of methods) routes.push({ method: method.toUpperCase(), url: route.url, hidden: route.schema?.hide === true });
    });
  };
  channel.subscribe(onInit);
  try {
    return { t: await createTestApp(), routes };
  } finally {
    channel.unsubscribe(onInit);
  }
}

/** /communities/:id/units → /communities/{id}/units, as the OpenAPI document writes it. */
const toOpenApiPath = (url: string) => url.replace(/:([A-Za-z0-9_]+)/g, '{$1}');
// The docs' own routes, the queue dashboard's (bull-board's UI and its internal API) and the
// Prometheus scrape endpoint (/metrics, text format) are deliberately outside the OpenAPI document,
// and so are the web console's pages and bundles (src/plugins/web.ts: index.html and files, no API).
const isDocsRoute = (url: string) =>
  (CONSOLE_PATHS as readonly string[]).includes(url) || url === '/assets/*' || url === '/docs' || url === `${API_PREFIX}/docs` || url.startsWith(`${API_PREFIX}/docs/`) || url === '/admin/queues' || url.startsWith('/admin/queues/') || url === '/metrics';

describe('health', () => {
  let t: TestApp;
  let routes: RegisteredRoute[];
  beforeAll(async () => {
    ({ t, routes } = await createAppRecordingRoutes());
  });
  afterAll(async () => t?.close());

  it('GET /healthz answers 200', async () => {
    for (const url of ['/healthz', `${API_PREFIX}/healthz`]) {
      const res = await t.app.inject({ method: 'GET', url });
      expect(res.statusCode).toBe(200);
      expect(res.json()).toEqual({ status: 'ok' });
    }
  });

  it("every response carries helmet's security headers: API answers, errors and the console's page", async () => {
    const responses = [
      await t.app.inject({ method: 'GET', url: '/healthz' }),
      await t.app.inject({ method: 'GET', url: `${API_PREFIX}/tickets` }), // 401
      await t.app.inject({ method: 'GET', url: `${API_PREFIX}/no-such-route` }), // 404
      await t.app.inject({ method: 'GET', url: '/' }), // the console (503 when its build is missing, as in tests)
    ];
    for (const res of responses) {
      expect(res.headers['content-security-policy'], res.raw.req.url).toContain("default-src 'self'");
      expect(res.headers['strict-transport-security']).toBe('max-age=31536000; includeSubDomains');
      expect(res.headers['x-content-type-options']).toBe('nosniff');
      expect(res.headers['x-frame-options']).toBe('SAMEORIGIN');
      expect(res.headers['referrer-policy']).toBe('no-referrer');
      expect(res.headers['cross-origin-opener-policy']).toBe('same-origin');
      expect(res.headers['x-powered-by']).toBeUndefined();
    }
    expect(responses.slice(0, 3).map((r) => r.statusCode)).toEqual([200, 401, 404]);
    // Exactly what helmet's own middleware sets on a plain Node response (the plugin replays the
    // headers it recorded at start instead of running helmet per request).
    const server = http.createServer((req, res) => helmet()(req, res, () => res.end()));
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    try {
      const plain = await fetch(`http://127.0.0.1:${(server.address() as { port: number }).port}/`);
      const ignore = new Set(['date', 'connection', 'keep-alive', 'content-length', 'transfer-encoding']);
      const expected = Object.fromEntries([...plain.headers].filter(([k]) => !ignore.has(k)));
      expect(Object.keys(expected).length).toBeGreaterThan(10);
      for (const res of responses) for (const [k, v] of Object.entries(expected)) expect(res.headers[k], `${res.raw.req.url} ${k}`).toBe(v);
    } finally {
      server.close();
    }
  });

  it('GET /readyz answers 200 with both checks ok', async () => {
    for (const url of ['/readyz', `${API_PREFIX}/readyz`]) {
      const res = await t.app.inject({ method: 'GET', url });
      expect(res.statusCode, res.body).toBe(200);
      const body = res.json<Readiness>();
      expect(body.status).toBe('ready');
      for (const check of [body.checks.postgres, body.checks.redis]) {
        expect(check.ok).toBe(true);
        expect(check.latencyMs).toBeGreaterThanOrEqual(0);
        expect(check.error).toBeUndefined();
      }
    }
  });

  it('readyz waits for a Redis connection that is coming up instead of reporting it down', async () => {
    // Drop the producer connection and let it reconnect (as right after start): Redis itself is fine.
    t.redis.disconnect(true);
    await new Promise((resolve) => t.redis.once('close', resolve));
    expect(t.redis.status).not.toBe('ready');
    const res = await t.app.inject({ method: 'GET', url: '/readyz' });
    expect(res.statusCode, res.body).toBe(200);
    expect(res.json<Readiness>().checks.redis.ok).toBe(true);
  });

  it('health routes need no token', async () => {
    for (const url of ['/healthz', '/readyz', `${API_PREFIX}/healthz`, `${API_PREFIX}/readyz`]) {
      const res = await t.app.inject({ method: 'GET', url, headers: { authorization: 'Bearer garbage' } });
      expect(res.statusCode, res.body).toBe(200);
    }
  });

  describe('OpenAPI document', () => {
    let doc: { openapi: string; paths: Record<string, Record<string, { tags?: string[]; responses?: Record<string, unknown> }>> };
    beforeAll(async () => {
      const res = await t.app.inject({ method: 'GET', url: `${API_PREFIX}/docs/json` });
      expect(res.statusCode).toBe(200);
      doc = res.json();
    });

    it('is an OpenAPI 3 document', () => {
      expect(doc.openapi).toMatch(/^3\./);
      expect(Object.keys(doc.paths).length).toBeGreaterThan(0);
    });

    it('the route recording saw the routes (control)', () => {
      const urls = routes.map((r) => r.url);
      expect(urls).toContain(`${API_PREFIX}/auth/login`);
      expect(urls).toContain(`${API_PREFIX}/communities/:id`);
      expect(urls).toContain(`${API_PREFIX}/docs/json`);
    });

    it('documents every registered /api/v1 route and method', () => {
      const api = routes.filter((r) => r.url.startsWith(`${API_PREFIX}/`) && !isDocsRoute(r.url) && r.method !== 'HEAD');
      expect(api.length).toBeGreaterThan(10);
      const missing = api.filter((r) => !doc.paths[toOpenApiPath(r.url)]?.[r.method.toLowerCase()]).map((r) => `${r.method} ${r.url}`);
      expect(missing).toEqual([]);
      // And the only routes left out of the document are the docs' own.
      const hidden = routes.filter((r) => r.hidden && r.method !== 'HEAD').map((r) => r.url);
      expect(hidden.every(isDocsRoute), hidden.join(', ')).toBe(true);
    });

    it('documents no route that does not exist', () => {
      const registered = new Set(routes.map((r) => `${r.method.toLowerCase()} ${toOpenApiPath(r.url)}`));
      const ghosts = Object.entries(doc.paths).flatMap(([path, ops]) => Object.keys(ops).filter((m) => !registered.has(`${m} ${path}`)).map((m) => `${m} ${path}`));
      expect(ghosts).toEqual([]);
    });

    it('gives every operation tags, and every API operation its 4xx responses', () => {
      const problems: string[] = [];
      for (const [path, ops] of Object.entries(doc.paths)) {
        for (const [method, op] of Object.entries(ops)) {
          const name = `${method.toUpperCase()} ${path}`;
          if (!Array.isArray(op.tags) || op.tags.length === 0) problems.push(`${name}: no tags`);
          const statuses = Object.keys(op.responses ?? {});
          if (statuses.length === 0) problems.push(`${name}: no responses`);
          // Liveness and readiness probes take no input and need no token: they have no 4xx to give
          // (readyz documents its 503). Every other operation documents how it fails.
          if (op.tags?.includes('health')) continue;
          if (!statuses.some((s) => /^4\d\d$/.test(s))) problems.push(`${name}: no 4xx response`);
        }
      }
      expect(problems).toEqual([]);
    });

    it('readyz documents its 503', () => {
      expect(Object.keys(doc.paths[`${API_PREFIX}/readyz`]?.get?.responses ?? {})).toEqual(expect.arrayContaining(['200', '503']));
    });

    it('the UI answers at /api/v1/docs and /docs redirects there', async () => {
      const ui = await t.app.inject({ method: 'GET', url: `${API_PREFIX}/docs` });
      expect([200, 302]).toContain(ui.statusCode);
      const redirect = await t.app.inject({ method: 'GET', url: '/docs' });
      expect(redirect.statusCode).toBe(302);
      expect(redirect.headers.location).toBe(`${API_PREFIX}/docs`);
    });
  });
});

describe('readyz with Redis unreachable', () => {
  let t: TestApp;
  beforeAll(async () => {
    // Nothing listens on 6399.
    t = await within(15_000, 'building the app', createTestApp({ redisUrl: 'redis://127.0.0.1:6399' }));
    // BullMQ reports each refused connection as an 'error' event (printed when nobody listens).
    t.queue.on('error', () => {});
  });
  afterAll(async () => {
    if (!t) return;
    // TestApp.close() starts with queue.obliterate(), which waits for Redis to come back and so
    // never settles here. Nothing ever reached this Redis, so there is nothing to obliterate:
    // close the other parts, in the same order, within a bound.
    await within(
      15_000,
      'closing the app',
      (async () => {
        await t.app.close();
        await t.queue.close();
        t.redis.disconnect();
        await t.testDb.drop();
      })(),
    );
  });

  it('answers 503 degraded with the Redis check failing and PostgreSQL ok, quickly', async () => {
    for (const url of ['/readyz', `${API_PREFIX}/readyz`]) {
      const started = Date.now();
      const res = await within(5_000, 'readyz', t.app.inject({ method: 'GET', url }));
      expect(Date.now() - started).toBeLessThan(3_000);
      expect(res.statusCode, res.body).toBe(503);
      const body = res.json<Readiness>();
      expect(body.status).toBe('degraded');
      expect(body.checks.redis.ok).toBe(false);
      expect(typeof body.checks.redis.error).toBe('string');
      expect(body.checks.postgres.ok).toBe(true);
    }
  }, 15_000);

  it('liveness is unaffected', async () => {
    const res = await t.app.inject({ method: 'GET', url: '/healthz' });
    expect(res.statusCode).toBe(200);
  });
});
