import pino from 'pino';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it, vi } from 'vitest';
import { createTimerHandlers } from '../workers/registry.js';
import { defaultCalendar, workingTimeBetween } from '../src/modules/calendars/business-calendar.js';
import { DEFAULT_SETTINGS } from '../src/modules/communities/settings.js';
import { computeDeadlines, selectPolicy, slaTimerPlan, type Priority } from '../src/modules/tickets/sla.js';
import { verifyChain } from '../src/modules/audit/audit.service.js';
import { TICKET_STATUSES, type TicketStatus } from '../src/modules/tickets/state-machine.js';
import type { SlaTimerPayload } from '../src/modules/timers/kinds.js';
import { scheduleTimer } from '../src/modules/timers/timers.service.js';
import { handleTimerFire, type TimerJobContext } from '../src/modules/timers/timers.jobs.js';
import { createTestApp, type TestApp } from './helpers/app.js';
import { as, makeCommunityWorld, makeFacility, makeTwoWorlds, type CommunityWorld } from './helpers/factories.js';

/**
 * Tickets (DESIGN.md "Tickets and SLAs", issue 4): every transition allowed and refused, who may
 * move a ticket, the SLA clock with pauses and recomputation, the escalation ladder end to end
 * with a controllable clock, facility status, comments, rating, lists.
 *
 * The clock: `vi.useFakeTimers({ toFake: ['Date'] })` fakes only Date (the app runs in-process
 * through app.inject), so opened_at, pauses and "due" checks follow vi.setSystemTime. PostgreSQL's
 * now() stays real, so the fake dates are in the future (2030), after the duties began.
 */

const API = '/api/v1';
type Client = ReturnType<typeof as>;

let t: TestApp;
let w: Awaited<ReturnType<typeof makeTwoWorlds>>;
let A: CommunityWorld;
let B: CommunityWorld;

beforeAll(async () => {
  t = await createTestApp();
  w = await makeTwoWorlds(t.db);
  A = w.a;
  B = w.b;
});
afterAll(async () => {
  vi.useRealTimers();
  await t?.close();
});

const user = (world: CommunityWorld, role: keyof CommunityWorld['users']): Client => as(t.app, world.users[role].id);

interface NewTicket {
  title?: string;
  priority?: Priority;
  category?: string;
  facilityId?: string;
  isPublic?: boolean;
  description?: string;
  communityId?: string;
}

async function open(who: Client, body: NewTicket = {}, world: CommunityWorld = A) {
  const res = await who({
    method: 'POST',
    url: `${API}/tickets`,
    payload: { communityId: world.community.id, title: body.title ?? '楼道灯不亮', category: body.category ?? (body.facilityId ? undefined : 'lighting'), ...body },
  });
  expect(res.statusCode, res.body).toBe(201);
  return res.json();
}

function move(who: Client, id: string, to: string, reason?: string) {
  return who({ method: 'POST', url: `${API}/tickets/${id}/transitions`, payload: { to, ...(reason !== undefined ? { reason } : {}) } });
}

async function mustMove(who: Client, id: string, to: string, reason?: string) {
  const res = await move(who, id, to, reason);
  expect(res.statusCode, `${to}: ${res.body}`).toBe(200);
  return res.json();
}

const row = (id: string) => t.db.selectFrom('tickets').selectAll().where('id', '=', id).executeTakeFirstOrThrow();
const facilityStatus = async (id: string) => (await t.db.selectFrom('facilities').select('status').where('id', '=', id).executeTakeFirstOrThrow()).status;

const SLA_KINDS = ['sla.warning', 'sla.breach', 'sla.escalate-committee', 'sla.escalate-authority'];
function timersOf(ticketId: string) {
  return t.db.selectFrom('timers').selectAll().where('subject_id', '=', ticketId).orderBy('due_at').orderBy('job_id').execute();
}
async function activeSlaTimers(ticketId: string) {
  return (await timersOf(ticketId)).filter((x) => SLA_KINDS.includes(x.kind) && (x.state === 'pending' || x.state === 'enqueued'));
}
const targetOf = (x: { payload: unknown }) => (x.payload as SlaTimerPayload).target;
/**
 * The SLA ladder a ticket's timers stand for: each active timer (the next step of its target) and
 * the later steps it carries, in time order (response first at equal instants).
 */
async function plannedSteps(ticketId: string) {
  const steps: Array<{ kind: string; target: string; due_at: Date; version: number; timerId: string | null }> = [];
  for (const x of await activeSlaTimers(ticketId)) {
    const p = x.payload as SlaTimerPayload;
    steps.push({ kind: x.kind, target: p.target, due_at: x.due_at, version: p.version, timerId: x.id });
    for (const n of p.next ?? []) steps.push({ kind: n.kind, target: p.target, due_at: new Date(n.at), version: p.version, timerId: null });
  }
  const order = (x: { kind: string; target: string }) => (x.target === 'response' ? 0 : 1) * 10 + SLA_KINDS.indexOf(x.kind);
  return steps.sort((a, b) => a.due_at.getTime() - b.due_at.getTime() || order(a) - order(b));
}

/** The SLA notices (in-app) about a ticket: stage, target, recipient, payload. */
async function slaNotices(ticketRef: number) {
  const rows = await t.db
    .selectFrom('notifications')
    .select(['recipient_user_id', 'payload', 'dedupe_key'])
    .where('template', '=', 'ticket.sla')
    .where('channel', '=', 'in_app')
    .execute();
  return rows
    .map((r) => ({ ...(r.payload as { stage: string; target: string; ticketRef: number; dueAt: string }), userId: r.recipient_user_id as string }))
    .filter((r) => r.ticketRef === ticketRef);
}

/** Who heard of one ladder step (e.g. kind sla.breach, target response) of a ticket. */
async function notifiedBy(ticketRef: number, kind: string, target: string): Promise<string[]> {
  const stage = kind.replace(/^sla\./, '');
  return (await slaNotices(ticketRef))
    .filter((n) => n.stage === stage && n.target === target)
    .map((n) => n.userId)
    .sort();
}

function timerCtx(): TimerJobContext {
  return { db: t.db, logger: pino({ level: 'silent' }), timerHandlers: createTimerHandlers(), relayQueues: { main: t.queue, email: t.queue, redis: t.redis } };
}
const fire = (timerId: string) => handleTimerFire({ timerId }, timerCtx());
const timerState = async (id: string) => (await t.db.selectFrom('timers').select('state').where('id', '=', id).executeTakeFirstOrThrow()).state;

// ---------------------------------------------------------------------------------------------
// Every (from, to) pair
// ---------------------------------------------------------------------------------------------

/** The machine as DESIGN.md states it, written out independently of the implementation. */
const LEGAL: Record<TicketStatus, readonly TicketStatus[]> = {
  new: ['acknowledged', 'cancelled'],
  acknowledged: ['in_progress', 'cancelled'],
  in_progress: ['on_hold', 'resolved', 'cancelled'],
  on_hold: ['in_progress', 'cancelled'],
  resolved: ['closed', 'reopened'],
  reopened: ['in_progress', 'cancelled'],
  closed: [],
  cancelled: [],
};

/** How to drive a new ticket into each status through the API. */
const PATH: Record<TicketStatus, Array<[TicketStatus, string?]>> = {
  new: [],
  acknowledged: [['acknowledged']],
  in_progress: [['acknowledged'], ['in_progress']],
  on_hold: [['acknowledged'], ['in_progress'], ['on_hold', 'awaiting_parts']],
  resolved: [['acknowledged'], ['in_progress'], ['resolved']],
  reopened: [['acknowledged'], ['in_progress'], ['resolved'], ['reopened']],
  closed: [['acknowledged'], ['in_progress'], ['resolved'], ['closed']],
  cancelled: [['cancelled', 'reported twice']],
};

const reasonFor = (to: TicketStatus) => (to === 'on_hold' ? 'awaiting_access' : to === 'cancelled' ? 'owner withdrew the report' : undefined);

async function ticketIn(status: TicketStatus, world: CommunityWorld = A): Promise<string> {
  const pm = user(world, 'propertyManager');
  const ticket = await open(user(world, 'owner'), { title: `状态 ${status}` }, world);
  for (const [to, reason] of PATH[status]) await mustMove(pm, ticket.id, to, reason);
  expect((await row(ticket.id)).status).toBe(status);
  return ticket.id;
}

