/**
 * Business calendars: which instants count as working time for an SLA clock.
 *
 * Pure code (no I/O). A calendar has a time zone, daily working hours, weekend days, mainland
 * China's official holidays and make-up workdays (调休) from the `chinese-days` package, and
 * per-community date overrides. Working time is real elapsed time (milliseconds between instants)
 * inside the working intervals of working days, evaluated in the calendar's time zone, so a
 * working interval that spans a daylight-saving change is an hour shorter or longer that day.
 *
 * Holiday data: `chinese-days` ships the State Council's arrangements as a static table
 * (dist/chinese-days.json; years in `chinaHolidayCoverage()`). We read that table rather than the
 * package's `isWorkday()` functions, because those format dates with the *process* time zone and
 * give wrong days when the process runs west of UTC (checked with TZ=America/New_York). Outside
 * the covered years the plain weekend rule applies; community overrides can fill the gap.
 */
import chinaDays from 'chinese-days/dist/chinese-days.json' with { type: 'json' };

export interface WorkingInterval {
  /** Local wall time 'HH:MM', 00:00 ≤ start < end ≤ 24:00. */
  start: string;
  end: string;
}

export interface CalendarOverride {
  /** Local date 'YYYY-MM-DD' in the calendar's time zone. */
  date: string;
  kind: 'holiday' | 'workday';
}

export interface BusinessCalendar {
  /** IANA time zone, e.g. 'Asia/Shanghai'. */
  timeZone: string;
  /** '24x7': every instant counts (holidays, weekends and working hours are ignored). */
  kind: '24x7' | 'working_hours';
  /** Working intervals of each working day, sorted and not overlapping, e.g. 09:00–12:00 and 13:30–18:00. */
  workingHours: WorkingInterval[];
  /** Weekday numbers that are not working days (0 = Sunday … 6 = Saturday), default [0, 6]. */
  weekendDays: number[];
  /** Apply mainland China's official holidays and make-up workdays (调休). */
  useChinaHolidays: boolean;
  /** Per-community overrides; they win over China's table and the weekend rule. */
  overrides: CalendarOverride[];
}

export const DEFAULT_TIME_ZONE = 'Asia/Shanghai';

const MINUTE_MS = 60_000;
const DAY_MS = 86_400_000;
/** A calendar with no working day in this many consecutive days is refused (it would never end). */
const MAX_SCAN_DAYS = 3 * 366;

/** 09:00–18:00 Monday to Friday, with China's official holidays and make-up workdays. */
export function defaultCalendar(timeZone: string = DEFAULT_TIME_ZONE): BusinessCalendar {
  return {
    timeZone,
    kind: 'working_hours',
    workingHours: [{ start: '09:00', end: '18:00' }],
    weekendDays: [0, 6],
    useChinaHolidays: true,
    overrides: [],
  };
}

/** Round the clock, every day (emergencies). */
export function always(timeZone: string = DEFAULT_TIME_ZONE): BusinessCalendar {
  return { timeZone, kind: '24x7', workingHours: [{ start: '00:00', end: '24:00' }], weekendDays: [], useChinaHolidays: false, overrides: [] };
}

// ---------------------------------------------------------------------------------------------
// China's official holidays (chinese-days)
// ---------------------------------------------------------------------------------------------

const CHINA_HOLIDAYS: ReadonlyMap<string, string> = new Map(Object.entries(chinaDays.holidays));
const CHINA_WORKDAYS: ReadonlyMap<string, string> = new Map(Object.entries(chinaDays.workdays));
const COVERAGE = (() => {
  const years = [...CHINA_HOLIDAYS.keys(), ...CHINA_WORKDAYS.keys()].map((d) => Number(d.slice(0, 4)));
  return { firstYear: Math.min(...years), lastYear: Math.max(...years) };
})();

/** The years for which the installed `chinese-days` has official arrangements (inclusive). */
export function chinaHolidayCoverage(): { firstYear: number; lastYear: number } {
  return { ...COVERAGE };
}

