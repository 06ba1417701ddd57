import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { chinaHolidayCoverage, defaultCalendar, type BusinessCalendar } from '../src/modules/calendars/business-calendar.js';
import { describeDay } from '../src/modules/calendars/calendars.service.js';
import { DEFAULT_SETTINGS } from '../src/modules/communities/settings.js';
import { DEFAULT_SLA_TARGETS } from '../src/modules/tickets/sla.js';
import { loadSlaContext } from '../src/modules/tickets/sla.service.js';
import { createTestApp, type TestApp } from './helpers/app.js';
import { as, makeCommunity, makeTwoWorlds } from './helpers/factories.js';

type Method = 'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE';

const CALENDAR = {
  workingHours: [
    { start: '13:30', end: '18:00' },
    { start: '08:30', end: '12:00' },
  ],
  weekendDays: [6, 0],
  useChinaHolidays: true,
  overrides: [
    { date: '2026-12-31', kind: 'holiday' },
    { date: '2026-12-26', kind: 'workday' },
  ],
};

describe('describeDay (pure)', () => {
  const cal = defaultCalendar();
  it('names the rule that decided each day, with the precedence of isWorkingDay', () => {
    expect(describeDay(cal, '2025-09-27')).toEqual({ date: '2025-09-27', working: false, reason: 'weekend' });
    expect(describeDay(cal, '2025-09-28')).toMatchObject({ working: true, reason: 'makeup_workday' });
    expect(describeDay(cal, '2025-10-01')).toMatchObject({ working: false, reason: 'holiday', name: expect.stringContaining('国庆节') });
    expect(describeDay(cal, '2025-09-29')).toEqual({ date: '2025-09-29', working: true, reason: 'workday' });
    const overridden: BusinessCalendar = { ...cal, overrides: [{ date: '2025-10-01', kind: 'workday' }, { date: '2025-09-29', kind: 'holiday' }] };
    expect(describeDay(overridden, '2025-10-01')).toEqual({ date: '2025-10-01', working: true, reason: 'override' });
    expect(describeDay(overridden, '2025-09-29')).toEqual({ date: '2025-09-29', working: false, reason: 'override' });
    const plain: BusinessCalendar = { ...cal, useChinaHolidays: false };
    expect(describeDay(plain, '2025-10-01')).toEqual({ date: '2025-10-01', working: true, reason: 'workday' });
    expect(describeDay(plain, '2025-09-28')).toEqual({ date: '2025-09-28', working: false, reason: 'weekend' });
  });
});

