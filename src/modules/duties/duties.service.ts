import type { Db, DbOrTrx, Trx } from '../../db/index.js';
import type { DutyBasis } from '../../db/types.js';
import { badRequest, forbidden, notFound, unprocessable } from '../../lib/errors.js';
import { visibleCommunity, type Actor, type CommunityAccess } from '../../plugins/access.js';
import { recordAudit } from '../audit/audit.service.js';
import * as repo from './duties.repository.js';
import { BASIS_KINDS, isActive, resolveDutyHolder, type AssignmentFact, type CommitteeFact } from './duty-resolution.js';
import { scheduleContractReminders } from './duties.timers.js';

type AssignmentRow = Awaited<ReturnType<typeof repo.listAssignments>>[number];

const toFact = (a: Omit<AssignmentRow, 'created_at' | 'community_id'>): AssignmentFact => ({
  id: a.id,
  organizationId: a.organization_id,
  organizationName: a.organization_name,
  organizationKind: a.organization_kind,
  facilityCategory: a.facility_category,
  basis: a.basis,
  validFrom: a.valid_from,
  validTo: a.valid_to,
});

const toCommitteeFact = (c: { id: string; name: string; kind: string }): CommitteeFact => ({ organizationId: c.id, organizationName: c.name, kind: c.kind as CommitteeFact['kind'] });

export function toDutyDto(a: AssignmentRow, now = new Date()) {
  return {
    id: a.id,
    communityId: a.community_id,
    organizationId: a.organization_id,
    organizationName: a.organization_name,
    organizationKind: a.organization_kind,
    facilityCategory: a.facility_category,
    basis: a.basis,
    validFrom: a.valid_from.toISOString(),
    validTo: a.valid_to ? a.valid_to.toISOString() : null,
    active: isActive({ validFrom: a.valid_from, validTo: a.valid_to }, now),
  };
}

/** A property manager (not also admin or committee officer) may only delegate to contractors. */
const onlyDelegates = (access: CommunityAccess) => !access.stances.has('platform_admin') && !access.stances.has('committee_officer');

export async function assignDuty(
  db: Db,
  actor: Actor,
  access: CommunityAccess,
  communityId: string,
  input: { organizationId: string; basis: DutyBasis; facilityCategory?: string | null; validFrom?: string; validTo?: string | null },
) {
  const validFrom = input.validFrom ? new Date(input.validFrom) : new Date();
  const validTo = input.validTo ? new Date(input.validTo) : null;
  if (validTo && validTo <= validFrom) throw badRequest('validTo must be after validFrom', [{ field: 'validTo', message: 'must be after validFrom' }]);
  // Appointing the property company itself, or a committee, is for the owners' committee or the platform.
  if (onlyDelegates(access) && input.basis !== 'delegated_contractor') throw forbidden('Property managers can only delegate duties to contractors');
  return db.transaction().execute(async (trx) => {
    const org = await trx.selectFrom('organizations').select(['id', 'kind', 'name', 'community_id']).where('id', '=', input.organizationId).executeTakeFirst();
    if (!org) throw notFound('Organization');
    if (!BASIS_KINDS[input.basis].includes(org.kind)) {
      throw unprocessable(`A ${org.kind} cannot hold a duty on the basis ${input.basis} (allowed: ${BASIS_KINDS[input.basis].join(', ')})`);
    }
    if (input.basis === 'fallback_committee' && org.community_id !== communityId) throw unprocessable('A committee can only hold duties in its own community');
    const duty = await createAssignment(trx, actor.userId, { communityId, organizationId: org.id, basis: input.basis, facilityCategory: input.facilityCategory ?? null, validFrom, validTo });
    return { ...duty, organization_name: org.name, organization_kind: org.kind };
  });
}

/**
 * Records an assignment with its audit event and contract-end reminders, in the caller's
 * transaction; the caller has checked who may do it (also used when a community is created).
 */
export async function createAssignment(
  trx: Trx,
  actorUserId: string | null,
  input: { communityId: string; organizationId: string; basis: DutyBasis; facilityCategory: string | null; validFrom?: Date; validTo?: Date | null },
) {
  const duty = await repo.insertDuty(trx, {
    community_id: input.communityId,
    organization_id: input.organizationId,
    facility_category: input.facilityCategory,
    basis: input.basis,
    valid_from: input.validFrom ?? new Date(),
    valid_to: input.validTo ?? null,
  });
  await recordAudit(trx, {
    communityId: input.communityId,
    actorUserId,
    action: 'duty.assigned',
    entityType: 'duty_assignment',
    entityId: duty.id,
    after: { organizationId: duty.organization_id, basis: duty.basis, facilityCategory: duty.facility_category, validFrom: duty.valid_from, validTo: duty.valid_to },
  });
  await scheduleContractReminders(trx, { id: duty.id, communityId: input.communityId, validTo: duty.valid_to });
  return duty;
}

