/**
 * The SLA clock of DESIGN.md "Tickets and SLAs", as pure functions (no I/O, no clock reads).
 *
 * Readings of the rules (see also the report in the PR):
 * - Durations are stored as `{ value, unit }` so that "3 working days" keeps its meaning when a
 *   community changes its working hours: `minutes` and `hours` are amounts of working time in the
 *   policy's calendar (clock time on a 24×7 calendar), and `working_days` is `value ×
 *   workingDayMs(calendar)` (9 h for the default calendar, 24 h on 24×7).
 * - A policy's `calendar` picks between round-the-clock time ('24x7', in the community's time zone)
 *   and the community's business calendar ('working_hours').
 * - P1 emergency and P2 urgent run on 24×7: DESIGN.md marks P1 as 24×7 and says "24×7 for
 *   emergencies, working hours otherwise"; we read P2's "1 h / 24 h" as clock time too, since an
 *   urgent fault (urgent repair, 急修) is handled around the clock and "24 h" of working time (2⅔
 *   working days) would be out of step with P3's "3 working days". Communities can change it.
 * - A deadline is the instant when the target amount of working time, excluding paused (on_hold)
 *   time, has elapsed since `openedAt`. Pauses apply to both clocks (in practice on_hold comes
 *   after acknowledgement, so only resolution is affected). A pause that starts after a deadline
 *   does not move it: the breach has already happened. A recomputation after a priority or
 *   category change calls the same function with the same `openedAt` and pauses.
 * - An open pause (`to: null`) stops the clock: deadlines past its start are *provisional*,
 *   computed as if the ticket resumed at `now`; no timer is planned for them until it resumes.
 * - A reopened ticket (resolved → reopened) can pass the resolved period as a pause.
 * - Met or breached: a target is breached when the clock stops (acknowledged / resolved) after the
 *   deadline instant, or is still running after it. Stopping exactly at the deadline is on time.
 * - Escalation ladder per target: warning at `warnShare` (default 75%) of the target, breach at
 *   100%, escalation to the owners' committee `escalateCommitteeAfter` (default 1 working day)
 *   past the breach, and to the authority `escalateAuthorityAfter` (default 2 working days) after
 *   the committee. The delays are working time in the policy's calendar, excluding pauses, like
 *   the targets themselves.
 */
import { addWorkingTime, always, workingDayMs, workingTimeBetween, type BusinessCalendar } from '../calendars/business-calendar.js';

export const PRIORITIES = ['P1', 'P2', 'P3', 'P4'] as const;
export type Priority = (typeof PRIORITIES)[number];

export type SlaCalendarKind = '24x7' | 'working_hours';
export type SlaTarget = 'response' | 'resolution';

export interface SlaDuration {
  value: number;
  unit: 'minutes' | 'hours' | 'working_days';
}

export interface SlaPolicy {
  priority: Priority;
  /** Facility/fault category; absent or null for the community's priority-wide policy. */
  category?: string | null;
  respond: SlaDuration;
  resolve: SlaDuration;
  calendar: SlaCalendarKind;
}

export interface SlaPause {
  from: Date;
  /** null while still on hold. */
  to: Date | null;
}

const MINUTE_MS = 60_000;
const HOUR_MS = 3_600_000;

/** The default targets of DESIGN.md (configurable per community). */
export const DEFAULT_SLA_TARGETS: Readonly<Record<Priority, Readonly<Omit<SlaPolicy, 'priority' | 'category'>>>> = Object.freeze({
  P1: { respond: { value: 15, unit: 'minutes' }, resolve: { value: 4, unit: 'hours' }, calendar: '24x7' },
  P2: { respond: { value: 1, unit: 'hours' }, resolve: { value: 24, unit: 'hours' }, calendar: '24x7' },
  P3: { respond: { value: 4, unit: 'hours' }, resolve: { value: 3, unit: 'working_days' }, calendar: 'working_hours' },
  P4: { respond: { value: 1, unit: 'working_days' }, resolve: { value: 7, unit: 'working_days' }, calendar: 'working_hours' },
});

/** The default policy of a priority (optionally labelled with a category). */
export function defaultPolicy(priority: Priority, category: string | null = null): SlaPolicy {
  const t = DEFAULT_SLA_TARGETS[priority];
  return { priority, category, respond: { ...t.respond }, resolve: { ...t.resolve }, calendar: t.calendar };
}