/**
 * China's official status of a date: 'holiday' (法定节假日 and the days off around it), 'workday'
 * (调休 make-up workday on a weekend) or null (an ordinary day, or outside the covered years).
 * `name` is the package's label, e.g. "National Day,国庆节,3".
 */
export function chinaDayStatus(localDate: string): { kind: 'holiday' | 'workday'; name: string } | null {
  const holiday = CHINA_HOLIDAYS.get(localDate);
  if (holiday !== undefined) return { kind: 'holiday', name: holiday };
  const workday = CHINA_WORKDAYS.get(localDate);
  if (workday !== undefined) return { kind: 'workday', name: workday };
  return null;
}

// ---------------------------------------------------------------------------------------------
// Validation
// ---------------------------------------------------------------------------------------------

const HHMM_RE = /^([01]\d|2[0-4]):([0-5]\d)$/;
const DATE_RE = /^(\d{4})-(\d{2})-(\d{2})$/;

function parseHHMM(s: string): number {
  const m = HHMM_RE.exec(s);
  if (!m) throw new RangeError(`invalid time of day '${s}' (expected HH:MM)`);
  const minutes = Number(m[1]) * 60 + Number(m[2]);
  if (minutes > 24 * 60) throw new RangeError(`invalid time of day '${s}'`);
  return minutes;
}

interface Ymd {
  y: number;
  m: number;
  d: number;
}

function parseDate(s: string): Ymd {
  const m = DATE_RE.exec(s);
  if (!m) throw new RangeError(`invalid date '${s}' (expected YYYY-MM-DD)`);
  const ymd = { y: Number(m[1]), m: Number(m[2]), d: Number(m[3]) };
  if (formatYmd(ymdFromDayNumber(dayNumber(ymd))) !== s) throw new RangeError(`invalid date '${s}'`);
  return ymd;
}

// A calendar is plain data read from the database and never changed once built (a change makes a
// new object): what is derived from one is kept per object, so planning a ticket's SLA does not
// parse the same working hours and rebuild the same days again (it adds working time ten times).
const intervalsMemo = new WeakMap<BusinessCalendar, ReadonlyArray<readonly [number, number]>>();
const daysMemo = new WeakMap<BusinessCalendar, Map<number, ReadonlyArray<readonly [number, number]>>>();
/** Days kept per calendar (a few years either side of today). */
const DAYS_MEMO_MAX = 4_000;

/** Working intervals in minutes after local midnight; throws on malformed calendars. */
function minuteIntervals(cal: BusinessCalendar): ReadonlyArray<readonly [number, number]> {
  let intervals = intervalsMemo.get(cal);
  if (!intervals) {
    intervals = parseIntervals(cal);
    intervalsMemo.set(cal, intervals);
  }
  return intervals;
}

function parseIntervals(cal: BusinessCalendar): Array<[number, number]> {
  if (cal.kind === '24x7') return [[0, 24 * 60]];
  const out: Array<[number, number]> = [];
  let last = -1;
  for (const { start, end } of cal.workingHours) {
    const a = parseHHMM(start);
    const b = parseHHMM(end);
    if (b <= a) throw new RangeError(`working interval ${start}–${end} must end after it starts`);
    if (a < last) throw new RangeError(`working intervals must be sorted and must not overlap (${start}–${end})`);
    out.push([a, b]);
    last = b;
  }
  if (out.length === 0) throw new RangeError('a working-hours calendar needs at least one working interval');
  return out;
}

/** Throws a RangeError describing the first problem, if any (time zone, hours, weekend days, override dates). */
export function validateCalendar(cal: BusinessCalendar): void {
  zoneFormatter(cal.timeZone);
  minuteIntervals(cal);
  for (const w of cal.weekendDays) {
    if (!Number.isInteger(w) || w < 0 || w > 6) throw new RangeError(`invalid weekend day ${w} (0 = Sunday … 6 = Saturday)`);
  }
  for (const o of cal.overrides) parseDate(o.date);
}

// ---------------------------------------------------------------------------------------------
// Time zone helpers (Intl only)
// ---------------------------------------------------------------------------------------------

const formatters = new Map<string, Intl.DateTimeFormat>();

