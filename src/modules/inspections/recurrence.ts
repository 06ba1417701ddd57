/**
 * Recurrence of inspection plans (pure: no I/O). A plan recurs by an RFC 5545 RRULE on the local
 * wall clock of its community's time zone, from a local start (dtstart, 'YYYY-MM-DDTHH:MM').
 *
 * How: the `rrule` package iterates on a "floating" clock (local wall times written as if they
 * were UTC, with no tzid), so month ends (BYMONTHDAY=31 skips short months, -1 is the last day),
 * leap days (Feb 29 yearly occurs in leap years only) and weekdays are exactly RFC 5545's. Each
 * wall time is then placed in the time zone with zonedInstant (business-calendar.ts): a wall time
 * skipped by a daylight-saving jump moves forward by the jump (02:30 → 03:30, as RFC 5545 says),
 * a repeated one takes its first instant; two wall times landing on one instant count once.
 *
 * Validation keeps rules sane: one RRULE value only (no DTSTART/TZID/EXDATE lines: the plan has
 * its own start and zone), FREQ required, nothing more often than hourly (no MINUTELY/SECONDLY,
 * no BYSECOND, no two occurrences less than an hour apart), and it must occur within 8 years.
 * UNTIL is read on the same local wall clock as everything else.
 */
import rrulePkg from 'rrule';
import type { Options } from 'rrule';
import { zonedInstant, zoneOffsetMs } from '../calendars/business-calendar.js';

// rrule ships CommonJS (UMD) to Node: its exports arrive as the default import's properties.
const { RRule, Frequency } = rrulePkg;
type RRuleInstance = InstanceType<typeof RRule>;

const MINUTE_MS = 60_000;
const HOUR_MS = 3_600_000;
const DAY_MS = 86_400_000;
/** A rule must occur within this long after its start (a rule that never occurs is refused). */
const MUST_OCCUR_WITHIN_MS = 8 * 366 * DAY_MS;
/** How many occurrences from the start validation looks at to measure the smallest gap. */
const SAMPLE = 400;
export const MIN_GAP_MS = HOUR_MS;

export interface Recurrence {
  /** e.g. 'FREQ=MONTHLY;BYMONTHDAY=-1' (an optional leading 'RRULE:' is accepted). */
  rrule: string;
  /** Local wall time of the first occurrence, 'YYYY-MM-DDTHH:MM'. */
  dtstartLocal: string;
  /** IANA time zone, e.g. 'Asia/Shanghai'. */
  timeZone: string;
}

export class RecurrenceError extends Error {
  override name = 'RecurrenceError';
  constructor(
    message: string,
    readonly field: 'rrule' | 'dtstart' | 'timeZone',
  ) {
    super(message);
  }
}

const DTSTART_RE = /^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2})$/;

/** The local start as a floating instant (wall time written as UTC). */
export function floatingStart(dtstartLocal: string): Date {
  const m = DTSTART_RE.exec(dtstartLocal);
  if (!m) throw new RecurrenceError('dtstart must be a local date and time, YYYY-MM-DDTHH:MM', 'dtstart');
  const [y, mo, d, h, mi] = m.slice(1).map(Number) as [number, number, number, number, number];
  const date = new Date(Date.UTC(y, mo - 1, d, h, mi));
  if (date.getUTCFullYear() !== y || date.getUTCMonth() !== mo - 1 || date.getUTCDate() !== d || h > 23 || mi > 59) {
    throw new RecurrenceError(`dtstart ${dtstartLocal} is not a real date and time`, 'dtstart');
  }
  if (y < 2000 || y > 2200) throw new RecurrenceError('dtstart must be between the years 2000 and 2200', 'dtstart');
  return date;
}

export function isValidTimeZone(timeZone: string): boolean {
  try {
    new Intl.DateTimeFormat('en', { timeZone }).format(0);
    return true;
  } catch {
    return false;
  }
}

const ALLOWED_KEYS = new Set(['FREQ', 'INTERVAL', 'COUNT', 'UNTIL', 'WKST', 'BYSETPOS', 'BYMONTH', 'BYMONTHDAY', 'BYYEARDAY', 'BYWEEKNO', 'BYDAY', 'BYHOUR', 'BYMINUTE']);
const FREQS = ['YEARLY', 'MONTHLY', 'WEEKLY', 'DAILY', 'HOURLY'];

/** The rule text as stored: upper case, no 'RRULE:' prefix, no spaces. */
export function normaliseRule(rule: string): string {
  return rule.trim().replace(/^RRULE:/i, '').replace(/\s+/g, '').toUpperCase();
}

