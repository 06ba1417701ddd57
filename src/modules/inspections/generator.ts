import { performance } from 'node:perf_hooks';
import type { Logger } from 'pino';
import type { Db, Trx } from '../../db/index.js';
import { recordAudit } from '../audit/audit.service.js';
import { dutyHoldersOf } from '../duties/duties.service.js';
import { scheduleTimers, type TimerSpec } from '../timers/timers.service.js';
import * as repo from './inspections.repository.js';
import { occurrencesWithNext } from './recurrence.js';
import { firstTaskTimer, taskTimes } from './rules.js';

/**
 * Task generation on a rolling horizon (issue 6), for every active plan at once.
 *
 * Each plan keeps a watermark (next_occurrence_at: the first occurrence it has no task for); a
 * pass looks only at plans whose watermark enters [now, now + horizon), so a pass with nothing to
 * do reads the plans once and stops. Plans are taken in batches of whole communities, each batch
 * in one transaction: the communities' plans are locked (advisory locks, in community order, the
 * same lock plan edits take), the plans read, their occurrences computed from the RRULE, the tasks
 * inserted in one statement (INSERT … SELECT FROM unnest … ON CONFLICT DO NOTHING), the first
 * reminder of each scheduled in one statement, the watermarks moved, and one audit event written
 * per community. Running it twice, even at the same time, creates nothing new: the second run
 * waits for the first's locks, then reads the moved watermarks; and the unique index on
 * (plan, occurrence) stands behind that anyway.
 */

const DAY_MS = 86_400_000;

export interface GenerateOptions {
  horizonDays: number;
  now?: Date;
  /** Plans per transaction (whole communities: a batch ends at a community boundary). */
  batchPlans?: number;
  /** Batches in flight at once (each its own transaction and connection). */
  concurrency?: number;
  logger?: Pick<Logger, 'warn' | 'debug'>;
}

export interface GenerateResult {
  plans: number;
  tasks: number;
  timers: number;
  communities: number;
  failedPlans: number;
  /** Where the time went, ms summed over batches (batches overlap when concurrency > 1). */
  phases: Record<Phase, number>;
}

type Phase = 'lock' | 'dutyHolders' | 'occurrences' | 'insertTasks' | 'timers' | 'watermarks' | 'audit';
const noPhases = (): Record<Phase, number> => ({ lock: 0, dutyHolders: 0, occurrences: 0, insertTasks: 0, timers: 0, watermarks: 0, audit: 0 });

type LockedPlan = Awaited<ReturnType<typeof repo.plansForGeneration>>[number];

interface Batch {
  ids: string[];
  communityIds: string[];
}

