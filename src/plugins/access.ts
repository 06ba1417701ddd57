import { sql, type Expression, type SqlBool } from 'kysely';
import type { FastifyRequest } from 'fastify';
import type { DbOrTrx } from '../db/index.js';
import type { MembershipRole, OrganizationKind } from '../db/types.js';
import { forbidden, notFound, unauthorized } from '../lib/errors.js';

/**
 * Access scoping lives here and only here (DESIGN.md "Access"):
 * - property company staff see communities where their company holds an active duty;
 * - committee members (owners', property management, residents') their own community;
 * - contractors communities where they hold a delegated duty (tickets assigned to them later);
 * - authorities read-only over their district;
 * - owners the communities of their own units (and within them only their own units);
 * - platform admins everything.
 * Another community's record answers 404 (never its data); a visible one the actor may not
 * change answers 403.
 */

export interface ActorMembership {
  organizationId: string;
  kind: OrganizationKind;
  role: MembershipRole;
  communityId: string | null;
  district: string | null;
}

export interface Actor {
  userId: string;
  email: string;
  name: string;
  locale: 'zh-CN' | 'en';
  isPlatformAdmin: boolean;
  memberships: ActorMembership[];
  /** Read with the actor (loadActor, the same request): lets communityAccess answer without a query. */
  communities?: ActorCommunities;
}

/** Where an actor's stances come from, read once per request with the actor. */
export interface ActorCommunities {
  /** Community id (lower case) → the actor's companies and contractors holding an active duty there. */
  duty: ReadonlyMap<string, readonly string[]>;
  /** Communities (lower case) where the actor owns a unit. */
  owned: ReadonlySet<string>;
}


/** What an actor is within one community; one actor can be several (e.g. committee member and owner). */
export type Stance =
  | 'platform_admin'
  | 'property_manager'
  | 'property_staff'
  | 'committee_officer'
  | 'committee_member'
  | 'contractor'
  | 'authority'
  | 'owner';

export type Capability =
  /** See the community, its buildings and facilities. */
  | 'community.read'
  /** Change buildings, units, owners; import the unit register. */
  | 'structure.manage'
  /** Add and change facilities. */
  | 'facilities.manage'
  /** See every unit with owners' names and (unmasked) phone numbers. */
  | 'owners.read'
  /** Read the audit trail and verify its chain. */
  | 'audit.read'
  /** Assign duties (property managers only delegate to contractors: see the duties service). */
  | 'duties.manage'
  /** Report a fault (owners, staff) or order a rectification (authorities). */
  | 'tickets.create'
  /** Configure SLA policies, the business calendar and community settings. */
  | 'sla.manage'
  /** KPI reports of the community. */
  | 'reports.read'
  /** See inspection plans and tasks (contractors: only those assigned to them; see inspectionPermissions). */
  | 'inspections.read'
  /** Create, change and deactivate inspection plans; record results of any task of the community. */
  | 'inspections.manage';

const CAPABILITIES: Record<Capability, readonly Stance[]> = {
  'community.read': ['platform_admin', 'property_manager', 'property_staff', 'committee_officer', 'committee_member', 'contractor', 'authority', 'owner'],
  'structure.manage': ['platform_admin', 'property_manager', 'committee_officer'],
  'facilities.manage': ['platform_admin', 'property_manager', 'property_staff', 'committee_officer'],
  'owners.read': ['platform_admin', 'property_manager', 'property_staff', 'committee_officer', 'committee_member'],
  'audit.read': ['platform_admin', 'property_manager', 'committee_officer', 'committee_member', 'authority'],
  'duties.manage': ['platform_admin', 'property_manager', 'committee_officer'],
  'tickets.create': ['platform_admin', 'property_manager', 'property_staff', 'committee_officer', 'committee_member', 'owner', 'authority'],
  'sla.manage': ['platform_admin', 'property_manager', 'committee_officer'],
  'reports.read': ['platform_admin', 'property_manager', 'property_staff', 'committee_officer', 'committee_member', 'authority'],
  'inspections.read': ['platform_admin', 'property_manager', 'property_staff', 'committee_officer', 'committee_member', 'contractor', 'authority'],
  'inspections.manage': ['platform_admin', 'property_manager', 'property_staff', 'committee_officer'],
};

const COMMITTEE_KINDS: readonly OrganizationKind[] = ['owners_committee', 'property_management_committee', 'residents_committee'];
const DUTY_KINDS: readonly OrganizationKind[] = ['property_company', 'contractor'];

