import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { DEFAULT_PLANS, defaultStart, localiseDefault } from '../src/modules/inspections/defaults.js';
import { nextOccurrence, occurrencesBetween, occurrencesWithNext, RecurrenceError, validateRecurrence, type Recurrence } from '../src/modules/inspections/recurrence.js';
import { checkResult, firstTaskTimer, nextTaskTimer, patrolStep, SEVERITY_PRIORITY, taskTimerPlan, taskTimes } from '../src/modules/inspections/rules.js';
import { render } from '../src/modules/notifications/templates.js';

/**
 * Recurrence of inspection plans (pure): RRULEs on the community's wall clock across month ends,
 * leap days and time zones (with daylight saving), validation of rules, and the inspection rules
 * (result checks, priorities, patrol order, reminders).
 */

const at = (iso: string) => new Date(iso);
const isos = (ds: Date[]) => ds.map((d) => d.toISOString());
const between = (r: Recurrence, from: string, to: string) => isos(occurrencesBetween(r, at(from), at(to)));

/** The local wall time of an instant, 'YYYY-MM-DD HH:MM'. */
function wall(timeZone: string, d: Date): string {
  const parts = Object.fromEntries(
    new Intl.DateTimeFormat('en-US', { timeZone, hourCycle: 'h23', year: 'numeric', month: '2-digit', day: '2-digit', hour: '2-digit', minute: '2-digit' })
      .formatToParts(d)
      .map((p) => [p.type, p.value]),
  );
  return `${parts.year}-${parts.month}-${parts.day} ${parts.hour}:${parts.minute}`;
}

describe('month ends', () => {
  const sh = (rrule: string, dtstartLocal = '2027-01-01T09:00'): Recurrence => ({ rrule, dtstartLocal, timeZone: 'Asia/Shanghai' });

  it('BYMONTHDAY=31 occurs only in months with 31 days (RFC 5545 skips invalid dates)', () => {
    const got = occurrencesBetween(sh('FREQ=MONTHLY;BYMONTHDAY=31'), at('2027-01-01T00:00Z'), at('2028-01-01T00:00Z')).map((d) => wall('Asia/Shanghai', d));
    expect(got).toEqual(['2027-01-31 09:00', '2027-03-31 09:00', '2027-05-31 09:00', '2027-07-31 09:00', '2027-08-31 09:00', '2027-10-31 09:00', '2027-12-31 09:00']);
  });

  it('BYMONTHDAY=-1 is the last day of every month, 29 February in a leap year', () => {
    const got = occurrencesBetween(sh('FREQ=MONTHLY;BYMONTHDAY=-1', '2028-01-01T18:30'), at('2028-01-01T00:00Z'), at('2029-01-01T00:00Z')).map((d) => wall('Asia/Shanghai', d).slice(0, 10));
    expect(got).toEqual(['2028-01-31', '2028-02-29', '2028-03-31', '2028-04-30', '2028-05-31', '2028-06-30', '2028-07-31', '2028-08-31', '2028-09-30', '2028-10-31', '2028-11-30', '2028-12-31']);
  });

  it('a monthly rule started on the 31st skips the short months', () => {
    const got = occurrencesBetween(sh('FREQ=MONTHLY', '2027-01-31T08:00'), at('2027-01-01T00:00Z'), at('2027-07-01T00:00Z')).map((d) => wall('Asia/Shanghai', d).slice(0, 10));
    expect(got).toEqual(['2027-01-31', '2027-03-31', '2027-05-31']);
  });

  it('property: BYMONTHDAY=-1 is always followed by the 1st of the next month', () => {
    fc.assert(
      fc.property(fc.integer({ min: 2001, max: 2150 }), fc.integer({ min: 0, max: 23 }), (year, hour) => {
        const r = sh('FREQ=MONTHLY;BYMONTHDAY=-1', `${year}-01-01T${String(hour).padStart(2, '0')}:00`);
        const got = occurrencesBetween(r, at(`${year}-01-01T00:00Z`), at(`${year + 1}-01-01T00:00Z`));
        const days = got.map((d) => wall('Asia/Shanghai', d).slice(0, 10));
        expect(days).toHaveLength(12);
        for (const day of days) {
          const next = new Date(`${day}T00:00Z`);
          next.setUTCDate(next.getUTCDate() + 1);
          expect(next.getUTCDate()).toBe(1);
        }
      }),
      { numRuns: 40 },
    );
  });
});

