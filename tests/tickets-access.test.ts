import { randomBytes, randomUUID } from 'node:crypto';
import type { LightMyRequestResponse } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestApp, type TestApp } from './helpers/app.js';
import { ROLES, as, makeTwoWorlds, makeUnit, makeUser, type CommunityWorld, type Role } from './helpers/factories.js';

/**
 * The ticket access matrix (DESIGN.md "Access"; ticketPermissions and visibleTicket in
 * src/plugins/access.ts): every role of community A against five kinds of ticket and every
 * ticket route. Another community's tickets answer 404 for everyone but the platform admin;
 * owners see their own and public tickets; contractors the tickets assigned to them;
 * committee members and the authority read (committee members also comment); staff handle.
 */

const API = '/api/v1';
const uniq = () => randomBytes(4).toString('hex');

type Who = Role | 'anonymous';
const WHO: readonly Who[] = [...ROLES, 'anonymous'];

const TARGETS = ['ownPublic', 'otherPrivate', 'cameraAssigned', 'notAssigned', 'otherCommunity'] as const;
type Target = (typeof TARGETS)[number];

/** One column per target, in the order of TARGETS. */
type Cells<T> = Record<Target, T>;
const cells = <T,>(ownPublic: T, otherPrivate: T, cameraAssigned: T, notAssigned: T, otherCommunity: T): Cells<T> => ({ ownPublic, otherPrivate, cameraAssigned, notAssigned, otherCommunity });
const all = <T,>(v: T): Cells<T> => cells(v, v, v, v, v);

//                 ownPublic  otherPrivate  camera  notAssigned  otherCommunity
const STAFF_READ = cells(200, 200, 200, 200, 404);
const READ: Record<Who, Cells<number>> = {
  platformAdmin: all(200),
  propertyManager: STAFF_READ,
  technician: STAFF_READ,
  committeeChair: STAFF_READ,
  committeeMember: STAFF_READ,
  owner: cells(200, 404, 200, 200, 404),
  contractor: cells(404, 404, 200, 404, 404),
  authority: STAFF_READ,
  anonymous: all(401),
};

const COMMENT: Record<Who, Cells<number>> = {
  platformAdmin: all(201),
  propertyManager: cells(201, 201, 201, 201, 404),
  technician: cells(201, 201, 201, 201, 404),
  committeeChair: cells(201, 201, 201, 201, 404),
  committeeMember: cells(201, 201, 201, 201, 404),
  // The reporter comments on their own ticket; a public one of someone else is read-only.
  owner: cells(201, 404, 403, 403, 404),
  contractor: cells(404, 404, 201, 404, 404),
  authority: cells(403, 403, 403, 403, 404),
  anonymous: all(401),
};

const PATCH: Record<Who, Cells<number>> = {
  platformAdmin: all(200),
  propertyManager: cells(200, 200, 200, 200, 404),
  technician: cells(200, 200, 200, 200, 404),
  committeeChair: cells(200, 200, 200, 200, 404),
  committeeMember: cells(403, 403, 403, 403, 404),
  owner: cells(403, 404, 403, 403, 404),
  contractor: cells(404, 404, 403, 404, 404),
  authority: cells(403, 403, 403, 403, 404),
  anonymous: all(401),
};

/** new → acknowledged. */
const ACKNOWLEDGE: Record<Who, Cells<number>> = {
  platformAdmin: all(200),
  propertyManager: cells(200, 200, 200, 200, 404),
  technician: cells(200, 200, 200, 200, 404),
  committeeChair: cells(200, 200, 200, 200, 404),
  committeeMember: cells(403, 403, 403, 403, 404),
  // The reporter may cancel a new ticket, not acknowledge it.
  owner: cells(403, 404, 403, 403, 404),
  contractor: cells(404, 404, 200, 404, 404),
  authority: cells(403, 403, 403, 403, 404),
  anonymous: all(401),
};

/** Rating a closed ticket: the reporter only (ownPublic: the owner; cameraAssigned: the technician; notAssigned: the manager). */
const RATE: Record<Who, Cells<number>> = {
  platformAdmin: all(403),
  propertyManager: cells(403, 403, 403, 200, 404),
  technician: cells(403, 403, 200, 403, 404),
  committeeChair: cells(403, 403, 403, 403, 404),
  committeeMember: cells(403, 403, 403, 403, 404),
  owner: cells(200, 404, 403, 403, 404),
  contractor: cells(404, 404, 403, 404, 404),
  authority: cells(403, 403, 403, 403, 404),
  anonymous: all(401),
};

