import { sql } from 'kysely';
import type { Db, DbOrTrx, Trx } from '../../db/index.js';
import { FUND_DOCUMENT_KINDS, type EmergencyKind, type FundingSource, type FundStatus } from '../../db/types.js';
import { AppError, badRequest, conflict, forbidden, notFound, unprocessable } from '../../lib/errors.js';
import { communityAccess, visibleCommunity, type Actor, type CommunityAccess, type Stance } from '../../plugins/access.js';
import { recordAudit } from '../audit/audit.service.js';
import { recipients } from '../notifications/recipients.js';
import { cancelTimers, scheduleTimers, type TimerSpec } from '../timers/timers.service.js';
import { apportion, belowTopUpThreshold } from './apportion.js';
import { buildElectorate } from './electorate.js';
import { checkFundMove, fundingMatchesBudget, fundShareOfActual, type FundRole } from './fund-state.js';
import * as repo from './funds.repository.js';
import { notifyMany } from './notify-many.js';
import { canOutcomeStillChange, tallyOfCounts, TallyInputError, type DecisionType, type TallyResult } from './tally.js';

export type FundRequestRow = NonNullable<Awaited<ReturnType<typeof repo.findRequest>>>;

const DAY = 86_400_000;
/** Reminders to owners who have not voted, this many days before the vote closes. */
export const CLOSING_REMINDER_DAYS = [3, 1] as const;

export interface CreateFundRequestInput {
  communityId: string;
  title: string;
  description?: string;
  path: 'normal' | 'emergency';
  emergencyKind?: EmergencyKind;
  decisionType: DecisionType;
  scope: { buildingIds?: string[]; unitIds?: string[] };
  budgetLines: Array<{ description: string; amountCents: number }>;
  funding: Array<{ source: FundingSource; amountCents: number }>;
  ticketIds?: string[];
  facilityIds?: string[];
  contractorOrgId?: string | null;
  voteOpensAt?: string;
  voteClosesAt?: string;
  noticeDays?: number;
}

/** What the actor is for one request (the fund state machine's roles). */
export function fundRoles(access: CommunityAccess, actor: Actor, r: Pick<FundRequestRow, 'proposer_user_id' | 'proposer_org_id' | 'approval_mode' | 'contractor_org_id'>): Set<FundRole> {
  const roles = new Set<FundRole>();
  const has = (s: Parameters<typeof access.stances.has>[0]) => access.stances.has(s);
  const admin = has('platform_admin');
  if (admin || has('committee_officer')) roles.add('committee');
  if (r.proposer_user_id === actor.userId || (r.proposer_org_id && actor.memberships.some((m) => m.organizationId === r.proposer_org_id && m.role === 'manager'))) roles.add('proposer');
  if (admin || (r.approval_mode === 'committee' ? has('committee_officer') : has('authority'))) roles.add('approver');
  if (admin || has('property_manager') || (r.contractor_org_id && actor.memberships.some((m) => m.organizationId === r.contractor_org_id))) roles.add('works');
  return roles;
}

/** Is the actor a member of the request's contractor? */
function worksOn(actor: Actor, r: Pick<FundRequestRow, 'contractor_org_id'>): boolean {
  return r.contractor_org_id !== null && actor.memberships.some((m) => m.organizationId === r.contractor_org_id);
}

/**
 * Who may read a request: everyone of the community (owners included: they vote and pay), except
 * that a contractor sees only the requests it works on — and those even when it holds no duty in
 * the community (a contractor hired for the works need not maintain anything there).
 * `lock`: 'update' for a status change, 'share' for a ballot (a ballot and the closing of the
 * vote exclude each other: no ballot lands after the final tally was taken).
 */
async function requestForActor(db: DbOrTrx, actor: Actor, id: string, lock: boolean | 'update' | 'share' = false) {
  const r = lock === 'share' ? await repo.shareLockRequest(db, id) : lock ? await repo.lockRequest(db, id) : await repo.findRequest(db, id);
  if (!r) throw notFound('Fund request');
  const access = await communityAccess(db, actor, r.community_id);
  const onlyContractor = access.stances.size === 0 || (access.stances.size === 1 && access.stances.has('contractor'));
  if (!worksOn(actor, r) && (onlyContractor || !access.can('community.read'))) throw notFound('Fund request');
  return { request: r, access, roles: fundRoles(access, actor, r) };
}

export { requestForActor };

