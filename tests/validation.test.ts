import type { LightMyRequestResponse } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestApp, type TestApp } from './helpers/app.js';
import { PASSWORD, as, makeUser } from './helpers/factories.js';

const LOGIN = '/api/v1/auth/login';

interface ErrorBody {
  error: { code: string; message: string; details?: unknown };
}

/** Every error answers { error: { code, message, details? } } and nothing else. */
function expectError(res: LightMyRequestResponse, status: number, code?: string): ErrorBody['error'] {
  expect(res.statusCode, res.body).toBe(status);
  expect(res.headers['content-type']).toMatch(/^application\/json/);
  const body = res.json<ErrorBody>();
  expect(Object.keys(body)).toEqual(['error']);
  expect(typeof body.error.code).toBe('string');
  expect(body.error.code).toMatch(/^[A-Z][A-Z0-9_]*$/);
  expect(body.error.code).not.toMatch(/^FST_/);
  expect(typeof body.error.message).toBe('string');
  expect(body.error.message.length).toBeGreaterThan(0);
  expect(Object.keys(body.error).every((k) => ['code', 'message', 'details'].includes(k))).toBe(true);
  if (code) expect(body.error.code).toBe(code);
  return body.error;
}

/** A 400 VALIDATION_ERROR whose details name the offending field. */
function expectValidation(res: LightMyRequestResponse, field: string) {
  const error = expectError(res, 400, 'VALIDATION_ERROR');
  expect(Array.isArray(error.details)).toBe(true);
  const details = error.details as Array<{ field: unknown; message: unknown }>;
  expect(details.length).toBeGreaterThan(0);
  for (const d of details) {
    expect(typeof d.field).toBe('string');
    expect(typeof d.message).toBe('string');
  }
  expect(details.map((d) => d.field)).toContain(field);
  return error;
}