describe('leap days', () => {
  it('29 February yearly occurs only in leap years (2100 is not one)', () => {
    const r: Recurrence = { rrule: 'FREQ=YEARLY;BYMONTH=2;BYMONTHDAY=29', dtstartLocal: '2027-01-01T10:00', timeZone: 'Asia/Shanghai' };
    const years = occurrencesBetween(r, at('2027-01-01T00:00Z'), at('2110-01-01T00:00Z')).map((d) => Number(wall('Asia/Shanghai', d).slice(0, 4)));
    const expected = [];
    for (let y = 2027; y < 2110; y++) if ((y % 4 === 0 && y % 100 !== 0) || y % 400 === 0) expected.push(y);
    expect(years).toEqual(expected);
    expect(years).not.toContain(2100);
    expect(nextOccurrence(r, at('2096-03-01T00:00Z'))?.toISOString()).toBe('2104-02-29T02:00:00.000Z');
  });

  it('a yearly rule started on 29 February keeps to leap years', () => {
    const r: Recurrence = { rrule: 'FREQ=YEARLY', dtstartLocal: '2028-02-29T09:00', timeZone: 'Asia/Shanghai' };
    expect(between(r, '2028-01-01T00:00Z', '2037-01-01T00:00Z')).toEqual(['2028-02-29T01:00:00.000Z', '2032-02-29T01:00:00.000Z', '2036-02-29T01:00:00.000Z']);
  });
});

