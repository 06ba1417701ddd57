import { randomBytes, randomUUID } from 'node:crypto';
import { readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { InjectOptions, LightMyRequestResponse } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestApp, type TestApp } from './helpers/app.js';
import { multipart } from './helpers/http.js';
import { PASSWORD, ROLES, as, assignDuty, makeBuilding, makeCommunity, makeOrg, makeTwoWorlds, makeUnit, makeUser, addMembership, type CommunityWorld, type Role } from './helpers/factories.js';

/**
 * The access matrix (DESIGN.md "Access"; CAPABILITIES in src/plugins/access.ts).
 *
 * Every community-scoped route is a row of ROUTES below, with what each role gets in its OWN
 * community. The same routes aimed at the OTHER community's records answer 404 for every
 * non-admin role (never 403, never data), 401 anonymous, and work for the platform admin.
 * Every other route (sign-in, the account, organizations, notifications, administration,
 * tickets, intake, inspections, funds, district reports…) is a row of GLOBAL, with what each
 * role gets on its own world's records and, where a record is named, on the other world's.
 * A route the app serves that has no row fails the coverage test at the bottom.
 * docs/ACCESS.md is these tables in Markdown; a test fails when it differs (UPDATE_ACCESS_MD=1 rewrites it).
 */

const API = '/api/v1';
const uniq = () => randomBytes(4).toString('hex');

/**
 * The roles of DESIGN.md "Access", plus a resident: a signed-in person with no role anywhere (a
 * tenant, say: no unit, no membership). Residents report faults through a facility's QR code
 * (public routes); signed in, they see only their own account and notifications.
 */