/**
 * The policy that applies to a ticket: the community's policy for (category, priority), else its
 * priority-wide policy (no category), else the default of DESIGN.md.
 */
export function selectPolicy(policies: readonly SlaPolicy[], priority: Priority, category: string | null = null): SlaPolicy {
  return (
    (category !== null ? policies.find((p) => p.priority === priority && p.category === category) : undefined) ??
    policies.find((p) => p.priority === priority && (p.category === undefined || p.category === null)) ??
    defaultPolicy(priority, category)
  );
}

/** The calendar a policy is measured in, given the community's business calendar. */
export function policyCalendar(policy: Pick<SlaPolicy, 'calendar'>, community: BusinessCalendar): BusinessCalendar {
  return policy.calendar === '24x7' ? always(community.timeZone) : community;
}

/** Milliseconds of working time of a duration in a calendar (whole ms). */
export function durationMs(d: SlaDuration, cal: BusinessCalendar): number {
  if (!Number.isFinite(d.value) || d.value < 0) throw new RangeError(`SLA duration must be a finite number ≥ 0, got ${d.value}`);
  const unit = d.unit === 'minutes' ? MINUTE_MS : d.unit === 'hours' ? HOUR_MS : d.unit === 'working_days' ? workingDayMs(cal) : NaN;
  if (Number.isNaN(unit)) throw new RangeError(`unknown SLA duration unit '${String(d.unit)}'`);
  return Math.round(d.value * unit);
}

// ---------------------------------------------------------------------------------------------
// The clock: working time since openedAt, excluding pauses
// ---------------------------------------------------------------------------------------------

interface ActiveSpans {
  /** Disjoint, sorted spans of running clock [from, to) from openedAt; the last may be open (to = Infinity). */
  spans: Array<[number, number]>;
  /** Start of an open pause, if the ticket is on hold now; spans after it are provisional. */
  openPauseFrom: number | null;
}

function time(d: Date, name: string): number {
  const t = d.getTime();
  if (!Number.isFinite(t)) throw new RangeError(`${name} is not a valid date`);
  return t;
}

/** The running-clock spans: [openedAt, ∞) minus the union of pauses; an open pause ends at `now`. */
function activeSpans(openedAt: Date, pauses: readonly SlaPause[], now: Date): ActiveSpans {
  const open = time(openedAt, 'openedAt');
  const nowMs = time(now, 'now');
  let openPauseFrom: number | null = null;
  const ps: Array<[number, number]> = [];
  for (const p of pauses) {
    const from = time(p.from, 'pause.from');
    let to: number;
    if (p.to === null) {
      openPauseFrom = openPauseFrom === null ? from : Math.min(openPauseFrom, from);
      to = Math.max(nowMs, from);
    } else {
      to = time(p.to, 'pause.to');
      if (to < from) throw new RangeError(`pause ends (${p.to.toISOString()}) before it starts (${p.from.toISOString()})`);
    }
    const a = Math.max(from, open);
    if (to > a) ps.push([a, to]);
  }
  ps.sort((x, y) => x[0] - y[0]);
  const spans: Array<[number, number]> = [];
  let cursor = open;
  for (const [a, b] of ps) {
    if (a > cursor) spans.push([cursor, a]);
    cursor = Math.max(cursor, b);
  }
  spans.push([cursor, Infinity]);
  return { spans, openPauseFrom };
}

/** The instant when `targetMs` of running working time has elapsed. */
function instantAfter(cal: BusinessCalendar, { spans }: ActiveSpans, targetMs: number): number {
  let remaining = targetMs;
  for (const [a, b] of spans) {
    if (b === Infinity) return addWorkingTime(cal, new Date(a), remaining).getTime();
    const available = workingTimeBetween(cal, new Date(a), new Date(b));
    if (remaining <= available) return addWorkingTime(cal, new Date(a), remaining).getTime();
    remaining -= available;
  }
  throw new Error('unreachable: the last span is open-ended');
}

/** Running working time in [openedAt, until). */
function elapsedUntil(cal: BusinessCalendar, { spans }: ActiveSpans, until: number): number {
  let total = 0;
  for (const [a, b] of spans) {
    if (a >= until) break;
    total += workingTimeBetween(cal, new Date(a), new Date(Math.min(b, until)));
  }
  return total;
}

