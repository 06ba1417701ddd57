import { createHmac, randomBytes, randomUUID } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parse as parseCsv } from 'csv-parse/sync';
import fc from 'fast-check';
import type { InjectOptions, LightMyRequestResponse } from 'fastify';
import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestApp, type TestApp } from './helpers/app.js';
import { PASSWORD, ROLES, as, makeBuilding, makeCommunity, makeTwoWorlds, tokenFor, type CommunityWorld, type Role } from './helpers/factories.js';

/**
 * Hostile input (issue 7, item 3): a property-based fuzzer driven by the OpenAPI document.
 *
 * Every operation of GET /api/v1/docs/json gets requests built by fast-check from its own
 * schema — path parameters (real records of both worlds, random uuids, malformed, huge,
 * unicode, traversal), query strings (wrong types, huge, injection-shaped), bodies (valid,
 * then mutated: missing fields, wrong types, extra properties, deep nesting, 200 KB strings,
 * 1e308 / -0 / 1e400 numbers, arrays, null) and headers (wrong content types, garbage
 * Authorization) — as anonymous, as every role and with forged tokens. For every answer:
 *   - never a 5xx;
 *   - every 4xx is { error: { code, message, details? } };
 *   - a refused request (4xx) changes no row of any table (row count and newest row version per
 *     table, audit chain included); a GET that succeeds writes nothing but the audit trail.
 *
 * Bounded and reproducible: a fixed seed (FUZZ_SEED=<n> to replay, FUZZ_SEED=random for a fresh
 * one), FUZZ_RUNS runs per operation (default 25). A failure names the seed, the run and the
 * request.
 */

const API = '/api/v1';
const SEED = process.env.FUZZ_SEED === 'random' ? Math.floor(Math.random() * 2 ** 31) : Number(process.env.FUZZ_SEED ?? 20261123);
const RUNS = Number(process.env.FUZZ_RUNS ?? 25);
const uniq = () => randomBytes(4).toString('hex');

// ---------------------------------------------------------------------------------------------
// The OpenAPI document, read once at collection time so every operation gets its own test.

interface Schema {
  type?: string | string[];
  properties?: Record<string, Schema>;
  required?: string[];
  additionalProperties?: boolean | Schema;
  items?: Schema;
  anyOf?: Schema[];
  oneOf?: Schema[];
  allOf?: Schema[];
  enum?: unknown[];
  format?: string;
  pattern?: string;
  minLength?: number;
  maxLength?: number;
  minimum?: number;
  maximum?: number;
  minItems?: number;
  maxItems?: number;
  minProperties?: number;
  nullable?: boolean;
}

interface OpenApiParameter {
  in: 'path' | 'query' | 'header';
  name: string;
  required?: boolean;
  schema: Schema;
}

interface OpenApiOperation {
  parameters?: OpenApiParameter[];
  requestBody?: { content: Record<string, { schema?: Schema }> };
  summary?: string;
  description?: string;
}

type BodyKind = 'none' | 'json' | 'csv' | 'multipart';

interface Operation {
  key: string;
  method: 'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE';
  path: string;
  params: OpenApiParameter[];
  query: OpenApiParameter[];
  headers: OpenApiParameter[];
  bodyKind: BodyKind;
  bodySchema?: Schema;
}

const t: TestApp = await createTestApp({
  loginRateLimitPerMinute: 10_000,
  publicReportRateLimitPerMinute: 10_000,
  deviceAlarmRateLimitPerMinute: 100_000,
  uploadDir: await mkdtemp(join(tmpdir(), 'upkeep-fuzz-')),
});

const OPERATIONS: Operation[] = await (async () => {
  const res = await t.app.inject({ method: 'GET', url: `${API}/docs/json` });
  if (res.statusCode !== 200) throw new Error(`GET ${API}/docs/json answered ${res.statusCode}`);
  const doc = res.json<{ paths: Record<string, Record<string, OpenApiOperation>> }>();
  const ops: Operation[] = [];
  for (const [path, methods] of Object.entries(doc.paths)) {
    for (const [m, op] of Object.entries(methods)) {
      const method = m.toUpperCase() as Operation['method'];
      const parameters = op.parameters ?? [];
      const content = op.requestBody?.content ?? {};
      const multipart = JSON.stringify(op).includes('multipart/form-data');
      const bodyKind: BodyKind = multipart ? 'multipart' : content['text/csv'] ? 'csv' : content['application/json'] ? 'json' : 'none';
      ops.push({
        key: `${method} ${path}`,
        method,
        path,
        params: parameters.filter((p) => p.in === 'path'),
        query: parameters.filter((p) => p.in === 'query'),
        headers: parameters.filter((p) => p.in === 'header'),
        bodyKind,
        bodySchema: content['application/json']?.schema,
      });
    }
  }
  return ops;
})();

// ---------------------------------------------------------------------------------------------
// The worlds and the records the fuzzer aims at.

let w: Awaited<ReturnType<typeof makeTwoWorlds>>;
const devices = {} as Record<'a' | 'b', { id: string; secret: string }>;
const realEmails: string[] = [];

/** Ids of real records, by the path segment (or parameter name) that names them. */
type Pools = Record<string, string[]>;

/** Every pool, or (with a community) only that community's records. */
async function loadPools(communityId?: string): Promise<Pools> {
  const scoped = (where: string) => (communityId ? where.replaceAll(':c', `'${communityId}'`) : 'true');
  const q = async (query: string) => {
    try {
      return (await sql<{ v: string }>`${sql.raw(`SELECT v FROM (${query}) x ORDER BY 1 LIMIT 200`)}`.execute(t.db)).rows.map((r) => r.v);
    } catch {
      return []; // a table another module has not migrated yet
    }
  };
  const byCommunity = (table: string, column = 'id') => q(`SELECT ${column}::text AS v FROM ${table} WHERE ${scoped('community_id = :c')}`);
  const pools: Pools = {
    organizations: await q(
      `SELECT o.id::text AS v FROM organizations o WHERE ${scoped(`o.community_id = :c OR o.id IN (SELECT organization_id FROM duty_assignments WHERE community_id = :c) OR (o.kind = 'authority' AND o.district = (SELECT district FROM communities WHERE id = :c))`)}`,
    ),
    communities: await q(`SELECT id::text AS v FROM communities WHERE ${scoped('id = :c')}`),
    units: await byCommunity('units'),
    buildings: await byCommunity('buildings'),
    facilities: await byCommunity('facilities'),
    notifications: await q(
      `SELECT id::text AS v FROM notifications WHERE ${scoped('community_id = :c OR recipient_user_id IN (SELECT m.user_id FROM memberships m JOIN duty_assignments d ON d.organization_id = m.organization_id WHERE d.community_id = :c)')}`,
    ),
    duties: await byCommunity('duty_assignments'),
    'sla-policies': await byCommunity('sla_policies'),
    tickets: await byCommunity('tickets'),
    attachments: await q(`SELECT a.id::text AS v FROM ticket_attachments a JOIN tickets tk ON tk.id = a.ticket_id WHERE ${scoped('tk.community_id = :c')}`),
    devices: await q(`SELECT d.id::text AS v FROM devices d JOIN facilities f ON f.id = d.facility_id WHERE ${scoped('f.community_id = :c')}`),
    'fund-requests': await byCommunity('fund_requests'),
    documents: await q(`SELECT d.id::text AS v FROM fund_documents d JOIN fund_requests r ON r.id = d.request_id WHERE ${scoped('r.community_id = :c')}`),
    'inspection-plans': await byCommunity('inspection_plans'),
    'inspection-tasks': await byCommunity('inspection_tasks'),
    users: await q(
      `SELECT id::text AS v FROM users WHERE ${scoped('id IN (SELECT m.user_id FROM memberships m JOIN organizations o ON o.id = m.organization_id WHERE o.community_id = :c OR o.id IN (SELECT organization_id FROM duty_assignments WHERE community_id = :c)) OR id IN (SELECT user_id FROM owners WHERE community_id = :c)')}`,
    ),
    owners: await byCommunity('owners'),
    qrToken: await byCommunity('facilities', 'qr_token'),
    district: await q(`SELECT DISTINCT district AS v FROM communities WHERE ${scoped('id = :c')}`),
    /** "building,unit number" of the community's units, for the opening-balance CSV. */
    unitLabels: await q(`SELECT b.name || ',' || u.number AS v FROM units u JOIN buildings b ON b.id = u.building_id WHERE ${scoped('u.community_id = :c')}`),
  };
  pools.all = [...new Set(Object.entries(pools).flatMap(([k, v]) => (['qrToken', 'district', 'unitLabels'].includes(k) ? [] : v)))];
  return pools;
}

// ---------------------------------------------------------------------------------------------
// Who asks.

interface Actor {
  label: string;
  authorization?: string;
}

const b64url = (s: string) => Buffer.from(s).toString('base64url');
function hs256(payload: object, secret: string, header: object = { alg: 'HS256', typ: 'JWT' }): string {
  const head = `${b64url(JSON.stringify(header))}.${b64url(JSON.stringify(payload))}`;
  return `${head}.${createHmac('sha256', secret).update(head).digest('base64url')}`;
}

const worldOf = (name: 'a' | 'b') => (name === 'a' ? w.a : w.b);
const actorFor = (world: 'a' | 'b', role: Role): Actor => ({ label: `${role}@${world}`, authorization: `Bearer ${tokenFor(t.app, worldOf(world).users[role].id)}` });

/** Someone of the world itself, in any role (the platform admin included). */
function cleanActorArb(world: 'a' | 'b'): fc.Arbitrary<Actor> {
  return fc.constantFrom(...ROLES).map((role) => actorFor(world, role));
}