async function generateBatch(trx: Trx, batch: Batch, now: Date, horizonEnd: Date, logger?: GenerateOptions['logger']): Promise<GenerateResult> {
  const { ids, communityIds } = batch;
  const phases = noPhases();
  let mark = performance.now();
  const lap = (phase: Phase) => {
    const t = performance.now();
    phases[phase] += t - mark;
    mark = t;
  };
  await repo.lockCommunities(trx, communityIds);
  const plans = await repo.plansForGeneration(trx, ids, horizonEnd);
  lap('lock');
  const result: GenerateResult = { plans: plans.length, tasks: 0, timers: 0, communities: 0, failedPlans: 0, phases };
  if (plans.length === 0) return result;

  // Plans assigned to "the duty holder" follow it when the duty changed hands.
  const followers = plans.filter((p) => p.assignee_source === 'duty_holder');
  const holders = await dutyHoldersOf(trx, followers.map((p) => ({ communityId: p.community_id, category: p.category })), now);
  for (const p of followers) {
    const org = holders.get(`${p.community_id}|${p.category}`)?.organizationId ?? null;
    if (org === p.assignee_org_id) continue;
    await repo.followDutyHolder(trx, p.id, org, now);
    await recordAudit(trx, {
      communityId: p.community_id,
      actorUserId: null,
      action: 'inspection_plan.assignee_followed_duty',
      entityType: 'inspection_plan',
      entityId: p.id,
      before: { assigneeOrgId: p.assignee_org_id },
      after: { assigneeOrgId: org },
    });
    p.assignee_org_id = org;
  }
  lap('dutyHolders');

  const tasks: repo.NewTask[] = [];
  const marks: Array<{ planId: string; next: Date | null }> = [];
  const byPlan = new Map<string, LockedPlan>();
  for (const p of plans) {
    byPlan.set(p.id, p);
    const from = p.next_occurrence_at && p.next_occurrence_at > now ? p.next_occurrence_at : now;
    let computed: ReturnType<typeof occurrencesWithNext>;
    try {
      computed = occurrencesWithNext({ rrule: p.rrule, dtstartLocal: p.dtstart_local, timeZone: p.time_zone }, from, horizonEnd);
    } catch (err) {
      // Rules are validated when written; one that cannot be evaluated now stays for a person to fix.
      result.failedPlans++;
      logger?.warn({ planId: p.id, err: (err as Error).message }, 'inspection plan rule cannot be evaluated; skipped');
      continue;
    }
    if (p.facility_set.length === 0) {
      // Nothing to inspect yet: looked at again on the next pass.
      marks.push({ planId: p.id, next: computed.occurrences[0] ?? computed.next });
      continue;
    }
    for (const o of computed.occurrences) {
      const times = taskTimes(o, { leadTimeMinutes: p.lead_time_minutes, dueWindowMinutes: p.due_window_minutes });
      tasks.push({
        planId: p.id,
        communityId: p.community_id,
        kind: p.kind,
        category: p.category,
        planVersion: p.version,
        occurrenceAt: o,
        availableAt: times.availableAt,
        dueAt: times.dueAt,
        facilityIds: p.facility_set,
        assigneeOrgId: p.assignee_org_id,
        assigneeUserId: p.assignee_user_id,
      });
    }
    marks.push({ planId: p.id, next: computed.next });
  }

  lap('occurrences');
  const created = await repo.insertTasks(trx, tasks);
  lap('insertTasks');
  // The first step of each task's reminder ladder; each step's handler schedules the next.
  const specs: TimerSpec[] = created.map((t) => {
    const s = firstTaskTimer({ id: t.id, availableAt: t.available_at, dueAt: t.due_at }, byPlan.get(t.plan_id)?.escalate_after_minutes ?? 2880, now);
    return { kind: s.kind, subjectId: t.id, communityId: t.community_id, dueAt: s.dueAt, jobId: s.jobId, payload: { taskId: t.id } };
  });
  await scheduleTimers(trx, specs);
  lap('timers');
  await repo.setWatermarks(trx, marks);
  lap('watermarks');

  // One audit event per community with what was scheduled; chains in a fixed order.
  const perCommunity = new Map<string, typeof created>();
  for (const t of created) {
    const list = perCommunity.get(t.community_id) ?? [];
    list.push(t);
    perCommunity.set(t.community_id, list);
  }
  for (const communityId of [...perCommunity.keys()].sort()) {
    const list = perCommunity.get(communityId) as typeof created;
    await recordAudit(trx, {
      communityId,
      actorUserId: null,
      action: 'inspection_tasks.generated',
      entityType: 'inspection_task',
      entityId: null,
      // Per plan: how many tasks, first and last occurrence (the tasks themselves are rows).
      after: { horizonEnd: horizonEnd.toISOString(), tasks: list.length, plans: summarise(list) },
    });
  }
  lap('audit');
  result.tasks = created.length;
  result.timers = specs.length;
  result.communities = perCommunity.size;
  return result;
}

function summarise(list: Array<{ plan_id: string; occurrence_at: Date }>) {
  const byPlan = new Map<string, { planId: string; tasks: number; first: string; last: string }>();
  for (const t of list) {
    const at = t.occurrence_at.toISOString();
    const cur = byPlan.get(t.plan_id);
    if (!cur) byPlan.set(t.plan_id, { planId: t.plan_id, tasks: 1, first: at, last: at });
    else {
      cur.tasks++;
      if (at < cur.first) cur.first = at;
      if (at > cur.last) cur.last = at;
    }
  }
  return [...byPlan.values()];
}

/** Splits the work list (by community) into batches of whole communities of about `size` plans. */
function batches(rows: Array<{ id: string; community_id: string }>, size: number): Batch[] {
  const out: Batch[] = [];
  let current: Batch = { ids: [], communityIds: [] };
  for (const r of rows) {
    const last = current.communityIds[current.communityIds.length - 1];
    if (r.community_id !== last) {
      if (current.ids.length >= size) {
        out.push(current);
        current = { ids: [], communityIds: [] };
      }
      current.communityIds.push(r.community_id);
    }
    current.ids.push(r.id);
  }
  if (current.ids.length) out.push(current);
  return out;
}

/** One generation pass over every active plan whose next occurrence enters the horizon. */
export async function generateTasks(db: Db, opts: GenerateOptions): Promise<GenerateResult> {
  const now = opts.now ?? new Date();
  const horizonEnd = new Date(now.getTime() + opts.horizonDays * DAY_MS);
  const work = await repo.plansToGenerate(db, horizonEnd);
  const queue = batches(work, opts.batchPlans ?? 1_000);
  const total: GenerateResult = { plans: 0, tasks: 0, timers: 0, communities: 0, failedPlans: 0, phases: noPhases() };
  const runOne = async () => {
    for (let batch = queue.shift(); batch; batch = queue.shift()) {
      const b = batch;
      const r = await db.transaction().execute((trx) => generateBatch(trx, b, now, horizonEnd, opts.logger));
      total.plans += r.plans;
      total.tasks += r.tasks;
      total.timers += r.timers;
      total.communities += r.communities;
      total.failedPlans += r.failedPlans;
      for (const k of Object.keys(total.phases) as Phase[]) total.phases[k] += r.phases[k];
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, opts.concurrency ?? 2) }, runOne));
  return total;
}