describe('transitions: every (from, to) pair', () => {
  const pairs = TICKET_STATUSES.flatMap((from) => TICKET_STATUSES.map((to) => ({ from, to, legal: LEGAL[from].includes(to) })));
  /** Illegal moves change nothing, so one ticket per `from` serves them all. */
  const shared = new Map<TicketStatus, Promise<string>>();
  const sharedTicket = (from: TicketStatus) => {
    if (!shared.has(from)) shared.set(from, ticketIn(from));
    return shared.get(from) as Promise<string>;
  };

  it('covers all 64 pairs, 13 of them legal', () => {
    expect(pairs).toHaveLength(64);
    expect(pairs.filter((p) => p.legal)).toHaveLength(13);
  });

  it.each(pairs)('$from → $to (legal: $legal)', async ({ from, to, legal }) => {
    const pm = user(A, 'propertyManager');
    if (legal) {
      const id = await ticketIn(from);
      const res = await move(pm, id, to, reasonFor(to));
      expect(res.statusCode, res.body).toBe(200);
      expect(res.json().status).toBe(to);
      expect((await row(id)).status).toBe(to);
      const audit = await t.db.selectFrom('audit_events').select(['action', 'before', 'after']).where('entity_id', '=', id).where('action', '=', `ticket.${to}`).execute();
      expect(audit.length).toBeGreaterThanOrEqual(1);
    } else {
      const id = await sharedTicket(from);
      const before = await row(id);
      const res = await move(pm, id, to, reasonFor(to));
      expect(res.statusCode, res.body).toBe(409);
      const err = res.json().error;
      expect(err.code).toBe('ILLEGAL_TRANSITION');
      expect(err.message).toContain(from);
      // The message names the moves that are allowed, or says there are none.
      for (const m of LEGAL[from]) expect(err.message).toContain(m);
      if (LEGAL[from].length === 0) expect(err.message).toMatch(/cannot change status/i);
      const after = await row(id);
      expect(after.status).toBe(from);
      expect(after.sla_version).toBe(before.sla_version);
      expect(after.updated_at.getTime()).toBe(before.updated_at.getTime());
    }
  });

  it('on_hold needs one of the hold reasons, cancelled needs a reason: 400 and nothing changes', async () => {
    const pm = user(A, 'propertyManager');
    const working = await ticketIn('in_progress');
    for (const reason of [undefined, 'because', 'AWAITING_PARTS', 'resolved', '   ']) {
      const res = await move(pm, working, 'on_hold', reason);
      expect(res.statusCode, `${String(reason)}: ${res.body}`).toBe(400);
    }
    expect((await move(pm, working, 'on_hold', '')).statusCode).toBe(400);
    for (const reason of [undefined, '   ']) {
      const res = await move(pm, working, 'cancelled', reason);
      expect(res.statusCode, res.body).toBe(400);
      expect(res.json().error.message).toMatch(/reason/i);
    }
    const after = await row(working);
    expect(after.status).toBe('in_progress');
    expect(after.hold_reason).toBeNull();
    expect(await t.db.selectFrom('ticket_holds').select('id').where('ticket_id', '=', working).execute()).toHaveLength(0);

    const fresh = await ticketIn('new');
    expect((await move(pm, fresh, 'cancelled')).statusCode).toBe(400);
    const cancelled = await mustMove(pm, fresh, 'cancelled', '  重复报修  ');
    expect(cancelled.cancelReason).toBe('重复报修');
    const held = await mustMove(pm, working, 'on_hold', 'awaiting_funds');
    expect(held.holdReason).toBe('awaiting_funds');
    const resumed = await mustMove(pm, working, 'in_progress');
    expect(resumed.holdReason).toBeNull();
  });

  it('a closed or cancelled ticket cannot be re-prioritised or reassigned (409)', async () => {
    const pm = user(A, 'propertyManager');
    for (const status of ['closed', 'cancelled'] as const) {
      const id = await ticketIn(status);
      const res = await pm({ method: 'PATCH', url: `${API}/tickets/${id}`, payload: { priority: 'P1' } });
      expect(res.statusCode, res.body).toBe(409);
      expect((await row(id)).priority).toBe('P3');
    }
  });

  it('an unknown status is a 400, an unknown ticket a 404', async () => {
    const pm = user(A, 'propertyManager');
    const id = await ticketIn('new');
    expect((await move(pm, id, 'done')).statusCode).toBe(400);
    expect((await move(pm, '00000000-0000-4000-8000-000000000000', 'acknowledged')).statusCode).toBe(404);
  });
});

// ---------------------------------------------------------------------------------------------
// Who may move a ticket
// ---------------------------------------------------------------------------------------------

describe('transitions: roles', () => {
  it.each(['platformAdmin', 'propertyManager', 'technician', 'committeeChair'] as const)('%s (staff) may make every move', async (role) => {
    const who = user(A, role);
    const { id } = await open(user(A, 'owner'), { title: `员工 ${role}` });
    for (const [to, reason] of [
      ['acknowledged'],
      ['in_progress'],
      ['on_hold', 'awaiting_parts'],
      ['in_progress'],
      ['resolved'],
      ['reopened'],
      ['in_progress'],
      ['resolved'],
      ['closed'],
    ] as Array<[string, string?]>) {
      await mustMove(who, id, to, reason);
    }
    const other = await open(user(A, 'owner'), { title: `员工取消 ${role}` });
    await mustMove(who, other.id, 'acknowledged');
    await mustMove(who, other.id, 'cancelled', 'not our duty');
  });

  it('the assigned contractor acknowledges, starts, holds and resolves, but neither cancels nor closes', async () => {
    const camera = await makeFacility(t.db, A.community.id, 'camera');
    const ticket = await open(user(A, 'owner'), { title: '北门摄像机无画面', facilityId: camera.id });
    expect(ticket.category).toBe('camera');
    expect(ticket.assigneeOrgId).toBe(A.orgs.contractor.id);
    const c = user(A, 'contractor');
    expect((await move(c, ticket.id, 'cancelled', 'not mine')).statusCode).toBe(403);
    await mustMove(c, ticket.id, 'acknowledged');
    expect((await move(c, ticket.id, 'cancelled', 'not mine')).statusCode).toBe(403);
    await mustMove(c, ticket.id, 'in_progress');
    await mustMove(c, ticket.id, 'on_hold', 'awaiting_parts');
    await mustMove(c, ticket.id, 'in_progress');
    await mustMove(c, ticket.id, 'resolved');
    expect((await move(c, ticket.id, 'closed')).statusCode).toBe(403);
    expect((await move(c, ticket.id, 'reopened')).statusCode).toBe(403);
    expect((await row(ticket.id)).status).toBe('resolved');
    const detail = await c({ method: 'GET', url: `${API}/tickets/${ticket.id}` });
    expect(detail.json().allowedTransitions).toEqual([]);

    // A ticket not assigned to the contractor is not theirs to see.
    const lamp = await open(user(A, 'owner'), { title: '路灯' });
    expect((await move(c, lamp.id, 'acknowledged')).statusCode).toBe(404);
  });

  it('the reporter closes or reopens a resolved ticket and cancels a new one, nothing else', async () => {
    const owner = user(A, 'owner');
    const pm = user(A, 'propertyManager');
    const fresh = await open(owner, { title: '报修后又自己修好了' });
    expect((await move(owner, fresh.id, 'acknowledged')).statusCode).toBe(403);
    expect((await owner({ method: 'GET', url: `${API}/tickets/${fresh.id}` })).json().allowedTransitions).toEqual(['cancelled']);
    await mustMove(owner, fresh.id, 'cancelled', '已自行修好');

    const { id } = await open(owner, { title: '单元门禁失灵' });
    await mustMove(pm, id, 'acknowledged');
    for (const to of ['cancelled', 'in_progress']) expect((await move(owner, id, to, 'x')).statusCode, to).toBe(403);
    await mustMove(pm, id, 'in_progress');
    for (const [to, reason] of [['on_hold', 'awaiting_access'], ['resolved'], ['cancelled', 'x']]) expect((await move(owner, id, to as string, reason)).statusCode, to).toBe(403);
    await mustMove(pm, id, 'resolved');
    expect((await owner({ method: 'GET', url: `${API}/tickets/${id}` })).json().allowedTransitions.sort()).toEqual(['closed', 'reopened']);
    await mustMove(owner, id, 'reopened');
    for (const to of ['in_progress', 'cancelled']) expect((await move(owner, id, to, 'x')).statusCode, to).toBe(403);
    await mustMove(pm, id, 'in_progress');
    await mustMove(pm, id, 'resolved');
    await mustMove(owner, id, 'closed');
  });

  it('committee members and the authority cannot move a ticket (403); strangers get 404', async () => {
    const { id } = await open(user(A, 'owner'), { title: '水泵异响' });
    for (const role of ['committeeMember', 'authority'] as const) {
      for (const [to, reason] of [['acknowledged'], ['cancelled', 'x']]) {
        const res = await move(user(A, role), id, to as string, reason);
        expect(res.statusCode, `${role} ${to}`).toBe(403);
      }
    }
    for (const role of ['propertyManager', 'technician', 'committeeChair', 'committeeMember', 'owner', 'contractor', 'authority'] as const) {
      const res = await move(user(B, role), id, 'acknowledged');
      expect(res.statusCode, role).toBe(404);
      expect(res.body).not.toContain('水泵');
    }
    expect((await row(id)).status).toBe('new');
  });
});

