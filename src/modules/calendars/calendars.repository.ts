import { sql } from 'kysely';
import type { DbOrTrx } from '../../db/index.js';
import type { Priority, TargetUnit } from '../../db/types.js';

export function findCommunityBasics(db: DbOrTrx, communityId: string) {
  return db.selectFrom('communities').select(['id', 'time_zone', 'settings']).where('id', '=', communityId).executeTakeFirst();
}

/** The community row, locked: settings are read-modify-written. */
export function findCommunityForUpdate(db: DbOrTrx, communityId: string) {
  return db.selectFrom('communities').select(['id', 'time_zone', 'settings']).where('id', '=', communityId).forUpdate().executeTakeFirst();
}

export function updateSettings(db: DbOrTrx, communityId: string, settings: Record<string, unknown>) {
  return db
    .updateTable('communities')
    .set({ settings: JSON.stringify(settings) })
    .where('id', '=', communityId)
    .returning(['id', 'settings'])
    .executeTakeFirstOrThrow();
}

export function findCalendar(db: DbOrTrx, communityId: string) {
  return db.selectFrom('business_calendars').selectAll().where('community_id', '=', communityId).executeTakeFirst();
}

export function findCalendarForUpdate(db: DbOrTrx, communityId: string) {
  return db.selectFrom('business_calendars').selectAll().where('community_id', '=', communityId).forUpdate().executeTakeFirst();
}

export function upsertCalendar(
  db: DbOrTrx,
  c: {
    community_id: string;
    time_zone: string;
    working_hours: Array<{ start: string; end: string }>;
    weekend_days: number[];
    use_china_holidays: boolean;
    overrides: Array<{ date: string; kind: 'holiday' | 'workday' }>;
  },
) {
  const values = {
    community_id: c.community_id,
    time_zone: c.time_zone,
    working_hours: JSON.stringify(c.working_hours),
    weekend_days: c.weekend_days,
    use_china_holidays: c.use_china_holidays,
    overrides: JSON.stringify(c.overrides),
    updated_at: sql<Date>`now()`,
  };
  return db
    .insertInto('business_calendars')
    .values(values)
    .onConflict((oc) =>
      oc.column('community_id').doUpdateSet({
        time_zone: values.time_zone,
        working_hours: values.working_hours,
        weekend_days: values.weekend_days,
        use_china_holidays: values.use_china_holidays,
        overrides: values.overrides,
        updated_at: values.updated_at,
      }),
    )
    .returningAll()
    .executeTakeFirstOrThrow();
}

export function listPolicies(db: DbOrTrx, communityId: string) {
  return db
    .selectFrom('sla_policies')
    .selectAll()
    .where('community_id', '=', communityId)
    .orderBy('priority')
    .orderBy(sql`category NULLS FIRST`)
    .orderBy('id')
    .execute();
}

/** The policy of one scope (category null: the priority-wide one), locked. */
export function findPolicyOfScopeForUpdate(db: DbOrTrx, communityId: string, category: string | null, priority: Priority) {
  let q = db.selectFrom('sla_policies').selectAll().where('community_id', '=', communityId).where('priority', '=', priority);
  q = category === null ? q.where('category', 'is', null) : q.where('category', '=', category);
  return q.forUpdate().executeTakeFirst();
}

/**
 * Inserts or replaces the policy of a scope (community, category, priority); the unique index is
 * on COALESCE(category, ''), so the conflict target names that expression. `created` is true for a
 * new row (a replaced row keeps its id).
 */
export function upsertPolicy(
  db: DbOrTrx,
  p: { community_id: string; category: string | null; priority: Priority; respond_value: number; respond_unit: TargetUnit; resolve_value: number; resolve_unit: TargetUnit; calendar: '24x7' | 'working_hours' },
) {
  return db
    .insertInto('sla_policies')
    .values(p)
    .onConflict((oc) =>
      oc.expression(sql`community_id, COALESCE(category, ''), priority`).doUpdateSet({
        respond_value: p.respond_value,
        respond_unit: p.respond_unit,
        resolve_value: p.resolve_value,
        resolve_unit: p.resolve_unit,
        calendar: p.calendar,
      }),
    )
    .returningAll()
    .returning(sql<boolean>`(xmax = 0)`.as('created'))
    .executeTakeFirstOrThrow();
}

export function deletePolicy(db: DbOrTrx, communityId: string, policyId: string) {
  return db.deleteFrom('sla_policies').where('id', '=', policyId).where('community_id', '=', communityId).returningAll().executeTakeFirst();
}
