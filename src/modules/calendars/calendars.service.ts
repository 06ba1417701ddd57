import type { Db, DbOrTrx } from '../../db/index.js';
import type { Priority } from '../../db/types.js';
import { badRequest, notFound, unprocessable } from '../../lib/errors.js';
import type { Actor } from '../../plugins/access.js';
import { recordAudit } from '../audit/audit.service.js';
import { DEFAULT_SETTINGS, communitySettings, type CommunitySettings } from '../communities/settings.js';
import { PRIORITIES, durationMs, policyCalendar, selectPolicy, type SlaDuration, type SlaPolicy } from '../tickets/sla.js';
import {
  addWorkingTime,
  chinaDayStatus,
  chinaHolidayCoverage,
  defaultCalendar,
  isWorkingDay,
  validateCalendar,
  workingDayMs,
  type BusinessCalendar,
  type CalendarOverride,
  type WorkingInterval,
} from './business-calendar.js';
import * as repo from './calendars.repository.js';
import { MAX_DAYS } from './calendars.schemas.js';

/**
 * Business calendars, SLA policies and community settings: what the SLA clock of tickets is
 * measured with (src/modules/tickets/sla.service.ts reads the same tables). Changing any of them
 * applies to tickets opened or recomputed afterwards; existing tickets keep their targets.
 */

interface Problem {
  field: string;
  in: 'body' | 'querystring';
  message: string;
}

const invalid = (message: string, details: Problem[]) => badRequest(message, details);

async function community(db: DbOrTrx, communityId: string) {
  const c = await repo.findCommunityBasics(db, communityId);
  if (!c) throw notFound('Community');
  return c;
}

// ---------------------------------------------------------------------------------------------
// Business calendar
// ---------------------------------------------------------------------------------------------

type CalendarRow = NonNullable<Awaited<ReturnType<typeof repo.findCalendar>>>;

/** A stored row as the SLA clock sees it (the same mapping as loadSlaContext). */
export function rowToCalendar(row: CalendarRow): BusinessCalendar {
  return {
    timeZone: row.time_zone,
    kind: 'working_hours',
    workingHours: row.working_hours,
    weekendDays: row.weekend_days,
    useChinaHolidays: row.use_china_holidays,
    overrides: row.overrides,
  };
}

/** The community's calendar: its stored one, else the default for its time zone. */
export async function communityCalendar(db: DbOrTrx, communityId: string) {
  const [c, row] = await Promise.all([community(db, communityId), repo.findCalendar(db, communityId)]);
  return { calendar: row ? rowToCalendar(row) : defaultCalendar(c.time_zone), row: row ?? null };
}

export function toCalendarDto(communityId: string, calendar: BusinessCalendar, row: CalendarRow | null) {
  return {
    communityId,
    isDefault: row === null,
    timeZone: calendar.timeZone,
    workingHours: calendar.workingHours.map((w) => ({ start: w.start, end: w.end })),
    weekendDays: [...calendar.weekendDays],
    useChinaHolidays: calendar.useChinaHolidays,
    overrides: calendar.overrides.map((o) => ({ date: o.date, kind: o.kind })),
    updatedAt: row ? row.updated_at.toISOString() : null,
    chinaHolidays: chinaHolidayCoverage(),
  };
}

export async function getCalendar(db: Db, communityId: string) {
  const { calendar, row } = await communityCalendar(db, communityId);
  return toCalendarDto(communityId, calendar, row);
}

const message = (err: unknown) => (err instanceof Error ? err.message : String(err));

/** Every problem of a calendar, each with the field it is about (validateCalendar stops at the first). */
function calendarProblems(cal: BusinessCalendar): Problem[] {
  const problems: Problem[] = [];
  const check = (field: string, partial: Partial<BusinessCalendar>) => {
    try {
      validateCalendar({ ...defaultCalendar(), ...partial });
    } catch (err) {
      problems.push({ field, in: 'body', message: message(err) });
    }
  };
  check('timeZone', { timeZone: cal.timeZone });
  check('workingHours', { workingHours: cal.workingHours });
  check('weekendDays', { weekendDays: cal.weekendDays });
  if (new Set(cal.weekendDays).size >= 7) problems.push({ field: 'weekendDays', in: 'body', message: 'at least one day of the week must be a working day' });
  const seen = new Map<string, number>();
  cal.overrides.forEach((o, i) => {
    check(`overrides.${i}.date`, { overrides: [o] });
    const first = seen.get(o.date);
    if (first !== undefined) problems.push({ field: `overrides.${i}.date`, in: 'body', message: `duplicate date ${o.date} (also overrides.${first}): one override per date` });
    else seen.set(o.date, i);
  });
  if (problems.length > 0) return problems;
  try {
    validateCalendar(cal);
    // A calendar must have working time ahead, or no SLA target could ever be computed with it.
    addWorkingTime(cal, new Date(), workingDayMs(cal));
  } catch (err) {
    problems.push({ field: '', in: 'body', message: message(err) });
  }
  return problems;
}

