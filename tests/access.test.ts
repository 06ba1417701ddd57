import { randomBytes, randomUUID } from 'node:crypto';
import type { InjectOptions, LightMyRequestResponse } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestApp, type TestApp } from './helpers/app.js';
import { ROLES, as, assignDuty, makeBuilding, makeCommunity, makeOrg, makeTwoWorlds, makeUnit, makeUser, addMembership, type CommunityWorld, type Role } from './helpers/factories.js';

/**
 * The access matrix (DESIGN.md "Access"; CAPABILITIES in src/plugins/access.ts).
 *
 * Every community-scoped route is a row of ROUTES below, with what each role gets in its OWN
 * community. The same routes aimed at the OTHER community's records answer 404 for every
 * non-admin role (never 403, never data), 401 anonymous, and work for the platform admin.
 * A route the app serves that has no row here fails the coverage test at the bottom.
 */

const API = '/api/v1';
const uniq = () => randomBytes(4).toString('hex');

type Who = Role | 'anonymous';
const WHO: readonly Who[] = [...ROLES, 'anonymous'];
type Method = 'GET' | 'POST' | 'PATCH' | 'PUT' | 'DELETE';

/** Builds the request for a route aimed at world `w`'s records. */
type RequestFor = (w: CommunityWorld) => Omit<InjectOptions, 'method'> & { url: string };

interface RouteSpec {
  method: Method;
  /** The path as registered (Fastify syntax), without the /api/v1 prefix. */
  route: string;
  request: RequestFor;
  /** The status of a successful call (200 or 201; 204 for a DELETE). */
  ok: 200 | 201 | 204;
  /** What each role gets on its own community's records. */
  own: Record<Who, number>;
}

const phone = () => `139${String(Math.floor(Math.random() * 1e8)).padStart(8, '0')}`;

//                                          admin  pm   tech chair memb owner contr auth  anon
const READ_ALL = row(200, 200, 200, 200, 200, 200, 200, 200, 401);
const STRUCTURE = row(201, 201, 403, 201, 403, 403, 403, 403, 401);
const FACILITIES_W = row(201, 201, 201, 201, 403, 403, 403, 403, 401);
const FACILITIES_PATCH = row(200, 200, 200, 200, 403, 403, 403, 403, 401);
const UNIT_REGISTER = row(200, 200, 200, 200, 200, 200, 403, 200, 401); // owner: only their own units
const ONE_UNIT = row(200, 200, 200, 200, 200, 200, 404, 200, 401); // the world's unit is the owner's own
const AUDIT = row(200, 200, 403, 200, 200, 403, 403, 200, 401);
const REPORTS = row(200, 200, 200, 200, 200, 403, 403, 200, 401);
const DUTIES_W = row(201, 201, 403, 201, 403, 403, 403, 403, 401); // property managers only delegate to contractors
const DUTIES_PATCH = row(200, 200, 403, 200, 403, 403, 403, 403, 401); // the world's duty is the contractor's delegation
const SLA_W = row(201, 201, 403, 201, 403, 403, 403, 403, 401); // sla.manage: calendar, SLA policies, settings
const SLA_PUT = row(200, 200, 403, 200, 403, 403, 403, 403, 401);
const SLA_DELETE = row(204, 204, 403, 204, 403, 403, 403, 403, 401);
const INSPECTIONS_R = row(200, 200, 200, 200, 200, 403, 200, 200, 401); // owners see no inspection internals
const INSPECTIONS_W = row(200, 200, 200, 200, 403, 403, 403, 403, 401); // inspections.manage

function row(
  platformAdmin: number,
  propertyManager: number,
  technician: number,
  committeeChair: number,
  committeeMember: number,
  owner: number,
  contractor: number,
  authority: number,
  anonymous: number,
): Record<Who, number> {
  return { platformAdmin, propertyManager, technician, committeeChair, committeeMember, owner, contractor, authority, anonymous };
}

