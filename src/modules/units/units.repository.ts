import { sql } from 'kysely';
import type { DbOrTrx } from '../../db/index.js';
import { afterCursor, type Cursor } from '../../lib/pagination.js';

/** Creates missing buildings by name and returns name → id for all the given names. */
export async function ensureBuildings(db: DbOrTrx, communityId: string, names: string[]): Promise<{ ids: Map<string, string>; created: number }> {
  const inserted = await sql<{ id: string }>`
    INSERT INTO buildings (community_id, name)
    SELECT ${communityId}::uuid, n FROM unnest(${names}::text[]) AS n
    ON CONFLICT (community_id, name) DO NOTHING
    RETURNING id`.execute(db);
  const rows = await db.selectFrom('buildings').select(['id', 'name']).where('community_id', '=', communityId).where('name', 'in', names.length ? names : ['']).execute();
  return { ids: new Map(rows.map((r) => [r.name, r.id])), created: inserted.rows.length };
}

export async function findExistingUnits(db: DbOrTrx, buildingIds: string[], numbers: string[]) {
  const rows = await sql<{ building_id: string; number: string }>`
    SELECT u.building_id, u.number FROM units u
    JOIN unnest(${buildingIds}::uuid[], ${numbers}::text[]) AS k(building_id, number)
      ON u.building_id = k.building_id AND u.number = k.number`.execute(db);
  return rows.rows;
}

/** Upserts owners by identity and returns identity → id. Links owners to accounts with the same email. */
export async function upsertOwners(
  db: DbOrTrx,
  communityId: string,
  owners: Array<{ identityKey: string; name: string; phone: string | null; email: string | null; isDeveloper: boolean }>,
): Promise<{ ids: Map<string, string>; created: number }> {
  const res = await sql<{ id: string; identity_key: string; created: boolean }>`
    INSERT INTO owners (community_id, identity_key, name, phone, email, is_developer)
    SELECT ${communityId}::uuid, k, n, p, e, d
    FROM unnest(${owners.map((o) => o.identityKey)}::text[], ${owners.map((o) => o.name)}::text[],
                ${owners.map((o) => o.phone)}::text[], ${owners.map((o) => o.email)}::text[],
                ${owners.map((o) => o.isDeveloper)}::boolean[]) AS t(k, n, p, e, d)
    ON CONFLICT (community_id, identity_key) DO UPDATE
      SET email = COALESCE(owners.email, EXCLUDED.email), phone = COALESCE(owners.phone, EXCLUDED.phone)
    RETURNING id, identity_key, (xmax = 0) AS created`.execute(db);
  await sql`
    UPDATE owners o SET user_id = u.id FROM users u
    WHERE o.community_id = ${communityId} AND o.user_id IS NULL AND o.email IS NOT NULL AND lower(u.email) = lower(o.email)`.execute(db);
  return { ids: new Map(res.rows.map((r) => [r.identity_key, r.id])), created: res.rows.filter((r) => r.created).length };
}

export async function insertUnits(
  db: DbOrTrx,
  communityId: string,
  units: Array<{ buildingId: string; number: string; areaCentiM2: number; firstDepositCents: number }>,
) {
  const res = await sql<{ id: string; building_id: string; number: string }>`
    INSERT INTO units (community_id, building_id, number, area_centi_m2, first_deposit_cents)
    SELECT ${communityId}::uuid, b, n, a, d
    FROM unnest(${units.map((u) => u.buildingId)}::uuid[], ${units.map((u) => u.number)}::text[],
                ${units.map((u) => u.areaCentiM2)}::bigint[], ${units.map((u) => u.firstDepositCents)}::bigint[]) AS t(b, n, a, d)
    RETURNING id, building_id, number`.execute(db);
  return res.rows;
}

export async function linkOwners(db: DbOrTrx, pairs: Array<{ unitId: string; ownerId: string }>) {
  if (pairs.length === 0) return;
  await sql`
    INSERT INTO unit_owners (unit_id, owner_id)
    SELECT u, o FROM unnest(${pairs.map((p) => p.unitId)}::uuid[], ${pairs.map((p) => p.ownerId)}::uuid[]) AS t(u, o)
    ON CONFLICT DO NOTHING`.execute(db);
}

export function listUnits(db: DbOrTrx, communityId: string, opts: { cursor?: Cursor; limit: number; buildingId?: string; ownerUserId?: string }) {
  let q = db
    .selectFrom('units as u')
    .innerJoin('buildings as b', 'b.id', 'u.building_id')
    .select(['u.id', 'u.community_id', 'u.building_id', 'b.name as building_name', 'u.number', 'u.area_centi_m2', 'u.first_deposit_cents', 'u.created_at'])
    .where('u.community_id', '=', communityId)
    .where(afterCursor(opts.cursor, 'u.created_at', 'u.id'));
  if (opts.buildingId) q = q.where('u.building_id', '=', opts.buildingId);
  if (opts.ownerUserId) {
    q = q.where('u.id', 'in', (eb) =>
      eb.selectFrom('unit_owners as uo').innerJoin('owners as o', 'o.id', 'uo.owner_id').select('uo.unit_id').where('o.user_id', '=', opts.ownerUserId as string),
    );
  }
  return q.orderBy('u.created_at').orderBy('u.id').limit(opts.limit + 1).execute();
}

export function findUnit(db: DbOrTrx, id: string) {
  return db
    .selectFrom('units as u')
    .innerJoin('buildings as b', 'b.id', 'u.building_id')
    .select(['u.id', 'u.community_id', 'u.building_id', 'b.name as building_name', 'u.number', 'u.area_centi_m2', 'u.first_deposit_cents', 'u.created_at'])
    .where('u.id', '=', id)
    .executeTakeFirst();
}

export function ownersOfUnits(db: DbOrTrx, unitIds: string[]) {
  if (unitIds.length === 0) return Promise.resolve([]);
  return db
    .selectFrom('unit_owners as uo')
    .innerJoin('owners as o', 'o.id', 'uo.owner_id')
    .select(['uo.unit_id', 'o.id', 'o.name', 'o.phone', 'o.email', 'o.is_developer', 'o.user_id'])
    .where('uo.unit_id', 'in', unitIds)
    .orderBy('o.name')
    .execute();
}
