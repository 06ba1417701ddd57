import { sql } from 'kysely';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Actor } from '../src/plugins/access.js';
import { loadActor } from '../src/plugins/auth.js';
import { localDateOf } from '../src/modules/calendars/business-calendar.js';
import { generateTasks } from '../src/modules/inspections/generator.js';
import { onInspectionTimer } from '../src/modules/inspections/inspections.timers.js';
import { createPlan, type PlanInput } from '../src/modules/inspections/inspections.service.js';
import { occurrencesBetween } from '../src/modules/inspections/recurrence.js';
import { firstTaskTimer } from '../src/modules/inspections/rules.js';
import { handleTimerFire, type TimerJobContext } from '../src/modules/timers/timers.jobs.js';
import { createTimerHandlers } from '../workers/registry.js';
import { createTestApp, type TestApp } from './helpers/app.js';
import { addMembership, as, assignDuty, makeCommunity, makeFacility, makeOrg, makeTwoWorlds, makeUser, type CommunityWorld } from './helpers/factories.js';

/**
 * Inspections and electronic patrol (issue 6) on real PostgreSQL and Redis: plans through the
 * API, idempotent generation (also two runs at once), edits regenerating only future undone
 * tasks, results opening tickets that turn facilities faulty, the reminder ladder fired with a
 * controllable clock (timers due in the past, fired through the worker's handler), patrol order,
 * access, KPIs.
 */

const API = '/api/v1';
const DAY = 86_400_000;
const TZ = 'Asia/Shanghai';

let t: TestApp;
let w: Awaited<ReturnType<typeof makeTwoWorlds>>;
let A: CommunityWorld;
let B: CommunityWorld;
let elevators: Array<{ id: string; name: string }>;
let lights: Array<{ id: string; name: string; qr_token: string }>;

beforeAll(async () => {
  t = await createTestApp();
  w = await makeTwoWorlds(t.db);
  A = w.a;
  B = w.b;
  elevators = [await makeFacility(t.db, A.community.id, 'elevator'), await makeFacility(t.db, A.community.id, 'elevator')];
  lights = [await makeFacility(t.db, A.community.id, 'lighting'), await makeFacility(t.db, A.community.id, 'lighting'), await makeFacility(t.db, A.community.id, 'lighting')];
  await makeFacility(t.db, B.community.id, 'elevator');
});
afterAll(async () => t?.close());

/** Local date (Shanghai) `days` from now, at a wall time. */
const localDay = (days: number, time = '09:00') => `${localDateOf(TZ, new Date(Date.now() + days * DAY))}T${time}`;

const ELEVATOR_CHECKLIST = [
  { id: 'alarm', text: '轿厢紧急报警正常', textEn: 'Car alarm works', severity: 'critical' as const },
  { id: 'doors', text: '门防夹保护有效', severity: 'high' as const },
  { id: 'ride', text: '运行无异响', severity: 'medium' as const },
];

function planBody(over: Record<string, unknown> = {}) {
  return {
    communityId: A.community.id,
    name: `电梯巡检-${Math.random().toString(16).slice(2, 6)}`,
    categories: ['elevator'],
    rrule: 'FREQ=WEEKLY',
    dtstart: localDay(1),
    checklist: ELEVATOR_CHECKLIST,
    leadTimeMinutes: 2 * 1440,
    dueWindowMinutes: 1440,
    ...over,
  };
}

const tasksOf = (planId: string) => t.db.selectFrom('inspection_tasks').selectAll().where('plan_id', '=', planId).orderBy('occurrence_at').orderBy('created_at').execute();
const timersOf = (taskId: string) => t.db.selectFrom('timers').selectAll().where('subject_id', '=', taskId).orderBy('due_at').execute();
const notificationsLike = (prefix: string) =>
  t.db.selectFrom('notifications').select(['recipient_user_id', 'channel', 'subject', 'template']).where('dedupe_key', 'like', `${prefix}|%`).where('channel', '=', 'in_app').execute();
const actor = async (userId: string) => (await loadActor(t.db, userId)) as Actor;

function timerCtx(): TimerJobContext {
  return { db: t.db, logger: pino({ level: 'silent' }), timerHandlers: createTimerHandlers(), relayQueues: { main: t.queue, email: t.queue, redis: t.redis } };
}
const fire = (timerId: string) => handleTimerFire({ timerId }, timerCtx());

