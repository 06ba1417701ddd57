import { sql } from 'kysely';
import type { DbOrTrx } from '../../db/index.js';

/** Someone to notify: a user (in-app + email), or an owner known only by email. */
export interface Recipient {
  userId: string | null;
  email: string | null;
  name: string;
  locale: 'zh-CN' | 'en';
}

const activeDuty = sql<boolean>`d.valid_from <= now() AND (d.valid_to IS NULL OR d.valid_to > now())`;

function users(db: DbOrTrx) {
  return db.selectFrom('users as u').select(['u.id', 'u.email', 'u.name', 'u.locale']).where('u.disabled_at', 'is', null);
}

const toRecipients = (rows: Array<{ id: string; email: string; name: string; locale: 'zh-CN' | 'en' }>): Recipient[] =>
  rows.map((r) => ({ userId: r.id, email: r.email, name: r.name, locale: r.locale }));

/** Recipients by role (DESIGN.md "Reminders and notifications"). */
export const recipients = {
  async user(db: DbOrTrx, userId: string): Promise<Recipient[]> {
    return toRecipients(await users(db).where('u.id', '=', userId).execute());
  },

  /** Managers of the organizations holding an active duty in the community (for a category, or any). */
  async dutyHolderManagers(db: DbOrTrx, communityId: string, category?: string | null): Promise<Recipient[]> {
    const rows = await users(db)
      .innerJoin('memberships as m', 'm.user_id', 'u.id')
      .innerJoin('duty_assignments as d', 'd.organization_id', 'm.organization_id')
      .where('d.community_id', '=', communityId)
      .where(activeDuty)
      .where('m.role', '=', 'manager')
      .$if(category !== undefined, (q) => q.where((eb) => eb.or([eb('d.facility_category', 'is', null), eb('d.facility_category', '=', category ?? null)])))
      .distinct()
      .execute();
    return toRecipients(rows);
  },

  /** Members of the community's owners' committee (and property management / residents' committees). */
  async committeeMembers(db: DbOrTrx, communityId: string): Promise<Recipient[]> {
    const rows = await users(db)
      .innerJoin('memberships as m', 'm.user_id', 'u.id')
      .innerJoin('organizations as o', 'o.id', 'm.organization_id')
      .where('o.community_id', '=', communityId)
      .where('o.kind', 'in', ['owners_committee', 'property_management_committee', 'residents_committee'])
      .distinct()
      .execute();
    return toRecipients(rows);
  },

  /** committeeMembers for many communities in one query (a batch of timers), by community id. */
  async committeeMembersByCommunity(db: DbOrTrx, communityIds: string[]): Promise<Map<string, Recipient[]>> {
    const byCommunity = new Map<string, Recipient[]>();
    if (communityIds.length === 0) return byCommunity;
    const rows = await users(db)
      .innerJoin('memberships as m', 'm.user_id', 'u.id')
      .innerJoin('organizations as o', 'o.id', 'm.organization_id')
      .select('o.community_id')
      .where(sql<boolean>`o.community_id = ANY(${communityIds}::uuid[])`)
      .where('o.kind', 'in', ['owners_committee', 'property_management_committee', 'residents_committee'])
      .distinct()
      .execute();
    for (const r of rows) {
      const list = byCommunity.get(r.community_id as string) ?? [];
      list.push({ userId: r.id, email: r.email, name: r.name, locale: r.locale });
      byCommunity.set(r.community_id as string, list);
    }
    return byCommunity;
  },

  /** Everyone at the authority supervising the community's district. */
  async authorityViewers(db: DbOrTrx, communityId: string): Promise<Recipient[]> {
    const rows = await users(db)
      .innerJoin('memberships as m', 'm.user_id', 'u.id')
      .innerJoin('organizations as o', 'o.id', 'm.organization_id')
      .innerJoin('communities as c', 'c.district', 'o.district')
      .where('c.id', '=', communityId)
      .where('o.kind', '=', 'authority')
      .distinct()
      .execute();
    return toRecipients(rows);
  },

  /** Owners of units in scope (all units when unitIds is omitted): by account, else by their email. */
  async ownersInScope(db: DbOrTrx, communityId: string, unitIds?: string[]): Promise<Recipient[]> {
    let q = db
      .selectFrom('owners as o')
      .leftJoin('users as u', 'u.id', 'o.user_id')
      .select(['o.id as owner_id', 'o.name', 'o.email as owner_email', 'u.id as user_id', 'u.email as user_email', 'u.locale'])
      .where('o.community_id', '=', communityId)
      .where('o.is_developer', '=', false);
    if (unitIds) {
      if (unitIds.length === 0) return [];
      // One array parameter: a scope of any size stays under PostgreSQL's 65,535-parameter limit.
      q = q.where('o.id', 'in', (eb) => eb.selectFrom('unit_owners').select('owner_id').where(sql<boolean>`unit_id = ANY(${unitIds}::uuid[])`));
    } else {
      q = q.where('o.id', 'in', (eb) => eb.selectFrom('unit_owners').select('owner_id'));
    }
    const rows = await q.execute();
    return rows
      .filter((r) => r.user_id || r.owner_email)
      .map((r) => ({ userId: r.user_id, email: r.user_email ?? r.owner_email, name: r.name, locale: r.locale ?? 'zh-CN' }));
  },

  async platformAdmins(db: DbOrTrx): Promise<Recipient[]> {
    return toRecipients(await users(db).where('u.is_platform_admin', '=', true).execute());
  },
};

/** One entry per person (by user id, else email). */
export function uniqueRecipients(list: Recipient[]): Recipient[] {
  const seen = new Map<string, Recipient>();
  for (const r of list) {
    const key = r.userId ?? `email:${(r.email ?? '').toLowerCase()}`;
    if (!seen.has(key)) seen.set(key, r);
  }
  return [...seen.values()];
}
