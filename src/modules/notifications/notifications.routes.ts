import { Type, type FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { forbidden } from '../../lib/errors.js';
import { decodeCursor, encodeCursor, toPage } from '../../lib/pagination.js';
import { IdParams, ListQuery, Page, StringEnum, Timestamp, Uuid, authErrors, errors } from '../../lib/schemas.js';
import { requireActor } from '../../plugins/access.js';
import * as service from './notifications.service.js';

const InboxItem = Type.Object({
  id: Uuid,
  communityId: Type.Union([Uuid, Type.Null()]),
  template: Type.String(),
  subject: Type.String(),
  body: Type.String(),
  payload: Type.Unknown(),
  read: Type.Boolean(),
  createdAt: Timestamp,
});

const NOTIFICATION_STATUSES = ['pending', 'sending', 'sent', 'failed', 'dead'] as const;

const AdminNotification = Type.Object({
  id: Uuid,
  dedupeKey: Type.String(),
  communityId: Type.Union([Uuid, Type.Null()]),
  recipientUserId: Type.Union([Uuid, Type.Null()]),
  recipientEmail: Type.Union([Type.String(), Type.Null()]),
  template: Type.String(),
  subject: Type.String(),
  status: StringEnum(NOTIFICATION_STATUSES),
  attempts: Type.Integer(),
  lastError: Type.Union([Type.String(), Type.Null()]),
  createdAt: Timestamp,
  updatedAt: Timestamp,
  sentAt: Type.Union([Timestamp, Type.Null()]),
});

const notificationRoutes: FastifyPluginAsyncTypebox = async (app) => {
  const { db } = app.deps;
  app.addHook('onRequest', app.authenticate);
  const security = [{ bearerAuth: [] }];

  app.get(
    '/notifications',
    {
      schema: {
        tags: ['notifications'],
        summary: 'My in-app notifications, newest first',
        security,
        querystring: ListQuery({ unread: Type.Optional(Type.Boolean({ description: 'Only unread ones' })) }),
        response: { 200: Type.Object({ ...Page(InboxItem).properties, unreadCount: Type.Integer() }), ...errors(...authErrors) },
      },
    },
    async (request) => {
      const actor = requireActor(request);
      const limit = request.query.limit ?? 50;
      const rows = await service.listInbox(db, actor.userId, { unreadOnly: request.query.unread ?? false, cursor: decodeCursor(request.query.cursor), limit });
      const page = rows.slice(0, limit);
      const last = page[page.length - 1];
      return {
        items: page.map(service.toInboxItem),
        nextCursor: rows.length > limit && last ? encodeCursor(last) : null,
        unreadCount: await service.unreadCount(db, actor.userId),
      };
    },
  );

  app.post(
    '/notifications/:id/read',
    {
      schema: {
        tags: ['notifications'],
        summary: 'Mark one of my notifications read (updated: 0 when it already was); another user\'s answers 404',
        security,
        params: IdParams,
        response: { 200: Type.Object({ updated: Type.Integer() }), ...errors(...authErrors) },
      },
    },
    async (request) => ({ updated: await service.markOneRead(db, requireActor(request).userId, request.params.id) }),
  );

  app.post(
    '/notifications/read-all',
    {
      schema: { tags: ['notifications'], summary: 'Mark all my notifications read', security, response: { 200: Type.Object({ updated: Type.Integer() }), ...errors(...authErrors) } },
    },
    async (request) => ({ updated: await service.markRead(db, requireActor(request).userId, 'all') }),
  );

  const requireAdmin = (request: Parameters<typeof requireActor>[0]) => {
    const actor = requireActor(request);
    if (!actor.isPlatformAdmin) throw forbidden('Platform administrators only');
    return actor;
  };

  app.get(
    '/admin/notifications',
    {
      schema: {
        tags: ['notifications'],
        summary: 'Emails by delivery status (platform administrators), e.g. ?status=dead',
        security,
        querystring: ListQuery({ status: StringEnum(NOTIFICATION_STATUSES, { default: 'dead' }) }),
        response: { 200: Page(AdminNotification), ...errors(...authErrors) },
      },
    },
    async (request) => {
      requireAdmin(request);
      const limit = request.query.limit ?? 50;
      const rows = await service.listByStatus(db, request.query.status ?? 'dead', { cursor: decodeCursor(request.query.cursor), limit });
      return toPage(rows, limit, (n) => ({
        id: n.id,
        dedupeKey: n.dedupe_key,
        communityId: n.community_id,
        recipientUserId: n.recipient_user_id,
        recipientEmail: n.recipient_email,
        template: n.template,
        subject: n.subject,
        status: n.status,
        attempts: n.attempts,
        lastError: n.last_error,
        createdAt: n.created_at.toISOString(),
        updatedAt: n.updated_at.toISOString(),
        sentAt: n.sent_at ? n.sent_at.toISOString() : null,
      }));
    },
  );

  app.post(
    '/admin/notifications/:id/retry',
    {
      schema: {
        tags: ['notifications'],
        summary: 'Send a dead or failed email again with a fresh attempt budget (platform administrators)',
        security,
        params: IdParams,
        response: { 200: Type.Object({ id: Uuid, status: StringEnum(NOTIFICATION_STATUSES), retried: Type.Boolean() }), ...errors(...authErrors) },
      },
    },
    async (request) => {
      requireAdmin(request);
      return service.retryEmail(db, request.params.id);
    },
  );
};

export default notificationRoutes;