// ---------------------------------------------------------------------------------------------
// Deadlines
// ---------------------------------------------------------------------------------------------

export interface DeadlineInput {
  openedAt: Date;
  policy: SlaPolicy;
  /** The community's business calendar (its time zone is used for 24×7 policies too). */
  calendar: BusinessCalendar;
  pauses: readonly SlaPause[];
  now: Date;
}

export interface Deadlines {
  respondBy: Date;
  resolveBy: Date;
  /**
   * True when the ticket is on hold now and the deadline lies past the pause's start: it is the
   * deadline if the ticket resumed at `now`, and moves on while the hold lasts.
   */
  provisional: { response: boolean; resolution: boolean };
}

/** The deadlines of a ticket: the whole rule (call again after a priority/category change or a pause). */
export function computeDeadlines(input: DeadlineInput): Deadlines {
  const cal = policyCalendar(input.policy, input.calendar);
  const active = activeSpans(input.openedAt, input.pauses, input.now);
  const respondBy = instantAfter(cal, active, durationMs(input.policy.respond, cal));
  const resolveBy = instantAfter(cal, active, durationMs(input.policy.resolve, cal));
  const provisionalAt = (t: number) => active.openPauseFrom !== null && t > active.openPauseFrom;
  return {
    respondBy: new Date(respondBy),
    resolveBy: new Date(resolveBy),
    provisional: { response: provisionalAt(respondBy), resolution: provisionalAt(resolveBy) },
  };
}

// ---------------------------------------------------------------------------------------------
// State
// ---------------------------------------------------------------------------------------------

export interface SlaStateInput extends DeadlineInput {
  /** First response (acknowledged_at); stops the response clock. */
  respondedAt?: Date | null;
  /** Resolution (resolved_at); stops the resolution clock. */
  resolvedAt?: Date | null;
  /** Share of the target at which the assignee is warned, default 0.75. */
  warnShare?: number;
}

export interface SlaTargetState {
  target: SlaTarget;
  /** Target amount of working time (ms). */
  targetMs: number;
  /** Working time elapsed, excluding pauses, up to the stop (responded/resolved) or `now`. */
  elapsedMs: number;
  /** max(0, target − elapsed). */
  remainingMs: number;
  /** elapsed / target (1 when the target is 0); may exceed 1. */
  fractionUsed: number;
  /** The deadline; see `Deadlines.provisional`. */
  dueAt: Date;
  /** The instant `warnShare` of the target is used. */
  warnAt: Date;
  provisional: boolean;
  /** When the clock stopped (respondedAt / resolvedAt), or null while it runs. */
  stoppedAt: Date | null;
  /** Stopped after the deadline, or still running past it. */
  breached: boolean;
  status: 'running' | 'paused' | 'met' | 'breached';
}

export interface SlaState {
  response: SlaTargetState;
  resolution: SlaTargetState;
}

export const DEFAULT_WARN_SHARE = 0.75;

function checkShare(share: number): number {
  if (!Number.isFinite(share) || share < 0 || share > 1) throw new RangeError(`warn share must be within [0, 1], got ${share}`);
  return share;
}

/**
 * Response and resolution clocks, each with elapsed and remaining time, warning instant and breach.
 * The response clock also stops at resolution when no response was recorded.
 */
