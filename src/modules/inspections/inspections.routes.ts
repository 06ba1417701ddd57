import { Type, type FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import type { InspectionTaskStatus } from '../../db/types.js';
import { badRequest } from '../../lib/errors.js';
import { decodeCursor, encodeCursor } from '../../lib/pagination.js';
import { IdParams, Page, authErrors, errors } from '../../lib/schemas.js';
import { requireActor, requireCommunity } from '../../plugins/access.js';
import {
  AdoptBody,
  CheckinBody,
  CheckinResponse,
  CreatePlanBody,
  Plan,
  PlanListQuery,
  PlanWrite,
  ResultsBody,
  ResultsResponse,
  Suggestion,
  TASK_STATUSES,
  Task,
  TaskDetail,
  TaskListQuery,
  UpdatePlanBody,
} from './inspections.schemas.js';
import * as service from './inspections.service.js';
import type { PlanRow, TaskRow } from './inspections.service.js';

const iso = (d: Date | null) => (d ? d.toISOString() : null);

export function toPlanDto(p: PlanRow) {
  return {
    id: p.id,
    communityId: p.community_id,
    name: p.name,
    kind: p.kind,
    template: p.template,
    category: p.category,
    categories: p.categories,
    facilityIds: p.facility_ids,
    rrule: p.rrule,
    dtstart: p.dtstart_local,
    timeZone: p.time_zone,
    checklist: p.checklist,
    assignee: { source: p.assignee_source, organizationId: p.assignee_org_id, userId: p.assignee_user_id },
    leadTimeMinutes: p.lead_time_minutes,
    dueWindowMinutes: p.due_window_minutes,
    escalateAfterMinutes: p.escalate_after_minutes,
    active: p.active,
    version: p.version,
    nextOccurrenceAt: iso(p.next_occurrence_at),
    createdAt: p.created_at.toISOString(),
    updatedAt: p.updated_at.toISOString(),
  };
}

export function toTaskDto(t: TaskRow) {
  return {
    id: t.id,
    planId: t.plan_id,
    planName: t.plan_name,
    planVersion: t.plan_version,
    communityId: t.community_id,
    kind: t.kind,
    category: t.category,
    occurrenceAt: t.occurrence_at.toISOString(),
    availableAt: t.available_at.toISOString(),
    dueAt: t.due_at.toISOString(),
    status: t.status,
    facilityIds: t.facility_ids,
    progress: { done: t.progress, total: t.facility_ids.length },
    assigneeOrgId: t.assignee_org_id,
    assigneeUserId: t.assignee_user_id,
    completedAt: iso(t.completed_at),
    completedBy: t.completed_by,
    onTime: t.on_time,
    missedAt: iso(t.missed_at),
    escalatedAt: iso(t.escalated_at),
    cancelledAt: iso(t.cancelled_at),
    createdAt: t.created_at.toISOString(),
  };
}

type ResultRow = Awaited<ReturnType<typeof service.recordResults>>['results'][number];
function toResultDto(r: ResultRow) {
  return {
    id: r.id,
    facilityId: r.facility_id,
    outcome: r.outcome,
    notes: r.notes,
    checklist: r.checklist,
    photoIds: r.photo_ids,
    ticketId: r.ticket_id,
    recordedBy: r.recorded_by,
    recordedAt: r.recorded_at.toISOString(),
  };
}

function encodeTaskCursor(t: TaskRow): string {
  return Buffer.from(JSON.stringify({ d: t.due_at.toISOString(), id: t.id })).toString('base64url');
}

function decodeTaskCursor(cursor: string | undefined): { due: string; id: string } | undefined {
  if (!cursor) return undefined;
  try {
    const c = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8')) as { d?: unknown; id?: unknown };
    if (typeof c.d === 'string' && typeof c.id === 'string' && !Number.isNaN(Date.parse(c.d)) && /^[0-9a-f-]{36}$/i.test(c.id)) return { due: c.d, id: c.id };
  } catch {
    // below
  }
  throw badRequest('The cursor is not valid; use nextCursor from a previous page');
}

const OPEN_TASK_STATUSES: InspectionTaskStatus[] = ['scheduled', 'in_progress', 'missed'];

const inspectionRoutes: FastifyPluginAsyncTypebox = async (app) => {
  const { db, config } = app.deps;
  app.addHook('onRequest', app.authenticate);
  const security = [{ bearerAuth: [] }];
  const gen = () => ({ horizonDays: config.inspectionHorizonDays });

  app.post(
    '/inspection-plans',
    {
      schema: {
        tags: ['inspections'],
        summary: 'Create an inspection plan or a patrol route; its tasks for the horizon are made at once',
        description:
          'Facilities by categories or an explicit list (a patrol: the route, in order). The recurrence is an RRULE on the community’s local clock from dtstart; bad rules answer 400. The assignee defaults to the duty holder of the category.',
        security,
        body: CreatePlanBody,
        response: { 201: PlanWrite, ...errors(...authErrors, 409, 422) },
      },
    },
    async (request, reply) => {
      const actor = requireActor(request);
      const { communityId, ...body } = request.body;
      await requireCommunity(db, request, communityId, 'inspections.manage');
      const { plan, tasksCreated } = await service.createPlan(db, actor, communityId, { ...body, kind: body.kind ?? 'inspection' }, gen());
      return reply.status(201).send({ plan: toPlanDto(plan), tasksCreated });
    },
  );

  app.get(
    '/inspection-plans',
    {
      schema: {
        tags: ['inspections'],
        summary: 'Inspection plans I may see (contractors: those assigned to them)',
        security,
        querystring: PlanListQuery,
        response: { 200: Page(Plan), ...errors(...authErrors) },
      },
    },
    async (request) => {
      const actor = requireActor(request);
      const q = request.query;
      if (q.communityId) await requireCommunity(db, request, q.communityId, 'inspections.read');
      const limit = q.limit ?? 50;
      const rows = await service.listPlans(db, actor, { communityId: q.communityId, active: q.active, kind: q.kind }, decodeCursor(q.cursor), limit);
      const page = rows.slice(0, limit);
      const last = page[page.length - 1];
      return { items: page.map(toPlanDto), nextCursor: rows.length > limit && last ? encodeCursor(last) : null };
    },
  );

  app.get(
    '/inspection-plans/:id',
    {
      schema: { tags: ['inspections'], summary: 'One inspection plan', security, params: IdParams, response: { 200: Plan, ...errors(...authErrors) } },
    },
    async (request) => {
      const { plan } = await service.planForActor(db, requireActor(request), request.params.id);
      return toPlanDto(plan);
    },
  );

  app.patch(
    '/inspection-plans/:id',
    {
      schema: {
        tags: ['inspections'],
        summary: 'Change a plan: a new version; its future tasks nobody started are cancelled and made again',
        description: 'Tasks under way or past keep the version they were made under. A new selection (categories or facilityIds) replaces the old one.',
        security,
        params: IdParams,
        body: UpdatePlanBody,
        response: { 200: PlanWrite, ...errors(...authErrors, 409, 422) },
      },
    },
    async (request) => {
      const body = request.body;
      if (body.categories !== undefined && body.facilityIds !== undefined) {
        throw badRequest('Give categories or facilityIds, not both', [{ field: 'categories', message: 'one of categories, facilityIds' }]);
      }
      const { plan, tasksCreated, tasksCancelled } = await service.updatePlan(db, requireActor(request), request.params.id, body, gen());
      return { plan: toPlanDto(plan), tasksCreated, tasksCancelled };
    },
  );

  app.post(
    '/inspection-plans/:id/deactivate',
    {
      schema: {
        tags: ['inspections'],
        summary: 'Stop a plan: no new tasks; its future tasks nobody started are cancelled',
        security,
        params: IdParams,
        response: { 200: PlanWrite, ...errors(...authErrors, 409) },
      },
    },
    async (request) => {
      const { plan, tasksCancelled } = await service.deactivatePlan(db, requireActor(request), request.params.id);
      return { plan: toPlanDto(plan), tasksCreated: 0, tasksCancelled };
    },
  );

  app.get(
    '/communities/:id/inspection-plans/suggestions',
    {
      schema: {
        tags: ['inspections'],
        summary: 'The default plans offered to a community: cameras and access control, fire equipment, hydrant pressure monthly; elevators every 15 days; perimeter alarms quarterly',
        security,
        params: IdParams,
        response: { 200: Type.Object({ items: Type.Array(Suggestion) }), ...errors(...authErrors) },
      },
    },
    async (request) => {
      const actor = requireActor(request);
      const access = await requireCommunity(db, request, request.params.id, 'inspections.read');
      return { items: await service.suggestions(db, access.communityId, actor.locale) };
    },
  );

  app.post(
    '/communities/:id/inspection-plans/adopt-defaults',
    {
      schema: {
        tags: ['inspections'],
        summary: 'Create the default plans the community does not have yet (all, or those named)',
        security,
        params: IdParams,
        body: AdoptBody,
        response: { 200: Type.Object({ created: Type.Array(Plan) }), ...errors(...authErrors, 409) },
      },
      // The body is optional: none means every default, in the actor's language.
      preValidation: async (request) => {
        request.body ??= {};
      },
    },
    async (request) => {
      const actor = requireActor(request);
      const access = await requireCommunity(db, request, request.params.id, 'inspections.manage');
      const body = request.body;
      const created = await service.adoptDefaults(db, actor, access.communityId, { templates: body.templates, locale: body.locale ?? actor.locale }, gen());
      return { created: created.map(toPlanDto) };
    },
  );

  app.get(
    '/inspection-tasks',
    {
      schema: {
        tags: ['inspections'],
        summary: 'Inspection tasks I may see, by due time',
        description: 'Contractors see the tasks assigned to them; committees and authorities read; owners see none.',
        security,
        querystring: TaskListQuery,
        response: { 200: Page(Task), ...errors(...authErrors) },
      },
    },
    async (request) => {
      const actor = requireActor(request);
      const q = request.query;
      if (q.communityId) await requireCommunity(db, request, q.communityId, 'inspections.read');
      let status: InspectionTaskStatus[] | undefined;
      if (q.status) {
        const parts = q.status.split(',').map((s) => s.trim());
        status = parts.flatMap((s) => (s === 'open' ? OPEN_TASK_STATUSES : [s as InspectionTaskStatus]));
        const bad = status.filter((s) => !(TASK_STATUSES as readonly string[]).includes(s));
        if (bad.length) throw badRequest(`Unknown status: ${bad.join(', ')}`, [{ field: 'status', message: `one of ${TASK_STATUSES.join(', ')}, or open` }]);
      }
      const limit = q.limit ?? 50;
      const rows = await service.listTasks(
        db,
        actor,
        {
          communityId: q.communityId,
          planId: q.planId,
          status,
          kind: q.kind,
          dueFrom: q.dueFrom ? new Date(q.dueFrom) : undefined,
          dueTo: q.dueTo ? new Date(q.dueTo) : undefined,
          assignedTo: q.assignee === 'me' ? { userId: actor.userId, orgIds: actor.memberships.map((m) => m.organizationId) } : undefined,
        },
        decodeTaskCursor(q.cursor),
        limit,
      );
      const page = rows.slice(0, limit);
      const last = page[page.length - 1];
      return { items: page.map(toTaskDto), nextCursor: rows.length > limit && last ? encodeTaskCursor(last) : null };
    },
  );

  app.get(
    '/inspection-tasks/:id',
    {
      schema: {
        tags: ['inspections'],
        summary: 'One task with its checklist, facilities and their results, and patrol check-ins',
        security,
        params: IdParams,
        response: { 200: TaskDetail, ...errors(...authErrors) },
      },
    },
    async (request) => {
      const { task } = await service.taskForActor(db, requireActor(request), request.params.id);
      const d = await service.taskDetail(db, task);
      const byId = new Map(d.facilities.map((f) => [f.id, f]));
      const resultOf = new Map(d.results.map((r) => [r.facility_id, r]));
      return {
        ...toTaskDto(task),
        checklist: d.checklist,
        facilities: task.facility_ids.map((id, position) => {
          const f = byId.get(id);
          const r = resultOf.get(id);
          return { id, name: f?.name ?? '', category: (f?.category as string | undefined) ?? '', status: (f?.status as string | undefined) ?? '', position, result: r ? toResultDto(r) : null };
        }),
        checkins: d.checkins.map((c) => ({ id: c.id, facilityId: c.facility_id, userId: c.user_id, taskId: c.task_id, position: c.position, checkedInAt: c.checked_in_at.toISOString() })),
      };
    },
  );

  app.post(
    '/inspection-tasks/:id/results',
    {
      schema: {
        tags: ['inspections'],
        summary: 'Record results per facility; a fault opens a ticket; with every facility done the task is done',
        description:
          'Checklist answers name the items of the checklist the task was made under. A fault opens an inspection_finding ticket for the facility (priority from the worst failed item: critical P1, high P2, medium P3, low P4; P3 when none failed), routed to the duty holder; the facility turns faulty. Results are never rewritten.',
        security,
        params: IdParams,
        body: ResultsBody,
        response: { 201: ResultsResponse, ...errors(...authErrors, 409, 422) },
      },
    },
    async (request, reply) => {
      const actor = requireActor(request);
      const { results } = await service.recordResults(db, actor, request.params.id, request.body.results);
      const { task } = await service.taskForActor(db, actor, request.params.id);
      return reply.status(201).send({ task: toTaskDto(task), results: results.map(toResultDto) });
    },
  );

  app.post(
    '/patrol/checkins',
    {
      schema: {
        tags: ['inspections'],
        summary: 'Electronic patrol (电子巡查): check in at a facility by its QR code',
        description:
          'The check-in is recorded with its time. If the facility is the next stop of an open patrol assigned to you or your organization, the patrol advances (done when the route is complete); out-of-order check-ins are recorded but do not advance, and the answer says which stop is next.',
        security,
        body: CheckinBody,
        response: { 201: CheckinResponse, ...errors(...authErrors) },
      },
    },
    async (request, reply) => {
      const actor = requireActor(request);
      const r = await service.checkIn(db, actor, request.body.qrToken);
      const task = r.taskId ? (await service.taskForActor(db, actor, r.taskId)).task : null;
      return reply.status(201).send({
        checkin: { ...r.checkin, checkedInAt: r.checkin.checkedInAt.toISOString() },
        advanced: r.advanced,
        task: task ? toTaskDto(task) : null,
        expected: r.expected,
        message: r.message,
      });
    },
  );
};

export default inspectionRoutes;