describe('time zones', () => {
  it('places the wall time in the community’s zone (Shanghai is UTC+8, no DST)', () => {
    const r: Recurrence = { rrule: 'FREQ=WEEKLY;BYDAY=MO', dtstartLocal: '2027-01-04T09:00', timeZone: 'Asia/Shanghai' };
    expect(between(r, '2027-01-01T00:00Z', '2027-01-19T00:00Z')).toEqual(['2027-01-04T01:00:00.000Z', '2027-01-11T01:00:00.000Z', '2027-01-18T01:00:00.000Z']);
    // A Monday 07:00 in Shanghai is still Sunday in UTC: the weekday is the local one.
    const early: Recurrence = { rrule: 'FREQ=WEEKLY;BYDAY=MO', dtstartLocal: '2027-01-04T07:00', timeZone: 'Asia/Shanghai' };
    expect(between(early, '2027-01-01T00:00Z', '2027-01-12T00:00Z')).toEqual(['2027-01-03T23:00:00.000Z', '2027-01-10T23:00:00.000Z']);
  });

  it('keeps 09:00 local across New York’s daylight-saving changes', () => {
    const r: Recurrence = { rrule: 'FREQ=DAILY', dtstartLocal: '2027-03-12T09:00', timeZone: 'America/New_York' };
    // DST starts Sunday 14 March 2027: 14:00Z before, 13:00Z after.
    expect(between(r, '2027-03-12T00:00Z', '2027-03-16T00:00Z')).toEqual([
      '2027-03-12T14:00:00.000Z',
      '2027-03-13T14:00:00.000Z',
      '2027-03-14T13:00:00.000Z',
      '2027-03-15T13:00:00.000Z',
    ]);
    // And back on 7 November 2027.
    expect(between(r, '2027-11-06T00:00Z', '2027-11-09T00:00Z')).toEqual(['2027-11-06T13:00:00.000Z', '2027-11-07T14:00:00.000Z', '2027-11-08T14:00:00.000Z']);
  });

  it('a wall time skipped by spring-forward moves forward by the jump (02:30 → 03:30 EDT)', () => {
    const r: Recurrence = { rrule: 'FREQ=DAILY', dtstartLocal: '2027-03-13T02:30', timeZone: 'America/New_York' };
    const got = occurrencesBetween(r, at('2027-03-13T00:00Z'), at('2027-03-16T00:00Z'));
    expect(got.map((d) => wall('America/New_York', d))).toEqual(['2027-03-13 02:30', '2027-03-14 03:30', '2027-03-15 02:30']);
  });

  it('hourly across fall-back: one occurrence per wall hour, none twice, in order', () => {
    const r: Recurrence = { rrule: 'FREQ=HOURLY', dtstartLocal: '2027-11-07T00:00', timeZone: 'America/New_York' };
    const got = occurrencesBetween(r, at('2027-11-07T04:00Z'), at('2027-11-07T09:00Z'));
    expect(isos(got)).toEqual(['2027-11-07T04:00:00.000Z', '2027-11-07T05:00:00.000Z', '2027-11-07T07:00:00.000Z', '2027-11-07T08:00:00.000Z']);
  });

  it('hourly across spring-forward: the skipped hour does not produce a duplicate', () => {
    const r: Recurrence = { rrule: 'FREQ=HOURLY', dtstartLocal: '2027-03-14T00:00', timeZone: 'America/New_York' };
    const got = isos(occurrencesBetween(r, at('2027-03-14T05:00Z'), at('2027-03-14T09:00Z')));
    expect(new Set(got).size).toBe(got.length);
    expect(got).toEqual(['2027-03-14T05:00:00.000Z', '2027-03-14T06:00:00.000Z', '2027-03-14T07:00:00.000Z', '2027-03-14T08:00:00.000Z']);
  });

  it('the southern hemisphere and half-hour zones too (Sydney, Lord Howe)', () => {
    const syd: Recurrence = { rrule: 'FREQ=MONTHLY;BYMONTHDAY=1', dtstartLocal: '2027-01-01T09:00', timeZone: 'Australia/Sydney' };
    // AEDT (+11) in January, AEST (+10) in May.
    expect(between(syd, '2026-12-31T00:00Z', '2027-01-02T00:00Z').concat(between(syd, '2027-04-30T00:00Z', '2027-05-02T00:00Z'))).toEqual(['2026-12-31T22:00:00.000Z', '2027-04-30T23:00:00.000Z']);
    const lh: Recurrence = { rrule: 'FREQ=DAILY', dtstartLocal: '2027-01-01T09:00', timeZone: 'Australia/Lord_Howe' };
    for (const d of occurrencesBetween(lh, at('2027-03-30T00:00Z'), at('2027-04-10T00:00Z'))) expect(wall('Australia/Lord_Howe', d).slice(11)).toBe('09:00');
  });

  it('property: occurrences are sorted, unique, at the plan’s wall time (unless skipped by DST), and windows split cleanly', () => {
    const zones = ['Asia/Shanghai', 'America/New_York', 'Europe/London', 'Australia/Sydney', 'America/Sao_Paulo', 'Asia/Kolkata'];
    fc.assert(
      fc.property(
        fc.constantFrom(...zones),
        fc.integer({ min: 0, max: 3 * 365 }),
        fc.integer({ min: 0, max: 23 }),
        fc.constantFrom(0, 15, 30, 45),
        fc.constantFrom('FREQ=DAILY', 'FREQ=WEEKLY;BYDAY=MO,TH', 'FREQ=MONTHLY;BYMONTHDAY=1,15,-1', 'FREQ=DAILY;INTERVAL=15', 'FREQ=YEARLY;BYMONTH=3,11'),
        fc.integer({ min: 1, max: 59 }),
        (timeZone, dayOffset, hour, minute, rrule, splitDay) => {
          const start = new Date(Date.UTC(2026, 0, 1) + dayOffset * 86_400_000);
          const dtstartLocal = `${start.toISOString().slice(0, 10)}T${String(hour).padStart(2, '0')}:${String(minute).padStart(2, '0')}`;
          const r: Recurrence = { rrule, dtstartLocal, timeZone };
          const from = new Date(start.getTime() - 86_400_000);
          const to = new Date(from.getTime() + 60 * 86_400_000);
          const all = occurrencesBetween(r, from, to);
          const ms = all.map((d) => d.getTime());
          expect([...ms].sort((a, b) => a - b)).toEqual(ms);
          expect(new Set(ms).size).toBe(ms.length);
          const hhmm = dtstartLocal.slice(11);
          // Only a wall time inside a spring-forward gap may show differently (moved by the jump).
          const off = all.filter((d) => wall(timeZone, d).slice(11) !== hhmm);
          expect(off.length).toBeLessThanOrEqual(2);
          const mid = new Date(from.getTime() + splitDay * 86_400_000);
          expect(isos([...occurrencesBetween(r, from, mid), ...occurrencesBetween(r, mid, to)])).toEqual(isos(all));
          const withNext = occurrencesWithNext(r, from, mid);
          expect(isos(withNext.occurrences)).toEqual(isos(occurrencesBetween(r, from, mid)));
          expect(withNext.next?.toISOString()).toBe(all.find((d) => d >= mid)?.toISOString() ?? nextOccurrence(r, mid)?.toISOString());
        },
      ),
      { numRuns: 150 },
    );
  });
});

