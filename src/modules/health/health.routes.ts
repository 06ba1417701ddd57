import { sql } from 'kysely';
import { Type, type FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { pingRedis } from '../../lib/redis.js';

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
          await sql`SELECT 1`.execute(app.deps.db);
          return true;
        }),
        timed(() => pingRedis(app.deps.redis)),
      ]);
      const ready = postgres.ok && redis.ok;
      return reply.status(ready ? 200 : 503).send({ status: ready ? 'ready' : 'degraded', checks: { postgres, redis } });
    },
  );
};

export default healthRoutes;