describe('plans', () => {
  it('a manager creates a plan; its tasks for the horizon are made with their timers, assigned to the duty holder', async () => {
    const res = await as(t.app, A.users.propertyManager.id)({ method: 'POST', url: `${API}/inspection-plans`, payload: planBody() });
    expect(res.statusCode, res.body).toBe(201);
    const { plan, tasksCreated } = res.json();
    expect(plan).toMatchObject({ kind: 'inspection', category: 'elevator', version: 1, active: true, timeZone: TZ, assignee: { source: 'duty_holder', organizationId: A.orgs.company.id } });
    // Weekly from tomorrow over 30 days: 5 occurrences (days 1, 8, 15, 22, 29).
    expect(tasksCreated).toBe(5);
    const tasks = await tasksOf(plan.id);
    expect(tasks).toHaveLength(5);
    for (const task of tasks) {
      expect(task).toMatchObject({ status: 'scheduled', plan_version: 1, category: 'elevator', assignee_org_id: A.orgs.company.id });
      expect([...task.facility_ids].sort()).toEqual(elevators.map((e) => e.id).sort());
      expect(task.due_at.getTime() - task.occurrence_at.getTime()).toBe(DAY);
      expect(task.occurrence_at.getTime() - task.available_at.getTime()).toBe(2 * DAY);
      // 09:00 in Shanghai.
      expect(task.occurrence_at.getUTCHours()).toBe(1);
      // The first step of the reminder ladder; each step schedules the next when it fires.
      const timers = await timersOf(task.id);
      expect(timers.map((x) => [x.kind, x.job_id, x.due_at.getTime()])).toEqual([['inspection.due-tomorrow', `inspection-due-tomorrow-${task.id}`, task.due_at.getTime() - DAY]]);
    }
    const detail = await as(t.app, A.users.technician.id)({ method: 'GET', url: `${API}/inspection-plans/${plan.id}` });
    expect(detail.statusCode).toBe(200);
    expect(detail.json().nextOccurrenceAt).not.toBeNull();
  });

  it('refuses bad rules and selections with a clear 400', async () => {
    const pm = as(t.app, A.users.propertyManager.id);
    const post = (over: Record<string, unknown>) => pm({ method: 'POST', url: `${API}/inspection-plans`, payload: planBody(over) });
    const minutely = await post({ rrule: 'FREQ=MINUTELY' });
    expect(minutely.statusCode).toBe(400);
    expect(minutely.json().error).toMatchObject({ code: 'VALIDATION_ERROR', message: expect.stringMatching(/at most hourly/), details: [{ field: 'rrule' }] });
    expect((await post({ rrule: 'FREQ=YEARLY;BYMONTH=2;BYMONTHDAY=31' })).json().error.message).toMatch(/never occurs/);
    expect((await post({ dtstart: '2027-02-30T09:00' })).json().error.details).toEqual([expect.objectContaining({ field: 'dtstart' })]);
    expect((await post({ facilityIds: [elevators[0]?.id] })).statusCode).toBe(400); // both categories and a list
    expect((await post({ checklist: [ELEVATOR_CHECKLIST[0], ELEVATOR_CHECKLIST[0]] })).json().error.message).toMatch(/used twice/);
    expect((await post({ kind: 'patrol', categories: undefined })).json().error.message).toMatch(/route/);
    expect((await post({ categories: undefined, facilityIds: [B.facility.id] })).statusCode).toBe(404);
    expect((await post({ assigneeOrgId: B.orgs.company.id })).json().error.details).toEqual([expect.objectContaining({ field: 'assigneeOrgId' })]);
    expect((await post({ assigneeUserId: B.users.technician.id })).json().error.details).toEqual([expect.objectContaining({ field: 'assigneeUserId' })]);
  });

  it('suggests the default plans and adopts them once, in the actor’s language', async () => {
    const world = await makeTwoWorlds(t.db);
    const X = world.a;
    await makeFacility(t.db, X.community.id, 'elevator');
    const pm = as(t.app, X.users.propertyManager.id);
    const s = await pm({ method: 'GET', url: `${API}/communities/${X.community.id}/inspection-plans/suggestions` });
    expect(s.statusCode, s.body).toBe(200);
    const items = s.json().items as Array<{ template: string; name: string; rrule: string; facilities: number; checklist: Array<{ text: string }>; translations: Record<string, { name: string }> }>;
    expect(items.map((i) => i.template)).toEqual(['cameras_access', 'fire_equipment', 'elevators', 'hydrant_pressure', 'perimeter_alarms']);
    expect(items.find((i) => i.template === 'elevators')).toMatchObject({ rrule: 'FREQ=DAILY;INTERVAL=15', facilities: 1 });
    expect(items.find((i) => i.template === 'cameras_access')?.facilities).toBe(1);
    expect(items[0]?.name).toMatch(/[\u4e00-\u9fff]/);
    expect(items[0]?.translations.en?.name).toMatch(/cameras/);
    const adopted = await pm({ method: 'POST', url: `${API}/communities/${X.community.id}/inspection-plans/adopt-defaults`, payload: {} });
    expect(adopted.statusCode, adopted.body).toBe(200);
    expect(adopted.json().created).toHaveLength(5);
    const perimeter = adopted.json().created.find((p: { template: string }) => p.template === 'perimeter_alarms');
    expect(perimeter).toMatchObject({ rrule: 'FREQ=MONTHLY;INTERVAL=3;BYMONTHDAY=20', categories: ['perimeter_alarm'] });
    // No perimeter alarms registered: no tasks yet, and the plan stays due for the next pass…
    expect(await tasksOf(perimeter.id)).toHaveLength(0);
    // …which makes them once there is one (quarterly: the next one is within 120 days).
    const alarm = await makeFacility(t.db, X.community.id, 'perimeter_alarm');
    await generateTasks(t.db, { horizonDays: 120 });
    const perimeterTasks = await tasksOf(perimeter.id);
    expect(perimeterTasks.length).toBeGreaterThanOrEqual(1);
    expect(perimeterTasks[0]?.facility_ids).toEqual([alarm.id]);
    const again = await pm({ method: 'POST', url: `${API}/communities/${X.community.id}/inspection-plans/adopt-defaults` });
    expect(again.json().created).toEqual([]);
    const en = await as(t.app, X.users.committeeChair.id)({ method: 'GET', url: `${API}/communities/${X.community.id}/inspection-plans/suggestions` });
    expect(en.json().items.every((i: { adopted: boolean }) => i.adopted)).toBe(true);
    const english = await makeTwoWorlds(t.db);
    await t.db.updateTable('users').set({ locale: 'en' }).where('id', '=', english.a.users.propertyManager.id).execute();
    const enAdopt = await as(t.app, english.a.users.propertyManager.id)({ method: 'POST', url: `${API}/communities/${english.a.community.id}/inspection-plans/adopt-defaults`, payload: { templates: ['fire_equipment'] } });
    expect(enAdopt.json().created).toMatchObject([{ name: 'Monthly check of fire equipment', template: 'fire_equipment' }]);
    expect((await as(t.app, X.users.propertyManager.id)({ method: 'POST', url: `${API}/communities/${X.community.id}/inspection-plans/adopt-defaults`, payload: { templates: ['nope'] } })).statusCode).toBe(400);
  });
});