function zoneFormatter(timeZone: string): Intl.DateTimeFormat {
  let f = formatters.get(timeZone);
  if (!f) {
    // Throws RangeError for an unknown time zone.
    f = new Intl.DateTimeFormat('en-US', {
      timeZone,
      hourCycle: 'h23',
      year: 'numeric',
      month: 'numeric',
      day: 'numeric',
      hour: 'numeric',
      minute: 'numeric',
      second: 'numeric',
      era: 'short',
    });
    formatters.set(timeZone, f);
  }
  return f;
}

/** Local wall-clock fields of an instant, as if that wall time were UTC (ms, whole seconds). */
function wallAsUtc(timeZone: string, epochMs: number): number {
  const whole = Math.floor(epochMs / 1000) * 1000;
  return whole + offsetAt(timeZone, whole);
}

// The zone's offset is looked up per quarter hour: if it is the same at both ends of one, it holds
// all through (offsets change at most once in a quarter hour, in every zone's history), and is
// kept; a quarter hour with a change in it is asked exactly. Intl's formatToParts costs
// microseconds per call and the SLA ladder of one ticket asks hundreds of instants.
const OFFSET_SPAN_MS = 15 * MINUTE_MS;
const offsetMemo = new Map<string, Map<number, number>>();
const OFFSET_MEMO_MAX = 100_000;

function offsetAt(timeZone: string, whole: number): number {
  let memo = offsetMemo.get(timeZone);
  if (!memo) offsetMemo.set(timeZone, (memo = new Map()));
  const span = Math.floor(whole / OFFSET_SPAN_MS);
  const known = memo.get(span);
  if (known !== undefined) return known;
  const start = span * OFFSET_SPAN_MS;
  const first = exactWallAsUtc(timeZone, start) - start;
  const last = exactWallAsUtc(timeZone, start + OFFSET_SPAN_MS - 1000) - (start + OFFSET_SPAN_MS - 1000);
  if (first !== last) return exactWallAsUtc(timeZone, whole) - whole;
  if (memo.size >= OFFSET_MEMO_MAX) memo.clear();
  memo.set(span, first);
  return first;
}

function exactWallAsUtc(timeZone: string, epochMs: number): number {
  const parts = zoneFormatter(timeZone).formatToParts(new Date(epochMs));
  let y = 0;
  let mo = 0;
  let d = 0;
  let h = 0;
  let mi = 0;
  let s = 0;
  let bc = false;
  for (const p of parts) {
    switch (p.type) {
      case 'year': y = Number(p.value); break;
      case 'month': mo = Number(p.value); break;
      case 'day': d = Number(p.value); break;
      case 'hour': h = Number(p.value); break;
      case 'minute': mi = Number(p.value); break;
      case 'second': s = Number(p.value); break;
      case 'era': bc = p.value === 'BC' || p.value === 'B'; break;
      default: break;
    }
  }
  const date = new Date(0);
  date.setUTCFullYear(bc ? 1 - y : y, mo - 1, d);
  date.setUTCHours(h, mi, s, 0);
  return date.getTime();
}

/** zoneOffsetMs straight from Intl, without the per-quarter-hour memo (tests compare the two). */
export function exactZoneOffsetMs(timeZone: string, epochMs: number): number {
  const whole = Math.floor(epochMs / 1000) * 1000;
  return exactWallAsUtc(timeZone, whole) - whole;
}

/** UTC offset (ms, local − UTC) of the time zone at an instant. */
export function zoneOffsetMs(timeZone: string, epochMs: number): number {
  const whole = Math.floor(epochMs / 1000) * 1000;
  return wallAsUtc(timeZone, whole) - whole;
}

/**
 * The instant of a local wall time (given as ms of a UTC-pretend wall clock). Disambiguation is
 * that of Temporal's 'compatible': a wall time repeated by a backward shift maps to the earlier
 * instant; a wall time skipped by a forward shift maps to the instant as far past the gap's start
 * as the wall time is (02:30 on a spring-forward night in New York → 03:30 EDT).
 */