describe('assignment', () => {
  it('assignees come from the organizations serving the community; a stranger cannot be handed the ticket', async () => {
    const pm = user(A, 'propertyManager');
    const { id } = await open(user(A, 'owner'), { title: '对讲机没声音', category: 'intercom' });
    const patch = (payload: Record<string, unknown>) => pm({ method: 'PATCH', url: `${API}/tickets/${id}`, payload });

    const tech = await patch({ assigneeUserId: A.users.technician.id });
    expect(tech.statusCode, tech.body).toBe(200);
    expect(tech.json().assigneeUserId).toBe(A.users.technician.id);
    const contractorOrg = await patch({ assigneeOrgId: A.orgs.contractor.id, assigneeUserId: A.users.contractor.id });
    expect(contractorOrg.statusCode, contractorOrg.body).toBe(200);
    expect((await user(A, 'contractor')({ method: 'GET', url: `${API}/tickets/${id}` })).statusCode).toBe(200);

    for (const payload of [
      { assigneeUserId: B.users.technician.id },
      { assigneeUserId: B.users.contractor.id },
      { assigneeUserId: A.users.committeeChair.id },
      { assigneeUserId: A.users.owner.id },
      { assigneeUserId: '00000000-0000-4000-8000-000000000000' },
      { assigneeOrgId: B.orgs.contractor.id },
      { assigneeOrgId: B.orgs.company.id },
      { assigneeOrgId: A.orgs.committee.id },
    ]) {
      const res = await patch(payload);
      expect(res.statusCode, JSON.stringify(payload)).toBe(400);
    }
    const r = await row(id);
    expect([r.assignee_user_id, r.assignee_org_id]).toEqual([A.users.contractor.id, A.orgs.contractor.id]);
    for (const role of ['technician', 'contractor'] as const) {
      expect((await user(B, role)({ method: 'GET', url: `${API}/tickets/${id}` })).statusCode, role).toBe(404);
    }
    const cleared = await patch({ assigneeUserId: null, assigneeOrgId: null });
    expect(cleared.statusCode).toBe(200);
    expect([cleared.json().assigneeUserId, cleared.json().assigneeOrgId]).toEqual([null, null]);
    expect((await user(A, 'contractor')({ method: 'GET', url: `${API}/tickets/${id}` })).statusCode).toBe(404);
  });
});

// ---------------------------------------------------------------------------------------------
// SLA clock, pauses, recomputation (controllable clock)
// ---------------------------------------------------------------------------------------------

/** Wednesday 9 January 2030, 10:00 in Asia/Shanghai. */
const T0 = new Date('2030-01-09T02:00:00.000Z');
const MIN = 60_000;
const HOUR = 3_600_000;
const plus = (d: Date, ms: number) => new Date(d.getTime() + ms);
const clock = (at: Date) => vi.setSystemTime(at);
const CAL = defaultCalendar('Asia/Shanghai');