/** Nobody, someone of the other world, or a forged token. */
function hostileActorArb(world: 'a' | 'b'): fc.Arbitrary<Actor> {
  const other = world === 'a' ? 'b' : 'a';
  const forged = fc.constantFrom<() => Actor>(
    () => ({ label: 'anonymous' }),
    () => ({ label: 'bearer-empty', authorization: 'Bearer ' }),
    () => ({ label: 'bearer-garbage', authorization: 'Bearer garbage' }),
    () => ({ label: 'basic', authorization: 'Basic YWRtaW46YWRtaW4=' }),
    () => ({ label: 'bearer-huge', authorization: `Bearer ${'x'.repeat(20_000)}` }),
    () => ({ label: 'bearer-dots', authorization: 'Bearer a.b.c' }),
    () => ({ label: 'alg-none', authorization: `Bearer ${b64url('{"alg":"none","typ":"JWT"}')}.${b64url(JSON.stringify({ sub: w.admin.id, typ: 'access' }))}.` }),
    () => ({ label: 'wrong-key', authorization: `Bearer ${hs256({ sub: w.admin.id, typ: 'access', iat: Math.floor(Date.now() / 1000) }, 'not-the-secret')}` }),
    () => ({ label: 'unknown-user', authorization: `Bearer ${tokenFor(t.app, randomUUID())}` }),
    () => ({ label: 'sub-injection', authorization: `Bearer ${t.app.jwt.sign({ sub: "' OR 1=1 --", typ: 'access' } as never)}` }),
    () => ({ label: 'typ-refresh', authorization: `Bearer ${t.app.jwt.sign({ sub: w.admin.id, typ: 'refresh' } as never)}` }),
    () => ({ label: 'token-suffix', authorization: `Bearer ${tokenFor(t.app, w.admin.id)}x` }),
  );
  return fc.oneof(
    { arbitrary: fc.constantFrom(...ROLES.filter((r) => r !== 'platformAdmin')).map((role) => actorFor(other, role)), weight: 3 },
    { arbitrary: fc.constant<Actor>({ label: 'anonymous' }), weight: 2 },
    { arbitrary: forged.map((f) => f()), weight: 2 },
  );
}

// ---------------------------------------------------------------------------------------------
// Values.

/** Placeholders for JSON text that JSON.stringify cannot write (-0, 1e400…). */
class Raw {
  constructor(readonly text: string) {}
}

function toJson(v: unknown): string {
  if (v instanceof Raw) return v.text;
  if (Array.isArray(v)) return `[${v.map(toJson).join(',')}]`;
  if (v && typeof v === 'object') return `{${Object.entries(v).map(([k, x]) => `${JSON.stringify(k)}:${toJson(x)}`).join(',')}}`;
  return JSON.stringify(v) ?? 'null';
}

/** Lone surrogates replaced (encodeURIComponent throws on them). */
const wellFormed = (s: string) => s.replace(/[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/g, '\ufffd');

/** Short, readable form of a value for failure messages. */
const clip = (s: string, n = 300) => (s.length > n ? `${s.slice(0, n)}…(${s.length} chars)` : s);

const NASTY_STRINGS = [
  "' OR 1=1 --",
  "'; DROP TABLE tickets; --",
  '" OR ""="',
  '1; SELECT pg_sleep(10)',
  '{"$ne":null}',
  '{"$gt":""}',
  '<script>alert(1)</script>',
  '<img src=x onerror=alert(1)>',
  '${7*7}{{7*7}}',
  '%',
  '_',
  '\\',
  '%_\\',
  "\\'",
  '\u0000',
  'a\u0000b',
  '\u200b',
  '\u200b\u200c\u200d\ufeff',
  '\u202eevil',
  'e\u0301',
  'é',
  'ｆｕｌｌ　ｗｉｄｔｈ',
  '𝕏𝕐ℤ',
  '👩‍👩‍👧‍👦',
  '\ud800',
  '\udfff\ud800',
  '../../etc/passwd',
  '..\\..\\windows\\win.ini',
  '%2e%2e%2f',
  "=cmd|' /C calc'!A0",
  '+1+1',
  '-1-1',
  '@SUM(1)',
  '\t=1',
  ' ',
  '\n',
  '\r\n',
  'null',
  'undefined',
  'NaN',
  'Infinity',
  '-0',
  '1e308',
  '0x1F',
  'true',
  '[]',
  '{}',
  '__proto__',
  'constructor',
  '\u2028\u2029',
  '小区 楼栋 业主',
  'me',
];

const WRONG_VALUES: unknown[] = [
  null,
  0,
  -1,
  1.5,
  2 ** 53 + 2,
  -(2 ** 31) - 1,
  new Raw('-0'),
  new Raw('1e308'),
  new Raw('-1e308'),
  new Raw('1e400'),
  new Raw('-1e400'),
  new Raw('1e-400'),
  new Raw('123456789012345678901234567890'),
  'NaN',
  'Infinity',
  '',
  true,
  false,
  [],
  {},
  [1, 2, 3],
  { $ne: null },
  { $gt: '' },
  'not-a-uuid',
  '00000000-0000-0000-0000-000000000000',
  '2024-13-45',
  '0000-01-01T00:00:00Z',
  '9999-12-31T23:59:59Z',
];

const UUID_FIELD_POOL: Record<string, string> = {
  communityId: 'communities',
  buildingId: 'buildings',
  buildingIds: 'buildings',
  unitId: 'units',
  unitIds: 'units',
  facilityId: 'facilities',
  facilityIds: 'facilities',
  organizationId: 'organizations',
  contractorOrgId: 'organizations',
  assigneeOrgId: 'organizations',
  propertyCompanyId: 'organizations',
  assigneeUserId: 'users',
  userId: 'users',
  reporter: 'users',
  ownerId: 'owners',
  ticketIds: 'tickets',
  scanDocumentId: 'documents',
};

const pick = <T>(xs: readonly T[], fallback: T): fc.Arbitrary<T> => (xs.length ? fc.constantFrom(...xs) : fc.constant(fallback));

function typesOf(s: Schema): string[] {
  if (Array.isArray(s.type)) return s.type;
  return s.type ? [s.type] : [];
}

function dateArb(min = '0001-01-01', max = '9999-12-31'): fc.Arbitrary<Date> {
  return fc.date({ min: new Date(`${min}T00:00:00Z`), max: new Date(`${max}T23:59:59Z`), noInvalidDate: true });
}

/**
 * Values the schema accepts. Clean: what a real client would send (the world's own records,
 * injection-shaped but storable text); otherwise drawn towards edges and hostile strings too.
 */
function valueArb(s: Schema, pools: Pools, field: string, clean: boolean, depth = 0): fc.Arbitrary<unknown> {
  const alternatives: Array<fc.Arbitrary<unknown>> = [];
  if (s.nullable) alternatives.push(fc.constant(null));
  if (s.enum) return fc.oneof(fc.constantFrom(...s.enum), ...alternatives);
  const branches = s.anyOf ?? s.oneOf;
  if (branches?.length) return fc.oneof(...branches.map((b) => valueArb(b, pools, field, clean, depth)), ...alternatives);
  if (s.allOf?.length) return valueArb(Object.assign({}, ...s.allOf) as Schema, pools, field, clean, depth);
  const type = typesOf(s)[0] ?? (s.properties ? 'object' : 'string');
  switch (type) {
    case 'object': {
      const props = Object.entries(s.properties ?? {});
      if (depth > 4 || props.length === 0) return fc.constant({});
      const required = new Set(s.required ?? []);
      const record: Record<string, fc.Arbitrary<unknown>> = {};
      for (const [name, ps] of props) record[name] = valueArb(ps, pools, name, clean, depth + 1);
      return fc.record(record, { requiredKeys: props.map(([n]) => n).filter((n) => required.has(n)) });
    }
    case 'array': {
      const items = s.items ?? {};
      return fc.array(valueArb(items, pools, field, clean, depth + 1), { minLength: s.minItems ?? 0, maxLength: Math.max(s.minItems ?? 0, Math.min(s.maxItems ?? 3, 3)) });
    }
    case 'integer': {
      const min = s.minimum ?? -(2 ** 31);
      const max = s.maximum ?? 2 ** 31;
      const small = fc.integer({ min: Math.max(min, clean ? 0 : -(2 ** 40)), max: Math.min(max, clean ? Math.max(min, 1000) : 2 ** 40) });
      return fc.oneof({ arbitrary: small, weight: 4 }, { arbitrary: fc.constantFrom(min, max, Math.min(Math.max(0, min), max)), weight: 1 });
    }
    case 'number': {
      const min = s.minimum ?? (clean ? 0 : -1e308);
      const max = s.maximum ?? (clean ? 1e6 : 1e308);
      return fc.oneof(fc.double({ min, max, noNaN: true, noDefaultInfinity: true }), fc.constantFrom(min, max));
    }
    case 'boolean':
      return fc.boolean();
    default:
      return stringArb(s, pools, field, clean);
  }
}

/** Text a client may well send and a database must store as is. */
const STORABLE_STRINGS = NASTY_STRINGS.filter((x) => !x.includes('\u0000') && !/[\ud800-\udfff]/.test(x.replace(/[\ud800-\udbff][\udc00-\udfff]/g, '')));

function stringArb(s: Schema, pools: Pools, field: string, clean: boolean): fc.Arbitrary<string> {
  const min = s.minLength ?? 0;
  const max = s.maxLength ?? 500;
  const fit = (x: string) => (x.length > max ? x.slice(0, max) : x.length < min ? x.padEnd(min, 'x') : x);
  switch (s.format) {
    case 'uuid': {
      const pool = pools[UUID_FIELD_POOL[field] ?? 'all'] ?? [];
      if (clean) return pick(pool, randomUUID());
      return fc.oneof({ arbitrary: pick(pool, randomUUID()), weight: 4 }, { arbitrary: pick(pools.all ?? [], randomUUID()), weight: 1 }, { arbitrary: fc.uuid(), weight: 1 });
    }
    case 'date-time':
      return fc.oneof(
        { arbitrary: dateArb('2000-01-01', '2100-12-31').map((d) => d.toISOString()), weight: 4 },
        { arbitrary: fc.integer({ min: 1, max: 90 * 86_400 }).map((sec) => new Date(Date.now() + sec * 1000).toISOString()), weight: clean ? 4 : 1 },
        ...(clean
          ? []
          : [
              { arbitrary: fc.constantFrom('0001-01-01T00:00:00Z', '9999-12-31T23:59:59.999Z', '1970-01-01T00:00:00+14:00', '2000-01-01T00:00:00.123456789Z', '2026-12-31T23:59:60Z'), weight: 1 },
              { arbitrary: dateArb().map((d) => d.toISOString()), weight: 1 },
            ]),
      );
    case 'date':
      return fc.oneof(
        dateArb('2000-01-01', '2100-12-31').map((d) => d.toISOString().slice(0, 10)),
        ...(clean ? [] : [fc.constantFrom('0000-01-01', '0001-01-01', '9999-12-31', '2024-02-29'), dateArb().map((d) => d.toISOString().slice(0, 10))]),
      );
    case 'email':
      return fc.oneof(
        pick(realEmails, 'x@test.upkeep.cn'),
        fc.emailAddress().filter((e) => e.length <= max),
        fc.constantFrom("o'brien@test.upkeep.cn", 'a+b@test.upkeep.cn', `${uniq()}@test.upkeep.cn`),
      );
    default:
      break;
  }
  if (s.pattern) {
    const re = new RegExp(s.pattern);
    const matching = fc.stringMatching(re, { size: 'small' }).filter((x) => x.length >= min && x.length <= max && !x.includes('\u0000'));
    return clean ? matching : fc.oneof({ arbitrary: matching, weight: 3 }, { arbitrary: fc.constantFrom(...NASTY_STRINGS).map(fit), weight: 1 });
  }
  const pool = field === 'qrToken' ? pools.qrToken : field === 'district' ? pools.district : undefined;
  if (field === 'password' && clean) return fc.constantFrom(PASSWORD, 'wrong-password');
  if (clean) {
    return fc.oneof(
      { arbitrary: fc.string({ minLength: Math.max(min, 1), maxLength: Math.max(Math.min(max, 30), min) }), weight: 3 },
      { arbitrary: fc.string({ unit: 'grapheme', minLength: Math.max(min, 1), maxLength: Math.max(Math.min(max, 12), min) }), weight: 2 },
      { arbitrary: fc.constantFrom(...STORABLE_STRINGS).map(fit), weight: 2 },
      ...(pool?.length ? [{ arbitrary: fc.constantFrom(...pool), weight: 4 }] : []),
    );
  }
  return fc.oneof(
    { arbitrary: fc.string({ minLength: min, maxLength: Math.min(max, 40) }), weight: 3 },
    { arbitrary: fc.string({ unit: 'grapheme', minLength: min, maxLength: Math.min(max, 20) }), weight: 2 },
    { arbitrary: fc.string({ unit: 'binary', minLength: min, maxLength: Math.min(max, 20) }), weight: 1 },
    { arbitrary: fc.constantFrom(...NASTY_STRINGS).map(fit), weight: 3 },
    // Schema-valid text PostgreSQL cannot store (a NUL byte) or that is unusual UTF-16.
    { arbitrary: fc.constantFrom('\u0000', 'a\u0000b', '漏水\u0000', '\ud800', 'x\udfff').map(fit), weight: 2 },
    { arbitrary: fc.constant(max <= 100_000 ? 'ж'.repeat(max) : 'x'.repeat(1000)), weight: 1 },
    ...(pool?.length ? [{ arbitrary: fc.constantFrom(...pool), weight: 3 }] : []),
  );
}

// ---------------------------------------------------------------------------------------------
// Bodies.

interface BodySpec {
  kind: string;
  contentType?: string;
  payload?: string | Buffer;
}

/** Every place in a value where a mutation can land: [] is the value itself. */
function pathsOf(v: unknown, prefix: Array<string | number> = [], out: Array<Array<string | number>> = []): Array<Array<string | number>> {
  out.push(prefix);
  if (Array.isArray(v)) v.forEach((x, i) => pathsOf(x, [...prefix, i], out));
  else if (v && typeof v === 'object' && !(v instanceof Raw)) for (const [k, x] of Object.entries(v)) pathsOf(x, [...prefix, k], out);
  return out;
}

type Mutation = { kind: 'replace'; value: unknown } | { kind: 'delete' } | { kind: 'extra'; key: string; value: unknown };

function mutate(value: unknown, at: number, m: Mutation): unknown {
  const clone = structuredCloneRaw(value);
  const paths = pathsOf(clone);
  const path = paths[at % paths.length] ?? [];
  if (path.length === 0) {
    if (m.kind === 'replace') return m.value;
    if (m.kind === 'extra' && clone && typeof clone === 'object' && !Array.isArray(clone)) {
      Object.defineProperty(clone, m.key, { value: m.value, enumerable: true, configurable: true, writable: true });
    }
    return clone;
  }
  const parent = path.slice(0, -1).reduce<unknown>((o, k) => (o as Record<string | number, unknown>)[k], clone) as Record<string | number, unknown>;
  const last = path[path.length - 1] as string | number;
  if (m.kind === 'replace') parent[last] = m.value;
  else if (m.kind === 'delete') {
    if (Array.isArray(parent)) parent.splice(last as number, 1);
    else delete parent[last];
  } else {
    const target = parent[last];
    if (target && typeof target === 'object' && !Array.isArray(target) && !(target instanceof Raw)) {
      Object.defineProperty(target, m.key, { value: m.value, enumerable: true, configurable: true, writable: true });
    } else parent[last] = m.value;
  }
  return clone;
}

function structuredCloneRaw(v: unknown): unknown {
  if (v instanceof Raw) return v;
  if (Array.isArray(v)) return v.map(structuredCloneRaw);
  if (v && typeof v === 'object') return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, structuredCloneRaw(x)]));
  return v;
}