function wallToEpoch(timeZone: string, wall: number): number {
  let memo = wallMemo.get(timeZone);
  if (!memo) wallMemo.set(timeZone, (memo = new Map()));
  const known = memo.get(wall);
  if (known !== undefined) return known;
  const t = wallToEpochUncached(timeZone, wall);
  if (memo.size >= WALL_MEMO_MAX) memo.clear();
  memo.set(wall, t);
  return t;
}

// wallToEpoch is pure, and SLA computations ask it for the same working-day boundaries again and
// again (each costs a handful of Intl.DateTimeFormat calls: most of a ticket creation's CPU time
// before this memo); bounded per zone.
const wallMemo = new Map<string, Map<number, number>>();
const WALL_MEMO_MAX = 50_000;

function wallToEpochUncached(timeZone: string, wall: number): number {
  const before = zoneOffsetMs(timeZone, wall - DAY_MS);
  const after = zoneOffsetMs(timeZone, wall + DAY_MS);
  const candidates: number[] = [];
  for (const off of before === after ? [before] : [before, after]) {
    const t = wall - off;
    if (zoneOffsetMs(timeZone, t) === off) candidates.push(t);
  }
  if (candidates.length > 0) return Math.min(...candidates);
  if (before !== after) return wall - before; // in the gap of a forward shift
  // Rare: two shifts within two days. Iterate from a guess.
  let t = wall - zoneOffsetMs(timeZone, wall);
  for (let i = 0; i < 3; i++) t = wall - zoneOffsetMs(timeZone, t);
  return t;
}

// Day numbers: days since 1970-01-01 of the proleptic Gregorian calendar (time-zone free).
function dayNumber({ y, m, d }: Ymd): number {
  const date = new Date(0);
  date.setUTCFullYear(y, m - 1, d);
  return Math.floor(date.getTime() / DAY_MS);
}

function ymdFromDayNumber(n: number): Ymd {
  const date = new Date(n * DAY_MS);
  return { y: date.getUTCFullYear(), m: date.getUTCMonth() + 1, d: date.getUTCDate() };
}

function formatYmd({ y, m, d }: Ymd): string {
  return `${String(y).padStart(4, '0')}-${String(m).padStart(2, '0')}-${String(d).padStart(2, '0')}`;
}

/** The local date ('YYYY-MM-DD') of an instant in a time zone. */
export function localDateOf(timeZone: string, instant: Date): string {
  return formatYmd(ymdFromDayNumber(localDayNumber(timeZone, instant.getTime())));
}

function localDayNumber(timeZone: string, epochMs: number): number {
  return Math.floor(wallAsUtc(timeZone, epochMs) / DAY_MS);
}

/** The instant of a local date and wall time ('HH:MM', 24:00 allowed) in a time zone. */
export function zonedInstant(timeZone: string, localDate: string, time = '00:00'): Date {
  const day = dayNumber(parseDate(localDate));
  return new Date(wallToEpoch(timeZone, day * DAY_MS + parseHHMM(time) * MINUTE_MS));
}

// ---------------------------------------------------------------------------------------------
// Working days and working time
// ---------------------------------------------------------------------------------------------

/** Is this local date ('YYYY-MM-DD') a working day? Override > China's table > weekend rule. */
export function isWorkingDay(cal: BusinessCalendar, localDate: string): boolean {
  const ymd = parseDate(localDate);
  return isWorkingDayNumber(cal, dayNumber(ymd), localDate);
}

function isWorkingDayNumber(cal: BusinessCalendar, day: number, localDate: string): boolean {
  if (cal.kind === '24x7') return true;
  for (let i = cal.overrides.length - 1; i >= 0; i--) {
    const o = cal.overrides[i]!;
    if (o.date === localDate) return o.kind === 'workday';
  }
  if (cal.useChinaHolidays) {
    const status = chinaDayStatus(localDate);
    if (status) return status.kind === 'workday';
  }
  const weekday = (((day + 4) % 7) + 7) % 7; // 1970-01-01 was a Thursday
  return !cal.weekendDays.includes(weekday);
}

/** The total length of one day's working hours (9 h for the default calendar, 24 h for 24×7). */
export function workingDayMs(cal: BusinessCalendar): number {
  return minuteIntervals(cal).reduce((sum, [a, b]) => sum + (b - a) * MINUTE_MS, 0);
}

