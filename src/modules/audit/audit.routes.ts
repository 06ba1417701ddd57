import { Type, type FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { IdParams, Timestamp, Uuid, authErrors, errors } from '../../lib/schemas.js';
import { requireCommunity } from '../../plugins/access.js';
import { listEvents, verifyAndRecord } from './audit.service.js';

const AuditEvent = Type.Object({
  seq: Type.Integer(),
  actorUserId: Type.Union([Uuid, Type.Null()]),
  action: Type.String(),
  entityType: Type.String(),
  entityId: Type.Union([Type.String(), Type.Null()]),
  before: Type.Unknown(),
  after: Type.Unknown(),
  createdAt: Timestamp,
  prevHash: Type.String(),
  hash: Type.String(),
});

const Verification = Type.Object({
  ok: Type.Boolean(),
  eventsChecked: Type.Integer(),
  firstBrokenSeq: Type.Union([Type.Integer(), Type.Null()], { description: 'The first event whose link is broken' }),
  problem: Type.Union([Type.String(), Type.Null()]),
  checkedAt: Timestamp,
});

const auditRoutes: FastifyPluginAsyncTypebox = async (app) => {
  const { db } = app.deps;
  app.addHook('onRequest', app.authenticate);
  const security = [{ bearerAuth: [] }];

  app.get(
    '/audit/communities/:id/events',
    {
      schema: {
        tags: ['audit'],
        summary: 'The community’s audit chain, oldest first',
        security,
        params: IdParams,
        querystring: Type.Object({
          afterSeq: Type.Optional(Type.Integer({ minimum: 0, default: 0 })),
          limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 500, default: 100 })),
        }),
        response: { 200: Type.Object({ items: Type.Array(AuditEvent), nextAfterSeq: Type.Union([Type.Integer(), Type.Null()]) }), ...errors(...authErrors) },
      },
    },
    async (request) => {
      await requireCommunity(db, request, request.params.id, 'audit.read');
      const limit = request.query.limit ?? 100;
      const events = await listEvents(db, request.params.id, request.query.afterSeq ?? 0, limit);
      const last = events[events.length - 1];
      return {
        items: events.map((e) => ({ ...e, createdAt: e.createdAt.toISOString() })),
        nextAfterSeq: events.length === limit && last ? last.seq : null,
      };
    },
  );

  app.get(
    '/audit/communities/:id/verify',
    {
      schema: {
        tags: ['audit'],
        summary: 'Verify the community’s hash chain and report the first broken link',
        security,
        params: IdParams,
        response: { 200: Verification, ...errors(...authErrors) },
      },
    },
    async (request) => {
      await requireCommunity(db, request, request.params.id, 'audit.read');
      const r = await verifyAndRecord(db, request.params.id, 'on_demand');
      return { ok: r.ok, eventsChecked: r.eventsChecked, firstBrokenSeq: r.firstBrokenSeq, problem: r.problem, checkedAt: r.checkedAt.toISOString() };
    },
  );
};

export default auditRoutes;
