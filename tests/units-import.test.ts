import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { sql } from 'kysely';
import { createTestApp, type TestApp } from './helpers/app.js';
import { addMembership, as, assignDuty, makeBuilding, makeCommunity, makeOrg, makeUser } from './helpers/factories.js';

let t: TestApp;
beforeAll(async () => {
  t = await createTestApp();
});
afterAll(async () => t?.close());

const ZH_HEADER = '楼栋,房号,面积,业主姓名,联系电话,邮箱,首期维修资金,开发商';
const EN_HEADER = 'building,unit number,area m²,owner name,owner phone,owner email,first deposit,developer';

/** A community with a property company holding its duty, and that company's manager. */
async function managedCommunity() {
  const community = await makeCommunity(t.db);
  const company = await makeOrg(t.db, 'property_company');
  await assignDuty(t.db, community.id, company.id, 'service_contract');
  const manager = await makeUser(t.db);
  await addMembership(t.db, manager.id, company.id, 'manager');
  const request = as(t.app, manager.id);
  const importCsv = (csv: string, contentType = 'text/csv') =>
    request({ method: 'POST', url: `/api/v1/communities/${community.id}/units/import`, headers: { 'content-type': contentType }, payload: csv });
  return { community, company, manager, request, importCsv };
}

/** Row counts of everything an import writes (whole tables, so nothing escapes), and the import events. */
async function counts(communityId: string) {
  const one = async (table: 'units' | 'buildings' | 'owners' | 'unit_owners') => {
    const r = await t.db.selectFrom(table).select((eb) => eb.fn.countAll<number>().as('n')).executeTakeFirstOrThrow();
    return Number(r.n);
  };
  const imported = await t.db
    .selectFrom('audit_events')
    .select((eb) => eb.fn.countAll<number>().as('n'))
    .where('community_id', '=', communityId)
    .where('action', '=', 'units.imported')
    .executeTakeFirstOrThrow();
  return {
    units: await one('units'),
    buildings: await one('buildings'),
    owners: await one('owners'),
    unitOwners: await one('unit_owners'),
    importEvents: Number(imported.n),
  };
}

function communityUnits(communityId: string) {
  return t.db
    .selectFrom('units as u')
    .innerJoin('buildings as b', 'b.id', 'u.building_id')
    .select(['u.id', 'b.name as building', 'u.number', 'u.area_centi_m2', 'u.first_deposit_cents'])
    .where('u.community_id', '=', communityId)
    .orderBy('b.name')
    .orderBy('u.number')
    .execute();
}

function communityOwners(communityId: string) {
  return t.db
    .selectFrom('owners as o')
    .leftJoin('unit_owners as uo', 'uo.owner_id', 'o.id')
    .select(['o.id', 'o.name', 'o.phone', 'o.email', 'o.is_developer', 'o.user_id', 'o.identity_key', sql<number>`count(uo.unit_id)::int`.as('units')])
    .where('o.community_id', '=', communityId)
    .groupBy('o.id')
    .orderBy('o.name')
    .execute();
}

