import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { defaultCalendar, isWorkingInstant, zonedInstant, type BusinessCalendar } from '../src/modules/calendars/business-calendar.js';
import {
  DEFAULT_SLA_TARGETS,
  PRIORITIES,
  computeDeadlines,
  defaultPolicy,
  durationMs,
  policyCalendar,
  selectPolicy,
  slaState,
  slaTimerPlan,
  type SlaPause,
  type SlaPolicy,
} from '../src/modules/tickets/sla.js';

const M = 60_000;
const H = 3_600_000;
const SH = 'Asia/Shanghai';
const sh = (date: string, time: string) => zonedInstant(SH, date, time);
const cal = defaultCalendar();
const P1 = defaultPolicy('P1');
const P2 = defaultPolicy('P2');
const P3 = defaultPolicy('P3');
const P4 = defaultPolicy('P4');

describe('policies', () => {
  it('has the default targets of DESIGN.md', () => {
    expect(DEFAULT_SLA_TARGETS).toEqual({
      P1: { respond: { value: 15, unit: 'minutes' }, resolve: { value: 4, unit: 'hours' }, calendar: '24x7' },
      P2: { respond: { value: 1, unit: 'hours' }, resolve: { value: 24, unit: 'hours' }, calendar: '24x7' },
      P3: { respond: { value: 4, unit: 'hours' }, resolve: { value: 3, unit: 'working_days' }, calendar: 'working_hours' },
      P4: { respond: { value: 1, unit: 'working_days' }, resolve: { value: 7, unit: 'working_days' }, calendar: 'working_hours' },
    });
  });

  it('converts durations in the policy’s calendar (a working day is one day of its working hours)', () => {
    expect(durationMs(P3.resolve, policyCalendar(P3, cal))).toBe(27 * H);
    expect(durationMs(P4.respond, policyCalendar(P4, cal))).toBe(9 * H);
    const short: BusinessCalendar = { ...cal, workingHours: [{ start: '08:30', end: '12:00' }, { start: '14:00', end: '17:30' }] };
    expect(durationMs(P4.resolve, policyCalendar(P4, short))).toBe(7 * 7 * H);
    expect(durationMs({ value: 1, unit: 'working_days' }, policyCalendar(P1, cal))).toBe(24 * H);
    expect(durationMs(P1.respond, policyCalendar(P1, cal))).toBe(15 * M);
    expect(policyCalendar(P1, cal).timeZone).toBe(SH);
    expect(() => durationMs({ value: -1, unit: 'hours' }, cal)).toThrow(RangeError);
  });

  it('selects the most specific policy: category × priority, then priority, then the default', () => {
    const lifts: SlaPolicy = { ...defaultPolicy('P3', 'lift'), respond: { value: 2, unit: 'hours' } };
    const p3: SlaPolicy = { ...defaultPolicy('P3'), respond: { value: 3, unit: 'hours' } };
    expect(selectPolicy([p3, lifts], 'P3', 'lift')).toBe(lifts);
    expect(selectPolicy([p3, lifts], 'P3', 'camera')).toBe(p3);
    expect(selectPolicy([p3, lifts], 'P3')).toBe(p3);
    expect(selectPolicy([lifts], 'P4', 'lift')).toEqual(defaultPolicy('P4', 'lift'));
  });
});

