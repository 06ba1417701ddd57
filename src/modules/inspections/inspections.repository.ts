import { sql, type Expression, type Insertable, type SqlBool, type Updateable } from 'kysely';
import type { DbOrTrx } from '../../db/index.js';
import type { ChecklistItem, InspectionPlansTable, InspectionTaskStatus, InspectionTasksTable } from '../../db/types.js';
import type { Cursor } from '../../lib/pagination.js';

/* ------------------------------------------------------------------------------------------- */
/* Plans                                                                                         */

export type NewPlan = Insertable<InspectionPlansTable>;
export type PlanPatch = Updateable<InspectionPlansTable>;

export function insertPlan(db: DbOrTrx, plan: NewPlan) {
  return db.insertInto('inspection_plans').values(plan).returningAll().executeTakeFirstOrThrow();
}

export function findPlan(db: DbOrTrx, id: string) {
  return db.selectFrom('inspection_plans').selectAll().where('id', '=', id).executeTakeFirst();
}

/** Locks one plan for a change, after the lock on its community's plans (lockCommunities). */
export async function lockPlan(db: DbOrTrx, id: string) {
  const found = await db.selectFrom('inspection_plans').select('community_id').where('id', '=', id).executeTakeFirst();
  if (!found) return undefined;
  await lockCommunities(db, [found.community_id]);
  return db.selectFrom('inspection_plans').selectAll().where('id', '=', id).forUpdate().executeTakeFirst();
}

export function updatePlan(db: DbOrTrx, id: string, patch: PlanPatch) {
  return db.updateTable('inspection_plans').set({ ...patch, updated_at: new Date() }).where('id', '=', id).returningAll().executeTakeFirstOrThrow();
}

export type PlanRow = Awaited<ReturnType<typeof insertPlan>>;

export async function insertPlanVersion(db: DbOrTrx, plan: PlanRow, createdBy: string | null) {
  const snapshot = {
    name: plan.name,
    kind: plan.kind,
    category: plan.category,
    categories: plan.categories,
    facilityIds: plan.facility_ids,
    rrule: plan.rrule,
    dtstartLocal: plan.dtstart_local,
    timeZone: plan.time_zone,
    checklist: plan.checklist,
    assigneeSource: plan.assignee_source,
    assigneeOrgId: plan.assignee_org_id,
    assigneeUserId: plan.assignee_user_id,
    leadTimeMinutes: plan.lead_time_minutes,
    dueWindowMinutes: plan.due_window_minutes,
    escalateAfterMinutes: plan.escalate_after_minutes,
    active: plan.active,
  };
  await db.insertInto('inspection_plan_versions').values({ plan_id: plan.id, version: plan.version, snapshot: JSON.stringify(snapshot), created_by: createdBy }).execute();
}

/** The checklist a task of this plan version asked for. */
export async function checklistOfVersion(db: DbOrTrx, planId: string, version: number) {
  const row = await db.selectFrom('inspection_plan_versions').select('snapshot').where('plan_id', '=', planId).where('version', '=', version).executeTakeFirst();
  return ((row?.snapshot as { checklist?: ChecklistItem[] } | undefined)?.checklist ?? []) as ChecklistItem[];
}

export interface PlanFilters {
  communityId?: string;
  active?: boolean;
  kind?: 'inspection' | 'patrol';
}

export function listPlans(db: DbOrTrx, visible: Expression<SqlBool>, f: PlanFilters, cursor: Cursor | undefined, limit: number) {
  let q = db.selectFrom('inspection_plans as p').selectAll('p').where(visible);
  if (f.communityId) q = q.where('p.community_id', '=', f.communityId);
  if (f.active !== undefined) q = q.where('p.active', '=', f.active);
  if (f.kind) q = q.where('p.kind', '=', f.kind);
  if (cursor) q = q.where(sql<SqlBool>`(p.created_at, p.id) > (${cursor.t}::timestamptz, ${cursor.id}::uuid)`);
  return q.orderBy('p.created_at').orderBy('p.id').limit(limit + 1).execute();
}