describe('POST /communities/:id/units/import', () => {
  it('imports a register with a Chinese header: units, buildings, owners and their links', async () => {
    const { community, importCsv } = await managedCommunity();
    const wang = await makeUser(t.db, { email: `wang-${community.id.slice(0, 8)}@example.cn`, name: '王五' });
    const csv = [
      ZH_HEADER,
      '1栋,101,89.37,张三,13800000001,,3000,', // 张三 owns 101 and 102 (same phone): one owner
      '1栋,102,120.5,张三,13800000001,,3000.00,',
      '1栋,201,95,李四,13800000002,li4@example.cn,,', // 201 has two co-owners
      '1栋,201,95,李四妻,13800000003,,,',
      '2栋,101,100,,,,,是', // developer-held units: one developer owner
      '2栋,102,100.01,XX地产,,,,是',
      `2栋,103,66.6,王五,,${wang.email.toUpperCase()},,否`, // email of an existing account: linked
    ].join('\n');

    const before = await counts(community.id);
    const res = await importCsv(csv);
    expect(res.statusCode, res.body).toBe(201);
    expect(res.json()).toEqual({ rows: 7, unitsCreated: 6, buildingsCreated: 2, ownersCreated: 5, totalAreaM2: '571.48' });

    const after = await counts(community.id);
    expect(after.units - before.units).toBe(6);
    expect(after.buildings - before.buildings).toBe(2);
    expect(after.owners - before.owners).toBe(5);
    expect(after.unitOwners - before.unitOwners).toBe(7);
    expect(after.importEvents).toBe(1);

    const units = await communityUnits(community.id);
    expect(units.map((u) => [u.building, u.number, u.area_centi_m2, u.first_deposit_cents])).toEqual([
      ['1栋', '101', 8937, 300000],
      ['1栋', '102', 12050, 300000],
      ['1栋', '201', 9500, 0],
      ['2栋', '101', 10000, 0],
      ['2栋', '102', 10001, 0],
      ['2栋', '103', 6660, 0],
    ]);

    const owners = await communityOwners(community.id);
    const byName = new Map(owners.map((o) => [o.name, o]));
    expect(owners).toHaveLength(5);
    expect(byName.get('张三')).toMatchObject({ phone: '13800000001', units: 2, is_developer: false, identity_key: 'p:13800000001' });
    expect(byName.get('李四')).toMatchObject({ units: 1, email: 'li4@example.cn' });
    expect(byName.get('李四妻')).toMatchObject({ units: 1 });
    const developers = owners.filter((o) => o.is_developer);
    expect(developers).toHaveLength(1);
    expect(developers[0]).toMatchObject({ identity_key: 'developer', units: 2 });
    expect(byName.get('王五')).toMatchObject({ user_id: wang.id, units: 1 });
    expect(owners.filter((o) => o.user_id !== null)).toHaveLength(1);

    // 201 lists both co-owners.
    const unit201 = units.find((u) => u.number === '201' && u.building === '1栋');
    const coOwners = await t.db.selectFrom('unit_owners as uo').innerJoin('owners as o', 'o.id', 'uo.owner_id').select('o.name').where('uo.unit_id', '=', unit201?.id as string).orderBy('o.name').execute();
    expect(coOwners.map((o) => o.name).sort()).toEqual(['李四', '李四妻'].sort());

    // One audit event for the file, with its checksum and the figures.
    const event = await t.db.selectFrom('audit_events').select(['after', 'entity_id']).where('community_id', '=', community.id).where('action', '=', 'units.imported').executeTakeFirstOrThrow();
    expect(event.entity_id).toBe(community.id);
    expect(event.after).toMatchObject({ rows: 7, unitsCreated: 6, totalAreaM2: '571.48', sha256: expect.stringMatching(/^[0-9a-f]{64}$/) });
  });

  it('accepts an English header, a BOM, CRLF and a charset parameter', async () => {
    const { importCsv } = await managedCommunity();
    const res = await importCsv(`\uFEFF${EN_HEADER}\r\nA,1,50.5,Ann,+86 138 0000 0004,,,\r\nA,2,49.5,Bob,,bob@example.cn,,\r\n`, 'text/csv; charset=utf-8');
    expect(res.statusCode, res.body).toBe(201);
    expect(res.json()).toMatchObject({ rows: 2, unitsCreated: 2, buildingsCreated: 1, ownersCreated: 2, totalAreaM2: '100.00' });
  });

  it('writes nothing when 3 of 100 rows are bad, and lists each with its row and column', async () => {
    const { community, importCsv } = await managedCommunity();
    const lines = [ZH_HEADER];
    for (let i = 0; i < 100; i++) {
      const row = i + 2; // file row: the header is row 1
      const building = `${(i % 5) + 1}号楼-${community.id.slice(0, 4)}`;
      let area = `${80 + (i % 40)}.${String(i % 100).padStart(2, '0')}`;
      let phone = `1390000${String(i).padStart(4, '0')}`;
      let email = '';
      if (row === 12) area = '89.375';
      if (row === 50) phone = 'call me';
      if (row === 90) email = 'nobody-at-example';
      lines.push([building, `${100 + i}`, area, `业主${i}`, phone, email, '', ''].join(','));
    }
    const before = await counts(community.id);
    const res = await importCsv(lines.join('\n'));
    expect(res.statusCode).toBe(400);
    const body = res.json();
    expect(body.error.code).toBe('VALIDATION_ERROR');
    expect(typeof body.error.message).toBe('string');
    expect(body.error.details).toMatchObject({ errorCount: 3, truncated: false });
    expect(body.error.details.errors.map((e: { row: number; column: string }) => [e.row, e.column])).toEqual([
      [12, 'area m²'],
      [50, 'owner phone'],
      [90, 'owner email'],
    ]);
    expect(body.error.details.errors[0].message).toContain('89.375');
    expect(await counts(community.id)).toEqual(before);
    expect(await communityUnits(community.id)).toEqual([]);
  });

  it('reads files above the default 1 MiB body limit, and caps the listed errors at 200', async () => {
    const { community, importCsv } = await managedCommunity();
    const lines = [ZH_HEADER];
    for (let i = 0; i < 20_000; i++) lines.push(`${(i % 20) + 1}号楼,${i},${i % 2 ? '80.5' : '80.555'},业主名字${i},1390${String(i).padStart(7, '0')},owner${i}@example.cn,1000,`);
    const csv = lines.join('\n');
    expect(Buffer.byteLength(csv)).toBeGreaterThan(1024 * 1024);
    const before = await counts(community.id);
    const res = await importCsv(csv);
    expect(res.statusCode).toBe(400);
    const { details } = res.json().error;
    expect(details).toMatchObject({ errorCount: 10_000, truncated: true });
    expect(details.errors).toHaveLength(200);
    expect(details.errors[0]).toMatchObject({ row: 2, column: 'area m²' });
    expect(details.errors[199]).toMatchObject({ row: 400, column: 'area m²' });
    expect(await counts(community.id)).toEqual(before);
  });

  it('refuses a file holding an existing unit with 409 and the row, and rolls everything back', async () => {
    const { community, importCsv } = await managedCommunity();
    const first = await importCsv(`${ZH_HEADER}\n1栋,101,89.37,张三,13800000001,,,\n1栋,102,90,李四,13800000002,,,\n`);
    expect(first.statusCode, first.body).toBe(201);

    const before = await counts(community.id);
    const again = await importCsv(
      [
        ZH_HEADER,
        '新建楼,1,70,新业主,13800000077,,,', // a building named only in this file
        '1栋,103,70,王五,13800000003,,,',
        '1栋,102,90,李四,13800000002,,,', // row 4: exists already
        '新建楼,2,70,新业主2,13800000078,,,',
      ].join('\n'),
    );
    expect(again.statusCode).toBe(409);
    const body = again.json();
    expect(body.error.code).toBe('CONFLICT');
    expect(body.error.details.errors).toEqual([{ row: 4, message: expect.stringContaining('1栋 102') }]);
    expect(await counts(community.id)).toEqual(before);
    const building = await t.db.selectFrom('buildings').select('id').where('community_id', '=', community.id).where('name', '=', '新建楼').executeTakeFirst();
    expect(building).toBeUndefined();
    const owners = await communityOwners(community.id);
    expect(owners.map((o) => o.name).sort()).toEqual(['张三', '李四'].sort());
  });

  it('adds owners of a new import to those already known (same phone: same owner)', async () => {
    const { community, importCsv } = await managedCommunity();
    expect((await importCsv(`${ZH_HEADER}\n1栋,101,89.37,张三,13800000001,,,\n`)).statusCode).toBe(201);
    const second = await importCsv(`${ZH_HEADER}\n1栋,102,90,张三,13800000001,zhang@example.cn,,\n`);
    expect(second.statusCode, second.body).toBe(201);
    expect(second.json()).toMatchObject({ unitsCreated: 1, buildingsCreated: 0, ownersCreated: 0 });
    const owners = await communityOwners(community.id);
    expect(owners).toHaveLength(1);
    expect(owners[0]).toMatchObject({ name: '张三', units: 2, email: 'zhang@example.cn' });
  });

  it('answers a JSON body, another media type, and an empty body in the error shape', async () => {
    const { community, importCsv, request } = await managedCommunity();
    const before = await counts(community.id);

    const json = await request({ method: 'POST', url: `/api/v1/communities/${community.id}/units/import`, payload: { csv: `${ZH_HEADER}\n1栋,101,89.37,张三,,,,` } });
    expect([400, 415]).toContain(json.statusCode);
    expect(json.json().error).toMatchObject({ code: expect.any(String), message: expect.any(String) });

    const xml = await importCsv('<units/>', 'application/xml');
    expect(xml.statusCode).toBe(415);
    expect(xml.json().error).toMatchObject({ code: expect.any(String), message: expect.any(String) });

    const empty = await importCsv('');
    expect(empty.statusCode).toBe(400);
    expect(empty.json().error).toMatchObject({ code: expect.any(String), message: expect.any(String) });

    const headerOnly = await importCsv(`${ZH_HEADER}\n`);
    expect(headerOnly.statusCode).toBe(400);
    expect(headerOnly.json().error.message).toMatch(/no unit rows/);

    const noBody = await request({ method: 'POST', url: `/api/v1/communities/${community.id}/units/import` });
    expect(noBody.statusCode).toBe(400);
    expect(noBody.json().error).toMatchObject({ code: expect.any(String), message: expect.any(String) });

    expect(await counts(community.id)).toEqual(before);
  });

  it('is refused to people who may not manage the community', async () => {
    const { community } = await managedCommunity();
    const stranger = await makeUser(t.db);
    const otherCompany = await makeOrg(t.db, 'property_company');
    await addMembership(t.db, stranger.id, otherCompany.id, 'manager');
    const before = await counts(community.id);
    const res = await as(t.app, stranger.id)({
      method: 'POST',
      url: `/api/v1/communities/${community.id}/units/import`,
      headers: { 'content-type': 'text/csv' },
      payload: `${ZH_HEADER}\n1栋,101,89.37,张三,,,,\n`,
    });
    expect(res.statusCode).toBe(404);
    const anonymous = await t.app.inject({ method: 'POST', url: `/api/v1/communities/${community.id}/units/import`, headers: { 'content-type': 'text/csv' }, payload: 'x' });
    expect(anonymous.statusCode).toBe(401);
    expect(await counts(community.id)).toEqual(before);
  });

  it('imports 10,000 rows: 20 buildings, co-owners, owners of several units, developer units', async () => {
    const { community, importCsv } = await managedCommunity();
    const lines = [ZH_HEADER];
    const owners = new Set<string>();
    let units = 0;
    let area = 0;
    let pairs = 0;
    for (let i = 0; lines.length <= 10_000; i++) {
      const building = `${(i % 20) + 1}栋`;
      const number = `${Math.floor(i / 20) + 1}`;
      const a = 6000 + ((i * 37) % 9000); // 60.00 … 149.99 m²
      const areaText = `${Math.trunc(a / 100)}.${String(a % 100).padStart(2, '0')}`;
      units++;
      area += a;
      if (i % 50 === 0) {
        lines.push(`${building},${number},${areaText},,,,,是`);
        owners.add('developer');
        pairs++;
        continue;
      }
      // Owner k owns unit i and, for i < 1000, also unit i + 8000.
      const k = i % 8000;
      lines.push(`${building},${number},${areaText},业主${k},139${String(k).padStart(8, '0')},,1000,`);
      owners.add(`p:${k}`);
      pairs++;
      if (i % 9 === 0 && lines.length <= 10_000) {
        lines.push(`${building},${number},${areaText},共有人${i},137${String(i).padStart(8, '0')},,1000,`);
        owners.add(`c:${i}`);
        pairs++;
      }
    }
    expect(lines.length).toBe(10_001);

    const before = await counts(community.id);
    const res = await importCsv(lines.join('\n'));
    expect(res.statusCode, res.body.slice(0, 500)).toBe(201);
    const totalAreaM2 = `${Math.trunc(area / 100)}.${String(area % 100).padStart(2, '0')}`;
    expect(res.json()).toEqual({ rows: 10_000, unitsCreated: units, buildingsCreated: 20, ownersCreated: owners.size, totalAreaM2 });
    const after = await counts(community.id);
    expect(after.units - before.units).toBe(units);
    expect(after.buildings - before.buildings).toBe(20);
    expect(after.owners - before.owners).toBe(owners.size);
    expect(after.unitOwners - before.unitOwners).toBe(pairs);
    const sum = await t.db
      .selectFrom('units')
      .select(sql<string>`sum(area_centi_m2)::text`.as('s'))
      .where('community_id', '=', community.id)
      .executeTakeFirstOrThrow();
    expect(Number(sum.s)).toBe(area);
    const developer = (await communityOwners(community.id)).filter((o) => o.is_developer);
    expect(developer).toHaveLength(1);
    expect(developer[0]?.units).toBe(Math.ceil(units / 50));
  });
});