let t: TestApp;
let A: CommunityWorld;
let B: CommunityWorld;
let otherOwner: { id: string };
/** The shared ticket of each target (reads, comments and same-value PATCHes change nothing that matters). */
const shared = {} as Record<Target, { id: string; title: string }>;

async function report(reporterId: string, world: CommunityWorld, body: Record<string, unknown>) {
  const title = `ACC-${uniq()}-${String(body.title ?? 'ticket')}`;
  const res = await as(t.app, reporterId)({ method: 'POST', url: `${API}/tickets`, payload: { communityId: world.community.id, ...body, title } });
  expect(res.statusCode, res.body).toBe(201);
  return { id: res.json().id as string, title, json: res.json() };
}

/** A fresh ticket of each kind, status new. */
const MAKE: Record<Target, () => ReturnType<typeof report>> = {
  ownPublic: () => report(A.users.owner.id, A, { title: '楼道灯不亮', category: 'lighting' }),
  otherPrivate: () => report(otherOwner.id, A, { title: '卫生间漏水', category: 'other', isPublic: false }),
  cameraAssigned: () => report(A.users.technician.id, A, { title: '南门摄像机黑屏', facilityId: A.facility.id }),
  notAssigned: () => report(A.users.propertyManager.id, A, { title: '电梯异响', category: 'elevator' }),
  otherCommunity: () => report(B.users.owner.id, B, { title: '别的小区摄像机', facilityId: B.facility.id }),
};

beforeAll(async () => {
  t = await createTestApp();
  ({ a: A, b: B } = await makeTwoWorlds(t.db));
  otherOwner = await makeUser(t.db);
  await makeUnit(t.db, A.community.id, A.building.id, { ownerUserId: otherOwner.id });
  for (const target of TARGETS) shared[target] = await MAKE[target]();
  // The fixtures are what their names say.
  const cam = await t.db.selectFrom('tickets').selectAll().where('id', '=', shared.cameraAssigned.id).executeTakeFirstOrThrow();
  expect([cam.category, cam.assignee_org_id]).toEqual(['camera', A.orgs.contractor.id]);
  const lift = await t.db.selectFrom('tickets').selectAll().where('id', '=', shared.notAssigned.id).executeTakeFirstOrThrow();
  expect(lift.assignee_org_id).not.toBe(A.orgs.contractor.id);
  const priv = await t.db.selectFrom('tickets').selectAll().where('id', '=', shared.otherPrivate.id).executeTakeFirstOrThrow();
  expect([priv.is_public, priv.reporter_user_id]).toEqual([false, otherOwner.id]);
  const other = await t.db.selectFrom('tickets').selectAll().where('id', '=', shared.otherCommunity.id).executeTakeFirstOrThrow();
  expect(other.community_id).toBe(B.community.id);
});
afterAll(async () => t?.close());

const client = (role: Who) => as(t.app, role === 'anonymous' ? null : A.users[role].id);

/** A 404 that is the guard's and carries nothing of the ticket. */
function expectHidden(res: LightMyRequestResponse, title: string) {
  expect(res.json().error.code).toBe('NOT_FOUND');
  expect(res.json().error.message).toBe('Ticket not found');
  expect(res.body).not.toContain(title);
}

function expectStatus(res: LightMyRequestResponse, status: number, title: string) {
  expect(res.statusCode, res.body).toBe(status);
  if (status === 404) expectHidden(res, title);
  if (status === 403) expect(res.json().error.code).toBe('FORBIDDEN');
  if (status === 401) expect(res.json().error.code).toBe('UNAUTHORIZED');
}

const matrix = (table: Record<Who, Cells<number>>) => WHO.flatMap((role) => TARGETS.map((target) => ({ role, target, expect: table[role][target] })));