export function slaState(input: SlaStateInput): SlaState {
  const share = checkShare(input.warnShare ?? DEFAULT_WARN_SHARE);
  const cal = policyCalendar(input.policy, input.calendar);
  const nowMs = time(input.now, 'now');
  const active = activeSpans(input.openedAt, input.pauses, input.now);
  const one = (target: SlaTarget, duration: SlaDuration, stopped: Date | null | undefined): SlaTargetState => {
    const targetMs = durationMs(duration, cal);
    const due = instantAfter(cal, active, targetMs);
    const warn = instantAfter(cal, active, Math.round(targetMs * share));
    const stopMs = stopped ? time(stopped, `${target} stop`) : null;
    const elapsedMs = elapsedUntil(cal, active, stopMs ?? nowMs);
    const provisional = stopMs === null && active.openPauseFrom !== null && due > active.openPauseFrom;
    const breached = (stopMs ?? nowMs) > due;
    const paused = stopMs === null && active.openPauseFrom !== null && active.openPauseFrom <= nowMs;
    return {
      target,
      targetMs,
      elapsedMs,
      remainingMs: Math.max(0, targetMs - elapsedMs),
      fractionUsed: targetMs === 0 ? 1 : elapsedMs / targetMs,
      dueAt: new Date(due),
      warnAt: new Date(warn),
      provisional,
      stoppedAt: stopMs === null ? null : new Date(stopMs),
      breached,
      status: breached ? 'breached' : stopMs !== null ? 'met' : paused ? 'paused' : 'running',
    };
  };
  return {
    response: one('response', input.policy.respond, input.respondedAt ?? input.resolvedAt),
    resolution: one('resolution', input.policy.resolve, input.resolvedAt),
  };
}

// ---------------------------------------------------------------------------------------------
// Escalation timer plan
// ---------------------------------------------------------------------------------------------

export type SlaTimerKind = 'sla.warning' | 'sla.breach' | 'sla.escalate-committee' | 'sla.escalate-authority';

export interface SlaTimer {
  kind: SlaTimerKind;
  target: SlaTarget;
  at: Date;
}

export interface EscalationConfig {
  /** Share of the target at which the assignee is warned (default 0.75). */
  warnShare: number;
  /** Past the breach, escalate to the owners' committee (default 1 working day). */
  escalateCommitteeAfter: SlaDuration;
  /** Past the committee escalation, escalate to the authority (default 2 working days). */
  escalateAuthorityAfter: SlaDuration;
}

export const DEFAULT_ESCALATION: Readonly<EscalationConfig> = Object.freeze<EscalationConfig>({
  warnShare: DEFAULT_WARN_SHARE,
  escalateCommitteeAfter: { value: 1, unit: 'working_days' },
  escalateAuthorityAfter: { value: 2, unit: 'working_days' },
});

export interface TimerPlanInput extends DeadlineInput {
  respondedAt?: Date | null;
  resolvedAt?: Date | null;
  config?: Partial<EscalationConfig>;
}

const LADDER: readonly SlaTimerKind[] = ['sla.warning', 'sla.breach', 'sla.escalate-committee', 'sla.escalate-authority'];

/**
 * The ordered timer plan (by instant; response before resolution at equal instants). A stopped
 * clock (responded / resolved) plans nothing for its target (resolution also stops the response
 * clock). While the ticket is on hold, only instants before the hold began are planned: the rest
 * are provisional and are planned again when the ticket resumes. Past instants are kept: a timer
 * handler must check the ticket's state when it fires anyway, and deterministic job ids make
 * re-planning harmless.
 */
export function slaTimerPlan(input: TimerPlanInput): SlaTimer[] {
  const config: EscalationConfig = { ...DEFAULT_ESCALATION, ...input.config };
  const share = checkShare(config.warnShare);
  const cal = policyCalendar(input.policy, input.calendar);
  const active = activeSpans(input.openedAt, input.pauses, input.now);
  const committeeMs = durationMs(config.escalateCommitteeAfter, cal);
  const authorityMs = durationMs(config.escalateAuthorityAfter, cal);
  const plan: SlaTimer[] = [];
  const add = (target: SlaTarget, duration: SlaDuration, stopped: Date | null | undefined) => {
    if (stopped) return;
    const targetMs = durationMs(duration, cal);
    const amounts = [Math.round(targetMs * share), targetMs, targetMs + committeeMs, targetMs + committeeMs + authorityMs];
    amounts.forEach((amount, i) => {
      const at = instantAfter(cal, active, amount);
      if (active.openPauseFrom !== null && at > active.openPauseFrom) return;
      plan.push({ kind: LADDER[i]!, target, at: new Date(at) });
    });
  };
  add('response', input.policy.respond, input.respondedAt ?? input.resolvedAt);
  add('resolution', input.policy.resolve, input.resolvedAt);
  const order = (t: SlaTimer) => (t.target === 'response' ? 0 : 1) * 10 + LADDER.indexOf(t.kind);
  return plan.sort((a, b) => a.at.getTime() - b.at.getTime() || order(a) - order(b));
}
