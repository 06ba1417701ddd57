import type { Db, DbOrTrx, Trx } from '../../db/index.js';
import type { ChecklistItem, FacilityCategory, InspectionKind, InspectionTaskStatus } from '../../db/types.js';
import { AppError, badRequest, conflict, forbidden, notFound, unprocessable } from '../../lib/errors.js';
import type { Cursor } from '../../lib/pagination.js';
import { communityAccess, inspectionPermissions, visibleInspection, type Actor, type CommunityAccess, type InspectionAction } from '../../plugins/access.js';
import { recordAudit } from '../audit/audit.service.js';
import { dutyHolder, listDuties } from '../duties/duties.service.js';
import { isActive } from '../duties/duty-resolution.js';
import { findFacilityByQrToken } from '../facilities/facilities.service.js';
import { createTicket } from '../tickets/tickets.service.js';
import { cancelTimers, scheduleTimers, type TimerSpec } from '../timers/timers.service.js';
import { localDateOf } from '../calendars/business-calendar.js';
import { DEFAULT_PLANS, defaultStart, localiseDefault } from './defaults.js';
import { occurrencesWithNext, RecurrenceError, validateRecurrence } from './recurrence.js';
import * as repo from './inspections.repository.js';
import { checklistProblem, checkResult, firstTaskTimer, patrolStep, taskTimes, type ResultInput } from './rules.js';

const DAY_MS = 86_400_000;
const TIMER_KINDS = ['inspection.due-tomorrow', 'inspection.overdue', 'inspection.escalate'] as const;
const COMMITTEE_KINDS = ['owners_committee', 'property_management_committee', 'residents_committee'];

export type PlanRow = repo.PlanRow;
export type TaskRow = repo.TaskRow;

/* ------------------------------------------------------------------------------------------- */
/* Access                                                                                        */

/**
 * 404 when the community is not visible, or when the actor may read inspections there but not
 * this plan or task (a contractor, someone else's work); 403 for a visible community whose
 * inspections the actor may not see at all (owners).
 */
function guard(access: CommunityAccess, actor: Actor, facts: { community_id: string; assignee_org_id: string | null; assignee_user_id: string | null }, what: string) {
  const can = inspectionPermissions(access, actor, facts);
  if (!can.has('read')) {
    if (!access.can('community.read') || access.can('inspections.read')) throw notFound(what);
    throw forbidden('Inspection plans and tasks are for the staff, committees and authorities of the community');
  }
  return can;
}

export async function planForActor(db: DbOrTrx, actor: Actor, planId: string, lock = false): Promise<{ plan: PlanRow; can: Set<InspectionAction>; access: CommunityAccess }> {
  const plan = lock ? await repo.lockPlan(db, planId) : await repo.findPlan(db, planId);
  if (!plan) throw notFound('Inspection plan');
  const access = await communityAccess(db, actor, plan.community_id);
  return { plan, can: guard(access, actor, plan, 'Inspection plan'), access };
}

export async function taskForActor(db: DbOrTrx, actor: Actor, taskId: string, lock = false): Promise<{ task: TaskRow; can: Set<InspectionAction>; access: CommunityAccess }> {
  const task = lock ? await repo.lockTask(db, taskId) : await repo.findTask(db, taskId);
  if (!task) throw notFound('Inspection task');
  const access = await communityAccess(db, actor, task.community_id);
  return { task, can: guard(access, actor, task, 'Inspection task'), access };
}

/* ------------------------------------------------------------------------------------------- */
/* Plans                                                                                         */

export interface PlanInput {
  name: string;
  kind: InspectionKind;
  category?: FacilityCategory;
  categories?: FacilityCategory[];
  facilityIds?: string[];
  rrule: string;
  dtstart: string;
  checklist: ChecklistItem[];
  assigneeOrgId?: string | null;
  assigneeUserId?: string | null;
  leadTimeMinutes?: number;
  dueWindowMinutes?: number;
  escalateAfterMinutes?: number;
}

export interface GenerationOptions {
  horizonDays: number;
  now?: Date;
}

const recurrenceError = (err: unknown) => {
  if (err instanceof RecurrenceError) {
    const field = err.field === 'dtstart' ? 'dtstart' : err.field;
    return badRequest(err.message, [{ field, message: err.message }]);
  }
  return err;
};