const deepNesting = fc.tuple(fc.constantFrom('array', 'object', 'field'), fc.integer({ min: 500, max: 20_000 })).map(([shape, depth]) => {
  if (shape === 'array') return new Raw(`${'['.repeat(depth)}${']'.repeat(depth)}`);
  if (shape === 'object') return new Raw(`${'{"a":'.repeat(depth)}1${'}'.repeat(depth)}`);
  return new Raw(`{"title":${'{"a":'.repeat(depth)}null${'}'.repeat(depth)}}`);
});

const mutationArb: fc.Arbitrary<Mutation> = fc.oneof(
  { arbitrary: fc.constantFrom(...WRONG_VALUES).map((value): Mutation => ({ kind: 'replace', value })), weight: 4 },
  { arbitrary: fc.constantFrom(...NASTY_STRINGS).map((value): Mutation => ({ kind: 'replace', value })), weight: 3 },
  { arbitrary: fc.constant<Mutation>({ kind: 'delete' }), weight: 3 },
  {
    arbitrary: fc
      .tuple(fc.constantFrom('isPlatformAdmin', 'id', 'role', 'status', 'createdAt', '__proto__', 'constructor', 'communityId', '$where', 'x'), fc.constantFrom<unknown>(true, 'admin', { isPlatformAdmin: true }, null, 1))
      .map(([key, value]): Mutation => ({ kind: 'extra', key, value })),
    weight: 2,
  },
  { arbitrary: fc.constantFrom(200_000, 150_000).map((n): Mutation => ({ kind: 'replace', value: '字'.repeat(n / 3) })), weight: 1 },
  { arbitrary: deepNesting.map((value): Mutation => ({ kind: 'replace', value })), weight: 1 },
);

const WRONG_CONTENT_TYPES = [
  'text/plain',
  'application/xml',
  'application/x-www-form-urlencoded',
  'multipart/form-data; boundary=zzz',
  'text/csv',
  'application/json; charset=utf-16',
  'application/json; charset=latin1',
  'application/vnd.api+json',
  'image/png',
  '',
  'application/json, text/plain',
];

const INVALID_JSON = ['{', '{"a":}', "{'a':1}", 'NaN', '[1,]', '{"a":1}{"b":2}', '\u0000', '{"a":"\\u00"}', 'nul', '"unterminated', '{"__proto__":{"isPlatformAdmin":true}}', '{"constructor":{"prototype":{"x":1}}}', '\ufeff{}'];

function jsonBodyArb(schema: Schema | undefined, pools: Pools, clean: boolean): fc.Arbitrary<BodySpec> {
  const json = (kind: string) => (v: unknown): BodySpec => ({ kind, contentType: 'application/json', payload: toJson(v) });
  const cleanBase = schema ? valueArb(schema, pools, '', true) : fc.constant<unknown>({});
  if (clean) return cleanBase.map(json('valid'));
  const base = schema ? valueArb(schema, pools, '', false) : fc.constant<unknown>({});
  return fc.oneof(
    { arbitrary: base.map(json('valid-edges')), weight: 3 },
    { arbitrary: fc.tuple(cleanBase, fc.nat(), mutationArb).map(([v, at, m]) => json(`mutated:${m.kind}`)(mutate(v, at, m))), weight: 6 },
    { arbitrary: fc.tuple(base, fc.nat(), mutationArb, fc.nat(), mutationArb).map(([v, a1, m1, a2, m2]) => json('mutated-twice')(mutate(mutate(v, a1, m1), a2, m2))), weight: 2 },
    { arbitrary: fc.constantFrom<unknown>(null, [], 'a string', 0, true, {}, [{}], new Raw('1e400')).map(json('replaced')), weight: 2 },
    { arbitrary: cleanBase.map((v) => json('array-of-body')([v, v])), weight: 1 },
    { arbitrary: deepNesting.map(json('deep')), weight: 1 },
    { arbitrary: fc.constantFrom(...INVALID_JSON).map((p): BodySpec => ({ kind: 'invalid-json', contentType: 'application/json', payload: p })), weight: 2 },
    { arbitrary: fc.tuple(cleanBase, fc.constantFrom(...WRONG_CONTENT_TYPES)).map(([v, ct]): BodySpec => ({ kind: `content-type:${ct}`, contentType: ct, payload: toJson(v) })), weight: 2 },
    { arbitrary: fc.constantFrom<BodySpec>({ kind: 'none' }, { kind: 'empty-json', contentType: 'application/json', payload: '' }), weight: 1 },
  );
}

