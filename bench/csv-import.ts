import { performance } from 'node:perf_hooks';
import { sql } from 'kysely';
import type { Db } from '../src/db/index.js';
import { ownerIdentityKey, parseUnitCsv, type UnitInput } from '../src/modules/units/unit-rows.js';
import { fmt, managedCommunity, median, mib, scratchApp, type Benchmark, type ScratchApp } from './scratch.js';

/**
 * POST /communities/:id/units/import with a realistic 10,000-row register, three times, each into
 * a fresh community; next to it, measured in the same run on the same PostgreSQL, the floor: the
 * same units written by one INSERT … SELECT FROM unnest (and, for reference, every row the import
 * writes, with no parsing, validation, HTTP or audit).
 */

const ROWS = 10_000;
const BUILDINGS = 20;
const RUNS = 3;

/** 20 buildings; every 40th unit developer-held; every 7th has a co-owner; 600 owners own two units; some owners give an email. */
export function registerCsv(rows = ROWS): { csv: string; units: number } {
  const lines = ['楼栋,房号,面积,业主姓名,联系电话,邮箱,首期维修资金,开发商'];
  let units = 0;
  for (let i = 0; lines.length <= rows; i++) {
    const building = `${(i % BUILDINGS) + 1}号楼`;
    const floor = Math.floor(i / BUILDINGS / 4) + 1;
    const number = `${floor}${String((Math.floor(i / BUILDINGS) % 4) + 1).padStart(2, '0')}`;
    const a = 5_000 + ((i * 7_919) % 12_000); // 50.00 … 169.99 m²
    const area = `${Math.trunc(a / 100)}.${String(a % 100).padStart(2, '0')}`;
    const deposit = `${fmt(Math.round((a * 150) / 100), 0)}.00`; // ¥150 per m², with thousands separators
    units++;
    if (i % 40 === 0) {
      lines.push(`${building},${number},${area},,,,"${deposit}",是`);
      continue;
    }
    const k = i % 8_400; // owner k also owns unit i + 8,400 when there is one
    const email = k % 5 === 0 ? `owner${k}@example.cn` : '';
    lines.push(`${building},${number},${area},"业主${k}",139${String(k).padStart(8, '0')},${email},"${deposit}",`);
    if (i % 7 === 0 && lines.length <= rows) lines.push(`${building},${number},${area},共有人${i},137${String(i).padStart(8, '0')},,"${deposit}",否`);
  }
  return { csv: `${lines.join('\r\n')}\r\n`, units };
}

async function countUnits(db: Db, communityId: string): Promise<number> {
  const r = await db.selectFrom('units').select((eb) => eb.fn.countAll<number>().as('n')).where('community_id', '=', communityId).executeTakeFirstOrThrow();
  return Number(r.n);
}

/** The floor: the units alone, one INSERT … SELECT FROM unnest, buildings created beforehand (not timed). */
async function unitsOnlyInsert(s: ScratchApp, units: UnitInput[]): Promise<number> {
  const { communityId } = await managedCommunity(s, 'floor');
  const names = [...new Set(units.map((u) => u.buildingName))];
  const buildings = await sql<{ id: string; name: string }>`
    INSERT INTO buildings (community_id, name) SELECT ${communityId}::uuid, n FROM unnest(${names}::text[]) AS n RETURNING id, name`.execute(s.db);
  const ids = new Map(buildings.rows.map((b) => [b.name, b.id]));
  const start = performance.now();
  await sql`
    INSERT INTO units (community_id, building_id, number, area_centi_m2, first_deposit_cents)
    SELECT ${communityId}::uuid, b, n, a, d
    FROM unnest(${units.map((u) => ids.get(u.buildingName) as string)}::uuid[], ${units.map((u) => u.number)}::text[],
                ${units.map((u) => u.areaCentiM2)}::bigint[], ${units.map((u) => u.firstDepositCents)}::bigint[]) AS t(b, n, a, d)`.execute(s.db);
  const ms = performance.now() - start;
  if ((await countUnits(s.db, communityId)) !== units.length) throw new Error('floor insert wrote the wrong number of units');
  return ms;
}