/** Active plans of the default templates a community has. */
export async function templatesOf(db: DbOrTrx, communityId: string): Promise<Set<string>> {
  const rows = await db.selectFrom('inspection_plans').select('template').where('community_id', '=', communityId).where('active', '=', true).where('template', 'is not', null).execute();
  return new Set(rows.map((r) => r.template as string));
}

/** Facilities in service per category in a community (for the default plans' preview). */
export async function facilityCounts(db: DbOrTrx, communityId: string): Promise<Map<string, number>> {
  const rows = await db
    .selectFrom('facilities')
    .select((eb) => ['category', eb.fn.countAll<number>().as('n')])
    .where('community_id', '=', communityId)
    .where('status', '<>', 'decommissioned')
    .groupBy('category')
    .execute();
  return new Map(rows.map((r) => [r.category as string, Number(r.n)]));
}

/** Of these facility ids, those in the community (with category and status), for validation. */
export function facilitiesIn(db: DbOrTrx, communityId: string, ids: string[]) {
  if (ids.length === 0) return Promise.resolve([]);
  return db.selectFrom('facilities').select(['id', 'category', 'status', 'name']).where('community_id', '=', communityId).where('id', 'in', ids).execute();
}

/* ------------------------------------------------------------------------------------------- */
/* Generation                                                                                    */

/**
 * The facilities a task of plan `p` covers, as they are now: the explicit list (route order kept,
 * decommissioned ones left out) or every facility in service of the plan's categories.
 */
const FACILITY_SET = sql<string[]>`CASE WHEN cardinality(p.facility_ids) > 0 THEN
    COALESCE((SELECT array_agg(u.x ORDER BY u.ord) FROM unnest(p.facility_ids) WITH ORDINALITY AS u(x, ord)
              JOIN facilities f ON f.id = u.x AND f.status <> 'decommissioned'), '{}')
  ELSE
    COALESCE((SELECT array_agg(f.id ORDER BY f.name, f.id) FROM facilities f
              WHERE f.community_id = p.community_id AND f.category = ANY(p.categories) AND f.status <> 'decommissioned'), '{}')
  END`;

/**
 * Active plans whose next occurrence enters the horizon, by community then id (the generator's
 * work list). No index on the watermark: a scan of the plans is cheap, and moving a watermark
 * stays a HOT update (the table has room on its pages for that).
 */
export async function plansToGenerate(db: DbOrTrx, horizonEnd: Date) {
  return db
    .selectFrom('inspection_plans')
    .select(['id', 'community_id'])
    .where('active', '=', true)
    .where('next_occurrence_at', '<', horizonEnd)
    .orderBy('community_id')
    .orderBy('id')
    .execute();
}

/**
 * Serialises work on the plans of these communities for the rest of the transaction: generation
 * passes and plan edits take it (in community order, so they never deadlock); a second pass that
 * waited then reads the watermarks the first one moved and skips those plans. Advisory locks:
 * the plans' rows are written once (the watermark), not locked and then written.
 */
export async function lockCommunities(db: DbOrTrx, communityIds: string[]) {
  if (communityIds.length === 0) return;
  const ids = [...new Set(communityIds.map((c) => c.toLowerCase()))].sort();
  await sql`
    SELECT pg_advisory_xact_lock(s.h) FROM (
      SELECT hashtextextended('inspections:' || c, 0) AS h FROM unnest(${ids}::text[]) AS c ORDER BY c OFFSET 0
    ) s`.execute(db);
}

/**
 * A batch of plans for generation, read after lockCommunities, with the facilities each covers
 * now. Plans no longer due (deactivated, generated meanwhile) drop out.
 */