describe('deadlines', () => {
  const base = { calendar: cal, pauses: [] as SlaPause[], now: sh('2025-11-14', '17:00') };

  it('a P3 ticket opened Friday 17:00 in Shanghai must be answered by Monday 12:00 and resolved by Wednesday 17:00', () => {
    const d = computeDeadlines({ ...base, openedAt: sh('2025-11-14', '17:00'), policy: P3 });
    expect(d.respondBy).toEqual(sh('2025-11-17', '12:00'));
    expect(d.resolveBy).toEqual(sh('2025-11-19', '17:00')); // 1 + 9 + 9 + 8 h
    expect(d.provisional).toEqual({ response: false, resolution: false });
  });

  it('a ticket opened outside working hours starts counting at the next opening', () => {
    const d = computeDeadlines({ ...base, openedAt: sh('2025-11-15', '22:40'), policy: P3 }); // Saturday night
    expect(d.respondBy).toEqual(sh('2025-11-17', '13:00'));
    expect(d.resolveBy).toEqual(sh('2025-11-19', '18:00'));
  });

  it('P1 and P2 run round the clock, holidays and nights included', () => {
    const openedAt = sh('2025-10-01', '23:50'); // National Day
    expect(computeDeadlines({ ...base, openedAt, policy: P1 })).toMatchObject({ respondBy: sh('2025-10-02', '00:05'), resolveBy: sh('2025-10-02', '03:50') });
    expect(computeDeadlines({ ...base, openedAt, policy: P2 })).toMatchObject({ respondBy: sh('2025-10-02', '00:50'), resolveBy: sh('2025-10-02', '23:50') });
  });

  it('P3 across National Day 2025 and its make-up Saturday', () => {
    const d = computeDeadlines({ ...base, openedAt: sh('2025-09-30', '16:00'), policy: P3 });
    expect(d.respondBy).toEqual(sh('2025-10-09', '11:00'));
    expect(d.resolveBy).toEqual(sh('2025-10-11', '16:00'));
  });

  it('P4 across the 2026 Spring Festival', () => {
    const d = computeDeadlines({ ...base, openedAt: sh('2026-02-13', '10:00'), policy: P4 });
    expect(d.respondBy).toEqual(sh('2026-02-14', '10:00'));
    expect(d.resolveBy).toEqual(sh('2026-03-02', '10:00'));
  });

  it('community overrides beat chinese-days', () => {
    const c: BusinessCalendar = { ...cal, overrides: [{ date: '2025-10-09', kind: 'holiday' }, { date: '2025-10-08', kind: 'workday' }] };
    const d = computeDeadlines({ ...base, calendar: c, openedAt: sh('2025-09-30', '16:00'), policy: P3 });
    expect(d.respondBy).toEqual(sh('2025-10-08', '11:00'));
  });

  it('pauses spanning nights and a holiday do not count', () => {
    const openedAt = sh('2025-09-29', '10:00'); // Monday
    const without = computeDeadlines({ ...base, openedAt, policy: P3, now: openedAt });
    expect(without.resolveBy).toEqual(sh('2025-10-10', '10:00')); // 8 + 9 + 9 + 1
    const pauses = [{ from: sh('2025-09-29', '15:00'), to: sh('2025-10-09', '10:00') }];
    const d = computeDeadlines({ ...base, openedAt, policy: P3, pauses, now: sh('2025-10-09', '10:00') });
    expect(d.respondBy).toEqual(sh('2025-09-29', '14:00')); // reached before the pause: unchanged
    // 5 h before the pause, then 8 h (Oct 9), 9 h (Oct 10) and 5 h on the make-up Saturday.
    expect(d.resolveBy).toEqual(sh('2025-10-11', '14:00'));
  });

  it('a pause after a deadline does not move it', () => {
    const openedAt = sh('2025-11-17', '09:00');
    const pauses = [{ from: sh('2025-11-17', '14:00'), to: sh('2025-11-18', '14:00') }];
    const d = computeDeadlines({ ...base, openedAt, policy: P3, pauses });
    expect(d.respondBy).toEqual(sh('2025-11-17', '13:00'));
    expect(d.resolveBy).toEqual(sh('2025-11-20', '18:00')); // Wed 18:00 + 9 working hours paused
  });

  it('an open pause makes later deadlines provisional: as if the ticket resumed now', () => {
    const openedAt = sh('2025-11-17', '09:00');
    const pauses = [{ from: sh('2025-11-17', '14:00'), to: null }];
    const d = computeDeadlines({ ...base, openedAt, policy: P3, pauses, now: sh('2025-11-18', '10:00') });
    expect(d.respondBy).toEqual(sh('2025-11-17', '13:00'));
    expect(d.resolveBy).toEqual(sh('2025-11-20', '14:00')); // 5 h before, 22 h from Tue 10:00
    expect(d.provisional).toEqual({ response: false, resolution: true });
  });

  it('recomputes from openedAt and the same pauses after a priority change', () => {
    const openedAt = sh('2025-11-17', '09:00');
    const pauses = [{ from: sh('2025-11-17', '11:00'), to: sh('2025-11-17', '16:00') }];
    const input = { ...base, openedAt, pauses, now: sh('2025-11-18', '09:00') };
    expect(computeDeadlines({ ...input, policy: P4 }).resolveBy).toEqual(sh('2025-11-26', '14:00'));
    const asP3 = computeDeadlines({ ...input, policy: P3 });
    expect(asP3.respondBy).toEqual(sh('2025-11-17', '18:00'));
    expect(asP3.resolveBy).toEqual(sh('2025-11-20', '14:00'));
    // Escalated to P1: 24×7 with the same pause (11:00–16:00).
    expect(computeDeadlines({ ...input, policy: P1 })).toMatchObject({ respondBy: sh('2025-11-17', '09:15'), resolveBy: sh('2025-11-17', '18:00') });
  });

  it('refuses a pause that ends before it starts', () => {
    const pauses = [{ from: sh('2025-11-17', '11:00'), to: sh('2025-11-17', '10:00') }];
    expect(() => computeDeadlines({ ...base, openedAt: sh('2025-11-17', '09:00'), policy: P3, pauses })).toThrow(RangeError);
  });
});