/** Parses one RRULE value into rrule's options, refusing what we do not support (RecurrenceError). */
function parseRule(rule: string): Partial<Options> {
  const text = normaliseRule(rule);
  if (text.length === 0) throw new RecurrenceError('The rule is empty', 'rrule');
  if (/[\r\n]/.test(rule) || /(^|;)(DTSTART|TZID|EXDATE|RDATE)/i.test(text)) {
    throw new RecurrenceError('Give one RRULE value only (e.g. FREQ=MONTHLY;BYMONTHDAY=1); the start and time zone are separate fields', 'rrule');
  }
  const parts = text.split(';').filter(Boolean);
  const seen = new Set<string>();
  for (const part of parts) {
    const [key, value, extra] = part.split('=');
    if (!key || value === undefined || value === '' || extra !== undefined) throw new RecurrenceError(`"${part}" is not KEY=VALUE`, 'rrule');
    if (key === 'BYSECOND') throw new RecurrenceError('BYSECOND is not supported: plans recur at most hourly', 'rrule');
    if (!ALLOWED_KEYS.has(key)) throw new RecurrenceError(`Unknown or unsupported rule part ${key}`, 'rrule');
    if (seen.has(key)) throw new RecurrenceError(`${key} is given twice`, 'rrule');
    seen.add(key);
    if (key === 'FREQ' && !FREQS.includes(value)) {
      throw new RecurrenceError(
        value === 'MINUTELY' || value === 'SECONDLY' ? 'A plan may recur at most hourly (FREQ=MINUTELY and SECONDLY are refused)' : `FREQ must be one of ${FREQS.join(', ')}`,
        'rrule',
      );
    }
    if (key === 'INTERVAL' && !/^[1-9]\d{0,3}$/.test(value)) throw new RecurrenceError('INTERVAL must be a whole number from 1 to 9999', 'rrule');
    if (key === 'COUNT' && !/^[1-9]\d{0,4}$/.test(value)) throw new RecurrenceError('COUNT must be a whole number from 1 to 99999', 'rrule');
    if (key === 'UNTIL' && !/^\d{8}(T\d{6}Z?)?$/.test(value)) throw new RecurrenceError('UNTIL must be YYYYMMDD or YYYYMMDDTHHMMSS', 'rrule');
    if ((key === 'BYDAY' || key === 'WKST') && !new RegExp(`^${key === 'BYDAY' ? '([+-]?[1-9][0-9]?)?' : ''}(MO|TU|WE|TH|FR|SA|SU)${key === 'BYDAY' ? '(,([+-]?[1-9][0-9]?)?(MO|TU|WE|TH|FR|SA|SU))*' : ''}$`).test(value)) {
      throw new RecurrenceError(`${key} must be weekday codes such as MO,WE or 1MO, -1FR`, 'rrule');
    }
    if (/^BY(MONTH|MONTHDAY|YEARDAY|WEEKNO|HOUR|MINUTE|SETPOS)$/.test(key) && !/^[+-]?\d{1,3}(,[+-]?\d{1,3})*$/.test(value)) {
      throw new RecurrenceError(`${key} must be a comma-separated list of whole numbers`, 'rrule');
    }
  }
  if (!seen.has('FREQ')) throw new RecurrenceError('FREQ is required (e.g. FREQ=MONTHLY)', 'rrule');
  if (seen.has('COUNT') && seen.has('UNTIL')) throw new RecurrenceError('COUNT and UNTIL cannot both be given', 'rrule');
  let options: Partial<Options>;
  try {
    options = RRule.parseString(text);
  } catch (err) {
    throw new RecurrenceError(`The rule cannot be read: ${(err as Error).message}`, 'rrule');
  }
  // Number lists must be numbers in range (rrule itself accepts NaN silently).
  const ranges: Array<[keyof Options, number, number, boolean]> = [
    ['bymonth', 1, 12, false],
    ['bymonthday', -31, 31, true],
    ['byyearday', -366, 366, true],
    ['byweekno', -53, 53, true],
    ['byhour', 0, 23, false],
    ['byminute', 0, 59, false],
    ['bysetpos', -366, 366, true],
  ];
  for (const [key, min, max, nonZero] of ranges) {
    const v = options[key];
    if (v === undefined || v === null) continue;
    const list = (Array.isArray(v) ? v : [v]) as unknown[];
    if (list.some((n) => typeof n !== 'number' || !Number.isInteger(n) || n < min || n > max || (nonZero && n === 0))) {
      throw new RecurrenceError(`${String(key).toUpperCase()} values must be whole numbers in ${min}…${max}${nonZero ? ', not 0' : ''}`, 'rrule');
    }
  }
  if (options.freq === undefined || !(options.freq in Frequency)) throw new RecurrenceError('FREQ is not valid', 'rrule');
  if (options.freq === Frequency.MINUTELY || options.freq === Frequency.SECONDLY) throw new RecurrenceError('A plan may recur at most hourly', 'rrule');
  return options;
}

