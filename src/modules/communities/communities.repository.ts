import type { Expression, SqlBool } from 'kysely';
import type { DbOrTrx } from '../../db/index.js';
import { afterCursor, type Cursor } from '../../lib/pagination.js';

export function insertCommunity(db: DbOrTrx, c: { name: string; district: string; address: string | null; time_zone: string }) {
  return db.insertInto('communities').values(c).returningAll().executeTakeFirstOrThrow();
}

export function findCommunity(db: DbOrTrx, id: string) {
  return db.selectFrom('communities').selectAll().where('id', '=', id).executeTakeFirst();
}

export function listCommunities(db: DbOrTrx, visible: Expression<SqlBool>, cursor: Cursor | undefined, limit: number, district?: string) {
  let q = db.selectFrom('communities').selectAll().where(visible).where(afterCursor(cursor, 'created_at', 'id'));
  if (district) q = q.where('district', '=', district);
  return q.orderBy('created_at').orderBy('id').limit(limit + 1).execute();
}

export function insertBuilding(db: DbOrTrx, b: { community_id: string; name: string }) {
  return db.insertInto('buildings').values(b).returningAll().executeTakeFirstOrThrow();
}

export function listBuildings(db: DbOrTrx, communityId: string) {
  return db.selectFrom('buildings').selectAll().where('community_id', '=', communityId).orderBy('name').execute();
}

export function findBuilding(db: DbOrTrx, communityId: string, buildingId: string) {
  return db.selectFrom('buildings').selectAll().where('community_id', '=', communityId).where('id', '=', buildingId).executeTakeFirst();
}