export class CommunityAccess {
  constructor(
    readonly communityId: string,
    readonly stances: ReadonlySet<Stance>,
  ) {}
  can(capability: Capability): boolean {
    return CAPABILITIES[capability].some((s) => this.stances.has(s));
  }
  /** Owners alone (no staff stance) see only their own units' data. */
  get ownerOnly(): boolean {
    return this.stances.size === 1 && this.stances.has('owner');
  }
}

const activeDuty = sql<SqlBool>`d.valid_from <= now() AND (d.valid_to IS NULL OR d.valid_to > now())`;

/**
 * Columns for loadActor's query on `users u`: the facts of ActorCommunities (duty_communities:
 * JSON pairs of community and organization; owned_communities: uuid[]).
 */
export const actorCommunitiesColumns = sql`
  COALESCE((SELECT json_agg(json_build_object('community_id', d.community_id, 'organization_id', d.organization_id))
            FROM memberships dm JOIN organizations dorg ON dorg.id = dm.organization_id AND dorg.kind IN ('property_company', 'contractor')
            JOIN duty_assignments d ON d.organization_id = dm.organization_id AND ${activeDuty}
            WHERE dm.user_id = u.id), '[]'::json) AS duty_communities,
  ARRAY(SELECT o.community_id FROM owners o WHERE o.user_id = u.id) AS owned_communities`;

export function actorCommunitiesFrom(row: { duty_communities: Array<{ community_id: string; organization_id: string }>; owned_communities: string[] }): ActorCommunities {
  const duty = new Map<string, string[]>();
  for (const d of row.duty_communities) {
    const key = d.community_id.toLowerCase();
    duty.set(key, [...(duty.get(key) ?? []), d.organization_id]);
  }
  return { duty, owned: new Set(row.owned_communities.map((c) => c.toLowerCase())) };
}

/**
 * A SQL condition true for the community ids the actor may see. Every repository query on
 * community data filters through this (`.where(visibleCommunity(actor, 'x.community_id'))`).
 */
export function visibleCommunity(actor: Actor, column: string): Expression<SqlBool> {
  if (actor.isPlatformAdmin) return sql<SqlBool>`true`;
  const col = sql.ref(column);
  const dutyOrgs = actor.memberships.filter((m) => DUTY_KINDS.includes(m.kind)).map((m) => m.organizationId);
  const committeeCommunities = actor.memberships
    .filter((m) => COMMITTEE_KINDS.includes(m.kind) && m.communityId)
    .map((m) => m.communityId as string);
  const districts = actor.memberships.filter((m) => m.kind === 'authority' && m.district).map((m) => m.district as string);
  return sql<SqlBool>`(
    ${col} IN (SELECT d.community_id FROM duty_assignments d WHERE d.organization_id = ANY(${dutyOrgs}::uuid[]) AND ${activeDuty})
    OR ${col} = ANY(${committeeCommunities}::uuid[])
    OR ${col} IN (SELECT c.id FROM communities c WHERE c.district = ANY(${districts}::text[]))
    OR ${col} IN (SELECT o.community_id FROM owners o WHERE o.user_id = ${actor.userId})
  )`;
}