export async function plansForGeneration(db: DbOrTrx, ids: string[], horizonEnd: Date) {
  if (ids.length === 0) return [];
  const { rows } = await sql<{
    id: string;
    community_id: string;
    kind: 'inspection' | 'patrol';
    category: string;
    version: number;
    rrule: string;
    dtstart_local: string;
    time_zone: string;
    assignee_source: 'duty_holder' | 'explicit';
    assignee_org_id: string | null;
    assignee_user_id: string | null;
    lead_time_minutes: number;
    due_window_minutes: number;
    escalate_after_minutes: number;
    next_occurrence_at: Date | null;
    facility_set: string[];
  }>`
    SELECT p.id, p.community_id, p.kind, p.category, p.version, p.rrule, p.dtstart_local, p.time_zone, p.assignee_source,
           p.assignee_org_id, p.assignee_user_id, p.lead_time_minutes, p.due_window_minutes, p.escalate_after_minutes,
           p.next_occurrence_at, ${FACILITY_SET} AS facility_set
    FROM inspection_plans p
    WHERE p.id = ANY(${ids}::uuid[]) AND p.active AND p.next_occurrence_at < ${horizonEnd}
    ORDER BY p.id`.execute(db);
  return rows;
}

/** The facilities a plan covers now (one plan, for creation and edits). */
export async function facilitySetOf(db: DbOrTrx, planId: string): Promise<string[]> {
  const { rows } = await sql<{ s: string[] }>`SELECT ${FACILITY_SET} AS s FROM inspection_plans p WHERE p.id = ${planId}`.execute(db);
  return rows[0]?.s ?? [];
}

export interface NewTask {
  planId: string;
  communityId: string;
  kind: 'inspection' | 'patrol';
  category: string;
  planVersion: number;
  occurrenceAt: Date;
  availableAt: Date;
  dueAt: Date;
  facilityIds: string[];
  assigneeOrgId: string | null;
  assigneeUserId: string | null;
}

const pgArray = (ids: string[]) => `{${ids.join(',')}}`;

/**
 * Inserts tasks in one statement; an occurrence that already has a live task is skipped
 * (ON CONFLICT DO NOTHING on the partial unique index), so generating twice creates nothing new.
 * Returns the tasks actually created.
 */
export async function insertTasks(db: DbOrTrx, tasks: NewTask[]) {
  if (tasks.length === 0) return [];
  const { rows } = await sql<{ id: string; plan_id: string; community_id: string; available_at: Date; due_at: Date; occurrence_at: Date }>`
    INSERT INTO inspection_tasks (plan_id, community_id, kind, category, plan_version, occurrence_at, available_at, due_at, facility_ids, assignee_org_id, assignee_user_id)
    SELECT u.plan_id, u.community_id, u.kind, u.category, u.plan_version, u.occurrence_at, u.available_at, u.due_at, u.facility_ids::uuid[], u.assignee_org_id, u.assignee_user_id
    FROM unnest(
      ${tasks.map((t) => t.planId)}::uuid[], ${tasks.map((t) => t.communityId)}::uuid[], ${tasks.map((t) => t.kind)}::text[],
      ${tasks.map((t) => t.category)}::text[], ${tasks.map((t) => t.planVersion)}::int[], ${tasks.map((t) => t.occurrenceAt.toISOString())}::timestamptz[],
      ${tasks.map((t) => t.availableAt.toISOString())}::timestamptz[], ${tasks.map((t) => t.dueAt.toISOString())}::timestamptz[],
      ${tasks.map((t) => pgArray(t.facilityIds))}::text[], ${tasks.map((t) => t.assigneeOrgId)}::uuid[], ${tasks.map((t) => t.assigneeUserId)}::uuid[]
    ) AS u(plan_id, community_id, kind, category, plan_version, occurrence_at, available_at, due_at, facility_ids, assignee_org_id, assignee_user_id)
    ON CONFLICT (plan_id, occurrence_at) WHERE status <> 'cancelled' DO NOTHING
    RETURNING id, plan_id, community_id, available_at, due_at, occurrence_at`.execute(db);
  return rows;
}

/** Moves plans' generation watermarks (null: the rule has ended). */
export async function setWatermarks(db: DbOrTrx, marks: Array<{ planId: string; next: Date | null }>) {
  if (marks.length === 0) return;
  await sql`
    UPDATE inspection_plans p SET next_occurrence_at = v.next
    FROM unnest(${marks.map((m) => m.planId)}::uuid[], ${marks.map((m) => m.next?.toISOString() ?? null)}::timestamptz[]) AS v(id, next)
    WHERE p.id = v.id`.execute(db);
}

