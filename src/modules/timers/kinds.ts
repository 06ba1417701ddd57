/**
 * Every kind of timer and its payload: one typed map, like src/jobs/jobs.ts. The worker's timer
 * handler registry is typed against it, so a kind without a handler does not compile. Later
 * features (SLA warning and breach, vote closing, public-notice end, inspection due…) add theirs.
 */
export interface TimerPayloads {
  /** A duty assignment's contract ends in `daysBefore` days (reminders 30 and 7 days before). */
  'duty.contract-ending': { dutyId: string; daysBefore: number; validTo: string };
  /** SLA ladder of a ticket: warning at 75%, breach, escalation to the committee, then the authority. */
  'sla.warning': SlaTimerPayload;
  'sla.breach': SlaTimerPayload;
  'sla.escalate-committee': SlaTimerPayload;
  'sla.escalate-authority': SlaTimerPayload;
  /** A resolved ticket the reporter has not confirmed closes itself. */
  'ticket.auto-close': { ticketId: string; resolvedAt: string };
  /** A fund vote's deadline: the tally becomes final. */
  'fund.vote-close': { requestId: string; closesAt: string };
  /** Reminder to owners who have not voted, days before the deadline. */
  'fund.vote-closing-soon': { requestId: string; daysBefore: number };
  /** The public notice ended: approval pending (passed) or the request closes (failed). */
  'fund.notice-end': { requestId: string };
  /** An approved emergency request not yet publicly noticed: remind the committee, daily. */
  'fund.emergency-notice': { requestId: string; reminder: number };
  /**
   * Right after settlement: the settlement notice to owners and committee, and top-up reminders.
   * A timer (not the settlement transaction) so a 20,000-unit settlement commits fast.
   */
  'fund.settled-notify': { requestId: string };
  /** Inspection tasks: to the assignee a day before due; at due (marks it missed, tells the duty holder's managers); then the owners' committee. */
  'inspection.due-tomorrow': { taskId: string };
  'inspection.overdue': { taskId: string };
  'inspection.escalate': { taskId: string };
}

/**
 * SLA timers carry the ticket's SLA version: a recomputation makes older timers stale. Only the
 * next step of each target's ladder is a timer; it carries the later steps (`next`, planned under
 * the same version) and its handler schedules the following one, so a ticket holds two SLA timers
 * rather than eight and a clock that stopped early never schedules the rest.
 */
export interface SlaTimerPayload {
  ticketId: string;
  target: 'response' | 'resolution';
  version: number;
  next?: Array<{ kind: 'sla.warning' | 'sla.breach' | 'sla.escalate-committee' | 'sla.escalate-authority'; at: string }>;
}

export type TimerKind = keyof TimerPayloads;