/** The actor's stances in one community, from the database (duties change over time). */
export async function communityAccess(db: DbOrTrx, actor: Actor, communityId: string): Promise<CommunityAccess> {
  const stances = new Set<Stance>();
  const dutyOrgs = actor.memberships.filter((m) => DUTY_KINDS.includes(m.kind));
  // Staff, committees and owners: from the facts read with the actor, no query. Admins and
  // authorities need the community itself (that it exists; its district).
  const known = actor.communities;
  if (known && !actor.isPlatformAdmin && !actor.memberships.some((m) => m.kind === 'authority')) {
    const id = communityId.toLowerCase();
    const holders = new Set(known.duty.get(id) ?? []);
    for (const m of dutyOrgs) {
      if (!holders.has(m.organizationId)) continue;
      if (m.kind === 'contractor') stances.add('contractor');
      else stances.add(m.role === 'manager' ? 'property_manager' : 'property_staff');
    }
    for (const m of actor.memberships) {
      if (COMMITTEE_KINDS.includes(m.kind) && m.communityId === id) stances.add(m.role === 'chair' || m.role === 'manager' ? 'committee_officer' : 'committee_member');
    }
    if (known.owned.has(id)) stances.add('owner');
    return new CommunityAccess(stances.size > 0 ? id : communityId, stances);
  }
  // One round trip (every community route does this): the community, which of the actor's
  // companies and contractors hold an active duty there, and whether the actor owns a unit there.
  const { rows } = await sql<{ id: string; district: string; holders: string[]; owner: boolean }>`
    SELECT c.id, c.district,
      ARRAY(SELECT d.organization_id FROM duty_assignments d
            WHERE d.community_id = c.id AND d.organization_id = ANY(${dutyOrgs.map((m) => m.organizationId)}::uuid[]) AND ${activeDuty}) AS holders,
      EXISTS (SELECT 1 FROM owners o WHERE o.community_id = c.id AND o.user_id = ${actor.userId}) AS owner
    FROM communities c WHERE c.id = ${communityId}`.execute(db);
  const community = rows[0];
  if (!community) return new CommunityAccess(communityId, stances);
  if (actor.isPlatformAdmin) stances.add('platform_admin');
  const holders = new Set(community.holders);
  for (const m of dutyOrgs) {
    if (!holders.has(m.organizationId)) continue;
    if (m.kind === 'contractor') stances.add('contractor');
    else stances.add(m.role === 'manager' ? 'property_manager' : 'property_staff');
  }
  for (const m of actor.memberships) {
    // community.id as PostgreSQL spells it: the caller's id may differ in letter case.
    if (COMMITTEE_KINDS.includes(m.kind) && m.communityId === community.id) {
      stances.add(m.role === 'chair' || m.role === 'manager' ? 'committee_officer' : 'committee_member');
    }
    if (m.kind === 'authority' && m.district === community.district) stances.add('authority');
  }
  if (community.owner) stances.add('owner');
  return new CommunityAccess(community.id, stances);
}

export function requireActor(request: FastifyRequest): Actor {
  if (!request.actor) throw unauthorized();
  return request.actor;
}

/**
 * The guard every community route calls: 404 when the community is not visible to the actor
 * (or does not exist), 403 when it is visible but the capability is missing.
 */
export async function requireCommunity(
  db: DbOrTrx,
  request: FastifyRequest,
  communityId: string,
  capability: Capability = 'community.read',
  /** What the 404 names when the record belongs to a community the actor may not see. */
  recordName = 'Community',
): Promise<CommunityAccess> {
  const actor = requireActor(request);
  const access = await communityAccess(db, actor, communityId);
  if (!access.can('community.read')) throw notFound(recordName);
  if (!access.can(capability)) throw forbidden();
  return access;
}

/** Organization management: platform admins, or the organization's own managers/chairs. */
export function canManageOrganization(actor: Actor, organizationId: string): boolean {
  return (
    actor.isPlatformAdmin ||
    actor.memberships.some((m) => m.organizationId === organizationId && (m.role === 'manager' || m.role === 'chair'))
  );
}

export function canSeeOrganization(actor: Actor, organizationId: string): boolean {
  return actor.isPlatformAdmin || actor.memberships.some((m) => m.organizationId === organizationId);
}

/** Masks a phone number for roles that do not need it: 13812345678 → 138****5678. */
export function maskPhone(phone: string | null): string | null {
  if (!phone) return phone;
  const digits = phone.replace(/\s+/g, '');
  if (digits.length <= 4) return '*'.repeat(digits.length);
  if (digits.length < 8) return `${'*'.repeat(digits.length - 4)}${digits.slice(-4)}`;
  return `${digits.slice(0, 3)}${'*'.repeat(digits.length - 7)}${digits.slice(-4)}`;
}

/** Masks a person's name for public notices: 张三丰 → 张**. */
export function maskName(name: string): string {
  const chars = [...name.trim()];
  if (chars.length <= 1) return '*';
  return chars[0] + '*'.repeat(Math.min(chars.length - 1, 3));
}

/** What an actor may do with one ticket. */
export type TicketAction =
  | 'read'
  | 'comment'
  /** Internal comments (staff only) and reading them. */
  | 'comment_internal'
  /** Every transition, assignment, priority and category changes. */
  | 'manage'
  /** An assigned contractor or technician works the ticket: acknowledge, start, hold, resolve. */
  | 'work'
  /** The reporter confirms a resolution (close) or reopens it, and may cancel a new ticket. */
  | 'confirm'
  | 'rate';

interface TicketFacts {
  community_id: string;
  reporter_user_id: string | null;
  assignee_user_id: string | null;
  assignee_org_id: string | null;
  is_public: boolean;
}

const TICKET_STAFF: readonly Stance[] = ['platform_admin', 'property_manager', 'property_staff', 'committee_officer'];