/** Organizations that may be given a community's inspections: those with an active duty there, and its committees. */
async function servingOrganizations(trx: DbOrTrx, communityId: string, now: Date): Promise<Set<string>> {
  const [duties, committees] = await Promise.all([
    listDuties(trx, communityId),
    trx.selectFrom('organizations').select('id').where('community_id', '=', communityId).where('kind', 'in', COMMITTEE_KINDS as never[]).execute(),
  ]);
  return new Set([...duties.filter((d) => isActive({ validFrom: d.valid_from, validTo: d.valid_to }, now)).map((d) => d.organization_id), ...committees.map((c) => c.id)]);
}

interface ResolvedPlan {
  name: string;
  kind: InspectionKind;
  category: string;
  categories: string[];
  facility_ids: string[];
  rrule: string;
  dtstart_local: string;
  time_zone: string;
  checklist: ChecklistItem[];
  assignee_source: 'duty_holder' | 'explicit';
  assignee_org_id: string | null;
  assignee_user_id: string | null;
  lead_time_minutes: number;
  due_window_minutes: number;
  escalate_after_minutes: number;
}

/** Validates a plan's fields against its community and resolves the defaults (category, assignee: today's duty holder). */
async function resolvePlan(trx: Trx, communityId: string, input: PlanInput): Promise<ResolvedPlan> {
  const community = await trx.selectFrom('communities').select(['id', 'time_zone']).where('id', '=', communityId).executeTakeFirst();
  if (!community) throw notFound('Community');
  const categories = [...new Set(input.categories ?? [])];
  const facilityIds = input.facilityIds ?? [];
  if (input.kind === 'patrol') {
    if (facilityIds.length < 1) throw badRequest('A patrol needs its route: facilityIds in the order to walk them', [{ field: 'facilityIds', message: 'required for a patrol' }]);
    if (categories.length > 0) throw badRequest('A patrol follows its route (facilityIds), not categories', [{ field: 'categories', message: 'not for a patrol' }]);
  } else {
    if ((categories.length > 0) === (facilityIds.length > 0)) {
      throw badRequest('Select the facilities by categories or by facilityIds (one of the two)', [{ field: 'categories', message: 'give categories or facilityIds' }]);
    }
    if (new Set(facilityIds).size !== facilityIds.length) throw badRequest('A facility is listed twice', [{ field: 'facilityIds', message: 'duplicates' }]);
  }
  let category: string | undefined = input.category;
  if (facilityIds.length > 0) {
    const found = await repo.facilitiesIn(trx, communityId, [...new Set(facilityIds)]);
    const byId = new Map(found.map((f) => [f.id, f]));
    const missing = facilityIds.filter((id) => !byId.has(id));
    if (missing.length > 0) throw notFound('Facility');
    const gone = found.filter((f) => f.status === 'decommissioned');
    if (gone.length > 0) throw unprocessable(`Decommissioned facilities cannot be inspected: ${gone.map((f) => f.name).join(', ')}`);
    if (!category) {
      // The category most of the listed facilities have (the first listed wins a tie).
      const counts = new Map<string, number>();
      for (const id of facilityIds) {
        const c = byId.get(id)?.category as string;
        counts.set(c, (counts.get(c) ?? 0) + 1);
      }
      category = [...counts.entries()].sort((a, b) => b[1] - a[1])[0]?.[0];
    }
  }
  category ??= categories[0] ?? 'other';
  const problem = checklistProblem(input.checklist);
  if (problem) throw badRequest(problem, [{ field: 'checklist', message: problem }]);
  if (input.kind === 'inspection' && input.checklist.length === 0) throw badRequest('An inspection needs at least one checklist item', [{ field: 'checklist', message: 'empty' }]);
  let rrule: string;
  try {
    rrule = validateRecurrence({ rrule: input.rrule, dtstartLocal: input.dtstart, timeZone: community.time_zone }).rrule;
  } catch (err) {
    throw recurrenceError(err);
  }

  let source: 'duty_holder' | 'explicit' = 'duty_holder';
  let orgId: string | null;
  if (input.assigneeOrgId) {
    const serving = await servingOrganizations(trx, communityId, new Date());
    if (!serving.has(input.assigneeOrgId)) {
      throw badRequest('The assignee organization must hold a duty in this community, or be one of its committees', [{ field: 'assigneeOrgId', message: 'not serving this community' }]);
    }
    source = 'explicit';
    orgId = input.assigneeOrgId;
  } else {
    orgId = (await dutyHolder(trx, communityId, category))?.organizationId ?? null;
  }
  if (input.assigneeUserId) {
    if (!orgId) throw unprocessable('Nobody holds this duty: give assigneeOrgId along with assigneeUserId');
    const member = await trx.selectFrom('memberships').select('user_id').where('user_id', '=', input.assigneeUserId).where('organization_id', '=', orgId).executeTakeFirst();
    if (!member) throw badRequest('The assignee must be a member of the assignee organization', [{ field: 'assigneeUserId', message: 'not a member of the assignee organization' }]);
  }
  return {
    name: input.name.trim(),
    kind: input.kind,
    category,
    categories,
    facility_ids: facilityIds,
    rrule,
    dtstart_local: input.dtstart,
    time_zone: community.time_zone,
    checklist: input.checklist.map((i) => ({ id: i.id, text: i.text.trim(), ...(i.textEn ? { textEn: i.textEn.trim() } : {}), severity: i.severity })),
    assignee_source: source,
    assignee_org_id: orgId,
    assignee_user_id: input.assigneeUserId ?? null,
    lead_time_minutes: input.leadTimeMinutes ?? 0,
    due_window_minutes: input.dueWindowMinutes ?? 1440,
    escalate_after_minutes: input.escalateAfterMinutes ?? 2880,
  };
}