describe('POST /communities/:id/units and GET /communities/:id/units', () => {
  it('creates one unit with its owners, exactly', async () => {
    const { community, request } = await managedCommunity();
    const building = await makeBuilding(t.db, community.id, '9栋');
    const res = await request({
      method: 'POST',
      url: `/api/v1/communities/${community.id}/units`,
      payload: {
        buildingId: building.id,
        number: '901',
        areaM2: '89.37',
        firstDeposit: '5000.5',
        owners: [
          { name: '甲', phone: '13800000011' },
          { name: '乙', email: 'yi@example.cn' },
        ],
      },
    });
    expect(res.statusCode, res.body).toBe(201);
    const unit = res.json();
    expect(unit).toMatchObject({ communityId: community.id, buildingId: building.id, building: '9栋', number: '901', areaCentiM2: 8937, areaM2: '89.37', firstDepositCents: 500050 });
    expect(unit.owners.map((o: { name: string }) => o.name).sort()).toEqual(['乙', '甲']);
    expect(unit.owners.find((o: { name: string }) => o.name === '甲').phone).toBe('13800000011');
    const event = await t.db.selectFrom('audit_events').select('entity_id').where('action', '=', 'unit.created').where('entity_id', '=', unit.id).executeTakeFirst();
    expect(event).toBeDefined();
  });

  it.each([
    ['"89.375" (3 decimals)', '89.375'],
    ['89.375 as a JSON number', 89.375],
    ['"89.999999999999999999" (would round to 90)', '89.999999999999999999'],
    ['"-1"', '-1'],
    ['"0"', '0'],
    ['"abc"', 'abc'],
  ])('refuses area %s with 400 and writes nothing', async (_label, areaM2) => {
    const { community, request } = await managedCommunity();
    const building = await makeBuilding(t.db, community.id);
    const before = await counts(community.id);
    const res = await request({ method: 'POST', url: `/api/v1/communities/${community.id}/units`, payload: { buildingId: building.id, number: '1', areaM2, owners: [{ name: '甲' }] } });
    expect(res.statusCode).toBe(400);
    expect(res.json().error).toMatchObject({ code: 'VALIDATION_ERROR', message: expect.any(String) });
    expect(await counts(community.id)).toEqual(before);
  });

  it('answers 409 for a unit number already in the building', async () => {
    const { community, request } = await managedCommunity();
    const building = await makeBuilding(t.db, community.id, '3栋');
    const post = () =>
      request({ method: 'POST', url: `/api/v1/communities/${community.id}/units`, payload: { buildingId: building.id, number: '301', areaM2: '70', owners: [{ name: '丙', phone: '13800000021' }] } });
    expect((await post()).statusCode).toBe(201);
    const before = await counts(community.id);
    const dup = await post();
    expect(dup.statusCode).toBe(409);
    expect(dup.json().error).toMatchObject({ code: 'CONFLICT', message: expect.stringContaining('301') });
    expect(await counts(community.id)).toEqual(before);
  });

  it.each([
    ['a blank unit number', { number: '   ', owners: [{ name: '甲' }] }, 'number'],
    ['a blank owner name', { number: '1', owners: [{ name: '甲' }, { name: '  ' }] }, 'owners.1.name'],
  ])('refuses %s with 400 (not a database error)', async (_label, fields, field) => {
    const { community, request } = await managedCommunity();
    const building = await makeBuilding(t.db, community.id);
    const before = await counts(community.id);
    const res = await request({ method: 'POST', url: `/api/v1/communities/${community.id}/units`, payload: { buildingId: building.id, areaM2: '70', ...fields } });
    expect(res.statusCode, res.body).toBe(400);
    expect(res.json().error).toMatchObject({ code: 'VALIDATION_ERROR', details: [{ field }] });
    expect(await counts(community.id)).toEqual(before);
  });

  it('trims the unit number, so " 301 " is the same unit as "301"', async () => {
    const { community, request } = await managedCommunity();
    const building = await makeBuilding(t.db, community.id);
    const post = (number: string) => request({ method: 'POST', url: `/api/v1/communities/${community.id}/units`, payload: { buildingId: building.id, number, areaM2: '70', owners: [{ name: '甲' }] } });
    const first = await post(' 301 ');
    expect(first.statusCode, first.body).toBe(201);
    expect(first.json().number).toBe('301');
    expect((await post('301')).statusCode).toBe(409);
  });

  it('answers 404 for a building of another community', async () => {
    const { community, request } = await managedCommunity();
    const other = await makeCommunity(t.db);
    const foreign = await makeBuilding(t.db, other.id);
    const res = await request({ method: 'POST', url: `/api/v1/communities/${community.id}/units`, payload: { buildingId: foreign.id, number: '1', areaM2: '70', owners: [{ name: '丁' }] } });
    expect(res.statusCode).toBe(404);
  });

  it('pages through every unit exactly once with limit=2 and the cursor', async () => {
    const { community, request, importCsv } = await managedCommunity();
    const lines = [ZH_HEADER];
    for (let i = 1; i <= 7; i++) lines.push(`${(i % 2) + 1}栋,${i}0${i},${60 + i}.5,业主${i},1380000010${i},,,`);
    expect((await importCsv(lines.join('\n'))).statusCode).toBe(201);
    const building = await makeBuilding(t.db, community.id, '单独楼');
    const single = await request({ method: 'POST', url: `/api/v1/communities/${community.id}/units`, payload: { buildingId: building.id, number: 'A1', areaM2: 55, owners: [{ name: '戊' }] } });
    expect(single.statusCode, single.body).toBe(201);

    const expected = (await communityUnits(community.id)).map((u) => u.id).sort();
    expect(expected).toHaveLength(8);
    const seen: string[] = [];
    let cursor: string | null = null;
    let pages = 0;
    do {
      const url: string = `/api/v1/communities/${community.id}/units?limit=2${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ''}`;
      const res = await request({ method: 'GET', url });
      expect(res.statusCode, res.body).toBe(200);
      const page = res.json() as { items: Array<{ id: string; owners: unknown[]; areaM2: string }>; nextCursor: string | null };
      expect(page.items.length).toBeLessThanOrEqual(2);
      expect(page.items.every((u) => u.owners.length === 1)).toBe(true);
      seen.push(...page.items.map((u) => u.id));
      cursor = page.nextCursor;
      pages++;
      expect(pages).toBeLessThan(20);
    } while (cursor);
    expect(seen).toHaveLength(8);
    expect(new Set(seen).size).toBe(8);
    expect([...seen].sort()).toEqual(expected);
    expect(pages).toBe(4);

    const bad = await request({ method: 'GET', url: `/api/v1/communities/${community.id}/units?limit=2&cursor=not-a-cursor` });
    expect(bad.statusCode).toBe(400);
  });
});