const ROUTES: RouteSpec[] = [
  { method: 'GET', route: '/communities/:id', ok: 200, own: READ_ALL, request: (w) => ({ url: `/communities/${w.community.id}` }) },
  { method: 'GET', route: '/communities/:id/buildings', ok: 200, own: READ_ALL, request: (w) => ({ url: `/communities/${w.community.id}/buildings` }) },
  {
    method: 'POST',
    route: '/communities/:id/buildings',
    ok: 201,
    own: STRUCTURE,
    request: (w) => ({ url: `/communities/${w.community.id}/buildings`, payload: { name: `楼-${uniq()}` } }),
  },
  { method: 'GET', route: '/communities/:id/units', ok: 200, own: UNIT_REGISTER, request: (w) => ({ url: `/communities/${w.community.id}/units` }) },
  {
    method: 'POST',
    route: '/communities/:id/units',
    ok: 201,
    own: STRUCTURE,
    request: (w) => ({
      url: `/communities/${w.community.id}/units`,
      payload: { buildingId: w.building.id, number: `U${uniq()}`, areaM2: '88.50', firstDeposit: '5000', owners: [{ name: '王五', phone: phone() }] },
    }),
  },
  {
    method: 'POST',
    route: '/communities/:id/units/import',
    ok: 201,
    own: STRUCTURE,
    request: (w) => ({
      url: `/communities/${w.community.id}/units/import`,
      headers: { 'content-type': 'text/csv' },
      payload: `building,unit number,area m²,owner name,owner phone,owner email,first deposit\nI-${uniq()},101,77.10,赵六,${phone()},,1000.00\n`,
    }),
  },
  { method: 'GET', route: '/communities/:id/facilities', ok: 200, own: READ_ALL, request: (w) => ({ url: `/communities/${w.community.id}/facilities` }) },
  {
    method: 'POST',
    route: '/communities/:id/facilities',
    ok: 201,
    own: FACILITIES_W,
    request: (w) => ({ url: `/communities/${w.community.id}/facilities`, payload: { category: 'camera', name: `摄像机-${uniq()}`, location: '东门' } }),
  },
  { method: 'GET', route: '/facilities/:id', ok: 200, own: READ_ALL, request: (w) => ({ url: `/facilities/${w.facility.id}` }) },
  {
    method: 'PATCH',
    route: '/facilities/:id',
    ok: 200,
    own: FACILITIES_PATCH,
    request: (w) => ({ url: `/facilities/${w.facility.id}`, payload: { location: `位置-${uniq()}` } }),
  },
  { method: 'GET', route: '/units/:id', ok: 200, own: ONE_UNIT, request: (w) => ({ url: `/units/${w.unit.id}` }) },
  { method: 'GET', route: '/audit/communities/:id/events', ok: 200, own: AUDIT, request: (w) => ({ url: `/audit/communities/${w.community.id}/events` }) },
  { method: 'GET', route: '/audit/communities/:id/verify', ok: 200, own: AUDIT, request: (w) => ({ url: `/audit/communities/${w.community.id}/verify` }) },
  { method: 'GET', route: '/communities/:id/fund-summary', ok: 200, own: READ_ALL, request: (w) => ({ url: `/communities/${w.community.id}/fund-summary` }) },
  { method: 'GET', route: '/units/:id/ledger', ok: 200, own: ONE_UNIT, request: (w) => ({ url: `/units/${w.unit.id}/ledger` }) },
  { method: 'GET', route: '/reports/communities/:id/kpis', ok: 200, own: REPORTS, request: (w) => ({ url: `/reports/communities/${w.community.id}/kpis` }) },
  { method: 'GET', route: '/communities/:id/duties', ok: 200, own: READ_ALL, request: (w) => ({ url: `/communities/${w.community.id}/duties` }) },
  { method: 'GET', route: '/communities/:id/duty-holder', ok: 200, own: READ_ALL, request: (w) => ({ url: `/communities/${w.community.id}/duty-holder?category=camera` }) },
  {
    method: 'POST',
    route: '/communities/:id/duties',
    ok: 201,
    own: DUTIES_W,
    request: (w) => ({ url: `/communities/${w.community.id}/duties`, payload: { organizationId: w.orgs.contractor.id, basis: 'delegated_contractor', facilityCategory: 'elevator' } }),
  },
  {
    method: 'PATCH',
    route: '/duties/:id',
    ok: 200,
    own: DUTIES_PATCH,
    request: (w) => ({ url: `/duties/${w.contractorDuty.id}`, payload: { validTo: new Date(Date.now() + 200 * 86_400_000).toISOString() } }),
  },
  { method: 'GET', route: '/communities/:id/calendar', ok: 200, own: READ_ALL, request: (w) => ({ url: `/communities/${w.community.id}/calendar` }) },
  {
    method: 'PUT',
    route: '/communities/:id/calendar',
    ok: 200,
    own: SLA_PUT,
    request: (w) => ({
      url: `/communities/${w.community.id}/calendar`,
      payload: { workingHours: [{ start: '08:30', end: '12:00' }, { start: '13:00', end: '17:30' }], weekendDays: [0, 6], useChinaHolidays: true, overrides: [{ date: '2026-12-31', kind: 'holiday' }] },
    }),
  },
  { method: 'GET', route: '/communities/:id/calendar/days', ok: 200, own: READ_ALL, request: (w) => ({ url: `/communities/${w.community.id}/calendar/days?from=2025-09-27&to=2025-10-09` }) },
  { method: 'GET', route: '/communities/:id/sla-policies', ok: 200, own: READ_ALL, request: (w) => ({ url: `/communities/${w.community.id}/sla-policies` }) },
  {
    method: 'POST',
    route: '/communities/:id/sla-policies',
    ok: 201,
    own: SLA_W,
    // A scope (category × priority) not used before on every call: the first policy of a scope is created (201), a later one replaces it (200).
    request: ((calls = 0) => (w: CommunityWorld) => {
      const i = calls++;
      return {
        url: `/communities/${w.community.id}/sla-policies`,
        payload: {
          priority: (['P1', 'P2', 'P3', 'P4'] as const)[i % 4],
          category: ['camera', 'elevator', 'intercom', 'roof', 'lighting', 'drainage', 'water_pump', 'facade'][Math.floor(i / 4) % 8],
          respond: { value: 2, unit: 'hours' },
          resolve: { value: 2, unit: 'working_days' },
          calendar: 'working_hours',
        },
      };
    })(),
  },
  {
    method: 'DELETE',
    route: '/communities/:id/sla-policies/:policyId',
    ok: 204,
    own: SLA_DELETE,
    // Idempotent: 204 whether or not the community has the policy; the guard decides the rest.
    request: (w) => ({ url: `/communities/${w.community.id}/sla-policies/${randomUUID()}` }),
  },
  { method: 'GET', route: '/communities/:id/settings', ok: 200, own: READ_ALL, request: (w) => ({ url: `/communities/${w.community.id}/settings` }) },
  {
    method: 'PATCH',
    route: '/communities/:id/settings',
    ok: 200,
    own: SLA_PUT,
    request: (w) => ({ url: `/communities/${w.community.id}/settings`, payload: { sla: { warnShare: 0.8 }, tickets: { autoCloseAfterHours: 48 } } }),
  },
  { method: 'GET', route: '/communities/:id/inspection-plans/suggestions', ok: 200, own: INSPECTIONS_R, request: (w) => ({ url: `/communities/${w.community.id}/inspection-plans/suggestions` }) },
  {
    method: 'POST',
    route: '/communities/:id/inspection-plans/adopt-defaults',
    ok: 200,
    own: INSPECTIONS_W,
    // The first call adopts the camera plan, later ones find it adopted: 200 either way.
    request: (w) => ({ url: `/communities/${w.community.id}/inspection-plans/adopt-defaults`, payload: { templates: ['cameras_access'] } }),
  },
];

