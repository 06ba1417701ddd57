import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  addWorkingTime,
  exactZoneOffsetMs,
  zoneOffsetMs,
  always,
  chinaDayStatus,
  chinaHolidayCoverage,
  defaultCalendar,
  isWorkingDay,
  isWorkingInstant,
  localDateOf,
  validateCalendar,
  workingDayMs,
  workingTimeBetween,
  zonedInstant,
  type BusinessCalendar,
} from '../src/modules/calendars/business-calendar.js';

const H = 3_600_000;
const SH = 'Asia/Shanghai';
const NY = 'America/New_York';
const sh = (date: string, time: string) => zonedInstant(SH, date, time);
const ny = (date: string, time: string) => zonedInstant(NY, date, time);

/** 09:00–12:00 and 13:30–18:00 (7.5 h), Shanghai, China holidays. */
const lunchCalendar: BusinessCalendar = {
  ...defaultCalendar(),
  workingHours: [
    { start: '09:00', end: '12:00' },
    { start: '13:30', end: '18:00' },
  ],
};
/** New York office hours, no Chinese holidays. */
const nyCalendar: BusinessCalendar = { ...defaultCalendar(NY), useChinaHolidays: false };
/** New York, every day round the clock, but as a working-hours calendar (local midnight to midnight). */
const nyAllDay: BusinessCalendar = { ...nyCalendar, workingHours: [{ start: '00:00', end: '24:00' }], weekendDays: [] };

describe('time zone helpers', () => {
  it('maps local wall times to instants, with DST gaps and overlaps resolved like Temporal "compatible"', () => {
    expect(sh('2025-10-01', '09:00').toISOString()).toBe('2025-10-01T01:00:00.000Z');
    expect(ny('2025-03-08', '09:00').toISOString()).toBe('2025-03-08T14:00:00.000Z'); // EST
    expect(ny('2025-03-10', '09:00').toISOString()).toBe('2025-03-10T13:00:00.000Z'); // EDT
    expect(ny('2025-03-09', '02:30').toISOString()).toBe('2025-03-09T07:30:00.000Z'); // skipped → 03:30 EDT
    expect(ny('2025-11-02', '01:30').toISOString()).toBe('2025-11-02T05:30:00.000Z'); // repeated → the earlier (EDT)
    expect(sh('2025-12-31', '24:00').toISOString()).toBe('2025-12-31T16:00:00.000Z');
    expect(localDateOf(SH, new Date('2025-09-30T16:00:00Z'))).toBe('2025-10-01');
    expect(localDateOf(NY, new Date('2025-10-01T03:59:59Z'))).toBe('2025-09-30');
  });
});