describe('state', () => {
  const openedAt = sh('2025-11-17', '09:00'); // Monday
  const input = { openedAt, policy: P3, calendar: cal, pauses: [] as SlaPause[] };

  it('reports elapsed, remaining, fraction used and the 75% warning per target', () => {
    const s = slaState({ ...input, now: sh('2025-11-17', '12:00') });
    expect(s.response).toMatchObject({
      target: 'response',
      targetMs: 4 * H,
      elapsedMs: 3 * H,
      remainingMs: H,
      fractionUsed: 0.75,
      dueAt: sh('2025-11-17', '13:00'),
      warnAt: sh('2025-11-17', '12:00'),
      breached: false,
      status: 'running',
    });
    expect(s.resolution).toMatchObject({ targetMs: 27 * H, elapsedMs: 3 * H, dueAt: sh('2025-11-19', '18:00'), warnAt: sh('2025-11-19', '11:15') });
    expect(slaState({ ...input, now: openedAt, warnShare: 0.5 }).response.warnAt).toEqual(sh('2025-11-17', '11:00'));
  });

  it('stops at the response and resolution; exactly on the deadline is on time', () => {
    const onTime = slaState({ ...input, now: sh('2025-11-25', '09:00'), respondedAt: sh('2025-11-17', '13:00'), resolvedAt: sh('2025-11-19', '18:00') });
    expect(onTime.response).toMatchObject({ elapsedMs: 4 * H, remainingMs: 0, fractionUsed: 1, breached: false, status: 'met' });
    expect(onTime.resolution).toMatchObject({ elapsedMs: 27 * H, breached: false, status: 'met', stoppedAt: sh('2025-11-19', '18:00') });
    const late = slaState({ ...input, now: sh('2025-11-25', '09:00'), respondedAt: sh('2025-11-17', '13:00'), resolvedAt: sh('2025-11-20', '10:00') });
    expect(late.resolution).toMatchObject({ elapsedMs: 28 * H, remainingMs: 0, breached: true, status: 'breached' });
    expect(late.resolution.fractionUsed).toBeCloseTo(28 / 27);
  });

  it('is breached once running past the deadline, even outside working hours', () => {
    const s = slaState({ ...input, now: sh('2025-11-17', '20:00') });
    expect(s.response).toMatchObject({ elapsedMs: 9 * H, breached: true, status: 'breached' });
    expect(s.resolution).toMatchObject({ elapsedMs: 9 * H, breached: false, status: 'running' });
  });

  it('shows a paused clock while on hold, and the response clock stops at resolution if never acknowledged', () => {
    const s = slaState({ ...input, respondedAt: sh('2025-11-17', '10:00'), pauses: [{ from: sh('2025-11-17', '11:00'), to: null }], now: sh('2025-11-18', '15:00') });
    expect(s.resolution).toMatchObject({ elapsedMs: 2 * H, remainingMs: 25 * H, status: 'paused', provisional: true });
    const r = slaState({ ...input, resolvedAt: sh('2025-11-17', '10:00'), now: sh('2025-11-20', '10:00') });
    expect(r.response).toMatchObject({ status: 'met', elapsedMs: H });
  });
});