/**
 * Routes the app serves that are not about one community's records, each with the reason.
 * A new route goes either into ROUTES or here, deliberately.
 */
const NOT_COMMUNITY_SCOPED: Record<string, string> = {
  'GET /public/facilities/:qrToken': 'public (no login): scoped by the facility’s QR token; tests/intake.test.ts',
  'POST /public/facilities/:qrToken/reports': 'public (no login): scoped by the facility’s QR token; tests/intake.test.ts',
  'POST /facilities/:id/devices': 'facility-scoped (requireCommunity facilities.manage on its community); tests/intake.test.ts',
  'GET /facilities/:id/devices': 'facility-scoped (requireCommunity facilities.manage on its community); tests/intake.test.ts',
  'POST /devices/:id/disable': 'device-scoped (requireCommunity facilities.manage on its facility’s community); tests/intake.test.ts',
  'POST /tickets/:id/attachments': 'ticket-scoped (ticketPermissions comment); tests/intake.test.ts',
  'GET /tickets/:id/attachments': 'ticket-scoped (ticketPermissions read); tests/intake.test.ts',
  'GET /tickets/:id/attachments/:attachmentId': 'ticket-scoped (ticketPermissions read); tests/intake.test.ts',
  'GET /communities': 'lists only visible communities: see "GET /communities" below',
  'POST /communities': 'creates a community: see "POST /communities" below',
  'GET /organizations/:id': 'organization-scoped (canSeeOrganization)',
  'GET /organizations/:id/members': 'organization-scoped (canSeeOrganization)',
  'POST /organizations/:id/members': 'organization-scoped (canManageOrganization)',
  'POST /tickets': 'community in the body; ticket access matrix in tests/tickets-access.test.ts',
  'GET /tickets': 'ticket-scoped (visibleTicket); tests/tickets-access.test.ts',
  'GET /tickets/:id': 'ticket-scoped (ticketPermissions); tests/tickets-access.test.ts',
  'PATCH /tickets/:id': 'ticket-scoped (ticketPermissions); tests/tickets-access.test.ts',
  'POST /tickets/:id/transitions': 'ticket-scoped (ticketPermissions); tests/tickets-access.test.ts',
  'POST /tickets/:id/comments': 'ticket-scoped (ticketPermissions); tests/tickets-access.test.ts',
  'POST /tickets/:id/rating': 'ticket-scoped (ticketPermissions); tests/tickets-access.test.ts',
  'GET /reports/districts/:district/kpis': 'district-scoped (canReadDistrict): tests/reports.test.ts',
  'POST /communities/:id/ledger/opening-balances': 'one import per unit (a second is refused): committee-only, tests/funds.test.ts',
  'POST /fund-requests': 'community in the body; fund access in tests/funds.test.ts',
  'GET /fund-requests': 'lists visible communities only; tests/funds.test.ts',
  'GET /fund-requests/:id': 'request-scoped (requestForActor); tests/funds.test.ts',
  'POST /fund-requests/:id/transitions': 'request-scoped with fund roles; tests/funds.test.ts',
  'POST /fund-requests/:id/close-vote': 'request-scoped (committee); tests/funds.test.ts',
  'POST /fund-requests/:id/ballots': 'request-scoped (owners in scope, committee for paper); tests/funds.test.ts',
  'GET /fund-requests/:id/tally': 'request-scoped; tests/funds.test.ts',
  'GET /fund-requests/:id/notice': 'request-scoped; tests/funds.test.ts',
  'POST /fund-requests/:id/objections': 'request-scoped (owners); tests/funds.test.ts',
  'POST /fund-requests/:id/works-done': 'request-scoped (its contractor); tests/funds.test.ts',
  'POST /fund-requests/:id/after-fact-notice': 'request-scoped (committee); tests/funds.test.ts',
  'POST /fund-requests/:id/documents': 'request-scoped (committee, property company, its contractor; ballot scans: committee); tests/funds.test.ts',
  'GET /fund-requests/:id/documents/:documentId': 'request-scoped (requestForActor; ballot scans: committee, staff, authority, their owner); tests/funds.test.ts',
  'GET /reports/duty-gaps': 'lists only visible communities (tests/duties.test.ts)',
  'POST /notifications/:id/read': 'recipient-scoped: only one’s own notifications (tests/notifications.test.ts)',
  'POST /admin/notifications/:id/retry': 'platform administrators only (tests/notifications.test.ts)',
  'GET /inspection-plans/:id': 'plan-scoped (inspectionPermissions: contractors only their own); tests/inspections.test.ts',
  'PATCH /inspection-plans/:id': 'plan-scoped (inspectionPermissions manage); tests/inspections.test.ts',
  'POST /inspection-plans/:id/deactivate': 'plan-scoped (inspectionPermissions manage); tests/inspections.test.ts',
  'GET /inspection-tasks/:id': 'task-scoped (inspectionPermissions: contractors only their own); tests/inspections.test.ts',
  'POST /inspection-tasks/:id/results': 'task-scoped (inspectionPermissions perform); tests/inspections.test.ts',
};

