import type { Logger } from 'pino';
import type { Trx } from '../../db/index.js';
import { recordAudit } from '../audit/audit.service.js';
import { recipients } from '../notifications/recipients.js';
import { scheduleTimers } from '../timers/timers.service.js';
import type { FiredTimer } from '../timers/timers.jobs.js';
import * as repo from './funds.repository.js';
import { notifyMany } from './notify-many.js';
import { closeVote, sendSettlementNotices } from './funds.service.js';

const DAY = 86_400_000;

/** The deadline: the tally becomes final, if the vote is still open with this deadline. */
export async function onVoteClose(trx: Trx, timer: FiredTimer<'fund.vote-close'>, logger: Logger): Promise<void> {
  const r = await repo.lockRequest(trx, timer.payload.requestId);
  if (!r || r.status !== 'voting' || r.vote_closes_at?.toISOString() !== timer.payload.closesAt) {
    logger.debug({ requestId: timer.payload.requestId }, 'vote close no longer applies');
    return;
  }
  await closeVote(trx, null, r, 'deadline');
}

/** Owners in scope who have not voted yet are reminded. */
export async function onVoteClosingSoon(trx: Trx, timer: FiredTimer<'fund.vote-closing-soon'>): Promise<void> {
  const r = await repo.findRequest(trx, timer.payload.requestId);
  if (!r || r.status !== 'voting' || !r.vote_closes_at) return;
  const [voters, ballots] = await Promise.all([repo.voters(trx, r.id), repo.ballots(trx, r.id)]);
  const voted = new Set(ballots.map((b) => b.voter_key));
  const pendingUnits = voters.filter((v) => !voted.has(v.voter_key) && v.kind === 'owner').flatMap((v) => v.unit_ids);
  if (pendingUnits.length === 0) return;
  const community = await trx.selectFrom('communities').select(['name', 'time_zone']).where('id', '=', r.community_id).executeTakeFirstOrThrow();
  await notifyMany(trx, {
    dedupeKey: timer.jobId,
    communityId: r.community_id,
    timeZone: community.time_zone,
    template: 'fund.vote_closing',
    payload: { communityName: community.name, requestRef: r.ref, title: r.title, closesAt: r.vote_closes_at.toISOString(), daysBefore: timer.payload.daysBefore },
    recipients: await recipients.ownersInScope(trx, r.community_id, pendingUnits),
  });
}

/** The notice ended: a failed request closes; a passed one waits for approval (approvers reminded). */
export async function onNoticeEnd(trx: Trx, timer: FiredTimer<'fund.notice-end'>): Promise<void> {
  const r = await repo.lockRequest(trx, timer.payload.requestId);
  if (!r || r.status !== 'public_notice') return;
  const community = await trx.selectFrom('communities').select(['name', 'time_zone']).where('id', '=', r.community_id).executeTakeFirstOrThrow();
  if (r.outcome !== 'passed') {
    await repo.updateRequest(trx, r.id, { status: 'closed', closed_at: new Date() });
    await recordAudit(trx, { communityId: r.community_id, actorUserId: null, action: 'fund.closed', entityType: 'fund_request', entityId: r.id, before: { status: 'public_notice' }, after: { status: 'closed', because: 'notice ended' } });
    return;
  }
  await notifyMany(trx, {
    dedupeKey: `fund-notice-ended-${r.id}`,
    communityId: r.community_id,
    timeZone: community.time_zone,
    template: 'fund.approval_pending',
    payload: { communityName: community.name, requestRef: r.ref, title: r.title, path: r.path, noticeEndsAt: r.notice_ends_at?.toISOString() ?? null },
    recipients: r.approval_mode === 'committee' ? await recipients.committeeMembers(trx, r.community_id) : await recipients.authorityViewers(trx, r.community_id),
  });
}

/** Daily until the committee records the after-the-fact notice of an emergency request. */
export async function onEmergencyNotice(trx: Trx, timer: FiredTimer<'fund.emergency-notice'>): Promise<void> {
  const r = await repo.findRequest(trx, timer.payload.requestId);
  if (!r || r.path !== 'emergency' || r.after_fact_notice_at || ['withdrawn', 'closed'].includes(r.status)) return;
  const community = await trx.selectFrom('communities').select(['name', 'time_zone']).where('id', '=', r.community_id).executeTakeFirstOrThrow();
  await notifyMany(trx, {
    dedupeKey: timer.jobId,
    communityId: r.community_id,
    timeZone: community.time_zone,
    template: 'fund.emergency_notice_due',
    payload: { communityName: community.name, requestRef: r.ref, title: r.title, reminder: timer.payload.reminder },
    recipients: [...(await recipients.committeeMembers(trx, r.community_id)), ...(await recipients.authorityViewers(trx, r.community_id))],
  });
  const next = timer.payload.reminder + 1;
  await scheduleTimers(trx, [
    { kind: 'fund.emergency-notice', subjectId: r.id, communityId: r.community_id, dueAt: new Date(timer.dueAt.getTime() + DAY), jobId: `fund-emergency-notice-${r.id}-${next}`, payload: { requestId: r.id, reminder: next } },
  ]);
}

/** Right after a settlement commits: its notices and top-up reminders. */
export async function onSettledNotify(trx: Trx, timer: FiredTimer<'fund.settled-notify'>): Promise<void> {
  await sendSettlementNotices(trx, timer.payload.requestId);
}