describe('generation', () => {
  it('is idempotent, even with two runs at once; a third run creates nothing', async () => {
    const community = await makeCommunity(t.db, { district: 'GenDistrict' });
    const company = await makeOrg(t.db, 'property_company');
    await assignDuty(t.db, community.id, company.id);
    const manager = await makeUser(t.db);
    await addMembership(t.db, manager.id, company.id, 'manager');
    for (const c of ['elevator', 'camera', 'fire_equipment', 'hydrant_pressure'] as const) await makeFacility(t.db, community.id, c);
    const me = await actor(manager.id);
    const now = new Date();
    const rules = ['FREQ=DAILY', 'FREQ=WEEKLY;BYDAY=MO,TH', 'FREQ=MONTHLY;BYMONTHDAY=-1', 'FREQ=DAILY;INTERVAL=15', 'FREQ=HOURLY;INTERVAL=6', 'FREQ=MONTHLY;BYMONTHDAY=31'];
    const categories = ['elevator', 'camera', 'fire_equipment', 'hydrant_pressure'] as const;
    const plans = [];
    for (const [i, rrule] of rules.entries()) {
      const input: PlanInput = { name: `计划${i}`, kind: 'inspection', categories: [categories[i % 4] as (typeof categories)[number]], rrule, dtstart: localDay(-3, '08:30'), checklist: ELEVATOR_CHECKLIST };
      // A zero horizon at creation: the generator makes every task below.
      plans.push((await createPlan(t.db, me, community.id, input, { horizonDays: 0, now })).plan);
    }
    const count = async () => Number((await t.db.selectFrom('inspection_tasks').select((eb) => eb.fn.countAll().as('n')).where('community_id', '=', community.id).executeTakeFirstOrThrow()).n);
    expect(await count()).toBe(0);

    const horizonDays = 45;
    const [r1, r2] = await Promise.all([generateTasks(t.db, { horizonDays, now, batchPlans: 2 }), generateTasks(t.db, { horizonDays, now, batchPlans: 3, concurrency: 3 })]);
    const expected = plans.reduce((n, p) => n + occurrencesBetween({ rrule: p.rrule, dtstartLocal: p.dtstart_local, timeZone: p.time_zone }, now, new Date(now.getTime() + horizonDays * DAY)).length, 0);
    expect(expected).toBeGreaterThan(200);
    expect(await count()).toBe(expected);
    const made = await t.db.selectFrom('inspection_tasks').select(['id', 'available_at', 'due_at']).where('community_id', '=', community.id).execute();
    // Only this community's plans were due in this database with a 0-day creation horizon… and others'.
    expect(r1.tasks + r2.tasks).toBeGreaterThanOrEqual(expected);
    const unique = await sql<{ n: number }>`SELECT count(DISTINCT (plan_id, occurrence_at))::int AS n FROM inspection_tasks WHERE community_id = ${community.id}`.execute(t.db);
    expect(unique.rows[0]?.n).toBe(expected);
    const timers = await sql<{ n: number }>`SELECT count(*)::int AS n FROM timers WHERE subject_id = ANY(${made.map((m) => m.id)}::text[])`.execute(t.db);
    expect(timers.rows[0]?.n).toBe(made.length);
    const firstKinds = await sql<{ kind: string; due_at: Date; task_due: Date; available_at: Date }>`
      SELECT x.kind, x.due_at, t.due_at AS task_due, t.available_at FROM timers x JOIN inspection_tasks t ON t.id::text = x.subject_id WHERE t.community_id = ${community.id}`.execute(t.db);
    for (const r of firstKinds.rows) {
      const first = firstTaskTimer({ id: 'x', availableAt: r.available_at, dueAt: r.task_due }, 2880, now);
      expect([r.kind, r.due_at.getTime()]).toEqual([first.kind, first.dueAt.getTime()]);
    }

    const r3 = await generateTasks(t.db, { horizonDays, now });
    expect(await count()).toBe(expected);
    const mine = await t.db.selectFrom('inspection_plans').select(['id', 'next_occurrence_at']).where('community_id', '=', community.id).execute();
    for (const p of mine) expect(p.next_occurrence_at?.getTime()).toBeGreaterThanOrEqual(now.getTime() + horizonDays * DAY);
    expect(r3.tasks).toBe(0);
    // One audit event per community per run that made tasks, and the chain holds.
    const events = await t.db.selectFrom('audit_events').select('action').where('community_id', '=', community.id).where('action', '=', 'inspection_tasks.generated').execute();
    expect(events.length).toBeGreaterThanOrEqual(1);
    expect(events.length).toBeLessThanOrEqual(2);
    const verify = await as(t.app, manager.id)({ method: 'GET', url: `${API}/audit/communities/${community.id}/verify` });
    expect(verify.json().ok).toBe(true);
  });

  it('a plan assigned to "the duty holder" follows the duty when it changes hands', async () => {
    const community = await makeCommunity(t.db);
    const company = await makeOrg(t.db, 'property_company');
    await assignDuty(t.db, community.id, company.id);
    const manager = await makeUser(t.db);
    await addMembership(t.db, manager.id, company.id, 'manager');
    await makeFacility(t.db, community.id, 'elevator');
    const now = new Date();
    const { plan } = await createPlan(t.db, await actor(manager.id), community.id, { name: '电梯', kind: 'inspection', categories: ['elevator'], rrule: 'FREQ=DAILY', dtstart: localDay(1), checklist: ELEVATOR_CHECKLIST }, { horizonDays: 2, now });
    expect(plan.assignee_org_id).toBe(company.id);
    const contractor = await makeOrg(t.db, 'contractor');
    await assignDuty(t.db, community.id, contractor.id, 'delegated_contractor', 'elevator');
    // The generator's clock just after the delegation began.
    await generateTasks(t.db, { horizonDays: 10, now: new Date(Date.now() + 1_000) });
    const after = await t.db.selectFrom('inspection_plans').select('assignee_org_id').where('id', '=', plan.id).executeTakeFirstOrThrow();
    expect(after.assignee_org_id).toBe(contractor.id);
    const tasks = await tasksOf(plan.id);
    expect(tasks.length).toBeGreaterThan(5);
    expect(tasks.every((x) => x.assignee_org_id === contractor.id)).toBe(true);
  });
});