describe('working days', () => {
  const cal = defaultCalendar();

  it('follows China’s official holidays and 调休 make-up workdays (National Day 2025)', () => {
    expect(isWorkingDay(cal, '2025-09-26')).toBe(true); // Friday
    expect(isWorkingDay(cal, '2025-09-27')).toBe(false); // Saturday
    expect(isWorkingDay(cal, '2025-09-28')).toBe(true); // Sunday, make-up workday
    for (const d of ['2025-10-01', '2025-10-02', '2025-10-03', '2025-10-06', '2025-10-07', '2025-10-08']) expect(isWorkingDay(cal, d)).toBe(false);
    expect(isWorkingDay(cal, '2025-10-09')).toBe(true);
    expect(isWorkingDay(cal, '2025-10-11')).toBe(true); // Saturday, make-up workday
    expect(isWorkingDay(cal, '2025-10-12')).toBe(false);
    expect(chinaDayStatus('2025-10-11')).toEqual({ kind: 'workday', name: 'National Day,国庆节,3' });
    expect(chinaDayStatus('2025-10-13')).toBeNull();
  });

  it('follows the 2026 Spring Festival (Feb 15–23 off, Saturdays Feb 14 and 28 worked)', () => {
    expect(isWorkingDay(cal, '2026-02-13')).toBe(true);
    expect(isWorkingDay(cal, '2026-02-14')).toBe(true);
    for (let d = 15; d <= 23; d++) expect(isWorkingDay(cal, `2026-02-${d}`)).toBe(false);
    expect(isWorkingDay(cal, '2026-02-24')).toBe(true);
    expect(isWorkingDay(cal, '2026-02-28')).toBe(true);
    expect(isWorkingDay(cal, '2026-03-01')).toBe(false);
  });

  it('lets per-community overrides beat chinese-days and the weekend rule (the last override of a date wins)', () => {
    const c: BusinessCalendar = {
      ...cal,
      overrides: [
        { date: '2025-10-08', kind: 'workday' }, // a holiday in China's table
        { date: '2025-09-28', kind: 'holiday' }, // a make-up workday in China's table
        { date: '2025-11-15', kind: 'workday' }, // an ordinary Saturday
        { date: '2025-11-17', kind: 'workday' },
        { date: '2025-11-17', kind: 'holiday' }, // an ordinary Monday, overridden twice
      ],
    };
    expect(isWorkingDay(c, '2025-10-08')).toBe(true);
    expect(isWorkingDay(c, '2025-09-28')).toBe(false);
    expect(isWorkingDay(c, '2025-11-15')).toBe(true);
    expect(isWorkingDay(c, '2025-11-17')).toBe(false);
  });

  it('uses the weekend rule without China’s table, outside its years, and with custom weekend days', () => {
    const plain = { ...cal, useChinaHolidays: false };
    expect(isWorkingDay(plain, '2025-10-01')).toBe(true);
    expect(isWorkingDay(plain, '2025-09-28')).toBe(false);
    const { firstYear, lastYear } = chinaHolidayCoverage();
    expect(firstYear).toBe(2004);
    expect(lastYear).toBeGreaterThanOrEqual(2026);
    expect(isWorkingDay(cal, '2099-10-01')).toBe(true); // a Thursday, no data: weekend rule only
    const sixDays = { ...cal, weekendDays: [0] };
    expect(isWorkingDay(sixDays, '2025-11-15')).toBe(true); // Saturday
    expect(isWorkingDay(sixDays, '2025-10-04')).toBe(false); // Saturday in the National Day holiday
  });

  it('is independent of the process time zone', () => {
    const saved = process.env.TZ;
    try {
      process.env.TZ = 'America/Los_Angeles';
      expect(isWorkingDay(cal, '2025-09-28')).toBe(true);
      expect(isWorkingDay(cal, '2025-09-30')).toBe(true);
      expect(isWorkingDay(cal, '2025-10-01')).toBe(false);
      expect(addWorkingTime(cal, sh('2025-09-30', '16:00'), 4 * H)).toEqual(sh('2025-10-09', '11:00'));
    } finally {
      if (saved === undefined) delete process.env.TZ;
      else process.env.TZ = saved;
    }
  });

  it('24×7 treats every day as a working day, holidays included', () => {
    expect(isWorkingDay(always(), '2025-10-01')).toBe(true);
    expect(isWorkingDay(always(), '2026-02-15')).toBe(true);
  });

  it('has the length of a working day', () => {
    expect(workingDayMs(defaultCalendar())).toBe(9 * H);
    expect(workingDayMs(lunchCalendar)).toBe(7.5 * H);
    expect(workingDayMs(always())).toBe(24 * H);
  });

  it('refuses malformed calendars', () => {
    expect(() => validateCalendar(defaultCalendar('Mars/Olympus'))).toThrow(RangeError);
    expect(() => validateCalendar({ ...cal, workingHours: [{ start: '13:00', end: '12:00' }] })).toThrow(/end after/);
    expect(() =>
      validateCalendar({
        ...cal,
        workingHours: [
          { start: '09:00', end: '12:30' },
          { start: '12:00', end: '18:00' },
        ],
      }),
    ).toThrow(/overlap/);
    expect(() => validateCalendar({ ...cal, workingHours: [{ start: '9:00', end: '18:00' }] })).toThrow(/HH:MM/);
    expect(() => validateCalendar({ ...cal, workingHours: [] })).toThrow(/at least one/);
    expect(() => validateCalendar({ ...cal, weekendDays: [7] })).toThrow(/weekend/);
    expect(() => validateCalendar({ ...cal, overrides: [{ date: '2025-02-30', kind: 'holiday' }] })).toThrow(/date/);
    expect(() => addWorkingTime(cal, sh('2025-11-17', '09:00'), -1)).toThrow(RangeError);
    expect(() => addWorkingTime({ ...cal, useChinaHolidays: false, weekendDays: [0, 1, 2, 3, 4, 5, 6] }, sh('2025-11-17', '09:00'), H)).toThrow(
      /no working day/,
    );
    validateCalendar(cal);
    validateCalendar(lunchCalendar);
  });
});