interface MatrixRow {
  method: Method;
  route: string;
  role: Who;
  expect: number;
}

/** Own community: the per-role columns above. */
const OWN_MATRIX: MatrixRow[] = ROUTES.flatMap((r) => WHO.map((role) => ({ method: r.method, route: r.route, role, expect: r.own[role] })));

/** The other community's records: 404 for everyone but the platform admin (and 401 anonymous). */
const OTHER_MATRIX: MatrixRow[] = ROUTES.flatMap((r) =>
  WHO.map((role) => ({ method: r.method, route: r.route, role, expect: role === 'platformAdmin' ? r.ok : role === 'anonymous' ? 401 : 404 })),
);

const spec = (method: Method, route: string) => ROUTES.find((r) => r.method === method && r.route === route) as RouteSpec;

let t: TestApp;
let a: CommunityWorld;
let b: CommunityWorld;

beforeAll(async () => {
  t = await createTestApp();
  ({ a, b } = await makeTwoWorlds(t.db));
});
afterAll(async () => t?.close());

function call(world: CommunityWorld, actingAs: CommunityWorld, r: RouteSpec, role: Who): Promise<LightMyRequestResponse> {
  const req = r.request(world);
  const userId = role === 'anonymous' ? null : actingAs.users[role].id;
  return as(t.app, userId)({ ...req, method: r.method, url: `${API}${req.url}` });
}