const toColumns = (p: ResolvedPlan) => ({ ...p, checklist: JSON.stringify(p.checklist) });

const auditView = (p: PlanRow) => ({
  name: p.name,
  kind: p.kind,
  category: p.category,
  categories: p.categories,
  facilityIds: p.facility_ids,
  rrule: p.rrule,
  dtstartLocal: p.dtstart_local,
  timeZone: p.time_zone,
  checklist: p.checklist,
  assigneeSource: p.assignee_source,
  assigneeOrgId: p.assignee_org_id,
  assigneeUserId: p.assignee_user_id,
  leadTimeMinutes: p.lead_time_minutes,
  dueWindowMinutes: p.due_window_minutes,
  escalateAfterMinutes: p.escalate_after_minutes,
  active: p.active,
  version: p.version,
});

const isUniqueViolation = (err: unknown) => (err as { code?: string }).code === '23505';

/** The first reminder of each new task (due tomorrow, else overdue); each step's handler schedules the next. */
function timerSpecs(created: Array<{ id: string; community_id: string; available_at: Date; due_at: Date }>, escalateAfterMinutes: number, now: Date): TimerSpec[] {
  return created.map((t) => {
    const s = firstTaskTimer({ id: t.id, availableAt: t.available_at, dueAt: t.due_at }, escalateAfterMinutes, now);
    return { kind: s.kind, subjectId: t.id, communityId: t.community_id, dueAt: s.dueAt, jobId: s.jobId, payload: { taskId: t.id } };
  });
}

/** Makes one plan's tasks for [now, now + horizon) in the caller's transaction, and moves its watermark. */
async function generateForPlan(trx: Trx, plan: PlanRow, opts: Required<GenerationOptions>) {
  const horizonEnd = new Date(opts.now.getTime() + opts.horizonDays * DAY_MS);
  if (!plan.active) {
    await repo.setWatermarks(trx, [{ planId: plan.id, next: null }]);
    return [];
  }
  const facilities = await repo.facilitySetOf(trx, plan.id);
  const { occurrences, next } = occurrencesWithNext({ rrule: plan.rrule, dtstartLocal: plan.dtstart_local, timeZone: plan.time_zone }, opts.now, horizonEnd);
  if (facilities.length === 0) {
    // Nothing to inspect yet: look again on every pass until facilities of the plan exist.
    await repo.setWatermarks(trx, [{ planId: plan.id, next: occurrences[0] ?? next }]);
    return [];
  }
  const created = await repo.insertTasks(
    trx,
    occurrences.map((o) => {
      const times = taskTimes(o, { leadTimeMinutes: plan.lead_time_minutes, dueWindowMinutes: plan.due_window_minutes });
      return {
        planId: plan.id,
        communityId: plan.community_id,
        kind: plan.kind,
        category: plan.category,
        planVersion: plan.version,
        occurrenceAt: o,
        availableAt: times.availableAt,
        dueAt: times.dueAt,
        facilityIds: facilities,
        assigneeOrgId: plan.assignee_org_id,
        assigneeUserId: plan.assignee_user_id,
      };
    }),
  );
  await scheduleTimers(trx, timerSpecs(created, plan.escalate_after_minutes, opts.now));
  await repo.setWatermarks(trx, [{ planId: plan.id, next }]);
  return created;
}