const CSV_CELLS = ["=cmd|' /C calc'!A0", '+1', '-2', '@SUM(A1)', '\t=1', '"unbalanced', 'a""b', '\u0000', '\u200b', '楼A', '101', '88.50', '-5', '1e308', '0.001', '13800138000', 'x@test.upkeep.cn', 'yes', '', ' ', '王五', '<script>', "' OR 1=1 --"];

const csvQuote = (c: string) => (/[",\r\n]/.test(c) ? `"${c.replace(/"/g, '""')}"` : c);

/** A register (units import) or opening balances (ledger) file a real client could send. */
function cleanCsvArb(op: Operation, pools: Pools): fc.Arbitrary<BodySpec> {
  const name = fc.oneof(fc.string({ minLength: 1, maxLength: 12 }), fc.constantFrom(...STORABLE_STRINGS, "=cmd|' /C calc'!A0", '+SUM(1)', '王五', '@A1'));
  if (op.path.includes('opening-balances')) {
    return fc
      .tuple(fc.boolean(), fc.subarray(pools.unitLabels ?? [], { minLength: 0 }), fc.constantFrom('1000.00', '0', '-35.50', '12.345', 'abc', '99999999999'))
      .map(([header, labels, amount]): BodySpec => ({
        kind: 'csv-balances',
        contentType: 'text/csv',
        payload: `${header ? 'building,unit number,balance\n' : ''}${labels.map((l) => `${l.split(',').map(csvQuote).join(',')},${amount}`).join('\n')}\n`,
      }));
  }
  const phone = fc.option(fc.stringMatching(/^1[3-9][0-9]{9}$/), { nil: '' });
  return fc
    .tuple(fc.boolean(), fc.array(fc.tuple(name, fc.constantFrom('88.50', '120', '60.25'), name, phone, fc.constantFrom('', '1000.00')), { minLength: 1, maxLength: 4 }))
    .map(([header, rows]): BodySpec => {
      const building = `B-${uniq()}`;
      return {
        kind: 'csv-register',
        contentType: 'text/csv',
        payload: `${header ? 'building,unit number,area m²,owner name,owner phone,owner email,first deposit\n' : ''}${rows
          .map(([unit, area, owner, tel, deposit], i) => [building, `${i + 1}${unit}`.slice(0, 40), area, owner, tel, '', deposit].map(csvQuote).join(','))
          .join('\n')}\n`,
      };
    });
}

function hostileCsvArb(op: Operation, pools: Pools): fc.Arbitrary<BodySpec> {
  const cell = fc.oneof(fc.constantFrom(...CSV_CELLS), fc.string({ maxLength: 12 }), fc.string({ unit: 'grapheme', maxLength: 8 }));
  const rows = fc
    .tuple(fc.boolean(), fc.array(fc.array(cell, { minLength: 1, maxLength: 9 }), { minLength: 1, maxLength: 4 }))
    .map(([header, rs]): BodySpec => ({
      kind: 'csv-rows',
      contentType: 'text/csv',
      payload: `${header ? 'building,unit number,area m²,owner name,owner phone,owner email,first deposit\n' : ''}${rs.map((r) => r.map(csvQuote).join(',')).join('\n')}\n`,
    }));
  const garbage = fc
    .constantFrom(
      '',
      '\ufeff',
      '"unterminated,field\n1,2,3',
      'a,b,c\n"x"y",1,2',
      '\u0000\u0001\u0002',
      'building,unit\n',
      ',,,,,,\n,,,,,,',
      `${'x'.repeat(200_000)},1,2`,
      'a;b;c\n1;2;3',
      '\r\r\r\n\n',
      Buffer.from([0xff, 0xfe, 0x00, 0x41]).toString('latin1'),
    )
    .map((payload): BodySpec => ({ kind: 'csv-garbage', contentType: 'text/csv', payload }));
  const otherType = fc
    .tuple(cleanCsvArb(op, pools), fc.constantFrom('text/csv; charset=latin1', 'application/csv', 'text/csv; charset=utf-8; foo=bar', 'application/json', 'text/plain', 'multipart/form-data; boundary=x'))
    .map(([b, ct]): BodySpec => ({ kind: `csv-as:${ct}`, contentType: ct, payload: b.payload }));
  return fc.oneof({ arbitrary: rows, weight: 4 }, { arbitrary: garbage, weight: 3 }, { arbitrary: otherType, weight: 2 }, { arbitrary: jsonBodyArb({ type: 'object' }, pools, false), weight: 1 });
}

/** Multipart that must never be accepted: malformed, truncated, without a file, or not a file we take. */
function multipartBodyArb(): fc.Arbitrary<BodySpec> {
  const boundary = 'fuzzboundary';
  const part = (headers: string, data: string) => `--${boundary}\r\n${headers}\r\n\r\n${data}\r\n`;
  const variants: BodySpec[] = [
    { kind: 'mp-no-file', contentType: `multipart/form-data; boundary=${boundary}`, payload: `${part('Content-Disposition: form-data; name="title"', 'x')}--${boundary}--\r\n` },
    { kind: 'mp-truncated', contentType: `multipart/form-data; boundary=${boundary}`, payload: part('Content-Disposition: form-data; name="file"; filename="a.png"\r\nContent-Type: image/png', '\x89PNG') },
    { kind: 'mp-wrong-boundary', contentType: 'multipart/form-data; boundary=other', payload: `${part('Content-Disposition: form-data; name="file"; filename="a.png"', 'x')}--${boundary}--\r\n` },
    { kind: 'mp-no-boundary', contentType: 'multipart/form-data', payload: `${part('Content-Disposition: form-data; name="file"; filename="a.png"', 'x')}--${boundary}--\r\n` },
    { kind: 'mp-empty', contentType: `multipart/form-data; boundary=${boundary}`, payload: '' },
    {
      kind: 'mp-not-an-image',
      contentType: `multipart/form-data; boundary=${boundary}`,
      payload: `${part('Content-Disposition: form-data; name="file"; filename="../../x.png"\r\nContent-Type: image/png', 'GARBAGE<?php system($_GET[c]); ?>')}--${boundary}--\r\n`,
    },
    {
      kind: 'mp-html-as-pdf',
      contentType: `multipart/form-data; boundary=${boundary}`,
      payload: `${part('Content-Disposition: form-data; name="kind"', 'quote')}${part('Content-Disposition: form-data; name="file"; filename="q.pdf"\r\nContent-Type: application/pdf', '<html><script>alert(1)</script></html>')}--${boundary}--\r\n`,
    },
    { kind: 'mp-garbage', contentType: `multipart/form-data; boundary=${boundary}`, payload: '\r\n\r\n--\r\n--fuzzboundary\r\n\r\n' },
  ];
  return fc.oneof({ arbitrary: fc.constantFrom(...variants), weight: 4 }, { arbitrary: jsonBodyArb({ type: 'object' }, {}, false), weight: 1 });
}

// ---------------------------------------------------------------------------------------------
// Path parameters, query strings, headers.

const MALFORMED_PARAMS = [
  'not-a-uuid',
  '0',
  '-1',
  "1' OR '1'='1",
  '../../etc/passwd',
  '..',
  '.',
  '%00',
  'null',
  'undefined',
  '{"$ne":null}',
  '<script>alert(1)</script>',
  '00000000-0000-0000-0000-000000000000',
  'ffffffff-ffff-ffff-ffff-ffffffffffff',
  '12345678-1234-1234-1234-1234567890ab0',
  '12345678123412341234123456789012',
  '{12345678-1234-1234-1234-123456789012}',
  ' ',
  '\u0000',
  '\u200b',
  '小区',
];

const poolFor = (op: Operation, name: string, pools: Pools): string[] => {
  const segments = op.path.split('/');
  const before = segments[segments.indexOf(`{${name}}`) - 1] ?? '';
  return pools[name] ?? pools[before] ?? pools.all ?? [];
};

/** [value, raw]: raw values go into the URL unencoded (traversal, bad percent-encoding). */
function paramArb(op: Operation, p: OpenApiParameter, pools: Pools, global: Pools, clean: boolean): fc.Arbitrary<[string, boolean]> {
  const pool = poolFor(op, p.name, pools);
  const enc = (x: fc.Arbitrary<string>) => x.map((v): [string, boolean] => [v, false]);
  if (clean) return enc(pick(pool, randomUUID()));
  return fc.oneof(
    { arbitrary: enc(pick(poolFor(op, p.name, global), randomUUID())), weight: 3 },
    { arbitrary: enc(pick(pool, randomUUID()).map((v) => v.toUpperCase())), weight: 1 },
    { arbitrary: enc(pick(global.all ?? [], randomUUID())), weight: 2 },
    { arbitrary: enc(fc.uuid()), weight: 2 },
    { arbitrary: enc(fc.constantFrom(...MALFORMED_PARAMS)), weight: 3 },
    { arbitrary: enc(fc.string({ unit: 'grapheme', minLength: 1, maxLength: 30 })), weight: 1 },
    { arbitrary: enc(fc.constantFrom('a'.repeat(99), 'a'.repeat(101), 'ж'.repeat(5000))), weight: 1 },
    { arbitrary: fc.constantFrom<[string, boolean]>(['..', true], ['../..', true], ['%zz', true], ['%E0%A4%A', true], ['%2F..%2F', true], [';', true], ['a%00b', true]), weight: 1 },
  );
}

const HOSTILE_QUERY = [
  "' OR 1=1 --",
  '{"$ne":null}',
  '<script>alert(1)</script>',
  '%',
  '_',
  '\\',
  '1e308',
  '-0',
  'NaN',
  '-1',
  '0',
  '99999999999999999999',
  'true',
  'null',
  '',
  '\u0000',
  '\u200b',
  'a,b,,c',
  'open,new',
  'me',
  '2024-13-45',
  '0001-01-01T00:00:00Z',
  '9999-12-31T23:59:59Z',
  '0000-01-01',
  'eyJ0IjoiMjAyNC0wMS0wMVQwMDowMDowMFoiLCJpZCI6IjEifQ',
  Buffer.from('{"t":"1","id":"------------------------------------"}').toString('base64url'),
  Buffer.from('{"k":"1","id":"00000000-0000-0000-0000-000000000000"}').toString('base64url'),
  Buffer.from('{"k":"infinity","id":"00000000-0000-0000-0000-000000000000"}').toString('base64url'),
  Buffer.from('{"t":"+275760-09-13T00:00:00Z","id":"00000000-0000-0000-0000-000000000000"}').toString('base64url'),
];

const toQuery = (pairs: Array<[string, string]>, tail = '') => {
  const qs = pairs.map(([k, v]) => `${encodeURIComponent(k)}=${encodeURIComponent(wellFormed(v))}`).join('&');
  return qs || tail ? `?${qs}${tail}` : '';
};

/** Cursors that decode, name a uuid-like id and a time JavaScript parses but PostgreSQL may not. */
const HOSTILE_CURSORS = ['t', 'k', 'd'].flatMap((key) =>
  ['+275760-09-13T00:00:00Z', '-271821-04-20T00:00:00Z', '1', '2024', 'Tue Mar 01 2022', '2024-01-01T00:00:00+14:00', '2024-02-30T00:00:00Z', '0001-01-01T00:00:00Z', 'infinity', '-infinity', '2024-01-01 00:00:00 PST'].flatMap((time) =>
    ['00000000-0000-0000-0000-000000000000', '------------------------------------'].map((id) => Buffer.from(JSON.stringify({ [key]: time, id })).toString('base64url')),
  ),
);

type Level = 'clean' | 'edges' | 'hostile';

function queryArb(op: Operation, pools: Pools, level: Level): fc.Arbitrary<string> {
  if (level !== 'hostile') {
    const clean = level === 'clean';
    const entries = op.query
      .filter((p) => !clean || p.name !== 'cursor')
      .map((p) =>
        fc
          .option(p.name === 'cursor' ? fc.constantFrom(...HOSTILE_CURSORS) : valueArb(p.schema, pools, p.name, clean), { nil: undefined })
          .map((v): Array<[string, string]> => (v === undefined ? [] : [[p.name, String(v)]])),
      );
    return fc.tuple(...entries).map((e) => toQuery(e.flat()));
  }
  const entries = op.query.map((p) =>
    fc.option(
      fc.oneof(
        { arbitrary: valueArb(p.schema, pools, p.name, false).map((v) => [String(v)]), weight: 3 },
        { arbitrary: fc.constantFrom(...HOSTILE_QUERY).map((v) => [v]), weight: 2 },
        { arbitrary: fc.tuple(fc.constantFrom(...HOSTILE_QUERY), fc.constantFrom(...HOSTILE_QUERY)).map(([x, y]) => [x, y]), weight: 1 },
        { arbitrary: fc.constantFrom('x'.repeat(20_000), '字'.repeat(5_000)).map((v) => [v]), weight: 1 },
        { arbitrary: fc.constantFrom(...HOSTILE_CURSORS).map((v) => [v]), weight: p.name === 'cursor' ? 4 : 0 },
      ),
      { nil: undefined, freq: 2 },
    ).map((v): Array<[string, string]> => (v ? v.map((x) => [p.name, x]) : [])),
  );
  const extra = fc.array(fc.tuple(fc.constantFrom('__proto__', 'constructor[prototype][x]', 'limit[]', 'token', 'a', '$where', 'q[$ne]'), fc.constantFrom(...HOSTILE_QUERY)), { maxLength: 2 });
  const rawTail = fc.constantFrom('', '', '', '&%zz=1', '&=&&', '&a=%E0%A4%A');
  return fc.tuple(fc.tuple(...entries), extra, rawTail).map(([declared, more, tail]) => toQuery([...declared.flat(), ...more], tail));
}

const EXTRA_HEADERS: Array<Record<string, string>> = [
  {},
  { accept: 'text/csv' },
  { accept: 'application/xml' },
  { 'accept-language': 'en' },
  { 'x-forwarded-for': '1.2.3.4, <script>' },
  { cookie: 'upkeep_queues=garbage; a=b' },
  { 'x-request-id': "' OR 1=1 --" },
  { 'content-encoding': 'gzip' },
];

function deviceHeadersArb(world: 'a' | 'b', clean: boolean): fc.Arbitrary<Record<string, string>> {
  const own = devices[world];
  if (clean) return fc.constant({ 'x-device-id': own.id, 'x-device-secret': own.secret });
  const other = devices[world === 'a' ? 'b' : 'a'];
  const id = fc.constantFrom(own.id, own.id.toUpperCase(), other.id, randomUUID(), 'not-a-uuid', '', "' OR 1=1 --", 'x'.repeat(5000));
  const secret = fc.constantFrom(own.secret, other.secret, `${own.secret}x`, '', 'wrong', 'x'.repeat(5000));
  return fc.option(fc.record({ 'x-device-id': id, 'x-device-secret': secret }, { requiredKeys: [] }), { nil: {}, freq: 4 });
}

// ---------------------------------------------------------------------------------------------
// Checks.

type Snapshot = Map<string, string>;
let TABLES: string[] = [];

/** Row count and newest row version (max xmin) of every table: any insert, update or delete shows. */
async function snapshot(): Promise<Snapshot> {
  const parts = TABLES.map((tb) => `SELECT '${tb}' AS t, count(*)::text || '/' || coalesce(max(xmin::text::bigint), 0)::text AS v FROM "${tb}"`);
  const { rows } = await sql<{ t: string; v: string }>`${sql.raw(parts.join(' UNION ALL '))}`.execute(t.db);
  return new Map(rows.map((r) => [r.t, r.v]));
}

function changedTables(before: Snapshot, after: Snapshot): string[] {
  return [...after.keys()].filter((k) => before.get(k) !== after.get(k));
}

/**
 * Writes a refused request may make, each for a reason. Anything else a 4xx changes fails.
 */
function allowedOnRefusal(op: Operation, status: number): string[] {
  // A wrong password counts against the account (lockout after loginMaxFailures).
  if (op.key === `POST ${API}/auth/login` && (status === 401 || status === 423)) return ['users'];
  return [];
}

/** A successful GET writes nothing but the audit trail (reads of personal data are recorded). */
const GET_MAY_WRITE = new Set(['audit_events', 'audit_chain_heads', 'audit_verifications']);

/**
 * clean: what a real client sends; edges: the same with schema-valid edge values (NUL bytes,
 * extreme dates and numbers, odd cursors); the others: that one part hostile; all: everything.
 */
type Mode = 'clean' | 'edges' | 'actor' | 'params' | 'query' | 'body' | 'headers' | 'all';

interface Sample {
  mode: Mode;
  actor: Actor;
  params: Array<[string, boolean]>;
  query: string;
  body: BodySpec;
  extraHeaders: Record<string, string>;
  deviceHeaders: Record<string, string>;
}

function buildRequest(op: Operation, s: Sample): InjectOptions & { url: string } {
  let url = op.path;
  op.params.forEach((p, i) => {
    const [value, raw] = s.params[i] ?? ['x', false];
    url = url.replace(`{${p.name}}`, raw ? value : encodeURIComponent(wellFormed(value)));
  });
  const headers: Record<string, string> = { ...s.extraHeaders, ...s.deviceHeaders };
  if (s.actor.authorization) headers.authorization = s.actor.authorization;
  if (s.body.contentType !== undefined) headers['content-type'] = s.body.contentType;
  return { method: op.method, url: `${url}${s.query}`, headers, ...(s.body.payload !== undefined ? { payload: s.body.payload } : {}) };
}

function describeRequest(req: InjectOptions & { url: string }, s: Sample): string {
  const payload = req.payload === undefined ? '(no body)' : clip(typeof req.payload === 'string' ? req.payload : Buffer.isBuffer(req.payload) ? req.payload.toString('latin1') : JSON.stringify(req.payload));
  return `[${s.mode}] ${req.method} ${clip(req.url, 400)} as ${s.actor.label}; body ${s.body.kind} [${s.body.contentType ?? 'no content-type'}]: ${payload}; headers ${clip(JSON.stringify({ ...req.headers, authorization: undefined }), 200)}`;
}

/** Every error answers { error: { code, message, details? } } and nothing else. */
function errorShapeProblem(res: LightMyRequestResponse): string | undefined {
  if (!String(res.headers['content-type'] ?? '').startsWith('application/json')) return `content-type ${String(res.headers['content-type'])}`;
  let body: unknown;
  try {
    body = res.json();
  } catch {
    return 'body is not JSON';
  }
  if (!body || typeof body !== 'object' || Array.isArray(body)) return 'body is not an object';
  const keys = Object.keys(body);
  if (keys.length !== 1 || keys[0] !== 'error') return `top-level keys ${keys.join(',')}`;
  const error = (body as { error: unknown }).error as Record<string, unknown>;
  if (!error || typeof error !== 'object') return 'error is not an object';
  if (typeof error.code !== 'string' || !/^[A-Z][A-Z0-9_]*$/.test(error.code)) return `error.code ${JSON.stringify(error.code)}`;
  if (typeof error.message !== 'string' || error.message.length === 0) return 'error.message missing';
  const extra = Object.keys(error).filter((k) => !['code', 'message', 'details'].includes(k));
  if (extra.length) return `error has ${extra.join(',')}`;
  return undefined;
}

const stats = new Map<string, Record<string, number>>();

// ---------------------------------------------------------------------------------------------

beforeAll(async () => {
  w = await makeTwoWorlds(t.db);
  TABLES = (await sql<{ t: string }>`SELECT tablename AS t FROM pg_tables WHERE schemaname = 'public' AND tablename NOT LIKE 'kysely%' ORDER BY 1`.execute(t.db)).rows.map((r) => r.t);
  realEmails.push(...(await t.db.selectFrom('users').select('email').execute()).map((u) => u.email));

  // Real records of every kind for the fuzzer to aim at, made through the API.
  const PNG = Buffer.from('iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg==', 'base64');
  for (const world of [w.a, w.b]) {
    const pm = as(t.app, world.users.propertyManager.id);
    const owner = as(t.app, world.users.owner.id);
    const ok = (res: LightMyRequestResponse) => {
      expect(res.statusCode, res.body).toBeLessThan(300);
      return res.json();
    };
    const ticket = ok(await owner({ method: 'POST', url: `${API}/tickets`, payload: { communityId: world.community.id, title: '电梯异响', category: 'elevator', unitId: world.unit.id } }));
    ok(await pm({ method: 'POST', url: `${API}/tickets`, payload: { communityId: world.community.id, title: '摄像机离线', category: 'camera', facilityId: world.facility.id } }));
    ok(await pm({ method: 'POST', url: `${API}/tickets/${ticket.id}/comments`, payload: { body: '已派单' } }));
    const boundary = `----fuzz${uniq()}`;
    ok(
      await owner({
        method: 'POST',
        url: `${API}/tickets/${ticket.id}/attachments`,
        headers: { 'content-type': `multipart/form-data; boundary=${boundary}` },
        payload: Buffer.concat([
          Buffer.from(`--${boundary}\r\nContent-Disposition: form-data; name="file"; filename="p.png"\r\nContent-Type: image/png\r\n\r\n`),
          PNG,
          Buffer.from(`\r\n--${boundary}--\r\n`),
        ]),
      }),
    );
    ok(
      await pm({
        method: 'POST',
        url: `${API}/communities/${world.community.id}/sla-policies`,
        payload: { priority: 'P2', category: 'camera', respond: { value: 2, unit: 'hours' }, resolve: { value: 2, unit: 'working_days' }, calendar: 'working_hours' },
      }),
    );
    // Inspection plans and tasks, where the module offers its defaults (best effort: it is optional here).
    await as(t.app, world.users.committeeChair.id)({ method: 'POST', url: `${API}/communities/${world.community.id}/inspection-plans/adopt-defaults`, payload: {} });
    const registered = ok(await pm({ method: 'POST', url: `${API}/facilities/${world.facility.id}/devices`, payload: { name: '烟感-1' } }));
    devices[world === w.a ? 'a' : 'b'] = { id: registered.deviceId, secret: registered.secret };
    const fund = ok(
      await pm({
        method: 'POST',
        url: `${API}/fund-requests`,
        payload: {
          communityId: world.community.id,
          title: '更换水泵',
          path: 'normal',
          decisionType: 'use_fund',
          scope: { buildingIds: [world.building.id] },
          budgetLines: [{ description: '水泵', amountCents: 1_000_000 }],
          funding: [{ source: 'maintenance_fund', amountCents: 1_000_000 }],
          contractorOrgId: world.orgs.contractor.id,
        },
      }),
    );
    ok(
      await pm({
        method: 'POST',
        url: `${API}/fund-requests/${fund.id}/documents`,
        headers: { 'content-type': `multipart/form-data; boundary=${boundary}` },
        payload: Buffer.concat([
          Buffer.from(`--${boundary}\r\nContent-Disposition: form-data; name="kind"\r\n\r\nquote\r\n`),
          Buffer.from(`--${boundary}\r\nContent-Disposition: form-data; name="file"; filename="q.png"\r\nContent-Type: image/png\r\n\r\n`),
          PNG,
          Buffer.from(`\r\n--${boundary}--\r\n`),
        ]),
      }),
    );
  }
});

afterAll(async () => {
  if (stats.size && process.env.FUZZ_VERBOSE) {
    console.info(`fuzz seed ${SEED}, ${RUNS} runs per operation`);
    console.table(Object.fromEntries(stats));
  }
  await t.close();
  await rm(t.config.uploadDir, { recursive: true, force: true });
});

describe(`OpenAPI fuzzer (seed ${SEED}, ${RUNS} runs per operation)`, () => {
  it('reads every operation from the document', () => {
    expect(OPERATIONS.length).toBeGreaterThan(60);
    expect(OPERATIONS.filter((o) => o.bodyKind === 'multipart').map((o) => o.key).sort()).toEqual([`POST ${API}/fund-requests/{id}/documents`, `POST ${API}/tickets/{id}/attachments`]);
    expect(OPERATIONS.filter((o) => o.bodyKind === 'csv').length).toBeGreaterThanOrEqual(2);
  });

  OPERATIONS.forEach((op, index) => {
    it(op.key, { timeout: 60_000 }, async () => {
      const global = await loadPools();
      const own = { a: await loadPools(w.a.community.id), b: await loadPools(w.b.community.id) };
      const bodyArb = (world: 'a' | 'b', level: Level): fc.Arbitrary<BodySpec> => {
        const pools = own[world];
        switch (op.bodyKind) {
          case 'json':
            if (level === 'clean') return jsonBodyArb(op.bodySchema, pools, true);
            // Schema-valid, but with edge values: the handler and the database get to see them.
            if (level === 'edges') return valueArb(op.bodySchema ?? {}, pools, '', false).map((v): BodySpec => ({ kind: 'valid-edges', contentType: 'application/json', payload: toJson(v) }));
            return fc.oneof(jsonBodyArb(op.bodySchema, pools, false), jsonBodyArb(op.bodySchema, global, false));
          case 'csv':
            return level === 'clean' ? cleanCsvArb(op, pools) : hostileCsvArb(op, pools);
          case 'multipart':
            return multipartBodyArb();
          default:
            return level === 'clean' ? fc.constant<BodySpec>({ kind: 'none' }) : jsonBodyArb({ type: 'object' }, global, false);
        }
      };
      const hasDeviceHeaders = op.headers.some((h) => h.name === 'x-device-id');
      // Mostly one hostile dimension at a time, so each check is reached with the others passing.
      const sampleArb: fc.Arbitrary<Sample> = fc
        .tuple(fc.constantFrom<'a' | 'b'>('a', 'b'), fc.constantFrom<Mode>('clean', 'clean', 'clean', 'edges', 'edges', 'actor', 'params', 'query', 'body', 'body', 'headers', 'all', 'all'))
        .chain(([world, mode]) => {
          const hostile = (dim: Mode) => mode === dim || mode === 'all';
          const level = (dim: Mode): Level => (hostile(dim) ? 'hostile' : mode === 'edges' ? 'edges' : 'clean');
          return fc.record({
            mode: fc.constant(mode),
            actor: mode === 'actor' ? hostileActorArb(world) : mode === 'all' ? fc.oneof(cleanActorArb(world), hostileActorArb(world)) : cleanActorArb(world),
            params: fc.tuple(...op.params.map((p) => paramArb(op, p, own[world], global, !hostile('params')))),
            query: queryArb(op, hostile('query') ? global : own[world], level('query')),
            body: bodyArb(world, level('body')),
            extraHeaders: hostile('headers') ? fc.constantFrom(...EXTRA_HEADERS) : fc.constant({}),
            deviceHeaders: hasDeviceHeaders ? deviceHeadersArb(world, !hostile('headers') && !hostile('actor')) : fc.constant({}),
          });
        });
      const tally: Record<string, number> = {};
      stats.set(op.key, tally);
      let before = await snapshot();
      const seed = SEED + index;
      const result = await fc.check(
        fc.asyncProperty(sampleArb, async (s) => {
          const req = buildRequest(op, s);
          const res = await t.app.inject(req);
          const after = await snapshot();
          const changed = changedTables(before, after);
          before = after;
          const status = res.statusCode;
          const bucket = `${s.mode === 'clean' ? 'clean ' : ''}${Math.floor(status / 100)}xx`;
          tally[bucket] = (tally[bucket] ?? 0) + 1;
          const where = () => `${describeRequest(req, s)}\n  → ${status} ${clip(res.body, 500)}`;
          if (status >= 500) throw new Error(`server error\n  ${where()}`);
          if (status >= 400) {
            const problem = errorShapeProblem(res);
            if (problem) throw new Error(`error shape: ${problem}\n  ${where()}`);
            const unexpected = changed.filter((tb) => !allowedOnRefusal(op, status).includes(tb));
            if (unexpected.length) throw new Error(`a refused request changed ${unexpected.join(', ')}\n  ${where()}`);
          } else if (op.method === 'GET') {
            const unexpected = changed.filter((tb) => !GET_MAY_WRITE.has(tb));
            if (unexpected.length) throw new Error(`a GET changed ${unexpected.join(', ')}\n  ${where()}`);
          }
          if (op.bodyKind === 'multipart' && op.method === 'POST' && status < 400) throw new Error(`malformed multipart was accepted\n  ${where()}`);
        }),
        { seed, numRuns: RUNS, endOnFailure: true },
      );
      if (result.failed) {
        const error = result.errorInstance instanceof Error ? result.errorInstance.message : String(result.errorInstance);
        throw new Error(`${op.key} failed after ${result.numRuns} run(s) — replay with FUZZ_SEED=${SEED} (this operation's seed ${seed}, path ${result.counterexamplePath})\n${error}`);
      }
    });
  });

  it('control: the change detector sees inserts, updates and deletes in any table', async () => {
    expect(TABLES).toEqual(expect.arrayContaining(['tickets', 'audit_events', 'units', 'owners', 'fund_requests', 'users']));
    const base = await snapshot();
    await t.db.updateTable('facilities').set({ location: `moved-${uniq()}` }).where('id', '=', w.a.facility.id).execute();
    const updated = await snapshot();
    expect(changedTables(base, updated)).toEqual(['facilities']);
    const building = await makeBuilding(t.db, w.a.community.id, `tmp-${uniq()}`);
    const inserted = await snapshot();
    expect(changedTables(updated, inserted)).toEqual(['buildings']);
    await t.db.deleteFrom('buildings').where('id', '=', building.id).execute();
    const deleted = await snapshot();
    expect(changedTables(inserted, deleted)).toEqual(['buildings']);
  });

  it('leaves both communities’ audit chains intact', async () => {
    for (const world of [w.a, w.b]) {
      const res = await as(t.app, w.admin.id)({ method: 'GET', url: `${API}/audit/communities/${world.community.id}/verify` });
      expect(res.statusCode, res.body).toBe(200);
      expect(res.json().ok, res.body).toBe(true);
    }
  });
});