describe('editing and deactivating a plan', () => {
  it('regenerates only future tasks nobody started; past and started ones keep their version', async () => {
    const me = await actor(A.users.propertyManager.id);
    const past = new Date(Date.now() - 10 * DAY);
    // Made ten days ago (a controllable clock): every 3 days, opening four days ahead.
    const { plan } = await createPlan(
      t.db,
      me,
      A.community.id,
      { name: '电梯三日检', kind: 'inspection', categories: ['elevator'], rrule: 'FREQ=DAILY;INTERVAL=3', dtstart: localDateOf(TZ, past) + 'T09:00', checklist: ELEVATOR_CHECKLIST, leadTimeMinutes: 4 * 1440 },
      { horizonDays: 30, now: past },
    );
    const now = new Date();
    const before = await tasksOf(plan.id);
    const pastTasks = before.filter((x) => x.occurrence_at <= now);
    const futureTasks = before.filter((x) => x.occurrence_at > now);
    expect(pastTasks.length).toBeGreaterThanOrEqual(3);
    expect(futureTasks.length).toBeGreaterThanOrEqual(5);
    // The first future task is open for work (lead time): start it.
    const started = futureTasks[0] as (typeof futureTasks)[number];
    const tech = as(t.app, A.users.technician.id);
    const partial = await tech({ method: 'POST', url: `${API}/inspection-tasks/${started.id}/results`, payload: { results: [{ facilityId: elevators[0]?.id, outcome: 'ok', checklist: [{ itemId: 'alarm', ok: true }] }] } });
    expect(partial.statusCode, partial.body).toBe(201);
    expect(partial.json().task).toMatchObject({ status: 'in_progress', progress: { done: 1, total: 2 } });

    const newChecklist = [...ELEVATOR_CHECKLIST, { id: 'records', text: '维保记录已签字', severity: 'high' as const }];
    const patched = await as(t.app, A.users.propertyManager.id)({ method: 'PATCH', url: `${API}/inspection-plans/${plan.id}`, payload: { checklist: newChecklist, dueWindowMinutes: 2 * 1440 } });
    expect(patched.statusCode, patched.body).toBe(200);
    expect(patched.json().plan).toMatchObject({ version: 2, dueWindowMinutes: 2880 });
    expect(patched.json().tasksCancelled).toBe(futureTasks.length - 1);

    const afterEdit = await tasksOf(plan.id);
    const horizonEnd = Date.now() + 30 * DAY;
    for (const x of afterEdit) {
      if (x.id === started.id) expect(x).toMatchObject({ status: 'in_progress', plan_version: 1 });
      else if (pastTasks.some((p) => p.id === x.id)) expect(x).toMatchObject({ status: 'scheduled', plan_version: 1 });
      else if (futureTasks.some((f) => f.id === x.id)) expect(x).toMatchObject({ status: 'cancelled', plan_version: 1 });
      else {
        expect(x).toMatchObject({ status: 'scheduled', plan_version: 2 });
        expect(x.occurrence_at.getTime()).toBeGreaterThan(now.getTime());
        expect(x.due_at.getTime() - x.occurrence_at.getTime()).toBe(2 * DAY);
      }
    }
    const live = afterEdit.filter((x) => x.status !== 'cancelled' && x.occurrence_at > now);
    const expectedOccurrences = occurrencesBetween({ rrule: plan.rrule, dtstartLocal: plan.dtstart_local, timeZone: TZ }, now, new Date(horizonEnd)).map((d) => d.getTime());
    expect(live.map((x) => x.occurrence_at.getTime()).sort()).toEqual(expectedOccurrences.sort());
    // The cancelled tasks' timers are cancelled; the new tasks have theirs.
    for (const f of futureTasks.slice(1)) expect((await timersOf(f.id)).every((x) => x.state === 'cancelled')).toBe(true);
    const fresh = afterEdit.find((x) => x.plan_version === 2) as (typeof afterEdit)[number];
    expect((await timersOf(fresh.id)).map((x) => x.state)).toEqual(['pending']);
    // The started task still asks for the checklist of its version.
    const detail = await tech({ method: 'GET', url: `${API}/inspection-tasks/${started.id}` });
    expect(detail.json().checklist.map((i: { id: string }) => i.id)).toEqual(['alarm', 'doors', 'ride']);
    const detail2 = await tech({ method: 'GET', url: `${API}/inspection-tasks/${fresh.id}` });
    expect(detail2.json().checklist.map((i: { id: string }) => i.id)).toEqual(['alarm', 'doors', 'ride', 'records']);

    // Deactivation cancels future unstarted tasks; the generator leaves the plan alone.
    const off = await as(t.app, A.users.propertyManager.id)({ method: 'POST', url: `${API}/inspection-plans/${plan.id}/deactivate` });
    expect(off.statusCode, off.body).toBe(200);
    expect(off.json().plan.active).toBe(false);
    const afterOff = await tasksOf(plan.id);
    expect(afterOff.filter((x) => x.occurrence_at > now && x.status === 'scheduled')).toEqual([]);
    expect(afterOff.find((x) => x.id === started.id)?.status).toBe('in_progress');
    await generateTasks(t.db, { horizonDays: 30 });
    expect((await tasksOf(plan.id)).length).toBe(afterOff.length);
    expect((await as(t.app, A.users.propertyManager.id)({ method: 'POST', url: `${API}/inspection-plans/${plan.id}/deactivate` })).statusCode).toBe(409);
  });
});