export async function createFundRequest(db: Db, actor: Actor, access: CommunityAccess, input: CreateFundRequestInput) {
  const proposes = ['platform_admin', 'property_manager', 'committee_officer', 'committee_member'].some((s) => access.stances.has(s as never));
  if (!proposes) throw forbidden('Fund requests are proposed by the property company or the owners’ committee');
  const budget = input.budgetLines.reduce((s, l) => s + l.amountCents, 0);
  if (!Number.isSafeInteger(budget) || budget <= 0) throw unprocessable('The budget lines must add up to a positive amount');
  if (!fundingMatchesBudget(budget, input.funding)) {
    const funded = input.funding.reduce((s, f) => s + f.amountCents, 0);
    throw unprocessable(`The funding sources add up to ${funded} cents but the budget is ${budget} cents: they must be equal`, { budgetCents: budget, fundedCents: funded });
  }
  if (new Set(input.funding.map((f) => f.source)).size !== input.funding.length) throw badRequest('Each funding source may appear once', [{ field: 'funding', message: 'duplicate source' }]);
  if (input.path === 'emergency') {
    if (!input.emergencyKind) throw badRequest('An emergency request names its emergency kind', [{ field: 'emergencyKind', message: 'required for the emergency path' }]);
    if (input.decisionType !== 'use_fund') throw unprocessable('The emergency path is only for using the fund (use_fund)');
    if (!input.ticketIds?.length && !input.facilityIds?.length) throw unprocessable('An emergency request is linked to a P1 ticket or a facility');
  } else if (input.emergencyKind) {
    throw badRequest('emergencyKind is only for the emergency path', [{ field: 'emergencyKind', message: 'only with path emergency' }]);
  }
  const opens = input.voteOpensAt ? new Date(input.voteOpensAt) : null;
  const closes = input.voteClosesAt ? new Date(input.voteClosesAt) : null;
  if (opens && closes && closes <= opens) throw badRequest('The vote must close after it opens', [{ field: 'voteClosesAt', message: 'must be after voteOpensAt' }]);

  return db.transaction().execute(async (trx) => {
    const units = await repo.scopeUnits(trx, input.communityId, input.scope.buildingIds ?? [], input.scope.unitIds ?? []);
    const wanted = new Set(input.scope.unitIds ?? []);
    for (const u of units) wanted.delete(u.id);
    if (wanted.size > 0) throw notFound('Unit');
    const buildingsFound = new Set(units.map((u) => u.building_id));
    if ((input.scope.buildingIds ?? []).some((b) => !buildingsFound.has(b))) throw unprocessable('A building in the scope has no units in this community');
    if (units.length === 0) throw unprocessable('The scope has no units: choose buildings or units whose owners pay and vote');
    for (const ticketId of input.ticketIds ?? []) {
      const t = await trx.selectFrom('tickets').select(['community_id', 'priority']).where('id', '=', ticketId).executeTakeFirst();
      if (!t || t.community_id !== input.communityId) throw notFound('Ticket');
      if (input.path === 'emergency' && t.priority !== 'P1' && !(input.facilityIds?.length)) throw unprocessable('The emergency path needs a P1 ticket (or a linked facility)');
    }
    for (const facilityId of input.facilityIds ?? []) {
      const f = await trx.selectFrom('facilities').select('community_id').where('id', '=', facilityId).executeTakeFirst();
      if (!f || f.community_id !== input.communityId) throw notFound('Facility');
    }
    if (input.contractorOrgId) {
      const org = await trx.selectFrom('organizations').select('kind').where('id', '=', input.contractorOrgId).executeTakeFirst();
      if (!org || org.kind !== 'contractor') throw unprocessable('contractorOrgId must name a contractor');
    }
    const community = await trx.selectFrom('communities').select('settings').where('id', '=', input.communityId).executeTakeFirstOrThrow();
    const approvalMode = (community.settings as { funds?: { approval?: string } })?.funds?.approval === 'authority' ? 'authority' : 'committee';
    const proposerOrg = actor.memberships.find((m) => (m.kind === 'property_company' && access.stances.has('property_manager')) || (m.communityId === input.communityId && m.kind === 'owners_committee'));
    const request = await repo.insertRequest(trx, {
      community_id: input.communityId,
      title: input.title.trim(),
      description: (input.description ?? '').trim(),
      path: input.path,
      emergency_kind: input.emergencyKind ?? null,
      decision_type: input.decisionType,
      proposer_user_id: actor.userId,
      proposer_org_id: proposerOrg?.organizationId ?? null,
      contractor_org_id: input.contractorOrgId ?? null,
      budget_cents: budget,
      approval_mode: approvalMode,
      vote_opens_at: opens,
      vote_closes_at: closes,
      notice_days: input.noticeDays ?? 7,
    });
    await repo.insertScope(trx, request.id, units.map((u) => u.id));
    await repo.insertBudget(trx, request.id, input.budgetLines, input.funding);
    await repo.insertLinks(trx, request.id, input.ticketIds ?? [], input.facilityIds ?? []);
    await recordAudit(trx, {
      communityId: input.communityId,
      actorUserId: actor.userId,
      action: 'fund.created',
      entityType: 'fund_request',
      entityId: request.id,
      after: { title: request.title, path: request.path, emergencyKind: request.emergency_kind, decisionType: request.decision_type, budgetCents: budget, funding: input.funding, units: units.length },
    });
    return request;
  });
}

/** The live or final tally of a request. */
export async function currentTally(db: DbOrTrx, r: FundRequestRow): Promise<TallyResult | null> {
  if (r.final_tally) return r.final_tally as TallyResult;
  if (r.status !== 'voting') return null;
  // Summed in the database; refused as tally() refuses such lists (the schema's keys and checks
  // make them impossible: a ballot's voter is a foreign key, one ballot per voter the primary key).
  const f = await repo.tallyFigures(db, r.id);
  if (f.totalHeadcount === 0) throw new TallyInputError('The electorate is empty');
  if (f.badAreas > 0) throw new TallyInputError(`${f.badAreas} voter(s) with an invalid area`);
  if (f.outsiders > 0) throw new TallyInputError(`${f.outsiders} ballot(s) from outside the electorate`);
  if (f.badChoices > 0) throw new TallyInputError(`${f.badChoices} ballot(s) with an unknown choice`);
  return tallyOfCounts({ decisionType: r.decision_type, totalArea: f.totalArea, totalHeadcount: f.totalHeadcount, counts: f.counts });
}

