import fp from 'fastify-plugin';
import { createBullBoard } from '@bull-board/api';
import { BullMQAdapter } from '@bull-board/api/bullMQAdapter';
import { FastifyAdapter } from '@bull-board/fastify';
import type { FastifyReply, FastifyRequest } from 'fastify';
import type { Queue } from 'bullmq';
import { AppError, forbidden, unauthorized } from '../lib/errors.js';

export const QUEUE_DASHBOARD_PATH = '/admin/queues';
const COOKIE = 'upkeep_queues';

function cookieToken(request: FastifyRequest): string | undefined {
  const header = request.headers.cookie;
  if (!header) return undefined;
  for (const part of header.split(';')) {
    const [name, ...rest] = part.trim().split('=');
    if (name === COOKIE) return decodeURIComponent(rest.join('='));
  }
  return undefined;
}

/**
 * The BullMQ dashboard (@bull-board) at /admin/queues, for platform administrators only. A
 * browser cannot send a bearer header, so opening /admin/queues?token=<access token> once sets
 * a short-lived, HttpOnly cookie scoped to the dashboard.
 */
export default fp(
  async (app, opts: { queues: Queue[] }) => {
    const serverAdapter = new FastifyAdapter();
    serverAdapter.setBasePath(QUEUE_DASHBOARD_PATH);
    createBullBoard({ queues: opts.queues.map((q) => new BullMQAdapter(q, { readOnlyMode: false })), serverAdapter });

    await app.register(async (scope) => {
      // Refusals are sent from the hook itself: thrown, they would reach bull-board's own error
      // handler, which answers 500-shaped bodies ({ error: { key }, message }) instead of ours.
      scope.addHook('onRequest', async (request: FastifyRequest, reply: FastifyReply) => {
        try {
          await admitPlatformAdmin(request, reply);
        } catch (err) {
          if (!(err instanceof AppError)) throw err;
          return reply.status(err.statusCode).send({ error: { code: err.code, message: err.message } });
        }
      });
      const admitPlatformAdmin = async (request: FastifyRequest, reply: FastifyReply) => {
        const query = request.query as { token?: unknown };
        const fromQuery = typeof query?.token === 'string' ? query.token : undefined;
        const token = request.headers.authorization?.replace(/^Bearer\s+/i, '') ?? fromQuery ?? cookieToken(request);
        if (!token) throw unauthorized('Platform administrators only: open this page with ?token=<access token>');
        let sub: string;
        try {
          const payload = app.jwt.verify<{ sub: string; typ: string }>(token);
          if (payload.typ !== 'access') throw new Error('not an access token');
          sub = payload.sub;
        } catch {
          throw unauthorized('A valid access token is required');
        }
        const user = await app.deps.db.selectFrom('users').select(['is_platform_admin', 'disabled_at']).where('id', '=', sub).executeTakeFirst().catch(() => undefined);
        if (!user || user.disabled_at) throw unauthorized('A valid access token is required');
        if (!user.is_platform_admin) throw forbidden('Platform administrators only');
        if (fromQuery) {
          reply.header('set-cookie', `${COOKIE}=${encodeURIComponent(fromQuery)}; Path=${QUEUE_DASHBOARD_PATH}; HttpOnly; SameSite=Strict; Max-Age=900`);
        }
      };
      // The dashboard ships its own scripts and styles.
      scope.addHook('onSend', async (_request, reply) => {
        reply.removeHeader('content-security-policy');
      });
      await scope.register(serverAdapter.registerPlugin(), { prefix: QUEUE_DASHBOARD_PATH });
    });
  },
  { name: 'queue-dashboard', dependencies: ['auth', 'deps'] },
);
