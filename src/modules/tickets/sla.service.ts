import { sql } from 'kysely';
import type { DbOrTrx, Trx } from '../../db/index.js';
import type { Priority } from '../../db/types.js';
import { defaultCalendar, type BusinessCalendar } from '../calendars/business-calendar.js';
import { communitySettings, type CommunitySettings } from '../communities/settings.js';
import type { SlaTimerPayload } from '../timers/kinds.js';
import { replaceTimersOfSubject, type TimerSpec } from '../timers/timers.service.js';
import { computeDeadlines, selectPolicy, slaTimerPlan, type SlaDuration, type SlaPause, type SlaPolicy } from './sla.js';

/** What the SLA rules need about a community, read once per operation. */
export interface SlaContext {
  timeZone: string;
  calendar: BusinessCalendar;
  policies: SlaPolicy[];
  settings: CommunitySettings;
}

/** A calendar row as to_json gives it (loadSlaContext, createTicket's one-query context). */
interface CalendarJson {
  time_zone: string;
  working_hours: Array<{ start: string; end: string }>;
  weekend_days: number[];
  use_china_holidays: boolean;
  overrides: Array<{ date: string; kind: 'holiday' | 'workday' }>;
}
interface PolicyJson {
  priority: Priority;
  category: string | null;
  respond_value: number;
  respond_unit: SlaDuration['unit'];
  resolve_value: number;
  resolve_unit: SlaDuration['unit'];
  calendar: SlaPolicy['calendar'];
}

/** What an SLA context is read from: one row (columns of slaContextColumns). */
export interface SlaContextRow {
  time_zone: string;
  settings: Record<string, unknown>;
  calendar: CalendarJson | null;
  policies: PolicyJson[];
}

/**
 * The columns an SLA context is built from, for a query on `communities c`: the community's
 * time zone and settings, its calendar and its policies, in one round trip.
 */
export const slaContextColumns = sql`c.time_zone, c.settings,
  (SELECT to_json(b) FROM business_calendars b WHERE b.community_id = c.id) AS calendar,
  COALESCE((SELECT json_agg(json_build_object('priority', p.priority, 'category', p.category, 'respond_value', p.respond_value, 'respond_unit', p.respond_unit,
                                              'resolve_value', p.resolve_value, 'resolve_unit', p.resolve_unit, 'calendar', p.calendar))
            FROM sla_policies p WHERE p.community_id = c.id), '[]'::json) AS policies`;

export function slaContextFrom(row: SlaContextRow): SlaContext {
  const b = row.calendar;
  const calendar: BusinessCalendar = b
    ? {
        timeZone: b.time_zone,
        kind: 'working_hours',
        workingHours: b.working_hours,
        weekendDays: b.weekend_days,
        useChinaHolidays: b.use_china_holidays,
        overrides: b.overrides,
      }
    : defaultCalendar(row.time_zone);
  return {
    timeZone: row.time_zone,
    calendar,
    policies: row.policies.map((p) => ({
      priority: p.priority,
      category: p.category,
      respond: { value: p.respond_value, unit: p.respond_unit },
      resolve: { value: p.resolve_value, unit: p.resolve_unit },
      calendar: p.calendar,
    })),
    settings: communitySettings(row.settings),
  };
}

export async function loadSlaContext(db: DbOrTrx, communityId: string): Promise<SlaContext> {
  const { rows } = await sql<SlaContextRow>`SELECT ${slaContextColumns} FROM communities c WHERE c.id = ${communityId}`.execute(db);
  const row = rows[0];
  if (!row) throw new Error(`community ${communityId} not found`);
  return slaContextFrom(row);
}

export interface TicketClock {
  id: string;
  communityId: string;
  priority: Priority;
  category: string;
  openedAt: Date;
  acknowledgedAt: Date | null;
  resolvedAt: Date | null;
  /** The version the timers will carry (bumped by the caller on every recomputation). */
  slaVersion: number;
  pauses: SlaPause[];
}

export type SlaTimerKindName = 'sla.warning' | 'sla.breach' | 'sla.escalate-committee' | 'sla.escalate-authority';

/**
 * The pauses that count for a clock that stopped at `stoppedAt`: a hold after the response was
 * made (on_hold, or the resolved period before a reopen) cannot move the response deadline.
 */
export function pausesUntil(pauses: readonly SlaPause[], stoppedAt: Date | null): SlaPause[] {
  if (!stoppedAt) return [...pauses];
  const stop = stoppedAt.getTime();
  return pauses
    .filter((p) => p.from.getTime() < stop)
    .map((p) => ({ from: p.from, to: p.to === null || p.to.getTime() > stop ? stoppedAt : p.to }));
}

export function slaJobId(kind: SlaTimerKindName, target: 'response' | 'resolution', ticketId: string, version: number): string {
  return `${kind.replace('.', '-')}-${target}-${ticketId}-v${version}`;
}

/**
 * Recomputes a ticket's targets from when it was opened, minus paused time (DESIGN.md), and
 * replaces its SLA timers with the new version's: stale timers of older versions are cancelled
 * and would be ignored anyway. Returns the deadlines to store on the ticket.
 */
export async function applySla(trx: Trx, ctx: SlaContext, t: TicketClock, now = new Date()) {
  const { specs, ...targets } = planSla(ctx, t, now);
  await replaceTimersOfSubject(trx, t.id, ['sla.warning', 'sla.breach', 'sla.escalate-committee', 'sla.escalate-authority'], specs);
  return targets;
}

/** The targets and the SLA timers of a ticket's clock (no I/O): applySla stores the timers. */
export function planSla(ctx: SlaContext, t: TicketClock, now = new Date()) {
  const policy = selectPolicy(ctx.policies, t.priority, t.category);
  const base = { openedAt: t.openedAt, policy, calendar: ctx.calendar, pauses: t.pauses, now };
  const deadlines = computeDeadlines(base);
  // The response clock stopped at the first response: later holds leave its deadline alone
  // (without pauses there is nothing to leave out: a new ticket's case).
  const respondBy = t.pauses.length === 0 ? deadlines.respondBy : computeDeadlines({ ...base, pauses: pausesUntil(t.pauses, t.acknowledgedAt ?? t.resolvedAt) }).respondBy;
  const plan = slaTimerPlan({
    ...base,
    respondedAt: t.acknowledgedAt,
    resolvedAt: t.resolvedAt,
    config: { warnShare: ctx.settings.sla.warnShare, escalateCommitteeAfter: ctx.settings.sla.escalateCommitteeAfter, escalateAuthorityAfter: ctx.settings.sla.escalateAuthorityAfter },
  });
  // One timer per target: its first step, carrying the later ones (the handler chains them).
  const specs: TimerSpec[] = [];
  for (const target of ['response', 'resolution'] as const) {
    const [first, ...rest] = plan.filter((p) => p.target === target);
    if (!first) continue;
    specs.push(slaTimerSpec(t.id, t.communityId, { ticketId: t.id, target, version: t.slaVersion, next: rest.map((r) => ({ kind: r.kind, at: r.at.toISOString() })) }, first.kind, first.at));
  }
  return { respondBy, resolveBy: deadlines.resolveBy, policy, specs };
}

/** The timer of one SLA ladder step (deterministic job id: kind, target, ticket, version). */
export function slaTimerSpec(ticketId: string, communityId: string, payload: SlaTimerPayload, kind: SlaTimerKindName, dueAt: Date): TimerSpec {
  return { kind, subjectId: ticketId, communityId, dueAt, jobId: slaJobId(kind, payload.target, ticketId, payload.version), payload };
}