async function communityOf(trx: DbOrTrx, id: string) {
  return trx.selectFrom('communities').select(['name', 'time_zone']).where('id', '=', id).executeTakeFirstOrThrow();
}

function fundTimers(r: FundRequestRow, closes: Date): TimerSpec[] {
  const now = Date.now();
  const specs: TimerSpec[] = [
    { kind: 'fund.vote-close', subjectId: r.id, communityId: r.community_id, dueAt: closes, jobId: `fund-vote-close-${r.id}-${closes.getTime()}`, payload: { requestId: r.id, closesAt: closes.toISOString() } },
  ];
  for (const days of CLOSING_REMINDER_DAYS) {
    const at = new Date(closes.getTime() - days * DAY);
    if (at.getTime() > now) {
      specs.push({ kind: 'fund.vote-closing-soon', subjectId: r.id, communityId: r.community_id, dueAt: at, jobId: `fund-vote-closing-${r.id}-${days}d`, payload: { requestId: r.id, daysBefore: days } });
    }
  }
  return specs;
}

/** Opens the vote: the electorate is fixed now, owners in scope are told. */
async function openVote(trx: Trx, actor: Actor, r: FundRequestRow, body: { voteClosesAt?: string }) {
  if (r.path !== 'normal') throw unprocessable('The emergency path has no owners’ vote');
  const now = new Date();
  const closes = body.voteClosesAt ? new Date(body.voteClosesAt) : r.vote_closes_at;
  if (!closes) throw badRequest('Opening the vote needs voteClosesAt', [{ field: 'voteClosesAt', message: 'required' }]);
  if (closes <= now) throw badRequest('The vote must close in the future', [{ field: 'voteClosesAt', message: 'must be in the future' }]);
  const electorate = buildElectorate(await repo.scopeWithOwners(trx, r.id));
  await repo.insertVoters(trx, r.id, electorate.voters);
  const updated = await repo.updateRequest(trx, r.id, { status: 'voting', vote_opens_at: now, vote_closes_at: closes });
  await scheduleTimers(trx, fundTimers(updated, closes));
  const community = await communityOf(trx, r.community_id);
  await notifyMany(trx, {
    dedupeKey: `fund-vote-opened-${r.id}`,
    communityId: r.community_id,
    timeZone: community.time_zone,
    template: 'fund.vote_opened',
    payload: { communityName: community.name, requestRef: r.ref, title: r.title, decisionType: r.decision_type, budgetCents: r.budget_cents, closesAt: closes.toISOString() },
    recipients: await recipients.ownersInScope(trx, r.community_id, await scopeUnitIds(trx, r.id)),
  });
  await recordAudit(trx, {
    communityId: r.community_id,
    actorUserId: actor.userId,
    action: 'fund.voting',
    entityType: 'fund_request',
    entityId: r.id,
    before: { status: r.status },
    after: { status: 'voting', closesAt: closes, electorate: { voters: electorate.totalHeadcount, totalAreaCentiM2: electorate.totalArea } },
  });
  return updated;
}

async function scopeUnitIds(db: DbOrTrx, requestId: string) {
  return (await db.selectFrom('fund_request_units').select('unit_id').where('request_id', '=', requestId).execute()).map((u) => u.unit_id);
}

/**
 * Closes the vote: the tally at this instant becomes final. By the deadline timer, or early by
 * the committee when the outcome can no longer change.
 */
export async function closeVote(trx: Trx, actorUserId: string | null, r: FundRequestRow, reason: 'deadline' | 'early') {
  if (r.status !== 'voting') throw new AppError(409, 'ILLEGAL_TRANSITION', `Only a request being voted on can be closed (this one is ${r.status})`);
  const result = (await currentTally(trx, r)) as TallyResult;
  const updated = await repo.updateRequest(trx, r.id, { status: result.outcome, outcome: result.outcome, final_tally: JSON.stringify(result) });
  await cancelTimers(trx, r.id, 'fund.vote-closing-soon');
  await cancelTimers(trx, r.id, 'fund.vote-close');
  const community = await communityOf(trx, r.community_id);
  await notifyMany(trx, {
    dedupeKey: `fund-vote-result-${r.id}`,
    communityId: r.community_id,
    timeZone: community.time_zone,
    template: 'fund.vote_result',
    payload: { communityName: community.name, requestRef: r.ref, title: r.title, outcome: result.outcome, participatingHeadcount: result.participatingHeadcount, totalHeadcount: result.totalHeadcount, agreeHeadcount: result.agreeHeadcount },
    recipients: [...(await recipients.ownersInScope(trx, r.community_id, await scopeUnitIds(trx, r.id))), ...(await recipients.committeeMembers(trx, r.community_id))],
  });
  await recordAudit(trx, {
    communityId: r.community_id,
    actorUserId,
    action: `fund.${result.outcome}`,
    entityType: 'fund_request',
    entityId: r.id,
    before: { status: 'voting' },
    after: { status: result.outcome, closedBy: reason, tally: { participatingArea: result.participatingArea, participatingHeadcount: result.participatingHeadcount, agreeArea: result.agreeArea, agreeHeadcount: result.agreeHeadcount, totalArea: result.totalArea, totalHeadcount: result.totalHeadcount } },
  });
  return updated;
}

