import type { Db } from '../../db/index.js';
import type { Community } from '../../db/types.js';
import { badRequest, conflict, forbidden, notFound, unprocessable } from '../../lib/errors.js';
import type { Cursor } from '../../lib/pagination.js';
import { visibleCommunity, type Actor } from '../../plugins/access.js';
import { recordAudit } from '../audit/audit.service.js';
import * as repo from './communities.repository.js';
import { createAssignment } from '../duties/duties.service.js';

export function toCommunityDto(c: Community) {
  return { id: c.id, name: c.name, district: c.district, address: c.address, timeZone: c.time_zone, createdAt: c.created_at.toISOString() };
}

export function isValidTimeZone(tz: string): boolean {
  try {
    new Intl.DateTimeFormat('en', { timeZone: tz });
    return true;
  } catch {
    return false;
  }
}

/**
 * Creates a community. Platform admins may name any property company as its service-contract
 * duty holder; a property company's manager creates communities for their own company.
 */
export async function createCommunity(
  db: Db,
  actor: Actor,
  input: { name: string; district: string; address?: string; timeZone?: string; propertyCompanyId?: string },
) {
  const managedCompanies = actor.memberships.filter((m) => m.kind === 'property_company' && m.role === 'manager').map((m) => m.organizationId);
  if (!actor.isPlatformAdmin) {
    if (managedCompanies.length === 0) throw forbidden('Only platform administrators and property company managers create communities');
    if (!input.propertyCompanyId) {
      if (managedCompanies.length > 1) throw badRequest('You manage several property companies: name one in propertyCompanyId');
      input = { ...input, propertyCompanyId: managedCompanies[0] };
    } else if (!managedCompanies.includes(input.propertyCompanyId)) {
      throw forbidden('You can only create communities for a property company you manage');
    }
  }
  const timeZone = input.timeZone ?? 'Asia/Shanghai';
  if (!isValidTimeZone(timeZone)) throw badRequest(`Unknown time zone "${timeZone}"`, [{ field: 'timeZone', message: 'must be an IANA time zone such as Asia/Shanghai' }]);

  return db.transaction().execute(async (trx) => {
    if (input.propertyCompanyId) {
      const company = await trx.selectFrom('organizations').select(['id', 'kind']).where('id', '=', input.propertyCompanyId).executeTakeFirst();
      if (!company) throw notFound('Property company');
      if (company.kind !== 'property_company') throw unprocessable('propertyCompanyId must name a property company');
    }
    const community = await repo.insertCommunity(trx, { name: input.name.trim(), district: input.district.trim(), address: input.address?.trim() ?? null, time_zone: timeZone });
    await recordAudit(trx, { communityId: community.id, actorUserId: actor.userId, action: 'community.created', entityType: 'community', entityId: community.id, after: toCommunityDto(community) });
    if (input.propertyCompanyId) {
      await createAssignment(trx, actor.userId, { communityId: community.id, organizationId: input.propertyCompanyId, basis: 'service_contract', facilityCategory: null });
    }
    return community;
  });
}

export function listCommunities(db: Db, actor: Actor, cursor: Cursor | undefined, limit: number, district?: string) {
  return repo.listCommunities(db, visibleCommunity(actor, 'communities.id'), cursor, limit, district);
}

export async function getCommunity(db: Db, id: string) {
  const c = await repo.findCommunity(db, id);
  if (!c) throw notFound('Community');
  return c;
}

export async function createBuilding(db: Db, actor: Actor, communityId: string, name: string) {
  return db.transaction().execute(async (trx) => {
    const existing = await trx.selectFrom('buildings').select('id').where('community_id', '=', communityId).where('name', '=', name.trim()).executeTakeFirst();
    if (existing) throw conflict(`Building "${name.trim()}" already exists in this community`);
    const b = await repo.insertBuilding(trx, { community_id: communityId, name: name.trim() });
    await recordAudit(trx, { communityId, actorUserId: actor.userId, action: 'building.created', entityType: 'building', entityId: b.id, after: { name: b.name } });
    return b;
  });
}

export const listBuildings = repo.listBuildings;