describe('results', () => {
  let planId: string;
  let task: { id: string };
  beforeAll(async () => {
    const res = await as(t.app, A.users.propertyManager.id)({ method: 'POST', url: `${API}/inspection-plans`, payload: planBody({ name: '电梯故障检' }) });
    planId = res.json().plan.id;
    task = (await tasksOf(planId))[0] as { id: string };
  });

  it('a fault opens a ticket (priority from the worst failed item) and the facility turns faulty; all done → task done on time', async () => {
    const tech = as(t.app, A.users.technician.id);
    const [e1, e2] = elevators as [{ id: string; name: string }, { id: string; name: string }];
    const res = await tech({
      method: 'POST',
      url: `${API}/inspection-tasks/${task.id}/results`,
      payload: {
        results: [
          { facilityId: e1.id, outcome: 'fault', notes: '报警按钮无响应', checklist: [{ itemId: 'alarm', ok: false, note: '无声' }, { itemId: 'ride', ok: false }, { itemId: 'doors', ok: true }] },
        ],
      },
    });
    expect(res.statusCode, res.body).toBe(201);
    const ticketId = res.json().results[0].ticketId as string;
    expect(ticketId).toBeTruthy();
    const ticket = await t.db.selectFrom('tickets').selectAll().where('id', '=', ticketId).executeTakeFirstOrThrow();
    expect(ticket).toMatchObject({ kind: 'inspection_finding', channel: 'inspection', category: 'elevator', priority: 'P1', facility_id: e1.id, status: 'new', duty_holder_org_id: A.orgs.company.id, is_public: false });
    expect(ticket.description).toContain('轿厢紧急报警正常');
    expect(ticket.description).toContain('报警按钮无响应');
    const facility = await t.db.selectFrom('facilities').select('status').where('id', '=', e1.id).executeTakeFirstOrThrow();
    expect(facility.status).toBe('faulty');
    expect(res.json().task).toMatchObject({ status: 'in_progress', progress: { done: 1, total: 2 } });

    // The same facility again: results are never rewritten.
    const again = await tech({ method: 'POST', url: `${API}/inspection-tasks/${task.id}/results`, payload: { results: [{ facilityId: e1.id, outcome: 'ok', checklist: [] }] } });
    expect(again.statusCode).toBe(409);
    // Inconsistent or foreign answers.
    const inconsistent = await tech({ method: 'POST', url: `${API}/inspection-tasks/${task.id}/results`, payload: { results: [{ facilityId: e2.id, outcome: 'ok', checklist: [{ itemId: 'doors', ok: false }] }] } });
    expect(inconsistent.statusCode).toBe(400);
    expect(inconsistent.json().error.message).toMatch(/makes the outcome a fault/);
    const unknownItem = await tech({ method: 'POST', url: `${API}/inspection-tasks/${task.id}/results`, payload: { results: [{ facilityId: e2.id, outcome: 'ok', checklist: [{ itemId: 'nope', ok: true }] }] } });
    expect(unknownItem.statusCode).toBe(400);
    const foreign = await tech({ method: 'POST', url: `${API}/inspection-tasks/${task.id}/results`, payload: { results: [{ facilityId: A.facility.id, outcome: 'ok', checklist: [] }] } });
    expect(foreign.statusCode).toBe(422);

    const done = await tech({ method: 'POST', url: `${API}/inspection-tasks/${task.id}/results`, payload: { results: [{ facilityId: e2.id, outcome: 'ok', checklist: ELEVATOR_CHECKLIST.map((i) => ({ itemId: i.id, ok: true })) }] } });
    expect(done.statusCode, done.body).toBe(201);
    expect(done.json().task).toMatchObject({ status: 'done', onTime: true, completedBy: A.users.technician.id, progress: { done: 2, total: 2 } });
    expect((await timersOf(task.id)).every((x) => x.state === 'cancelled')).toBe(true);
    const closed = await tech({ method: 'POST', url: `${API}/inspection-tasks/${task.id}/results`, payload: { results: [{ facilityId: e2.id, outcome: 'ok', checklist: [] }] } });
    expect(closed.statusCode).toBe(409);

    const detail = await tech({ method: 'GET', url: `${API}/inspection-tasks/${task.id}` });
    expect(detail.statusCode).toBe(200);
    expect(detail.json().facilities.map((f: { result: { outcome: string; ticketId: string | null } }) => f.result.outcome).sort()).toEqual(['fault', 'ok']);
    // The ticket, resolved, brings the facility back.
    const pm = as(t.app, A.users.propertyManager.id);
    for (const to of ['acknowledged', 'in_progress', 'resolved']) expect((await pm({ method: 'POST', url: `${API}/tickets/${ticketId}/transitions`, payload: { to } })).statusCode).toBe(200);
    expect((await t.db.selectFrom('facilities').select('status').where('id', '=', e1.id).executeTakeFirstOrThrow()).status).toBe('operational');
    // Results are evidence: the table refuses rewrites.
    await expect(sql`UPDATE inspection_results SET outcome = 'ok' WHERE task_id = ${task.id}`.execute(t.db)).rejects.toThrow(/append-only/);
    const verify = await pm({ method: 'GET', url: `${API}/audit/communities/${A.community.id}/verify` });
    expect(verify.json().ok).toBe(true);
    const actions = await t.db.selectFrom('audit_events').select('action').where('entity_id', '=', task.id).orderBy('seq').execute();
    expect(actions.map((a) => a.action)).toEqual(['inspection_task.results_recorded', 'inspection_task.results_recorded', 'inspection_task.done']);
  });

  it('a task opens for work only from its lead time; a patrol takes no results', async () => {
    const tasks = await tasksOf(planId);
    const later = tasks[2] as { id: string };
    const res = await as(t.app, A.users.technician.id)({ method: 'POST', url: `${API}/inspection-tasks/${later.id}/results`, payload: { results: [{ facilityId: elevators[0]?.id, outcome: 'ok', checklist: [] }] } });
    expect(res.statusCode).toBe(422);
    expect(res.json().error.message).toMatch(/opens for work/);
  });
});