describe('escalation timer plan', () => {
  const openedAt = sh('2025-11-17', '09:00'); // Monday
  const input = { openedAt, policy: P3, calendar: cal, pauses: [] as SlaPause[], now: openedAt };
  const show = (plan: ReadonlyArray<{ target: string; kind: string; at: Date }>) => plan.map((t) => `${t.target} ${t.kind} ${t.at.toISOString()}`);

  it('plans warning, breach, committee and authority per target, in order', () => {
    expect(show(slaTimerPlan(input))).toEqual(
      show([
        { target: 'response', kind: 'sla.warning', at: sh('2025-11-17', '12:00') },
        { target: 'response', kind: 'sla.breach', at: sh('2025-11-17', '13:00') },
        { target: 'response', kind: 'sla.escalate-committee', at: sh('2025-11-18', '13:00') },
        { target: 'resolution', kind: 'sla.warning', at: sh('2025-11-19', '11:15') },
        { target: 'response', kind: 'sla.escalate-authority', at: sh('2025-11-20', '13:00') },
        { target: 'resolution', kind: 'sla.breach', at: sh('2025-11-19', '18:00') },
        { target: 'resolution', kind: 'sla.escalate-committee', at: sh('2025-11-20', '18:00') },
        { target: 'resolution', kind: 'sla.escalate-authority', at: sh('2025-11-24', '18:00') },
      ].sort((a, b) => a.at.getTime() - b.at.getTime())),
    );
  });

  it('takes configurable share and delays', () => {
    const plan = slaTimerPlan({
      ...input,
      policy: P1,
      config: { warnShare: 0.5, escalateCommitteeAfter: { value: 2, unit: 'hours' }, escalateAuthorityAfter: { value: 30, unit: 'minutes' } },
    });
    expect(show(plan.filter((t) => t.target === 'resolution'))).toEqual(
      show([
        { target: 'resolution', kind: 'sla.warning', at: sh('2025-11-17', '11:00') },
        { target: 'resolution', kind: 'sla.breach', at: sh('2025-11-17', '13:00') },
        { target: 'resolution', kind: 'sla.escalate-committee', at: sh('2025-11-17', '15:00') },
        { target: 'resolution', kind: 'sla.escalate-authority', at: sh('2025-11-17', '15:30') },
      ]),
    );
  });

  it('drops stopped targets and, while on hold, the instants past the hold', () => {
    expect(slaTimerPlan({ ...input, respondedAt: sh('2025-11-17', '10:00') }).every((t) => t.target === 'resolution')).toBe(true);
    expect(slaTimerPlan({ ...input, resolvedAt: sh('2025-11-17', '10:00') })).toEqual([]);
    const onHold = slaTimerPlan({ ...input, pauses: [{ from: sh('2025-11-18', '12:00'), to: null }], now: sh('2025-11-19', '09:00') });
    expect(show(onHold)).toEqual(
      show([
        { target: 'response', kind: 'sla.warning', at: sh('2025-11-17', '12:00') },
        { target: 'response', kind: 'sla.breach', at: sh('2025-11-17', '13:00') },
      ]),
    );
  });
});