export async function createPlan(db: Db, actor: Actor, communityId: string, input: PlanInput & { template?: string }, gen: GenerationOptions) {
  const now = gen.now ?? new Date();
  try {
    return await db.transaction().execute(async (trx) => {
      const resolved = await resolvePlan(trx, communityId, input);
      const plan = await repo.insertPlan(trx, { community_id: communityId, template: input.template ?? null, created_by: actor.userId, next_occurrence_at: now, ...toColumns(resolved) });
      await repo.insertPlanVersion(trx, plan, actor.userId);
      const tasks = await generateForPlan(trx, plan, { horizonDays: gen.horizonDays, now });
      await recordAudit(trx, {
        communityId,
        actorUserId: actor.userId,
        action: 'inspection_plan.created',
        entityType: 'inspection_plan',
        entityId: plan.id,
        after: { ...auditView(plan), template: plan.template, tasksCreated: tasks.length },
      });
      return { plan: (await repo.findPlan(trx, plan.id)) as PlanRow, tasksCreated: tasks.length };
    });
  } catch (err) {
    if (isUniqueViolation(err)) throw conflict(`This community already has an active plan from the default "${input.template ?? ''}"`);
    throw err;
  }
}

export type PlanPatchInput = Partial<PlanInput> & { active?: boolean };

/**
 * Changes a plan: a new version; its future tasks nobody started are cancelled (kept as the
 * trace) and regenerated under the new version, with their timers, in one transaction. Tasks
 * already under way or past keep the version they were made under.
 */
export async function updatePlan(db: Db, actor: Actor, planId: string, patch: PlanPatchInput, gen: GenerationOptions) {
  const now = gen.now ?? new Date();
  try {
    return await db.transaction().execute(async (trx) => {
      const { plan: before, can } = await planForActor(trx, actor, planId, true);
      if (!can.has('manage')) throw forbidden('Only staff who manage the community’s facilities change inspection plans');
      const merged: PlanInput = {
        name: patch.name ?? before.name,
        kind: before.kind,
        rrule: patch.rrule ?? before.rrule,
        dtstart: patch.dtstart ?? before.dtstart_local,
        checklist: patch.checklist ?? before.checklist,
        leadTimeMinutes: patch.leadTimeMinutes ?? before.lead_time_minutes,
        dueWindowMinutes: patch.dueWindowMinutes ?? before.due_window_minutes,
        escalateAfterMinutes: patch.escalateAfterMinutes ?? before.escalate_after_minutes,
      };
      // Selection: a new one replaces the old one whole.
      if (patch.categories !== undefined || patch.facilityIds !== undefined) {
        merged.categories = patch.categories ?? [];
        merged.facilityIds = patch.facilityIds ?? [];
      } else {
        merged.categories = before.categories as FacilityCategory[];
        merged.facilityIds = before.facility_ids;
      }
      const selectionChanged = patch.categories !== undefined || patch.facilityIds !== undefined;
      merged.category = (patch.category ?? (selectionChanged ? undefined : before.category)) as FacilityCategory | undefined;
      if (patch.assigneeOrgId !== undefined) merged.assigneeOrgId = patch.assigneeOrgId;
      else if (before.assignee_source === 'explicit') merged.assigneeOrgId = before.assignee_org_id;
      merged.assigneeUserId = patch.assigneeUserId !== undefined ? patch.assigneeUserId : before.assignee_user_id;
      const resolved = await resolvePlan(trx, before.community_id, merged);
      const active = patch.active ?? before.active;
      const plan = await repo.updatePlan(trx, planId, { ...toColumns(resolved), active, version: before.version + 1, next_occurrence_at: now });
      await repo.insertPlanVersion(trx, plan, actor.userId);
      const cancelled = await cancelTasks(trx, planId, now);
      const created = await generateForPlan(trx, plan, { horizonDays: gen.horizonDays, now });
      await recordAudit(trx, {
        communityId: plan.community_id,
        actorUserId: actor.userId,
        action: active && !before.active ? 'inspection_plan.reactivated' : 'inspection_plan.updated',
        entityType: 'inspection_plan',
        entityId: plan.id,
        before: auditView(before),
        after: { ...auditView(plan), tasksCancelled: cancelled, tasksCreated: created.map((t) => t.id) },
      });
      return { plan: (await repo.findPlan(trx, plan.id)) as PlanRow, tasksCancelled: cancelled.length, tasksCreated: created.length };
    });
  } catch (err) {
    if (isUniqueViolation(err)) throw conflict('This community already has an active plan from the same default');
    throw recurrenceError(err);
  }
}