const canonicalTimeZone = (tz: string) => {
  try {
    return new Intl.DateTimeFormat('en-US', { timeZone: tz }).resolvedOptions().timeZone;
  } catch {
    return tz; // reported by the validation
  }
};

const byStart = (a: WorkingInterval, b: WorkingInterval) => (a.start < b.start ? -1 : a.start > b.start ? 1 : a.end < b.end ? -1 : a.end > b.end ? 1 : 0);

export interface CalendarInput {
  timeZone?: string;
  workingHours: WorkingInterval[];
  weekendDays: number[];
  useChinaHolidays: boolean;
  overrides: CalendarOverride[];
}

/** Replaces the community's calendar (validated), auditing before and after. */
export async function putCalendar(db: Db, actor: Actor, communityId: string, input: CalendarInput) {
  return db.transaction().execute(async (trx) => {
    const c = await repo.findCommunityForUpdate(trx, communityId);
    if (!c) throw notFound('Community');
    const beforeRow = await repo.findCalendarForUpdate(trx, communityId);
    const before = beforeRow ? rowToCalendar(beforeRow) : defaultCalendar(c.time_zone);
    const calendar: BusinessCalendar = {
      timeZone: input.timeZone !== undefined ? canonicalTimeZone(input.timeZone.trim()) : before.timeZone,
      kind: 'working_hours',
      // Sorted by start: validateCalendar then reports only real overlaps.
      workingHours: input.workingHours.map((w) => ({ start: w.start, end: w.end })).sort(byStart),
      weekendDays: [...input.weekendDays].sort((a, b) => a - b),
      useChinaHolidays: input.useChinaHolidays,
      overrides: input.overrides.map((o) => ({ date: o.date, kind: o.kind })).sort((a, b) => (a.date < b.date ? -1 : a.date > b.date ? 1 : 0)),
    };
    // Problems are reported against the request's own indexes (overrides are sorted only to store them).
    const problems = calendarProblems({ ...calendar, overrides: input.overrides });
    if (problems.length > 0) throw invalid(`Invalid calendar: ${problems[0]!.field ? `${problems[0]!.field}: ` : ''}${problems[0]!.message}`, problems);
    const row = await repo.upsertCalendar(trx, {
      community_id: communityId,
      time_zone: calendar.timeZone,
      working_hours: calendar.workingHours,
      weekend_days: calendar.weekendDays,
      use_china_holidays: calendar.useChinaHolidays,
      overrides: calendar.overrides,
    });
    const dto = toCalendarDto(communityId, rowToCalendar(row), row);
    const audited = (d: ReturnType<typeof toCalendarDto>) => ({
      isDefault: d.isDefault,
      timeZone: d.timeZone,
      workingHours: d.workingHours,
      weekendDays: d.weekendDays,
      useChinaHolidays: d.useChinaHolidays,
      overrides: d.overrides,
    });
    await recordAudit(trx, {
      communityId,
      actorUserId: actor.userId,
      action: 'calendar.updated',
      entityType: 'business_calendar',
      entityId: communityId,
      before: audited(toCalendarDto(communityId, before, beforeRow ?? null)),
      after: audited(dto),
    });
    return dto;
  });
}

const DAY_MS = 86_400_000;
const dayOf = (date: string) => Date.parse(`${date}T00:00:00Z`) / DAY_MS;
const dateOf = (day: number) => new Date(day * DAY_MS).toISOString().slice(0, 10);

export type DayReason = 'weekend' | 'holiday' | 'makeup_workday' | 'override' | 'workday';

/** One date of a calendar, with the rule that decided it (the precedence of isWorkingDay). */
export function describeDay(cal: BusinessCalendar, date: string): { date: string; working: boolean; reason: DayReason; name?: string } {
  const working = isWorkingDay(cal, date);
  if (cal.overrides.some((o) => o.date === date)) return { date, working, reason: 'override' };
  if (cal.useChinaHolidays) {
    const status = chinaDayStatus(date);
    if (status) return { date, working, reason: status.kind === 'holiday' ? 'holiday' : 'makeup_workday', name: status.name };
  }
  return { date, working, reason: working ? 'workday' : 'weekend' };
}