describe('evaluating from a start moved forward (the generator’s fast path)', () => {
  it('property: the same occurrences and next occurrence as evaluating from the plan’s own start', () => {
    const rules = [
      'FREQ=HOURLY;INTERVAL=7',
      'FREQ=HOURLY;BYHOUR=8,20',
      'FREQ=DAILY;INTERVAL=15',
      'FREQ=DAILY;BYMONTH=3,9',
      'FREQ=DAILY;INTERVAL=4;BYHOUR=9,21;BYMINUTE=15',
      'FREQ=WEEKLY;INTERVAL=2;BYDAY=MO,FR',
      'FREQ=WEEKLY;INTERVAL=3',
      'FREQ=WEEKLY;WKST=SU;INTERVAL=2;BYDAY=SU,SA',
      'FREQ=MONTHLY',
      'FREQ=MONTHLY;INTERVAL=5',
      'FREQ=MONTHLY;INTERVAL=3;BYMONTHDAY=20',
      'FREQ=MONTHLY;BYMONTHDAY=-1',
      'FREQ=MONTHLY;BYMONTHDAY=31',
      'FREQ=MONTHLY;BYDAY=-1FR',
      'FREQ=MONTHLY;INTERVAL=2;BYDAY=MO;BYSETPOS=1',
      'FREQ=YEARLY',
      'FREQ=YEARLY;INTERVAL=3',
      'FREQ=YEARLY;BYMONTH=4,10',
      'FREQ=YEARLY;INTERVAL=2;BYMONTH=2;BYMONTHDAY=29',
      'FREQ=YEARLY;BYWEEKNO=20;BYDAY=MO',
      'FREQ=YEARLY;BYYEARDAY=100,-1',
      'FREQ=DAILY;UNTIL=20290301',
      'FREQ=MONTHLY;COUNT=40',
    ];
    const zones = ['Asia/Shanghai', 'America/New_York', 'Australia/Lord_Howe', 'Europe/London'];
    const base = Date.UTC(2029, 0, 1);
    fc.assert(
      fc.property(
        fc.constantFrom(...rules),
        fc.constantFrom(...zones),
        fc.oneof(fc.integer({ min: 1, max: 5 * 365 }), fc.constantFrom(306, 307, 308, 1036)), // some month ends and 29 February 2028
        fc.integer({ min: 0, max: 23 }),
        fc.constantFrom(0, 30),
        fc.integer({ min: 0, max: 400 }),
        fc.integer({ min: 1, max: 60 }),
        (rrule, timeZone, daysBack, hour, minute, fromDay, length) => {
          const start = new Date(base - daysBack * 86_400_000);
          const dtstartLocal = `${start.toISOString().slice(0, 10)}T${String(hour).padStart(2, '0')}:${String(minute).padStart(2, '0')}`;
          const r: Recurrence = { rrule, dtstartLocal, timeZone };
          const from = new Date(base + fromDay * 86_400_000 + hour * 3_600_000);
          const to = new Date(from.getTime() + length * 86_400_000);
          const exact = occurrencesWithNext(r, from, to, { exact: true });
          const fast = occurrencesWithNext(r, from, to);
          expect(isos(fast.occurrences)).toEqual(isos(exact.occurrences));
          expect(fast.next?.toISOString()).toBe(exact.next?.toISOString());
        },
      ),
      // RECURRENCE_RUNS=10000 for a longer search (6,000 passed when this was written).
      { numRuns: Number(process.env.RECURRENCE_RUNS ?? 400) },
    );
  });
});