describe('SLA clock', () => {
  beforeEach(() => {
    vi.useFakeTimers({ toFake: ['Date'] });
  });
  afterEach(() => {
    vi.useRealTimers();
  });

  it('a P3 ticket opened at a known time gets the targets of computeDeadlines, and its timers', async () => {
    clock(T0);
    const ticket = await open(user(A, 'propertyManager'), { priority: 'P3', category: 'lighting' });
    expect(ticket.openedAt).toBe(T0.toISOString());
    const policy = selectPolicy([], 'P3', 'lighting');
    const expected = computeDeadlines({ openedAt: T0, policy, calendar: CAL, pauses: [], now: T0 });
    expect(ticket.respondBy).toBe(expected.respondBy.toISOString());
    expect(ticket.resolveBy).toBe(expected.resolveBy.toISOString());
    // 4 working hours: 14:00 the same day; 3 working days of 9 h: Monday 10:00.
    expect(ticket.respondBy).toBe('2030-01-09T06:00:00.000Z');
    expect(ticket.resolveBy).toBe('2030-01-14T02:00:00.000Z');

    const r = await row(ticket.id);
    expect(r.sla_version).toBe(1);
    const timers = await activeSlaTimers(ticket.id);
    const plan = slaTimerPlan({ openedAt: T0, policy, calendar: CAL, pauses: [], now: T0, config: DEFAULT_SETTINGS.sla });
    const steps = await plannedSteps(ticket.id);
    expect(steps.map((x) => [x.kind, x.target, x.due_at.toISOString()])).toEqual(plan.map((p) => [p.kind, p.target, p.at.toISOString()]));
    expect(steps).toHaveLength(8);
    // Two timers: the first step of each target, carrying the rest of its ladder.
    expect(timers.map((x) => [x.kind, targetOf(x)])).toEqual([
      ['sla.warning', 'response'],
      ['sla.warning', 'resolution'],
    ]);
    for (const x of timers) {
      expect(x.job_id).toBe(`sla-warning-${targetOf(x)}-${ticket.id}-v1`);
      expect(x.payload).toMatchObject({ ticketId: ticket.id, version: 1 });
    }
    // Response warning at 75% of 4 working hours: 13:00.
    expect(timers.find((x) => x.kind === 'sla.warning' && targetOf(x) === 'response')?.due_at.toISOString()).toBe('2030-01-09T05:00:00.000Z');
  });

  it('a priority change recomputes from opened_at (not from now), bumps sla_version and replaces the timers', async () => {
    clock(T0);
    const pm = user(A, 'propertyManager');
    const ticket = await open(pm, { priority: 'P3', category: 'lighting' });
    const v1 = await activeSlaTimers(ticket.id);
    expect(v1).toHaveLength(2);
    expect(await plannedSteps(ticket.id)).toHaveLength(8);

    clock(new Date('2030-01-10T07:00:00.000Z')); // Thursday 15:00, a day and more later
    const patched = await pm({ method: 'PATCH', url: `${API}/tickets/${ticket.id}`, payload: { priority: 'P2' } });
    expect(patched.statusCode, patched.body).toBe(200);
    // P2 is 1 h / 24 h round the clock, from opening: both already past "now".
    expect(patched.json().respondBy).toBe(plus(T0, HOUR).toISOString());
    expect(patched.json().resolveBy).toBe(plus(T0, 24 * HOUR).toISOString());
    expect(patched.json().openedAt).toBe(T0.toISOString());
    expect((await row(ticket.id)).sla_version).toBe(2);

    const all = await timersOf(ticket.id);
    for (const old of v1) expect(all.find((x) => x.id === old.id)?.state).toBe('cancelled');
    const v2 = await activeSlaTimers(ticket.id);
    expect(v2).toHaveLength(2);
    for (const x of v2) {
      expect(x.job_id).toMatch(/-v2$/);
      expect(x.state).toBe('pending');
      expect(v1.map((o) => o.job_id)).not.toContain(x.job_id);
    }
    const v2Steps = await plannedSteps(ticket.id);
    expect(v2Steps).toHaveLength(8);
    expect(v2Steps.every((x) => x.version === 2)).toBe(true);
    expect(v2Steps.find((x) => x.kind === 'sla.breach' && x.target === 'response')?.due_at.toISOString()).toBe(plus(T0, HOUR).toISOString());

    // Same priority again: nothing to recompute.
    const same = await pm({ method: 'PATCH', url: `${API}/tickets/${ticket.id}`, payload: { priority: 'P2' } });
    expect(same.statusCode).toBe(200);
    expect((await row(ticket.id)).sla_version).toBe(2);

    // Back to P3: the original targets, version 3.
    const back = await pm({ method: 'PATCH', url: `${API}/tickets/${ticket.id}`, payload: { priority: 'P3' } });
    expect(back.json().respondBy).toBe(ticket.respondBy);
    expect(back.json().resolveBy).toBe(ticket.resolveBy);
    expect((await row(ticket.id)).sla_version).toBe(3);
    expect((await activeSlaTimers(ticket.id)).every((x) => x.job_id.endsWith('-v3'))).toBe(true);

    // A category change recomputes too (policy per category).
    await t.db.insertInto('sla_policies').values({ community_id: A.community.id, category: 'elevator', priority: 'P3', respond_value: 30, respond_unit: 'minutes', resolve_value: 8, resolve_unit: 'hours', calendar: '24x7' }).execute();
    try {
      const recat = await pm({ method: 'PATCH', url: `${API}/tickets/${ticket.id}`, payload: { category: 'elevator' } });
      expect(recat.statusCode, recat.body).toBe(200);
      expect(recat.json().respondBy).toBe(plus(T0, 30 * MIN).toISOString());
      expect(recat.json().resolveBy).toBe(plus(T0, 8 * HOUR).toISOString());
      expect((await row(ticket.id)).sla_version).toBe(4);
    } finally {
      await t.db.deleteFrom('sla_policies').where('community_id', '=', A.community.id).execute();
    }
  });

  it('on hold cancels the resolution timers; resuming moves resolve_by later by the paused working time', async () => {
    clock(T0);
    const pm = user(A, 'propertyManager');
    const ticket = await open(pm, { priority: 'P3', category: 'water_pump' });
    clock(plus(T0, 30 * MIN));
    await mustMove(pm, ticket.id, 'acknowledged');
    await mustMove(pm, ticket.id, 'in_progress');
    const running = await activeSlaTimers(ticket.id);
    // Responded: only the resolution ladder is left.
    expect(running.map(targetOf)).toEqual(['resolution']);
    expect((await plannedSteps(ticket.id)).map((x) => x.target)).toEqual(['resolution', 'resolution', 'resolution', 'resolution']);

    const pauseFrom = plus(T0, HOUR); // Wednesday 11:00
    clock(pauseFrom);
    const held = await mustMove(pm, ticket.id, 'on_hold', 'awaiting_parts');
    expect(held.resolveBy).toBe(ticket.resolveBy);
    expect(held.respondBy).toBe(ticket.respondBy);
    expect(await activeSlaTimers(ticket.id)).toEqual([]);
    const after = await timersOf(ticket.id);
    for (const x of running) expect(after.find((y) => y.id === x.id)?.state).toBe('cancelled');
    const detail = await pm({ method: 'GET', url: `${API}/tickets/${ticket.id}` });
    expect(detail.json().sla.resolution.status).toBe('paused');

    const pauseTo = new Date('2030-01-10T03:00:00.000Z'); // Thursday 11:00: 7 h + 2 h of working time
    clock(pauseTo);
    const resumed = await mustMove(pm, ticket.id, 'in_progress');
    const paused = workingTimeBetween(CAL, pauseFrom, pauseTo);
    expect(paused).toBe(9 * HOUR);
    expect(workingTimeBetween(CAL, new Date(ticket.resolveBy), new Date(resumed.resolveBy))).toBe(paused);
    expect(resumed.resolveBy).toBe('2030-01-15T02:00:00.000Z'); // Tuesday 10:00 instead of Monday
    expect(resumed.respondBy).toBe(ticket.respondBy);
    const version = (await row(ticket.id)).sla_version;
    const timers = await activeSlaTimers(ticket.id);
    expect(timers).toHaveLength(1);
    for (const x of timers) expect(x.job_id.endsWith(`-v${version}`)).toBe(true);
    const steps = await plannedSteps(ticket.id);
    expect(steps).toHaveLength(4);
    expect(steps.find((x) => x.kind === 'sla.breach')?.due_at.toISOString()).toBe(resumed.resolveBy);
    const holds = (await pm({ method: 'GET', url: `${API}/tickets/${ticket.id}` })).json().holds;
    expect(holds).toEqual([{ reason: 'awaiting_parts', from: pauseFrom.toISOString(), to: pauseTo.toISOString() }]);
  });

  it('resolved: timers stop, auto-close is scheduled, the reporter is notified; reopening counts the resolved period as paused', async () => {
    clock(T0);
    const owner = user(A, 'owner');
    const pm = user(A, 'propertyManager');
    const ticket = await open(owner, { priority: 'P3', category: 'drainage', title: '地下车库积水' });
    clock(plus(T0, 30 * MIN));
    await mustMove(pm, ticket.id, 'acknowledged');
    await mustMove(pm, ticket.id, 'in_progress');
    const resolvedAt = plus(T0, 2 * HOUR); // Wednesday 12:00
    clock(resolvedAt);
    const resolved = await mustMove(pm, ticket.id, 'resolved');
    expect(resolved.resolvedAt).toBe(resolvedAt.toISOString());
    expect(await activeSlaTimers(ticket.id)).toEqual([]);
    const autoClose = (await timersOf(ticket.id)).filter((x) => x.kind === 'ticket.auto-close');
    expect(autoClose).toHaveLength(1);
    expect(autoClose[0]?.state).toBe('pending');
    expect(autoClose[0]?.due_at.toISOString()).toBe(plus(resolvedAt, DEFAULT_SETTINGS.tickets.autoCloseAfterHours * HOUR).toISOString());
    expect(autoClose[0]?.payload).toEqual({ ticketId: ticket.id, resolvedAt: resolvedAt.toISOString() });
    const notes = await t.db.selectFrom('notifications').selectAll().where('template', '=', 'ticket.resolved').where('recipient_user_id', '=', A.users.owner.id).execute();
    const mine = notes.filter((n) => (n.payload as { ticketRef: number }).ticketRef === ticket.ref);
    expect(mine.map((n) => n.channel).sort()).toEqual(['email', 'in_app']);
    expect(mine[0]?.body_text).toContain('地下车库积水');

    const reopenAt = new Date('2030-01-10T04:00:00.000Z'); // Thursday 12:00: 6 h + 3 h of working time
    clock(reopenAt);
    const reopened = await mustMove(owner, ticket.id, 'reopened');
    expect(reopened.resolvedAt).toBeNull();
    expect(workingTimeBetween(CAL, new Date(ticket.resolveBy), new Date(reopened.resolveBy))).toBe(workingTimeBetween(CAL, resolvedAt, reopenAt));
    expect(reopened.resolveBy).toBe('2030-01-15T02:00:00.000Z');
    // The response was made before: neither hold moves its deadline.
    expect(reopened.respondBy).toBe(ticket.respondBy);
    expect((await owner({ method: 'GET', url: `${API}/tickets/${ticket.id}` })).json().sla.response).toMatchObject({ dueAt: ticket.respondBy, status: 'met' });
    const holds = await t.db.selectFrom('ticket_holds').selectAll().where('ticket_id', '=', ticket.id).execute();
    expect(holds.map((h) => [h.reason, h.started_at.toISOString(), h.ended_at?.toISOString()])).toEqual([['resolved', resolvedAt.toISOString(), reopenAt.toISOString()]]);
    expect((await activeSlaTimers(ticket.id)).map(targetOf)).toEqual(['resolution']);
    expect((await plannedSteps(ticket.id)).map((x) => x.target)).toEqual(['resolution', 'resolution', 'resolution', 'resolution']);
  });
});

// ---------------------------------------------------------------------------------------------
// The escalation ladder, end to end, by firing the timers in order
// ---------------------------------------------------------------------------------------------

