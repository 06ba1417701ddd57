import Fastify, { LogController, type FastifyBaseLogger, type FastifyInstance, type FastifyServerOptions } from 'fastify';
import fp from 'fastify-plugin';
import rateLimit from '@fastify/rate-limit';
import securityHeaders from './plugins/security-headers.js';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import type { Redis } from 'ioredis';
import { startChangeFeed, type ChangeFeed } from './db/change-feed.js';
import type { Config } from './config.js';
import type { Db } from './db/index.js';
import type { UpkeepQueue } from './jobs/queue.js';
import errorsPlugin, { frameworkErrors } from './plugins/errors.js';
import authPlugin from './plugins/auth.js';
import swaggerPlugin from './plugins/swagger.js';
import { installValidators } from './plugins/validation.js';
import queueDashboard from './plugins/queue-dashboard.js';
import requestContextPlugin from './plugins/request-context.js';
import metricsPlugin from './plugins/metrics.js';
import webPlugin from './plugins/web.js';
import { REQUEST_ID_HEADER, requestIdFrom } from './lib/request-context.js';
import { ErrorResponse } from './lib/schemas.js';
import healthRoutes from './modules/health/health.routes.js';
import authRoutes from './modules/auth/auth.routes.js';
import organizationRoutes from './modules/organizations/organizations.routes.js';
import communityRoutes from './modules/communities/communities.routes.js';
import unitRoutes from './modules/units/units.routes.js';
import facilityRoutes from './modules/facilities/facilities.routes.js';
import auditRoutes from './modules/audit/audit.routes.js';
import notificationRoutes from './modules/notifications/notifications.routes.js';
import dutyRoutes from './modules/duties/duties.routes.js';
import calendarRoutes from './modules/calendars/calendars.routes.js';
import ticketRoutes from './modules/tickets/tickets.routes.js';
import attachmentRoutes from './modules/tickets/attachments.routes.js';
import publicIntakeRoutes from './modules/intake/public.routes.js';
import deviceRoutes from './modules/intake/devices.routes.js';
import reportRoutes from './modules/reports/reports.routes.js';
import fundRoutes from './modules/funds/funds.routes.js';
import inspectionRoutes from './modules/inspections/inspections.routes.js';

/** What the app is built from; tests pass their own (a fresh database, a unique queue prefix). */
export interface AppDeps {
  config: Config;
  db: Db;
  /** Producer connection: fails fast when Redis is away. */
  redis: Redis;
  queue: UpkeepQueue;
  /** The rate-limited email queue, shown on the dashboard beside the main one. */
  emailQueue?: UpkeepQueue;
  /**
   * For the change feed (LISTEN upkeep_changes) that keeps the reference caches honest; without
   * it nothing is cached and every request reads its actor and context from PostgreSQL.
   */
  databaseUrl?: string;
}

declare module 'fastify' {
  interface FastifyInstance {
    deps: AppDeps;
    /** Changes to cached reference data (undefined: nothing is cached). */
    changeFeed: ChangeFeed | undefined;
  }
}

export const API_PREFIX = '/api/v1';

/** Builds the app without listening (tests use app.inject). Plugins load external → app → routes. */
export async function buildApp(
  deps: AppDeps,
  options: { logger?: FastifyServerOptions['logger']; loggerInstance?: FastifyBaseLogger } = {},
): Promise<FastifyInstance> {
  const app = Fastify({
    ...(options.loggerInstance ? { loggerInstance: options.loggerInstance } : { logger: options.logger ?? { level: deps.config.logLevel } }),
    // Behind a reverse proxy in production; rate limits key on the client address it reports.
    trustProxy: deps.config.nodeEnv === 'production',
    bodyLimit: 1024 * 1024,
    // The caller's X-Request-Id when it is a sane token, else a new UUID; logged as requestId
    // and carried into the jobs the request causes (src/lib/request-context.ts).
    genReqId: (req) => requestIdFrom(req.headers[REQUEST_ID_HEADER]),
    logController: new LogController({ requestIdLogLabel: 'requestId' }),
    // A malformed or overlong URL is refused before routing: in the error shape too.
    frameworkErrors,
  }).withTypeProvider<TypeBoxTypeProvider>();

  installValidators(app);

  // External plugins.
  await app.register(securityHeaders);
  await app.register(rateLimit, { global: false });
  app.addSchema(ErrorResponse);
  await app.register(swaggerPlugin, { prefix: API_PREFIX });

  // App plugins.
  await app.register(
    fp(
      async (a) => {
        a.decorate('deps', deps);
      },
      { name: 'deps' },
    ),
  );
  await app.register(errorsPlugin);
  await app.register(requestContextPlugin);
  // GET /metrics (Prometheus), at the root like /healthz; the request latency hook sees every route.
  await app.register(metricsPlugin, { token: deps.config.metricsToken });
  const changeFeed = deps.databaseUrl && deps.config.cacheTtlMs > 0 ? startChangeFeed({ databaseUrl: deps.databaseUrl, logger: app.log }) : undefined;
  if (changeFeed) app.addHook('onClose', () => changeFeed.close());
  app.decorate('changeFeed', changeFeed);
  await app.register(authPlugin, { secret: deps.config.jwtSecret, accessTokenTtlSeconds: deps.config.accessTokenTtlSeconds, changeFeed, cacheTtlMs: deps.config.cacheTtlMs });

  await app.register(queueDashboard, { queues: [deps.queue, ...(deps.emailQueue ? [deps.emailQueue] : [])] });

  // Routes.
  await app.register(healthRoutes);
  await app.register(
    async (api) => {
      await api.register(healthRoutes);
      await api.register(authRoutes);
      await api.register(organizationRoutes);
      await api.register(communityRoutes);
      await api.register(unitRoutes);
      await api.register(facilityRoutes);
      await api.register(auditRoutes);
      await api.register(notificationRoutes);
      await api.register(dutyRoutes);
      await api.register(calendarRoutes);
      await api.register(ticketRoutes);
      await api.register(attachmentRoutes);
      // Device-authenticated alarms beside the staff's device management (per-route hooks).
      await api.register(deviceRoutes);
      // No login: this plugin has no authenticate hook (QR-code reports, rate-limited).
      await api.register(publicIntakeRoutes);
      await api.register(reportRoutes);
      await api.register(fundRoutes);
      await api.register(inspectionRoutes);
    },
    { prefix: API_PREFIX },
  );
  app.get('/docs', { schema: { hide: true } }, (_req, reply) => reply.redirect(`${API_PREFIX}/docs`));
  // The web console (web/dist) at `/`, with index.html for its client routes; never shadows the API.
  await app.register(webPlugin);
  return app;
}
