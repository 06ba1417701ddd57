import { Type, type FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { badRequest, forbidden } from '../../lib/errors.js';
import { IdParams, Page, authErrors, errors } from '../../lib/schemas.js';
import { maskPhone, requireActor, requireCommunity, visibleTicket, visibleTicketBranches, type TicketAction } from '../../plugins/access.js';
import { slaState, selectPolicy } from './sla.js';
import { loadSlaContext, pausesUntil } from './sla.service.js';
import { allowedMoves, OPEN_STATUSES, TICKET_STATUSES, type TicketStatus } from './state-machine.js';
import { CommentBody, CreateTicketBody, RatingBody, Ticket, TicketDetail, TicketListQuery, TransitionBody, UpdateTicketBody } from './tickets.schemas.js';
import * as service from './tickets.service.js';
import { recordAudit } from '../audit/audit.service.js';
import type { TicketRow } from './tickets.service.js';

const iso = (d: Date | null) => (d ? d.toISOString() : null);

export function toTicketDto(t: TicketRow, showPhone: boolean) {
  return {
    id: t.id,
    ref: t.ref,
    communityId: t.community_id,
    kind: t.kind,
    channel: t.channel,
    category: t.category,
    priority: t.priority,
    status: t.status,
    title: t.title,
    description: t.description,
    facilityId: t.facility_id,
    unitId: t.unit_id,
    isPublic: t.is_public,
    reporter: { userId: t.reporter_user_id, name: t.reporter_name, phone: showPhone ? t.reporter_phone : maskPhone(t.reporter_phone) },
    dutyHolderOrgId: t.duty_holder_org_id,
    assigneeUserId: t.assignee_user_id,
    assigneeOrgId: t.assignee_org_id,
    alarmCount: t.alarm_count,
    holdReason: t.hold_reason,
    cancelReason: t.cancel_reason,
    openedAt: t.opened_at.toISOString(),
    acknowledgedAt: iso(t.acknowledged_at),
    resolvedAt: iso(t.resolved_at),
    closedAt: iso(t.closed_at),
    respondBy: iso(t.respond_by),
    resolveBy: iso(t.resolve_by),
    rectificationDeadline: iso(t.rectification_deadline),
    escalationLevel: t.escalation_level,
    rating: t.rating,
    createdAt: t.created_at.toISOString(),
    updatedAt: t.updated_at.toISOString(),
  };
}

function encodeTicketCursor(key: Date | null, id: string): string {
  return Buffer.from(JSON.stringify({ k: key ? key.toISOString() : 'infinity', id })).toString('base64url');
}

function decodeTicketCursor(cursor: string | undefined): { key: string; id: string } | undefined {
  if (!cursor) return undefined;
  try {
    const c = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8')) as { k?: unknown; id?: unknown };
    if (typeof c.k === 'string' && typeof c.id === 'string' && /^[0-9a-f-]{36}$/i.test(c.id) && (c.k === 'infinity' || !Number.isNaN(Date.parse(c.k)))) return { key: c.k, id: c.id };
  } catch {
    // below
  }
  throw badRequest('The cursor is not valid; use nextCursor from a previous page');
}

const ticketRoutes: FastifyPluginAsyncTypebox = async (app) => {
  const { db } = app.deps;
  const caches = service.createTicketCaches(db, app.changeFeed, app.deps.config.cacheTtlMs);
  app.addHook('onRequest', app.authenticate);
  const security = [{ bearerAuth: [] }];

  app.post(
    '/tickets',
    {
      schema: {
        tags: ['tickets'],
        summary: 'Report a fault (staff, owners) or order a rectification (authorities)',
        description:
          'The ticket is routed to the duty holder of its category, gets its SLA targets from the community’s policy and calendar, and marks the facility faulty. Rectification orders need rectificationDeadline and come from the district authority.',
        security,
        body: CreateTicketBody,
        response: { 201: Ticket, ...errors(...authErrors, 409, 422) },
      },
    },
    async (request, reply) => {
      const actor = requireActor(request);
      const body = request.body;
      const access = await requireCommunity(db, request, body.communityId, 'tickets.create');
      const kind = body.kind ?? 'fault';
      const isAuthority = access.stances.has('authority') || access.stances.has('platform_admin');
      if (kind === 'rectification') {
        if (!isAuthority) throw forbidden('Rectification orders come from the district authority');
        if (!body.rectificationDeadline) throw badRequest('A rectification order needs rectificationDeadline', [{ field: 'rectificationDeadline', message: 'required for rectification' }]);
        if (new Date(body.rectificationDeadline) <= new Date()) throw badRequest('The rectification deadline must be in the future', [{ field: 'rectificationDeadline', message: 'must be in the future' }]);
      } else if (access.stances.size === 1 && access.stances.has('authority')) {
        throw forbidden('Authorities order rectifications (kind: rectification)');
      }
      const staff = ['platform_admin', 'property_manager', 'property_staff', 'committee_officer', 'committee_member'].some((s) => access.stances.has(s as never));
      const channel = kind === 'rectification' ? 'authority' : staff ? 'staff' : 'owner';
      // One statement writes it all (no transaction needed).
      const ticket = await service.createTicket(
        db,
        actor.userId,
        {
          communityId: body.communityId,
          kind,
          channel,
          priority: body.priority ?? 'P3',
          title: body.title,
          description: body.description,
          category: body.category,
          facilityId: body.facilityId ?? null,
          unitId: body.unitId ?? null,
          reporterUserId: actor.userId,
          reporterName: actor.name,
          isPublic: body.isPublic ?? true,
          rectificationDeadline: body.rectificationDeadline ? new Date(body.rectificationDeadline) : null,
        },
        caches,
      );
      return reply.status(201).send(toTicketDto(ticket, access.can('owners.read')));
    },
  );

  app.get(
    '/tickets',
    {
      schema: {
        tags: ['tickets'],
        summary: 'Tickets I may see, filtered and searched, newest first or by due time',
        description: 'Owners see their own tickets and public ones of their community; contractors those assigned to them; authorities their district (read-only).',
        security,
        querystring: TicketListQuery,
        response: { 200: Page(Ticket), ...errors(...authErrors) },
      },
    },
    async (request) => {
      const actor = requireActor(request);
      const q = request.query;
      const limit = q.limit ?? 50;
      const sort = q.sort ?? 'created';
      let statuses: string[] | undefined;
      if (q.status) {
        statuses = q.status === 'open' ? [...OPEN_STATUSES] : q.status.split(',').map((s) => s.trim());
        const bad = statuses.filter((s) => !(TICKET_STATUSES as readonly string[]).includes(s));
        if (bad.length) throw badRequest(`Unknown status: ${bad.join(', ')}`, [{ field: 'status', message: `one of ${TICKET_STATUSES.join(', ')}, or open` }]);
      }
      const rows = await service.listTickets(
        db,
        visibleTicket(actor, 't'),
        {
          communityId: q.communityId,
          status: statuses,
          category: q.category,
          priority: q.priority,
          overdue: q.overdue,
          assigneeUserId: q.assigneeUserId === 'me' ? actor.userId : q.assigneeUserId,
          assigneeOrgId: q.assigneeOrgId,
          facilityId: q.facilityId,
          reporterUserId: q.reporter === 'me' ? actor.userId : q.reporter,
          q: q.q,
        },
        sort,
        decodeTicketCursor(q.cursor),
        limit,
        visibleTicketBranches(actor, 't'),
      );
      const page = rows.slice(0, limit);
      const last = page[page.length - 1];
      // Phones unmasked only where the actor handles owners' data; checked per community.
      const fullPhone = new Set<string>();
      if (actor.isPlatformAdmin) page.forEach((t) => fullPhone.add(t.community_id));
      return {
        items: page.map((t) => toTicketDto(t, fullPhone.has(t.community_id) || t.reporter_user_id === actor.userId)),
        nextCursor: rows.length > limit && last ? encodeTicketCursor(sort === 'due' ? last.resolve_by : last.created_at, last.id) : null,
      };
    },
  );

  app.get(
    '/tickets/:id',
    {
      schema: {
        tags: ['tickets'],
        summary: 'One ticket with its SLA clock, comments, holds and the moves you may make',
        security,
        params: IdParams,
        response: { 200: TicketDetail, ...errors(...authErrors) },
      },
    },
    async (request) => {
      const actor = requireActor(request);
      const { ticket: t, can, access } = await service.ticketForActor(db, actor, request.params.id);
      const [comments, holds, ctx] = await Promise.all([
        service.listComments(db, t.id, can.has('comment_internal')),
        service.listPauses(db, t.id),
        loadSlaContext(db, t.community_id),
      ]);
      const clock = {
        openedAt: t.opened_at,
        policy: selectPolicy(ctx.policies, t.priority, t.category),
        calendar: ctx.calendar,
        pauses: holds.map((h) => ({ from: h.started_at, to: h.ended_at })),
        now: new Date(),
        respondedAt: t.acknowledged_at,
        resolvedAt: t.resolved_at,
        warnShare: ctx.settings.sla.warnShare,
      };
      // As in applySla: holds after the first response do not move the response deadline.
      const state = {
        response: slaState({ ...clock, pauses: pausesUntil(clock.pauses, t.acknowledged_at ?? t.resolved_at) }).response,
        resolution: slaState(clock).resolution,
      };
      const target = (s: typeof state.response, breachedAt: Date | null) => ({
        dueAt: s.dueAt.toISOString(),
        status: s.status,
        remainingMs: s.remainingMs,
        fractionUsed: Math.round(s.fractionUsed * 1000) / 1000,
        breachedAt: iso(breachedAt),
      });
      const moves = allowedMoves(t.status).filter((to) => mayShow(can, t.status, to));
      // Staff reads of a reporter's phone number are themselves recorded (DESIGN.md "Audit").
      if (access.can('owners.read') && t.reporter_phone) {
        await db.transaction().execute((trx) =>
          recordAudit(trx, { communityId: t.community_id, actorUserId: actor.userId, action: 'personal_data.read', entityType: 'ticket', entityId: t.id, after: { field: 'reporter_phone' } }),
        );
      }
      return {
        ...toTicketDto(t, access.can('owners.read') || t.reporter_user_id === actor.userId),
        sla: { response: target(state.response, t.response_breached_at), resolution: target(state.resolution, t.resolution_breached_at) },
        comments: comments.map((c) => ({ id: c.id, body: c.body, internal: c.internal, authorUserId: c.author_user_id, authorName: c.author_name, createdAt: c.created_at.toISOString() })),
        holds: holds.map((h) => ({ reason: h.reason, from: h.started_at.toISOString(), to: iso(h.ended_at) })),
        allowedTransitions: moves,
      };
    },
  );

  app.post(
    '/tickets/:id/transitions',
    {
      schema: {
        tags: ['tickets'],
        summary: 'Move a ticket along its status machine (409 on an illegal move)',
        description:
          'new → acknowledged → in_progress ⇄ on_hold(reason) → resolved → closed; resolved → reopened → in_progress; any open state → cancelled (reason). Staff may make any move; an assigned contractor or technician acknowledges, starts, holds and resolves; the reporter confirms (closes) or reopens a resolved ticket and may cancel a new one.',
        security,
        params: IdParams,
        body: TransitionBody,
        response: { 200: Ticket, ...errors(...authErrors, 409) },
      },
    },
    async (request) => {
      const actor = requireActor(request);
      const t = await service.transitionTicket(db, actor, request.params.id, request.body.to, request.body.reason);
      return toTicketDto(t, actor.isPlatformAdmin || t.reporter_user_id === actor.userId);
    },
  );

  app.patch(
    '/tickets/:id',
    {
      schema: {
        tags: ['tickets'],
        summary: 'Assign, re-prioritise or re-categorise (targets recomputed from opening, minus paused time)',
        security,
        params: IdParams,
        body: UpdateTicketBody,
        response: { 200: Ticket, ...errors(...authErrors, 409) },
      },
    },
    async (request) => {
      const actor = requireActor(request);
      const t = await service.updateTicket(db, actor, request.params.id, request.body);
      return toTicketDto(t, true);
    },
  );

  app.post(
    '/tickets/:id/comments',
    {
      schema: {
        tags: ['tickets'],
        summary: 'Comment on a ticket (internal comments are hidden from the reporter)',
        security,
        params: IdParams,
        body: CommentBody,
        response: { 201: Type.Object({ id: Type.String(), createdAt: Type.String() }), ...errors(...authErrors) },
      },
    },
    async (request, reply) => {
      const c = await service.addComment(db, requireActor(request), request.params.id, request.body.body, request.body.internal ?? false);
      return reply.status(201).send({ id: c.id, createdAt: c.created_at.toISOString() });
    },
  );

  app.post(
    '/tickets/:id/rating',
    {
      schema: {
        tags: ['tickets'],
        summary: 'Rate a closed ticket (the reporter, once)',
        security,
        params: IdParams,
        body: RatingBody,
        response: { 200: Ticket, ...errors(...authErrors, 409) },
      },
    },
    async (request) => {
      const actor = requireActor(request);
      const t = await service.rateTicket(db, actor, request.params.id, request.body.score, request.body.comment);
      return toTicketDto(t, true);
    },
  );

};

function mayShow(can: Set<TicketAction>, from: TicketStatus, to: TicketStatus): boolean {
  if (can.has('manage')) return true;
  if (can.has('work') && ['acknowledged', 'in_progress', 'on_hold', 'resolved'].includes(to)) return true;
  return can.has('confirm') && ((from === 'resolved' && (to === 'closed' || to === 'reopened')) || (from === 'new' && to === 'cancelled'));
}

export default ticketRoutes;