/** A 404 that is the access guard's, not "no such route", and carries none of the record. */
function expectHidden(res: LightMyRequestResponse, world: CommunityWorld) {
  const body = res.json();
  expect(body.error.code).toBe('NOT_FOUND');
  expect(body.error.message).not.toMatch(/^Route /);
  for (const secret of [world.community.name, world.community.district, world.facility.name, world.facility.qr_token, world.unit.number]) {
    expect(res.body).not.toContain(secret);
  }
}

describe('access matrix: the other community’s records', () => {
  it.each(OTHER_MATRIX)('$method $route as $role of A on B → $expect', async ({ method, route, role, expect: status }) => {
    const r = spec(method, route);
    const res = await call(b, a, r, role);
    expect(res.statusCode, res.body).toBe(status);
    if (status === 404) expectHidden(res, b);
    if (status === 401) expect(res.json().error.code).toBe('UNAUTHORIZED');
    if (status === 200 || status === 201) {
      const body = res.json();
      if (typeof body.communityId === 'string') expect(body.communityId).toBe(b.community.id);
      if (route === '/communities/:id') expect(body.id).toBe(b.community.id);
    }
  });
});

describe('access matrix: the actor’s own community', () => {
  it.each(OWN_MATRIX)('$method $route as $role of A on A → $expect', async ({ method, route, role, expect: status }) => {
    const r = spec(method, route);
    const res = await call(a, a, r, role);
    expect(res.statusCode, res.body).toBe(status);
    if (status === 403) expect(res.json().error.code).toBe('FORBIDDEN');
    if (status === 401) expect(res.json().error.code).toBe('UNAUTHORIZED');
    if (status === 404) expectHidden(res, a);
    if (status === 200 && route === '/communities/:id') expect(res.json().id).toBe(a.community.id);
  });
});