export async function closeVoteEarly(db: Db, actor: Actor, id: string) {
  return db.transaction().execute(async (trx) => {
    const { request: r, roles } = await requestForActor(trx, actor, id, true);
    if (!roles.has('committee')) throw forbidden('The owners’ committee closes a vote');
    if (r.status !== 'voting') throw new AppError(409, 'ILLEGAL_TRANSITION', `This request is ${r.status}, not being voted on`);
    const [voters, ballots] = await Promise.all([repo.voterAreas(trx, r.id), repo.ballotChoices(trx, r.id)]);
    const electorate = { voters: voters.map((v) => ({ voterKey: v.voter_key, areaCentiM2: v.area_centi_m2 })), totalArea: voters.reduce((s, v) => s + v.area_centi_m2, 0), totalHeadcount: voters.length };
    const deadlinePassed = r.vote_closes_at !== null && r.vote_closes_at <= new Date();
    if (!deadlinePassed && canOutcomeStillChange(electorate, ballots.map((b) => ({ voterKey: b.voter_key, choice: b.choice })), r.decision_type)) {
      throw new AppError(409, 'OUTCOME_OPEN', 'The outcome can still change: the vote stays open until its deadline');
    }
    return closeVote(trx, actor.userId, r, deadlinePassed ? 'deadline' : 'early');
  });
}

/** A status move through the state machine (409 illegal, 403 wrong role), with its effects. */
export async function transitionFundRequest(
  db: Db,
  actor: Actor,
  id: string,
  to: FundStatus,
  body: { reason?: string; voteClosesAt?: string; actualCostCents?: number; fundShareCents?: number },
) {
  return db.transaction().execute(async (trx) => {
    const { request: r, roles } = await requestForActor(trx, actor, id, true);
    const check = checkFundMove(r.status, to, roles);
    if (!check.ok) throw check.kind === 'illegal' ? new AppError(409, 'ILLEGAL_TRANSITION', check.message, { from: r.status, to }) : forbidden(check.message);
    const now = new Date();
    const community = await communityOf(trx, r.community_id);
    let patch: repo.FundRequestPatch = { status: to };
    switch (to) {
      case 'voting':
        return openVote(trx, actor, r, body);
      case 'emergency_review':
        if (r.path !== 'emergency') throw unprocessable('Only an emergency request goes to emergency review; a normal one is voted on');
        break;
      case 'public_notice': {
        const ends = new Date(now.getTime() + r.notice_days * DAY);
        patch = { ...patch, notice_starts_at: now, notice_ends_at: ends };
        await scheduleTimers(trx, [
          { kind: 'fund.notice-end', subjectId: r.id, communityId: r.community_id, dueAt: ends, jobId: `fund-notice-end-${r.id}`, payload: { requestId: r.id } },
        ]);
        break;
      }
      case 'approved':
        if (r.path === 'normal') {
          if (r.outcome !== 'passed') throw unprocessable('Only a request the owners passed can be approved');
          if (!r.notice_ends_at || r.notice_ends_at > now) throw new AppError(409, 'NOTICE_RUNNING', `The public notice runs until ${r.notice_ends_at?.toISOString() ?? '—'}; approve after it ends`);
        }
        patch = { ...patch, approved_at: now, approved_by: actor.userId, ...(r.approval_mode === 'committee' ? { filed_with_authority_at: now } : { authority_reviewed_at: now }) };
        if (r.path === 'emergency' && !r.after_fact_notice_at) {
          await scheduleTimers(trx, [
            { kind: 'fund.emergency-notice', subjectId: r.id, communityId: r.community_id, dueAt: new Date(now.getTime() + DAY), jobId: `fund-emergency-notice-${r.id}-1`, payload: { requestId: r.id, reminder: 1 } },
          ]);
        }
        break;
      case 'in_works':
        if (!r.contractor_org_id) throw unprocessable('Name the contractor (contractorOrgId) before works start');
        break;
      case 'accepted': {
        const actual = body.actualCostCents;
        if (actual === undefined) throw badRequest('Acceptance records the actual cost (actualCostCents)', [{ field: 'actualCostCents', message: 'required' }]);
        const fundBudget = (await repo.funding(trx, r.id)).find((f) => f.source === 'maintenance_fund')?.amount_cents ?? 0;
        const share = body.fundShareCents ?? fundShareOfActual(actual, r.budget_cents, fundBudget);
        if (share > actual) throw unprocessable('The fund’s share cannot exceed the actual cost');
        patch = { ...patch, accepted_at: now, actual_cost_cents: actual, fund_share_cents: share };
        break;
      }
      case 'settled':
        if (r.path === 'emergency' && !r.after_fact_notice_at) {
          throw unprocessable('An emergency request must be publicly noticed after the fact before it is settled (POST /fund-requests/:id/after-fact-notice)');
        }
        await settle(trx, actor.userId, r);
        patch = { ...patch, settled_at: now };
        break;
      case 'closed':
        if (r.status === 'public_notice' && r.outcome === 'passed') throw unprocessable('A passed request is approved or withdrawn, not closed');
        patch = { ...patch, closed_at: now };
        break;
      case 'withdrawn':
        if (!body.reason?.trim()) throw badRequest('Withdrawing needs a reason', [{ field: 'reason', message: 'required' }]);
        // An approved emergency use of the fund may already have been spent: it is noticed to the
        // owners before anything else, never withdrawn quietly.
        if (r.path === 'emergency' && r.status === 'approved' && !r.after_fact_notice_at) {
          throw unprocessable('An approved emergency request must be publicly noticed after the fact before it can be withdrawn');
        }
        patch = { ...patch, withdrawn_at: now, withdraw_reason: body.reason.trim() };
        await cancelTimers(trx, r.id);
        break;
      default:
        break;
    }
    const updated = await repo.updateRequest(trx, r.id, patch);
    await recordAudit(trx, {
      communityId: r.community_id,
      actorUserId: actor.userId,
      action: `fund.${to}`,
      entityType: 'fund_request',
      entityId: r.id,
      before: { status: r.status },
      after: { status: to, reason: body.reason ?? null, actualCostCents: updated.actual_cost_cents, fundShareCents: updated.fund_share_cents },
    });
    if (to === 'emergency_review' || (to === 'public_notice' && r.outcome === 'passed')) {
      // Approval pending: tell whoever approves.
      const approvers = r.approval_mode === 'committee' ? await recipients.committeeMembers(trx, r.community_id) : await recipients.authorityViewers(trx, r.community_id);
      await notifyMany(trx, {
        dedupeKey: `fund-approval-pending-${r.id}-${to}`,
        communityId: r.community_id,
        timeZone: community.time_zone,
        template: 'fund.approval_pending',
        payload: { communityName: community.name, requestRef: r.ref, title: r.title, path: r.path, noticeEndsAt: updated.notice_ends_at?.toISOString() ?? null },
        recipients: approvers,
      });
    }
    return updated;
  });
}

