import { randomBytes } from 'node:crypto';
import type { FastifyInstance, InjectOptions } from 'fastify';
import type { Db } from '../../src/db/index.js';
import type { FacilityCategory, MembershipRole, OrganizationKind } from '../../src/db/types.js';
import { hashPassword } from '../../src/modules/auth/passwords.js';
import { newQrToken } from '../../src/modules/facilities/facilities.service.js';

export const PASSWORD = 'correct-horse-battery';
let passwordHash: Promise<string> | undefined;
const hashed = () => (passwordHash ??= hashPassword(PASSWORD));
const uniq = () => randomBytes(4).toString('hex');

export async function makeUser(db: Db, opts: { email?: string; name?: string; isPlatformAdmin?: boolean; locale?: 'zh-CN' | 'en' } = {}) {
  return db
    .insertInto('users')
    .values({
      email: opts.email ?? `user-${uniq()}@test.upkeep.cn`,
      name: opts.name ?? `用户${uniq()}`,
      password_hash: await hashed(),
      is_platform_admin: opts.isPlatformAdmin ?? false,
      locale: opts.locale ?? 'zh-CN',
    })
    .returningAll()
    .executeTakeFirstOrThrow();
}

export async function makeOrg(db: Db, kind: OrganizationKind, opts: { communityId?: string; district?: string; name?: string } = {}) {
  return db
    .insertInto('organizations')
    .values({ kind, name: opts.name ?? `${kind}-${uniq()}`, community_id: opts.communityId ?? null, district: opts.district ?? (kind === 'authority' ? 'TestDistrict' : null) })
    .returningAll()
    .executeTakeFirstOrThrow();
}

export async function addMembership(db: Db, userId: string, organizationId: string, role: MembershipRole) {
  await db.insertInto('memberships').values({ user_id: userId, organization_id: organizationId, role }).execute();
}

export async function makeCommunity(db: Db, opts: { name?: string; district?: string } = {}) {
  return db
    .insertInto('communities')
    .values({ name: opts.name ?? `小区-${uniq()}`, district: opts.district ?? 'TestDistrict', address: null, time_zone: 'Asia/Shanghai' })
    .returningAll()
    .executeTakeFirstOrThrow();
}

export async function assignDuty(db: Db, communityId: string, organizationId: string, basis: 'service_contract' | 'fallback_committee' | 'delegated_contractor' = 'service_contract', facilityCategory: string | null = null) {
  return db.insertInto('duty_assignments').values({ community_id: communityId, organization_id: organizationId, basis, facility_category: facilityCategory }).returningAll().executeTakeFirstOrThrow();
}

export async function makeBuilding(db: Db, communityId: string, name = `${uniq()}栋`) {
  return db.insertInto('buildings').values({ community_id: communityId, name }).returningAll().executeTakeFirstOrThrow();
}

export async function makeUnit(db: Db, communityId: string, buildingId: string, opts: { number?: string; areaCentiM2?: number; ownerUserId?: string; ownerName?: string; phone?: string } = {}) {
  const unit = await db
    .insertInto('units')
    .values({ community_id: communityId, building_id: buildingId, number: opts.number ?? uniq(), area_centi_m2: opts.areaCentiM2 ?? 8937 })
    .returningAll()
    .executeTakeFirstOrThrow();
  const phone = opts.phone ?? `138${String(Math.floor(Math.random() * 1e8)).padStart(8, '0')}`;
  const owner = await db
    .insertInto('owners')
    .values({ community_id: communityId, name: opts.ownerName ?? `业主${uniq()}`, phone, identity_key: `p:${phone}`, user_id: opts.ownerUserId ?? null })
    .returningAll()
    .executeTakeFirstOrThrow();
  await db.insertInto('unit_owners').values({ unit_id: unit.id, owner_id: owner.id }).execute();
  return { unit, owner };
}

export async function makeFacility(db: Db, communityId: string, category: FacilityCategory = 'camera') {
  return db
    .insertInto('facilities')
    .values({ community_id: communityId, category, name: `设施-${uniq()}`, location: null, building_id: null, qr_token: newQrToken() })
    .returningAll()
    .executeTakeFirstOrThrow();
}

export const ROLES = ['platformAdmin', 'propertyManager', 'technician', 'committeeChair', 'committeeMember', 'owner', 'contractor', 'authority'] as const;
export type Role = (typeof ROLES)[number];

export interface CommunityWorld {
  community: Awaited<ReturnType<typeof makeCommunity>>;
  building: Awaited<ReturnType<typeof makeBuilding>>;
  unit: Awaited<ReturnType<typeof makeUnit>>['unit'];
  facility: Awaited<ReturnType<typeof makeFacility>>;
  /** The contractor's delegated duty (cameras). */
  contractorDuty: { id: string };
  orgs: { company: { id: string }; committee: { id: string }; contractor: { id: string }; authority: { id: string } };
  /** Users by role; platformAdmin is shared by both communities. */
  users: Record<Role, { id: string; email: string }>;
}

/**
 * A community with one person in every role: its property company (manager, technician), owners'
 * committee (chair, member), a contractor with a delegated duty, the district's authority, and
 * an owner of one unit.
 */
export async function makeCommunityWorld(db: Db, opts: { district: string; platformAdmin: { id: string; email: string } }): Promise<CommunityWorld> {
  const community = await makeCommunity(db, { district: opts.district });
  const company = await makeOrg(db, 'property_company');
  const committee = await makeOrg(db, 'owners_committee', { communityId: community.id });
  const contractor = await makeOrg(db, 'contractor');
  const authority = await makeOrg(db, 'authority', { district: opts.district });
  await assignDuty(db, community.id, company.id, 'service_contract');
  const contractorDuty = await assignDuty(db, community.id, contractor.id, 'delegated_contractor', 'camera');

  const member = async (orgId: string, role: MembershipRole) => {
    const u = await makeUser(db);
    await addMembership(db, u.id, orgId, role);
    return u;
  };
  const ownerUser = await makeUser(db);
  const building = await makeBuilding(db, community.id);
  const { unit } = await makeUnit(db, community.id, building.id, { ownerUserId: ownerUser.id });
  const facility = await makeFacility(db, community.id);
  return {
    community,
    building,
    unit,
    facility,
    contractorDuty,
    orgs: { company, committee, contractor, authority },
    users: {
      platformAdmin: opts.platformAdmin,
      propertyManager: await member(company.id, 'manager'),
      technician: await member(company.id, 'staff'),
      committeeChair: await member(committee.id, 'chair'),
      committeeMember: await member(committee.id, 'member'),
      owner: ownerUser,
      contractor: await member(contractor.id, 'manager'),
      authority: await member(authority.id, 'viewer'),
    },
  };
}

/** Two communities in different districts, so every role of A is a stranger to B. */
export async function makeTwoWorlds(db: Db) {
  const admin = await makeUser(db, { isPlatformAdmin: true });
  const a = await makeCommunityWorld(db, { district: `A-${uniq()}`, platformAdmin: admin });
  const b = await makeCommunityWorld(db, { district: `B-${uniq()}`, platformAdmin: admin });
  return { a, b, admin };
}

/** An access token for a user, signed by the app (no login round trip). */
export function tokenFor(app: FastifyInstance, userId: string): string {
  return app.jwt.sign({ sub: userId, typ: 'access' });
}

/** app.inject with the user's bearer token. */
export function as(app: FastifyInstance, userId: string | null) {
  return (opts: InjectOptions) =>
    app.inject({ ...opts, headers: { ...(opts.headers ?? {}), ...(userId ? { authorization: `Bearer ${tokenFor(app, userId)}` } : {}) } });
}