// ---------------------------------------------------------------------------------------------
// The BullMQ dashboard.

describe('the queue dashboard (/admin/queues)', () => {
  const queueName = () => t.queue.name;
  const routes = (): Array<{ method: InjectOptions['method']; url: string; payload?: object }> => [
    { method: 'GET', url: '/admin/queues' },
    { method: 'GET', url: '/admin/queues/api/queues' },
    { method: 'GET', url: '/admin/queues/api/redis/stats' },
    { method: 'GET', url: `/admin/queues/queue/${queueName()}` },
    { method: 'PUT', url: `/admin/queues/api/queues/${queueName()}/pause` },
    { method: 'PUT', url: `/admin/queues/api/queues/${queueName()}/obliterate` },
    { method: 'PUT', url: `/admin/queues/api/queues/${queueName()}/clean/completed` },
    { method: 'POST', url: `/admin/queues/api/queues/${queueName()}/add`, payload: { name: 'fuzz', data: {} } },
  ];

  it('refuses anonymous callers and forged tokens with 401, in the error shape', async () => {
    const forged = [
      undefined,
      'Bearer garbage',
      'Basic YWRtaW46YWRtaW4=',
      `Bearer ${hs256({ sub: w.admin.id, typ: 'access', iat: Math.floor(Date.now() / 1000) }, 'not-the-secret')}`,
      `Bearer ${b64url('{"alg":"none","typ":"JWT"}')}.${b64url(JSON.stringify({ sub: w.admin.id, typ: 'access' }))}.`,
      `Bearer ${t.app.jwt.sign({ sub: w.admin.id, typ: 'refresh' } as never)}`,
      `Bearer ${tokenFor(t.app, randomUUID())}`,
      `Bearer ${t.app.jwt.sign({ sub: "' OR 1=1 --", typ: 'access' } as never)}`,
    ];
    for (const r of routes()) {
      for (const authorization of forged) {
        const res = await t.app.inject({ ...r, headers: authorization ? { authorization } : {} });
        expect(res.statusCode, `${r.method} ${r.url} with ${authorization ?? 'nothing'}`).toBe(401);
        expect(errorShapeProblem(res), res.body).toBeUndefined();
      }
      // The same forged token in the query string and in the dashboard's cookie.
      const viaQuery = await t.app.inject({ ...r, url: `${r.url}?token=garbage` });
      expect(viaQuery.statusCode).toBe(401);
      expect(viaQuery.headers['set-cookie']).toBeUndefined();
      const viaCookie = await t.app.inject({ ...r, headers: { cookie: `upkeep_queues=${encodeURIComponent(`x.${b64url('{}')}.y`)}` } });
      expect(viaCookie.statusCode).toBe(401);
    }
  });

  it('refuses every other role with 403, by header, query and cookie', async () => {
    for (const role of ROLES.filter((r) => r !== 'platformAdmin')) {
      const token = tokenFor(t.app, w.a.users[role].id);
      for (const r of routes()) {
        const byHeader = await t.app.inject({ ...r, headers: { authorization: `Bearer ${token}` } });
        expect(byHeader.statusCode, `${role} ${r.method} ${r.url}`).toBe(403);
        expect(errorShapeProblem(byHeader), byHeader.body).toBeUndefined();
        const byQuery = await t.app.inject({ ...r, url: `${r.url}?token=${token}` });
        expect(byQuery.statusCode).toBe(403);
        expect(byQuery.headers['set-cookie']).toBeUndefined();
        const byCookie = await t.app.inject({ ...r, headers: { cookie: `upkeep_queues=${token}` } });
        expect(byCookie.statusCode).toBe(403);
      }
    }
    // Nothing a refused caller asked for happened: the queue is not paused.
    expect(await t.queue.isPaused()).toBe(false);
  });

  it('control: the platform admin gets in', async () => {
    const token = tokenFor(t.app, w.admin.id);
    const page = await t.app.inject({ method: 'GET', url: '/admin/queues', headers: { authorization: `Bearer ${token}` } });
    expect(page.statusCode).toBe(200);
    const api = await t.app.inject({ method: 'GET', url: '/admin/queues/api/queues', headers: { authorization: `Bearer ${token}` } });
    expect(api.statusCode, api.body).toBe(200);
    expect(api.body).toContain(queueName());
  });
});