describe('rule validation', () => {
  const check = (rrule: string, dtstartLocal = '2027-01-01T09:00', timeZone = 'Asia/Shanghai') => () => validateRecurrence({ rrule, dtstartLocal, timeZone });

  it.each([
    ['FREQ=MINUTELY', /at most hourly/],
    ['FREQ=SECONDLY', /at most hourly/],
    ['FREQ=DAILY;BYMINUTE=0,30', /30 minutes apart/],
    ['FREQ=HOURLY;BYSECOND=0,30', /BYSECOND/],
    ['FREQ=YEARLY;BYMONTH=2;BYMONTHDAY=30', /never occurs/],
    ['BYDAY=MO', /FREQ is required/],
    ['FREQ=FORTNIGHTLY', /FREQ must be one of/],
    ['FREQ=DAILY;INTERVAL=0', /INTERVAL/],
    ['FREQ=DAILY;BYHOUR=25', /BYHOUR/],
    ['FREQ=WEEKLY;BYDAY=XX', /BYDAY/],
    ['FREQ=MONTHLY;BYMONTHDAY=abc', /BYMONTHDAY/],
    ['FREQ=MONTHLY;BYMONTHDAY=0', /not 0/],
    ['FREQ=DAILY;COUNT=3;UNTIL=20280101', /COUNT and UNTIL/],
    ['FREQ=DAILY;FREQ=WEEKLY', /twice/],
    ['FREQ=DAILY;X-FOO=1', /unsupported/],
    ['DTSTART:20270101T090000Z\nRRULE:FREQ=DAILY', /one RRULE value/],
    ['FREQ=DAILY;TZID=Asia/Shanghai', /one RRULE value/],
    ['garbage', /KEY=VALUE/],
    ['', /empty/],
  ])('%s is refused', (rrule, message) => {
    expect(check(rrule)).toThrow(RecurrenceError);
    expect(check(rrule)).toThrow(message);
  });

  it('refuses impossible starts and unknown time zones', () => {
    expect(check('FREQ=DAILY', '2027-02-30T09:00')).toThrow(/not a real date/);
    expect(check('FREQ=DAILY', '2027-01-01 09:00')).toThrow(/YYYY-MM-DDTHH:MM/);
    expect(check('FREQ=DAILY', '2027-01-01T24:00')).toThrow(/not a real date/);
    expect(check('FREQ=DAILY', '2027-01-01T09:00', 'Mars/Olympus')).toThrow(/Unknown time zone/);
  });

  it('accepts and normalises good rules (an RRULE: prefix, lower case, spaces)', () => {
    expect(validateRecurrence({ rrule: 'rrule: freq=monthly; bymonthday=-1', dtstartLocal: '2027-01-01T09:00', timeZone: 'Asia/Shanghai' }).rrule).toBe('FREQ=MONTHLY;BYMONTHDAY=-1');
    for (const rule of ['FREQ=HOURLY', 'FREQ=DAILY;BYHOUR=8,20', 'FREQ=WEEKLY;BYDAY=MO,WE,FR', 'FREQ=MONTHLY;BYDAY=-1FR', 'FREQ=MONTHLY;BYDAY=MO;BYSETPOS=1', 'FREQ=YEARLY;COUNT=3', 'FREQ=DAILY;UNTIL=20270301']) {
      expect(() => validateRecurrence({ rrule: rule, dtstartLocal: '2027-01-01T09:00', timeZone: 'Asia/Shanghai' }), rule).not.toThrow();
    }
  });

  it('COUNT and UNTIL end the rule: no next occurrence afterwards', () => {
    const r: Recurrence = { rrule: 'FREQ=DAILY;COUNT=3', dtstartLocal: '2027-01-01T09:00', timeZone: 'Asia/Shanghai' };
    expect(occurrencesWithNext(r, at('2027-01-01T00:00Z'), at('2027-01-02T12:00Z'))).toMatchObject({ next: at('2027-01-03T01:00Z') });
    expect(occurrencesWithNext(r, at('2027-01-01T00:00Z'), at('2027-02-01T00:00Z')).next).toBeNull();
  });
});