describe('ticket access matrix', () => {
  it.each(matrix(READ))('GET /tickets/:id as $role on $target → $expect', async ({ role, target, expect: status }) => {
    const res = await client(role)({ method: 'GET', url: `${API}/tickets/${shared[target].id}` });
    expectStatus(res, status, shared[target].title);
    if (status === 200) expect(res.json()).toMatchObject({ id: shared[target].id, title: shared[target].title });
  });

  it.each(matrix(READ))('GET /tickets as $role lists $target: $expect', async ({ role, target, expect: status }) => {
    const res = await client(role)({ method: 'GET', url: `${API}/tickets?q=${encodeURIComponent(shared[target].title)}` });
    if (status === 401) return expectStatus(res, 401, shared[target].title);
    expect(res.statusCode, res.body).toBe(200);
    const ids = res.json().items.map((x: { id: string }) => x.id);
    // The list shows exactly what GET /tickets/:id would show.
    expect(ids).toEqual(status === 200 ? [shared[target].id] : []);
    if (status !== 200) expect(res.body).not.toContain(shared[target].title);
  });

  it.each(matrix(COMMENT))('POST /tickets/:id/comments as $role on $target → $expect', async ({ role, target, expect: status }) => {
    const res = await client(role)({ method: 'POST', url: `${API}/tickets/${shared[target].id}/comments`, payload: { body: `来自 ${role} 的留言` } });
    expectStatus(res, status, shared[target].title);
  });

  it.each(matrix(PATCH))('PATCH /tickets/:id as $role on $target → $expect', async ({ role, target, expect: status }) => {
    const before = await t.db.selectFrom('tickets').select(['priority', 'sla_version']).where('id', '=', shared[target].id).executeTakeFirstOrThrow();
    const res = await client(role)({ method: 'PATCH', url: `${API}/tickets/${shared[target].id}`, payload: { priority: before.priority } });
    expectStatus(res, status, shared[target].title);
    const after = await t.db.selectFrom('tickets').select(['priority', 'sla_version']).where('id', '=', shared[target].id).executeTakeFirstOrThrow();
    expect(after).toEqual(before);
  });

  it.each(matrix(ACKNOWLEDGE))('POST /tickets/:id/transitions (acknowledge) as $role on $target → $expect', async ({ role, target, expect: status }) => {
    const ticket = await MAKE[target]();
    const res = await client(role)({ method: 'POST', url: `${API}/tickets/${ticket.id}/transitions`, payload: { to: 'acknowledged' } });
    expectStatus(res, status, ticket.title);
    const row = await t.db.selectFrom('tickets').select('status').where('id', '=', ticket.id).executeTakeFirstOrThrow();
    expect(row.status).toBe(status === 200 ? 'acknowledged' : 'new');
  });

  it.each(matrix(RATE))('POST /tickets/:id/rating (closed) as $role on $target → $expect', async ({ role, target, expect: status }) => {
    const ticket = await MAKE[target]();
    const staff = as(t.app, (target === 'otherCommunity' ? B : A).users.propertyManager.id);
    for (const to of ['acknowledged', 'in_progress', 'resolved', 'closed']) {
      const moved = await staff({ method: 'POST', url: `${API}/tickets/${ticket.id}/transitions`, payload: { to } });
      expect(moved.statusCode, moved.body).toBe(200);
    }
    const res = await client(role)({ method: 'POST', url: `${API}/tickets/${ticket.id}/rating`, payload: { score: 4 } });
    expectStatus(res, status, ticket.title);
    const row = await t.db.selectFrom('tickets').select('rating').where('id', '=', ticket.id).executeTakeFirstOrThrow();
    expect(row.rating).toBe(status === 200 ? 4 : null);
  });
});

describe('internal comments in the matrix', () => {
  it('staff and the assigned contractor post internal comments; committee members, owners and the authority cannot', async () => {
    const cases: Array<[Who, Target, number]> = [
      ['propertyManager', 'notAssigned', 201],
      ['technician', 'otherPrivate', 201],
      ['committeeChair', 'ownPublic', 201],
      ['contractor', 'cameraAssigned', 201],
      ['committeeMember', 'ownPublic', 403],
      ['owner', 'ownPublic', 403],
      ['authority', 'ownPublic', 403],
      ['contractor', 'notAssigned', 404],
    ];
    for (const [role, target, status] of cases) {
      const res = await client(role)({ method: 'POST', url: `${API}/tickets/${shared[target].id}/comments`, payload: { body: `内部 ${role}`, internal: true } });
      expect(res.statusCode, `${role} on ${target}: ${res.body}`).toBe(status);
    }
    const reporterView = await client('owner')({ method: 'GET', url: `${API}/tickets/${shared.ownPublic.id}` });
    expect(reporterView.json().comments.some((c: { internal: boolean }) => c.internal)).toBe(false);
    const memberView = await client('committeeMember')({ method: 'GET', url: `${API}/tickets/${shared.ownPublic.id}` });
    expect(memberView.json().comments.some((c: { internal: boolean }) => c.internal)).toBe(false);
  });
});