describe('escalation ladder', () => {
  beforeEach(() => {
    vi.useFakeTimers({ toFake: ['Date'] });
  });
  afterEach(() => {
    vi.useRealTimers();
  });

  it('P1: warning → breach → committee → authority, each to the right people, recorded on the ticket', async () => {
    clock(T0);
    const owner = user(A, 'owner');
    const pm = user(A, 'propertyManager');
    const ticket = await open(owner, { priority: 'P1', category: 'elevator', title: '3号电梯困人' });
    expect(ticket.respondBy).toBe(plus(T0, 15 * MIN).toISOString());
    expect(ticket.resolveBy).toBe(plus(T0, 4 * HOUR).toISOString());
    const assigned = await pm({ method: 'PATCH', url: `${API}/tickets/${ticket.id}`, payload: { assigneeUserId: A.users.technician.id } });
    expect(assigned.statusCode, assigned.body).toBe(200);
    expect((await row(ticket.id)).sla_version).toBe(1);

    // Two timers to begin with (the first step of each target); each step schedules the next.
    expect((await activeSlaTimers(ticket.id)).map((x) => [x.kind, targetOf(x)])).toEqual([
      ['sla.warning', 'response'],
      ['sla.warning', 'resolution'],
    ]);
    const ladder = (await plannedSteps(ticket.id)).map((x) => [x.kind, x.target, (x.due_at.getTime() - T0.getTime()) / MIN] as const);
    // 24×7: warning at 75%, breach at 100%, committee a (24 h) day later, authority two days after that.
    expect(ladder).toEqual([
      ['sla.warning', 'response', 11.25],
      ['sla.breach', 'response', 15],
      ['sla.warning', 'resolution', 180],
      ['sla.breach', 'resolution', 240],
      ['sla.escalate-committee', 'response', 15 + 24 * 60],
      ['sla.escalate-committee', 'resolution', 240 + 24 * 60],
      ['sla.escalate-authority', 'response', 15 + 72 * 60],
      ['sla.escalate-authority', 'resolution', 240 + 72 * 60],
    ]);

    const U = A.users;
    const managers = [U.propertyManager.id];
    const committee = [U.committeeChair.id, U.committeeMember.id].sort();
    const expected: Array<{ notified: string[]; level: number; stage: string }> = [
      { notified: [U.technician.id], level: 0, stage: 'warning' },
      { notified: [...managers, U.technician.id].sort(), level: 1, stage: 'breach' },
      { notified: [U.technician.id], level: 1, stage: 'warning' },
      { notified: [...managers, U.technician.id].sort(), level: 1, stage: 'breach' },
      { notified: committee, level: 2, stage: 'escalate-committee' },
      { notified: committee, level: 2, stage: 'escalate-committee' },
      { notified: [U.authority.id], level: 3, stage: 'escalate-authority' },
      { notified: [U.authority.id], level: 3, stage: 'escalate-authority' },
    ];

    const target = targetOf;
    for (const [i, [kind, stepTarget, dueMin]] of ladder.entries()) {
      const exp = expected[i] as (typeof expected)[number];
      // The step's timer is there by now: the first of its target, or scheduled by the step before.
      const timer = (await activeSlaTimers(ticket.id)).find((x) => x.kind === kind && targetOf(x) === stepTarget);
      if (!timer) throw new Error(`step ${i} (${kind} ${stepTarget}) has no timer`);
      expect((timer.due_at.getTime() - T0.getTime()) / MIN).toBe(dueMin);
      // Not yet due: nothing happens, the timer stays.
      clock(plus(timer.due_at, -10 * MIN));
      await fire(timer.id);
      expect(await timerState(timer.id)).toBe('pending');
      expect(await notifiedBy(ticket.ref, timer.kind, target(timer))).toEqual([]);

      clock(plus(timer.due_at, 1_000));
      await fire(timer.id);
      expect(await timerState(timer.id), `${timer.kind} ${target(timer)}`).toBe('fired');
      expect(await notifiedBy(ticket.ref, timer.kind, target(timer)), `${timer.kind} ${target(timer)}`).toEqual(exp.notified);
      const notes = (await slaNotices(ticket.ref)).filter((n) => n.stage === exp.stage && n.target === target(timer));
      expect(notes.map((n) => n.dueAt)).toEqual(notes.map(() => (target(timer) === 'response' ? ticket.respondBy : ticket.resolveBy)));
      const r = await row(ticket.id);
      expect(r.escalation_level, `${timer.kind} ${target(timer)}`).toBe(exp.level);
      if (i >= 1) expect(r.response_breached_at?.toISOString()).toBe(ticket.respondBy);
      else expect(r.response_breached_at).toBeNull();
      if (i >= 3) expect(r.resolution_breached_at?.toISOString()).toBe(ticket.resolveBy);
      else expect(r.resolution_breached_at).toBeNull();

      // Firing again (a redelivered job) does nothing more.
      const timersBefore = await timersOf(ticket.id);
      await fire(timer.id);
      expect(await notifiedBy(ticket.ref, timer.kind, target(timer))).toEqual(exp.notified);
      expect(await timersOf(ticket.id)).toEqual(timersBefore);
    }
    // The ladder ended: no SLA timer left, and one timer row per step in all.
    expect(await activeSlaTimers(ticket.id)).toEqual([]);
    expect((await timersOf(ticket.id)).filter((x) => SLA_KINDS.includes(x.kind))).toHaveLength(8);

    const detail = (await pm({ method: 'GET', url: `${API}/tickets/${ticket.id}` })).json();
    expect(detail.escalationLevel).toBe(3);
    expect(detail.sla.response).toMatchObject({ status: 'breached', breachedAt: ticket.respondBy });
    expect(detail.sla.resolution).toMatchObject({ status: 'breached', breachedAt: ticket.resolveBy });
    // Nobody outside the ladder heard of it (B's people, the owner, the contractor).
    const heard = await t.db.selectFrom('notifications').select(['recipient_user_id', 'payload']).where('template', '=', 'ticket.sla').execute();
    const heardIds = new Set(heard.filter((h) => (h.payload as { ticketRef: number }).ticketRef === ticket.ref).map((h) => h.recipient_user_id));
    expect([...heardIds].sort()).toEqual([U.propertyManager.id, U.technician.id, ...committee, U.authority.id].sort());
    for (const id of [U.owner.id, U.contractor.id, ...Object.values(B.users).map((u) => u.id)]) {
      if (id === U.platformAdmin.id) continue;
      expect(heardIds.has(id)).toBe(false);
    }
  });

  it('without an assignee, the warning goes to the duty holder’s managers', async () => {
    clock(T0);
    const ticket = await open(user(A, 'owner'), { priority: 'P1', category: 'fire_equipment', title: '消防栓漏水' });
    const warning = (await activeSlaTimers(ticket.id))[0];
    expect(warning?.kind).toBe('sla.warning');
    clock(plus(warning?.due_at as Date, 1_000));
    await fire(warning?.id as string);
    expect(await notifiedBy(ticket.ref, 'sla.warning', 'response')).toEqual([A.users.propertyManager.id]);
  });

  it('a stale timer (older sla_version) does nothing, whether cancelled or already in Redis', async () => {
    clock(T0);
    const pm = user(A, 'propertyManager');
    const ticket = await open(user(A, 'owner'), { priority: 'P1', category: 'elevator', title: '电梯异响' });
    // The v1 response warning fires and schedules the v1 breach.
    const v1Warning = (await activeSlaTimers(ticket.id)).find((x) => x.kind === 'sla.warning' && targetOf(x) === 'response')!;
    clock(plus(T0, 12 * MIN));
    await fire(v1Warning.id);
    const v1Breach = (await activeSlaTimers(ticket.id)).find((x) => x.kind === 'sla.breach' && targetOf(x) === 'response');
    expect(v1Breach?.job_id).toBe(`sla-breach-response-${ticket.id}-v1`);
    clock(plus(T0, 13 * MIN));
    await pm({ method: 'PATCH', url: `${API}/tickets/${ticket.id}`, payload: { priority: 'P2' } });
    expect(await timerState(v1Breach!.id)).toBe('cancelled');
    const breachNotices = async () => (await slaNotices(ticket.ref)).filter((n) => n.stage !== 'warning');

    clock(plus(T0, 20 * MIN));
    await fire(v1Breach!.id);
    expect(await timerState(v1Breach!.id)).toBe('cancelled');
    expect(await breachNotices()).toEqual([]);

    // The cancel raced a job already running: the handler itself refuses the old version, and
    // schedules no later step of it.
    await t.db.updateTable('timers').set({ state: 'enqueued', cancelled_at: null }).where('id', '=', v1Breach!.id).execute();
    await fire(v1Breach!.id);
    expect(await timerState(v1Breach!.id)).toBe('fired');
    expect(await breachNotices()).toEqual([]);
    expect((await timersOf(ticket.id)).filter((x) => x.job_id.endsWith('-v1') && x.state === 'pending')).toEqual([]);
    const r = await row(ticket.id);
    expect(r.response_breached_at).toBeNull();
    expect(r.escalation_level).toBe(0);
  });

  it('a timer for a clock that stopped (acknowledged, on hold) does nothing', async () => {
    clock(T0);
    const pm = user(A, 'propertyManager');
    const ticket = await open(user(A, 'owner'), { priority: 'P1', category: 'elevator', title: '电梯门不关' });
    const v1 = await activeSlaTimers(ticket.id);
    const warning = v1.find((x) => x.kind === 'sla.warning' && targetOf(x) === 'response')!;
    clock(plus(T0, 5 * MIN));
    await mustMove(pm, ticket.id, 'acknowledged');
    // Responded: no response timers any more.
    expect((await activeSlaTimers(ticket.id)).some((x) => (x.payload as { target: string }).target === 'response')).toBe(false);
    clock(plus(T0, 16 * MIN));
    await t.db.updateTable('timers').set({ state: 'enqueued', cancelled_at: null }).where('id', '=', warning.id).execute();
    await fire(warning.id);
    expect(await slaNotices(ticket.ref)).toEqual([]);

    // Even a response timer of the current version does nothing once the ticket was acknowledged.
    const version = (await row(ticket.id)).sla_version;
    const jobId = `sla-breach-response-${ticket.id}-v${version}-test`;
    await t.db.transaction().execute((trx) =>
      scheduleTimer(trx, { kind: 'sla.breach', subjectId: ticket.id, communityId: A.community.id, dueAt: plus(T0, 15 * MIN), jobId, payload: { ticketId: ticket.id, target: 'response', version } }),
    );
    const synthetic = (await timersOf(ticket.id)).find((x) => x.job_id === jobId)!;
    await fire(synthetic.id);
    expect(await timerState(synthetic.id)).toBe('fired');
    expect(await slaNotices(ticket.ref)).toEqual([]);
    let r = await row(ticket.id);
    expect(r.response_breached_at).toBeNull();
    expect(r.escalation_level).toBe(0);

    // On hold: a resolution timer of the current version does nothing either.
    await mustMove(pm, ticket.id, 'in_progress');
    clock(plus(T0, 20 * MIN));
    await mustMove(pm, ticket.id, 'on_hold', 'awaiting_parts');
    const v = (await row(ticket.id)).sla_version;
    const holdJob = `sla-breach-resolution-${ticket.id}-v${v}-test`;
    await t.db.transaction().execute((trx) =>
      scheduleTimer(trx, { kind: 'sla.breach', subjectId: ticket.id, communityId: A.community.id, dueAt: plus(T0, 4 * HOUR), jobId: holdJob, payload: { ticketId: ticket.id, target: 'resolution', version: v } }),
    );
    clock(plus(T0, 5 * HOUR));
    await fire((await timersOf(ticket.id)).find((x) => x.job_id === holdJob)!.id);
    expect(await slaNotices(ticket.ref)).toEqual([]);
    r = await row(ticket.id);
    expect(r.resolution_breached_at).toBeNull();
    expect(r.escalation_level).toBe(0);
  });

  it('re-planning after a hold does not announce a warning or breach again; the ladder goes on from where it was', async () => {
    clock(T0);
    const pm = user(A, 'propertyManager');
    const ticket = await open(user(A, 'owner'), { priority: 'P1', category: 'elevator', title: '电梯停运' });
    // Fires what is due, and the steps that firing schedules when they are due too.
    const fireDue = async () => {
      for (;;) {
        const due = (await activeSlaTimers(ticket.id)).filter((x) => x.due_at.getTime() <= Date.now());
        if (due.length === 0) return;
        for (const x of due) await fire(x.id);
      }
    };
    const announced = async () => (await slaNotices(ticket.ref)).map((n) => `${n.stage}/${n.target}`).sort();
    clock(plus(T0, 5 * MIN));
    await mustMove(pm, ticket.id, 'acknowledged');
    await mustMove(pm, ticket.id, 'in_progress');
    clock(plus(T0, 4 * HOUR + 1_000));
    await fireDue();
    expect(await announced()).toEqual(['breach/resolution', 'warning/resolution']);
    expect((await row(ticket.id)).escalation_level).toBe(1);

    clock(plus(T0, 5 * HOUR));
    await mustMove(pm, ticket.id, 'on_hold', 'awaiting_access');
    await fireDue();
    clock(plus(T0, 6 * HOUR));
    await mustMove(pm, ticket.id, 'in_progress');
    await fireDue();
    expect(await announced()).toEqual(['breach/resolution', 'warning/resolution']);

    // The committee hears a (24 h) day after the breach, plus the hour on hold.
    const committee = (await activeSlaTimers(ticket.id)).find((x) => x.kind === 'sla.escalate-committee');
    expect(committee?.due_at.toISOString()).toBe(plus(T0, 29 * HOUR).toISOString());
    clock(plus(T0, 29 * HOUR + 1_000));
    await fireDue();
    expect(await announced()).toEqual(['breach/resolution', 'escalate-committee/resolution', 'escalate-committee/resolution', 'warning/resolution']);
    expect((await row(ticket.id)).escalation_level).toBe(2);
  });

  it('auto-close fires only while the ticket is still resolved with the same resolved_at', async () => {
    clock(T0);
    const owner = user(A, 'owner');
    const pm = user(A, 'propertyManager');
    const autoCloseTimers = async (id: string) => (await timersOf(id)).filter((x) => x.kind === 'ticket.auto-close');

    // 1. Nobody confirms: it closes itself, as the system.
    const quiet = await open(owner, { title: '信箱门坏了' });
    await mustMove(pm, quiet.id, 'acknowledged');
    await mustMove(pm, quiet.id, 'in_progress');
    clock(plus(T0, HOUR));
    await mustMove(pm, quiet.id, 'resolved');
    const [timer] = await autoCloseTimers(quiet.id);
    clock(plus(timer!.due_at, -HOUR));
    await fire(timer!.id);
    expect((await row(quiet.id)).status).toBe('resolved');
    clock(plus(timer!.due_at, 1_000));
    await fire(timer!.id);
    const closed = await row(quiet.id);
    expect(closed.status).toBe('closed');
    expect(closed.closed_at?.toISOString()).toBe(plus(timer!.due_at, 1_000).toISOString());
    const audit = await t.db.selectFrom('audit_events').selectAll().where('entity_id', '=', quiet.id).where('action', '=', 'ticket.closed').executeTakeFirstOrThrow();
    expect(audit.actor_user_id).toBeNull();

    // 2. Reopened and resolved again: the first timer is out of date, the second one closes.
    clock(T0);
    const again = await open(owner, { title: '晾衣杆松动' });
    await mustMove(pm, again.id, 'acknowledged');
    await mustMove(pm, again.id, 'in_progress');
    clock(plus(T0, HOUR));
    await mustMove(pm, again.id, 'resolved');
    clock(plus(T0, 2 * HOUR));
    await mustMove(owner, again.id, 'reopened');
    const [first] = await autoCloseTimers(again.id);
    clock(plus(first!.due_at, 1_000));
    await fire(first!.id);
    expect((await row(again.id)).status).toBe('reopened');
    clock(plus(T0, 3 * HOUR));
    await mustMove(pm, again.id, 'in_progress');
    clock(plus(T0, 4 * HOUR));
    await mustMove(pm, again.id, 'resolved');
    const timers = await autoCloseTimers(again.id);
    expect(timers).toHaveLength(2);
    const second = timers.find((x) => x.id !== first!.id)!;
    expect(second.state).toBe('pending');
    // The first timer (if it were still due) would not close the newer resolution.
    await t.db.updateTable('timers').set({ state: 'enqueued' }).where('id', '=', first!.id).execute();
    clock(plus(first!.due_at, 1_000));
    await fire(first!.id);
    expect((await row(again.id)).status).toBe('resolved');
    clock(plus(second.due_at, 1_000));
    await fire(second.id);
    expect((await row(again.id)).status).toBe('closed');

    // 3. Confirmed by the reporter: the timer is cancelled and would do nothing anyway.
    clock(T0);
    const confirmed = await open(owner, { title: '垃圾房门锁坏' });
    await mustMove(pm, confirmed.id, 'acknowledged');
    await mustMove(pm, confirmed.id, 'in_progress');
    await mustMove(pm, confirmed.id, 'resolved');
    clock(plus(T0, HOUR));
    await mustMove(owner, confirmed.id, 'closed');
    const [t3] = await autoCloseTimers(confirmed.id);
    expect(t3!.state).toBe('cancelled');
    const closedAt = (await row(confirmed.id)).closed_at;
    clock(plus(t3!.due_at, 1_000));
    await fire(t3!.id);
    expect((await row(confirmed.id)).closed_at?.toISOString()).toBe(closedAt?.toISOString());
  });
});