describe('reminders and escalation (a controllable clock)', () => {
  it('due tomorrow → the assignee; overdue → missed, the assignee and the duty holder’s managers; then the owners’ committee', async () => {
    const me = await actor(A.users.propertyManager.id);
    const past = new Date(Date.now() - 5 * DAY);
    // Cameras: the contractor holds that duty, so it is the assignee. Made five days ago, due three days ago.
    const { plan } = await createPlan(
      t.db,
      me,
      A.community.id,
      { name: '摄像机周检', kind: 'inspection', categories: ['camera'], rrule: 'FREQ=WEEKLY', dtstart: `${localDateOf(TZ, new Date(past.getTime() + DAY))}T09:00`, checklist: ELEVATOR_CHECKLIST, dueWindowMinutes: 1440 },
      { horizonDays: 3, now: past },
    );
    expect(plan.assignee_org_id).toBe(A.orgs.contractor.id);
    const [task] = await tasksOf(plan.id);
    if (!task) throw new Error('no task');
    expect(task.due_at.getTime()).toBeLessThan(Date.now() - 2 * DAY);
    const timer = async (kind: string) => {
      const found = (await timersOf(task.id)).find((x) => x.kind === kind);
      if (!found) throw new Error(`no ${kind} timer`);
      return found;
    };
    expect((await timersOf(task.id)).map((x) => x.kind)).toEqual(['inspection.due-tomorrow']);
    const dueTomorrowTimer = await timer('inspection.due-tomorrow');
    expect(dueTomorrowTimer.due_at.getTime()).toBe(task.due_at.getTime() - DAY);

    await fire(dueTomorrowTimer.id);
    const dueTomorrow = await notificationsLike(`inspection-due-tomorrow-${task.id}`);
    expect(dueTomorrow.map((n) => n.recipient_user_id)).toEqual([A.users.contractor.id]);
    expect(dueTomorrow[0]?.subject).toContain('明天到期');
    // Firing scheduled the next step, at the due time (in the past here: it fires at once).
    const overdueTimer = await timer('inspection.overdue');
    expect(overdueTimer.due_at.getTime()).toBe(task.due_at.getTime());
    expect((await t.db.selectFrom('inspection_tasks').select('status').where('id', '=', task.id).executeTakeFirstOrThrow()).status).toBe('scheduled');

    await fire(overdueTimer.id);
    const missed = await t.db.selectFrom('inspection_tasks').select(['status', 'missed_at']).where('id', '=', task.id).executeTakeFirstOrThrow();
    expect(missed.status).toBe('missed');
    const overdue = await notificationsLike(`inspection-overdue-${task.id}`);
    expect(overdue.map((n) => n.recipient_user_id).sort()).toEqual([A.users.contractor.id, A.users.propertyManager.id].sort());
    expect(overdue[0]?.template).toBe('inspection.reminder');

    const escalateTimer = await timer('inspection.escalate');
    expect(escalateTimer.due_at.getTime()).toBe(task.due_at.getTime() + 2 * DAY);
    await fire(escalateTimer.id);
    const escalated = await notificationsLike(`inspection-escalate-${task.id}`);
    expect(escalated.map((n) => n.recipient_user_id).sort()).toEqual([A.users.committeeChair.id, A.users.committeeMember.id].sort());
    expect((await t.db.selectFrom('inspection_tasks').select('escalated_at').where('id', '=', task.id).executeTakeFirstOrThrow()).escalated_at).not.toBeNull();
    // Fired once: firing again changes nothing.
    await fire(escalateTimer.id);
    expect(await notificationsLike(`inspection-escalate-${task.id}`)).toHaveLength(2);
    expect((await timersOf(task.id)).map((x) => x.state)).toEqual(['fired', 'fired', 'fired']);

    // Late results still count, as late.
    const late = await as(t.app, A.users.contractor.id)({ method: 'POST', url: `${API}/inspection-tasks/${task.id}/results`, payload: { results: [{ facilityId: A.facility.id, outcome: 'ok', checklist: [] }] } });
    expect(late.statusCode, late.body).toBe(201);
    expect(late.json().task).toMatchObject({ status: 'done', onTime: false });

    // A handler re-reads the task: a done task gets no reminder.
    await t.db.transaction().execute((trx) =>
      onInspectionTimer(trx, { id: 'x', kind: 'inspection.overdue', subjectId: task.id, communityId: A.community.id, dueAt: new Date(), jobId: 'x', payload: { taskId: task.id } }, pino({ level: 'silent' })),
    );
    expect((await t.db.selectFrom('inspection_tasks').select('status').where('id', '=', task.id).executeTakeFirstOrThrow()).status).toBe('done');
    expect(await notificationsLike(`inspection-overdue-${task.id}`)).toHaveLength(2);

    // The KPI: inspections done on time per community and category.
    const kpi = await as(t.app, A.users.propertyManager.id)({ method: 'GET', url: `${API}/reports/communities/${A.community.id}/kpis?to=${encodeURIComponent(new Date(Date.now() + 10 * DAY).toISOString())}` });
    expect(kpi.statusCode, kpi.body).toBe(200);
    const camera = kpi.json().inspections.byCategory.find((c: { category: string }) => c.category === 'camera');
    expect(camera).toMatchObject({ due: 1, doneOnTime: 0, doneLate: 1, onTimeRate: 0 });
    const elevator = kpi.json().inspections.byCategory.find((c: { category: string }) => c.category === 'elevator');
    expect(elevator.doneOnTime).toBeGreaterThanOrEqual(1);
    expect(elevator.onTimeRate).toBeGreaterThan(0);
    const csv = await as(t.app, A.users.propertyManager.id)({ method: 'GET', url: `${API}/reports/communities/${A.community.id}/kpis?format=csv` });
    expect(csv.body).toContain('inspections.onTimeRate');
    const district = await as(t.app, A.users.authority.id)({ method: 'GET', url: `${API}/reports/districts/${encodeURIComponent(A.community.district)}/kpis?to=${encodeURIComponent(new Date(Date.now() + 10 * DAY).toISOString())}` });
    expect(district.statusCode, district.body).toBe(200);
    expect(district.json().totals.inspections.due).toBeGreaterThanOrEqual(2);
  });
});