/**
 * Settlement: the fund's share apportioned across the units in scope by area (largest
 * remainder, exact cents), each unit's ledger debited, units below 30% of their first deposit
 * reminded — all in the caller's transaction.
 */
async function settle(trx: Trx, actorUserId: string, r: FundRequestRow) {
  const share = r.fund_share_cents ?? 0;
  const units = await repo.scopeUnitAreas(trx, r.id);
  const parts = apportion(share, units.map((u) => ({ unitId: u.id, areaCentiM2: u.area_centi_m2 })));
  await repo.debitUnits(trx, r.community_id, r.id, parts, actorUserId, `#${r.ref} ${r.title}`);
  const balances = await repo.balances(trx, units.map((u) => u.id));
  const low = units.filter((u) => belowTopUpThreshold(balances.get(u.id) ?? 0, u.first_deposit_cents));
  // The notices go out right after commit (derived from these rows by the 'fund.settled-notify'
  // timer), so writing tens of thousands of notifications does not hold the settlement.
  await scheduleTimers(trx, [
    { kind: 'fund.settled-notify', subjectId: r.id, communityId: r.community_id, dueAt: new Date(), jobId: `fund-settled-notify-${r.id}`, payload: { requestId: r.id } },
  ]);
  await recordAudit(trx, {
    communityId: r.community_id,
    actorUserId,
    action: 'fund.apportioned',
    entityType: 'fund_request',
    entityId: r.id,
    after: { fundShareCents: share, units: units.length, belowThreshold: low.map((u) => u.id) },
  });
}

/** Records the public notice of an emergency request after the fact (required before settlement). */
export async function recordAfterFactNotice(db: Db, actor: Actor, id: string) {
  return db.transaction().execute(async (trx) => {
    const { request: r, roles } = await requestForActor(trx, actor, id, true);
    if (!roles.has('committee')) throw forbidden('The owners’ committee publishes the notice');
    if (r.path !== 'emergency') throw unprocessable('Only emergency requests are noticed after the fact');
    if (r.after_fact_notice_at) throw conflict('The after-the-fact notice was already recorded');
    if (!['approved', 'in_works', 'accepted'].includes(r.status)) throw new AppError(409, 'ILLEGAL_TRANSITION', 'The notice follows approval');
    const updated = await repo.updateRequest(trx, r.id, { after_fact_notice_at: new Date() });
    await cancelTimers(trx, r.id, 'fund.emergency-notice');
    await recordAudit(trx, { communityId: r.community_id, actorUserId: actor.userId, action: 'fund.after_fact_noticed', entityType: 'fund_request', entityId: r.id, after: { at: updated.after_fact_notice_at } });
    return updated;
  });
}

/** The contractor reports the works done (the committee then accepts them with the actual cost). */
export async function reportWorksDone(db: Db, actor: Actor, id: string) {
  return db.transaction().execute(async (trx) => {
    const { request: r } = await requestForActor(trx, actor, id, true);
    if (!r.contractor_org_id || !actor.memberships.some((m) => m.organizationId === r.contractor_org_id)) throw forbidden('The request’s contractor reports the works done');
    if (r.status !== 'in_works') throw new AppError(409, 'ILLEGAL_TRANSITION', 'Works are reported done while in works');
    const updated = await repo.updateRequest(trx, r.id, { works_reported_at: new Date() });
    const community = await communityOf(trx, r.community_id);
    await notifyMany(trx, {
      dedupeKey: `fund-works-done-${r.id}`,
      communityId: r.community_id,
      timeZone: community.time_zone,
      template: 'message.plain',
      payload: { title: `#${r.ref} ${r.title}: works reported done / 施工方报告完工`, body: `The contractor reports the works of #${r.ref} done; inspect and accept them with the actual cost.\n\n施工方报告 #${r.ref} 已完工，请验收并登记实际费用。` },
      recipients: await recipients.committeeMembers(trx, r.community_id),
    });
    await recordAudit(trx, { communityId: r.community_id, actorUserId: actor.userId, action: 'fund.works_reported', entityType: 'fund_request', entityId: r.id });
    return updated;
  });
}