describe('addWorkingTime and workingTimeBetween', () => {
  const cal = defaultCalendar();

  it('Friday 17:00 + 4 working hours is Monday 12:00', () => {
    const start = sh('2025-11-14', '17:00');
    expect(addWorkingTime(cal, start, 4 * H)).toEqual(sh('2025-11-17', '12:00'));
    expect(workingTimeBetween(cal, start, sh('2025-11-17', '12:00'))).toBe(4 * H);
  });

  it('starts counting at the next opening when started outside working hours, and ends at a closing, not the next opening', () => {
    expect(addWorkingTime(cal, sh('2025-11-17', '07:30'), 4 * H)).toEqual(sh('2025-11-17', '13:00'));
    expect(addWorkingTime(cal, sh('2025-11-15', '10:00'), H)).toEqual(sh('2025-11-17', '10:00')); // Saturday
    expect(addWorkingTime(cal, sh('2025-11-17', '19:00'), 9 * H)).toEqual(sh('2025-11-18', '18:00'));
    expect(addWorkingTime(lunchCalendar, sh('2025-11-17', '07:00'), 3 * H)).toEqual(sh('2025-11-17', '12:00'));
    expect(addWorkingTime(lunchCalendar, sh('2025-11-17', '07:00'), 4 * H)).toEqual(sh('2025-11-17', '14:30'));
    expect(addWorkingTime(lunchCalendar, sh('2025-11-17', '12:15'), 1)).toEqual(new Date(sh('2025-11-17', '13:30').getTime() + 1));
    expect(addWorkingTime(cal, sh('2025-11-15', '10:00'), 0)).toEqual(sh('2025-11-15', '10:00'));
  });

  it('crosses National Day 2025 and its make-up Saturday', () => {
    const start = sh('2025-09-30', '16:00'); // Tuesday, the last working day before the holiday
    expect(addWorkingTime(cal, start, 4 * H)).toEqual(sh('2025-10-09', '11:00'));
    // 27 h: 2 h on Sep 30, 9 h on Oct 9 and Oct 10, 7 h on Saturday Oct 11 (make-up workday).
    expect(addWorkingTime(cal, start, 27 * H)).toEqual(sh('2025-10-11', '16:00'));
    expect(workingTimeBetween(cal, sh('2025-09-30', '00:00'), sh('2025-10-12', '00:00'))).toBe(4 * 9 * H);
    // Friday 17:00 before the holiday: the make-up Sunday Sep 28 counts.
    expect(addWorkingTime(cal, sh('2025-09-26', '17:00'), 4 * H)).toEqual(sh('2025-09-28', '12:00'));
  });

  it('crosses the 2026 Spring Festival', () => {
    const start = sh('2026-02-13', '10:00'); // Friday
    expect(addWorkingTime(cal, start, 9 * H)).toEqual(sh('2026-02-14', '10:00')); // make-up Saturday
    // 63 h: 8 (Fri) + 9 (Sat 14th) + 4 × 9 (Tue 24th–Fri 27th) + 9 (Sat 28th) + 1 (Mon Mar 2).
    expect(addWorkingTime(cal, start, 63 * H)).toEqual(sh('2026-03-02', '10:00'));
  });

  it('24×7 counts clock time through holidays and nights', () => {
    const start = sh('2025-10-01', '23:00');
    expect(addWorkingTime(always(), start, 4 * H)).toEqual(sh('2025-10-02', '03:00'));
    expect(workingTimeBetween(always(), start, sh('2025-10-02', '03:00'))).toBe(4 * H);
  });

  it('handles America/New_York across daylight-saving changes', () => {
    // Friday 17:00 EDT + 4 working hours → Monday 12:00 EST, across the fall-back night.
    expect(addWorkingTime(nyCalendar, ny('2025-10-31', '17:00'), 4 * H).toISOString()).toBe('2025-11-03T17:00:00.000Z');
    // Friday 17:00 EST + 4 working hours → Monday 12:00 EDT, across the spring-forward night.
    expect(addWorkingTime(nyCalendar, ny('2025-03-07', '17:00'), 4 * H).toISOString()).toBe('2025-03-10T16:00:00.000Z');
    // Local days of 23 h and 25 h: working time is real elapsed time.
    expect(workingTimeBetween(nyAllDay, ny('2025-03-09', '00:00'), ny('2025-03-10', '00:00'))).toBe(23 * H);
    expect(workingTimeBetween(nyAllDay, ny('2025-11-02', '00:00'), ny('2025-11-03', '00:00'))).toBe(25 * H);
    expect(addWorkingTime(nyAllDay, ny('2025-03-09', '00:00'), 3 * H).toISOString()).toBe('2025-03-09T08:00:00.000Z'); // 04:00 EDT
    // 24 h of clock time on a 24×7 calendar: the wall clock shows 13:00 the next day.
    expect(addWorkingTime(always(NY), ny('2025-03-08', '12:00'), 24 * H)).toEqual(ny('2025-03-09', '13:00'));
  });

  it('tells working instants apart', () => {
    expect(isWorkingInstant(cal, sh('2025-11-17', '09:00'))).toBe(true);
    expect(isWorkingInstant(cal, sh('2025-11-17', '18:00'))).toBe(false);
    expect(isWorkingInstant(cal, sh('2025-10-02', '10:00'))).toBe(false);
    expect(isWorkingInstant(lunchCalendar, sh('2025-11-17', '12:30'))).toBe(false);
  });
});

