import { sql } from 'kysely';
import { Type, type FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import type { Redis } from 'ioredis';
import { pingRedis } from '../../lib/redis.js';
import { withTimeout } from '../../lib/timeout.js';

const REDIS_CHECK_MS = 1_000;
/**
 * PostgreSQL must answer SELECT 1 within this: a database that hangs (a network partition, or a
 * pool whose connections are all stuck) fails the check instead of holding readyz open until
 * the pool's connection timeout or longer.
 */
const PG_CHECK_MS = 2_000;

/** Resolves when the connection is ready, or after ms (whichever comes first). */
function readyWithin(redis: Redis, ms: number): Promise<void> {
  return new Promise((resolve) => {
    const done = () => {
      clearTimeout(timer);
      redis.off('ready', done);
      resolve();
    };
    const timer = setTimeout(done, ms);
    redis.once('ready', done);
  });
}

/**
 * The producer connection refuses commands until it is ready (no offline queue), so a ping right
 * after start, while it is still connecting, would fail although Redis is fine: give a connection
 * under way the check's time bound to come up, then ping within what is left of it.
 */
async function redisAnswers(redis: Redis): Promise<boolean> {
  const deadline = Date.now() + REDIS_CHECK_MS;
  if (redis.status === 'connecting' || redis.status === 'connect' || redis.status === 'reconnecting') {
    await readyWithin(redis, REDIS_CHECK_MS);
  }
  if (redis.status !== 'ready') throw new Error(`Redis connection is ${redis.status}`);
  return pingRedis(redis, Math.max(100, deadline - Date.now()));
}

const Check = Type.Object({ ok: Type.Boolean(), latencyMs: Type.Number(), error: Type.Optional(Type.String()) });
const Readiness = Type.Object({
  status: Type.Union([Type.Literal('ready'), Type.Literal('degraded')]),
  checks: Type.Object({ postgres: Check, redis: Check }),
});

async function timed(check: () => Promise<boolean>) {
  const start = performance.now();
  try {
    const ok = await check();
    return { ok, latencyMs: Math.round(performance.now() - start), ...(ok ? {} : { error: 'no answer' }) };
  } catch (err) {
    return { ok: false, latencyMs: Math.round(performance.now() - start), error: (err as Error).message };
  }
}

const healthRoutes: FastifyPluginAsyncTypebox = async (app) => {
  app.get(
    '/healthz',
    { schema: { tags: ['health'], summary: 'Liveness: the process answers', response: { 200: Type.Object({ status: Type.Literal('ok') }) } } },
    async () => ({ status: 'ok' as const }),
  );

  app.get(
    '/readyz',
    {
      schema: {
        tags: ['health'],
        summary: 'Readiness: PostgreSQL and Redis answer (503 with the failing check otherwise)',
        response: { 200: Readiness, 503: Readiness },
      },
    },
    async (_request, reply) => {
      const [postgres, redis] = await Promise.all([
        timed(async () => {
          await withTimeout(sql`SELECT 1`.execute(app.deps.db), PG_CHECK_MS, 'PostgreSQL');
          return true;
        }),
        timed(() => redisAnswers(app.deps.redis)),
      ]);
      const ready = postgres.ok && redis.ok;
      return reply.status(ready ? 200 : 503).send({ status: ready ? 'ready' : 'degraded', checks: { postgres, redis } });
    },
  );
};

export default healthRoutes;