/** Owners in the community object during the public notice; objections are recorded and shown. */
export async function addObjection(db: Db, actor: Actor, id: string, body: string) {
  return db.transaction().execute(async (trx) => {
    const { request: r, access } = await requestForActor(trx, actor, id);
    if (!access.stances.has('owner') && !access.stances.has('committee_member') && !access.stances.has('committee_officer')) throw forbidden('Owners of the community object to a request');
    if (r.status !== 'public_notice' || !r.notice_ends_at || r.notice_ends_at <= new Date()) throw new AppError(409, 'NOTICE_CLOSED', 'Objections are taken during the public notice');
    const o = await repo.insertObjection(trx, { request_id: r.id, user_id: actor.userId, body: body.trim() });
    await recordAudit(trx, { communityId: r.community_id, actorUserId: actor.userId, action: 'fund.objection', entityType: 'fund_request', entityId: r.id, after: { objectionId: o.id } });
    return o;
  });
}

export interface CastBallotInput {
  choice: 'agree' | 'disagree' | 'abstain';
  /** Paper or proxy ballots entered by a committee member, for this owner, with a scan. */
  ownerId?: string;
  channel?: 'online' | 'paper' | 'proxy';
  scanDocumentId?: string;
}

/**
 * One ballot per owner-person covering all their units in scope. Online: the owner for
 * themselves. Paper/proxy: a committee member enters it with a scan of the paper. An online
 * ballot and an entered one for the same owner cannot both count (409). Idempotent and
 * race-safe (primary key on request and voter); an owner may change their own online ballot
 * while the vote is open.
 */
export async function castBallot(db: Db, actor: Actor, id: string, input: CastBallotInput) {
  return db.transaction().execute(async (trx) => {
    const { request: r, access } = await requestForActor(trx, actor, id, 'share');
    const now = new Date();
    if (r.status !== 'voting' || !r.vote_opens_at || !r.vote_closes_at || now < r.vote_opens_at || now >= r.vote_closes_at) {
      throw new AppError(409, 'VOTE_CLOSED', r.status === 'voting' ? 'The vote is not open at this time' : `This request is ${r.status}: no ballots now`);
    }
    const channel = input.channel ?? (input.ownerId ? 'paper' : 'online');
    let ownerIds: string[];
    if (channel === 'online') {
      if (input.ownerId || input.scanDocumentId) throw badRequest('An online ballot is cast by the owner for themselves: omit ownerId and scanDocumentId');
      ownerIds = (await trx.selectFrom('owners').select('id').where('community_id', '=', r.community_id).where('user_id', '=', actor.userId).execute()).map((o) => o.id);
      if (ownerIds.length === 0) throw forbidden('Only owners of units in the scope vote');
    } else {
      if (!access.stances.has('committee_officer') && !access.stances.has('committee_member') && !access.stances.has('platform_admin')) {
        throw forbidden('Paper and proxy ballots are entered by the owners’ committee');
      }
      if (!input.ownerId) throw badRequest('A paper or proxy ballot names the owner (ownerId)', [{ field: 'ownerId', message: 'required' }]);
      if (!input.scanDocumentId) throw badRequest('A paper or proxy ballot needs the scan of the paper (scanDocumentId)', [{ field: 'scanDocumentId', message: 'required' }]);
      const doc = await repo.findDocument(trx, r.id, input.scanDocumentId);
      if (!doc || !['ballot_scan', 'proxy'].includes(doc.kind)) throw unprocessable('scanDocumentId must be a ballot scan or proxy letter uploaded to this request');
      ownerIds = [input.ownerId];
    }
    const voter = await repo.voterOfOwners(trx, r.id, ownerIds);
    if (!voter) throw forbidden('This owner has no unit in the scope of this vote');
    const stored = await repo.upsertBallot(trx, {
      requestId: r.id,
      voterKey: voter.voter_key,
      choice: input.choice,
      channel,
      ownerId: channel === 'online' ? (ownerIds.find((o) => voter.owner_ids.includes(o)) ?? null) : input.ownerId ?? null,
      enteredBy: actor.userId,
      scanDocumentId: input.scanDocumentId ?? null,
    });
    if (!stored) {
      // Kept: an online ballot against an entered one (either way), or another co-voter's online ballot.
      const existing = await repo.findBallot(trx, r.id, voter.voter_key);
      throw conflict(
        channel !== 'online'
          ? 'This owner has already voted online; one ballot per owner counts'
          : existing?.channel === 'online'
            ? 'A co-owner of your units has already voted; one ballot counts for all of you (they may change it)'
            : 'A paper or proxy ballot has already been entered for you; ask the owners’ committee if it is wrong',
      );
    }
    await recordAudit(trx, {
      communityId: r.community_id,
      actorUserId: actor.userId,
      action: stored.inserted ? 'fund.ballot_cast' : 'fund.ballot_changed',
      entityType: 'fund_request',
      entityId: r.id,
      after: { voterKey: voter.voter_key, choice: input.choice, channel, units: voter.unit_ids.length },
    });
    return { voterKey: voter.voter_key, choice: input.choice, channel, units: voter.unit_ids, created: stored.inserted };
  });
}

/** Documents that carry an owner's ballot: uploaded by those who enter paper ballots, read by few. */
const BALLOT_PAPER_KINDS: readonly string[] = ['ballot_scan', 'proxy'];
const ENTERS_BALLOTS: readonly Stance[] = ['platform_admin', 'committee_officer', 'committee_member'];
const DOCUMENT_STAFF: readonly Stance[] = ['platform_admin', 'property_manager', 'property_staff', 'committee_officer', 'committee_member'];

