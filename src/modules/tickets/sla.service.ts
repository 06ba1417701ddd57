import type { DbOrTrx, Trx } from '../../db/index.js';
import type { Priority } from '../../db/types.js';
import { defaultCalendar, type BusinessCalendar } from '../calendars/business-calendar.js';
import { communitySettings, type CommunitySettings } from '../communities/settings.js';
import { replaceTimersOfSubject, type TimerSpec } from '../timers/timers.service.js';
import { computeDeadlines, selectPolicy, slaTimerPlan, type SlaPause, type SlaPolicy } from './sla.js';

/** What the SLA rules need about a community, read once per operation. */
export interface SlaContext {
  timeZone: string;
  calendar: BusinessCalendar;
  policies: SlaPolicy[];
  settings: CommunitySettings;
}

export async function loadSlaContext(db: DbOrTrx, communityId: string): Promise<SlaContext> {
  const [community, calendarRow, policyRows] = await Promise.all([
    db.selectFrom('communities').select(['time_zone', 'settings']).where('id', '=', communityId).executeTakeFirstOrThrow(),
    db.selectFrom('business_calendars').selectAll().where('community_id', '=', communityId).executeTakeFirst(),
    db.selectFrom('sla_policies').selectAll().where('community_id', '=', communityId).execute(),
  ]);
  const calendar: BusinessCalendar = calendarRow
    ? {
        timeZone: calendarRow.time_zone,
        kind: 'working_hours',
        workingHours: calendarRow.working_hours,
        weekendDays: calendarRow.weekend_days,
        useChinaHolidays: calendarRow.use_china_holidays,
        overrides: calendarRow.overrides,
      }
    : defaultCalendar(community.time_zone);
  return {
    timeZone: community.time_zone,
    calendar,
    policies: policyRows.map((p) => ({
      priority: p.priority,
      category: p.category,
      respond: { value: p.respond_value, unit: p.respond_unit },
      resolve: { value: p.resolve_value, unit: p.resolve_unit },
      calendar: p.calendar,
    })),
    settings: communitySettings(community.settings),
  };
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
  const policy = selectPolicy(ctx.policies, t.priority, t.category);
  const base = { openedAt: t.openedAt, policy, calendar: ctx.calendar, pauses: t.pauses, now };
  const deadlines = computeDeadlines(base);
  // The response clock stopped at the first response: later holds leave its deadline alone.
  const respondBy = computeDeadlines({ ...base, pauses: pausesUntil(t.pauses, t.acknowledgedAt ?? t.resolvedAt) }).respondBy;
  const plan = slaTimerPlan({
    ...base,
    respondedAt: t.acknowledgedAt,
    resolvedAt: t.resolvedAt,
    config: { warnShare: ctx.settings.sla.warnShare, escalateCommitteeAfter: ctx.settings.sla.escalateCommitteeAfter, escalateAuthorityAfter: ctx.settings.sla.escalateAuthorityAfter },
  });
  const specs: TimerSpec[] = plan.map((p) => ({
    kind: p.kind,
    subjectId: t.id,
    communityId: t.communityId,
    dueAt: p.at,
    jobId: slaJobId(p.kind, p.target, t.id, t.slaVersion),
    payload: { ticketId: t.id, target: p.target, version: t.slaVersion },
  }));
  await replaceTimersOfSubject(trx, t.id, ['sla.warning', 'sla.breach', 'sla.escalate-committee', 'sla.escalate-authority'], specs);
  return { respondBy, resolveBy: deadlines.resolveBy, policy };
}