describe('validation and the error shape', () => {
  let t: TestApp;
  let adminId: string;
  let email: string;
  beforeAll(async () => {
    t = await createTestApp({ loginRateLimitPerMinute: 1000 });
    adminId = (await makeUser(t.db, { isPlatformAdmin: true })).id;
    email = (await makeUser(t.db)).email;
  });
  afterAll(async () => t?.close());

  const login = (payload: unknown) => t.app.inject({ method: 'POST', url: LOGIN, payload: payload as Record<string, unknown> });
  const createCommunity = (payload: Record<string, unknown>) => as(t.app, adminId)({ method: 'POST', url: '/api/v1/communities', payload });

  describe('login body', () => {
    it('control: a well-formed body passes validation', async () => {
      expect((await login({ email, password: PASSWORD })).statusCode).toBe(200);
    });

    it('missing password', async () => {
      const err = expectValidation(await login({ email }), 'password');
      expect(err.message).toMatch(/password/);
    });

    it('missing body', async () => {
      expectError(await t.app.inject({ method: 'POST', url: LOGIN }), 400);
    });

    it('bad email format', async () => {
      expectValidation(await login({ email: 'not-an-email', password: PASSWORD }), 'email');
      expectValidation(await login({ email: 'a@', password: PASSWORD }), 'email');
    });

    it('extra properties', async () => {
      expectValidation(await login({ email, password: PASSWORD, isPlatformAdmin: true }), 'isPlatformAdmin');
    });

    it('wrong types', async () => {
      expectValidation(await login({ email, password: { $ne: '' } }), 'password');
      expectValidation(await login({ email: ['a@test.upkeep.cn', 'b@test.upkeep.cn'], password: PASSWORD }), 'email');
      expectValidation(await login({ email: null, password: PASSWORD }), 'email');
    });

    it('a body that is not an object', async () => {
      const res = await t.app.inject({ method: 'POST', url: LOGIN, headers: { 'content-type': 'application/json' }, payload: '["a","b"]' });
      expectError(res, 400, 'VALIDATION_ERROR');
    });

    it('limits: empty password, overlong email', async () => {
      expectValidation(await login({ email, password: '' }), 'password');
      expectValidation(await login({ email: `${'a'.repeat(250)}@test.upkeep.cn`, password: PASSWORD }), 'email');
    });
  });

  describe('POST /communities', () => {
    it('control: a valid community is created', async () => {
      const res = await createCommunity({ name: '阳光花园', district: '浦东新区', timeZone: 'Asia/Shanghai' });
      expect(res.statusCode, res.body).toBe(201);
      expect(res.json().timeZone).toBe('Asia/Shanghai');
    });

    it('empty name', async () => {
      expectValidation(await createCommunity({ name: '', district: '浦东新区' }), 'name');
    });

    it('missing district and an unknown property', async () => {
      expectValidation(await createCommunity({ name: '阳光花园' }), 'district');
      expectValidation(await createCommunity({ name: '阳光花园', district: '浦东新区', color: 'red' }), 'color');
    });

    it('unknown time zone', async () => {
      const res = await createCommunity({ name: '火星基地', district: '浦东新区', timeZone: 'Mars/Base' });
      const error = expectError(res, 400);
      expect(error.message).toContain('Mars/Base');
      expect(JSON.stringify(error.details)).toContain('timeZone');
      const stored = await t.db.selectFrom('communities').select('id').where('name', '=', '火星基地').execute();
      expect(stored).toHaveLength(0);
    });

    it('a non-uuid propertyCompanyId', async () => {
      expectValidation(await createCommunity({ name: '阳光花园', district: '浦东新区', propertyCompanyId: 'abc' }), 'propertyCompanyId');
    });
  });

  describe('path parameters', () => {
    it('a non-uuid id answers 400, not 500 or 404', async () => {
      expectValidation(await as(t.app, adminId)({ method: 'GET', url: '/api/v1/communities/not-a-uuid' }), 'id');
      expectValidation(await as(t.app, adminId)({ method: 'GET', url: '/api/v1/organizations/123' }), 'id');
      expectValidation(await as(t.app, adminId)({ method: 'GET', url: "/api/v1/communities/1'%20OR%20'1'='1/buildings" }), 'id');
    });

    it('control: a well-formed unknown id answers 404', async () => {
      expectError(await as(t.app, adminId)({ method: 'GET', url: '/api/v1/communities/00000000-0000-4000-8000-000000000000' }), 404, 'NOT_FOUND');
    });
  });

  describe('query strings', () => {
    it('a limit out of range', async () => {
      expectValidation(await as(t.app, adminId)({ method: 'GET', url: '/api/v1/communities?limit=0' }), 'limit');
      expectValidation(await as(t.app, adminId)({ method: 'GET', url: '/api/v1/communities?limit=abc' }), 'limit');
    });
  });

  describe('transport-level errors', () => {
    it('invalid JSON body → 400', async () => {
      const res = await t.app.inject({ method: 'POST', url: LOGIN, headers: { 'content-type': 'application/json' }, payload: '{"email": "a@b.cn", ' });
      expectError(res, 400);
    });

    it('empty JSON body → 400', async () => {
      const res = await t.app.inject({ method: 'POST', url: LOGIN, headers: { 'content-type': 'application/json' }, payload: '' });
      expectError(res, 400);
    });

    it('prototype poisoning in JSON → 400', async () => {
      const res = await t.app.inject({
        method: 'POST',
        url: LOGIN,
        headers: { 'content-type': 'application/json' },
        payload: `{"email":"${email}","password":"x","__proto__":{"isPlatformAdmin":true}}`,
      });
      expectError(res, 400);
    });

    it('unknown route → 404', async () => {
      const error = expectError(await t.app.inject({ method: 'GET', url: '/api/v1/no-such-thing?x=1' }), 404, 'NOT_FOUND');
      expect(error.message).toContain('/api/v1/no-such-thing');
      expect(error.message).not.toContain('x=1');
      expectError(await t.app.inject({ method: 'DELETE', url: '/api/v1/communities' }), 404, 'NOT_FOUND');
      expectError(await t.app.inject({ method: 'GET', url: '/nothing-here' }), 404, 'NOT_FOUND');
    });

    it('body too large → 413', async () => {
      const res = await t.app.inject({
        method: 'POST',
        url: LOGIN,
        headers: { 'content-type': 'application/json' },
        payload: JSON.stringify({ email, password: 'x'.repeat(2 * 1024 * 1024) }),
      });
      expectError(res, 413);
    });

    it('unsupported content-type → 415', async () => {
      const res = await t.app.inject({ method: 'POST', url: LOGIN, headers: { 'content-type': 'application/xml' }, payload: '<login/>' });
      expectError(res, 415);
    });
  });
});
