import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { resolveDutyHolder, type AssignmentFact } from '../src/modules/duties/duty-resolution.js';
import { contractReminderTimers } from '../src/modules/duties/duties.timers.js';
import { createTestApp, type TestApp } from './helpers/app.js';
import { as, makeCommunity, makeOrg, makeTwoWorlds, makeUser } from './helpers/factories.js';

const DAY = 86_400_000;
const at = new Date('2026-06-01T00:00:00Z');
const fact = (over: Partial<AssignmentFact>): AssignmentFact => ({
  id: over.id ?? 'a',
  organizationId: over.organizationId ?? 'org',
  organizationName: over.organizationName ?? 'Org',
  organizationKind: over.organizationKind ?? 'property_company',
  facilityCategory: over.facilityCategory ?? null,
  basis: over.basis ?? 'service_contract',
  validFrom: over.validFrom ?? new Date('2026-01-01T00:00:00Z'),
  validTo: over.validTo ?? null,
});

describe('duty resolution (pure)', () => {
  const company = fact({ id: 'company', organizationId: 'company' });
  const cameras = fact({ id: 'cams', organizationId: 'contractor', organizationKind: 'contractor', basis: 'delegated_contractor', facilityCategory: 'camera' });
  const committees = [
    { organizationId: 'rc', organizationName: '居委会', kind: 'residents_committee' as const },
    { organizationId: 'oc', organizationName: '业委会', kind: 'owners_committee' as const },
  ];

  it('prefers the most specific active assignment', () => {
    expect(resolveDutyHolder([company, cameras], committees, 'camera', at)?.organizationId).toBe('contractor');
    expect(resolveDutyHolder([company, cameras], committees, 'elevator', at)?.organizationId).toBe('company');
    expect(resolveDutyHolder([company, cameras], committees, null, at)?.organizationId).toBe('company');
  });

  it('ignores assignments not active at that time', () => {
    const ended = fact({ id: 'old', validTo: new Date('2026-05-01T00:00:00Z') });
    const future = fact({ id: 'future', validFrom: new Date('2026-07-01T00:00:00Z') });
    expect(resolveDutyHolder([ended, future], [], null, at)).toBeNull();
    expect(resolveDutyHolder([ended, future], [], null, new Date('2026-04-01T00:00:00Z'))?.source).toBe('assignment');
  });

  it('falls back to the owners’ committee, then the property management committee, then the residents’ committee', () => {
    expect(resolveDutyHolder([], committees, null, at)).toMatchObject({ source: 'fallback', organizationId: 'oc' });
    expect(resolveDutyHolder([], committees.slice(0, 1), null, at)).toMatchObject({ source: 'fallback', organizationId: 'rc' });
    expect(resolveDutyHolder([], [], null, at)).toBeNull();
  });

  it('picks the most recently started of equally specific assignments', () => {
    const newer = fact({ id: 'newer', organizationId: 'newer', validFrom: new Date('2026-03-01T00:00:00Z') });
    expect(resolveDutyHolder([company, newer], [], null, at)?.organizationId).toBe('newer');
  });
});

describe('contract reminder timers (pure)', () => {
  const now = new Date('2026-06-01T00:00:00Z');
  it('schedules 30 and 7 days before the end', () => {
    const validTo = new Date(now.getTime() + 100 * DAY);
    const specs = contractReminderTimers({ id: 'd1', communityId: 'c1', validTo }, now);
    expect(specs.map((s) => s.payload.daysBefore)).toEqual([30, 7]);
    expect(specs.map((s) => s.dueAt.getTime())).toEqual([validTo.getTime() - 30 * DAY, validTo.getTime() - 7 * DAY]);
    expect(new Set(specs.map((s) => s.jobId)).size).toBe(2);
    for (const s of specs) expect(s.jobId).not.toMatch(/:/);
  });
  it('sends one reminder now when the contract is already inside its last window, none when ended or open-ended', () => {
    const soon = contractReminderTimers({ id: 'd1', communityId: 'c1', validTo: new Date(now.getTime() + 3 * DAY) }, now);
    expect(soon).toHaveLength(1);
    expect(soon[0]?.dueAt.getTime()).toBe(now.getTime());
    expect(contractReminderTimers({ id: 'd1', communityId: 'c1', validTo: new Date(now.getTime() - DAY) }, now)).toEqual([]);
    expect(contractReminderTimers({ id: 'd1', communityId: 'c1', validTo: null }, now)).toEqual([]);
  });
  it('a new end date gives new job ids (the old reminders no longer apply)', () => {
    const a = contractReminderTimers({ id: 'd1', communityId: 'c1', validTo: new Date(now.getTime() + 100 * DAY) }, now);
    const b = contractReminderTimers({ id: 'd1', communityId: 'c1', validTo: new Date(now.getTime() + 101 * DAY) }, now);
    expect(a.map((s) => s.jobId)).not.toEqual(b.map((s) => s.jobId));
  });
});