// ---------------------------------------------------------------------------------------------
// Facility status follows open faults
// ---------------------------------------------------------------------------------------------

describe('facility status', () => {
  it('stays faulty until every fault on it is done; under repair while one is in progress', async () => {
    const pm = user(A, 'propertyManager');
    const lift = await makeFacility(t.db, A.community.id, 'elevator');
    expect(await facilityStatus(lift.id)).toBe('operational');
    const one = await open(pm, { facilityId: lift.id, title: '电梯按钮失灵' });
    expect(one.category).toBe('elevator');
    expect(await facilityStatus(lift.id)).toBe('faulty');
    const two = await open(user(A, 'owner'), { facilityId: lift.id, title: '电梯异响' });
    expect(await facilityStatus(lift.id)).toBe('faulty');

    const steps: Array<[string, string, string | undefined, string]> = [
      [one.id, 'acknowledged', undefined, 'faulty'],
      [one.id, 'in_progress', undefined, 'under_repair'],
      [two.id, 'acknowledged', undefined, 'under_repair'],
      [one.id, 'on_hold', 'awaiting_parts', 'faulty'],
      [one.id, 'in_progress', undefined, 'under_repair'],
      [one.id, 'resolved', undefined, 'faulty'],
      [two.id, 'cancelled', 'same fault as the other one', 'operational'],
      [one.id, 'reopened', undefined, 'faulty'],
      [one.id, 'in_progress', undefined, 'under_repair'],
      [one.id, 'resolved', undefined, 'operational'],
      [one.id, 'closed', undefined, 'operational'],
    ];
    for (const [id, to, reason, status] of steps) {
      await mustMove(pm, id, to, reason);
      expect(await facilityStatus(lift.id), `${id === one.id ? 'one' : 'two'} → ${to}`).toBe(status);
    }
    const changes = await t.db.selectFrom('audit_events').select('after').where('entity_id', '=', lift.id).where('action', '=', 'facility.status_changed').orderBy('id').execute();
    expect(changes.map((c) => (c.after as { status: string }).status)).toEqual(['faulty', 'under_repair', 'faulty', 'under_repair', 'faulty', 'operational', 'faulty', 'under_repair', 'operational']);
  });

  it('parallel creations on one facility: it turns faulty once, each ticket is audited with its ref, the chain verifies', async () => {
    const pm = user(A, 'propertyManager');
    const gate = await makeFacility(t.db, A.community.id, 'face_gate');
    // One statement per creation, no transaction: each reads the facility operational, and all
    // but the first to lock it must see their guard fail and read again.
    const tickets = await Promise.all(Array.from({ length: 8 }, (_, i) => open(i % 2 ? pm : user(A, 'owner'), { facilityId: gate.id, title: `人脸闸机故障 ${i}` })));
    expect(await facilityStatus(gate.id)).toBe('faulty');
    const changes = await t.db.selectFrom('audit_events').select(['before', 'after']).where('entity_id', '=', gate.id).where('action', '=', 'facility.status_changed').execute();
    expect(changes).toHaveLength(1);
    expect(changes[0]?.before).toEqual({ status: 'operational' });
    const created = await t.db.selectFrom('audit_events').select(['entity_id', 'after']).where('action', '=', 'ticket.created').where('entity_id', 'in', tickets.map((x) => x.id)).execute();
    expect(created).toHaveLength(8);
    for (const tk of tickets) {
      const row = await t.db.selectFrom('tickets').select(['ref']).where('id', '=', tk.id).executeTakeFirstOrThrow();
      expect((created.find((c) => c.entity_id === tk.id)?.after as { ref: number }).ref).toBe(row.ref);
    }
    const timers = await t.db.selectFrom('timers').select((eb) => eb.fn.countAll<string>().as('n')).where('subject_id', 'in', tickets.map((x) => x.id)).executeTakeFirstOrThrow();
    expect(Number(timers.n)).toBeGreaterThan(0);
    expect(await verifyChain(t.db, A.community.id.toLowerCase())).toMatchObject({ ok: true });
  });
});