describe('lists by role', () => {
  it('owners see only their own and public tickets; contractors only assigned ones; nobody but the admin sees B', async () => {
    const ids = async (role: Who) => {
      const res = await client(role)({ method: 'GET', url: `${API}/tickets?q=ACC-&limit=200` });
      expect(res.statusCode).toBe(200);
      return res.json().items as Array<{ id: string; communityId: string; isPublic: boolean; reporter: { userId: string | null }; assigneeOrgId: string | null }>;
    };
    const owner = await ids('owner');
    expect(owner.length).toBeGreaterThan(0);
    for (const x of owner) expect(x.isPublic || x.reporter.userId === A.users.owner.id).toBe(true);
    expect(owner.every((x) => x.communityId === A.community.id)).toBe(true);
    const contractor = await ids('contractor');
    expect(contractor.length).toBeGreaterThan(0);
    expect(contractor.every((x) => x.assigneeOrgId === A.orgs.contractor.id)).toBe(true);
    for (const role of ['propertyManager', 'technician', 'committeeChair', 'committeeMember', 'authority'] as const) {
      expect((await ids(role)).every((x) => x.communityId === A.community.id), role).toBe(true);
    }
    const admin = await ids('platformAdmin');
    expect(admin.some((x) => x.communityId === B.community.id)).toBe(true);
    // A community filter does not widen anything.
    const forced = await client('propertyManager')({ method: 'GET', url: `${API}/tickets?communityId=${B.community.id}` });
    expect(forced.statusCode).toBe(200);
    expect(forced.json().items).toEqual([]);
  });

  it('another community’s ticket answers exactly like a ticket that does not exist', async () => {
    const pm = client('propertyManager');
    const hidden = await pm({ method: 'GET', url: `${API}/tickets/${shared.otherCommunity.id}` });
    const absent = await pm({ method: 'GET', url: `${API}/tickets/${randomUUID()}` });
    expect(hidden.statusCode).toBe(404);
    expect(hidden.json()).toEqual(absent.json());
  });
});

// ---------------------------------------------------------------------------------------------
// Creating tickets and rectification orders
// ---------------------------------------------------------------------------------------------

const deadline = () => new Date(Date.now() + 14 * 86_400_000).toISOString();

//                         admin pm   tech chair memb owner contr auth anon
const CREATE_FAULT_OWN: Record<Who, number> = { platformAdmin: 201, propertyManager: 201, technician: 201, committeeChair: 201, committeeMember: 201, owner: 201, contractor: 403, authority: 403, anonymous: 401 };
const CREATE_RECT_OWN: Record<Who, number> = { platformAdmin: 201, propertyManager: 403, technician: 403, committeeChair: 403, committeeMember: 403, owner: 403, contractor: 403, authority: 201, anonymous: 401 };