type Who = Role | 'resident' | 'anonymous';
const WHO: readonly Who[] = [...ROLES, 'resident', 'anonymous'];
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
  /** No role in any community: community records are not visible (404). */
  resident = 404,
): Record<Who, number> {
  return { platformAdmin, propertyManager, technician, committeeChair, committeeMember, owner, contractor, authority, resident, anonymous };
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

/** The OpenAPI UI's own pages and files (public, no data); the OpenAPI document itself has a row. */
const DOCS_UI = /^GET \/docs(\/static\/(\*|index\.html|swagger-initializer\.js)|\/\*|\/|\/uiConfig|\/initOAuth|\/yaml)?$/;

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

/** Each world's resident (see Who). */
const residents = new Map<CommunityWorld, { id: string; email: string }>();
const userOf = (w: CommunityWorld, who: Who) => (who === 'anonymous' ? null : who === 'resident' ? (residents.get(w) as { id: string; email: string }) : w.users[who]);

beforeAll(async () => {
  // Rate limits are tested elsewhere (tests/auth.test.ts, tests/intake.test.ts); here every role logs in and reports.
  t = await createTestApp({ loginRateLimitPerMinute: 10_000, publicReportRateLimitPerMinute: 10_000, deviceAlarmRateLimitPerMinute: 10_000 });
  ({ a, b } = await makeTwoWorlds(t.db));
  for (const w of [a, b]) residents.set(w, await makeUser(t.db));
});
afterAll(async () => t?.close());

function call(world: CommunityWorld, actingAs: CommunityWorld, r: RouteSpec, role: Who): Promise<LightMyRequestResponse> {
  const req = r.request(world);
  const userId = userOf(actingAs, role)?.id ?? null;
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

/* ------------------------------------------------------------------------------------------- */
/* Every other route: auth, self, organizations, lists, tickets, intake, funds, inspections…      */

/** Who calls, aimed at whose records. */
interface Ctx {
  /** The world whose records the request names (the actor's own, or the other one). */
  target: CommunityWorld;
  /** The world the caller belongs to. */
  actingAs: CommunityWorld;
  who: Who;
  user: { id: string; email: string } | null;
}
type Req = Omit<InjectOptions, 'method'> & { url: string };

interface GlobalSpec {
  method: Method;
  route: string;
  /** Builds the request; may make a fresh record for routes that change its state. */
  request: (c: Ctx) => Promise<Req> | Req;
  /** What each role gets on its own community's (organization's, district's, account's) records. */
  own: Record<Who, number>;
  /** The same aimed at the other world's records; absent where there is no other (login, /me, lists without a filter). */
  other?: Record<Who, number>;
  /** For docs/ACCESS.md: what "own" and "other" mean here. */
  note: string;
}

/** Fixtures of each world, made once (records the calls only read). */
interface Fx {
  ticket: string;
  attachment: string;
  device: { deviceId: string; secret: string };
  plan: string;
  task: string;
  fund: string;
  votingFund: string;
  fundDocument: string;
}
const fx = new Map<CommunityWorld, Fx>();
const fxOf = (w: CommunityWorld) => fx.get(w) as Fx;
const notificationOf = new Map<string, string>();

const PNG = Buffer.from('iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg==', 'base64');
const PDF = Buffer.from(
  '%PDF-1.4\n1 0 obj<</Type/Catalog/Pages 2 0 R>>endobj\n2 0 obj<</Type/Pages/Kids[3 0 R]/Count 1>>endobj\n3 0 obj<</Type/Page/Parent 2 0 R/MediaBox[0 0 200 200]>>endobj\ntrailer<</Root 1 0 R>>\n%%EOF\n',
  'latin1',
);
const CHECKLIST = [{ id: 'ok', text: '设备运行正常', severity: 'high' as const }];
const DAY = 86_400_000;
const shanghaiDay = (days: number) => new Date(Date.now() + days * DAY + 8 * 3600_000).toISOString().slice(0, 10);

async function injectOk(userId: string | null, req: InjectOptions, status: number): Promise<{ id: string; [k: string]: unknown }> {
  const res = await as(t.app, userId)(req);
  if (res.statusCode !== status) throw new Error(`${req.method} ${req.url}: ${res.statusCode} ${res.body}`);
  return res.json();
}

/** A fault about the world's roof (nobody's delegated duty: the matrix above delegates lifts to the contractor), reported by its owner, public. */
const freshTicket = async (w: CommunityWorld) =>
  (await injectOk(w.users.owner.id, { method: 'POST', url: `${API}/tickets`, payload: { communityId: w.community.id, title: `屋顶漏水-${uniq()}`, category: 'roof' } }, 201)).id;
async function closedTicket(w: CommunityWorld) {
  const id = await freshTicket(w);
  const at = new Date();
  await t.db.updateTable('tickets').set({ status: 'closed', acknowledged_at: at, resolved_at: at, closed_at: at }).where('id', '=', id).execute();
  return id;
}
const freshDevice = async (w: CommunityWorld) =>
  (await injectOk(w.users.propertyManager.id, { method: 'POST', url: `${API}/facilities/${w.facility.id}/devices`, payload: { name: `烟感-${uniq()}` } }, 201)) as unknown as { deviceId: string; secret: string };
async function freshPlan(w: CommunityWorld) {
  const { plan } = (await injectOk(
    w.users.propertyManager.id,
    { method: 'POST', url: `${API}/inspection-plans`, payload: { communityId: w.community.id, name: `摄像机日检-${uniq()}`, categories: ['camera'], rrule: 'FREQ=DAILY', dtstart: `${shanghaiDay(1)}T09:00`, checklist: CHECKLIST, leadTimeMinutes: 2 * 1440, dueWindowMinutes: 1440 } },
    201,
  )) as unknown as { plan: { id: string } };
  const task = await t.db.selectFrom('inspection_tasks').select('id').where('plan_id', '=', plan.id).orderBy('occurrence_at').executeTakeFirst();
  if (!task) throw new Error(`no task for plan ${plan.id}`);
  return { plan: plan.id, task: task.id };
}

type FundStage = 'draft' | 'voting' | 'voted' | 'public_notice' | 'approved_emergency' | 'in_works';
/** A fund request of the world about its owner’s unit alone (the matrix above adds units to its building: one voter keeps the outcome decidable), taken to a stage through the API. */
async function freshFund(w: CommunityWorld, stage: FundStage): Promise<string> {
  const emergency = stage === 'approved_emergency' || stage === 'in_works';
  const { id } = await injectOk(
    w.users.propertyManager.id,
    {
      method: 'POST',
      url: `${API}/fund-requests`,
      payload: {
        communityId: w.community.id,
        title: `维修-${uniq()}`,
        path: emergency ? 'emergency' : 'normal',
        // An emergency names the facility at fault.
        ...(emergency ? { emergencyKind: 'elevator_danger', facilityIds: [w.facility.id] } : {}),
        decisionType: 'use_fund',
        scope: { unitIds: [w.unit.id] },
        budgetLines: [{ description: '材料与人工', amountCents: 100_000 }],
        funding: [{ source: 'maintenance_fund', amountCents: 100_000 }],
        contractorOrgId: w.orgs.contractor.id,
      },
    },
    201,
  );
  const move = (userId: string, to: string, extra: object = {}) => injectOk(userId, { method: 'POST', url: `${API}/fund-requests/${id}/transitions`, payload: { to, ...extra } }, 200);
  if (stage === 'draft') return id;
  if (emergency) {
    await move(w.users.propertyManager.id, 'emergency_review');
    await move(w.users.platformAdmin.id, 'approved');
    if (stage === 'in_works') await move(w.users.committeeChair.id, 'in_works');
    return id;
  }
  await move(w.users.committeeChair.id, 'voting', { voteClosesAt: new Date(Date.now() + 14 * DAY).toISOString() });
  if (stage === 'voting') return id;
  await injectOk(w.users.owner.id, { method: 'POST', url: `${API}/fund-requests/${id}/ballots`, payload: { choice: 'agree' } }, 200);
  if (stage === 'voted') return id;
  await injectOk(w.users.committeeChair.id, { method: 'POST', url: `${API}/fund-requests/${id}/close-vote` }, 200);
  await move(w.users.committeeChair.id, 'public_notice');
  return id;
}

async function makeFixtures(w: CommunityWorld): Promise<Fx> {
  const ticket = await freshTicket(w);
  const attachment = (await injectOk(w.users.owner.id, { method: 'POST', url: `${API}/tickets/${ticket}/attachments`, ...multipart([{ name: 'file', filename: 'photo.png', type: 'image/png', data: PNG }]) }, 201)).id;
  const device = await freshDevice(w);
  const { plan, task } = await freshPlan(w);
  const fund = await freshFund(w, 'draft');
  const fundDocument = (await injectOk(w.users.committeeChair.id, { method: 'POST', url: `${API}/fund-requests/${fund}/documents`, ...multipart([{ name: 'kind', data: 'quote' }, { name: 'title', data: '报价单' }, { name: 'file', filename: 'quote.pdf', type: 'application/pdf', data: PDF }]) }, 201)).id;
  // One in-app notification for every person of the world, the resident included.
  for (const who of [...ROLES, 'resident'] as const) {
    const u = userOf(w, who) as { id: string; email: string };
    const n = await t.db
      .insertInto('notifications')
      .values({ dedupe_key: `access-${uniq()}`, community_id: w.community.id, recipient_user_id: u.id, recipient_email: null, channel: 'in_app', template: 'access-test', locale: 'zh-CN', payload: '{}', subject: '通知', body_text: '通知' })
      .returning('id')
      .executeTakeFirstOrThrow();
    notificationOf.set(`${w.community.id}|${who}`, n.id);
  }
  return { ticket, attachment, device, plan, task, fund, votingFund: await freshFund(w, 'voting'), fundDocument };
}

async function deadEmail(w: CommunityWorld) {
  const n = await t.db
    .insertInto('notifications')
    .values({ dedupe_key: `access-dead-${uniq()}`, community_id: w.community.id, recipient_user_id: w.users.propertyManager.id, recipient_email: w.users.propertyManager.email, channel: 'email', template: 'access-test', locale: 'zh-CN', payload: '{}', subject: '通知', body_text: '通知', status: 'dead', attempts: 5, last_error: 'test' })
    .returning('id')
    .executeTakeFirstOrThrow();
  return n.id;
}

/** A new unit of the world with no opening balance yet (one import per unit). */
async function unitWithoutBalance(w: CommunityWorld) {
  const building = await makeBuilding(t.db, w.community.id, `期初-${uniq()}`);
  const { unit } = await makeUnit(t.db, w.community.id, building.id);
  return `building,unit number,balance\n${building.name},${unit.number},1000.00\n`;
}

//                                     admin  pm   tech chair memb owner contr auth  anon  resident
const EVERYONE = (ok: number, anon = 401) => row(ok, ok, ok, ok, ok, ok, ok, ok, anon, ok);
/** Another world's record: 404 for every role but the platform admin. */
const HIDDEN = (adminOk: number) => row(adminOk, 404, 404, 404, 404, 404, 404, 404, 401, 404);

const GLOBAL: GlobalSpec[] = [
  // Health and the account itself.
  { method: 'GET', route: '/healthz', own: EVERYONE(200, 200), note: 'liveness: public', request: () => ({ url: '/healthz' }) },
  { method: 'GET', route: '/readyz', own: EVERYONE(200, 200), note: 'readiness: public', request: () => ({ url: '/readyz' }) },
  { method: 'GET', route: '/docs/json', own: EVERYONE(200, 200), note: 'the OpenAPI document: public', request: () => ({ url: '/docs/json' }) },
  {
    method: 'POST',
    route: '/auth/login',
    own: EVERYONE(200, 401),
    note: 'everyone signs in with their own credentials; anonymous: an unknown account',
    request: (c) => ({ url: '/auth/login', payload: { email: c.user?.email ?? `nobody-${uniq()}@test.upkeep.cn`, password: PASSWORD } }),
  },
  {
    method: 'POST',
    route: '/auth/refresh',
    own: EVERYONE(200, 401),
    note: 'one’s own refresh token; anonymous: a made-up one',
    request: async (c) => ({ url: '/auth/refresh', payload: { refreshToken: c.user ? await refreshTokenOf(c.user.email) : `made-up-${uniq()}-token` } }),
  },
  {
    method: 'POST',
    route: '/auth/logout',
    own: EVERYONE(204, 204),
    note: 'one’s own refresh token; anonymous: a made-up one (nothing to revoke, same answer)',
    request: async (c) => ({ url: '/auth/logout', payload: { refreshToken: c.user ? await refreshTokenOf(c.user.email) : `made-up-${uniq()}-token` } }),
  },
  { method: 'GET', route: '/me', own: EVERYONE(200), note: 'one’s own account', request: () => ({ url: '/me' }) },

  // Organizations.
  {
    method: 'POST',
    route: '/organizations',
    own: row(201, 403, 403, 403, 403, 403, 403, 403, 401, 403),
    note: 'platform administrators only',
    request: () => ({ url: '/organizations', payload: { kind: 'contractor', name: `承包商-${uniq()}` } }),
  },
  { method: 'GET', route: '/organizations', own: EVERYONE(200), note: 'the organizations one belongs to (all for platform administrators)', request: () => ({ url: '/organizations' }) },
  {
    method: 'GET',
    route: '/organizations/:id',
    own: row(200, 200, 200, 404, 404, 404, 404, 404, 401, 404),
    other: HIDDEN(200),
    note: 'the world’s property company: its members see it; other: the other world’s company',
    request: (c) => ({ url: `/organizations/${c.target.orgs.company.id}` }),
  },
  {
    method: 'GET',
    route: '/organizations/:id/members',
    own: row(200, 200, 200, 404, 404, 404, 404, 404, 401, 404),
    other: HIDDEN(200),
    note: 'as GET /organizations/:id',
    request: (c) => ({ url: `/organizations/${c.target.orgs.company.id}/members` }),
  },
  {
    method: 'POST',
    route: '/organizations/:id/members',
    own: row(201, 201, 403, 404, 404, 404, 404, 404, 401, 404),
    other: HIDDEN(201),
    note: 'the company’s managers (and platform administrators) add people; its staff may not',
    request: (c) => ({ url: `/organizations/${c.target.orgs.company.id}/members`, payload: { email: `staff-${uniq()}@test.upkeep.cn`, role: 'staff', name: '新员工', password: 'a-long-enough-password' } }),
  },

  // Communities (lists and creation; the community pages are the matrix above).
  { method: 'GET', route: '/communities', own: EVERYONE(200), note: 'only the communities one may see (detailed below)', request: () => ({ url: '/communities' }) },
  {
    method: 'POST',
    route: '/communities',
    own: row(201, 201, 403, 403, 403, 403, 403, 403, 401, 403),
    note: 'platform administrators and property managers (their company then holds the duty)',
    request: (c) => ({ url: '/communities', payload: { name: `新小区-${uniq()}`, district: c.target.community.district, ...(c.who === 'platformAdmin' ? { propertyCompanyId: c.target.orgs.company.id } : {}) } }),
  },
  {
    method: 'POST',
    route: '/communities/:id/ledger/opening-balances',
    own: row(201, 403, 403, 201, 403, 403, 403, 403, 401),
    other: HIDDEN(201),
    note: 'the owners’ committee imports opening balances (a fresh unit each call)',
    request: async (c) => ({ url: `/communities/${c.target.community.id}/ledger/opening-balances`, headers: { 'content-type': 'text/csv' }, payload: await unitWithoutBalance(c.target) }),
  },

  // Notifications.
  { method: 'GET', route: '/notifications', own: EVERYONE(200), note: 'one’s own notifications', request: () => ({ url: '/notifications' }) },
  {
    method: 'POST',
    route: '/notifications/:id/read',
    own: EVERYONE(200),
    // Someone else's: not found, like any other record one may not see; checked unchanged below.
    other: HIDDEN(200),
    note: 'own: one’s own notification; other: the same role’s in the other world, someone else’s (the platform administrator is one person in both worlds, so theirs is their own): 404 and left unread',
    request: (c) => ({ url: `/notifications/${notificationOf.get(`${c.target.community.id}|${c.who === 'anonymous' ? 'owner' : c.who}`)}/read` }),
  },
  { method: 'POST', route: '/notifications/read-all', own: EVERYONE(200), note: 'one’s own notifications', request: () => ({ url: '/notifications/read-all' }) },
  { method: 'GET', route: '/admin/notifications', own: row(200, 403, 403, 403, 403, 403, 403, 403, 401, 403), note: 'platform administrators only', request: () => ({ url: '/admin/notifications' }) },
  {
    method: 'POST',
    route: '/admin/notifications/:id/retry',
    own: row(200, 403, 403, 403, 403, 403, 403, 403, 401, 403),
    note: 'platform administrators only (a dead email each call)',
    request: async (c) => ({ url: `/admin/notifications/${await deadEmail(c.target)}/retry` }),
  },

  // Reports outside one community.
  {
    method: 'GET',
    route: '/reports/districts/:district/kpis',
    own: row(200, 404, 404, 404, 404, 404, 404, 200, 401, 404),
    other: HIDDEN(200),
    note: 'the world’s district: its authority (and platform administrators); to anyone else a district is not there (404); other: the other world’s district',
    request: (c) => ({ url: `/reports/districts/${encodeURIComponent(c.target.community.district)}/kpis` }),
  },
  { method: 'GET', route: '/reports/duty-gaps', own: EVERYONE(200), note: 'communities without a duty holder, among those one may see', request: () => ({ url: '/reports/duty-gaps' }) },

  // Tickets (the full ticket matrix by kind of ticket is tests/tickets-access.test.ts).
  {
    method: 'POST',
    route: '/tickets',
    own: row(201, 201, 201, 201, 201, 201, 403, 403, 401),
    other: HIDDEN(201),
    note: 'a fault in the world’s community',
    request: (c) => ({ url: '/tickets', payload: { communityId: c.target.community.id, title: `楼道灯不亮-${uniq()}`, category: 'lighting' } }),
  },
  { method: 'GET', route: '/tickets', own: EVERYONE(200), other: EVERYONE(200), note: 'other: filtered to the other world’s community: an empty page (no 404), none of its tickets', request: (c) => ({ url: c.target === c.actingAs ? '/tickets' : `/tickets?communityId=${c.target.community.id}` }) },
  {
    method: 'GET',
    route: '/tickets/:id',
    own: row(200, 200, 200, 200, 200, 200, 404, 200, 401),
    other: HIDDEN(200),
    note: 'a public lift fault reported by the world’s owner (not the camera contractor’s)',
    request: (c) => ({ url: `/tickets/${fxOf(c.target).ticket}` }),
  },
  {
    method: 'PATCH',
    route: '/tickets/:id',
    own: row(200, 200, 200, 200, 403, 403, 404, 403, 401),
    other: HIDDEN(200),
    note: 'as GET /tickets/:id',
    request: (c) => ({ url: `/tickets/${fxOf(c.target).ticket}`, payload: { priority: 'P2' } }),
  },
  {
    method: 'POST',
    route: '/tickets/:id/transitions',
    own: row(200, 200, 200, 200, 403, 403, 404, 403, 401),
    other: HIDDEN(200),
    note: 'acknowledge a new ticket (a fresh one each call); the reporter may cancel, not acknowledge',
    request: async (c) => ({ url: `/tickets/${await freshTicket(c.target)}/transitions`, payload: { to: 'acknowledged' } }),
  },
  {
    method: 'POST',
    route: '/tickets/:id/comments',
    own: row(201, 201, 201, 201, 201, 201, 404, 403, 401),
    other: HIDDEN(201),
    note: 'as GET /tickets/:id; the authority reads only',
    request: (c) => ({ url: `/tickets/${fxOf(c.target).ticket}/comments`, payload: { body: '已记录', internal: false } }),
  },
  {
    method: 'POST',
    route: '/tickets/:id/rating',
    own: row(403, 403, 403, 403, 403, 200, 404, 403, 401),
    other: HIDDEN(403),
    note: 'a closed ticket (fresh each call): only its reporter rates',
    request: async (c) => ({ url: `/tickets/${await closedTicket(c.target)}/rating`, payload: { score: 5, comment: '很好' } }),
  },
  {
    method: 'POST',
    route: '/tickets/:id/attachments',
    own: row(201, 201, 201, 201, 201, 201, 404, 403, 401),
    other: HIDDEN(201),
    note: 'as commenting',
    request: (c) => ({ url: `/tickets/${fxOf(c.target).ticket}/attachments`, ...multipart([{ name: 'file', filename: 'photo.png', type: 'image/png', data: PNG }]) }),
  },
  {
    method: 'GET',
    route: '/tickets/:id/attachments',
    own: row(200, 200, 200, 200, 200, 200, 404, 200, 401),
    other: HIDDEN(200),
    note: 'as GET /tickets/:id',
    request: (c) => ({ url: `/tickets/${fxOf(c.target).ticket}/attachments` }),
  },
  {
    method: 'GET',
    route: '/tickets/:id/attachments/:attachmentId',
    own: row(200, 200, 200, 200, 200, 200, 404, 200, 401),
    other: HIDDEN(200),
    note: 'as GET /tickets/:id',
    request: (c) => ({ url: `/tickets/${fxOf(c.target).ticket}/attachments/${fxOf(c.target).attachment}` }),
  },

  // Intake: devices and the public QR pages.
  {
    method: 'POST',
    route: '/facilities/:id/devices',
    own: row(201, 201, 201, 201, 403, 403, 403, 403, 401),
    other: HIDDEN(201),
    note: 'facilities.manage on the facility’s community',
    request: (c) => ({ url: `/facilities/${c.target.facility.id}/devices`, payload: { name: `烟感-${uniq()}` } }),
  },
  {
    method: 'GET',
    route: '/facilities/:id/devices',
    own: row(200, 200, 200, 200, 403, 403, 403, 403, 401),
    other: HIDDEN(200),
    note: 'facilities.manage on the facility’s community',
    request: (c) => ({ url: `/facilities/${c.target.facility.id}/devices` }),
  },
  {
    method: 'POST',
    route: '/devices/:id/disable',
    own: row(200, 200, 200, 200, 403, 403, 403, 403, 401),
    other: HIDDEN(200),
    note: 'facilities.manage on the device’s community (a fresh device each call)',
    request: async (c) => ({ url: `/devices/${(await freshDevice(c.target)).deviceId}/disable` }),
  },
  {
    method: 'POST',
    route: '/devices/alarms',
    own: EVERYONE(201, 201),
    note: 'authenticated by the device’s own id and secret, whoever else is signed in',
    request: (c) => ({ url: '/devices/alarms', headers: { 'x-device-id': fxOf(c.target).device.deviceId, 'x-device-secret': fxOf(c.target).device.secret }, payload: { dedupeKey: `smoke-${uniq()}` } }),
  },
  { method: 'GET', route: '/public/facilities/:qrToken', own: EVERYONE(200, 200), note: 'public: the QR token is the key', request: (c) => ({ url: `/public/facilities/${c.target.facility.qr_token}` }) },
  {
    method: 'POST',
    route: '/public/facilities/:qrToken/reports',
    own: EVERYONE(201, 201),
    note: 'public: the QR token is the key',
    request: (c) => ({ url: `/public/facilities/${c.target.facility.qr_token}/reports`, payload: { reporterName: '住户', reporterPhone: phone(), description: `摄像头不亮-${uniq()}` } }),
  },

  // Inspections.
  {
    method: 'POST',
    route: '/inspection-plans',
    own: row(201, 201, 201, 201, 403, 403, 403, 403, 401),
    other: HIDDEN(201),
    note: 'inspections.manage in the body’s community',
    request: (c) => ({ url: '/inspection-plans', payload: { communityId: c.target.community.id, name: `巡检-${uniq()}`, categories: ['camera'], rrule: 'FREQ=WEEKLY', dtstart: `${shanghaiDay(1)}T09:00`, checklist: CHECKLIST } }),
  },
  { method: 'GET', route: '/inspection-plans', own: EVERYONE(200), other: row(200, 404, 404, 404, 404, 404, 404, 404, 401, 404), note: 'other: filtered to the other world’s community', request: (c) => ({ url: c.target === c.actingAs ? '/inspection-plans' : `/inspection-plans?communityId=${c.target.community.id}` }) },
  {
    method: 'GET',
    route: '/inspection-plans/:id',
    own: row(200, 200, 200, 200, 200, 403, 200, 200, 401),
    other: HIDDEN(200),
    note: 'a camera plan: cameras are the delegated contractor’s duty, so it is assigned to the contractor, who sees it (contractors see only plans assigned to them); owners see no inspection internals',
    request: (c) => ({ url: `/inspection-plans/${fxOf(c.target).plan}` }),
  },
  {
    method: 'PATCH',
    route: '/inspection-plans/:id',
    own: row(200, 200, 200, 200, 403, 403, 403, 403, 401),
    other: HIDDEN(200),
    note: 'inspections.manage (the assigned contractor performs, does not change the plan)',
    request: (c) => ({ url: `/inspection-plans/${fxOf(c.target).plan}`, payload: { name: `巡检-${uniq()}` } }),
  },
  {
    method: 'POST',
    route: '/inspection-plans/:id/deactivate',
    own: row(200, 200, 200, 200, 403, 403, 403, 403, 401),
    other: HIDDEN(200),
    note: 'inspections.manage (a fresh plan each call)',
    request: async (c) => ({ url: `/inspection-plans/${(await freshPlan(c.target)).plan}/deactivate` }),
  },
  { method: 'GET', route: '/inspection-tasks', own: EVERYONE(200), other: row(200, 404, 404, 404, 404, 404, 404, 404, 401, 404), note: 'other: filtered to the other world’s community', request: (c) => ({ url: c.target === c.actingAs ? '/inspection-tasks' : `/inspection-tasks?communityId=${c.target.community.id}` }) },
  {
    method: 'GET',
    route: '/inspection-tasks/:id',
    own: row(200, 200, 200, 200, 200, 403, 200, 200, 401),
    other: HIDDEN(200),
    note: 'a task of that plan (the contractor’s)',
    request: (c) => ({ url: `/inspection-tasks/${fxOf(c.target).task}` }),
  },
  {
    method: 'POST',
    route: '/inspection-tasks/:id/results',
    own: row(201, 201, 201, 201, 403, 403, 201, 403, 401),
    other: HIDDEN(201),
    note: 'inspections.perform, and the task’s assignee (the contractor) (a fresh task each call)',
    request: async (c) => ({
      url: `/inspection-tasks/${(await freshPlan(c.target)).task}/results`,
      payload: { results: [{ facilityId: c.target.facility.id, outcome: 'ok', checklist: [{ itemId: 'ok', ok: true }] }] },
    }),
  },
  {
    method: 'POST',
    route: '/patrol/checkins',
    own: row(201, 201, 201, 201, 403, 403, 201, 403, 401),
    other: HIDDEN(201),
    note: 'check in at the world’s camera by its QR token: staff, and the contractor whose duty cameras are',
    request: (c) => ({ url: '/patrol/checkins', payload: { qrToken: c.target.facility.qr_token } }),
  },

  // Fund requests.
  {
    method: 'POST',
    route: '/fund-requests',
    own: row(201, 201, 403, 201, 201, 403, 403, 403, 401),
    other: HIDDEN(201),
    note: 'proposed in the world’s community: the property company’s manager, the owners’ committee',
    request: (c) => ({
      url: '/fund-requests',
      payload: {
        communityId: c.target.community.id,
        title: `维修-${uniq()}`,
        path: 'normal',
        decisionType: 'use_fund',
        scope: { unitIds: [c.target.unit.id] },
        budgetLines: [{ description: '材料与人工', amountCents: 100_000 }],
        funding: [{ source: 'maintenance_fund', amountCents: 100_000 }],
      },
    }),
  },
  { method: 'GET', route: '/fund-requests', own: EVERYONE(200), other: row(200, 404, 404, 404, 404, 404, 404, 404, 401, 404), note: 'other: filtered to the other world’s community', request: (c) => ({ url: c.target === c.actingAs ? '/fund-requests' : `/fund-requests?communityId=${c.target.community.id}` }) },
  {
    method: 'GET',
    route: '/fund-requests/:id',
    own: row(200, 200, 200, 200, 200, 200, 200, 200, 401),
    other: HIDDEN(200),
    note: 'a draft request of the world (its contractor named)',
    request: (c) => ({ url: `/fund-requests/${fxOf(c.target).fund}` }),
  },
  {
    method: 'POST',
    route: '/fund-requests/:id/transitions',
    own: row(200, 403, 403, 200, 403, 403, 403, 403, 401),
    other: HIDDEN(200),
    note: 'open the vote of a fresh draft: the committee',
    request: async (c) => ({ url: `/fund-requests/${await freshFund(c.target, 'draft')}/transitions`, payload: { to: 'voting', voteClosesAt: new Date(Date.now() + 14 * DAY).toISOString() } }),
  },
  {
    method: 'POST',
    route: '/fund-requests/:id/ballots',
    own: row(403, 403, 403, 403, 403, 200, 403, 403, 401),
    other: HIDDEN(403),
    note: 'a fresh vote: owners in scope vote',
    request: async (c) => ({ url: `/fund-requests/${await freshFund(c.target, 'voting')}/ballots`, payload: { choice: 'agree' } }),
  },
  {
    method: 'POST',
    route: '/fund-requests/:id/close-vote',
    own: row(200, 403, 403, 200, 403, 403, 403, 403, 401),
    other: HIDDEN(200),
    note: 'a fresh vote whose every voter voted: the committee closes it',
    request: async (c) => ({ url: `/fund-requests/${await freshFund(c.target, 'voted')}/close-vote` }),
  },
  {
    method: 'GET',
    route: '/fund-requests/:id/tally',
    own: row(200, 200, 200, 200, 200, 200, 200, 200, 401),
    other: HIDDEN(200),
    note: 'a request whose vote is open',
    request: (c) => ({ url: `/fund-requests/${fxOf(c.target).votingFund}/tally` }),
  },
  {
    method: 'GET',
    route: '/fund-requests/:id/notice',
    own: row(200, 200, 200, 200, 200, 200, 200, 200, 401),
    other: HIDDEN(200),
    note: 'as GET /fund-requests/:id',
    request: (c) => ({ url: `/fund-requests/${fxOf(c.target).fund}/notice` }),
  },
  {
    method: 'POST',
    route: '/fund-requests/:id/objections',
    own: row(403, 403, 403, 201, 201, 201, 403, 403, 401),
    other: HIDDEN(403),
    note: 'a fresh request in its public notice: owners and the owners’ committee object',
    request: async (c) => ({ url: `/fund-requests/${await freshFund(c.target, 'public_notice')}/objections`, payload: { body: '报价偏高' } }),
  },
  {
    method: 'POST',
    route: '/fund-requests/:id/works-done',
    own: row(403, 403, 403, 403, 403, 403, 200, 403, 401),
    other: HIDDEN(403),
    note: 'a fresh request in works: only its contractor attests the works done (not even a platform administrator)',
    request: async (c) => ({ url: `/fund-requests/${await freshFund(c.target, 'in_works')}/works-done` }),
  },
  {
    method: 'POST',
    route: '/fund-requests/:id/after-fact-notice',
    own: row(200, 403, 403, 200, 403, 403, 403, 403, 401),
    other: HIDDEN(200),
    note: 'a fresh approved emergency request: the committee records the after-the-fact notice',
    request: async (c) => ({ url: `/fund-requests/${await freshFund(c.target, 'approved_emergency')}/after-fact-notice` }),
  },
  {
    method: 'POST',
    route: '/fund-requests/:id/documents',
    own: row(201, 201, 201, 201, 201, 403, 201, 403, 401),
    other: HIDDEN(201),
    note: 'a quote: the committee, the property company, the request’s contractor',
    request: (c) => ({ url: `/fund-requests/${fxOf(c.target).fund}/documents`, ...multipart([{ name: 'kind', data: 'quote' }, { name: 'title', data: '报价单' }, { name: 'file', filename: 'quote.pdf', type: 'application/pdf', data: PDF }]) }),
  },
  {
    method: 'GET',
    route: '/fund-requests/:id/documents/:documentId',
    own: row(200, 200, 200, 200, 200, 200, 200, 200, 401),
    other: HIDDEN(200),
    note: 'a quote: whoever may read the request',
    request: (c) => ({ url: `/fund-requests/${fxOf(c.target).fund}/documents/${fxOf(c.target).fundDocument}` }),
  },
];

/** A fresh refresh token of the account (a login: every call spends or revokes its own). */
async function refreshTokenOf(email: string): Promise<string> {
  const res = await t.app.inject({ method: 'POST', url: `${API}/auth/login`, payload: { email, password: PASSWORD } });
  if (res.statusCode !== 200) throw new Error(`login ${email}: ${res.statusCode} ${res.body}`);
  return res.json().refreshToken as string;
}

interface GlobalRow {
  method: Method;
  route: string;
  role: Who;
  target: 'own' | 'other';
  expect: number;
}
const GLOBAL_MATRIX: GlobalRow[] = GLOBAL.flatMap((r) =>
  (['own', 'other'] as const).flatMap((target) => {
    const table = target === 'own' ? r.own : r.other;
    return table ? WHO.map((role) => ({ method: r.method, route: r.route, role, target, expect: table[role] })) : [];
  }),
);
const globalSpec = (method: Method, route: string) => GLOBAL.find((r) => r.method === method && r.route === route) as GlobalSpec;

async function callGlobal(r: GlobalSpec, target: CommunityWorld, actingAs: CommunityWorld, who: Who): Promise<LightMyRequestResponse> {
  const user = userOf(actingAs, who);
  const req = await r.request({ target, actingAs, who, user });
  return as(t.app, user?.id ?? null)({ ...req, method: r.method, url: `${API}${req.url}` });
}

describe('access matrix: every other route', () => {
  beforeAll(async () => {
    for (const w of [a, b]) fx.set(w, await makeFixtures(w));
  });

  it.each(GLOBAL_MATRIX)('$method $route as $role of A on $target → $expect', async ({ method, route, role, target, expect: status }) => {
    const r = globalSpec(method, route);
    const res = await callGlobal(r, target === 'own' ? a : b, a, role);
    expect(res.statusCode, res.body).toBe(status);
    // Sign-in routes say which credential failed (INVALID_CREDENTIALS, INVALID_REFRESH_TOKEN).
    if (status === 401) expect(res.json().error.code).toMatch(route.startsWith('/auth/') ? /^INVALID_/ : /^UNAUTHORIZED$/);
    if (status === 403) expect(res.json().error.code).toBe('FORBIDDEN');
    if (status === 404) {
      expect(res.json().error.code).toBe('NOT_FOUND');
      expect(res.json().error.message).not.toMatch(/^Route /);
    }
    if (route === '/notifications/:id/read' && target === 'other' && role !== 'platformAdmin' && role !== 'anonymous') {
      const theirs = await t.db.selectFrom('notifications').select('read_at').where('id', '=', notificationOf.get(`${b.community.id}|${role}`) as string).executeTakeFirstOrThrow();
      expect(theirs.read_at).toBeNull();
    }
    // A list aimed at the other world shows none of it to anyone but the platform administrator.
    if (target === 'other' && res.statusCode === 200 && role !== 'platformAdmin' && method === 'GET') expect(res.body).not.toContain(b.community.id);
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

/* ------------------------------------------------------------------------------------------- */
/* docs/ACCESS.md: the tables above in Markdown                                                  */

const ACCESS_MD = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../docs/ACCESS.md');
const HEADS: Record<Who, string> = {
  platformAdmin: 'platform admin',
  propertyManager: 'property manager',
  technician: 'technician',
  committeeChair: 'committee chair',
  committeeMember: 'committee member',
  owner: 'owner',
  contractor: 'contractor',
  authority: 'authority',
  resident: 'resident',
  anonymous: 'anonymous',
};
const cell = (n: number) => (n < 400 ? `**${n}**` : String(n));
const md = (text: string) => text.replace(/\|/g, '\\|');

function accessMarkdown(): string {
  const head = `| route | ${WHO.map((w) => HEADS[w]).join(' | ')} |`;
  const rule = `|---|${WHO.map(() => '---:').join('|')}|`;
  return [
    '# Access matrix',
    '',
    'Generated from the tables of `tests/access.test.ts`, which runs every cell against the app (`npm test`); a test fails when this file differs from them',
    '(rewrite it with `UPDATE_ACCESS_MD=1 npx vitest run tests/access.test.ts`). The rules are DESIGN.md "Access"; the capabilities are `src/plugins/access.ts`.',
    '',
    'Two communities (“worlds”) in different districts, each with one person in every role: its property company’s **property manager** and **technician** (staff),',
    'its owners’ committee’s **committee chair** and **committee member**, the **owner** of one unit, the manager of a **contractor** holding a delegated duty (the cameras),',
    'the district **authority**’s viewer; one **platform admin** for both; a **resident** (signed in, no unit and no role anywhere: a tenant; residents report faults',
    'through a facility’s QR code); and **anonymous** (no token). Every person acts on their own world’s records and, where a record is named, on the other world’s.',
    '',
    'Statuses: **2xx** allowed (bold), 401 not signed in, 403 the record is visible but the action is not the role’s, 404 not visible (another community’s record',
    'answers exactly as a record that does not exist, never its data). Ticket routes by kind of ticket (own, others’ private, assigned to the contractor…) are in',
    '`tests/tickets-access.test.ts`; fund rules by request state in `tests/funds.test.ts`; inspections in `tests/inspections.test.ts`.',
    '',
    '## Community pages: own community',
    '',
    'The same routes aimed at **the other community** answer 404 to every role but the platform admin (who gets the success status), 401 anonymous.',
    '',
    head,
    rule,
    ...ROUTES.map((r) => `| \`${r.method} ${r.route}\` | ${WHO.map((w) => cell(r.own[w])).join(' | ')} |`),
    '',
    '## Every other route',
    '',
    'Each cell: own world / the other world’s record (one figure where no record of a world is named).',
    '',
    `| route | ${WHO.map((w) => HEADS[w]).join(' | ')} | what is asked |`,
    `|---|${WHO.map(() => '---:').join('|')}|---|`,
    ...GLOBAL.map((r) => `| \`${r.method} ${r.route}\` | ${WHO.map((w) => (r.other ? `${cell(r.own[w])} / ${cell(r.other[w])}` : cell(r.own[w]))).join(' | ')} | ${md(r.note)} |`),
    '',
    '## Where this differs from “404 for another’s record”',
    '',
    '- `GET /tickets?communityId=<another community>` answers 200 with an empty page, while `GET /fund-requests`, `GET /inspection-plans` and `GET /inspection-tasks` with',
    '  such a filter answer 404. Neither shows the other community’s data.',
    '- `GET /reports/districts/:district/kpis`: a district is visible only to its authority (and platform admins); to every other role it is not there (404), even their own.',
    '- `POST /fund-requests/:id/works-done`: only the request’s contractor attests the works, so even the platform admin gets 403.',
    '',
  ].join('\n');
}

describe('docs/ACCESS.md', () => {
  it('is the access tables of this file', async () => {
    const text = accessMarkdown();
    if (process.env.UPDATE_ACCESS_MD === '1') await writeFile(ACCESS_MD, text);
    expect(await readFile(ACCESS_MD, 'utf8').catch(() => ''), 'docs/ACCESS.md is out of date: UPDATE_ACCESS_MD=1 npx vitest run tests/access.test.ts').toBe(text);
  });
});

describe('route coverage', () => {
  it('every route of the app has rows in the matrix', async () => {
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

    // Every route: a row in ROUTES (community pages) or GLOBAL (the rest), or the OpenAPI UI's own files.
    const covered = new Set([...ROUTES, ...GLOBAL].map((r) => `${r.method} ${r.route}`));
    const missing = served.filter((k) => !covered.has(k) && !DOCS_UI.test(k));
    expect(missing, 'routes with no row in the access matrix (add them to ROUTES or GLOBAL)').toEqual([]);
    // And the tables name no route the app does not serve (a typo would test nothing), each once.
    expect([...covered].filter((k) => !served.includes(k))).toEqual([]);
    expect(covered.size).toBe(ROUTES.length + GLOBAL.length);
  });

  it('the matrix has a row for every role on every route, both ways', () => {
    expect(WHO).toEqual(['platformAdmin', 'propertyManager', 'technician', 'committeeChair', 'committeeMember', 'owner', 'contractor', 'authority', 'resident', 'anonymous']);
    expect(OWN_MATRIX).toHaveLength(ROUTES.length * WHO.length);
    expect(OTHER_MATRIX).toHaveLength(ROUTES.length * WHO.length);
    const withOther = GLOBAL.filter((r) => r.other).length;
    expect(GLOBAL_MATRIX).toHaveLength((GLOBAL.length + withOther) * WHO.length);
    // A route about one record (a path parameter) is also tried on the other world's, unless it is public by its token.
    const noOther = GLOBAL.filter((r) => /:\w+/.test(r.route) && !r.other).map((r) => `${r.method} ${r.route}`);
    expect(noOther.sort()).toEqual(['GET /public/facilities/:qrToken', 'POST /admin/notifications/:id/retry', 'POST /public/facilities/:qrToken/reports'].sort());
  });
});