/** Ticket permissions (DESIGN.md "Access"): staff handle, committees and authorities read, owners see theirs and public ones, contractors what is assigned to them. */
export function ticketPermissions(access: CommunityAccess, actor: Actor, t: TicketFacts): Set<TicketAction> {
  const can = new Set<TicketAction>();
  const has = (s: Stance) => access.stances.has(s);
  if (TICKET_STAFF.some(has)) ['read', 'comment', 'comment_internal', 'manage'].forEach((a) => can.add(a as TicketAction));
  if (has('committee_member') || has('authority')) can.add('read');
  if (has('committee_member')) can.add('comment');
  const myContractorOrgs = actor.memberships.filter((m) => m.kind === 'contractor').map((m) => m.organizationId);
  const assignedToMe = t.assignee_user_id === actor.userId || (t.assignee_org_id !== null && myContractorOrgs.includes(t.assignee_org_id));
  if (assignedToMe) ['read', 'comment', 'comment_internal', 'work'].forEach((a) => can.add(a as TicketAction));
  if (t.reporter_user_id === actor.userId) ['read', 'comment', 'confirm', 'rate'].forEach((a) => can.add(a as TicketAction));
  if (has('owner') && t.is_public) can.add('read');
  return can;
}

/** The actor's memberships sorted by what they grant, for the SQL visibility conditions below. */
function membershipScope(actor: Actor) {
  const orgsOf = (keep: (kind: Actor['memberships'][number]['kind']) => boolean) => actor.memberships.filter((m) => keep(m.kind)).map((m) => m.organizationId);
  return {
    companyOrgs: orgsOf((k) => k === 'property_company'),
    contractorOrgs: orgsOf((k) => k === 'contractor'),
    dutyOrgs: orgsOf((k) => DUTY_KINDS.includes(k)),
    committeeCommunities: actor.memberships.filter((m) => COMMITTEE_KINDS.includes(m.kind) && m.communityId).map((m) => m.communityId as string),
    districts: actor.memberships.filter((m) => m.kind === 'authority' && m.district).map((m) => m.district as string),
  };
}

/**
 * The SQL condition for tickets an actor may see, for lists across communities: the same rules
 * as ticketPermissions(…).has('read'), in one query.
 */
export function visibleTicket(actor: Actor, alias: string): Expression<SqlBool> {
  if (actor.isPlatformAdmin) return sql<SqlBool>`true`;
  const col = (c: string) => sql.ref(`${alias}.${c}`);
  const { companyOrgs, contractorOrgs, committeeCommunities, districts } = membershipScope(actor);
  return sql<SqlBool>`(
    ${col('community_id')} IN (SELECT d.community_id FROM duty_assignments d WHERE d.organization_id = ANY(${companyOrgs}::uuid[]) AND ${activeDuty})
    OR ${col('community_id')} = ANY(${committeeCommunities}::uuid[])
    OR ${col('community_id')} IN (SELECT c.id FROM communities c WHERE c.district = ANY(${districts}::text[]))
    OR ${col('reporter_user_id')} = ${actor.userId}
    OR ${col('assignee_user_id')} = ${actor.userId}
    OR ${col('assignee_org_id')} = ANY(${contractorOrgs}::uuid[])
    OR (${col('is_public')} AND ${col('community_id')} IN (SELECT o.community_id FROM owners o WHERE o.user_id = ${actor.userId}))
  )`;
}

/** Above this many communities served, a list across communities filters one newest-first scan instead. */
const BROAD_SCOPE_COMMUNITIES = 200;

/**
 * One part of the tickets an actor may see: every ticket (`where`, if any) of a set of
 * communities (`communities`: a one-column SELECT of ids), or the tickets matching `where`.
 */
export type TicketBranch = { communities: Expression<unknown>; where?: Expression<SqlBool> } | { communities?: undefined; where: Expression<SqlBool> };

/**
 * visibleTicket split into branches whose union is the same set, each of which an index can
 * serve (a per-community scan, the reporter's or assignee's index), for lists across
 * communities: the OR of sub-selects cannot drive an index, so the list read tickets newest
 * first and discarded other communities'. null where visibleTicket alone is the better plan:
 * platform admins (everything), and staff of very many communities (a page per community would
 * cost more than discarding the few tickets of communities they do not serve).
 */