describe('the default plans', () => {
  it('cameras and access control, fire equipment, hydrant pressure monthly; elevators every 15 days; perimeter alarms quarterly', () => {
    const byTemplate = Object.fromEntries(DEFAULT_PLANS.map((p) => [p.template, p]));
    expect(byTemplate.cameras_access?.categories).toEqual(['camera', 'access_control']);
    const start = defaultStart('2027-01-17');
    expect(start).toBe('2027-01-01T09:00');
    const count = (template: string) => {
      const p = byTemplate[template];
      return occurrencesBetween({ rrule: p?.rrule as string, dtstartLocal: start, timeZone: 'Asia/Shanghai' }, at('2027-01-01T00:00Z'), at('2028-01-01T00:00Z')).length;
    };
    expect(count('cameras_access')).toBe(12);
    expect(count('fire_equipment')).toBe(12);
    expect(count('hydrant_pressure')).toBe(12);
    expect(count('perimeter_alarms')).toBe(4);
    expect(count('elevators')).toBe(25); // every 15 days: 365 / 15
    for (const p of DEFAULT_PLANS) {
      expect(() => validateRecurrence({ rrule: p.rrule, dtstartLocal: start, timeZone: 'Asia/Shanghai' })).not.toThrow();
      expect(p.checklist.length).toBeGreaterThanOrEqual(4);
      for (const i of p.checklist) {
        expect(i.zh).toMatch(/[\u4e00-\u9fff]/);
        expect(i.en).toMatch(/^[A-Z]/);
      }
      expect(localiseDefault(p, 'en').checklist.every((i) => !('textEn' in i))).toBe(true);
      expect(localiseDefault(p, 'zh-CN').checklist.every((i) => i.textEn !== undefined)).toBe(true);
    }
  });
});