/**
 * Who adds documents: the committee, the property company, the request's contractor (403 for
 * other readers). Ballot scans and proxy letters only by those who enter paper ballots.
 */
function assertMayAddDocument(access: CommunityAccess, actor: Actor, r: FundRequestRow, kind?: string) {
  if (!DOCUMENT_STAFF.some((s) => access.stances.has(s)) && !worksOn(actor, r)) {
    throw forbidden('Documents are added by the committee, the property company or the request’s contractor');
  }
  if (kind !== undefined && BALLOT_PAPER_KINDS.includes(kind) && !ENTERS_BALLOTS.some((s) => access.stances.has(s))) {
    throw forbidden('Ballot scans and proxy letters are uploaded by the owners’ committee, which enters those ballots');
  }
}

/** Before an upload is read: 404 when the request is not visible, 403 when the actor may not add to it. */
export async function requestForDocumentUpload(db: DbOrTrx, actor: Actor, id: string) {
  const { request, access } = await requestForActor(db, actor, id);
  assertMayAddDocument(access, actor, request);
  return request;
}

/**
 * A stored document the actor may read. Everyone who may read the request reads its documents,
 * except ballot scans and proxy letters (an owner's signed choice and identity): those are for
 * the committee, the property company, the authority, their uploader and the owner the ballot is
 * for. Anyone else gets 404, as for a document that does not exist.
 */
export async function documentForActor(db: DbOrTrx, actor: Actor, id: string, documentId: string) {
  const { request: r, access } = await requestForActor(db, actor, id);
  const doc = await repo.findDocument(db, r.id, documentId);
  if (!doc?.storage_key) throw notFound('Document');
  if (BALLOT_PAPER_KINDS.includes(doc.kind) && !access.can('owners.read') && !access.stances.has('authority') && doc.uploaded_by !== actor.userId) {
    const own = await db
      .selectFrom('fund_ballots as b')
      .innerJoin('owners as o', 'o.id', 'b.owner_id')
      .select('b.voter_key')
      .where('b.request_id', '=', r.id)
      .where('b.scan_document_id', '=', doc.id)
      .where('o.user_id', '=', actor.userId)
      .executeTakeFirst();
    if (!own) throw notFound('Document');
  }
  return { request: r, document: { ...doc, storage_key: doc.storage_key } };
}

/** Uploaded documents are stored by the attachments machinery; this records one for a request. */
export async function addDocument(
  db: Db,
  actor: Actor,
  id: string,
  doc: { kind: string; title: string; storageKey: string | null; mimeType: string | null; sizeBytes: number | null; sha256: string | null },
) {
  if (!(FUND_DOCUMENT_KINDS as readonly string[]).includes(doc.kind)) {
    throw badRequest(`kind must be one of ${FUND_DOCUMENT_KINDS.join(', ')}`, [{ field: 'kind', message: 'unknown document kind' }]);
  }
  const title = doc.title.trim();
  if (title.length < 1 || [...title].length > 200) throw badRequest('The title is 1 to 200 characters', [{ field: 'title', message: 'length' }]);
  return db.transaction().execute(async (trx) => {
    const { request: r, access } = await requestForActor(trx, actor, id);
    assertMayAddDocument(access, actor, r, doc.kind);
    const row = await repo.insertDocument(trx, { request_id: r.id, kind: doc.kind, title, storage_key: doc.storageKey, mime_type: doc.mimeType, size_bytes: doc.sizeBytes, sha256: doc.sha256, uploaded_by: actor.userId });
    await recordAudit(trx, { communityId: r.community_id, actorUserId: actor.userId, action: 'fund.document_added', entityType: 'fund_request', entityId: r.id, after: { documentId: row.id, kind: doc.kind, title, sha256: doc.sha256 } });
    return row;
  });
}

/** Everything about a request for its detail page and its public notice. */
export async function requestDetail(db: DbOrTrx, r: FundRequestRow) {
  const [lines, funding, links, documents, objections, units, t] = await Promise.all([
    repo.budgetLines(db, r.id),
    repo.funding(db, r.id),
    repo.links(db, r.id),
    repo.documents(db, r.id),
    repo.objections(db, r.id),
    repo.scopeUnitCount(db, r.id),
    currentTally(db, r),
  ]);
  return { lines, funding, links, documents, objections, unitCount: units, tally: t };
}

/**
 * The public notice: every unit's choice with owners' names masked, so each owner can find
 * their own; and after settlement each unit's share.
 */