/** A small cache: plans share few distinct rules, and parsing is the costly part for bulk generation. */
const parsedCache = new Map<string, Partial<Options>>();
function parseCached(rule: string): Partial<Options> {
  const key = normaliseRule(rule);
  let options = parsedCache.get(key);
  if (!options) {
    options = parseRule(key);
    if (parsedCache.size > 5_000) parsedCache.clear();
    parsedCache.set(key, options);
  }
  return options;
}

function ruleOf(r: Recurrence, start = floatingStart(r.dtstartLocal)): RRuleInstance {
  const options = parseCached(r.rrule);
  return new RRule({ ...options, dtstart: start, tzid: null });
}

const present = (v: unknown) => v !== undefined && v !== null && (!Array.isArray(v) || v.length > 0);

/**
 * The start moved forward by whole periods of the rule to at least one period before `lo` (a
 * floating instant), giving the same occurrences from `lo` on. rrule iterates from its start, so
 * a plan begun years ago costs more to evaluate than one begun last week; and plans with the same
 * rule and phase but different starts then share one evaluation (the memo below). Not for COUNT
 * rules (counted from the real start); where the rule falls back on the start's own day (no
 * BYMONTHDAY, BYDAY, BYYEARDAY, BYWEEKNO) that day is kept, and a monthly rule on the 29th–31st
 * or a yearly one on 29 February stays where it is. Where the rule names its days, the start goes
 * to the first day of its month (monthly) or year (yearly): the day no longer matters.
 */
export function canonicalStart(rule: string, start: Date, lo: number): Date {
  const o = parseCached(rule);
  if (present(o.count) || o.freq === undefined) return start;
  const k = typeof o.interval === 'number' && o.interval > 0 ? o.interval : 1;
  const dayRule = present(o.bymonthday) || present(o.byweekday) || present(o.byyearday) || present(o.byweekno);
  const t = start.getTime();
  const timeOfDay = t - Math.floor(t / DAY_MS) * DAY_MS;
  const fixed = (step: number) => {
    const n = Math.floor((lo - t) / step) - 1;
    return n > 0 ? new Date(t + n * step) : start;
  };
  switch (o.freq) {
    case Frequency.HOURLY:
      return fixed(k * HOUR_MS);
    case Frequency.DAILY:
      return fixed(k * DAY_MS);
    case Frequency.WEEKLY:
      return fixed(k * 7 * DAY_MS);
    case Frequency.MONTHLY: {
      const day = start.getUTCDate();
      if (!dayRule && day > 28) return start;
      const loDate = new Date(lo);
      const months = loDate.getUTCFullYear() * 12 + loDate.getUTCMonth() - (start.getUTCFullYear() * 12 + start.getUTCMonth());
      const n = Math.floor(months / k) - 1;
      if (n <= 0) return start;
      const m = start.getUTCMonth() + n * k;
      return new Date(Date.UTC(start.getUTCFullYear() + Math.floor(m / 12), m % 12, dayRule ? 1 : day) + timeOfDay);
    }
    case Frequency.YEARLY: {
      if (!dayRule && start.getUTCMonth() === 1 && start.getUTCDate() === 29) return start;
      const n = Math.floor((new Date(lo).getUTCFullYear() - start.getUTCFullYear()) / k) - 1;
      if (n <= 0) return start;
      const y = start.getUTCFullYear() + n * k;
      return new Date((dayRule ? Date.UTC(y, 0, 1) : Date.UTC(y, start.getUTCMonth(), start.getUTCDate())) + timeOfDay);
    }
    default:
      return start;
  }
}

/** Results per (rule, canonical start, zone, window): plans with the same rhythm are evaluated once. */
const evaluated = new Map<string, { occurrences: Date[]; next: Date | null }>();

const pad = (n: number) => String(n).padStart(2, '0');

/** Placing wall times is costly (Intl) and plans share them (the same day at 09:00): a bounded memo. */
const placed = new Map<string, number>();

/** A floating instant (wall time as UTC) placed in the time zone. */
export function wallToInstant(timeZone: string, floating: Date): Date {
  const key = `${timeZone}|${floating.getTime()}`;
  const hit = placed.get(key);
  if (hit !== undefined) return new Date(hit);
  const date = `${floating.getUTCFullYear()}-${pad(floating.getUTCMonth() + 1)}-${pad(floating.getUTCDate())}`;
  const instant = zonedInstant(timeZone, date, `${pad(floating.getUTCHours())}:${pad(floating.getUTCMinutes())}`);
  if (placed.size >= 50_000) placed.clear();
  placed.set(key, instant.getTime());
  return instant;
}

/**
 * Checks a plan's recurrence; throws RecurrenceError (a 400 for the API) with what is wrong.
 * Returns the rule as it will be stored and the first occurrences (for previews).
 */
