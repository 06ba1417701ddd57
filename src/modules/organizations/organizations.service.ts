import { sql } from 'kysely';
import type { Db } from '../../db/index.js';
import type { MembershipRole, OrganizationKind } from '../../db/types.js';
import { conflict, forbidden, notFound, unprocessable } from '../../lib/errors.js';
import type { Cursor } from '../../lib/pagination.js';
import { canManageOrganization, canSeeOrganization, type Actor } from '../../plugins/access.js';
import { recordAudit } from '../audit/audit.service.js';
import { hashPassword } from '../auth/passwords.js';
import * as users from '../users/users.repository.js';
import * as repo from './organizations.repository.js';

const COMMITTEES: OrganizationKind[] = ['owners_committee', 'property_management_committee', 'residents_committee'];

/** Which roles make sense in which kind of organization. */
export const ROLES_BY_KIND: Record<OrganizationKind, MembershipRole[]> = {
  property_company: ['manager', 'staff'],
  contractor: ['manager', 'staff'],
  owners_committee: ['chair', 'member'],
  property_management_committee: ['chair', 'member'],
  residents_committee: ['chair', 'member'],
  authority: ['manager', 'viewer'],
  platform: ['manager', 'staff'],
};

export function toOrganizationDto(o: { id: string; kind: OrganizationKind; name: string; community_id: string | null; district: string | null; created_at: Date }) {
  return { id: o.id, kind: o.kind, name: o.name, communityId: o.community_id, district: o.district, createdAt: o.created_at.toISOString() };
}

export async function createOrganization(db: Db, actor: Actor, input: { kind: OrganizationKind; name: string; communityId?: string; district?: string }) {
  if (!actor.isPlatformAdmin) throw forbidden('Only platform administrators create organizations');
  if (COMMITTEES.includes(input.kind) && !input.communityId) throw unprocessable(`A ${input.kind} belongs to one community: communityId is required`);
  if (!COMMITTEES.includes(input.kind) && input.communityId) throw unprocessable(`A ${input.kind} does not belong to one community: omit communityId`);
  if (input.kind === 'authority' && !input.district) throw unprocessable('An authority supervises a district: district is required');
  return db.transaction().execute(async (trx) => {
    if (input.communityId) {
      const exists = await trx.selectFrom('communities').select('id').where('id', '=', input.communityId).executeTakeFirst();
      if (!exists) throw notFound('Community');
    }
    const org = await repo.insertOrganization(trx, {
      kind: input.kind,
      name: input.name.trim(),
      community_id: input.communityId ?? null,
      district: input.district?.trim() ?? null,
    });
    await recordAudit(trx, {
      communityId: org.community_id,
      actorUserId: actor.userId,
      action: 'organization.created',
      entityType: 'organization',
      entityId: org.id,
      after: toOrganizationDto(org),
    });
    return org;
  });
}

export async function listOrganizations(db: Db, actor: Actor, cursor: Cursor | undefined, limit: number, kind?: OrganizationKind) {
  const ids = actor.memberships.map((m) => m.organizationId);
  const visible = actor.isPlatformAdmin ? sql<boolean>`true` : sql<boolean>`id = ANY(${ids}::uuid[])`;
  return repo.listOrganizations(db, visible, cursor, limit, kind);
}

export async function getOrganization(db: Db, actor: Actor, id: string) {
  const org = canSeeOrganization(actor, id) ? await repo.findOrganization(db, id) : undefined;
  if (!org) throw notFound('Organization');
  return org;
}

export async function listMembers(db: Db, actor: Actor, organizationId: string) {
  await getOrganization(db, actor, organizationId);
  return repo.listMembers(db, organizationId);
}

/**
 * Adds a person to an organization. One person one account: an existing account (by email) is
 * reused, never duplicated; a new one needs a name and an initial password.
 */
export async function addMember(
  db: Db,
  actor: Actor,
  organizationId: string,
  input: { email: string; role: MembershipRole; name?: string; password?: string; phone?: string; locale?: 'zh-CN' | 'en' },
) {
  const org = await getOrganization(db, actor, organizationId);
  if (!canManageOrganization(actor, organizationId)) throw forbidden('Only the organization’s managers or chair add members');
  const allowed = ROLES_BY_KIND[org.kind];
  if (!allowed.includes(input.role)) throw unprocessable(`Role ${input.role} is not used in a ${org.kind}; use one of: ${allowed.join(', ')}`);
  if (org.kind === 'platform' && !actor.isPlatformAdmin) throw forbidden();

  const existing = await users.findUserByEmail(db, input.email);
  if (!existing && (!input.name || !input.password)) {
    throw unprocessable('This person has no account yet: name and password are required to create one', { missing: [!input.name && 'name', !input.password && 'password'].filter(Boolean) });
  }
  const passwordHash = existing ? undefined : await hashPassword(input.password as string);
  return db.transaction().execute(async (trx) => {
    const user =
      existing ??
      (await users.insertUser(trx, {
        email: input.email.trim(),
        name: (input.name as string).trim(),
        phone: input.phone ?? null,
        password_hash: passwordHash as string,
        locale: input.locale ?? 'zh-CN',
      }));
    const already = await trx.selectFrom('memberships').select('role').where('user_id', '=', user.id).where('organization_id', '=', organizationId).executeTakeFirst();
    if (already?.role === input.role) throw conflict('This person is already a member with that role');
    const membership = await users.upsertMembership(trx, user.id, organizationId, input.role);
    if (!existing) {
      await recordAudit(trx, { communityId: null, actorUserId: actor.userId, action: 'user.created', entityType: 'user', entityId: user.id, after: { email: user.email, name: user.name } });
    }
    await recordAudit(trx, {
      communityId: org.community_id,
      actorUserId: actor.userId,
      action: already ? 'membership.role_changed' : 'membership.added',
      entityType: 'membership',
      entityId: membership.id,
      before: already ? { role: already.role } : null,
      after: { userId: user.id, organizationId, role: input.role },
    });
    return { userId: user.id, organizationId, email: user.email, name: user.name, role: input.role, createdAccount: !existing };
  });
}