/** Ends or extends a duty; its reminders follow the new end date. */
export async function changeDutyEnd(db: Db, actor: Actor, access: CommunityAccess, dutyId: string, validTo: Date | null) {
  return db.transaction().execute(async (trx) => {
    const before = await repo.findDutyForUpdate(trx, dutyId);
    if (!before) throw notFound('Duty assignment');
    if (onlyDelegates(access) && before.basis !== 'delegated_contractor') throw forbidden('Property managers can only change duties delegated to contractors');
    if (validTo && validTo <= before.valid_from) throw badRequest('validTo must be after the duty’s validFrom', [{ field: 'validTo', message: 'must be after validFrom' }]);
    const after = await repo.updateDutyEnd(trx, dutyId, validTo);
    await recordAudit(trx, {
      communityId: after.community_id,
      actorUserId: actor.userId,
      action: 'duty.end_changed',
      entityType: 'duty_assignment',
      entityId: dutyId,
      before: { validTo: before.valid_to },
      after: { validTo: after.valid_to },
    });
    await scheduleContractReminders(trx, { id: dutyId, communityId: after.community_id, validTo: after.valid_to });
    return after;
  });
}

export function findDuty(db: DbOrTrx, id: string) {
  return db.selectFrom('duty_assignments').select(['id', 'community_id']).where('id', '=', id).executeTakeFirst();
}

export const listDuties = repo.listAssignments;

export async function dutyHolder(db: DbOrTrx, communityId: string, category: string | null, at = new Date()) {
  const [assignments, committees] = await Promise.all([repo.listAssignments(db, communityId), repo.listCommittees(db, communityId)]);
  return resolveDutyHolder(assignments.map(toFact), committees.map(toCommitteeFact), category, at);
}

/** The facts dutyHolderFromFacts resolves from, as a query selects them with dutyFactsColumns. */
export interface DutyFactsRow {
  duty_assignments: repo.AssignmentJson[];
  duty_committees: Array<{ id: string; name: string; kind: string }>;
}

/** Columns for a query on `communities c` that reads the duty facts with other context in one round trip. */
export const dutyFactsColumns = repo.dutyFactsColumns;

/** dutyHolder from facts read with dutyFactsColumns (no I/O). */
export function dutyHolderFromFacts(row: DutyFactsRow, category: string | null, at = new Date()) {
  const assignments = row.duty_assignments.map((a) => toFact({ ...a, valid_from: new Date(a.valid_from), valid_to: a.valid_to === null ? null : new Date(a.valid_to) }));
  return resolveDutyHolder(assignments, row.duty_committees.map(toCommitteeFact), category, at);
}

/**
 * Duty holders of many (community, category) pairs in two queries, for bulk work (inspection task
 * generation). Keys are `${communityId}|${category ?? ''}`; null where nobody holds the duty.
 */
export async function dutyHoldersOf(db: DbOrTrx, pairs: Array<{ communityId: string; category: string | null }>, at = new Date()) {
  const ids = [...new Set(pairs.map((p) => p.communityId))];
  const [assignments, committees] = await Promise.all([repo.assignmentsOf(db, ids), repo.committeesOf(db, ids)]);
  const byCommunity = new Map<string, { assignments: AssignmentFact[]; committees: CommitteeFact[] }>(ids.map((id) => [id, { assignments: [], committees: [] }]));
  for (const a of assignments) byCommunity.get(a.community_id)?.assignments.push(toFact(a));
  for (const k of committees) if (k.community_id) byCommunity.get(k.community_id)?.committees.push(toCommitteeFact(k));
  const out = new Map<string, ReturnType<typeof resolveDutyHolder>>();
  for (const p of pairs) {
    const key = `${p.communityId}|${p.category ?? ''}`;
    const facts = byCommunity.get(p.communityId);
    if (!out.has(key)) out.set(key, facts ? resolveDutyHolder(facts.assignments, facts.committees, p.category, at) : null);
  }
  return out;
}

/** Visible communities with nobody holding their general duty (DESIGN.md: a visible gap). */
export async function dutyGaps(db: Db, actor: Actor, at = new Date()) {
  const communities = await db.selectFrom('communities').select(['id', 'name', 'district']).where(visibleCommunity(actor, 'communities.id')).orderBy('name').execute();
  const ids = communities.map((c) => c.id);
  const [assignments, committees] = await Promise.all([repo.assignmentsOf(db, ids), repo.committeesOf(db, ids)]);
  return communities
    .filter(
      (c) =>
        resolveDutyHolder(
          assignments.filter((a) => a.community_id === c.id).map(toFact),
          committees.filter((k) => k.community_id === c.id).map(toCommitteeFact),
          null,
          at,
        ) === null,
    )
    .map((c) => ({ communityId: c.id, name: c.name, district: c.district }));
}
