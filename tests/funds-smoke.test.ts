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

describe('fund request: from proposal to settlement', () => {
  it('votes, notices, approves, settles and debits the ledger', async () => {
    const pm = as(t.app, w.a.users.propertyManager.id);
    const chair = as(t.app, w.a.users.committeeChair.id);
    const owner = as(t.app, w.a.users.owner.id);
    const created = await pm({
      method: 'POST',
      url: '/api/v1/fund-requests',
      payload: {
        communityId: w.a.community.id,
        title: '更换1号电梯曳引机',
        path: 'normal',
        decisionType: 'use_fund',
        scope: { buildingIds: [w.a.building.id] },
        budgetLines: [{ description: '曳引机', amountCents: 8_000_000 }, { description: '安装', amountCents: 2_000_000 }],
        funding: [{ source: 'maintenance_fund', amountCents: 9_000_000 }, { source: 'contractor_concession', amountCents: 1_000_000 }],
        contractorOrgId: w.a.orgs.contractor.id,
      },
    });
    expect(created.statusCode, created.body).toBe(201);
    const id = created.json().id;
    const bad = await pm({ method: 'POST', url: '/api/v1/fund-requests', payload: { ...(created.json() as object), communityId: w.a.community.id } });
    expect(bad.statusCode).toBe(400);

    const move = (who: typeof pm, to: string, extra: object = {}) => who({ method: 'POST', url: `/api/v1/fund-requests/${id}/transitions`, payload: { to, ...extra } });
    expect((await move(pm, 'voting', { voteClosesAt: new Date(Date.now() + 7 * 86_400_000).toISOString() })).statusCode).toBe(403);
    const voting = await move(chair, 'voting', { voteClosesAt: new Date(Date.now() + 7 * 86_400_000).toISOString() });
    expect(voting.statusCode, voting.body).toBe(200);
    const ballot = await owner({ method: 'POST', url: `/api/v1/fund-requests/${id}/ballots`, payload: { choice: 'agree' } });
    expect(ballot.statusCode, ballot.body).toBe(200);
    const again = await owner({ method: 'POST', url: `/api/v1/fund-requests/${id}/ballots`, payload: { choice: 'agree' } });
    expect(again.json().created).toBe(false);
    const tally = await owner({ method: 'GET', url: `/api/v1/fund-requests/${id}/tally` });
    expect(tally.json()).toMatchObject({ totalHeadcount: 1, participatingHeadcount: 1, outcome: 'passed' });
    const closed = await chair({ method: 'POST', url: `/api/v1/fund-requests/${id}/close-vote` });
    expect(closed.statusCode, closed.body).toBe(200);
    expect(closed.json().status).toBe('passed');
    expect((await move(chair, 'public_notice')).statusCode).toBe(200);
    expect((await move(chair, 'approved')).statusCode).toBe(409); // notice still running
    await t.db.updateTable('fund_requests').set({ notice_ends_at: new Date(Date.now() - 1000) }).where('id', '=', id).execute();
    expect((await move(chair, 'approved')).statusCode).toBe(200);
    expect((await move(chair, 'in_works')).statusCode).toBe(200);
    const works = await as(t.app, w.a.users.contractor.id)({ method: 'POST', url: `/api/v1/fund-requests/${id}/works-done` });
    expect(works.statusCode, works.body).toBe(200);
    const accepted = await move(chair, 'accepted', { actualCostCents: 9_500_000 });
    expect(accepted.json().fundShareCents).toBe(8_550_000);
    const settled = await move(chair, 'settled');
    expect(settled.statusCode, settled.body).toBe(200);
    const ledger = await owner({ method: 'GET', url: `/api/v1/units/${w.a.unit.id}/ledger` });
    expect(ledger.statusCode).toBe(200);
    expect(ledger.json().balanceCents).toBe(-8_550_000);
    expect(ledger.json().belowTopUpThreshold).toBe(true);
    const notice = await owner({ method: 'GET', url: `/api/v1/fund-requests/${id}/notice` });
    expect(notice.json().units[0]).toMatchObject({ choice: 'agree', shareCents: 8_550_000 });
    expect(notice.json().units[0].owners[0]).toMatch(/\*/);
    expect((await as(t.app, w.b.users.owner.id)({ method: 'GET', url: `/api/v1/fund-requests/${id}` })).statusCode).toBe(404);
    const verify = await chair({ method: 'GET', url: `/api/v1/audit/communities/${w.a.community.id}/verify` });
    expect(verify.json().ok).toBe(true);
  });
});

describe('emergency path', () => {
  it('cannot be withdrawn after approval before its after-the-fact notice', async () => {
    const chair = as(t.app, w.a.users.committeeChair.id);
    const created = await chair({
      method: 'POST',
      url: '/api/v1/fund-requests',
      payload: {
        communityId: w.a.community.id,
        title: '电梯困人紧急维修',
        path: 'emergency',
        emergencyKind: 'elevator_danger',
        decisionType: 'use_fund',
        scope: { buildingIds: [w.a.building.id] },
        budgetLines: [{ description: '抢修', amountCents: 500_000 }],
        funding: [{ source: 'maintenance_fund', amountCents: 500_000 }],
        facilityIds: [w.a.facility.id],
      },
    });
    expect(created.statusCode, created.body).toBe(201);
    const id = created.json().id;
    const move = (to: string, extra: object = {}) => chair({ method: 'POST', url: `/api/v1/fund-requests/${id}/transitions`, payload: { to, ...extra } });
    expect((await move('emergency_review')).statusCode).toBe(200);
    expect((await move('approved')).statusCode).toBe(200);
    expect((await move('withdrawn', { reason: 'changed our minds' })).statusCode).toBe(422);
    expect((await chair({ method: 'POST', url: `/api/v1/fund-requests/${id}/after-fact-notice` })).statusCode).toBe(200);
    expect((await move('withdrawn', { reason: 'not needed after all' })).statusCode).toBe(200);
  });
});
