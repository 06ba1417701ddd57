import { sql } from 'kysely';
import type { DbOrTrx } from '../../db/index.js';
import type { MembershipRole, NewUser } from '../../db/types.js';

export function findUserByEmail(db: DbOrTrx, email: string) {
  return db.selectFrom('users').selectAll().where(sql`lower(email)`, '=', email.toLowerCase()).executeTakeFirst();
}

export function findUserById(db: DbOrTrx, id: string) {
  return db.selectFrom('users').selectAll().where('id', '=', id).executeTakeFirst();
}

export function insertUser(db: DbOrTrx, user: NewUser) {
  return db.insertInto('users').values(user).returningAll().executeTakeFirstOrThrow();
}

export function recordFailedLogin(db: DbOrTrx, userId: string, maxFailures: number, lockoutMinutes: number) {
  // One statement, so concurrent failures cannot lose counts.
  return db
    .updateTable('users')
    .set({
      failed_logins: sql`CASE WHEN failed_logins + 1 >= ${maxFailures} THEN 0 ELSE failed_logins + 1 END`,
      locked_until: sql`CASE WHEN failed_logins + 1 >= ${maxFailures} THEN now() + make_interval(mins => ${lockoutMinutes}) ELSE locked_until END`,
    })
    .where('id', '=', userId)
    .returning(['failed_logins', 'locked_until'])
    .executeTakeFirstOrThrow();
}

export function clearFailedLogins(db: DbOrTrx, userId: string) {
  return db.updateTable('users').set({ failed_logins: 0, locked_until: null }).where('id', '=', userId).execute();
}

export function listMemberships(db: DbOrTrx, userId: string) {
  return db
    .selectFrom('memberships as m')
    .innerJoin('organizations as o', 'o.id', 'm.organization_id')
    .select(['m.organization_id', 'm.role', 'o.kind', 'o.name', 'o.community_id', 'o.district'])
    .where('m.user_id', '=', userId)
    .orderBy('o.name')
    .execute();
}

export function upsertMembership(db: DbOrTrx, userId: string, organizationId: string, role: MembershipRole) {
  return db
    .insertInto('memberships')
    .values({ user_id: userId, organization_id: organizationId, role })
    .onConflict((oc) => oc.columns(['user_id', 'organization_id']).doUpdateSet({ role }))
    .returningAll()
    .executeTakeFirstOrThrow();
}

/** The owner records (one per community) this user logs in as. */
export function listOwnerships(db: DbOrTrx, userId: string) {
  return db.selectFrom('owners').select(['id', 'community_id']).where('user_id', '=', userId).execute();
}
