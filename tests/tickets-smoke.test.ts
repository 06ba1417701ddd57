import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestApp, type TestApp } from './helpers/app.js';
import { as, makeTwoWorlds } from './helpers/factories.js';

let t: TestApp;
let w: Awaited<ReturnType<typeof makeTwoWorlds>>;
beforeAll(async () => {
  t = await createTestApp();
  w = await makeTwoWorlds(t.db);
});
afterAll(async () => t?.close());

describe('tickets: a fault from report to closed', () => {
  it('walks the happy path with SLA targets, facility status and audit', async () => {
    const owner = as(t.app, w.a.users.owner.id);
    const pm = as(t.app, w.a.users.propertyManager.id);
    const created = await owner({ method: 'POST', url: '/api/v1/tickets', payload: { communityId: w.a.community.id, title: '南门摄像机黑屏', facilityId: w.a.facility.id, priority: 'P2' } });
    expect(created.statusCode, created.body).toBe(201);
    const ticket = created.json();
    expect(ticket).toMatchObject({ status: 'new', category: 'camera', priority: 'P2', channel: 'owner' });
    expect(new Date(ticket.respondBy).getTime() - new Date(ticket.openedAt).getTime()).toBe(3_600_000);
    // Cameras are delegated to the contractor: it gets the work.
    expect(ticket.assigneeOrgId).toBe(w.a.orgs.contractor.id);
    const facility = await t.db.selectFrom('facilities').select('status').where('id', '=', w.a.facility.id).executeTakeFirstOrThrow();
    expect(facility.status).toBe('faulty');

    const move = (who: typeof pm, to: string, reason?: string) => who({ method: 'POST', url: `/api/v1/tickets/${ticket.id}/transitions`, payload: { to, ...(reason ? { reason } : {}) } });
    expect((await move(pm, 'resolved')).statusCode).toBe(409);
    expect((await move(pm, 'acknowledged')).statusCode).toBe(200);
    expect((await move(pm, 'in_progress')).statusCode).toBe(200);
    expect((await move(pm, 'on_hold')).statusCode).toBe(400);
    expect((await move(pm, 'on_hold', 'awaiting_parts')).statusCode).toBe(200);
    expect((await move(owner, 'in_progress')).statusCode).toBe(403);
    expect((await move(pm, 'in_progress')).statusCode).toBe(200);
    expect((await move(pm, 'resolved')).statusCode).toBe(200);
    const detail = await owner({ method: 'GET', url: `/api/v1/tickets/${ticket.id}` });
    expect(detail.statusCode).toBe(200);
    expect(detail.json().allowedTransitions.sort()).toEqual(['closed', 'reopened']);
    expect(detail.json().holds).toHaveLength(1);
    expect((await move(owner, 'closed')).statusCode).toBe(200);
    const rated = await owner({ method: 'POST', url: `/api/v1/tickets/${ticket.id}/rating`, payload: { score: 5 } });
    expect(rated.statusCode).toBe(200);
    const facilityAfter = await t.db.selectFrom('facilities').select('status').where('id', '=', w.a.facility.id).executeTakeFirstOrThrow();
    expect(facilityAfter.status).toBe('operational');

    const other = await as(t.app, w.b.users.propertyManager.id)({ method: 'GET', url: `/api/v1/tickets/${ticket.id}` });
    expect(other.statusCode).toBe(404);
    const list = await pm({ method: 'GET', url: `/api/v1/tickets?communityId=${w.a.community.id}&q=摄像机` });
    expect(list.json().items.map((x: { id: string }) => x.id)).toEqual([ticket.id]);
    const verify = await pm({ method: 'GET', url: `/api/v1/audit/communities/${w.a.community.id}/verify` });
    expect(verify.json().ok).toBe(true);
  });
});
