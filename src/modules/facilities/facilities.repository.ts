import type { DbOrTrx } from '../../db/index.js';
import type { FacilityCategory, FacilityStatus } from '../../db/types.js';
import { afterCursor, type Cursor } from '../../lib/pagination.js';

export function insertFacility(
  db: DbOrTrx,
  f: { community_id: string; building_id: string | null; category: FacilityCategory; name: string; location: string | null; qr_token: string },
) {
  return db.insertInto('facilities').values(f).returningAll().executeTakeFirstOrThrow();
}

export function findFacility(db: DbOrTrx, id: string) {
  return db.selectFrom('facilities').selectAll().where('id', '=', id).executeTakeFirst();
}

export function findFacilityForUpdate(db: DbOrTrx, id: string) {
  return db.selectFrom('facilities').selectAll().where('id', '=', id).forUpdate().executeTakeFirst();
}

export function updateFacility(db: DbOrTrx, id: string, patch: { name?: string; location?: string | null; status?: FacilityStatus }) {
  return db.updateTable('facilities').set(patch).where('id', '=', id).returningAll().executeTakeFirstOrThrow();
}

export function listFacilities(
  db: DbOrTrx,
  communityId: string,
  opts: { cursor?: Cursor; limit: number; category?: FacilityCategory; status?: FacilityStatus },
) {
  let q = db.selectFrom('facilities').selectAll().where('community_id', '=', communityId).where(afterCursor(opts.cursor, 'created_at', 'id'));
  if (opts.category) q = q.where('category', '=', opts.category);
  if (opts.status) q = q.where('status', '=', opts.status);
  return q.orderBy('created_at').orderBy('id').limit(opts.limit + 1).execute();
}