/** Cancels a plan's future unstarted tasks and their timers; returns their ids. */
async function cancelTasks(trx: Trx, planId: string, now: Date): Promise<string[]> {
  const ids = await repo.cancelFutureTasks(trx, planId, now);
  for (const id of ids) for (const kind of TIMER_KINDS) await cancelTimers(trx, id, kind);
  return ids;
}

/** Stops a plan: no new tasks; its future tasks nobody started are cancelled. */
export async function deactivatePlan(db: Db, actor: Actor, planId: string) {
  const now = new Date();
  return db.transaction().execute(async (trx) => {
    const { plan: before, can } = await planForActor(trx, actor, planId, true);
    if (!can.has('manage')) throw forbidden('Only staff who manage the community’s facilities deactivate inspection plans');
    if (!before.active) throw new AppError(409, 'CONFLICT', 'The plan is already inactive');
    const plan = await repo.updatePlan(trx, planId, { active: false, next_occurrence_at: null });
    const cancelled = await cancelTasks(trx, planId, now);
    await recordAudit(trx, {
      communityId: plan.community_id,
      actorUserId: actor.userId,
      action: 'inspection_plan.deactivated',
      entityType: 'inspection_plan',
      entityId: plan.id,
      before: { active: true },
      after: { active: false, tasksCancelled: cancelled },
    });
    return { plan, tasksCancelled: cancelled.length };
  });
}

export function listPlans(db: DbOrTrx, actor: Actor, filters: repo.PlanFilters, cursor: Cursor | undefined, limit: number) {
  return repo.listPlans(db, visibleInspection(actor, 'p'), filters, cursor, limit);
}

/* ------------------------------------------------------------------------------------------- */
/* Default plans                                                                                 */

export async function suggestions(db: DbOrTrx, communityId: string, locale: 'zh-CN' | 'en', now = new Date()) {
  const community = await db.selectFrom('communities').select(['time_zone']).where('id', '=', communityId).executeTakeFirstOrThrow();
  const [counts, adopted] = await Promise.all([repo.facilityCounts(db, communityId), repo.templatesOf(db, communityId)]);
  const dtstart = defaultStart(localDateOf(community.time_zone, now));
  return DEFAULT_PLANS.map((p) => {
    const local = localiseDefault(p, locale);
    const { firstOccurrences } = validateRecurrence({ rrule: p.rrule, dtstartLocal: dtstart, timeZone: community.time_zone });
    return {
      template: p.template,
      name: local.name,
      description: local.description,
      kind: 'inspection' as const,
      categories: p.categories,
      rrule: p.rrule,
      dtstart,
      timeZone: community.time_zone,
      leadTimeMinutes: p.leadTimeMinutes,
      dueWindowMinutes: p.dueWindowMinutes,
      checklist: local.checklist,
      translations: {
        'zh-CN': { name: p.name.zh, checklist: p.checklist.map((i) => ({ id: i.id, text: i.zh })) },
        en: { name: p.name.en, checklist: p.checklist.map((i) => ({ id: i.id, text: i.en })) },
      },
      facilities: p.categories.reduce((n, c) => n + (counts.get(c) ?? 0), 0),
      nextOccurrences: firstOccurrences.filter((d) => d >= now).slice(0, 3).map((d) => d.toISOString()),
      adopted: adopted.has(p.template),
    };
  });
}