// ---------------------------------------------------------------------------------------------
// Comments and rating
// ---------------------------------------------------------------------------------------------

describe('comments and rating', () => {
  it('internal comments are hidden from the reporter, who cannot post one', async () => {
    const owner = user(A, 'owner');
    const pm = user(A, 'propertyManager');
    const ticket = await open(owner, { title: '屋顶漏水' });
    const post = (who: Client, body: string, internal?: boolean) =>
      who({ method: 'POST', url: `${API}/tickets/${ticket.id}/comments`, payload: { body, ...(internal !== undefined ? { internal } : {}) } });
    expect((await post(pm, '已派维修工明天上门')).statusCode).toBe(201);
    expect((await post(pm, '内部：这户上次投诉过', true)).statusCode).toBe(201);
    expect((await post(owner, '明天上午在家')).statusCode).toBe(201);
    const denied = await post(owner, '我也想写内部的', true);
    expect(denied.statusCode).toBe(403);
    expect((await post(owner, '')).statusCode).toBe(400);

    const asOwner = (await owner({ method: 'GET', url: `${API}/tickets/${ticket.id}` })).json();
    expect(asOwner.comments.map((c: { body: string }) => c.body)).toEqual(['已派维修工明天上门', '明天上午在家']);
    expect(JSON.stringify(asOwner)).not.toContain('上次投诉');
    const asStaff = (await pm({ method: 'GET', url: `${API}/tickets/${ticket.id}` })).json();
    expect(asStaff.comments.map((c: { body: string; internal: boolean }) => [c.body, c.internal])).toEqual([
      ['已派维修工明天上门', false],
      ['内部：这户上次投诉过', true],
      ['明天上午在家', false],
    ]);
    const count = await t.db.selectFrom('ticket_comments').select('id').where('ticket_id', '=', ticket.id).execute();
    expect(count).toHaveLength(3);
  });

  it('rating: only when closed, once, only by the reporter', async () => {
    const owner = user(A, 'owner');
    const pm = user(A, 'propertyManager');
    const ticket = await open(owner, { title: '车库照明坏了' });
    const rate = (who: Client, score: number, comment?: string) => who({ method: 'POST', url: `${API}/tickets/${ticket.id}/rating`, payload: { score, ...(comment ? { comment } : {}) } });
    expect((await rate(owner, 5)).statusCode).toBe(409);
    await mustMove(pm, ticket.id, 'acknowledged');
    await mustMove(pm, ticket.id, 'in_progress');
    await mustMove(pm, ticket.id, 'resolved');
    expect((await rate(owner, 5)).statusCode).toBe(409);
    await mustMove(owner, ticket.id, 'closed');
    expect((await rate(owner, 0)).statusCode).toBe(400);
    expect((await rate(owner, 6)).statusCode).toBe(400);
    expect((await rate(pm, 5)).statusCode).toBe(403);
    expect((await rate(user(A, 'committeeMember'), 5)).statusCode).toBe(403);
    expect((await rate(user(B, 'owner'), 1)).statusCode).toBe(404);
    const ok = await rate(owner, 4, '修得很快');
    expect(ok.statusCode, ok.body).toBe(200);
    expect(ok.json().rating).toBe(4);
    const second = await rate(owner, 1);
    expect(second.statusCode).toBe(409);
    const r = await row(ticket.id);
    expect([r.rating, r.rating_comment]).toEqual([4, '修得很快']);
  });
});

// ---------------------------------------------------------------------------------------------
// Lists: filters, Chinese search, cursor pagination
// ---------------------------------------------------------------------------------------------