describe('electronic patrol', () => {
  it('check-ins advance the route in order; out-of-order ones are recorded with a clear message', async () => {
    const [l1, l2, l3] = lights as [(typeof lights)[number], (typeof lights)[number], (typeof lights)[number]];
    const created = await as(t.app, A.users.propertyManager.id)({
      method: 'POST',
      url: `${API}/inspection-plans`,
      payload: { communityId: A.community.id, name: '夜间巡更', kind: 'patrol', facilityIds: [l1.id, l2.id, l3.id], rrule: 'FREQ=WEEKLY', dtstart: localDay(1, '21:00'), checklist: [], leadTimeMinutes: 2 * 1440 },
    });
    expect(created.statusCode, created.body).toBe(201);
    expect(created.json().plan).toMatchObject({ kind: 'patrol', category: 'lighting', facilityIds: [l1.id, l2.id, l3.id], assignee: { organizationId: A.orgs.company.id } });
    const tech = as(t.app, A.users.technician.id);
    const scan = (token: string) => tech({ method: 'POST', url: `${API}/patrol/checkins`, payload: { qrToken: token } });

    const wrong = await scan(l2.qr_token);
    expect(wrong.statusCode, wrong.body).toBe(201);
    expect(wrong.json()).toMatchObject({ advanced: false, expected: { facilityId: l1.id, facilityName: l1.name, position: 0 }, checkin: { facilityId: l2.id, taskId: null, position: null } });
    expect(wrong.json().message).toContain('顺序不对');
    expect(wrong.json().message).toContain(l1.name);

    const first = await scan(l1.qr_token);
    expect(first.json()).toMatchObject({ advanced: true, checkin: { position: 0 }, task: { status: 'in_progress', progress: { done: 1, total: 3 } } });
    const taskId = first.json().task.id as string;
    expect((await scan(l1.qr_token)).json()).toMatchObject({ advanced: false, message: expect.stringContaining('已签到过') });
    expect((await scan(l2.qr_token)).json()).toMatchObject({ advanced: true, task: { progress: { done: 2, total: 3 } } });
    const last = await scan(l3.qr_token);
    expect(last.json()).toMatchObject({ advanced: true, task: { id: taskId, status: 'done', onTime: true, progress: { done: 3, total: 3 } } });
    expect(last.json().message).toContain('已完成');
    // The next scan finds no open patrol through here (next week's is not open yet).
    expect((await scan(l3.qr_token)).json()).toMatchObject({ advanced: false, task: null });

    const detail = await tech({ method: 'GET', url: `${API}/inspection-tasks/${taskId}` });
    expect(detail.json().checkins.map((c: { position: number }) => c.position)).toEqual([0, 1, 2]);
    expect(detail.json().facilities.map((f: { id: string }) => f.id)).toEqual([l1.id, l2.id, l3.id]);
    const all = await t.db.selectFrom('patrol_checkins').select(['facility_id', 'task_id']).where('user_id', '=', A.users.technician.id).execute();
    expect(all).toHaveLength(6);

    // Results are not how a patrol is done.
    const results = await tech({ method: 'POST', url: `${API}/inspection-tasks/${taskId}/results`, payload: { results: [{ facilityId: l1.id, outcome: 'ok', checklist: [] }] } });
    expect(results.statusCode).toBe(422);
    expect(results.json().error.message).toMatch(/check-ins/);

    // Owners may not check in; strangers do not see the facility; unknown codes are 404.
    expect((await as(t.app, A.users.owner.id)({ method: 'POST', url: `${API}/patrol/checkins`, payload: { qrToken: l1.qr_token } })).statusCode).toBe(403);
    expect((await as(t.app, A.users.authority.id)({ method: 'POST', url: `${API}/patrol/checkins`, payload: { qrToken: l1.qr_token } })).statusCode).toBe(403);
    expect((await as(t.app, B.users.technician.id)({ method: 'POST', url: `${API}/patrol/checkins`, payload: { qrToken: l1.qr_token } })).statusCode).toBe(404);
    expect((await scan('no-such-token-at-all')).statusCode).toBe(404);
    const nobody = await makeUser(t.db);
    expect((await as(t.app, nobody.id)({ method: 'POST', url: `${API}/patrol/checkins`, payload: { qrToken: l1.qr_token } })).statusCode).toBe(404);
  });
});

