import type { Expression, SqlBool } from 'kysely';
import type { DbOrTrx } from '../../db/index.js';
import type { OrganizationKind } from '../../db/types.js';
import { afterCursor, type Cursor } from '../../lib/pagination.js';

export function insertOrganization(db: DbOrTrx, org: { kind: OrganizationKind; name: string; community_id: string | null; district: string | null }) {
  return db.insertInto('organizations').values(org).returningAll().executeTakeFirstOrThrow();
}

export function findOrganization(db: DbOrTrx, id: string) {
  return db.selectFrom('organizations').selectAll().where('id', '=', id).executeTakeFirst();
}

export function listOrganizations(db: DbOrTrx, visible: Expression<SqlBool>, cursor: Cursor | undefined, limit: number, kind?: OrganizationKind) {
  let q = db.selectFrom('organizations').selectAll().where(visible).where(afterCursor(cursor, 'created_at', 'id'));
  if (kind) q = q.where('kind', '=', kind);
  return q.orderBy('created_at').orderBy('id').limit(limit + 1).execute();
}

export function listMembers(db: DbOrTrx, organizationId: string) {
  return db
    .selectFrom('memberships as m')
    .innerJoin('users as u', 'u.id', 'm.user_id')
    .select(['m.user_id', 'm.organization_id', 'm.role', 'u.email', 'u.name'])
    .where('m.organization_id', '=', organizationId)
    .orderBy('u.name')
    .execute();
}