describe('own-community rules in detail', () => {
  let neighbour: Awaited<ReturnType<typeof makeUnit>>;
  beforeAll(async () => {
    neighbour = await makeUnit(t.db, a.community.id, a.building.id, { number: `N${uniq()}`, phone: '13812345678', ownerName: '邻居' });
  });

  it('an owner lists only their own unit; staff and the authority list all', async () => {
    const mine = await as(t.app, a.users.owner.id)({ method: 'GET', url: `${API}/communities/${a.community.id}/units` });
    expect(mine.statusCode).toBe(200);
    expect(mine.json().items.map((u: { id: string }) => u.id)).toEqual([a.unit.id]);
    for (const role of ['propertyManager', 'committeeChair', 'authority'] as const) {
      const all = await as(t.app, a.users[role].id)({ method: 'GET', url: `${API}/communities/${a.community.id}/units?limit=200` });
      expect(all.statusCode).toBe(200);
      const ids = all.json().items.map((u: { id: string }) => u.id);
      expect(ids).toContain(a.unit.id);
      expect(ids).toContain(neighbour.unit.id);
      expect(all.json().items.every((u: { communityId: string }) => u.communityId === a.community.id)).toBe(true);
    }
  });

  it('an owner gets 404 for a neighbour’s unit and 200 for their own', async () => {
    const other = await as(t.app, a.users.owner.id)({ method: 'GET', url: `${API}/units/${neighbour.unit.id}` });
    expect(other.statusCode).toBe(404);
    expect(other.body).not.toContain('13812345678');
    expect(other.body).not.toContain('邻居');
    const own = await as(t.app, a.users.owner.id)({ method: 'GET', url: `${API}/units/${a.unit.id}` });
    expect(own.statusCode).toBe(200);
    expect(own.json().id).toBe(a.unit.id);
  });

  it('the manager sees the full phone number, the authority a masked one', async () => {
    const full = await as(t.app, a.users.propertyManager.id)({ method: 'GET', url: `${API}/units/${neighbour.unit.id}` });
    expect(full.statusCode).toBe(200);
    expect(full.json().owners[0].phone).toBe('13812345678');
    const masked = await as(t.app, a.users.authority.id)({ method: 'GET', url: `${API}/units/${neighbour.unit.id}` });
    expect(masked.statusCode).toBe(200);
    expect(masked.json().owners[0].phone).toBe('138****5678');
    expect(masked.body).not.toContain('13812345678');

    const list = await as(t.app, a.users.authority.id)({ method: 'GET', url: `${API}/communities/${a.community.id}/units?limit=200` });
    const listed = list.json().items.find((u: { id: string }) => u.id === neighbour.unit.id);
    expect(listed.owners[0].phone).toBe('138****5678');
    expect(list.body).not.toContain('13812345678');
    const staffList = await as(t.app, a.users.propertyManager.id)({ method: 'GET', url: `${API}/communities/${a.community.id}/units?limit=200` });
    expect(staffList.json().items.find((u: { id: string }) => u.id === neighbour.unit.id).owners[0].phone).toBe('13812345678');
  });

  it('the authority is read-only in its own district', async () => {
    const auth = as(t.app, a.users.authority.id);
    expect((await auth({ method: 'GET', url: `${API}/communities/${a.community.id}` })).statusCode).toBe(200);
    for (const key of ['POST /communities/:id/buildings', 'POST /communities/:id/facilities', 'POST /communities/:id/units', 'POST /communities/:id/units/import', 'PATCH /facilities/:id']) {
      const [method, route] = key.split(' ') as [Method, string];
      const res = await call(a, a, spec(method, route), 'authority');
      expect(res.statusCode, key).toBe(403);
    }
  });

  it('a technician adds facilities but not buildings; a committee chair adds buildings', async () => {
    expect((await call(a, a, spec('POST', '/communities/:id/facilities'), 'technician')).statusCode).toBe(201);
    expect((await call(a, a, spec('POST', '/communities/:id/buildings'), 'technician')).statusCode).toBe(403);
    expect((await call(a, a, spec('POST', '/communities/:id/buildings'), 'committeeChair')).statusCode).toBe(201);
  });

  it('a contractor sees the community of its delegated duty but not the unit register', async () => {
    expect((await call(a, a, spec('GET', '/communities/:id'), 'contractor')).statusCode).toBe(200);
    expect((await call(a, a, spec('GET', '/communities/:id/facilities'), 'contractor')).statusCode).toBe(200);
    expect((await call(a, a, spec('GET', '/communities/:id/units'), 'contractor')).statusCode).toBe(403);
  });

  it('the QR token is shown only to those who manage facilities', async () => {
    const manager = await call(a, a, spec('GET', '/facilities/:id'), 'technician');
    expect(manager.json().qrToken).toBe(a.facility.qr_token);
    for (const role of ['owner', 'contractor', 'authority', 'committeeMember'] as const) {
      const res = await call(a, a, spec('GET', '/facilities/:id'), role);
      expect(res.statusCode).toBe(200);
      expect(res.json().qrToken, role).toBeUndefined();
      expect(res.body).not.toContain(a.facility.qr_token);
    }
  });

  it('the letter case of the id in the URL changes nothing', async () => {
    const upper = a.community.id.toUpperCase();
    for (const role of ROLES) {
      const res = await as(t.app, a.users[role].id)({ method: 'GET', url: `${API}/communities/${upper}` });
      expect(res.statusCode, role).toBe(200);
    }
    const chair = await as(t.app, a.users.committeeChair.id)({ method: 'POST', url: `${API}/communities/${upper}/buildings`, payload: { name: `楼-${uniq()}` } });
    expect(chair.statusCode, chair.body).toBe(201);
    const stranger = await as(t.app, b.users.committeeChair.id)({ method: 'GET', url: `${API}/communities/${upper}` });
    expect(stranger.statusCode).toBe(404);
  });

  it('a 404 for another community’s record is the same as for a record that does not exist', async () => {
    const pm = as(t.app, a.users.propertyManager.id);
    const missing = randomUUID();
    for (const route of ['/communities/:id', '/communities/:id/buildings', '/facilities/:id', '/units/:id', '/audit/communities/:id/events']) {
      const target = { '/communities/:id': b.community.id, '/communities/:id/buildings': b.community.id, '/facilities/:id': b.facility.id, '/units/:id': b.unit.id, '/audit/communities/:id/events': b.community.id }[route] as string;
      const hidden = await pm({ method: 'GET', url: `${API}${route.replace(':id', target)}` });
      const absent = await pm({ method: 'GET', url: `${API}${route.replace(':id', missing)}` });
      expect(hidden.statusCode, route).toBe(404);
      expect(hidden.json(), route).toEqual(absent.json());
    }
  });

  it('records of another community cannot be reached through one’s own community', async () => {
    // A's manager names B's building while adding a unit or facility to A.
    const pm = as(t.app, a.users.propertyManager.id);
    const unit = await pm({
      method: 'POST',
      url: `${API}/communities/${a.community.id}/units`,
      payload: { buildingId: b.building.id, number: 'X1', areaM2: '50', owners: [{ name: '某人' }] },
    });
    expect(unit.statusCode).toBe(404);
    const facility = await pm({
      method: 'POST',
      url: `${API}/communities/${a.community.id}/facilities`,
      payload: { category: 'camera', name: 'x', buildingId: b.building.id },
    });
    expect(facility.statusCode).toBe(404);
    const units = await pm({ method: 'GET', url: `${API}/communities/${a.community.id}/units?buildingId=${b.building.id}` });
    expect(units.statusCode).toBe(200);
    expect(units.json().items).toEqual([]);
  });
});