describe('properties', () => {
  const calendars: BusinessCalendar[] = [
    defaultCalendar(),
    lunchCalendar,
    nyCalendar,
    nyAllDay,
    { ...defaultCalendar('Australia/Sydney'), useChinaHolidays: false, workingHours: [{ start: '00:30', end: '03:00' }, { start: '22:00', end: '24:00' }] },
    { ...defaultCalendar(), overrides: [{ date: '2025-10-08', kind: 'workday' }], weekendDays: [0] },
    always(NY),
  ];
  const calendar = fc.constantFrom(...calendars);
  const instant = fc.integer({ min: Date.UTC(2024, 0, 1), max: Date.UTC(2026, 11, 31) }).map((t) => new Date(t));
  const duration = fc.oneof(fc.integer({ min: 0, max: 20 * 9 * H }), fc.integer({ min: 0, max: 3 * H }), fc.constantFrom(0, 1, H, 9 * H));
  const params = { numRuns: 150 };

  it('workingTimeBetween(start, addWorkingTime(start, d)) === d', () => {
    fc.assert(
      fc.property(calendar, instant, duration, (cal, start, d) => {
        expect(workingTimeBetween(cal, start, addWorkingTime(cal, start, d))).toBe(d);
      }),
      params,
    );
  });

  it('is monotonic in the duration', () => {
    fc.assert(
      fc.property(calendar, instant, duration, duration, (cal, start, d1, d2) => {
        const [lo, hi] = d1 <= d2 ? [d1, d2] : [d2, d1];
        expect(addWorkingTime(cal, start, lo).getTime()).toBeLessThanOrEqual(addWorkingTime(cal, start, hi).getTime());
      }),
      params,
    );
  });

  it('ends inside working time (the millisecond before the result is working) unless the duration is 0', () => {
    fc.assert(
      fc.property(calendar, instant, duration, (cal, start, d) => {
        const end = addWorkingTime(cal, start, d);
        if (d === 0) expect(end).toEqual(start);
        else {
          expect(end.getTime()).toBeGreaterThan(start.getTime());
          expect(isWorkingInstant(cal, new Date(end.getTime() - 1))).toBe(true);
          expect(isWorkingDay(cal, localDateOf(cal.timeZone, new Date(end.getTime() - 1)))).toBe(true);
        }
      }),
      params,
    );
  });

  it('is additive: working time over [a, c) = [a, b) + [b, c)', () => {
    fc.assert(
      fc.property(calendar, instant, fc.array(fc.integer({ min: 0, max: 30 * 24 * H }), { minLength: 2, maxLength: 2 }), (cal, a, offsets) => {
        const [o1, o2] = [...offsets].sort((p, q) => p - q) as [number, number];
        const [b, c] = [new Date(a.getTime() + o1), new Date(a.getTime() + o2)];
        expect(workingTimeBetween(cal, a, c)).toBe(workingTimeBetween(cal, a, b) + workingTimeBetween(cal, b, c));
      }),
      { numRuns: 40 },
    );
  });
});

