import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { intactRates, ratio, sumCounts, toCsv, EMPTY_COUNTS } from '../src/modules/reports/kpis.js';
import { createTestApp, type TestApp } from './helpers/app.js';
import { as, makeFacility, makeTwoWorlds } from './helpers/factories.js';

describe('kpi rules (pure)', () => {
  it('ratios, camera target and sums', () => {
    expect(ratio(9, 10)).toBe(0.9);
    expect(ratio(0, 0)).toBeNull();
    const rates = intactRates([
      { category: 'camera', total: 10, operational: 8 },
      { category: 'elevator', total: 2, operational: 2 },
    ]);
    expect(rates[0]).toMatchObject({ category: 'camera', rate: 0.8, target: 0.9, belowTarget: true });
    expect(rates[1]).toMatchObject({ category: 'elevator', rate: 1, target: null, belowTarget: false });
    const sum = sumCounts([
      { ...EMPTY_COUNTS, open: 1, responseDue: 2, mttaSeconds: 100 },
      { ...EMPTY_COUNTS, open: 2, responseDue: 1, mttaSeconds: 400 },
    ]);
    expect(sum.open).toBe(3);
    expect(sum.mttaSeconds).toBe(200);
  });
  it('CSV quotes, neutralises formulas and starts with a BOM', () => {
    const csv = toCsv(['a', 'b'], [['x,y', '=HYPERLINK("evil")'], [null, 1]]);
    expect(csv.startsWith('\uFEFF')).toBe(true);
    expect(csv).toContain('"x,y"');
    expect(csv).toContain(`"'=HYPERLINK(""evil"")"`);
  });
});

describe('kpi reports', () => {
  let t: TestApp;
  let w: Awaited<ReturnType<typeof makeTwoWorlds>>;
  beforeAll(async () => {
    t = await createTestApp();
    w = await makeTwoWorlds(t.db);
  });
  afterAll(async () => t?.close());

  it('counts open and overdue tickets, compliance and camera intact rate', async () => {
    const pm = as(t.app, w.a.users.propertyManager.id);
    for (let i = 0; i < 9; i++) await makeFacility(t.db, w.a.community.id, 'camera');
    // 10 cameras, one faulty after the report below: 90% — exactly the target, not below it.
    const created = await pm({ method: 'POST', url: '/api/v1/tickets', payload: { communityId: w.a.community.id, title: '摄像机故障', facilityId: w.a.facility.id, priority: 'P1' } });
    expect(created.statusCode).toBe(201);
    const ticket = created.json();
    // Make it overdue: opened long ago, targets in the past.
    await t.db.updateTable('tickets').set({ opened_at: new Date(Date.now() - 86_400_000), respond_by: new Date(Date.now() - 3_600_000), resolve_by: new Date(Date.now() - 60_000) }).where('id', '=', ticket.id).execute();
    const res = await pm({ method: 'GET', url: `/api/v1/reports/communities/${w.a.community.id}/kpis` });
    expect(res.statusCode).toBe(200);
    const k = res.json();
    expect(k.tickets).toMatchObject({ open: 1, overdue: 1, openedInPeriod: 1, responseMeasured: 1, responseCompliance: 0 });
    expect(k.facilities.find((f: { category: string }) => f.category === 'camera')).toMatchObject({ total: 10, operational: 9, rate: 0.9, belowTarget: false });
    expect(k.dutyGap).toBe(false);

    const csv = await pm({ method: 'GET', url: `/api/v1/reports/communities/${w.a.community.id}/kpis?format=csv` });
    expect(csv.headers['content-type']).toContain('text/csv');
    expect(csv.body).toContain('tickets.overdue,1');
  });

  it('district reports for the district’s authority only; community reports not for owners or strangers', async () => {
    const authority = as(t.app, w.a.users.authority.id);
    const res = await authority({ method: 'GET', url: `/api/v1/reports/districts/${encodeURIComponent(w.a.community.district)}/kpis` });
    expect(res.statusCode).toBe(200);
    expect(res.json().communities.map((c: { communityId: string }) => c.communityId)).toEqual([w.a.community.id]);
    const csv = await authority({ method: 'GET', url: `/api/v1/reports/districts/${encodeURIComponent(w.a.community.district)}/kpis?format=csv` });
    expect(csv.body.split('\r\n')[0]).toContain('cameraIntactRate');
    expect((await authority({ method: 'GET', url: `/api/v1/reports/districts/${encodeURIComponent(w.b.community.district)}/kpis` })).statusCode).toBe(404);
    expect((await as(t.app, w.a.users.propertyManager.id)({ method: 'GET', url: `/api/v1/reports/districts/${encodeURIComponent(w.a.community.district)}/kpis` })).statusCode).toBe(404);
    expect((await as(t.app, w.a.users.owner.id)({ method: 'GET', url: `/api/v1/reports/communities/${w.a.community.id}/kpis` })).statusCode).toBe(403);
    expect((await as(t.app, w.b.users.propertyManager.id)({ method: 'GET', url: `/api/v1/reports/communities/${w.a.community.id}/kpis` })).statusCode).toBe(404);
    expect((await as(t.app, w.a.users.propertyManager.id)({ method: 'GET', url: `/api/v1/reports/communities/${w.a.community.id}/kpis?from=2026-05-01T00:00:00Z&to=2026-01-01T00:00:00Z` })).statusCode).toBe(400);
  });
});