describe('access', () => {
  let cameraPlan: string;
  let elevatorPlan: string;
  beforeAll(async () => {
    const pm = as(t.app, A.users.propertyManager.id);
    cameraPlan = (await pm({ method: 'POST', url: `${API}/inspection-plans`, payload: planBody({ name: '摄像机月检', categories: ['camera'], rrule: 'FREQ=MONTHLY' }) })).json().plan.id;
    elevatorPlan = (await pm({ method: 'POST', url: `${API}/inspection-plans`, payload: planBody({ name: '电梯月检', rrule: 'FREQ=MONTHLY' }) })).json().plan.id;
  });

  it('a contractor sees only the plans and tasks assigned to it, and may perform them but not change them', async () => {
    const contractor = as(t.app, A.users.contractor.id);
    const list = await contractor({ method: 'GET', url: `${API}/inspection-plans?communityId=${A.community.id}&limit=200` });
    expect(list.statusCode).toBe(200);
    const ids = list.json().items.map((p: { id: string }) => p.id);
    expect(ids).toContain(cameraPlan);
    expect(ids).not.toContain(elevatorPlan);
    expect(list.json().items.every((p: { assignee: { organizationId: string } }) => p.assignee.organizationId === A.orgs.contractor.id)).toBe(true);
    expect((await contractor({ method: 'GET', url: `${API}/inspection-plans/${cameraPlan}` })).statusCode).toBe(200);
    expect((await contractor({ method: 'GET', url: `${API}/inspection-plans/${elevatorPlan}` })).statusCode).toBe(404);
    expect((await contractor({ method: 'PATCH', url: `${API}/inspection-plans/${cameraPlan}`, payload: { name: '改名' } })).statusCode).toBe(403);
    const tasks = await contractor({ method: 'GET', url: `${API}/inspection-tasks?limit=200` });
    expect(tasks.json().items.length).toBeGreaterThan(0);
    expect(tasks.json().items.every((x: { assigneeOrgId: string }) => x.assigneeOrgId === A.orgs.contractor.id)).toBe(true);
    const mine = await contractor({ method: 'GET', url: `${API}/inspection-tasks?assignee=me&status=open&limit=200` });
    expect(mine.json().items.length).toBeGreaterThan(0);
    const elevatorTask = (await tasksOf(elevatorPlan))[0] as { id: string };
    expect((await contractor({ method: 'GET', url: `${API}/inspection-tasks/${elevatorTask.id}` })).statusCode).toBe(404);
    expect((await contractor({ method: 'POST', url: `${API}/inspection-tasks/${elevatorTask.id}/results`, payload: { results: [{ facilityId: elevators[0]?.id, outcome: 'ok', checklist: [] }] } })).statusCode).toBe(404);
  });

  it('owners see no inspection internals; committees and the authority read; the authority changes nothing', async () => {
    const owner = as(t.app, A.users.owner.id);
    expect((await owner({ method: 'GET', url: `${API}/inspection-plans/${elevatorPlan}` })).statusCode).toBe(403);
    expect((await owner({ method: 'GET', url: `${API}/inspection-plans?communityId=${A.community.id}` })).statusCode).toBe(403);
    expect((await owner({ method: 'GET', url: `${API}/inspection-plans` })).json().items).toEqual([]);
    expect((await owner({ method: 'GET', url: `${API}/inspection-tasks` })).json().items).toEqual([]);
    const task = (await tasksOf(elevatorPlan))[0] as { id: string };
    expect((await owner({ method: 'GET', url: `${API}/inspection-tasks/${task.id}` })).statusCode).toBe(403);
    expect((await owner({ method: 'POST', url: `${API}/inspection-plans`, payload: planBody() })).statusCode).toBe(403);
    for (const role of ['authority', 'committeeMember', 'committeeChair'] as const) {
      const who = as(t.app, A.users[role].id);
      expect((await who({ method: 'GET', url: `${API}/inspection-plans/${elevatorPlan}` })).statusCode, role).toBe(200);
      expect((await who({ method: 'GET', url: `${API}/inspection-tasks/${task.id}` })).statusCode, role).toBe(200);
    }
    const authority = as(t.app, A.users.authority.id);
    expect((await authority({ method: 'PATCH', url: `${API}/inspection-plans/${elevatorPlan}`, payload: { name: 'x' } })).statusCode).toBe(403);
    expect((await authority({ method: 'POST', url: `${API}/inspection-plans/${elevatorPlan}/deactivate` })).statusCode).toBe(403);
    expect((await authority({ method: 'POST', url: `${API}/inspection-tasks/${task.id}/results`, payload: { results: [{ facilityId: elevators[0]?.id, outcome: 'ok', checklist: [] }] } })).statusCode).toBe(403);
    expect((await authority({ method: 'POST', url: `${API}/inspection-plans`, payload: planBody() })).statusCode).toBe(403);
    expect((await as(t.app, A.users.committeeMember.id)({ method: 'PATCH', url: `${API}/inspection-plans/${elevatorPlan}`, payload: { name: 'x' } })).statusCode).toBe(403);
  });

  it('another community’s plans and tasks answer 404 for everyone there; the platform admin sees them', async () => {
    const task = (await tasksOf(elevatorPlan))[0] as { id: string };
    for (const role of ['propertyManager', 'technician', 'committeeChair', 'contractor', 'authority', 'owner'] as const) {
      const who = as(t.app, B.users[role].id);
      for (const [method, url, payload] of [
        ['GET', `/inspection-plans/${elevatorPlan}`, undefined],
        ['PATCH', `/inspection-plans/${elevatorPlan}`, { name: 'x' }],
        ['POST', `/inspection-plans/${elevatorPlan}/deactivate`, undefined],
        ['GET', `/inspection-tasks/${task.id}`, undefined],
        ['POST', `/inspection-tasks/${task.id}/results`, { results: [{ facilityId: elevators[0]?.id, outcome: 'ok', checklist: [] }] }],
      ] as const) {
        const res = await who({ method, url: `${API}${url}`, ...(payload ? { payload } : {}) });
        expect(res.statusCode, `${role} ${method} ${url}`).toBe(404);
        expect(res.body).not.toContain('电梯月检');
      }
      const list = await who({ method: 'GET', url: `${API}/inspection-tasks?communityId=${A.community.id}` });
      expect(list.statusCode, role).toBe(404);
      expect((await who({ method: 'POST', url: `${API}/inspection-plans`, payload: planBody() })).statusCode, role).toBe(404);
    }
    expect((await as(t.app, w.admin.id)({ method: 'GET', url: `${API}/inspection-plans/${elevatorPlan}` })).statusCode).toBe(200);
  });

  it('lists page with a cursor and filter by status, plan and due range', async () => {
    const pm = as(t.app, A.users.propertyManager.id);
    const seen: string[] = [];
    let cursor: string | null = null;
    do {
      const res = await pm({ method: 'GET', url: `${API}/inspection-tasks?communityId=${A.community.id}&limit=3${cursor ? `&cursor=${cursor}` : ''}` });
      expect(res.statusCode).toBe(200);
      const body = res.json() as { items: Array<{ id: string; dueAt: string }>; nextCursor: string | null };
      seen.push(...body.items.map((x) => x.id));
      cursor = body.nextCursor;
    } while (cursor);
    const total = await t.db.selectFrom('inspection_tasks').select((eb) => eb.fn.countAll().as('n')).where('community_id', '=', A.community.id).executeTakeFirstOrThrow();
    expect(seen).toHaveLength(Number(total.n));
    expect(new Set(seen).size).toBe(seen.length);
    const byPlan = await pm({ method: 'GET', url: `${API}/inspection-tasks?planId=${elevatorPlan}&status=scheduled&dueFrom=${encodeURIComponent(new Date().toISOString())}` });
    expect(byPlan.json().items.length).toBeGreaterThan(0);
    expect(byPlan.json().items.every((x: { planId: string; status: string }) => x.planId === elevatorPlan && x.status === 'scheduled')).toBe(true);
    expect((await pm({ method: 'GET', url: `${API}/inspection-tasks?status=bogus` })).statusCode).toBe(400);
    expect((await pm({ method: 'GET', url: `${API}/inspection-tasks?cursor=bogus` })).statusCode).toBe(400);
  });
});