describe('zone offsets (memoised per quarter hour)', () => {
  // Zones with daylight saving (incl. Lord Howe's half hour), odd offsets (Chatham +12:45,
  // Kathmandu +05:45), China's 1986–1991 summer time, and local mean time before 1900.
  const zones = ['Asia/Shanghai', 'America/New_York', 'Europe/London', 'Australia/Lord_Howe', 'Pacific/Chatham', 'Asia/Kathmandu', 'America/Sao_Paulo', 'Africa/Casablanca'];
  const zone = fc.constantFrom(...zones);
  const anyInstant = fc.integer({ min: Date.UTC(1850, 0, 1), max: Date.UTC(2100, 0, 1) });

  it('equal Intl’s offset at any instant, seconds and milliseconds included', () => {
    fc.assert(
      fc.property(zone, anyInstant, (tz, t) => {
        expect(zoneOffsetMs(tz, t)).toBe(exactZoneOffsetMs(tz, t));
      }),
      { numRuns: 3_000 },
    );
  });

  it('around every change of offset (the seconds on both sides of it)', () => {
    for (const tz of zones) {
      // Walk 1850–2030 a week at a time; where the offset changed, check the seconds around the
      // change (the changes from local mean time fall at odd seconds, inside a quarter hour).
      const WEEK = 7 * 86_400_000;
      let prev = exactZoneOffsetMs(tz, Date.UTC(1850, 0, 1));
      for (let day = Date.UTC(1850, 0, 1) + WEEK; day < Date.UTC(2030, 0, 1); day += WEEK) {
        const off = exactZoneOffsetMs(tz, day);
        if (off === prev) continue;
        let lo = day - WEEK;
        let hi = day;
        while (hi - lo > 1000) {
          const mid = lo + Math.floor((hi - lo) / 2000) * 1000;
          if (exactZoneOffsetMs(tz, mid) === prev) lo = mid;
          else hi = mid;
        }
        for (const t of [lo - 1000, lo, lo + 999, hi, hi + 1, hi + 1000]) expect(zoneOffsetMs(tz, t), `${tz} at ${new Date(t).toISOString()}`).toBe(exactZoneOffsetMs(tz, t));
        prev = off;
      }
    }
  });
});