/** Reference: every row the import writes (buildings, owners, units, unit_owners), raw, in one transaction. */
async function allTablesInsert(s: ScratchApp, units: UnitInput[]): Promise<number> {
  const { communityId } = await managedCommunity(s, 'raw');
  const names = [...new Set(units.map((u) => u.buildingName))];
  const owners = new Map<string, UnitInput['owners'][number]>();
  for (const u of units) for (const o of u.owners) if (!owners.has(ownerIdentityKey(o))) owners.set(ownerIdentityKey(o), o);
  const keys = [...owners.keys()];
  const start = performance.now();
  await s.db.transaction().execute(async (trx) => {
    const b = await sql<{ id: string; name: string }>`
      INSERT INTO buildings (community_id, name) SELECT ${communityId}::uuid, n FROM unnest(${names}::text[]) AS n RETURNING id, name`.execute(trx);
    const bIds = new Map(b.rows.map((r) => [r.name, r.id]));
    const o = await sql<{ id: string; identity_key: string }>`
      INSERT INTO owners (community_id, identity_key, name, phone, email, is_developer)
      SELECT ${communityId}::uuid, k, n, p, e, d
      FROM unnest(${keys}::text[], ${keys.map((k) => owners.get(k)?.name)}::text[], ${keys.map((k) => owners.get(k)?.phone ?? null)}::text[],
                  ${keys.map((k) => owners.get(k)?.email ?? null)}::text[], ${keys.map((k) => owners.get(k)?.isDeveloper ?? false)}::boolean[]) AS t(k, n, p, e, d)
      RETURNING id, identity_key`.execute(trx);
    const oIds = new Map(o.rows.map((r) => [r.identity_key, r.id]));
    const us = await sql<{ id: string; building_id: string; number: string }>`
      INSERT INTO units (community_id, building_id, number, area_centi_m2, first_deposit_cents)
      SELECT ${communityId}::uuid, b, n, a, d
      FROM unnest(${units.map((u) => bIds.get(u.buildingName) as string)}::uuid[], ${units.map((u) => u.number)}::text[],
                  ${units.map((u) => u.areaCentiM2)}::bigint[], ${units.map((u) => u.firstDepositCents)}::bigint[]) AS t(b, n, a, d)
      RETURNING id, building_id, number`.execute(trx);
    const uIds = new Map(us.rows.map((r) => [`${r.building_id}\u0000${r.number}`, r.id]));
    const pairs = units.flatMap((u) => u.owners.map((ow) => [uIds.get(`${bIds.get(u.buildingName)}\u0000${u.number}`) as string, oIds.get(ownerIdentityKey(ow)) as string]));
    await sql`
      INSERT INTO unit_owners (unit_id, owner_id) SELECT u, o FROM unnest(${pairs.map((p) => p[0])}::uuid[], ${pairs.map((p) => p[1])}::uuid[]) AS t(u, o)`.execute(trx);
  });
  const ms = performance.now() - start;
  if ((await countUnits(s.db, communityId)) !== units.length) throw new Error('raw insert wrote the wrong number of units');
  return ms;
}