/** Working and non-working days of [from, to] (local dates, inclusive; at most MAX_DAYS). */
export async function calendarDays(db: Db, communityId: string, from: string, to: string) {
  const a = dayOf(from);
  const b = dayOf(to);
  if (!Number.isInteger(a) || !Number.isInteger(b)) throw invalid('from and to must be dates YYYY-MM-DD', [{ field: 'from', in: 'querystring', message: 'must be a date' }]);
  if (b < a) throw invalid('to must not be before from', [{ field: 'to', in: 'querystring', message: 'must not be before from' }]);
  if (b - a + 1 > MAX_DAYS) throw invalid(`At most ${MAX_DAYS} days at once`, [{ field: 'to', in: 'querystring', message: `at most ${MAX_DAYS} days after from (inclusive)` }]);
  const { calendar } = await communityCalendar(db, communityId);
  const items = [];
  for (let d = a; d <= b; d++) items.push(describeDay(calendar, dateOf(d)));
  return { communityId, timeZone: calendar.timeZone, items };
}

// ---------------------------------------------------------------------------------------------
// SLA policies
// ---------------------------------------------------------------------------------------------

type PolicyRow = Awaited<ReturnType<typeof repo.listPolicies>>[number];

export function toPolicyDto(p: PolicyRow) {
  return {
    id: p.id,
    communityId: p.community_id,
    priority: p.priority,
    category: p.category,
    respond: { value: p.respond_value, unit: p.respond_unit },
    resolve: { value: p.resolve_value, unit: p.resolve_unit },
    calendar: p.calendar,
    createdAt: p.created_at.toISOString(),
  };
}

const rowToPolicy = (p: PolicyRow): SlaPolicy => ({
  priority: p.priority,
  category: p.category,
  respond: { value: p.respond_value, unit: p.respond_unit },
  resolve: { value: p.resolve_value, unit: p.resolve_unit },
  calendar: p.calendar,
});

/** The community's policies, and per priority the one that applies (selectPolicy: the ticket rule). */
export async function listPolicies(db: Db, communityId: string, category: string | null) {
  await community(db, communityId);
  const rows = await repo.listPolicies(db, communityId);
  const policies = rows.map(rowToPolicy);
  const rowOf = new Map(policies.map((p, i) => [p, rows[i]!]));
  return {
    communityId,
    items: rows.map(toPolicyDto),
    effective: PRIORITIES.map((priority) => {
      const chosen = selectPolicy(policies, priority, category);
      const row = rowOf.get(chosen);
      return {
        priority,
        category,
        source: row ? ('community' as const) : ('default' as const),
        policyId: row?.id ?? null,
        respond: { ...chosen.respond },
        resolve: { ...chosen.resolve },
        calendar: chosen.calendar,
      };
    }),
  };
}

/** Upper bounds of a duration: a year of time (minutes, hours) or 365 working days. */
const DURATION_LIMITS: Record<SlaDuration['unit'], number> = { minutes: 525_600, hours: 8_760, working_days: 365 };

function durationProblem(d: SlaDuration, field: string): Problem | null {
  const limit = DURATION_LIMITS[d.unit];
  return d.value > limit ? { field: `${field}.value`, in: 'body', message: `must be at most ${limit} ${d.unit.replace('_', ' ')}` } : null;
}

const describe = (d: SlaDuration) => `${d.value} ${d.unit.replace('_', ' ')}`;

export interface PolicyInput {
  priority: Priority;
  category?: string | null;
  respond: SlaDuration;
  resolve: SlaDuration;
  calendar: '24x7' | 'working_hours';
}

/**
 * Sets the policy of one scope (community × category × priority), replacing an existing one.
 * The resolution target must not be shorter than the response target: both are compared as
 * working time in the policy's calendar (the community's calendar, or 24×7).
 */
export async function setPolicy(db: Db, actor: Actor, communityId: string, input: PolicyInput) {
  const problems = [durationProblem(input.respond, 'respond'), durationProblem(input.resolve, 'resolve')].filter((p): p is Problem => p !== null);
  if (problems.length > 0) throw invalid(`Invalid SLA policy: ${problems[0]!.field} ${problems[0]!.message}`, problems);
  const category = input.category ?? null;
  return db.transaction().execute(async (trx) => {
    const { calendar } = await communityCalendar(trx, communityId);
    const policy: SlaPolicy = { priority: input.priority, category, respond: input.respond, resolve: input.resolve, calendar: input.calendar };
    const cal = policyCalendar(policy, calendar);
    const respondMs = durationMs(input.respond, cal);
    const resolveMs = durationMs(input.resolve, cal);
    if (resolveMs < respondMs) {
      throw unprocessable(
        `The resolution target (${describe(input.resolve)}) must not be shorter than the response target (${describe(input.respond)}) in the ${input.calendar === '24x7' ? '24×7' : 'working-hours'} calendar`,
        { respondMs, resolveMs, calendar: input.calendar, workingDayMs: workingDayMs(cal) },
      );
    }
    const before = await repo.findPolicyOfScopeForUpdate(trx, communityId, category, input.priority);
    const { created, ...row } = await repo.upsertPolicy(trx, {
      community_id: communityId,
      category,
      priority: input.priority,
      respond_value: input.respond.value,
      respond_unit: input.respond.unit,
      resolve_value: input.resolve.value,
      resolve_unit: input.resolve.unit,
      calendar: input.calendar,
    });
    const audited = (p: PolicyRow) => {
      const { id: _id, communityId: _c, createdAt: _t, ...rest } = toPolicyDto(p);
      return rest;
    };
    await recordAudit(trx, {
      communityId,
      actorUserId: actor.userId,
      action: created ? 'sla_policy.created' : 'sla_policy.replaced',
      entityType: 'sla_policy',
      entityId: row.id,
      before: before ? audited(before) : null,
      after: audited(row),
    });
    return { policy: toPolicyDto(row), created: Boolean(created) };
  });
}

