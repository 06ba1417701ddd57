/**
 * Inspection rules (pure: no I/O): task times, which ticket priority a failed checklist gives,
 * whether a result is consistent with the plan's checklist, how a patrol check-in moves a route,
 * and the reminders of a task.
 */
import type { ChecklistAnswer, ChecklistItem, ChecklistSeverity, Priority } from '../../db/types.js';

const MINUTE_MS = 60_000;
const DAY_MS = 86_400_000;

export const SEVERITIES: readonly ChecklistSeverity[] = ['low', 'medium', 'high', 'critical'];

/** A failed item's severity sets the finding's priority: critical → P1 … low → P4. */
export const SEVERITY_PRIORITY: Record<ChecklistSeverity, Priority> = { critical: 'P1', high: 'P2', medium: 'P3', low: 'P4' };

/** A fault with no failed item named (the inspector saw something the checklist does not list). */
export const DEFAULT_FAULT_PRIORITY: Priority = 'P3';

export function worstSeverity(items: Array<{ severity: ChecklistSeverity }>): ChecklistSeverity | null {
  let worst = -1;
  for (const i of items) worst = Math.max(worst, SEVERITIES.indexOf(i.severity));
  return worst < 0 ? null : (SEVERITIES[worst] as ChecklistSeverity);
}

export interface TaskTimes {
  occurrenceAt: Date;
  availableAt: Date;
  dueAt: Date;
}

/** A task can be worked from lead time before its occurrence and is due a due window after it. */
export function taskTimes(occurrenceAt: Date, plan: { leadTimeMinutes: number; dueWindowMinutes: number }): TaskTimes {
  return {
    occurrenceAt,
    availableAt: new Date(occurrenceAt.getTime() - plan.leadTimeMinutes * MINUTE_MS),
    dueAt: new Date(occurrenceAt.getTime() + plan.dueWindowMinutes * MINUTE_MS),
  };
}

export type InspectionTimerKind = 'inspection.due-tomorrow' | 'inspection.overdue' | 'inspection.escalate';

/**
 * A task's reminder ladder: the day before it is due (only if that is still ahead and after the
 * task opened: a task due within a day of opening gets none), at due, and escalate-after past due.
 * Job ids are deterministic per task and kind. Only the first step is scheduled with the task
 * (firstTaskTimer); each step's handler schedules the next (nextTaskTimer), so a task carries one
 * open timer at a time.
 */
export function taskTimerPlan(task: { id: string; availableAt: Date; dueAt: Date }, escalateAfterMinutes: number, now: Date) {
  const out: Array<{ kind: InspectionTimerKind; dueAt: Date; jobId: string }> = [];
  const dayBefore = new Date(task.dueAt.getTime() - DAY_MS);
  if (dayBefore > now && dayBefore >= task.availableAt) out.push({ kind: 'inspection.due-tomorrow', dueAt: dayBefore, jobId: `inspection-due-tomorrow-${task.id}` });
  out.push({ kind: 'inspection.overdue', dueAt: task.dueAt, jobId: `inspection-overdue-${task.id}` });
  out.push({ kind: 'inspection.escalate', dueAt: new Date(task.dueAt.getTime() + escalateAfterMinutes * MINUTE_MS), jobId: `inspection-escalate-${task.id}` });
  return out;
}

export function firstTaskTimer(task: { id: string; availableAt: Date; dueAt: Date }, escalateAfterMinutes: number, now: Date) {
  return taskTimerPlan(task, escalateAfterMinutes, now)[0] as { kind: InspectionTimerKind; dueAt: Date; jobId: string };
}

/** The step after `kind` (null after the escalation). */
export function nextTaskTimer(kind: InspectionTimerKind, task: { id: string; dueAt: Date }, escalateAfterMinutes: number) {
  if (kind === 'inspection.due-tomorrow') return { kind: 'inspection.overdue' as const, dueAt: task.dueAt, jobId: `inspection-overdue-${task.id}` };
  if (kind === 'inspection.overdue') return { kind: 'inspection.escalate' as const, dueAt: new Date(task.dueAt.getTime() + escalateAfterMinutes * MINUTE_MS), jobId: `inspection-escalate-${task.id}` };
  return null;
}

export interface ResultInput {
  facilityId: string;
  outcome: 'ok' | 'fault';
  notes?: string;
  checklist: ChecklistAnswer[];
}

export type ResultCheck =
  | { ok: true; failed: ChecklistItem[]; priority: Priority | null }
  | { ok: false; message: string };

/**
 * A facility's result against the checklist of the task's plan version: every answer names a
 * checklist item once; an 'ok' outcome has no failed item; a 'fault' gets the priority of its
 * worst failed item (P3 when none is named).
 */
export function checkResult(checklist: ChecklistItem[], r: ResultInput): ResultCheck {
  const byId = new Map(checklist.map((i) => [i.id, i]));
  const seen = new Set<string>();
  for (const a of r.checklist) {
    if (!byId.has(a.itemId)) return { ok: false, message: `Checklist item "${a.itemId}" is not on this task's checklist` };
    if (seen.has(a.itemId)) return { ok: false, message: `Checklist item "${a.itemId}" is answered twice` };
    seen.add(a.itemId);
  }
  const failed = r.checklist.filter((a) => !a.ok).map((a) => byId.get(a.itemId) as ChecklistItem);
  if (r.outcome === 'ok') {
    if (failed.length > 0) return { ok: false, message: `A failed checklist item (${failed.map((f) => f.id).join(', ')}) makes the outcome a fault` };
    return { ok: true, failed, priority: null };
  }
  const worst = worstSeverity(failed);
  return { ok: true, failed, priority: worst ? SEVERITY_PRIORITY[worst] : DEFAULT_FAULT_PRIORITY };
}

/** Checks a plan's checklist: ids unique, texts present. Returns the problem, or null. */
export function checklistProblem(items: Array<{ id: string; text: string }>): string | null {
  const ids = new Set<string>();
  for (const i of items) {
    if (ids.has(i.id)) return `Checklist item id "${i.id}" is used twice`;
    ids.add(i.id);
    if (i.text.trim().length === 0) return `Checklist item "${i.id}" has no text`;
  }
  return null;
}

export type PatrolStep =
  /** The facility is the next stop: the task advances to `position + 1` stops done. */
  | { kind: 'advance'; position: number; complete: boolean }
  /** On the route, but not next: recorded only. */
  | { kind: 'out_of_order'; expectedFacilityId: string; expectedPosition: number }
  /** A stop already checked in (a repeated scan). */
  | { kind: 'already_done'; position: number }
  | { kind: 'not_on_route' };

/** How a check-in at `facilityId` moves a route with `done` stops checked in. Order is enforced. */
export function patrolStep(route: readonly string[], done: number, facilityId: string): PatrolStep {
  if (done < route.length && route[done] === facilityId) return { kind: 'advance', position: done, complete: done + 1 === route.length };
  const positions = route.map((id, i) => (id === facilityId ? i : -1)).filter((i) => i >= 0);
  if (positions.length === 0) return { kind: 'not_on_route' };
  if (done >= route.length || positions.every((p) => p < done)) return { kind: 'already_done', position: positions[positions.length - 1] as number };
  return { kind: 'out_of_order', expectedFacilityId: route[done] as string, expectedPosition: done };
}