export const csvImport: Benchmark = {
  id: 'csv-import',
  title: 'Unit register import (CSV, 10,000 rows)',
  async run(log) {
    const { csv, units } = registerCsv();
    const parsed = parseUnitCsv(csv);
    if (parsed.errors.length > 0 || parsed.units.length !== units || parsed.rowCount !== ROWS) throw new Error('the generated register does not parse as expected');
    const owners = new Set(parsed.units.flatMap((u) => u.owners.map(ownerIdentityKey))).size;
    const coOwned = parsed.units.filter((u) => u.owners.length > 1).length;
    const developerUnits = parsed.units.filter((u) => u.owners.some((o) => o.isDeveloper)).length;
    const bytes = Buffer.byteLength(csv);

    const s = await scratchApp();
    try {
      log(`csv-import: scratch database ${s.dbName}`);
      const post = async (token: string, communityId: string, body: string) =>
        s.app.inject({ method: 'POST', url: `/api/v1/communities/${communityId}/units/import`, headers: { authorization: `Bearer ${token}`, 'content-type': 'text/csv' }, payload: body });

      // Warm-up (not reported): compiles the route's code paths and fills connection pools.
      const warm = await managedCommunity(s, 'warm');
      const warmRes = await post(warm.token, warm.communityId, registerCsv(1_000).csv);
      if (warmRes.statusCode !== 201) throw new Error(`warm-up import answered ${warmRes.statusCode}: ${warmRes.body.slice(0, 300)}`);

      const runs: Array<{ ms: number; rss: number }> = [];
      for (let i = 0; i < RUNS; i++) {
        const c = await managedCommunity(s, `run${i + 1}`);
        const start = performance.now();
        const res = await post(c.token, c.communityId, csv);
        const ms = performance.now() - start;
        if (res.statusCode !== 201) throw new Error(`import answered ${res.statusCode}: ${res.body.slice(0, 300)}`);
        const body = res.json() as { rows: number; unitsCreated: number; ownersCreated: number; buildingsCreated: number };
        if (body.rows !== ROWS || body.unitsCreated !== units || body.ownersCreated !== owners || body.buildingsCreated !== BUILDINGS) {
          throw new Error(`unexpected import result ${JSON.stringify(body)}`);
        }
        if ((await countUnits(s.db, c.communityId)) !== units) throw new Error('the import did not write every unit');
        const rss = process.memoryUsage().rss;
        runs.push({ ms, rss });
        log(`csv-import: run ${i + 1}: ${fmt(ms)} ms, ${fmt(ROWS / (ms / 1000))} rows/s, RSS ${mib(rss)}`);
      }

      const parseMs: number[] = [];
      for (let i = 0; i < RUNS; i++) {
        const start = performance.now();
        parseUnitCsv(csv);
        parseMs.push(performance.now() - start);
      }
      const floorMs: number[] = [];
      const rawMs: number[] = [];
      for (let i = 0; i < RUNS; i++) {
        floorMs.push(await unitsOnlyInsert(s, parsed.units));
        rawMs.push(await allTablesInsert(s, parsed.units));
      }
      log(`csv-import: floor (units only) median ${fmt(median(floorMs))} ms; all tables raw median ${fmt(median(rawMs))} ms; parse median ${fmt(median(parseMs))} ms`);

      const ms = runs.map((r) => r.ms);
      const med = median(ms);
      const row = (label: string, xs: number[], note = '') =>
        `| ${label} | ${fmt(Math.min(...xs))} | ${fmt(median(xs))} | ${fmt(Math.max(...xs))} | ${fmt(ROWS / (median(xs) / 1000))} | ${note} |`;
      const markdown = [
        `Input: ${fmt(ROWS)} CSV rows (${fmt(bytes / 1024)} KiB, Chinese header, CRLF, quoted fields) describing ${fmt(units)} units in ${BUILDINGS} buildings: ` +
          `${fmt(coOwned)} units with a co-owner (a second row), ${fmt(developerUnits)} developer-held units (one developer owner), ` +
          `${fmt(owners)} distinct owners (some own two units; every fifth gives an email, matched against accounts). ` +
          `Each run posts the whole file to \`POST /api/v1/communities/:id/units/import\` via \`app.inject\` (the full app: auth, access check, ` +
          `CSV parse and validation, one transaction writing buildings, owners, units, unit_owners and the audit event) into a fresh community ` +
          `of a scratch database, after one unreported 1,000-row warm-up; every run is checked (201, counts, units in the database).`,
        '',
        `| ${RUNS} runs, ${fmt(ROWS)} rows each | min ms | median ms | max ms | CSV rows/s (median) | |`,
        '|---|---:|---:|---:|---:|---|',
        row('import via the API', ms),
        row('floor: the same units, one `INSERT … SELECT FROM unnest`', floorMs, 'buildings created beforehand, not timed'),
        row('reference: every row the import writes, raw SQL', rawMs, 'buildings, owners, units, unit_owners: 4 `INSERT … unnest` in one transaction'),
        row('part of the import: parsing and validating the CSV (`parseUnitCsv`)', parseMs, 'in process, no I/O'),
        '',
        `- Import / floor (medians): **${fmt(med / median(floorMs), 1)}×**; import / raw writes of every table: **${fmt(med / median(rawMs), 1)}×**.`,
        `- RSS after each run: ${runs.map((r) => mib(r.rss)).join(', ')} (the bench process holds the app, the CSV and the parsed rows).`,
      ].join('\n');
      return { markdown };
    } finally {
      await s.close();
      log(`csv-import: dropped ${s.dbName}`);
    }
  },
};