/** Creates the default plans not adopted yet (all, or those named), in the given language. */
export async function adoptDefaults(db: Db, actor: Actor, communityId: string, opts: { templates?: string[]; locale: 'zh-CN' | 'en' }, gen: GenerationOptions) {
  const unknown = (opts.templates ?? []).filter((t) => !DEFAULT_PLANS.some((p) => p.template === t));
  if (unknown.length) throw badRequest(`Unknown default plan: ${unknown.join(', ')}`, [{ field: 'templates', message: `one of ${DEFAULT_PLANS.map((p) => p.template).join(', ')}` }]);
  const now = gen.now ?? new Date();
  const community = await db.selectFrom('communities').select(['time_zone']).where('id', '=', communityId).executeTakeFirstOrThrow();
  const adopted = await repo.templatesOf(db, communityId);
  const dtstart = defaultStart(localDateOf(community.time_zone, now));
  const created: PlanRow[] = [];
  for (const p of DEFAULT_PLANS) {
    if (opts.templates && !opts.templates.includes(p.template)) continue;
    if (adopted.has(p.template)) continue;
    const local = localiseDefault(p, opts.locale);
    try {
      const { plan } = await createPlan(
        db,
        actor,
        communityId,
        {
          template: p.template,
          name: local.name,
          kind: 'inspection',
          categories: p.categories,
          rrule: p.rrule,
          dtstart,
          checklist: local.checklist,
          leadTimeMinutes: p.leadTimeMinutes,
          dueWindowMinutes: p.dueWindowMinutes,
        },
        { ...gen, now },
      );
      created.push(plan);
    } catch (err) {
      // Adopted meanwhile by someone else: that is what was asked for.
      if (err instanceof AppError && err.statusCode === 409) continue;
      throw err;
    }
  }
  return created;
}

/* ------------------------------------------------------------------------------------------- */
/* Results                                                                                       */

export interface ResultBody extends ResultInput {
  photoIds?: string[];
}

const OPEN: readonly InspectionTaskStatus[] = ['scheduled', 'in_progress', 'missed'];

async function completeIfDone(trx: Trx, actor: Actor, t: TaskRow, progress: number, now: Date) {
  const complete = progress >= t.facility_ids.length;
  if (complete) {
    const onTime = now.getTime() <= t.due_at.getTime();
    await repo.updateTask(trx, t.id, { status: 'done', progress, completed_at: now, completed_by: actor.userId, on_time: onTime });
    for (const kind of TIMER_KINDS) await cancelTimers(trx, t.id, kind);
    await recordAudit(trx, {
      communityId: t.community_id,
      actorUserId: actor.userId,
      action: 'inspection_task.done',
      entityType: 'inspection_task',
      entityId: t.id,
      before: { status: t.status },
      after: { status: 'done', onTime, completedAt: now, dueAt: t.due_at },
    });
    return 'done' as const;
  }
  const status = t.status === 'scheduled' ? 'in_progress' : t.status;
  await repo.updateTask(trx, t.id, { status, progress });
  return status;
}

/**
 * Records results of an inspection task, per facility: a fault opens a ticket (kind
 * inspection_finding, routed to the duty holder, priority from the worst failed item) linked to
 * the result, and the facility's status follows through the ticket. With every facility done
 * the task is done (on time if before its due time).
 */