describe('POST /tickets by role', () => {
  it.each(WHO.map((role) => ({ role, expect: CREATE_FAULT_OWN[role] })))('a fault in A as $role → $expect', async ({ role, expect: status }) => {
    const title = `报修-${uniq()}`;
    const res = await client(role)({ method: 'POST', url: `${API}/tickets`, payload: { communityId: A.community.id, title, category: 'roof' } });
    expect(res.statusCode, res.body).toBe(status);
    const stored = await t.db.selectFrom('tickets').select('id').where('title', '=', title).execute();
    expect(stored).toHaveLength(status === 201 ? 1 : 0);
  });

  it.each(WHO.map((role) => ({ role, expect: role === 'platformAdmin' ? 201 : role === 'anonymous' ? 401 : 404 })))('a fault in B as $role of A → $expect', async ({ role, expect: status }) => {
    const title = `报修-${uniq()}`;
    const res = await client(role)({ method: 'POST', url: `${API}/tickets`, payload: { communityId: B.community.id, title, category: 'roof' } });
    expect(res.statusCode, res.body).toBe(status);
    if (status === 404) expect(res.body).not.toContain(B.community.name);
    expect(await t.db.selectFrom('tickets').select('id').where('title', '=', title).execute()).toHaveLength(status === 201 ? 1 : 0);
  });

  it.each(WHO.map((role) => ({ role, expect: CREATE_RECT_OWN[role] })))('a rectification order in A as $role → $expect', async ({ role, expect: status }) => {
    const title = `整改-${uniq()}`;
    const due = deadline();
    const res = await client(role)({ method: 'POST', url: `${API}/tickets`, payload: { communityId: A.community.id, kind: 'rectification', title, category: 'fire_equipment', rectificationDeadline: due } });
    expect(res.statusCode, res.body).toBe(status);
    if (status === 201) {
      expect(res.json()).toMatchObject({ kind: 'rectification', rectificationDeadline: due, communityId: A.community.id });
      if (role === 'authority') expect(res.json().channel).toBe('authority');
    }
    expect(await t.db.selectFrom('tickets').select('id').where('title', '=', title).execute()).toHaveLength(status === 201 ? 1 : 0);
  });

  it('the authority: a rectification needs its deadline, only in its district, and stays read-only afterwards', async () => {
    const auth = client('authority');
    const noDeadline = await auth({ method: 'POST', url: `${API}/tickets`, payload: { communityId: A.community.id, kind: 'rectification', title: '消防通道堵塞' } });
    expect(noDeadline.statusCode).toBe(400);
    const elsewhere = await auth({ method: 'POST', url: `${API}/tickets`, payload: { communityId: B.community.id, kind: 'rectification', title: '消防通道堵塞', rectificationDeadline: deadline() } });
    expect(elsewhere.statusCode).toBe(404);
    const ok = await auth({ method: 'POST', url: `${API}/tickets`, payload: { communityId: A.community.id, kind: 'rectification', title: `消防通道堵塞-${uniq()}`, rectificationDeadline: deadline() } });
    expect(ok.statusCode, ok.body).toBe(201);
    const id = ok.json().id;
    // Staff handle it; the authority reads it and cannot work it.
    expect((await auth({ method: 'GET', url: `${API}/tickets/${id}` })).statusCode).toBe(200);
    expect((await auth({ method: 'PATCH', url: `${API}/tickets/${id}`, payload: { priority: 'P1' } })).statusCode).toBe(403);
    expect((await auth({ method: 'POST', url: `${API}/tickets/${id}/transitions`, payload: { to: 'acknowledged' } })).statusCode).toBe(403);
    expect((await client('propertyManager')({ method: 'POST', url: `${API}/tickets/${id}/transitions`, payload: { to: 'acknowledged' } })).statusCode).toBe(200);
    // B's authority does not see A's district.
    expect((await as(t.app, B.users.authority.id)({ method: 'GET', url: `${API}/tickets/${id}` })).statusCode).toBe(404);
  });

  it('a kind other than fault or rectification is refused', async () => {
    const res = await client('propertyManager')({ method: 'POST', url: `${API}/tickets`, payload: { communityId: A.community.id, kind: 'alarm', title: '伪造的告警' } });
    expect(res.statusCode).toBe(400);
  });
});

describe('lists across communities are the union of visibleTicketBranches', () => {
  it('every role pages (2 per page, both sorts, with and without filters) through exactly the tickets visibleTicket allows, in order', async () => {
    const { loadActor } = await import('../src/plugins/auth.js');
    const { visibleTicket } = await import('../src/plugins/access.js');
    const { listTickets } = await import('../src/modules/tickets/tickets.repository.js');
    // More tickets in A, and one in B the technician reports (visible to them as its reporter).
    for (let i = 0; i < 3; i++) await MAKE.ownPublic();
    await MAKE.otherPrivate();
    // Tickets of B the technician of A reported or is assigned (their branches reach past the visible communities).
    const reportedInB = await MAKE.otherCommunity();
    const assignedInB = await MAKE.otherCommunity();
    await t.db.updateTable('tickets').set({ reporter_user_id: A.users.technician.id }).where('id', '=', reportedInB.id).execute();
    await t.db.updateTable('tickets').set({ assignee_user_id: A.users.technician.id }).where('id', '=', assignedInB.id).execute();
    const cases: Array<{ query: string; filters: Record<string, unknown>; sort: 'created' | 'due' }> = [
      { query: '', filters: {}, sort: 'created' },
      { query: 'sort=due', filters: {}, sort: 'due' },
      { query: 'status=new,acknowledged', filters: { status: ['new', 'acknowledged'] }, sort: 'created' },
      { query: 'sort=due&category=camera', filters: { category: 'camera' }, sort: 'due' },
    ];
    for (const role of ROLES) {
      const actor = await loadActor(t.db, A.users[role].id);
      if (!actor) throw new Error(`no actor ${role}`);
      for (const c of cases) {
        // The reference: the single OR condition, no limit that matters.
        const expected = (await listTickets(t.db, visibleTicket(actor, 't'), c.filters, c.sort, undefined, 10_000)).map((r) => r.id);
        const seen: string[] = [];
        let cursor: string | null = null;
        for (let page = 0; page < 500; page++) {
          const res = await client(role)({ method: 'GET', url: `${API}/tickets?limit=2&${c.query}${cursor ? `&cursor=${cursor}` : ''}` });
          expect(res.statusCode, res.body).toBe(200);
          const body = res.json() as { items: Array<{ id: string }>; nextCursor: string | null };
          seen.push(...body.items.map((x) => x.id));
          cursor = body.nextCursor;
          if (!cursor) break;
        }
        expect(seen, `${role} ${c.query}`).toEqual(expected);
        if (role === 'propertyManager' && c.query === '') expect(seen.length).toBeGreaterThan(4);
      }
    }
    const tech = await client('technician')({ method: 'GET', url: `${API}/tickets?limit=200` });
    expect(tech.json().items.map((x: { id: string }) => x.id)).toEqual(expect.arrayContaining([reportedInB.id, assignedInB.id]));
  });
});