/** Working intervals of one local day as instants [start, end), in order (a DST gap can make one empty). */
function dayIntervals(cal: BusinessCalendar, intervals: ReadonlyArray<readonly [number, number]>, day: number): ReadonlyArray<readonly [number, number]> {
  let days = daysMemo.get(cal);
  if (!days) {
    days = new Map();
    daysMemo.set(cal, days);
  }
  let spans = days.get(day);
  if (!spans) {
    const midnight = day * DAY_MS;
    spans = isWorkingDayNumber(cal, day, formatYmd(ymdFromDayNumber(day)))
      ? intervals.map(([a, b]) => [wallToEpoch(cal.timeZone, midnight + a * MINUTE_MS), wallToEpoch(cal.timeZone, midnight + b * MINUTE_MS)] as const)
      : [];
    if (days.size >= DAYS_MEMO_MAX) days.clear();
    days.set(day, spans);
  }
  return spans;
}

function assertInstant(d: Date, name: string): number {
  const t = d.getTime();
  if (!Number.isFinite(t)) throw new RangeError(`${name} is not a valid date`);
  return t;
}

/**
 * The instant when `durationMs` of working time has elapsed from `start`. A zero duration gives
 * `start` itself; otherwise the result always lies inside a working interval (its end included),
 * so a start outside working hours begins counting at the next opening, and a duration that
 * exactly fills a working interval ends at that interval's end (18:00, not 09:00 next day).
 */
export function addWorkingTime(cal: BusinessCalendar, start: Date, durationMs: number): Date {
  const t0 = assertInstant(start, 'start');
  if (!Number.isFinite(durationMs) || durationMs < 0) throw new RangeError(`duration must be a finite number ≥ 0, got ${durationMs}`);
  if (durationMs === 0) return new Date(t0);
  if (cal.kind === '24x7') {
    zoneFormatter(cal.timeZone);
    return new Date(t0 + durationMs);
  }
  const intervals = minuteIntervals(cal);
  let remaining = durationMs;
  let cursor = t0;
  // Start one local day early: with a 24:00 end the previous day's last interval can reach past midnight.
  let day = localDayNumber(cal.timeZone, t0) - 1;
  let idle = 0;
  for (;;) {
    const spans = dayIntervals(cal, intervals, day);
    if (spans.length === 0) {
      if (++idle > MAX_SCAN_DAYS) throw new RangeError(`calendar has no working day in ${MAX_SCAN_DAYS} days after ${start.toISOString()}`);
    } else {
      idle = 0;
    }
    for (const [a, b] of spans) {
      if (b <= cursor) continue;
      const from = Math.max(a, cursor);
      const available = b - from;
      if (remaining <= available) return new Date(from + remaining);
      remaining -= available;
      cursor = b;
    }
    day += 1;
  }
}

/** Milliseconds of working time in [from, to) (0 when `to` ≤ `from`). */
export function workingTimeBetween(cal: BusinessCalendar, from: Date, to: Date): number {
  const a0 = assertInstant(from, 'from');
  const b0 = assertInstant(to, 'to');
  if (b0 <= a0) return 0;
  if (cal.kind === '24x7') {
    zoneFormatter(cal.timeZone);
    return b0 - a0;
  }
  const intervals = minuteIntervals(cal);
  const lastDay = localDayNumber(cal.timeZone, b0);
  let total = 0;
  for (let day = localDayNumber(cal.timeZone, a0) - 1; day <= lastDay; day++) {
    for (const [a, b] of dayIntervals(cal, intervals, day)) {
      const lo = Math.max(a, a0);
      const hi = Math.min(b, b0);
      if (hi > lo) total += hi - lo;
    }
  }
  return total;
}

/** Is the instant inside working time (interval start included, end excluded)? */
export function isWorkingInstant(cal: BusinessCalendar, at: Date): boolean {
  const t = assertInstant(at, 'at');
  return workingTimeBetween(cal, new Date(t), new Date(t + 1)) === 1;
}
