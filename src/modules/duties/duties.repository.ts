import type { DbOrTrx } from '../../db/index.js';
import type { DutyBasis } from '../../db/types.js';

export function insertDuty(
  db: DbOrTrx,
  d: { community_id: string; organization_id: string; facility_category: string | null; basis: DutyBasis; valid_from: Date; valid_to: Date | null },
) {
  return db.insertInto('duty_assignments').values(d).returningAll().executeTakeFirstOrThrow();
}

export function findDutyForUpdate(db: DbOrTrx, id: string) {
  return db.selectFrom('duty_assignments').selectAll().where('id', '=', id).forUpdate().executeTakeFirst();
}

export function updateDutyEnd(db: DbOrTrx, id: string, validTo: Date | null) {
  return db.updateTable('duty_assignments').set({ valid_to: validTo }).where('id', '=', id).returningAll().executeTakeFirstOrThrow();
}

/** Assignments of a community with their organizations, newest first. */
export function listAssignments(db: DbOrTrx, communityId: string) {
  return db
    .selectFrom('duty_assignments as d')
    .innerJoin('organizations as o', 'o.id', 'd.organization_id')
    .select(['d.id', 'd.community_id', 'd.organization_id', 'o.name as organization_name', 'o.kind as organization_kind', 'd.facility_category', 'd.basis', 'd.valid_from', 'd.valid_to', 'd.created_at'])
    .where('d.community_id', '=', communityId)
    .orderBy('d.valid_from', 'desc')
    .execute();
}

export function listCommittees(db: DbOrTrx, communityId: string) {
  return db
    .selectFrom('organizations')
    .select(['id', 'name', 'kind'])
    .where('community_id', '=', communityId)
    .where('kind', 'in', ['owners_committee', 'property_management_committee', 'residents_committee'])
    .orderBy('created_at')
    .execute();
}

/** For many communities at once (duty gaps). */
export function assignmentsOf(db: DbOrTrx, communityIds: string[]) {
  if (communityIds.length === 0) return Promise.resolve([]);
  return db
    .selectFrom('duty_assignments as d')
    .innerJoin('organizations as o', 'o.id', 'd.organization_id')
    .select(['d.id', 'd.community_id', 'd.organization_id', 'o.name as organization_name', 'o.kind as organization_kind', 'd.facility_category', 'd.basis', 'd.valid_from', 'd.valid_to'])
    .where('d.community_id', 'in', communityIds)
    .execute();
}

export function committeesOf(db: DbOrTrx, communityIds: string[]) {
  if (communityIds.length === 0) return Promise.resolve([]);
  return db
    .selectFrom('organizations')
    .select(['id', 'name', 'kind', 'community_id'])
    .where('community_id', 'in', communityIds)
    .where('kind', 'in', ['owners_committee', 'property_management_committee', 'residents_committee'])
    .execute();
}
