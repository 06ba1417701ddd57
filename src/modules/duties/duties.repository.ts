import { sql } from 'kysely';
import type { DbOrTrx } from '../../db/index.js';
import type { DutyBasis, OrganizationKind } from '../../db/types.js';

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

/** An assignment as dutyFactsColumns gives it (JSON: times as ISO strings). */
export interface AssignmentJson {
  id: string;
  organization_id: string;
  organization_name: string;
  organization_kind: OrganizationKind;
  facility_category: string | null;
  basis: DutyBasis;
  valid_from: string;
  valid_to: string | null;
}

/**
 * The facts of duty resolution as two JSON columns (assignments, committees), for a query on
 * `communities c`: routing a new ticket reads them with the rest of its context in one round trip.
 */
export const dutyFactsColumns = sql`
  COALESCE((SELECT json_agg(json_build_object('id', d.id, 'organization_id', d.organization_id, 'organization_name', o.name, 'organization_kind', o.kind,
                                              'facility_category', d.facility_category, 'basis', d.basis, 'valid_from', d.valid_from, 'valid_to', d.valid_to))
            FROM duty_assignments d JOIN organizations o ON o.id = d.organization_id WHERE d.community_id = c.id), '[]'::json) AS duty_assignments,
  COALESCE((SELECT json_agg(json_build_object('id', o.id, 'name', o.name, 'kind', o.kind) ORDER BY o.created_at)
            FROM organizations o WHERE o.community_id = c.id AND o.kind IN ('owners_committee', 'property_management_committee', 'residents_committee')), '[]'::json) AS duty_committees`;