/** Removes a policy (its scope falls back to the priority-wide policy or the default). Idempotent. */
export async function deletePolicy(db: Db, actor: Actor, communityId: string, policyId: string) {
  return db.transaction().execute(async (trx) => {
    const removed = await repo.deletePolicy(trx, communityId, policyId);
    if (!removed) return false;
    const { id: _id, communityId: _c, createdAt: _t, ...before } = toPolicyDto(removed);
    await recordAudit(trx, { communityId, actorUserId: actor.userId, action: 'sla_policy.deleted', entityType: 'sla_policy', entityId: policyId, before, after: null });
    return true;
  });
}

// ---------------------------------------------------------------------------------------------
// Community settings
// ---------------------------------------------------------------------------------------------

export function toSettingsDto(communityId: string, s: CommunitySettings) {
  return { communityId, sla: s.sla, tickets: s.tickets, defaults: DEFAULT_SETTINGS };
}

export async function getSettings(db: Db, communityId: string) {
  const c = await community(db, communityId);
  return toSettingsDto(communityId, communitySettings(c.settings));
}

export interface SettingsPatch {
  sla?: { warnShare?: number | null; escalateCommitteeAfter?: SlaDuration | null; escalateAuthorityAfter?: SlaDuration | null };
  tickets?: { autoCloseAfterHours?: number | null };
}

type Section = Record<string, unknown>;

/** Applies a patch to one stored section: a value sets it, null removes it (back to the default). */
function patchSection(stored: unknown, patch: Record<string, unknown> | undefined): Section | undefined {
  const base: Section = stored && typeof stored === 'object' && !Array.isArray(stored) ? { ...(stored as Section) } : {};
  if (!patch) return stored === undefined ? undefined : base;
  for (const [k, v] of Object.entries(patch)) {
    if (v === undefined) continue;
    if (v === null) delete base[k];
    else base[k] = v;
  }
  return base;
}

/**
 * Changes the community's settings: only what was set is stored (communities.settings), so the
 * defaults of code apply to the rest. Other keys of the stored document are kept.
 */
export async function patchSettings(db: Db, actor: Actor, communityId: string, patch: SettingsPatch) {
  const problems = [
    patch.sla?.escalateCommitteeAfter ? durationProblem(patch.sla.escalateCommitteeAfter, 'sla.escalateCommitteeAfter') : null,
    patch.sla?.escalateAuthorityAfter ? durationProblem(patch.sla.escalateAuthorityAfter, 'sla.escalateAuthorityAfter') : null,
  ].filter((p): p is Problem => p !== null);
  if (problems.length > 0) throw invalid(`Invalid settings: ${problems[0]!.field} ${problems[0]!.message}`, problems);
  return db.transaction().execute(async (trx) => {
    const c = await repo.findCommunityForUpdate(trx, communityId);
    if (!c) throw notFound('Community');
    const stored = (c.settings && typeof c.settings === 'object' ? c.settings : {}) as Section;
    const next: Section = { ...stored };
    const sla = patchSection(stored.sla, patch.sla);
    const tickets = patchSection(stored.tickets, patch.tickets);
    if (sla !== undefined) next.sla = sla;
    if (tickets !== undefined) next.tickets = tickets;
    const updated = await repo.updateSettings(trx, communityId, next);
    const before = communitySettings(stored);
    const after = communitySettings(updated.settings);
    await recordAudit(trx, {
      communityId,
      actorUserId: actor.userId,
      action: 'community.settings_updated',
      entityType: 'community',
      entityId: communityId,
      before: { ...before, stored },
      after: { ...after, stored: updated.settings },
    });
    return toSettingsDto(communityId, after);
  });
}
