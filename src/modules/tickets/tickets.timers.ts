import type { Logger } from 'pino';
import type { Trx } from '../../db/index.js';
import { notify } from '../notifications/notifications.service.js';
import { recipients, type Recipient } from '../notifications/recipients.js';
import type { FiredTimer } from '../timers/timers.jobs.js';
import { scheduleTimer } from '../timers/timers.service.js';
import type { SlaTimerPayload } from '../timers/kinds.js';
import * as repo from './tickets.repository.js';
import { slaTimerSpec } from './sla.service.js';
import { applyTransition } from './tickets.service.js';

type SlaKind = 'sla.warning' | 'sla.breach' | 'sla.escalate-committee' | 'sla.escalate-authority';
const STAGE: Record<SlaKind, 'warning' | 'breach' | 'escalate-committee' | 'escalate-authority'> = {
  'sla.warning': 'warning',
  'sla.breach': 'breach',
  'sla.escalate-committee': 'escalate-committee',
  'sla.escalate-authority': 'escalate-authority',
};
const LEVEL: Record<SlaKind, number> = { 'sla.warning': 0, 'sla.breach': 1, 'sla.escalate-committee': 2, 'sla.escalate-authority': 3 };

/** The assignee (a technician, else the assigned organization's managers, else the duty holder's). */
async function assigneeRecipients(trx: Trx, t: { assignee_user_id: string | null; assignee_org_id: string | null; community_id: string; category: string }): Promise<Recipient[]> {
  if (t.assignee_user_id) return recipients.user(trx, t.assignee_user_id);
  if (t.assignee_org_id) {
    const rows = await trx
      .selectFrom('memberships as m')
      .innerJoin('users as u', 'u.id', 'm.user_id')
      .select(['u.id', 'u.email', 'u.name', 'u.locale'])
      .where('m.organization_id', '=', t.assignee_org_id)
      .where('m.role', '=', 'manager')
      .where('u.disabled_at', 'is', null)
      .execute();
    if (rows.length > 0) return rows.map((u) => ({ userId: u.id, email: u.email, name: u.name, locale: u.locale }));
  }
  return recipients.dutyHolderManagers(trx, t.community_id, t.category);
}

/**
 * One handler for the whole SLA ladder. It acts only if the timer's SLA version is still the
 * ticket's and that clock still runs (not responded / resolved / on hold / closed).
 */
export async function onSlaTimer(trx: Trx, timer: FiredTimer<SlaKind>, logger: Logger): Promise<void> {
  const p: SlaTimerPayload = timer.payload;
  const t = await repo.lockTicket(trx, p.ticketId);
  if (!t) return;
  const running =
    t.sla_version === p.version &&
    ['new', 'acknowledged', 'in_progress', 'reopened'].includes(t.status) &&
    (p.target === 'response' ? t.acknowledged_at === null && t.resolved_at === null : t.resolved_at === null);
  if (!running) {
    logger.debug({ ticketId: t.id, kind: timer.kind, version: p.version, current: t.sla_version, status: t.status }, 'SLA timer no longer applies');
    return;
  }
  const kind = timer.kind;
  const patch: repo.TicketPatch = {};
  if (kind === 'sla.breach') {
    if (p.target === 'response' && !t.response_breached_at) patch.response_breached_at = timer.dueAt;
    if (p.target === 'resolution' && !t.resolution_breached_at) patch.resolution_breached_at = timer.dueAt;
  }
  if (LEVEL[kind] > t.escalation_level) patch.escalation_level = LEVEL[kind];
  if (Object.keys(patch).length > 0) await repo.updateTicket(trx, t.id, patch);

  const community = await trx.selectFrom('communities').select(['name', 'time_zone']).where('id', '=', t.community_id).executeTakeFirstOrThrow();
  const who =
    kind === 'sla.warning'
      ? await assigneeRecipients(trx, t)
      : kind === 'sla.breach'
        ? [...(await recipients.dutyHolderManagers(trx, t.community_id, t.category)), ...(await assigneeRecipients(trx, t))]
        : kind === 'sla.escalate-committee'
          ? await recipients.committeeMembers(trx, t.community_id)
          : await recipients.authorityViewers(trx, t.community_id);
  const dueAt = (p.target === 'response' ? t.respond_by : t.resolve_by) ?? timer.dueAt;
  await notify(trx, {
    // One notice per ladder step of one deadline: every recomputation (a hold, a resume, a
    // reopen) re-plans the steps already past under a new version and job id, and those must
    // not announce the same warning or breach again. A moved deadline is a new fact.
    dedupeKey: `sla-${STAGE[kind]}-${p.target}-${t.id}-${dueAt.getTime()}`,
    communityId: t.community_id,
    timeZone: community.time_zone,
    template: 'ticket.sla',
    payload: { stage: STAGE[kind], target: p.target, communityName: community.name, ticketRef: t.ref, title: t.title, priority: t.priority, dueAt: dueAt.toISOString() },
    recipients: who,
  });
  // The ladder goes on: the next step of this target, same version (a no-op if already there).
  const [next, ...later] = p.next ?? [];
  if (next) await scheduleTimer(trx, slaTimerSpec(t.id, t.community_id, { ...p, next: later }, next.kind, new Date(next.at)));
}

/** A resolved ticket nobody confirmed closes itself, unless it changed since. */
export async function onAutoClose(trx: Trx, timer: FiredTimer<'ticket.auto-close'>, logger: Logger): Promise<void> {
  const t = await repo.lockTicket(trx, timer.payload.ticketId);
  if (!t || t.status !== 'resolved' || t.resolved_at?.toISOString() !== timer.payload.resolvedAt) {
    logger.debug({ ticketId: timer.payload.ticketId }, 'auto-close no longer applies');
    return;
  }
  await applyTransition(trx, null, t, 'closed', null);
}