export async function recordResults(db: Db, actor: Actor, taskId: string, results: ResultBody[], now = new Date()) {
  return db.transaction().execute(async (trx) => {
    const { task: t, can } = await taskForActor(trx, actor, taskId, true);
    if (!can.has('perform')) throw forbidden('Only the assignee or the community’s staff record inspection results');
    if (t.kind === 'patrol') throw unprocessable('A patrol is completed by QR check-ins along its route (POST /patrol/checkins)');
    if (!OPEN.includes(t.status)) throw new AppError(409, 'CONFLICT', `The task is ${t.status}: no more results can be recorded`);
    if (now < t.available_at) throw unprocessable(`The task opens for work at ${t.available_at.toISOString()}`);
    const ids = results.map((r) => r.facilityId);
    if (new Set(ids).size !== ids.length) throw badRequest('A facility appears twice in the results', [{ field: 'results', message: 'one result per facility' }]);
    const outside = ids.filter((id) => !t.facility_ids.includes(id));
    if (outside.length) throw unprocessable('Results name facilities that are not part of this task', { facilityIds: outside });
    const existing = await repo.resultsOfTask(trx, t.id);
    const again = existing.filter((e) => ids.includes(e.facility_id)).map((e) => e.facility_id);
    if (again.length) throw conflict('Results for these facilities are already recorded (results are not rewritten)', { facilityIds: again });

    const checklist = await repo.checklistOfVersion(trx, t.plan_id, t.plan_version);
    const checks = results.map((r, i) => {
      const c = checkResult(checklist, r);
      if (!c.ok) throw badRequest(c.message, [{ field: `results/${i}`, message: c.message }]);
      return c;
    });
    const facilities = await repo.facilitiesIn(trx, t.community_id, ids);
    const byId = new Map(facilities.map((f) => [f.id, f]));
    const zh = actor.locale === 'zh-CN';
    const recorded = [];
    for (const [i, r] of results.entries()) {
      const check = checks[i] as Extract<ReturnType<typeof checkResult>, { ok: true }>;
      const facility = byId.get(r.facilityId);
      let ticketId: string | null = null;
      if (r.outcome === 'fault') {
        const failedText = check.failed.map((f) => `- ${zh ? f.text : (f.textEn ?? f.text)}（${f.severity}）`).join('\n');
        const ticket = await createTicket(trx, actor.userId, {
          communityId: t.community_id,
          kind: 'inspection_finding',
          channel: 'inspection',
          priority: check.priority ?? 'P3',
          title: (zh ? `巡检发现故障：${facility?.name ?? ''}` : `Inspection finding: ${facility?.name ?? ''}`).slice(0, 200),
          description: [zh ? `巡检计划「${t.plan_name}」` : `Inspection plan "${t.plan_name}"`, failedText, r.notes?.trim() ?? ''].filter(Boolean).join('\n').slice(0, 10_000),
          facilityId: r.facilityId,
          reporterUserId: actor.userId,
          reporterName: actor.name,
          // An internal finding: staff decide whether owners see it.
          isPublic: false,
          dedupeKey: `inspection-${t.id}-${r.facilityId}`,
        });
        ticketId = ticket.id;
      }
      recorded.push(
        await repo.insertResult(trx, {
          task_id: t.id,
          facility_id: r.facilityId,
          community_id: t.community_id,
          outcome: r.outcome,
          notes: r.notes?.trim() ?? '',
          checklist: JSON.stringify(r.checklist),
          photo_ids: r.photoIds ?? [],
          ticket_id: ticketId,
          recorded_by: actor.userId,
        }),
      );
    }
    await recordAudit(trx, {
      communityId: t.community_id,
      actorUserId: actor.userId,
      action: 'inspection_task.results_recorded',
      entityType: 'inspection_task',
      entityId: t.id,
      after: { results: recorded.map((r, i) => ({ facilityId: r.facility_id, outcome: r.outcome, ticketId: r.ticket_id, failedItems: (checks[i] as { failed: ChecklistItem[] }).failed.map((f) => f.id) })) },
    });
    const status = await completeIfDone(trx, actor, t, existing.length + recorded.length, now);
    return { status, results: recorded };
  });
}

/* ------------------------------------------------------------------------------------------- */
/* Electronic patrol                                                                             */

export interface CheckinOutcome {
  checkin: { id: string; facilityId: string; facilityName: string; checkedInAt: Date; taskId: string | null; position: number | null };
  advanced: boolean;
  taskId: string | null;
  expected: { facilityId: string; facilityName: string; position: number } | null;
  message: string;
}

/**
 * A logged-in check-in at a facility's QR code: always recorded with its time; if the facility is
 * the next stop of an open patrol assigned to the actor (or their organization), that patrol
 * advances; order is enforced (an out-of-order check-in is recorded and says which stop is next).
 */
