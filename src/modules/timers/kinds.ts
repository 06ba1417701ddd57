/**
 * Every kind of timer and its payload: one typed map, like src/jobs/jobs.ts. The worker's timer
 * handler registry is typed against it, so a kind without a handler does not compile. Later
 * features (SLA warning and breach, vote closing, public-notice end, inspection due…) add theirs.
 */
export interface TimerPayloads {
  /** A duty assignment's contract ends in `daysBefore` days (reminders 30 and 7 days before). */
  'duty.contract-ending': { dutyId: string; daysBefore: number; validTo: string };
}

export type TimerKind = keyof TimerPayloads;
