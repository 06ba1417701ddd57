import type { DbOrTrx } from '../../db/index.js';
import { afterCursor, type Cursor } from '../../lib/pagination.js';

export function insertDevice(db: DbOrTrx, d: { facility_id: string; name: string; secret_hash: string }) {
  return db.insertInto('devices').values(d).returningAll().executeTakeFirstOrThrow();
}

export function findDevice(db: DbOrTrx, id: string) {
  return db.selectFrom('devices').selectAll().where('id', '=', id).executeTakeFirst();
}

export function findDeviceForUpdate(db: DbOrTrx, id: string) {
  return db.selectFrom('devices').selectAll().where('id', '=', id).forUpdate().executeTakeFirst();
}

/** A device with the community and category of its facility, for authenticating an alarm. */
export function findDeviceWithFacility(db: DbOrTrx, id: string) {
  return db
    .selectFrom('devices as d')
    .innerJoin('facilities as f', 'f.id', 'd.facility_id')
    .select(['d.id', 'd.name', 'd.secret_hash', 'd.disabled_at', 'd.facility_id', 'f.community_id', 'f.name as facility_name'])
    .where('d.id', '=', id)
    .executeTakeFirst();
}

export function listDevices(db: DbOrTrx, facilityId: string, opts: { cursor?: Cursor; limit: number }) {
  return db
    .selectFrom('devices')
    .selectAll()
    .where('facility_id', '=', facilityId)
    .where(afterCursor(opts.cursor, 'created_at', 'id'))
    .orderBy('created_at')
    .orderBy('id')
    .limit(opts.limit + 1)
    .execute();
}

export function disableDevice(db: DbOrTrx, id: string, at: Date) {
  return db.updateTable('devices').set({ disabled_at: at }).where('id', '=', id).returningAll().executeTakeFirstOrThrow();
}