describe('GET /communities lists only what each role may see', () => {
  // Fresh worlds: the matrix above creates communities as A's manager.
  let x: CommunityWorld;
  let y: CommunityWorld;
  let sameDistrict: Awaited<ReturnType<typeof makeCommunity>>;
  beforeAll(async () => {
    ({ a: x, b: y } = await makeTwoWorlds(t.db));
    // In X's district, with no duty holder: only the authority (and the admin) see it.
    sameDistrict = await makeCommunity(t.db, { district: x.community.district });
  });

  const listFor = async (userId: string, query = '') => {
    const res = await as(t.app, userId)({ method: 'GET', url: `${API}/communities?limit=200${query}` });
    expect(res.statusCode).toBe(200);
    return res.json().items.map((c: { id: string }) => c.id) as string[];
  };

  it.each(ROLES.filter((r) => r !== 'platformAdmin' && r !== 'authority'))('%s sees only its own community', async (role) => {
    expect(await listFor(x.users[role].id)).toEqual([x.community.id]);
    expect(await listFor(y.users[role].id)).toEqual([y.community.id]);
  });

  it('the authority sees every community of its district and none other', async () => {
    expect((await listFor(x.users.authority.id)).sort()).toEqual([x.community.id, sameDistrict.id].sort());
    expect(await listFor(y.users.authority.id)).toEqual([y.community.id]);
    expect(await listFor(x.users.authority.id, `&district=${encodeURIComponent(y.community.district)}`)).toEqual([]);
  });

  it('the platform admin sees both worlds', async () => {
    const ids = await listFor(x.users.platformAdmin.id);
    expect(ids).toEqual(expect.arrayContaining([x.community.id, y.community.id, sameDistrict.id]));
  });

  it('anonymous gets 401', async () => {
    const res = await t.app.inject({ method: 'GET', url: `${API}/communities` });
    expect(res.statusCode).toBe(401);
  });

  it('a user with no role anywhere sees nothing, and 404 on any community', async () => {
    const nobody = await makeUser(t.db);
    expect(await listFor(nobody.id)).toEqual([]);
    const res = await as(t.app, nobody.id)({ method: 'GET', url: `${API}/communities/${x.community.id}` });
    expect(res.statusCode).toBe(404);
  });

  it('a property company whose duty has ended no longer sees the community', async () => {
    const community = await makeCommunity(t.db, { district: x.community.district });
    const company = await makeOrg(t.db, 'property_company');
    const manager = await makeUser(t.db);
    await addMembership(t.db, manager.id, company.id, 'manager');
    await assignDuty(t.db, community.id, company.id);
    expect(await listFor(manager.id)).toEqual([community.id]);
    await t.db
      .updateTable('duty_assignments')
      .set({ valid_from: new Date(Date.now() - 86_400_000 * 2), valid_to: new Date(Date.now() - 86_400_000) })
      .where('community_id', '=', community.id)
      .execute();
    expect(await listFor(manager.id)).toEqual([]);
    const res = await as(t.app, manager.id)({ method: 'GET', url: `${API}/communities/${community.id}` });
    expect(res.statusCode).toBe(404);
    const building = await makeBuilding(t.db, community.id);
    const add = await as(t.app, manager.id)({ method: 'POST', url: `${API}/communities/${community.id}/buildings`, payload: { name: `${building.name}-2` } });
    expect(add.statusCode).toBe(404);
  });
});