describe('ticket lists', () => {
  let C: CommunityWorld;
  const ids = { lift: '', trapped: '', camera: '', lawn: '', privateLeak: '', lamp: '', done: '' };
  let all: string[] = [];

  beforeAll(async () => {
    C = await makeCommunityWorld(t.db, { district: `C-${Date.now()}`, platformAdmin: w.admin });
    const owner = user(C, 'owner');
    const pm = user(C, 'propertyManager');
    const lift = await makeFacility(t.db, C.community.id, 'elevator');
    ids.lift = lift.id;
    ids.trapped = (await open(owner, { title: '3号电梯困人', priority: 'P1', facilityId: lift.id }, C)).id;
    ids.camera = (await open(pm, { title: '东门摄像机离线', priority: 'P2', facilityId: C.facility.id }, C)).id;
    ids.lawn = (await open(pm, { title: '绿化带积水', priority: 'P3', category: 'drainage' }, C)).id;
    await pm({ method: 'PATCH', url: `${API}/tickets/${ids.lawn}`, payload: { assigneeUserId: C.users.technician.id } });
    ids.privateLeak = (await open(owner, { title: '卫生间漏水', priority: 'P4', category: 'other', isPublic: false }, C)).id;
    await mustMove(pm, ids.privateLeak, 'cancelled', '户内问题，业主自行处理');
    ids.lamp = (await open(pm, { title: '路灯不亮 100% 黑', priority: 'P3', category: 'lighting' }, C)).id;
    ids.done = (await open(pm, { title: '门禁卡读不出', priority: 'P3', category: 'access_control', description: '电梯厅旁的门禁' }, C)).id;
    for (const to of ['acknowledged', 'in_progress', 'resolved']) await mustMove(pm, ids.done, to);
    // Overdue: opened 30 days ago, targets recomputed (priority round trip).
    await t.db.updateTable('tickets').set({ opened_at: new Date(Date.now() - 30 * 86_400_000) }).where('id', '=', ids.lamp).execute();
    for (const priority of ['P4', 'P3']) await pm({ method: 'PATCH', url: `${API}/tickets/${ids.lamp}`, payload: { priority } });
    // A dozen more opened in the same instant: equal due times, tie broken by id.
    vi.useFakeTimers({ toFake: ['Date'] });
    try {
      vi.setSystemTime(new Date());
      for (let i = 0; i < 12; i++) await open(pm, { title: `批量工单 ${i}`, priority: i % 2 ? 'P2' : 'P3', category: 'other' }, C);
    } finally {
      vi.useRealTimers();
    }
    all = (await t.db.selectFrom('tickets').select('id').where('community_id', '=', C.community.id).execute()).map((r) => r.id);
    expect(all).toHaveLength(18);
  });

  async function list(who: Client, query: string) {
    const res = await who({ method: 'GET', url: `${API}/tickets?communityId=${C.community.id}&limit=200&${query}` });
    expect(res.statusCode, res.body).toBe(200);
    return (res.json().items as Array<{ id: string }>).map((x) => x.id).sort();
  }

  it('filters by status, category, priority, overdue, assignee, reporter and facility', async () => {
    const pm = user(C, 'propertyManager');
    const sorted = (...xs: string[]) => [...xs].sort();
    const open = await list(pm, 'status=open');
    expect(open).toEqual(sorted(...all.filter((id) => id !== ids.privateLeak && id !== ids.done)));
    expect(await list(pm, 'status=resolved,cancelled')).toEqual(sorted(ids.done, ids.privateLeak));
    expect(await list(pm, 'category=elevator')).toEqual([ids.trapped]);
    expect(await list(pm, 'category=drainage')).toEqual([ids.lawn]);
    expect(await list(pm, 'priority=P1')).toEqual([ids.trapped]);
    expect(await list(pm, 'overdue=true')).toEqual([ids.lamp]);
    expect(await list(user(C, 'technician'), 'assigneeUserId=me')).toEqual([ids.lawn]);
    expect(await list(pm, `assigneeUserId=${C.users.technician.id}`)).toEqual([ids.lawn]);
    expect(await list(user(C, 'owner'), 'reporter=me')).toEqual(sorted(ids.trapped, ids.privateLeak));
    expect(await list(pm, `facilityId=${ids.lift}`)).toEqual([ids.trapped]);
    expect(await list(pm, `assigneeOrgId=${C.orgs.contractor.id}`)).toEqual([ids.camera]);
    expect(await list(pm, 'category=elevator&priority=P2')).toEqual([]);
    const bad = await pm({ method: 'GET', url: `${API}/tickets?status=open,done` });
    expect(bad.statusCode).toBe(400);
    expect((await pm({ method: 'GET', url: `${API}/tickets?priority=P9` })).statusCode).toBe(400);
  });

  it('searches Chinese text in title and description, with LIKE characters taken literally', async () => {
    const pm = user(C, 'propertyManager');
    expect(await list(pm, `q=${encodeURIComponent('电梯')}`)).toEqual([ids.trapped, ids.done].sort());
    expect(await list(pm, `q=${encodeURIComponent('电梯困人')}`)).toEqual([ids.trapped]);
    expect(await list(pm, `q=${encodeURIComponent('3号电梯')}`)).toEqual([ids.trapped]);
    expect(await list(pm, `q=${encodeURIComponent('摄像机')}`)).toEqual([ids.camera]);
    expect(await list(pm, `q=${encodeURIComponent('100%')}`)).toEqual([ids.lamp]);
    expect(await list(pm, `q=${encodeURIComponent('%')}`)).toEqual([ids.lamp]);
    expect(await list(pm, `q=${encodeURIComponent('_')}`)).toEqual([]);
    expect(await list(pm, `q=${encodeURIComponent('\\')}`)).toEqual([]);
    expect(await list(pm, `q=${encodeURIComponent("'; DROP TABLE tickets; --")}`)).toEqual([]);
    expect(await list(pm, `q=${encodeURIComponent('火警')}`)).toEqual([]);
  });

  it.each(['created', 'due'] as const)('cursor pagination (sort=%s) walks every ticket exactly once, in order', async (sort) => {
    const pm = user(C, 'propertyManager');
    const seen: Array<{ id: string; createdAt: string; resolveBy: string | null }> = [];
    let cursor: string | null = null;
    let pages = 0;
    do {
      const res = await pm({ method: 'GET', url: `${API}/tickets?communityId=${C.community.id}&limit=4&sort=${sort}${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ''}` });
      expect(res.statusCode, res.body).toBe(200);
      const page = res.json();
      expect(page.items.length).toBeLessThanOrEqual(4);
      seen.push(...page.items);
      cursor = page.nextCursor;
      pages++;
      expect(pages).toBeLessThan(20);
    } while (cursor);
    expect(seen).toHaveLength(all.length);
    expect(new Set(seen.map((x) => x.id)).size).toBe(all.length);
    expect(seen.map((x) => x.id).sort()).toEqual([...all].sort());
    // The order the keyset promises.
    const rows = await t.db.selectFrom('tickets').select(['id', 'created_at', 'resolve_by']).where('community_id', '=', C.community.id).execute();
    const expected =
      sort === 'created'
        ? rows.sort((a, b) => b.created_at.getTime() - a.created_at.getTime() || (a.id < b.id ? 1 : -1))
        : rows.sort((a, b) => (a.resolve_by?.getTime() ?? Infinity) - (b.resolve_by?.getTime() ?? Infinity) || (a.id < b.id ? -1 : 1));
    expect(seen.map((x) => x.id)).toEqual(expected.map((r) => r.id));
  });

  it('a bad cursor is a 400', async () => {
    const pm = user(C, 'propertyManager');
    const b64 = (v: unknown) => Buffer.from(JSON.stringify(v)).toString('base64url');
    for (const cursor of ['garbage', b64({ k: 'yesterday', id: '00000000-0000-4000-8000-000000000000' }), b64({ k: new Date().toISOString(), id: "x' OR 1=1" }), b64([1, 2]), b64('x')]) {
      const res = await pm({ method: 'GET', url: `${API}/tickets?cursor=${encodeURIComponent(cursor)}` });
      expect(res.statusCode, cursor).toBe(400);
      expect(res.json().error.code).toBe('VALIDATION_ERROR');
    }
  });
});