describe('communityAccess from the facts read with the actor', () => {
  it('gives every role the same stances in A, B and an unknown community as reading the database does; an ended duty counts for neither', async () => {
    const { loadActor } = await import('../src/plugins/auth.js');
    const { communityAccess } = await import('../src/plugins/access.js');
    // A's company also held a duty in B that has ended, and will hold one that has not begun.
    const past = new Date(Date.now() - 10 * 86_400_000);
    await t.db.insertInto('duty_assignments').values({ community_id: B.community.id, organization_id: A.orgs.company.id, basis: 'service_contract', facility_category: 'roof', valid_from: past, valid_to: new Date(Date.now() - 86_400_000) }).execute();
    await t.db.insertInto('duty_assignments').values({ community_id: B.community.id, organization_id: A.orgs.company.id, basis: 'service_contract', facility_category: 'drainage', valid_from: new Date(Date.now() + 86_400_000), valid_to: null }).execute();
    for (const role of ROLES) {
      const actor = await loadActor(t.db, A.users[role].id);
      if (!actor) throw new Error(`no actor ${role}`);
      expect(actor.communities, role).toBeDefined();
      const { communities: _, ...fromDatabase } = actor;
      for (const id of [A.community.id, A.community.id.toUpperCase(), B.community.id, randomUUID()]) {
        const fast = await communityAccess(t.db, actor, id);
        const slow = await communityAccess(t.db, fromDatabase, id);
        expect([...fast.stances].sort(), `${role} in ${id}`).toEqual([...slow.stances].sort());
        if (slow.stances.size > 0) expect(fast.communityId).toBe(slow.communityId);
      }
    }
    // A membership removed takes effect on the next request (the facts are read per request).
    await t.db.deleteFrom('memberships').where('user_id', '=', A.users.technician.id).where('organization_id', '=', A.orgs.company.id).execute();
    const after = await loadActor(t.db, A.users.technician.id);
    expect((await communityAccess(t.db, after as NonNullable<typeof after>, A.community.id)).stances.size).toBe(0);
  });
});

describe('visibleTicketBranches scope', () => {
  it('staff of more than 200 communities keep the single condition (null); fewer get branches; admins null', async () => {
    const { visibleTicketBranches } = await import('../src/plugins/access.js');
    const staff = (n: number) => ({
      userId: randomUUID(),
      email: 'x@example.cn',
      name: 'x',
      locale: 'zh-CN' as const,
      isPlatformAdmin: false,
      memberships: [{ organizationId: randomUUID(), kind: 'property_company' as const, role: 'staff' as const, communityId: null, district: null }],
      communities: { duty: new Map(Array.from({ length: n }, () => [randomUUID(), []] as [string, string[]])), owned: new Set<string>() },
    });
    expect(visibleTicketBranches(staff(200), 't')).not.toBeNull();
    expect(visibleTicketBranches(staff(201), 't')).toBeNull();
    expect(visibleTicketBranches({ ...staff(1), isPlatformAdmin: true }, 't')).toBeNull();
  });
});