export async function noticeRows(db: DbOrTrx, r: FundRequestRow) {
  // Four simple reads merged here by unit id, not one join: with 20,000 units a join of the units
  // with the voters' unit lists and the ledger's debits depends on fresh statistics to avoid a
  // nested loop comparing every unit with every voter or every debit (minutes; the debits of a
  // request just settled are never in the statistics yet), while each read below is a scan of
  // the request's rows or an index lookup whatever the statistics say. One after another, on
  // one connection at a time, as before.
  const rows = await db
    .selectFrom('fund_request_units as s')
    .innerJoin('units as u', 'u.id', 's.unit_id')
    .innerJoin('buildings as b', 'b.id', 'u.building_id')
    .select(['u.id as unit_id', 'b.name as building', 'u.number', 'u.area_centi_m2'])
    .where('s.request_id', '=', r.id)
    .orderBy('b.name')
    .orderBy('u.number')
    .execute();
  // Each unit of each voter, with the voter's ballot.
  const choices = await db
    .selectFrom('fund_voters as v')
    .leftJoin('fund_ballots as bl', (j) => j.onRef('bl.request_id', '=', 'v.request_id').onRef('bl.voter_key', '=', 'v.voter_key'))
    .select([sql<string>`unnest(v.unit_ids)`.as('unit_id'), 'bl.choice', 'bl.channel'])
    .where('v.request_id', '=', r.id)
    .execute();
  const debits = await db.selectFrom('unit_ledger_entries').select(['unit_id', 'amount_cents']).where('request_id', '=', r.id).where('kind', '=', 'debit').execute();
  const owners = await db
    .selectFrom('unit_owners as uo')
    .innerJoin('owners as o', 'o.id', 'uo.owner_id')
    .innerJoin('fund_request_units as s', 's.unit_id', 'uo.unit_id')
    .select(['uo.unit_id', 'o.name', 'o.is_developer'])
    .where('s.request_id', '=', r.id)
    .execute();
  // By unit: a filter per row would be quadratic (a 20,000-unit community).
  const ownersOf = new Map<string, string[]>();
  for (const o of owners) {
    const list = ownersOf.get(o.unit_id) ?? [];
    list.push(o.is_developer ? '开发建设单位' : maskOwnerName(o.name));
    ownersOf.set(o.unit_id, list);
  }
  // A unit belongs to one voter (electorate.ts) and is debited once per request (unique index).
  const choiceOf = new Map(choices.map((c) => [c.unit_id, c]));
  const debitOf = new Map(debits.map((d) => [d.unit_id, d.amount_cents]));
  return rows.map((row) => {
    const c = choiceOf.get(row.unit_id);
    const amount = debitOf.get(row.unit_id);
    return {
      unitId: row.unit_id,
      building: row.building,
      number: row.number,
      areaCentiM2: row.area_centi_m2,
      owners: ownersOf.get(row.unit_id) ?? [],
      choice: c?.choice ?? null,
      channel: c?.channel ?? null,
      shareCents: amount === undefined || amount === null ? null : -Number(amount),
    };
  });
}

function maskOwnerName(name: string): string {
  const chars = [...name.trim()];
  return chars.length <= 1 ? '*' : chars[0] + '*'.repeat(Math.min(chars.length - 1, 3));
}

/**
 * Requests of the given communities that the actor may read: like requestForActor, a community
 * seen only as a contractor shows only the requests that contractor works on.
 */
export async function listRequests(db: DbOrTrx, actor: Actor, communityIds: string[] | 'all', opts: { status?: FundStatus; limit: number; before?: { t: string; id: string } }) {
  const asNonContractor: Actor = { ...actor, memberships: actor.memberships.filter((m) => m.kind !== 'contractor') };
  const myOrgs = actor.memberships.map((m) => m.organizationId);
  let q = db
    .selectFrom('fund_requests')
    .selectAll()
    .where((eb) => eb.or([visibleCommunity(asNonContractor, 'fund_requests.community_id'), eb('contractor_org_id', 'in', myOrgs.length ? myOrgs : ['00000000-0000-0000-0000-000000000000'])]));
  if (communityIds !== 'all') q = q.where('community_id', 'in', communityIds.length ? communityIds : ['00000000-0000-0000-0000-000000000000']);
  if (opts.status) q = q.where('status', '=', opts.status);
  if (opts.before) q = q.where((eb) => eb.or([eb('created_at', '<', new Date(opts.before!.t)), eb.and([eb('created_at', '=', new Date(opts.before!.t)), eb('id', '<', opts.before!.id)])]));
  return q.orderBy('created_at', 'desc').orderBy('id', 'desc').limit(opts.limit + 1).execute();
}

/**
 * The settlement notice (owners in scope and the committee) and the top-up reminders (owners of
 * units below 30% of their first deposit), for a settled request; idempotent by dedupe keys.
 */
export async function sendSettlementNotices(trx: Trx, requestId: string) {
  const r = await repo.findRequest(trx, requestId);
  if (!r || !['settled', 'closed'].includes(r.status)) return;
  const community = await communityOf(trx, r.community_id);
  const units = await repo.scopeUnitAreas(trx, r.id);
  const balances = await repo.balances(trx, units.map((u) => u.id));
  const low = units.filter((u) => belowTopUpThreshold(balances.get(u.id) ?? 0, u.first_deposit_cents));
  await notifyMany(trx, {
    dedupeKey: `fund-settled-${r.id}`,
    communityId: r.community_id,
    timeZone: community.time_zone,
    template: 'fund.settled',
    payload: { communityName: community.name, requestRef: r.ref, title: r.title, actualCostCents: r.actual_cost_cents ?? 0, fundShareCents: r.fund_share_cents ?? 0, units: units.length },
    recipients: [...(await recipients.ownersInScope(trx, r.community_id, units.map((u) => u.id))), ...(await recipients.committeeMembers(trx, r.community_id))],
  });
  if (low.length > 0) {
    await notifyMany(trx, {
      dedupeKey: `fund-top-up-${r.id}`,
      communityId: r.community_id,
      timeZone: community.time_zone,
      template: 'fund.top_up',
      payload: { communityName: community.name, requestRef: r.ref },
      recipients: await recipients.ownersInScope(trx, r.community_id, low.map((u) => u.id)),
    });
  }
}