export async function checkIn(db: Db, actor: Actor, qrToken: string, now = new Date()): Promise<CheckinOutcome> {
  const facility = await findFacilityByQrToken(db, qrToken);
  if (!facility) throw notFound('Facility');
  return db.transaction().execute(async (trx) => {
    const access = await communityAccess(trx, actor, facility.community_id);
    if (!access.can('community.read')) throw notFound('Facility');
    if (!access.can('inspections.manage') && !access.stances.has('contractor')) throw forbidden('Patrol check-ins are for the staff and contractors keeping the community');
    const orgIds = actor.memberships.map((m) => m.organizationId);
    const tasks = await repo.lockOpenPatrolTasks(trx, facility.community_id, facility.id, actor.userId, orgIds, now);
    const zh = actor.locale === 'zh-CN';
    let chosen: { task: TaskRow; position: number; complete: boolean } | null = null;
    let firstStep: { task: TaskRow; step: ReturnType<typeof patrolStep> } | null = null;
    for (const task of tasks) {
      const step = patrolStep(task.facility_ids, task.progress, facility.id);
      if (step.kind === 'advance') {
        chosen = { task, position: step.position, complete: step.complete };
        break;
      }
      firstStep ??= { task, step };
    }
    const checkin = await repo.insertCheckin(trx, {
      community_id: facility.community_id,
      facility_id: facility.id,
      user_id: actor.userId,
      task_id: chosen?.task.id ?? null,
      position: chosen?.position ?? null,
    });
    await recordAudit(trx, {
      communityId: facility.community_id,
      actorUserId: actor.userId,
      action: 'patrol.checked_in',
      entityType: 'facility',
      entityId: facility.id,
      after: { checkinId: checkin.id, taskId: checkin.task_id, position: checkin.position, checkedInAt: checkin.checked_in_at },
    });
    const base = { id: checkin.id, facilityId: facility.id, facilityName: facility.name, checkedInAt: checkin.checked_in_at, taskId: checkin.task_id, position: checkin.position };
    if (chosen) {
      const t = chosen.task;
      await completeIfDone(trx, actor, t, t.progress + 1, now);
      const total = t.facility_ids.length;
      return {
        checkin: base,
        advanced: true,
        taskId: t.id,
        expected: null,
        message: chosen.complete
          ? zh
            ? `巡更「${t.plan_name}」已完成（${total}/${total}）。`
            : `Patrol "${t.plan_name}" complete (${total}/${total}).`
          : zh
            ? `已签到第 ${chosen.position + 1}/${total} 个点位。`
            : `Checked in at stop ${chosen.position + 1} of ${total}.`,
      };
    }
    if (firstStep && firstStep.step.kind === 'out_of_order') {
      const s = firstStep.step;
      const expected = await trx.selectFrom('facilities').select(['id', 'name']).where('id', '=', s.expectedFacilityId).executeTakeFirst();
      const name = expected?.name ?? s.expectedFacilityId;
      return {
        checkin: base,
        advanced: false,
        taskId: firstStep.task.id,
        expected: { facilityId: s.expectedFacilityId, facilityName: name, position: s.expectedPosition },
        message: zh
          ? `签到已记录，但顺序不对：巡更「${firstStep.task.plan_name}」的下一个点位是第 ${s.expectedPosition + 1} 个「${name}」，本次签到不计入路线进度。`
          : `Check-in recorded, but out of order: the next stop of patrol "${firstStep.task.plan_name}" is stop ${s.expectedPosition + 1}, "${name}"; this check-in does not advance the route.`,
      };
    }
    if (firstStep && firstStep.step.kind === 'already_done') {
      return {
        checkin: base,
        advanced: false,
        taskId: firstStep.task.id,
        expected: null,
        message: zh ? '签到已记录；该点位在本次巡更中已签到过。' : 'Check-in recorded; this stop was already checked in on this patrol.',
      };
    }
    return {
      checkin: base,
      advanced: false,
      taskId: null,
      expected: null,
      message: zh ? '签到已记录；您当前没有经过此点位的待完成巡更任务。' : 'Check-in recorded; you have no open patrol whose route passes here.',
    };
  });
}

/* ------------------------------------------------------------------------------------------- */
/* Lists, details, KPIs                                                                          */

export function listTasks(db: DbOrTrx, actor: Actor, filters: repo.TaskFilters, cursor: { due: string; id: string } | undefined, limit: number) {
  return repo.listTasks(db, visibleInspection(actor, 't'), filters, cursor, limit);
}

export async function taskDetail(db: DbOrTrx, task: TaskRow) {
  const [results, checkins, checklist, facilities] = await Promise.all([
    repo.resultsOfTask(db, task.id),
    repo.checkinsOfTask(db, task.id),
    repo.checklistOfVersion(db, task.plan_id, task.plan_version),
    repo.facilitiesIn(db, task.community_id, [...new Set(task.facility_ids)]),
  ]);
  return { results, checkins, checklist, facilities };
}

/** Inspections done on time per community and category, for the KPI reports. */
export const inspectionStats = repo.taskStats;
