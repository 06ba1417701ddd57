import type { Logger } from 'pino';
import type { Trx } from '../../db/index.js';
import { recordAudit } from '../audit/audit.service.js';
import { notify } from '../notifications/notifications.service.js';
import { recipients, type Recipient } from '../notifications/recipients.js';
import type { FiredTimer } from '../timers/timers.jobs.js';
import * as repo from './inspections.repository.js';
import { nextTaskTimer, type InspectionTimerKind } from './rules.js';
import { scheduleTimer } from '../timers/timers.service.js';

const STAGE: Record<InspectionTimerKind, 'due-tomorrow' | 'overdue' | 'escalate'> = {
  'inspection.due-tomorrow': 'due-tomorrow',
  'inspection.overdue': 'overdue',
  'inspection.escalate': 'escalate',
};

/** The assignee: the person, else the assigned organization's managers, else the duty holder's managers. */
async function assigneeRecipients(trx: Trx, t: repo.TaskRow): Promise<Recipient[]> {
  if (t.assignee_user_id) return recipients.user(trx, t.assignee_user_id);
  if (t.assignee_org_id) {
    const rows = await trx
      .selectFrom('memberships as m')
      .innerJoin('users as u', 'u.id', 'm.user_id')
      .select(['u.id', 'u.email', 'u.name', 'u.locale'])
      .where('m.organization_id', '=', t.assignee_org_id)
      .where('m.role', 'in', ['manager', 'chair'])
      .where('u.disabled_at', 'is', null)
      .execute();
    if (rows.length > 0) return rows.map((u) => ({ userId: u.id, email: u.email, name: u.name, locale: u.locale }));
  }
  return recipients.dutyHolderManagers(trx, t.community_id, t.category);
}

/**
 * The reminder ladder of an inspection task. It re-reads the task and does nothing once the task
 * is done or cancelled. At due, a task not done is marked missed (the trace of inaction); later,
 * the owners' committee hears of it. Each step schedules the next.
 */
export async function onInspectionTimer(trx: Trx, timer: FiredTimer<InspectionTimerKind>, logger: Logger): Promise<void> {
  const t = await repo.lockTask(trx, timer.payload.taskId);
  if (!t || t.status === 'done' || t.status === 'cancelled') {
    logger.debug({ taskId: timer.payload.taskId, kind: timer.kind, status: t?.status }, 'inspection timer no longer applies');
    return;
  }
  // The next step of the ladder, scheduled with this firing (in its transaction).
  const next = nextTaskTimer(timer.kind, { id: t.id, dueAt: t.due_at }, t.escalate_after_minutes);
  if (next) await scheduleTimer(trx, { kind: next.kind, subjectId: t.id, communityId: t.community_id, dueAt: next.dueAt, jobId: next.jobId, payload: { taskId: t.id } });
  const stage = STAGE[timer.kind];
  const now = new Date();
  let who: Recipient[];
  if (stage === 'due-tomorrow') {
    if (t.status === 'missed') return;
    who = await assigneeRecipients(trx, t);
  } else if (stage === 'overdue') {
    if (t.status !== 'missed') {
      await repo.updateTask(trx, t.id, { status: 'missed', missed_at: now });
      await recordAudit(trx, {
        communityId: t.community_id,
        actorUserId: null,
        action: 'inspection_task.missed',
        entityType: 'inspection_task',
        entityId: t.id,
        before: { status: t.status },
        after: { status: 'missed', dueAt: t.due_at, progress: t.progress, total: t.facility_ids.length },
      });
    }
    who = [...(await assigneeRecipients(trx, t)), ...(await recipients.dutyHolderManagers(trx, t.community_id, t.category))];
  } else {
    await repo.updateTask(trx, t.id, { status: 'missed', missed_at: t.missed_at ?? now, escalated_at: now });
    await recordAudit(trx, {
      communityId: t.community_id,
      actorUserId: null,
      action: 'inspection_task.escalated',
      entityType: 'inspection_task',
      entityId: t.id,
      before: { status: t.status },
      after: { status: 'missed', escalatedTo: 'owners_committee', dueAt: t.due_at },
    });
    who = await recipients.committeeMembers(trx, t.community_id);
  }
  const community = await trx.selectFrom('communities').select(['name', 'time_zone']).where('id', '=', t.community_id).executeTakeFirstOrThrow();
  await notify(trx, {
    dedupeKey: `inspection-${stage}-${t.id}`,
    communityId: t.community_id,
    timeZone: community.time_zone,
    template: 'inspection.reminder',
    payload: { stage, communityName: community.name, planName: t.plan_name, kind: t.kind, dueAt: t.due_at.toISOString(), facilities: t.facility_ids.length, done: t.progress },
    recipients: who,
  });
}