/** A duty-holder plan follows its category's holder: the plan and its future scheduled tasks. */
export async function followDutyHolder(db: DbOrTrx, planId: string, orgId: string | null, now: Date) {
  await db.updateTable('inspection_plans').set({ assignee_org_id: orgId, updated_at: now }).where('id', '=', planId).execute();
  await db
    .updateTable('inspection_tasks')
    .set({ assignee_org_id: orgId, updated_at: now })
    .where('plan_id', '=', planId)
    .where('status', '=', 'scheduled')
    .where('occurrence_at', '>', now)
    .execute();
}

/** Cancels a plan's future tasks nobody has started (an edit or deactivation); returns their ids. */
export async function cancelFutureTasks(db: DbOrTrx, planId: string, now: Date) {
  const rows = await db
    .updateTable('inspection_tasks')
    .set({ status: 'cancelled', cancelled_at: now, updated_at: now })
    .where('plan_id', '=', planId)
    .where('status', '=', 'scheduled')
    .where('progress', '=', 0)
    .where('occurrence_at', '>', now)
    .returning('id')
    .execute();
  return rows.map((r) => r.id);
}

/* ------------------------------------------------------------------------------------------- */
/* Tasks                                                                                         */

const TASK_COLUMNS = [
  't.id',
  't.plan_id',
  't.community_id',
  't.kind',
  't.category',
  't.plan_version',
  't.occurrence_at',
  't.available_at',
  't.due_at',
  't.status',
  't.facility_ids',
  't.progress',
  't.assignee_org_id',
  't.assignee_user_id',
  't.completed_at',
  't.completed_by',
  't.on_time',
  't.missed_at',
  't.escalated_at',
  't.cancelled_at',
  't.created_at',
  't.updated_at',
  'p.name as plan_name',
  'p.escalate_after_minutes',
] as const;

export function findTask(db: DbOrTrx, id: string) {
  return db.selectFrom('inspection_tasks as t').innerJoin('inspection_plans as p', 'p.id', 't.plan_id').select(TASK_COLUMNS).where('t.id', '=', id).executeTakeFirst();
}

export function lockTask(db: DbOrTrx, id: string) {
  return db
    .selectFrom('inspection_tasks as t')
    .innerJoin('inspection_plans as p', 'p.id', 't.plan_id')
    .select(TASK_COLUMNS)
    .where('t.id', '=', id)
    .forUpdate('t')
    .executeTakeFirst();
}

export type TaskRow = NonNullable<Awaited<ReturnType<typeof findTask>>>;

export function updateTask(db: DbOrTrx, id: string, patch: Updateable<InspectionTasksTable>) {
  return db.updateTable('inspection_tasks').set({ ...patch, updated_at: new Date() }).where('id', '=', id).returning(['id', 'status']).executeTakeFirstOrThrow();
}

export interface TaskFilters {
  communityId?: string;
  planId?: string;
  status?: InspectionTaskStatus[];
  kind?: 'inspection' | 'patrol';
  dueFrom?: Date;
  dueTo?: Date;
  assigneeUserId?: string;
  /** "assignee=me": assigned to me, or to one of my organizations. */
  assignedTo?: { userId: string; orgIds: string[] };
}

export function listTasks(db: DbOrTrx, visible: Expression<SqlBool>, f: TaskFilters, cursor: { due: string; id: string } | undefined, limit: number) {
  let q = db.selectFrom('inspection_tasks as t').innerJoin('inspection_plans as p', 'p.id', 't.plan_id').select(TASK_COLUMNS).where(visible);
  if (f.communityId) q = q.where('t.community_id', '=', f.communityId);
  if (f.planId) q = q.where('t.plan_id', '=', f.planId);
  if (f.status?.length) q = q.where('t.status', 'in', f.status);
  if (f.kind) q = q.where('t.kind', '=', f.kind);
  if (f.dueFrom) q = q.where('t.due_at', '>=', f.dueFrom);
  if (f.dueTo) q = q.where('t.due_at', '<', f.dueTo);
  if (f.assignedTo) {
    const a = f.assignedTo;
    q = q.where((eb) => eb.or([eb('t.assignee_user_id', '=', a.userId), ...(a.orgIds.length ? [eb('t.assignee_org_id', 'in', a.orgIds)] : [])]));
  }
  if (cursor) q = q.where(sql<SqlBool>`(t.due_at, t.id) > (${cursor.due}::timestamptz, ${cursor.id}::uuid)`);
  return q.orderBy('t.due_at').orderBy('t.id').limit(limit + 1).execute();
}