describe('duties API', () => {
  let t: TestApp;
  let w: Awaited<ReturnType<typeof makeTwoWorlds>>;
  beforeAll(async () => {
    t = await createTestApp();
    w = await makeTwoWorlds(t.db);
  });
  afterAll(async () => t?.close());
  const api = (userId: string) => {
    const call = as(t.app, userId);
    return (method: 'GET' | 'POST' | 'PATCH', url: string, payload?: unknown) => call({ method, url: `/api/v1${url}`, ...(payload === undefined ? {} : { payload: payload as object }) });
  };

  it('assigns a duty, schedules its reminders and resolves the holder', async () => {
    const chair = api(w.a.users.committeeChair.id);
    const company2 = await makeOrg(t.db, 'property_company', { name: '新物业' });
    const validTo = new Date(Date.now() + 90 * DAY);
    const res = await chair('POST', `/communities/${w.a.community.id}/duties`, { organizationId: company2.id, basis: 'service_contract', facilityCategory: 'elevator', validTo: validTo.toISOString() });
    expect(res.statusCode).toBe(201);
    const duty = res.json();
    expect(duty).toMatchObject({ organizationId: company2.id, basis: 'service_contract', facilityCategory: 'elevator', active: true });

    const timers = await t.db.selectFrom('timers').selectAll().where('subject_id', '=', duty.id).orderBy('due_at').execute();
    expect(timers.map((x) => [x.kind, x.state, x.due_at.getTime()])).toEqual([
      ['duty.contract-ending', 'pending', validTo.getTime() - 30 * DAY],
      ['duty.contract-ending', 'pending', validTo.getTime() - 7 * DAY],
    ]);
    const audit = await t.db.selectFrom('audit_events').select('action').where('entity_id', '=', duty.id).execute();
    expect(audit.map((a) => a.action)).toEqual(['duty.assigned']);

    const holder = await chair('GET', `/communities/${w.a.community.id}/duty-holder?category=elevator`);
    expect(holder.json()).toMatchObject({ gap: false, holder: { source: 'assignment', organizationId: company2.id, basis: 'service_contract' } });
    const general = await chair('GET', `/communities/${w.a.community.id}/duty-holder`);
    expect(general.json().holder.organizationId).toBe(w.a.orgs.company.id);
  });

  it('moving the end date replaces the reminders; ending the duty cancels them', async () => {
    const chair = api(w.a.users.committeeChair.id);
    const contractor = await makeOrg(t.db, 'contractor');
    const res = await chair('POST', `/communities/${w.a.community.id}/duties`, { organizationId: contractor.id, basis: 'delegated_contractor', facilityCategory: 'intercom', validTo: new Date(Date.now() + 60 * DAY).toISOString() });
    const id = res.json().id as string;
    const later = new Date(Date.now() + 120 * DAY);
    const patched = await chair('PATCH', `/duties/${id}`, { validTo: later.toISOString() });
    expect(patched.statusCode).toBe(200);
    expect(patched.json().validTo).toBe(later.toISOString());
    const open = await t.db.selectFrom('timers').selectAll().where('subject_id', '=', id).where('state', '=', 'pending').execute();
    expect(open.map((x) => x.due_at.getTime()).sort()).toEqual([later.getTime() - 30 * DAY, later.getTime() - 7 * DAY]);
    const cancelled = await t.db.selectFrom('timers').select('id').where('subject_id', '=', id).where('state', '=', 'cancelled').execute();
    expect(cancelled).toHaveLength(2);

    const ended = await chair('PATCH', `/duties/${id}`, { validTo: new Date(Date.now() + 1000).toISOString() });
    expect(ended.statusCode).toBe(200);
    // Ends in a second: inside the last window, so exactly one reminder now.
    const afterEnd = await t.db.selectFrom('timers').selectAll().where('subject_id', '=', id).where('state', '=', 'pending').execute();
    expect(afterEnd).toHaveLength(1);
  });

  it('refuses a holder of the wrong kind, a bad date range, and a manager appointing a company', async () => {
    const chair = api(w.a.users.committeeChair.id);
    const contractor = await makeOrg(t.db, 'contractor');
    const wrongKind = await chair('POST', `/communities/${w.a.community.id}/duties`, { organizationId: contractor.id, basis: 'service_contract' });
    expect(wrongKind.statusCode).toBe(422);
    expect(wrongKind.json().error.code).toBe('RULE_VIOLATION');
    const badRange = await chair('POST', `/communities/${w.a.community.id}/duties`, {
      organizationId: contractor.id,
      basis: 'delegated_contractor',
      validFrom: '2026-06-01T00:00:00Z',
      validTo: '2026-05-01T00:00:00Z',
    });
    expect(badRange.statusCode).toBe(400);
    const otherCommittee = await chair('POST', `/communities/${w.a.community.id}/duties`, { organizationId: w.b.orgs.committee.id, basis: 'fallback_committee' });
    expect(otherCommittee.statusCode).toBe(422);
    const company2 = await makeOrg(t.db, 'property_company');
    const pm = await api(w.a.users.propertyManager.id)('POST', `/communities/${w.a.community.id}/duties`, { organizationId: company2.id, basis: 'service_contract' });
    expect(pm.statusCode).toBe(403);
    const pmPatchCompany = await api(w.a.users.propertyManager.id)('GET', `/communities/${w.a.community.id}/duties`);
    const companyDuty = (pmPatchCompany.json().items as Array<{ id: string; basis: string }>).find((d) => d.basis === 'service_contract') as { id: string };
    const refused = await api(w.a.users.propertyManager.id)('PATCH', `/duties/${companyDuty.id}`, { validTo: null });
    expect(refused.statusCode).toBe(403);
    const unknownOrg = await chair('POST', `/communities/${w.a.community.id}/duties`, { organizationId: '00000000-0000-4000-8000-000000000000', basis: 'delegated_contractor' });
    expect(unknownOrg.statusCode).toBe(404);
  });

  it('reports duty gaps among the communities I may see, and the committee fallback', async () => {
    const admin = api(w.admin.id);
    const lonely = await makeCommunity(t.db, { district: 'Nowhere' });
    const withCommittee = await makeCommunity(t.db, { district: 'Nowhere' });
    await makeOrg(t.db, 'residents_committee', { communityId: withCommittee.id });
    const gaps = await admin('GET', '/reports/duty-gaps');
    const ids = (gaps.json().items as Array<{ communityId: string }>).map((g) => g.communityId);
    expect(ids).toContain(lonely.id);
    expect(ids).not.toContain(withCommittee.id);
    expect(ids).not.toContain(w.a.community.id);
    const fallback = await admin('GET', `/communities/${withCommittee.id}/duty-holder`);
    expect(fallback.json()).toMatchObject({ gap: false, holder: { source: 'fallback', organizationKind: 'residents_committee' } });
    const gap = await admin('GET', `/communities/${lonely.id}/duty-holder`);
    expect(gap.json()).toMatchObject({ gap: true, holder: null });

    // An authority of that district sees the gap; a manager elsewhere does not.
    const authority = await makeOrg(t.db, 'authority', { district: 'Nowhere' });
    const viewer = await makeUser(t.db);
    await t.db.insertInto('memberships').values({ user_id: viewer.id, organization_id: authority.id, role: 'viewer' }).execute();
    const seen = await api(viewer.id)('GET', '/reports/duty-gaps');
    expect((seen.json().items as Array<{ communityId: string }>).map((g) => g.communityId)).toEqual([lonely.id]);
    const notSeen = await api(w.a.users.propertyManager.id)('GET', '/reports/duty-gaps');
    expect((notSeen.json().items as Array<{ communityId: string }>).map((g) => g.communityId)).not.toContain(lonely.id);
  });
});