describe('POST /communities', () => {
  it('platform admins and property managers create; other roles get 403; anonymous 401', async () => {
    const { a: w } = await makeTwoWorlds(t.db);
    const body = () => ({ name: `新小区-${uniq()}`, district: w.community.district });
    const admin = await as(t.app, w.users.platformAdmin.id)({ method: 'POST', url: `${API}/communities`, payload: { ...body(), propertyCompanyId: w.orgs.company.id } });
    expect(admin.statusCode).toBe(201);
    const pm = await as(t.app, w.users.propertyManager.id)({ method: 'POST', url: `${API}/communities`, payload: body() });
    expect(pm.statusCode).toBe(201);
    // The manager's company holds the new community's duty, so the manager (and technician) see it.
    const seen = await as(t.app, w.users.technician.id)({ method: 'GET', url: `${API}/communities/${pm.json().id}` });
    expect(seen.statusCode).toBe(200);
    for (const role of ['technician', 'committeeChair', 'committeeMember', 'owner', 'contractor', 'authority'] as const) {
      const res = await as(t.app, w.users[role].id)({ method: 'POST', url: `${API}/communities`, payload: body() });
      expect(res.statusCode, role).toBe(403);
    }
    const other = await makeOrg(t.db, 'property_company');
    const foreign = await as(t.app, w.users.propertyManager.id)({ method: 'POST', url: `${API}/communities`, payload: { ...body(), propertyCompanyId: other.id } });
    expect(foreign.statusCode).toBe(403);
    expect((await t.app.inject({ method: 'POST', url: `${API}/communities`, payload: body() })).statusCode).toBe(401);
  });
});

/**
 * Every (METHOD path) the app serves, hidden routes included, from Fastify's own route tree
 * (printRoutes draws it with 4 characters per level; a node's path continues its parent's).
 */
function servedRoutes(tree: string): string[] {
  const out: string[] = [];
  const stack: string[] = [];
  for (const line of tree.split('\n')) {
    const m = /^([│ ]*)[├└]── (.+?)(?: \(([A-Z, ]+)\))?$/.exec(line);
    if (!m) continue;
    const depth = (m[1] as string).length / 4;
    stack.length = depth;
    const path = `${stack[depth - 1] ?? ''}${m[2] as string}`;
    stack[depth] = path;
    for (const method of (m[3] ?? '').split(', ').filter((x) => x && x !== 'HEAD')) out.push(`${method} ${path}`);
  }
  return out;
}

describe('route coverage', () => {
  it('every community-scoped route of the app has rows in the matrix', async () => {
    const served = servedRoutes(t.app.printRoutes({ commonPrefix: false }))
      .filter((k) => k.split(' ')[1]?.startsWith(`${API}/`))
      .map((k) => k.replace(` ${API}/`, ' /'));
    // The tree parse is checked against the OpenAPI document, so a change of drawing cannot empty it.
    const doc = await t.app.inject({ method: 'GET', url: `${API}/docs/json` });
    expect(doc.statusCode).toBe(200);
    const documented = Object.entries(doc.json().paths as Record<string, Record<string, unknown>>)
      .filter(([path]) => path.startsWith(`${API}/`))
      .flatMap(([path, ops]) => Object.keys(ops).map((m) => `${m.toUpperCase()} ${path.slice(API.length).replace(/\{(\w+)\}/g, ':$1')}`));
    expect(documented.length).toBeGreaterThan(10);
    expect(documented.filter((k) => !served.includes(k))).toEqual([]);

    // Community-scoped: anything with a path parameter, and anything under /communities or /audit.
    const scoped = served.filter((k) => /:\w+/.test(k) || / \/(communities|audit)(\/|$)/.test(k));
    const covered = new Set(ROUTES.map((r) => `${r.method} ${r.route}`));
    const missing = scoped.filter((k) => !covered.has(k) && !(k in NOT_COMMUNITY_SCOPED));
    expect(missing, 'routes with no row in the access matrix (add them to ROUTES, or to NOT_COMMUNITY_SCOPED with a reason)').toEqual([]);
    // And the tables name no route the app does not serve (a typo would test nothing).
    expect([...covered].filter((k) => !served.includes(k))).toEqual([]);
    expect(Object.keys(NOT_COMMUNITY_SCOPED).filter((k) => !served.includes(k))).toEqual([]);
  });

  it('the matrix has a row for every role on every route, both ways', () => {
    expect(OWN_MATRIX).toHaveLength(ROUTES.length * WHO.length);
    expect(OTHER_MATRIX).toHaveLength(ROUTES.length * WHO.length);
  });
});