describe('calendars, SLA policies and settings API', () => {
  let t: TestApp;
  let w: Awaited<ReturnType<typeof makeTwoWorlds>>;
  beforeAll(async () => {
    t = await createTestApp();
    w = await makeTwoWorlds(t.db);
  });
  afterAll(async () => t?.close());

  const api = (userId: string) => {
    const call = as(t.app, userId);
    return (method: Method, url: string, payload?: unknown) => call({ method, url: `/api/v1${url}`, ...(payload === undefined ? {} : { payload: payload as object }) });
  };
  /** A community of its own for a test (seen by the platform admin). */
  const freshCommunity = async () => (await makeCommunity(t.db)).id;
  const auditOf = (communityId: string, action: string) =>
    t.db.selectFrom('audit_events').selectAll().where('community_id', '=', communityId).where('action', '=', action).orderBy('seq').execute();

  describe('business calendar', () => {
    it('answers the default for the community’s time zone until one is set', async () => {
      const res = await api(w.a.users.owner.id)('GET', `/communities/${w.a.community.id}/calendar`);
      expect(res.statusCode).toBe(200);
      expect(res.json()).toEqual({
        communityId: w.a.community.id,
        isDefault: true,
        timeZone: 'Asia/Shanghai',
        workingHours: [{ start: '09:00', end: '18:00' }],
        weekendDays: [0, 6],
        useChinaHolidays: true,
        overrides: [],
        updatedAt: null,
        chinaHolidays: chinaHolidayCoverage(),
      });
      expect(res.json().chinaHolidays.firstYear).toBeLessThanOrEqual(2025);
      expect(res.json().chinaHolidays.lastYear).toBeGreaterThanOrEqual(2025);
    });

    it('stores a calendar (sorted), audits before and after, and the SLA clock uses it', async () => {
      const id = await freshCommunity();
      const admin = api(w.admin.id);
      const res = await admin('PUT', `/communities/${id}/calendar`, CALENDAR);
      expect(res.statusCode, res.body).toBe(200);
      const body = res.json();
      expect(body).toMatchObject({
        communityId: id,
        isDefault: false,
        timeZone: 'Asia/Shanghai',
        workingHours: [
          { start: '08:30', end: '12:00' },
          { start: '13:30', end: '18:00' },
        ],
        weekendDays: [0, 6],
        useChinaHolidays: true,
        overrides: [
          { date: '2026-12-26', kind: 'workday' },
          { date: '2026-12-31', kind: 'holiday' },
        ],
      });
      expect(Date.parse(body.updatedAt)).not.toBeNaN();
      expect((await admin('GET', `/communities/${id}/calendar`)).json()).toEqual(body);

      const ctx = await loadSlaContext(t.db, id);
      const expected: BusinessCalendar = {
        timeZone: body.timeZone,
        kind: 'working_hours',
        workingHours: body.workingHours,
        weekendDays: body.weekendDays,
        useChinaHolidays: body.useChinaHolidays,
        overrides: body.overrides,
      };
      expect(ctx.calendar).toEqual(expected);

      const [event] = await auditOf(id, 'calendar.updated');
      expect(event).toMatchObject({ actor_user_id: w.admin.id, entity_type: 'business_calendar', entity_id: id });
      expect(event?.before).toMatchObject({ isDefault: true, workingHours: [{ start: '09:00', end: '18:00' }] });
      expect(event?.after).toMatchObject({ isDefault: false, workingHours: body.workingHours, overrides: body.overrides });

      // A second PUT replaces the whole calendar; the time zone is kept unless given, and canonical when given.
      const again = await admin('PUT', `/communities/${id}/calendar`, { ...CALENDAR, overrides: [], useChinaHolidays: false });
      expect(again.json()).toMatchObject({ timeZone: 'Asia/Shanghai', overrides: [], useChinaHolidays: false });
      const berlin = await admin('PUT', `/communities/${id}/calendar`, { ...CALENDAR, timeZone: 'europe/berlin' });
      expect(berlin.statusCode, berlin.body).toBe(200);
      expect(berlin.json().timeZone).toBe('Europe/Berlin');
      expect((await loadSlaContext(t.db, id)).calendar.timeZone).toBe('Europe/Berlin');
      const events = await auditOf(id, 'calendar.updated');
      expect(events).toHaveLength(3);
      expect(events[2]?.before).toMatchObject({ isDefault: false, useChinaHolidays: false });
      expect(events[2]?.after).toMatchObject({ timeZone: 'Europe/Berlin' });
    });

    it('refuses bad calendars with 400 and the field at fault, storing nothing', async () => {
      const id = await freshCommunity();
      const admin = api(w.admin.id);
      const put = (over: Record<string, unknown>) => admin('PUT', `/communities/${id}/calendar`, { ...CALENDAR, ...over });
      const cases: Array<[string, Record<string, unknown>, string | null]> = [
        [
          'overlapping intervals',
          {
            workingHours: [
              { start: '09:00', end: '12:30' },
              { start: '12:00', end: '18:00' },
            ],
          },
          'workingHours',
        ],
        ['an interval that ends before it starts', { workingHours: [{ start: '18:00', end: '09:00' }] }, 'workingHours'],
        ['an empty interval', { workingHours: [{ start: '09:00', end: '09:00' }] }, 'workingHours'],
        ['a time past 24:00', { workingHours: [{ start: '09:00', end: '24:30' }] }, 'workingHours'],
        ['a malformed time', { workingHours: [{ start: '9:00', end: '18:00' }] }, null],
        ['no working interval', { workingHours: [] }, null],
        ['an unknown time zone', { timeZone: 'Mars/Olympus_Mons' }, 'timeZone'],
        [
          'a duplicate override date',
          {
            overrides: [
              { date: '2026-10-01', kind: 'workday' },
              { date: '2026-10-02', kind: 'holiday' },
              { date: '2026-10-01', kind: 'holiday' },
            ],
          },
          'overrides.2.date',
        ],
        ['an impossible date', { overrides: [{ date: '2026-02-30', kind: 'holiday' }] }, null],
        ['an unknown override kind', { overrides: [{ date: '2026-02-03', kind: 'party' }] }, null],
        ['a weekend day out of range', { weekendDays: [0, 7] }, null],
        ['a repeated weekend day', { weekendDays: [0, 0] }, null],
        ['a week with no working day', { weekendDays: [0, 1, 2, 3, 4, 5, 6] }, 'weekendDays'],
        ['too many overrides', { overrides: Array.from({ length: 1001 }, (_, i) => ({ date: new Date(Date.UTC(2030, 0, 1 + i)).toISOString().slice(0, 10), kind: 'holiday' })) }, null],
        ['an unknown property', { colour: 'red' }, null],
        ['a missing property', { useChinaHolidays: undefined }, null],
      ];
      for (const [what, over, field] of cases) {
        const res = await put(over);
        expect(res.statusCode, `${what}: ${res.body}`).toBe(400);
        const error = res.json().error;
        expect(error.code, what).toBe('VALIDATION_ERROR');
        expect(Array.isArray(error.details), what).toBe(true);
        if (field) expect(error.details.map((d: { field: string }) => d.field), what).toContain(field);
      }
      const ok = await put({ overrides: Array.from({ length: 1000 }, (_, i) => ({ date: new Date(Date.UTC(2030, 0, 1 + i)).toISOString().slice(0, 10), kind: 'holiday' })) });
      expect(ok.statusCode, 'exactly 1000 overrides').toBe(200);
      expect(await auditOf(id, 'calendar.updated')).toHaveLength(1);
    });

    it('the working/non-working days around the 2025 National Day, 调休 included', async () => {
      const id = await freshCommunity();
      const admin = api(w.admin.id);
      const days = async (from: string, to: string) => {
        const res = await admin('GET', `/communities/${id}/calendar/days?from=${from}&to=${to}`);
        expect(res.statusCode, res.body).toBe(200);
        return new Map((res.json().items as Array<{ date: string; working: boolean; reason: string }>).map((d) => [d.date, d]));
      };
      const national = await days('2025-09-27', '2025-10-12');
      expect(national.size).toBe(16);
      expect(national.get('2025-09-27')).toEqual({ date: '2025-09-27', working: false, reason: 'weekend' });
      expect(national.get('2025-09-28')).toMatchObject({ working: true, reason: 'makeup_workday' });
      expect(national.get('2025-09-29')).toEqual({ date: '2025-09-29', working: true, reason: 'workday' });
      for (const d of ['2025-10-01', '2025-10-02', '2025-10-03', '2025-10-06', '2025-10-08']) expect(national.get(d), d).toMatchObject({ working: false, reason: 'holiday' });
      expect(national.get('2025-10-09')).toMatchObject({ working: true, reason: 'workday' });
      expect(national.get('2025-10-11')).toMatchObject({ working: true, reason: 'makeup_workday' });
      expect(national.get('2025-10-12')).toMatchObject({ working: false, reason: 'weekend' });

      // The community's own overrides win; without China's table the plain weekend rule applies.
      await admin('PUT', `/communities/${id}/calendar`, { ...CALENDAR, overrides: [{ date: '2025-10-09', kind: 'holiday' }, { date: '2025-10-01', kind: 'workday' }] });
      const overridden = await days('2025-10-01', '2025-10-09');
      expect(overridden.get('2025-10-09')).toEqual({ date: '2025-10-09', working: false, reason: 'override' });
      expect(overridden.get('2025-10-01')).toEqual({ date: '2025-10-01', working: true, reason: 'override' });
      expect(overridden.get('2025-10-02')).toMatchObject({ working: false, reason: 'holiday' });
      await admin('PUT', `/communities/${id}/calendar`, { ...CALENDAR, useChinaHolidays: false, overrides: [] });
      const plain = await days('2025-09-28', '2025-10-01');
      expect(plain.get('2025-09-28')).toEqual({ date: '2025-09-28', working: false, reason: 'weekend' });
      expect(plain.get('2025-10-01')).toEqual({ date: '2025-10-01', working: true, reason: 'workday' });

      // At most 366 days, to not before from, real dates only.
      expect((await days('2024-01-01', '2024-12-31')).size).toBe(366);
      for (const q of ['from=2024-01-01&to=2025-01-01', 'from=2025-10-02&to=2025-10-01', 'from=2025-02-30&to=2025-03-01', 'from=2025-10-01', 'from=yesterday&to=2025-10-01']) {
        const res = await admin('GET', `/communities/${id}/calendar/days?${q}`);
        expect(res.statusCode, q).toBe(400);
        expect(res.json().error.code, q).toBe('VALIDATION_ERROR');
      }
    });
  });

  describe('SLA policies', () => {
    it('lists the defaults of DESIGN.md when the community has none', async () => {
      const id = await freshCommunity();
      const res = await api(w.admin.id)('GET', `/communities/${id}/sla-policies`);
      expect(res.statusCode).toBe(200);
      expect(res.json().items).toEqual([]);
      expect(res.json().effective).toEqual(
        (['P1', 'P2', 'P3', 'P4'] as const).map((priority) => ({ priority, category: null, source: 'default', policyId: null, ...DEFAULT_SLA_TARGETS[priority] })),
      );
    });

    it('creates (201) then replaces (200) the policy of a scope, audits both, and the SLA clock uses it', async () => {
      const id = await freshCommunity();
      const admin = api(w.admin.id);
      const created = await admin('POST', `/communities/${id}/sla-policies`, { priority: 'P3', respond: { value: 2, unit: 'hours' }, resolve: { value: 2, unit: 'working_days' }, calendar: 'working_hours' });
      expect(created.statusCode, created.body).toBe(201);
      expect(created.json()).toMatchObject({ communityId: id, priority: 'P3', category: null, respond: { value: 2, unit: 'hours' }, resolve: { value: 2, unit: 'working_days' }, calendar: 'working_hours' });
      const replaced = await admin('POST', `/communities/${id}/sla-policies`, { priority: 'P3', category: null, respond: { value: 3, unit: 'hours' }, resolve: { value: 5, unit: 'working_days' }, calendar: 'working_hours' });
      expect(replaced.statusCode, replaced.body).toBe(200);
      expect(replaced.json()).toMatchObject({ id: created.json().id, respond: { value: 3, unit: 'hours' }, resolve: { value: 5, unit: 'working_days' } });
      const cameras = await admin('POST', `/communities/${id}/sla-policies`, { priority: 'P3', category: 'camera', respond: { value: 30, unit: 'minutes' }, resolve: { value: 8, unit: 'hours' }, calendar: '24x7' });
      expect(cameras.statusCode, cameras.body).toBe(201);

      const list = (await admin('GET', `/communities/${id}/sla-policies`)).json();
      expect(list.items.map((p: { id: string }) => p.id)).toEqual([created.json().id, cameras.json().id]);
      expect(list.effective.find((e: { priority: string }) => e.priority === 'P3')).toEqual({
        priority: 'P3',
        category: null,
        source: 'community',
        policyId: created.json().id,
        respond: { value: 3, unit: 'hours' },
        resolve: { value: 5, unit: 'working_days' },
        calendar: 'working_hours',
      });
      expect(list.effective.find((e: { priority: string }) => e.priority === 'P1')).toMatchObject({ source: 'default', ...DEFAULT_SLA_TARGETS.P1 });
      const forCameras = (await admin('GET', `/communities/${id}/sla-policies?category=camera`)).json();
      expect(forCameras.effective.find((e: { priority: string }) => e.priority === 'P3')).toMatchObject({ category: 'camera', source: 'community', policyId: cameras.json().id, calendar: '24x7' });
      const forLifts = (await admin('GET', `/communities/${id}/sla-policies?category=elevator`)).json();
      expect(forLifts.effective.find((e: { priority: string }) => e.priority === 'P3')).toMatchObject({ category: 'elevator', policyId: created.json().id });

      const ctx = await loadSlaContext(t.db, id);
      expect(ctx.policies).toEqual(
        expect.arrayContaining([
          { priority: 'P3', category: null, respond: { value: 3, unit: 'hours' }, resolve: { value: 5, unit: 'working_days' }, calendar: 'working_hours' },
          { priority: 'P3', category: 'camera', respond: { value: 30, unit: 'minutes' }, resolve: { value: 8, unit: 'hours' }, calendar: '24x7' },
        ]),
      );
      expect(ctx.policies).toHaveLength(2);

      const events = await t.db.selectFrom('audit_events').selectAll().where('community_id', '=', id).where('entity_type', '=', 'sla_policy').orderBy('seq').execute();
      expect(events.map((e) => e.action)).toEqual(['sla_policy.created', 'sla_policy.replaced', 'sla_policy.created']);
      expect(events[1]?.before).toMatchObject({ respond: { value: 2, unit: 'hours' } });
      expect(events[1]?.after).toMatchObject({ respond: { value: 3, unit: 'hours' } });
    });

    it('refuses a resolution target shorter than the response target (422), compared in the community’s calendar', async () => {
      const id = await freshCommunity();
      const admin = api(w.admin.id);
      const post = (body: Record<string, unknown>) => admin('POST', `/communities/${id}/sla-policies`, { priority: 'P4', calendar: 'working_hours', ...body });

      const shorter = await post({ respond: { value: 2, unit: 'hours' }, resolve: { value: 90, unit: 'minutes' } });
      expect(shorter.statusCode).toBe(422);
      expect(shorter.json().error.code).toBe('RULE_VIOLATION');
      expect(shorter.json().error.message).toMatch(/resolution target \(90 minutes\) must not be shorter than the response target \(2 hours\)/);
      // Default calendar: a working day is 9 hours, shorter than 10 hours of working time.
      const tenHours = await post({ respond: { value: 10, unit: 'hours' }, resolve: { value: 1, unit: 'working_days' } });
      expect(tenHours.statusCode).toBe(422);
      expect(tenHours.json().error.details).toMatchObject({ respondMs: 36_000_000, resolveMs: 32_400_000 });
      // In 24×7 a working day is 24 hours.
      expect((await post({ calendar: '24x7', respond: { value: 10, unit: 'hours' }, resolve: { value: 1, unit: 'working_days' } })).statusCode).toBe(201);
      // A community whose working day is 12 hours: the same targets are fine in working hours too.
      await admin('PUT', `/communities/${id}/calendar`, { ...CALENDAR, workingHours: [{ start: '08:00', end: '20:00' }] });
      expect((await post({ respond: { value: 10, unit: 'hours' }, resolve: { value: 1, unit: 'working_days' } })).statusCode).toBe(200);
      // Equal is allowed.
      expect((await post({ priority: 'P2', respond: { value: 60, unit: 'minutes' }, resolve: { value: 1, unit: 'hours' } })).statusCode).toBe(201);
      const events = await t.db.selectFrom('audit_events').select('action').where('community_id', '=', id).where('entity_type', '=', 'sla_policy').execute();
      expect(events).toHaveLength(3);
    });

    it('refuses malformed policies with 400', async () => {
      const id = await freshCommunity();
      const admin = api(w.admin.id);
      const good = { priority: 'P3', respond: { value: 4, unit: 'hours' }, resolve: { value: 3, unit: 'working_days' }, calendar: 'working_hours' };
      const cases: Array<[string, Record<string, unknown>]> = [
        ['an unknown priority', { priority: 'P5' }],
        ['an unknown category', { category: 'spaceship' }],
        ['a zero target', { respond: { value: 0, unit: 'hours' } }],
        ['a fractional target', { respond: { value: 1.5, unit: 'hours' } }],
        ['a string target', { respond: { value: '4', unit: 'hours' } }],
        ['an unknown unit', { resolve: { value: 3, unit: 'weeks' } }],
        ['an unknown calendar', { calendar: '9to5' }],
        ['a target over a year', { resolve: { value: 400, unit: 'working_days' } }],
        ['a missing target', { resolve: undefined }],
        ['an unknown property', { note: 'x' }],
      ];
      for (const [what, over] of cases) {
        const res = await admin('POST', `/communities/${id}/sla-policies`, { ...good, ...over });
        expect(res.statusCode, `${what}: ${res.body}`).toBe(400);
        expect(res.json().error.code, what).toBe('VALIDATION_ERROR');
      }
      expect((await admin('GET', `/communities/${id}/sla-policies`)).json().items).toEqual([]);
    });

    it('DELETE puts the scope back on the default (idempotent) and never touches another community’s policy', async () => {
      const chairA = api(w.a.users.committeeChair.id);
      const chairB = api(w.b.users.committeeChair.id);
      const body = { priority: 'P2', category: 'elevator', respond: { value: 20, unit: 'minutes' }, resolve: { value: 6, unit: 'hours' }, calendar: '24x7' };
      const mine = (await chairA('POST', `/communities/${w.a.community.id}/sla-policies`, body)).json();
      const theirs = (await chairB('POST', `/communities/${w.b.community.id}/sla-policies`, body)).json();

      const del = await chairA('DELETE', `/communities/${w.a.community.id}/sla-policies/${mine.id}`);
      expect(del.statusCode, del.body).toBe(204);
      expect(del.body).toBe('');
      const after = (await chairA('GET', `/communities/${w.a.community.id}/sla-policies?category=elevator`)).json();
      expect(after.items.map((p: { id: string }) => p.id)).not.toContain(mine.id);
      expect(after.effective.find((e: { priority: string }) => e.priority === 'P2')).toMatchObject({ source: 'default', ...DEFAULT_SLA_TARGETS.P2 });
      expect((await chairA('DELETE', `/communities/${w.a.community.id}/sla-policies/${mine.id}`)).statusCode).toBe(204);
      const events = await t.db.selectFrom('audit_events').selectAll().where('entity_id', '=', mine.id).orderBy('seq').execute();
      expect(events.map((e) => e.action)).toEqual(['sla_policy.created', 'sla_policy.deleted']);
      expect(events[1]?.before).toMatchObject({ priority: 'P2', category: 'elevator' });

      // B's policy named through A's community: nothing happens; through B's community: hidden.
      expect((await chairA('DELETE', `/communities/${w.a.community.id}/sla-policies/${theirs.id}`)).statusCode).toBe(204);
      expect((await chairA('DELETE', `/communities/${w.b.community.id}/sla-policies/${theirs.id}`)).statusCode).toBe(404);
      const still = await t.db.selectFrom('sla_policies').select('id').where('id', '=', theirs.id).executeTakeFirst();
      expect(still?.id).toBe(theirs.id);
      expect((await chairA('DELETE', `/communities/${w.a.community.id}/sla-policies/not-a-uuid`)).statusCode).toBe(400);
      expect((await chairA('DELETE', `/communities/${w.a.community.id}/sla-policies/${randomUUID()}`)).statusCode).toBe(204);
    });
  });

  describe('community settings', () => {
    it('answers the defaults, merges a patch over them, resets a field with null, and the SLA clock uses them', async () => {
      const id = await freshCommunity();
      const admin = api(w.admin.id);
      const initial = await admin('GET', `/communities/${id}/settings`);
      expect(initial.statusCode).toBe(200);
      expect(initial.json()).toEqual({ communityId: id, ...DEFAULT_SETTINGS, defaults: DEFAULT_SETTINGS });

      const patched = await admin('PATCH', `/communities/${id}/settings`, { sla: { warnShare: 0.8, escalateCommitteeAfter: { value: 4, unit: 'hours' } } });
      expect(patched.statusCode, patched.body).toBe(200);
      expect(patched.json()).toMatchObject({
        sla: { warnShare: 0.8, escalateCommitteeAfter: { value: 4, unit: 'hours' }, escalateAuthorityAfter: DEFAULT_SETTINGS.sla.escalateAuthorityAfter },
        tickets: DEFAULT_SETTINGS.tickets,
      });
      const tickets = await admin('PATCH', `/communities/${id}/settings`, { tickets: { autoCloseAfterHours: 24 } });
      expect(tickets.json()).toMatchObject({ sla: { warnShare: 0.8 }, tickets: { autoCloseAfterHours: 24 } });
      expect((await admin('GET', `/communities/${id}/settings`)).json()).toEqual(tickets.json());

      const ctx = await loadSlaContext(t.db, id);
      expect(ctx.settings).toEqual({ sla: { ...DEFAULT_SETTINGS.sla, warnShare: 0.8, escalateCommitteeAfter: { value: 4, unit: 'hours' } }, tickets: { autoCloseAfterHours: 24 } });

      // Only what was set is stored; null goes back to the default.
      const stored = await t.db.selectFrom('communities').select('settings').where('id', '=', id).executeTakeFirstOrThrow();
      expect(stored.settings).toEqual({ sla: { warnShare: 0.8, escalateCommitteeAfter: { value: 4, unit: 'hours' } }, tickets: { autoCloseAfterHours: 24 } });
      const reset = await admin('PATCH', `/communities/${id}/settings`, { sla: { warnShare: null } });
      expect(reset.json().sla.warnShare).toBe(DEFAULT_SETTINGS.sla.warnShare);
      expect(reset.json().sla.escalateCommitteeAfter).toEqual({ value: 4, unit: 'hours' });

      const events = await auditOf(id, 'community.settings_updated');
      expect(events).toHaveLength(3);
      expect(events[0]?.before).toMatchObject({ sla: { warnShare: 0.75 } });
      expect(events[0]?.after).toMatchObject({ sla: { warnShare: 0.8 } });
    });

    it('refuses out-of-range settings with 400', async () => {
      const id = await freshCommunity();
      const admin = api(w.admin.id);
      const cases: Array<[string, unknown]> = [
        ['a warn share below 0.1', { sla: { warnShare: 0.05 } }],
        ['a warn share of 1', { sla: { warnShare: 1 } }],
        ['a string warn share', { sla: { warnShare: '0.8' } }],
        ['auto-close after 0 hours', { tickets: { autoCloseAfterHours: 0 } }],
        ['auto-close after 721 hours', { tickets: { autoCloseAfterHours: 721 } }],
        ['an escalation with no unit', { sla: { escalateAuthorityAfter: { value: 2 } } }],
        ['an escalation over a year', { sla: { escalateAuthorityAfter: { value: 9000, unit: 'hours' } } }],
        ['an empty patch', {}],
        ['an unknown section', { billing: {} }],
        ['an unknown key', { sla: { warnAt: 0.5 } }],
      ];
      for (const [what, body] of cases) {
        const res = await admin('PATCH', `/communities/${id}/settings`, body);
        expect(res.statusCode, `${what}: ${res.body}`).toBe(400);
        expect(res.json().error.code, what).toBe('VALIDATION_ERROR');
      }
      expect(await auditOf(id, 'community.settings_updated')).toEqual([]);
    });
  });

  describe('access', () => {
    const writes = (communityId: string): Array<[Method, string, unknown]> => [
      ['PUT', `/communities/${communityId}/calendar`, CALENDAR],
      ['POST', `/communities/${communityId}/sla-policies`, { priority: 'P4', category: 'roof', respond: { value: 1, unit: 'working_days' }, resolve: { value: 10, unit: 'working_days' }, calendar: 'working_hours' }],
      ['DELETE', `/communities/${communityId}/sla-policies/${randomUUID()}`, undefined],
      ['PATCH', `/communities/${communityId}/settings`, { tickets: { autoCloseAfterHours: 96 } }],
    ];
    const reads = (communityId: string) => [
      `/communities/${communityId}/calendar`,
      `/communities/${communityId}/calendar/days?from=2025-10-01&to=2025-10-07`,
      `/communities/${communityId}/sla-policies`,
      `/communities/${communityId}/settings`,
    ];

    it('committee officers and property managers configure (sla.manage); technician, owner and authority get 403', async () => {
      for (const role of ['committeeChair', 'propertyManager'] as const) {
        for (const [method, url, body] of writes(w.a.community.id)) {
          const res = await api(w.a.users[role].id)(method, url, body);
          expect(res.statusCode, `${role} ${method} ${url}: ${res.body}`).toBeLessThan(300);
        }
      }
      for (const role of ['technician', 'owner', 'authority', 'committeeMember', 'contractor'] as const) {
        for (const [method, url, body] of writes(w.a.community.id)) {
          const res = await api(w.a.users[role].id)(method, url, body);
          expect(res.statusCode, `${role} ${method} ${url}`).toBe(403);
          expect(res.json().error.code).toBe('FORBIDDEN');
        }
        for (const url of reads(w.a.community.id)) {
          expect((await api(w.a.users[role].id)('GET', url)).statusCode, `${role} GET ${url}`).toBe(200);
        }
      }
    });

    it('another community’s user gets 404 for reads and writes, and learns nothing', async () => {
      for (const role of ['committeeChair', 'propertyManager', 'authority', 'owner'] as const) {
        const stranger = api(w.b.users[role].id);
        for (const [method, url, body] of writes(w.a.community.id)) {
          const res = await stranger(method, url, body);
          expect(res.statusCode, `${role} ${method} ${url}`).toBe(404);
          expect(res.json().error.code).toBe('NOT_FOUND');
          expect(res.body).not.toContain(w.a.community.name);
        }
        for (const url of reads(w.a.community.id)) {
          const res = await stranger('GET', url);
          expect(res.statusCode, `${role} GET ${url}`).toBe(404);
        }
      }
      const anonymous = await t.app.inject({ method: 'GET', url: `/api/v1/communities/${w.a.community.id}/calendar` });
      expect(anonymous.statusCode).toBe(401);
    });
  });
});