// ---------------------------------------------------------------------------------------------
// Targeted hostile cases.

describe('targeted hostile input', () => {
  let world: CommunityWorld;
  let pm: ReturnType<typeof as>;
  beforeAll(async () => {
    world = (await makeTwoWorlds(t.db)).a;
    pm = as(t.app, world.users.propertyManager.id);
  });

  const count = async (table: 'tickets' | 'units' | 'owners' | 'buildings') => Number((await sql<{ n: string }>`SELECT count(*) AS n FROM ${sql.table(table)}`.execute(t.db)).rows[0]?.n);

  it('treats SQL-injection-shaped search terms in GET /tickets?q= as text', async () => {
    const titles = ['50% off_sale', 'back\\slash leak', "O'Brien 的门禁", '普通漏水'];
    for (const title of titles) {
      const res = await pm({ method: 'POST', url: `${API}/tickets`, payload: { communityId: world.community.id, title, category: 'drainage' } });
      expect(res.statusCode, res.body).toBe(201);
    }
    const tickets = await count('tickets');
    const search = async (q: string) => {
      const res = await pm({ method: 'GET', url: `${API}/tickets?communityId=${world.community.id}&limit=200&q=${encodeURIComponent(q)}` });
      expect(res.statusCode, `${q}: ${res.body}`).toBe(200);
      return (res.json().items as Array<{ title: string }>).map((x) => x.title).sort();
    };
    // Wildcards and quotes match only themselves.
    expect(await search('%')).toEqual(['50% off_sale']);
    expect(await search('_')).toEqual(['50% off_sale']);
    expect(await search('\\')).toEqual(['back\\slash leak']);
    expect(await search("O'Brien")).toEqual(["O'Brien 的门禁"]);
    for (const q of ["' OR 1=1 --", "%' OR '1'='1", "'; DROP TABLE tickets; --", '") OR ("1"="1', '\\%', '%%', '1; SELECT pg_sleep(5)', "' UNION SELECT password_hash FROM users --", '{"$ne":null}']) {
      expect(await search(q), q).toEqual([]);
    }
    // A NUL byte cannot reach PostgreSQL as text (22021): refused with 400, not a 500.
    const nul = await pm({ method: 'GET', url: `${API}/tickets?q=${encodeURIComponent('a\u0000b')}` });
    expect(nul.statusCode, nul.body).toBe(400);
    expect(errorShapeProblem(nul)).toBeUndefined();
    expect(await count('tickets')).toBe(tickets);
  });

  it('stores formula-like owner names from a CSV import as text, and exports formula-like names safely', async () => {
    const formulas = ["=cmd|' /C calc'!A0", '+SUM(1,2)', '-2+3', '@SUM(A1)', '=HYPERLINK("http://evil.example","x")'];
    const building = `F-${uniq()}`;
    const csv = ['building,unit number,area m²,owner name,owner phone', ...formulas.map((f, i) => `${building},${101 + i},80.00,"${f.replace(/"/g, '""')}",1380013800${i}`)].join('\n');
    const res = await pm({ method: 'POST', url: `${API}/communities/${world.community.id}/units/import`, headers: { 'content-type': 'text/csv' }, payload: csv });
    expect(res.statusCode, res.body).toBe(201);
    const stored = await t.db
      .selectFrom('owners as o')
      .innerJoin('unit_owners as uo', 'uo.owner_id', 'o.id')
      .innerJoin('units as u', 'u.id', 'uo.unit_id')
      .innerJoin('buildings as b', 'b.id', 'u.building_id')
      .select(['o.name', 'u.id'])
      .where('b.name', '=', building)
      .execute();
    expect(stored.map((s) => s.name).sort()).toEqual([...formulas].sort());
    // And the API gives them back verbatim, as JSON text.
    const unit = await pm({ method: 'GET', url: `${API}/units/${stored[0]?.id}` });
    expect(formulas).toContain(unit.json().owners[0].name);

    // The CSV reports: a community whose name is a formula is exported as text (leading ').
    const district = `Formula-${uniq()}`;
    for (const name of [...formulas, '\t=1+1', '\r=1+1']) await makeCommunity(t.db, { name, district });
    const admin = as(t.app, world.users.platformAdmin.id);
    const report = await admin({ method: 'GET', url: `${API}/reports/districts/${encodeURIComponent(district)}/kpis?format=csv` });
    expect(report.statusCode, report.body).toBe(200);
    expect(report.headers['content-type']).toMatch(/^text\/csv/);
    const rows = parseCsv(report.body, { bom: true, relax_column_count: true }) as string[][];
    const names = rows.slice(1).map((r) => r[1] ?? '');
    expect(names).toHaveLength(formulas.length + 2);
    for (const cell of rows.flat()) expect(cell, JSON.stringify(cell)).not.toMatch(/^[=+\-@\t\r]/);
    expect(names.sort()).toEqual([...formulas, '\t=1+1', '\r=1+1'].map((f) => `'${f}`).sort());
  });

  it('refuses a 50,001-row CSV import with 400, quickly, writing nothing', async () => {
    const units = await count('units');
    const header = 'building,unit number,area m²,owner name,owner phone\n';
    const body = header + Array.from({ length: 50_001 }, (_, i) => `Big,${i + 1},80.00,业主${i},1390000${String(i).padStart(4, '0')}`).join('\n');
    const started = Date.now();
    const res = await pm({ method: 'POST', url: `${API}/communities/${world.community.id}/units/import`, headers: { 'content-type': 'text/csv' }, payload: body });
    const took = Date.now() - started;
    expect(res.statusCode, clip(res.body)).toBe(400);
    expect(errorShapeProblem(res)).toBeUndefined();
    expect(res.body).toMatch(/50,?000/);
    expect(took).toBeLessThan(10_000);
    expect(await count('units')).toBe(units);
  });

  it('answers malformed and overlong URLs in the error shape (400 BAD_URL, 414)', async () => {
    for (const url of [`${API}/communities/%zz`, `${API}/tickets/%E0%A4%A/comments`, `${API}/public/facilities/%C0%AF`]) {
      const res = await pm({ method: 'GET', url });
      expect(res.statusCode, `${url}: ${res.body}`).toBe(400);
      expect(errorShapeProblem(res), res.body).toBeUndefined();
      expect(res.json().error.code).toBe('BAD_URL');
    }
    const long = await pm({ method: 'GET', url: `${API}/communities/${'a'.repeat(150)}/buildings` });
    expect(long.statusCode).toBe(414);
    expect(errorShapeProblem(long), long.body).toBeUndefined();
    expect(long.body).not.toContain('a'.repeat(150));
  });

  it('answers 400 to a cursor whose time JavaScript reads but PostgreSQL refuses (22009)', async () => {
    const cursor = (o: object) => Buffer.from(JSON.stringify(o)).toString('base64url');
    const zero = '00000000-0000-0000-0000-000000000000';
    for (const url of [
      `${API}/organizations?cursor=${cursor({ t: '+275760-09-13T00:00:00Z', id: zero })}`,
      `${API}/communities?cursor=${cursor({ t: '+275760-09-13T00:00:00Z', id: zero })}`,
      `${API}/tickets?cursor=${cursor({ k: '+275760-09-13T00:00:00Z', id: zero })}`,
      `${API}/notifications?cursor=${cursor({ t: '-271821-04-20T00:00:00Z', id: zero })}`,
    ]) {
      const res = await pm({ method: 'GET', url });
      expect(res.statusCode, `${url}: ${res.body}`).toBe(400);
      expect(errorShapeProblem(res)).toBeUndefined();
    }
  });

  it('answers 400 to a leap-second date-time (RFC 3339 allows it, JavaScript cannot hold it)', async () => {
    const leap = '2026-12-31T23:59:60Z';
    const registered = await pm({ method: 'POST', url: `${API}/facilities/${world.facility.id}/devices`, payload: { name: '门禁-闰秒' } });
    expect(registered.statusCode, registered.body).toBe(201);
    const tickets = await count('tickets');
    const alarm = await t.app.inject({
      method: 'POST',
      url: `${API}/devices/alarms`,
      headers: { 'x-device-id': registered.json().deviceId, 'x-device-secret': registered.json().secret },
      payload: { dedupeKey: `leap-${uniq()}`, occurredAt: leap },
    });
    expect(alarm.statusCode, alarm.body).toBe(400);
    expect(errorShapeProblem(alarm)).toBeUndefined();
    const report = await as(t.app, world.users.platformAdmin.id)({ method: 'GET', url: `${API}/reports/communities/${world.community.id}/kpis?to=${encodeURIComponent(leap)}` });
    expect(report.statusCode, report.body).toBe(400);
    const order = await as(t.app, world.users.authority.id)({ method: 'POST', url: `${API}/tickets`, payload: { communityId: world.community.id, kind: 'rectification', title: '消防通道', rectificationDeadline: leap } });
    expect(order.statusCode, order.body).toBe(400);
    expect(await count('tickets')).toBe(tickets);
  });

  it('answers 413 to enormous bodies, JSON and CSV alike', async () => {
    const huge = JSON.stringify({ communityId: world.community.id, title: 'x', description: 'y'.repeat(3 * 1024 * 1024) });
    for (const url of [`${API}/tickets`, `${API}/communities/${world.community.id}/buildings`, `${API}/fund-requests`, `${API}/public/facilities/${world.facility.qr_token}/reports`]) {
      const res = await pm({ method: 'POST', url, headers: { 'content-type': 'application/json' }, payload: huge });
      expect(res.statusCode, url).toBe(413);
      expect(errorShapeProblem(res)).toBeUndefined();
    }
    const csv = `building,unit number,area m²,owner name\n${'B,1,80,张三\n'.repeat(2_000_000)}`; // ~24 MB > 20 MiB
    const res = await pm({ method: 'POST', url: `${API}/communities/${world.community.id}/units/import`, headers: { 'content-type': 'text/csv' }, payload: csv });
    expect(res.statusCode).toBe(413);
    expect(errorShapeProblem(res)).toBeUndefined();
  });

  it('answers 400, not 500, to deeply nested JSON', async () => {
    const tickets = await count('tickets');
    const depth = 100_000;
    const bodies = [
      `${'['.repeat(depth)}${']'.repeat(depth)}`,
      `${'{"a":'.repeat(depth)}1${'}'.repeat(depth)}`,
      `{"communityId":"${world.community.id}","title":"x","description":${'{"a":'.repeat(depth)}1${'}'.repeat(depth)}}`,
      `{"communityId":"${world.community.id}","title":${'['.repeat(depth)}${']'.repeat(depth)}}`,
      `{"__proto__":${'{"__proto__":'.repeat(1000)}1${'}'.repeat(1000)}}`,
    ];
    for (const payload of bodies) {
      for (const url of [`${API}/tickets`, `${API}/auth/login`, `${API}/communities/${world.community.id}/settings`]) {
        const res = await pm({ method: url.endsWith('settings') ? 'PATCH' : 'POST', url, headers: { 'content-type': 'application/json' }, payload });
        expect(res.statusCode, `${url} ${payload.slice(0, 60)}`).toBe(400);
        expect(errorShapeProblem(res)).toBeUndefined();
      }
    }
    expect(await count('tickets')).toBe(tickets);
  });

  it('keeps names with zero-width characters and other normalisation forms without crashing', async () => {
    const names = ['楼A', '楼A\u200b', '\u200b楼A', 'Cafe\u0301', 'Café', 'ＡＢＣ', 'ABC', '\u202e楼A', '👩‍👩‍👧‍👦', 'e\u0301\u0301\u0301', '\ufeff楼', '\u00a0楼\u00a0', '\u3000楼\u3000', '\u200b'];
    for (const name of names) {
      const res = await pm({ method: 'POST', url: `${API}/communities/${world.community.id}/buildings`, payload: { name } });
      expect([201, 400, 409], `${JSON.stringify(name)}: ${res.body}`).toContain(res.statusCode);
      if (res.statusCode >= 400) expect(errorShapeProblem(res)).toBeUndefined();
      // Kept as sent, but for surrounding white space (String.prototype.trim, BOM included).
      else expect(res.json().name).toBe(name.trim());
    }
    const building = await makeBuilding(t.db, world.community.id, `Z-${uniq()}`);
    for (const [number, owner] of [['101\u200b', '张\u200b三'], ['１０１', 'Ｚｈａｎｇ'], ['101', 'Zoe\u0308'], ['Zoë', '\u200d']] as const) {
      const res = await pm({ method: 'POST', url: `${API}/communities/${world.community.id}/units`, payload: { buildingId: building.id, number, areaM2: '50.00', owners: [{ name: owner }] } });
      expect([201, 400, 409], `${number}/${owner}: ${res.body}`).toContain(res.statusCode);
    }
    const zeroWidth = await pm({ method: 'POST', url: `${API}/tickets`, payload: { communityId: world.community.id, title: '\u200b', category: 'roof' } });
    expect([201, 400], zeroWidth.body).toContain(zeroWidth.statusCode);
    // A NUL byte in text (22021 from PostgreSQL) is the client's mistake: 400, nothing stored.
    const tickets = await count('tickets');
    for (const title of ['漏水\u0000', 'a\u0000', '\u0000']) {
      const res = await pm({ method: 'POST', url: `${API}/tickets`, payload: { communityId: world.community.id, title, category: 'roof' } });
      expect(res.statusCode, `${JSON.stringify(title)}: ${res.body}`).toBe(400);
      expect(errorShapeProblem(res)).toBeUndefined();
    }
    expect(await count('tickets')).toBe(tickets);
    // The unit register reads them back.
    const list = await pm({ method: 'GET', url: `${API}/communities/${world.community.id}/units?limit=200` });
    expect(list.statusCode).toBe(200);
    // A register file with zero-width characters and a NUL byte: a row error or a clean import, never a 500.
    const csv = `building,unit number,area m²,owner name\n楼\u200bB,1\u200b,50,张\u200b三\n楼C,2,50,李\u0000四\n`;
    const res = await pm({ method: 'POST', url: `${API}/communities/${world.community.id}/units/import`, headers: { 'content-type': 'text/csv' }, payload: csv });
    expect(res.statusCode, res.body).toBeLessThan(500);
  });
});