export function validateRecurrence(r: Recurrence): { rrule: string; firstOccurrences: Date[] } {
  if (!isValidTimeZone(r.timeZone)) throw new RecurrenceError(`Unknown time zone ${r.timeZone}`, 'timeZone');
  const start = floatingStart(r.dtstartLocal);
  let floats: Date[];
  try {
    const rule = ruleOf(r);
    floats = rule.between(new Date(start.getTime() - 1), new Date(start.getTime() + MUST_OCCUR_WITHIN_MS), true, (_d, i) => i < SAMPLE);
  } catch (err) {
    if (err instanceof RecurrenceError) throw err;
    throw new RecurrenceError(`The rule cannot be evaluated: ${(err as Error).message}`, 'rrule');
  }
  if (floats.length === 0) throw new RecurrenceError('The rule never occurs within 8 years of dtstart', 'rrule');
  for (let i = 1; i < floats.length; i++) {
    const gap = (floats[i] as Date).getTime() - (floats[i - 1] as Date).getTime();
    if (gap < MIN_GAP_MS) throw new RecurrenceError(`Occurrences ${Math.round(gap / MINUTE_MS)} minutes apart: a plan may recur at most hourly`, 'rrule');
  }
  return { rrule: normaliseRule(r.rrule), firstOccurrences: dedupe(floats.slice(0, 10).map((f) => wallToInstant(r.timeZone, f))) };
}

function dedupe(instants: Date[]): Date[] {
  const seen = new Set<number>();
  return instants.filter((d) => (seen.has(d.getTime()) ? false : (seen.add(d.getTime()), true)));
}

/**
 * The occurrences (instants) of a recurrence in [from, to), in order. The floating window is
 * widened by a day each side (the zone's offset is at most ±14 h) and the instants filtered.
 */
export function occurrencesBetween(r: Recurrence, from: Date, to: Date): Date[] {
  if (to <= from) return [];
  const rule = ruleOf(r);
  const lo = new Date(from.getTime() + zoneOffsetMs(r.timeZone, from.getTime()) - DAY_MS);
  const hi = new Date(to.getTime() + zoneOffsetMs(r.timeZone, to.getTime()) + DAY_MS);
  const floats = rule.between(lo, hi, true);
  return dedupe(floats.map((f) => wallToInstant(r.timeZone, f))).filter((d) => d >= from && d < to);
}

/**
 * The occurrences in [from, to) and the first one at or after `to` (null when the rule has ended
 * by then): what a generator needs to know when to look at the plan again. One pass of the rule.
 */
export function occurrencesWithNext(r: Recurrence, from: Date, to: Date, opts: { exact?: boolean } = {}): { occurrences: Date[]; next: Date | null } {
  const lo = new Date(from.getTime() + zoneOffsetMs(r.timeZone, from.getTime()) - DAY_MS);
  // Floating times up to a day past `to` may still be before it; beyond that every one is after.
  const hiFloat = to.getTime() + zoneOffsetMs(r.timeZone, to.getTime()) + DAY_MS;
  const rawStart = floatingStart(r.dtstartLocal);
  // `exact`: from the plan's own start, no memo (tests compare the two).
  const start = opts.exact ? rawStart : canonicalStart(r.rrule, rawStart, lo.getTime());
  const key = `${normaliseRule(r.rrule)}|${start.getTime()}|${r.timeZone}|${from.getTime()}|${to.getTime()}`;
  const known = opts.exact ? undefined : evaluated.get(key);
  if (known) return { occurrences: [...known.occurrences], next: known.next };
  const rule = ruleOf(r, start);
  const floats: Date[] = [];
  let beyond = 0;
  rule.between(lo, new Date(hiFloat + MUST_OCCUR_WITHIN_MS), true, (d) => {
    floats.push(d);
    if (d.getTime() > hiFloat) beyond++;
    // Stop once two floating times lie past the window (the first may coincide with the last in
    // the window after a daylight-saving jump, and is deduplicated).
    return beyond < 2;
  });
  const instants = dedupe(floats.map((f) => wallToInstant(r.timeZone, f)));
  const result = { occurrences: instants.filter((d) => d >= from && d < to), next: instants.find((d) => d >= to) ?? null };
  if (!opts.exact) {
    if (evaluated.size >= 20_000) evaluated.clear();
    evaluated.set(key, { occurrences: [...result.occurrences], next: result.next });
  }
  return result;
}

/** The next occurrence at or after an instant, or null when the rule has ended. */
export function nextOccurrence(r: Recurrence, after: Date): Date | null {
  const { occurrences, next } = occurrencesWithNext(r, after, new Date(after.getTime() + 1));
  return occurrences[0] ?? next;
}
