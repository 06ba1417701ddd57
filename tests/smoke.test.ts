import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestApp, type TestApp } from './helpers/app.js';
import { as, makeTwoWorlds } from './helpers/factories.js';

let t: TestApp;
beforeAll(async () => {
  t = await createTestApp();
});
afterAll(async () => t?.close());

describe('smoke', () => {
  it('answers healthz and lists communities for a manager', async () => {
    const res = await t.app.inject({ method: 'GET', url: '/healthz' });
    expect(res.statusCode).toBe(200);
    const { a, b } = await makeTwoWorlds(t.db);
    const list = await as(t.app, a.users.propertyManager.id)({ method: 'GET', url: '/api/v1/communities' });
    expect(list.statusCode).toBe(200);
    const ids = list.json().items.map((c: { id: string }) => c.id);
    expect(ids).toEqual([a.community.id]);
    const other = await as(t.app, a.users.propertyManager.id)({ method: 'GET', url: `/api/v1/communities/${b.community.id}` });
    expect(other.statusCode).toBe(404);
    expect(other.json().error.code).toBe('NOT_FOUND');
  });
});