export function visibleTicketBranches(actor: Actor, alias: string): TicketBranch[] | null {
  if (actor.isPlatformAdmin || (actor.communities?.duty.size ?? 0) > BROAD_SCOPE_COMMUNITIES) return null;
  const col = (c: string) => sql.ref(`${alias}.${c}`);
  const { companyOrgs, contractorOrgs, committeeCommunities, districts } = membershipScope(actor);
  const whole: Expression<unknown>[] = [];
  if (companyOrgs.length) whole.push(sql`SELECT d.community_id FROM duty_assignments d WHERE d.organization_id = ANY(${companyOrgs}::uuid[]) AND ${activeDuty}`);
  if (committeeCommunities.length) whole.push(sql`SELECT unnest(${committeeCommunities}::uuid[])`);
  if (districts.length) whole.push(sql`SELECT c.id FROM communities c WHERE c.district = ANY(${districts}::text[])`);
  const branches: TicketBranch[] = [];
  if (whole.length) branches.push({ communities: sql.join(whole, sql` UNION `) });
  branches.push({ where: sql<SqlBool>`${col('reporter_user_id')} = ${actor.userId}` });
  branches.push({ where: sql<SqlBool>`${col('assignee_user_id')} = ${actor.userId}` });
  if (contractorOrgs.length) branches.push({ where: sql<SqlBool>`${col('assignee_org_id')} = ANY(${contractorOrgs}::uuid[])` });
  branches.push({ communities: sql`SELECT o.community_id FROM owners o WHERE o.user_id = ${actor.userId}`, where: sql<SqlBool>`${col('is_public')}` });
  return branches;
}

/** District reports: the district's authorities and platform admins. */
export function canReadDistrict(actor: Actor, district: string): boolean {
  return actor.isPlatformAdmin || actor.memberships.some((m) => m.kind === 'authority' && m.district === district);
}

/** What an actor may do with one inspection plan or task. */
export type InspectionAction =
  | 'read'
  /** Change the plan, deactivate it. */
  | 'manage'
  /** Record results and patrol check-ins on the task. */
  | 'perform';

interface InspectionFacts {
  community_id: string;
  assignee_org_id: string | null;
  assignee_user_id: string | null;
}

/**
 * Inspection permissions (issue 6): staff who manage facilities manage plans and perform any
 * task; committee members and the authority read; a contractor (or anyone) assigned to a plan or
 * task reads and performs it, and sees no other; owners see no inspection internals.
 */
export function inspectionPermissions(access: CommunityAccess, actor: Actor, f: InspectionFacts): Set<InspectionAction> {
  const can = new Set<InspectionAction>();
  if (access.can('inspections.manage')) ['read', 'manage', 'perform'].forEach((a) => can.add(a as InspectionAction));
  if (access.stances.has('committee_member') || access.stances.has('authority')) can.add('read');
  const myOrgs = actor.memberships.filter((m) => DUTY_KINDS.includes(m.kind)).map((m) => m.organizationId);
  const assignedToMe = f.assignee_user_id === actor.userId || (f.assignee_org_id !== null && myOrgs.includes(f.assignee_org_id));
  if (assignedToMe && access.can('community.read')) ['read', 'perform'].forEach((a) => can.add(a as InspectionAction));
  return can;
}

/**
 * The SQL condition for inspection plans or tasks (columns community_id, assignee_org_id,
 * assignee_user_id) an actor may see, for lists across communities: the same rules as
 * inspectionPermissions(…).has('read').
 */
export function visibleInspection(actor: Actor, alias: string): Expression<SqlBool> {
  if (actor.isPlatformAdmin) return sql<SqlBool>`true`;
  const col = (c: string) => sql.ref(`${alias}.${c}`);
  const { companyOrgs, dutyOrgs, committeeCommunities, districts } = membershipScope(actor);
  return sql<SqlBool>`(
    ${col('community_id')} IN (SELECT d.community_id FROM duty_assignments d WHERE d.organization_id = ANY(${companyOrgs}::uuid[]) AND ${activeDuty})
    OR ${col('community_id')} = ANY(${committeeCommunities}::uuid[])
    OR ${col('community_id')} IN (SELECT c.id FROM communities c WHERE c.district = ANY(${districts}::text[]))
    OR ((${col('assignee_user_id')} = ${actor.userId} OR ${col('assignee_org_id')} = ANY(${dutyOrgs}::uuid[]))
        AND ${col('community_id')} IN (SELECT d.community_id FROM duty_assignments d WHERE d.organization_id = ANY(${dutyOrgs}::uuid[]) AND ${activeDuty}))
  )`;
}