export function resultsOfTask(db: DbOrTrx, taskId: string) {
  return db.selectFrom('inspection_results').selectAll().where('task_id', '=', taskId).orderBy('recorded_at').orderBy('id').execute();
}

export function insertResult(
  db: DbOrTrx,
  r: { task_id: string; facility_id: string; community_id: string; outcome: 'ok' | 'fault'; notes: string; checklist: string; photo_ids: string[]; ticket_id: string | null; recorded_by: string },
) {
  return db.insertInto('inspection_results').values(r).returningAll().executeTakeFirstOrThrow();
}

export function checkinsOfTask(db: DbOrTrx, taskId: string) {
  return db.selectFrom('patrol_checkins').selectAll().where('task_id', '=', taskId).orderBy('checked_in_at').orderBy('id').execute();
}

export function insertCheckin(db: DbOrTrx, c: { community_id: string; facility_id: string; user_id: string; task_id: string | null; position: number | null }) {
  return db.insertInto('patrol_checkins').values(c).returningAll().executeTakeFirstOrThrow();
}

/**
 * Open patrol tasks of the community whose route includes the facility, assigned to the user or
 * one of their organizations, open for work now; locked, earliest due first.
 */
export function lockOpenPatrolTasks(db: DbOrTrx, communityId: string, facilityId: string, userId: string, orgIds: string[], now: Date) {
  return db
    .selectFrom('inspection_tasks as t')
    .innerJoin('inspection_plans as p', 'p.id', 't.plan_id')
    .select(TASK_COLUMNS)
    .where('t.community_id', '=', communityId)
    .where('t.kind', '=', 'patrol')
    .where('t.status', 'in', ['scheduled', 'in_progress', 'missed'])
    .where('t.available_at', '<=', now)
    .where(sql<SqlBool>`${facilityId}::uuid = ANY(t.facility_ids)`)
    .where((eb) => eb.or([eb('t.assignee_user_id', '=', userId), ...(orgIds.length ? [eb('t.assignee_org_id', 'in', orgIds)] : [])]))
    .orderBy('t.due_at')
    .orderBy('t.id')
    .forUpdate('t')
    .execute();
}

/* ------------------------------------------------------------------------------------------- */
/* KPIs                                                                                          */

/** Tasks due in [from, to) that are due already or done, per community and category (cancelled ones left out). */
export async function taskStats(db: DbOrTrx, communityIds: string[], from: Date, to: Date) {
  if (communityIds.length === 0) return [];
  const rows = await db
    .selectFrom('inspection_tasks')
    .select((eb) => [
      'community_id',
      'category',
      eb.fn.countAll<number>().as('due'),
      sql<number>`count(*) FILTER (WHERE status = 'done' AND on_time)`.as('on_time'),
      sql<number>`count(*) FILTER (WHERE status = 'done' AND NOT on_time)`.as('late'),
      sql<number>`count(*) FILTER (WHERE status <> 'done')`.as('not_done'),
    ])
    .where('community_id', 'in', communityIds)
    .where('status', '<>', 'cancelled')
    .where('due_at', '>=', from)
    .where('due_at', '<', to)
    // Due already, or done early: a task counts once it is due or done.
    .where(sql<SqlBool>`(due_at <= now() OR status = 'done')`)
    .groupBy(['community_id', 'category'])
    .execute();
  return rows.map((r) => ({ communityId: r.community_id, category: r.category, due: Number(r.due), onTime: Number(r.on_time), late: Number(r.late), notDone: Number(r.not_done) }));
}