describe('properties', () => {
  const instant = fc.integer({ min: Date.UTC(2024, 0, 1), max: Date.UTC(2026, 9, 31) }).map((t) => new Date(t));
  const policy = fc.constantFrom(P1, P2, P3, P4);
  /** Closed pauses as offsets after openedAt (up to 20 days, up to 5 days long). */
  const pauseOffsets = fc.array(fc.tuple(fc.integer({ min: -2 * 24 * H, max: 20 * 24 * H }), fc.integer({ min: 0, max: 5 * 24 * H })), { maxLength: 3 });
  const toPauses = (openedAt: Date, offsets: Array<[number, number]>): SlaPause[] =>
    offsets.map(([o, len]) => ({ from: new Date(openedAt.getTime() + o), to: new Date(openedAt.getTime() + o + len) }));
  const params = { numRuns: 60 };

  it('adding a pause never makes a deadline earlier (pausing never shortens remaining time)', () => {
    fc.assert(
      fc.property(instant, policy, pauseOffsets, fc.tuple(fc.integer({ min: -H, max: 15 * 24 * H }), fc.integer({ min: 0, max: 4 * 24 * H })), (openedAt, p, offsets, extra) => {
        const now = new Date(openedAt.getTime() + 30 * 24 * H);
        const before = computeDeadlines({ openedAt, policy: p, calendar: cal, pauses: toPauses(openedAt, offsets), now });
        const after = computeDeadlines({ openedAt, policy: p, calendar: cal, pauses: toPauses(openedAt, [...offsets, extra]), now });
        expect(after.respondBy.getTime()).toBeGreaterThanOrEqual(before.respondBy.getTime());
        expect(after.resolveBy.getTime()).toBeGreaterThanOrEqual(before.resolveBy.getTime());
        const mid = new Date(openedAt.getTime() + extra[0] + extra[1]);
        const s0 = slaState({ openedAt, policy: p, calendar: cal, pauses: toPauses(openedAt, offsets), now: mid });
        const s1 = slaState({ openedAt, policy: p, calendar: cal, pauses: toPauses(openedAt, [...offsets, extra]), now: mid });
        expect(s1.resolution.remainingMs).toBeGreaterThanOrEqual(s0.resolution.remainingMs);
      }),
      params,
    );
  });

  it('deadlines land in running working time, where exactly the target has elapsed', () => {
    fc.assert(
      fc.property(instant, policy, pauseOffsets, (openedAt, p, offsets) => {
        const pauses = toPauses(openedAt, offsets);
        const now = new Date(openedAt.getTime() + 60 * 24 * H);
        const d = computeDeadlines({ openedAt, policy: p, calendar: cal, pauses, now });
        const effective = policyCalendar(p, cal);
        for (const due of [d.respondBy, d.resolveBy]) {
          const before = new Date(due.getTime() - 1);
          expect(isWorkingInstant(effective, before)).toBe(true);
          expect(pauses.some((q) => q.from <= before && before < q.to!)).toBe(false);
        }
        const s = slaState({ openedAt, policy: p, calendar: cal, pauses, now: d.resolveBy });
        expect(s.resolution.elapsedMs).toBe(s.resolution.targetMs);
        expect(s.resolution.breached).toBe(false);
      }),
      params,
    );
  });

  it('resolution and response deadlines are ordered P1 ≤ P2 ≤ P3 ≤ P4 under the default calendar', () => {
    fc.assert(
      fc.property(instant, pauseOffsets, (openedAt, offsets) => {
        const pauses = toPauses(openedAt, offsets);
        const now = new Date(openedAt.getTime() + 60 * 24 * H);
        const ds = PRIORITIES.map((priority) => computeDeadlines({ openedAt, policy: defaultPolicy(priority), calendar: cal, pauses, now }));
        for (let i = 1; i < ds.length; i++) {
          expect(ds[i]!.resolveBy.getTime()).toBeGreaterThanOrEqual(ds[i - 1]!.resolveBy.getTime());
          expect(ds[i]!.respondBy.getTime()).toBeGreaterThanOrEqual(ds[i - 1]!.respondBy.getTime());
        }
      }),
      params,
    );
  });

  it('the timer plan is sorted, and each target’s ladder is in order', () => {
    fc.assert(
      fc.property(instant, policy, (openedAt, p) => {
        const plan = slaTimerPlan({ openedAt, policy: p, calendar: cal, pauses: [], now: openedAt });
        expect(plan).toHaveLength(8);
        for (let i = 1; i < plan.length; i++) expect(plan[i]!.at.getTime()).toBeGreaterThanOrEqual(plan[i - 1]!.at.getTime());
        const d = computeDeadlines({ openedAt, policy: p, calendar: cal, pauses: [], now: openedAt });
        expect(plan.find((t) => t.target === 'resolution' && t.kind === 'sla.breach')!.at).toEqual(d.resolveBy);
        expect(plan.find((t) => t.target === 'response' && t.kind === 'sla.breach')!.at).toEqual(d.respondBy);
      }),
      { numRuns: 30 },
    );
  });
});