describe('inspection rules', () => {
  const checklist = [
    { id: 'a', text: 'A', severity: 'low' as const },
    { id: 'b', text: 'B', severity: 'high' as const },
    { id: 'c', text: 'C', severity: 'critical' as const },
    { id: 'd', text: 'D', severity: 'medium' as const },
  ];

  it('the worst failed item sets the priority: critical P1, high P2, medium P3, low P4', () => {
    expect(SEVERITY_PRIORITY).toEqual({ critical: 'P1', high: 'P2', medium: 'P3', low: 'P4' });
    const fault = (failed: string[]) => checkResult(checklist, { facilityId: 'f', outcome: 'fault', checklist: checklist.map((i) => ({ itemId: i.id, ok: !failed.includes(i.id) })) });
    expect(fault(['a'])).toMatchObject({ ok: true, priority: 'P4' });
    expect(fault(['a', 'd'])).toMatchObject({ ok: true, priority: 'P3' });
    expect(fault(['a', 'b', 'd'])).toMatchObject({ ok: true, priority: 'P2' });
    expect(fault(['c', 'a'])).toMatchObject({ ok: true, priority: 'P1' });
    expect(fault([])).toMatchObject({ ok: true, priority: 'P3' });
  });

  it('refuses inconsistent results', () => {
    expect(checkResult(checklist, { facilityId: 'f', outcome: 'ok', checklist: [{ itemId: 'b', ok: false }] })).toMatchObject({ ok: false, message: expect.stringMatching(/makes the outcome a fault/) });
    expect(checkResult(checklist, { facilityId: 'f', outcome: 'ok', checklist: [{ itemId: 'zz', ok: true }] })).toMatchObject({ ok: false, message: expect.stringMatching(/not on this task/) });
    expect(checkResult(checklist, { facilityId: 'f', outcome: 'ok', checklist: [{ itemId: 'a', ok: true }, { itemId: 'a', ok: true }] })).toMatchObject({ ok: false, message: expect.stringMatching(/twice/) });
    expect(checkResult(checklist, { facilityId: 'f', outcome: 'ok', checklist: [] })).toMatchObject({ ok: true, priority: null });
  });

  it('patrol order is enforced', () => {
    const route = ['f1', 'f2', 'f3'];
    expect(patrolStep(route, 0, 'f1')).toEqual({ kind: 'advance', position: 0, complete: false });
    expect(patrolStep(route, 0, 'f2')).toEqual({ kind: 'out_of_order', expectedFacilityId: 'f1', expectedPosition: 0 });
    expect(patrolStep(route, 1, 'f1')).toEqual({ kind: 'already_done', position: 0 });
    expect(patrolStep(route, 2, 'f3')).toEqual({ kind: 'advance', position: 2, complete: true });
    expect(patrolStep(route, 3, 'f3')).toEqual({ kind: 'already_done', position: 2 });
    expect(patrolStep(route, 1, 'x')).toEqual({ kind: 'not_on_route' });
    // A route through the gate twice: the second visit counts when it is next.
    expect(patrolStep(['gate', 'f2', 'gate'], 2, 'gate')).toEqual({ kind: 'advance', position: 2, complete: true });
    expect(patrolStep(['gate', 'f2', 'gate'], 1, 'gate')).toEqual({ kind: 'out_of_order', expectedFacilityId: 'f2', expectedPosition: 1 });
  });

  it('task times and reminders', () => {
    const occ = at('2027-05-05T01:00Z');
    const times = taskTimes(occ, { leadTimeMinutes: 1440, dueWindowMinutes: 3 * 1440 });
    expect(times).toEqual({ occurrenceAt: occ, availableAt: at('2027-05-04T01:00Z'), dueAt: at('2027-05-08T01:00Z') });
    const plan = taskTimerPlan({ id: 'abc', availableAt: times.availableAt, dueAt: times.dueAt }, 2880, at('2027-05-01T00:00Z'));
    expect(plan).toEqual([
      { kind: 'inspection.due-tomorrow', dueAt: at('2027-05-07T01:00Z'), jobId: 'inspection-due-tomorrow-abc' },
      { kind: 'inspection.overdue', dueAt: at('2027-05-08T01:00Z'), jobId: 'inspection-overdue-abc' },
      { kind: 'inspection.escalate', dueAt: at('2027-05-10T01:00Z'), jobId: 'inspection-escalate-abc' },
    ]);
    // Only the first step is scheduled with the task; each step's handler schedules the next.
    expect(firstTaskTimer({ id: 'abc', ...times }, 2880, at('2027-05-01T00:00Z'))).toEqual(plan[0]);
    expect(nextTaskTimer('inspection.due-tomorrow', { id: 'abc', dueAt: times.dueAt }, 2880)).toEqual(plan[1]);
    expect(nextTaskTimer('inspection.overdue', { id: 'abc', dueAt: times.dueAt }, 2880)).toEqual(plan[2]);
    expect(nextTaskTimer('inspection.escalate', { id: 'abc', dueAt: times.dueAt }, 2880)).toBeNull();
    // Due within a day of opening: no "due tomorrow".
    const short = taskTimes(occ, { leadTimeMinutes: 0, dueWindowMinutes: 600 });
    expect(taskTimerPlan({ id: 'x', ...short }, 60, at('2027-05-01T00:00Z')).map((p) => p.kind)).toEqual(['inspection.overdue', 'inspection.escalate']);
  });
});

describe('the inspection reminder template', () => {
  it('says what is due when, in zh-CN and en, escaping names in the HTML', () => {
    const payload = { communityName: '<b>阳光</b>小区', planName: 'Elevators & <script>x</script>', kind: 'inspection' as const, dueAt: '2027-05-08T01:00:00Z', facilities: 3, done: 1 };
    for (const stage of ['due-tomorrow', 'overdue', 'escalate'] as const) {
      for (const locale of ['zh-CN', 'en'] as const) {
        const r = render('inspection.reminder', { ...payload, stage }, { locale, timeZone: 'Asia/Shanghai', recipientName: '王<i>' });
        expect(r.html).not.toContain('<script>');
        expect(r.html).not.toContain('<b>阳光');
        expect(r.html).toContain('&lt;script&gt;');
        expect(r.text).toContain('2027');
        expect(r.text).toContain(locale === 'zh-CN' ? '1/3' : '1 of 3');
      }
    }
    expect(render('inspection.reminder', { ...payload, stage: 'overdue' }, { locale: 'zh-CN', timeZone: 'Asia/Shanghai', recipientName: 'x' }).subject).toContain('已逾期');
    expect(render('inspection.reminder', { ...payload, stage: 'escalate', kind: 'patrol' }, { locale: 'en', timeZone: 'Asia/Shanghai', recipientName: 'x' }).subject).toMatch(/patrol.*owners' committee/);
  });
});
