import { randomBytes, randomUUID } from 'node:crypto';
import { sql } from 'kysely';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { GENESIS_HASH, canonicalJson, checkLinks, eventHash, type ChainedEvent, type StoredEvent } from '../src/modules/audit/hash.js';
import { auditCtes, recordAudit, verifyChain } from '../src/modules/audit/audit.service.js';
import { createTestApp, type TestApp } from './helpers/app.js';
import { as, makeCommunity, makeOrg, makeTwoWorlds, makeUser } from './helpers/factories.js';

/** DESIGN.md "Audit": every change writes a hash-chained event in the same transaction; the table is append-only. */

const API = '/api/v1';
const uniq = () => randomBytes(4).toString('hex');

let t: TestApp;
let admin: { id: string };

beforeAll(async () => {
  t = await createTestApp();
  admin = await makeUser(t.db, { isPlatformAdmin: true });
});
afterAll(async () => t?.close());

const api = () => as(t.app, admin.id);

interface EventDto {
  seq: number;
  actorUserId: string | null;
  action: string;
  entityType: string;
  entityId: string | null;
  before: unknown;
  after: unknown;
  createdAt: string;
  prevHash: string;
  hash: string;
}

/** A community made through the API by the platform admin, with its property company as duty holder. */
async function newCommunity(): Promise<string> {
  const company = await makeOrg(t.db, 'property_company');
  const res = await api()({ method: 'POST', url: `${API}/communities`, payload: { name: `审计小区-${uniq()}`, district: 'AuditDistrict', propertyCompanyId: company.id } });
  expect(res.statusCode, res.body).toBe(201);
  return res.json().id as string;
}

async function events(communityId: string): Promise<EventDto[]> {
  const all: EventDto[] = [];
  let afterSeq = 0;
  for (;;) {
    const res = await api()({ method: 'GET', url: `${API}/audit/communities/${communityId}/events?afterSeq=${afterSeq}&limit=500` });
    expect(res.statusCode, res.body).toBe(200);
    const body = res.json() as { items: EventDto[]; nextAfterSeq: number | null };
    all.push(...body.items);
    if (body.nextAfterSeq === null) return all;
    afterSeq = body.nextAfterSeq;
  }
}

async function verify(communityId: string) {
  const res = await api()({ method: 'GET', url: `${API}/audit/communities/${communityId}/verify` });
  expect(res.statusCode, res.body).toBe(200);
  return res.json() as { ok: boolean; eventsChecked: number; firstBrokenSeq: number | null; problem: string | null; checkedAt: string };
}

async function addBuilding(communityId: string, name = `楼-${uniq()}`) {
  return api()({ method: 'POST', url: `${API}/communities/${communityId}/buildings`, payload: { name } });
}

async function countEvents(chain: string): Promise<number> {
  const row = await t.db.selectFrom('audit_events').select((eb) => eb.fn.countAll<number>().as('n')).where('chain', '=', chain).executeTakeFirstOrThrow();
  return Number(row.n);
}

function expectLinked(items: EventDto[], communityId: string) {
  expect(items.map((e) => e.seq)).toEqual(items.map((_, i) => i + 1));
  let prev = GENESIS_HASH;
  for (const e of items) {
    expect(e.prevHash).toBe(prev);
    const recomputed = eventHash(prev, {
      chain: communityId,
      seq: e.seq,
      communityId,
      actorUserId: e.actorUserId,
      action: e.action,
      entityType: e.entityType,
      entityId: e.entityId,
      before: e.before,
      after: e.after,
      createdAt: new Date(e.createdAt),
    });
    expect(recomputed).toBe(e.hash);
    prev = e.hash;
  }
}

describe('the chain written by API changes', () => {
  it('community, duty, building and facility creation append seq 1..n, linked, and verify ok', async () => {
    const communityId = await newCommunity();
    const building = await addBuilding(communityId, '1号楼');
    expect(building.statusCode).toBe(201);
    const facility = await api()({
      method: 'POST',
      url: `${API}/communities/${communityId}/facilities`,
      payload: { category: 'camera', name: '东门摄像机', buildingId: building.json().id },
    });
    expect(facility.statusCode).toBe(201);

    const items = await events(communityId);
    expect(items.map((e) => e.action)).toEqual(['community.created', 'duty.assigned', 'building.created', 'facility.created']);
    expect(items.every((e) => e.actorUserId === admin.id)).toBe(true);
    expect(items[2]).toMatchObject({ entityType: 'building', entityId: building.json().id, after: { name: '1号楼' }, before: null });
    expect(items[3]).toMatchObject({ entityType: 'facility', entityId: facility.json().id, after: { category: 'camera', name: '东门摄像机', buildingId: building.json().id } });
    expectLinked(items, communityId);

    const result = await verify(communityId);
    expect(result).toMatchObject({ ok: true, eventsChecked: 4, firstBrokenSeq: null, problem: null });
  });

  it('a change records before and after (facility update)', async () => {
    const communityId = await newCommunity();
    const f = await api()({ method: 'POST', url: `${API}/communities/${communityId}/facilities`, payload: { category: 'smoke_detector', name: '烟感', location: 'A' } });
    expect(f.statusCode, f.body).toBe(201);
    const patch = await api()({ method: 'PATCH', url: `${API}/facilities/${f.json().id}`, payload: { status: 'faulty' } });
    expect(patch.statusCode, patch.body).toBe(200);
    const items = await events(communityId);
    const last = items[items.length - 1];
    expect(last).toMatchObject({ action: 'facility.status_changed', before: { status: 'operational' }, after: { status: 'faulty' } });
    expect((await verify(communityId)).ok).toBe(true);
  });

  it('pages events with afterSeq and limit', async () => {
    const communityId = await newCommunity();
    for (let i = 0; i < 3; i++) expect((await addBuilding(communityId)).statusCode).toBe(201);
    const first = await api()({ method: 'GET', url: `${API}/audit/communities/${communityId}/events?limit=2` });
    expect(first.json().items.map((e: EventDto) => e.seq)).toEqual([1, 2]);
    expect(first.json().nextAfterSeq).toBe(2);
    const rest = await api()({ method: 'GET', url: `${API}/audit/communities/${communityId}/events?afterSeq=2&limit=10` });
    expect(rest.json().items.map((e: EventDto) => e.seq)).toEqual([3, 4, 5]);
    expect(rest.json().nextAfterSeq).toBeNull();
  });

  it('an upper-case community id in the URL writes to the same chain, which still verifies', async () => {
    const communityId = await newCommunity();
    const upper = communityId.toUpperCase();
    const res = await api()({ method: 'POST', url: `${API}/communities/${upper}/buildings`, payload: { name: `楼-${uniq()}` } });
    expect(res.statusCode, res.body).toBe(201);
    const items = await events(communityId);
    expect(items.map((e) => e.action)).toEqual(['community.created', 'duty.assigned', 'building.created']);
    expect(await countEvents(upper)).toBe(0);
    expect(await verify(communityId)).toMatchObject({ ok: true, eventsChecked: 3 });
    const viaUpper = await api()({ method: 'GET', url: `${API}/audit/communities/${upper}/verify` });
    expect(viaUpper.json()).toMatchObject({ ok: true, eventsChecked: 3 });
    const listedUpper = await api()({ method: 'GET', url: `${API}/audit/communities/${upper}/events` });
    expect(listedUpper.json().items).toHaveLength(3);
  });
});

describe('reads of personal data', () => {
  it('staff reading owners’ phone numbers are recorded; masked reads are not', async () => {
    const { a } = await makeTwoWorlds(t.db);
    const reads = async () => (await events(a.community.id)).filter((e) => e.action === 'personal_data.read');
    expect(await reads()).toHaveLength(0);

    const one = await as(t.app, a.users.propertyManager.id)({ method: 'GET', url: `${API}/units/${a.unit.id}` });
    expect(one.statusCode).toBe(200);
    const list = await as(t.app, a.users.technician.id)({ method: 'GET', url: `${API}/communities/${a.community.id}/units` });
    expect(list.statusCode).toBe(200);
    const logged = await reads();
    expect(logged.map((e) => [e.actorUserId, e.after])).toEqual([
      [a.users.propertyManager.id, { unitIds: [a.unit.id] }],
      [a.users.technician.id, { unitIds: [a.unit.id] }],
    ]);

    // The authority sees masked numbers; the owner sees their own unit: neither is a staff read.
    expect((await as(t.app, a.users.authority.id)({ method: 'GET', url: `${API}/units/${a.unit.id}` })).statusCode).toBe(200);
    expect((await as(t.app, a.users.owner.id)({ method: 'GET', url: `${API}/units/${a.unit.id}` })).statusCode).toBe(200);
    expect(await reads()).toHaveLength(2);
    expect((await verify(a.community.id)).ok).toBe(true);
  });
});

describe('the database refuses to rewrite history', () => {
  let communityId: string;
  beforeAll(async () => {
    communityId = await newCommunity();
  });

  it('UPDATE is refused', async () => {
    await expect(sql`UPDATE audit_events SET action = 'forged' WHERE chain = ${communityId}`.execute(t.db)).rejects.toThrow(/append-only/);
    await expect(t.db.updateTable('audit_events').set({ after: JSON.stringify({ x: 1 }) }).where('chain', '=', communityId).where('seq', '=', 1).execute()).rejects.toThrow(
      /append-only/,
    );
  });

  it('DELETE is refused', async () => {
    await expect(sql`DELETE FROM audit_events WHERE chain = ${communityId}`.execute(t.db)).rejects.toThrow(/append-only/);
  });

  it('TRUNCATE is refused', async () => {
    await expect(sql`TRUNCATE audit_events`.execute(t.db)).rejects.toThrow(/append-only/);
  });

  it('the chain is untouched afterwards', async () => {
    const items = await events(communityId);
    expect(items.map((e) => e.action)).toEqual(['community.created', 'duty.assigned']);
    expect((await verify(communityId)).ok).toBe(true);
  });
});

describe('tampering is detected', () => {
  it('a forged row appended with a wrong hash breaks the chain at its seq', async () => {
    const communityId = await newCommunity();
    await addBuilding(communityId);
    const items = await events(communityId);
    const last = items[items.length - 1] as EventDto;
    const forgedSeq = last.seq + 1;
    await t.db
      .insertInto('audit_events')
      .values({
        chain: communityId,
        seq: forgedSeq,
        community_id: communityId,
        actor_user_id: admin.id,
        action: 'building.deleted',
        entity_type: 'building',
        entity_id: randomUUID(),
        before: null,
        after: null,
        created_at: new Date(),
        prev_hash: last.hash,
        hash: 'f'.repeat(64),
      })
      .execute();
    const result = await verify(communityId);
    expect(result).toMatchObject({ ok: false, firstBrokenSeq: forgedSeq, eventsChecked: last.seq });
    expect(result.problem).toMatch(/hash does not match/);
  });

  it('a forged row that skips a seq is reported as a gap', async () => {
    const communityId = await newCommunity();
    const items = await events(communityId);
    const last = items[items.length - 1] as EventDto;
    const event: ChainedEvent = {
      chain: communityId,
      seq: last.seq + 2,
      communityId,
      actorUserId: null,
      action: 'x',
      entityType: 'x',
      entityId: null,
      before: null,
      after: null,
      createdAt: new Date(Math.floor(Date.now() / 1000) * 1000),
    };
    await t.db
      .insertInto('audit_events')
      .values({
        chain: communityId,
        seq: event.seq,
        community_id: communityId,
        actor_user_id: null,
        action: 'x',
        entity_type: 'x',
        entity_id: null,
        before: null,
        after: null,
        created_at: event.createdAt,
        prev_hash: last.hash,
        hash: eventHash(last.hash, event),
      })
      .execute();
    const result = await verify(communityId);
    expect(result).toMatchObject({ ok: false, firstBrokenSeq: last.seq + 2 });
    expect(result.problem).toMatch(/sequence gap/);
  });

  it('an event rewritten behind the trigger’s back breaks the chain at that event', async () => {
    const communityId = await newCommunity();
    await addBuilding(communityId);
    await addBuilding(communityId);
    expect((await verify(communityId)).ok).toBe(true);
    // As superuser, in one transaction so the trigger is off for no one else.
    await t.db.transaction().execute(async (trx) => {
      await sql`ALTER TABLE audit_events DISABLE TRIGGER audit_events_no_update_delete`.execute(trx);
      await sql`UPDATE audit_events SET after = jsonb_set(coalesce(after, '{}'::jsonb), '{basis}', '"forged"') WHERE chain = ${communityId} AND seq = 2`.execute(trx);
      await sql`ALTER TABLE audit_events ENABLE TRIGGER audit_events_no_update_delete`.execute(trx);
    });
    const result = await verify(communityId);
    expect(result).toMatchObject({ ok: false, firstBrokenSeq: 2, eventsChecked: 1 });
    expect(result.problem).toBe('hash does not match the event’s contents');
    // The trigger is back on.
    await expect(sql`UPDATE audit_events SET action = 'x' WHERE chain = ${communityId} AND seq = 1`.execute(t.db)).rejects.toThrow(/append-only/);
  });
});

describe('atomicity and concurrency', () => {
  it('a failing change (duplicate building → 409) leaves no audit event', async () => {
    const communityId = await newCommunity();
    expect((await addBuilding(communityId, '2号楼')).statusCode).toBe(201);
    const before = await countEvents(communityId);
    const dup = await addBuilding(communityId, '2号楼');
    expect(dup.statusCode).toBe(409);
    expect(await countEvents(communityId)).toBe(before);
    // A racing duplicate (past the pre-check, stopped by the unique constraint) leaves none either.
    const racers = await Promise.all(Array.from({ length: 5 }, () => addBuilding(communityId, '3号楼')));
    expect(racers.map((r) => r.statusCode).sort()).toEqual([201, 409, 409, 409, 409]);
    const items = await events(communityId);
    expect(items.filter((e) => e.action === 'building.created' && (e.after as { name: string }).name === '3号楼')).toHaveLength(1);
    expect(await verify(communityId)).toMatchObject({ ok: true, eventsChecked: before + 1 });
  });

  it('an event recorded in a transaction that then fails is rolled back with it, leaving no seq gap', async () => {
    const community = await makeCommunity(t.db);
    await t.db.transaction().execute((trx) => recordAudit(trx, { communityId: community.id, actorUserId: null, action: 'test.one', entityType: 'test', entityId: null }));
    await expect(
      t.db.transaction().execute(async (trx) => {
        await recordAudit(trx, { communityId: community.id, actorUserId: null, action: 'test.doomed', entityType: 'test', entityId: null, after: { n: 1 } });
        throw new Error('the change failed after its audit event');
      }),
    ).rejects.toThrow('the change failed');
    await t.db.transaction().execute((trx) => recordAudit(trx, { communityId: community.id, actorUserId: null, action: 'test.two', entityType: 'test', entityId: null }));
    const items = await events(community.id);
    expect(items.map((e) => [e.seq, e.action])).toEqual([
      [1, 'test.one'],
      [2, 'test.two'],
    ]);
    expect(await verify(community.id)).toMatchObject({ ok: true, eventsChecked: 2 });
  });

  it('20 parallel building creations produce a gapless chain that verifies', async () => {
    const communityId = await newCommunity();
    const other = await newCommunity();
    const results = await Promise.all([
      ...Array.from({ length: 20 }, (_, i) => addBuilding(communityId, `并发楼-${i}`)),
      // Another community's chain advances independently at the same time.
      ...Array.from({ length: 5 }, (_, i) => addBuilding(other, `并发楼-${i}`)),
    ]);
    expect(results.map((r) => r.statusCode)).toEqual(Array(25).fill(201));
    const items = await events(communityId);
    expect(items).toHaveLength(22);
    expectLinked(items, communityId);
    expect(items.filter((e) => e.action === 'building.created').map((e) => (e.after as { name: string }).name).sort()).toEqual(
      Array.from({ length: 20 }, (_, i) => `并发楼-${i}`).sort(),
    );
    expect(await verify(communityId)).toMatchObject({ ok: true, eventsChecked: 22, firstBrokenSeq: null });
    expect(await verify(other)).toMatchObject({ ok: true, eventsChecked: 7 });
  });

  it('verifies a chain longer than one page, and finds a break beyond the first page', async () => {
    const chain = randomUUID();
    const n = 5_003;
    const rows = [];
    let prev = GENESIS_HASH;
    const base = Date.now();
    for (let seq = 1; seq <= n; seq++) {
      const e: ChainedEvent = {
        chain,
        seq,
        communityId: null,
        actorUserId: null,
        action: 'bulk.test',
        entityType: 'test',
        entityId: String(seq),
        before: null,
        after: { seq, 名称: `第${seq}条` },
        createdAt: new Date(base + seq),
      };
      const hash = eventHash(prev, e);
      rows.push({ chain, seq, community_id: null, actor_user_id: null, action: e.action, entity_type: e.entityType, entity_id: e.entityId, before: null, after: JSON.stringify(e.after), created_at: e.createdAt, prev_hash: prev, hash });
      prev = hash;
    }
    for (let i = 0; i < rows.length; i += 1_000) await t.db.insertInto('audit_events').values(rows.slice(i, i + 1_000)).execute();
    expect(await verifyChain(t.db, chain)).toEqual({ ok: true, eventsChecked: n, firstBrokenSeq: null, problem: null });
    await t.db
      .insertInto('audit_events')
      .values({ ...(rows[n - 1] as (typeof rows)[number]), seq: n + 1, prev_hash: prev, hash: '0'.repeat(64) })
      .execute();
    expect(await verifyChain(t.db, chain)).toMatchObject({ ok: false, eventsChecked: n, firstBrokenSeq: n + 1 });
  }, 60_000);
});

describe('verification runs are recorded', () => {
  it('each verify call writes a row in audit_verifications', async () => {
    const communityId = await newCommunity();
    const rowsOf = () => t.db.selectFrom('audit_verifications').selectAll().where('community_id', '=', communityId).orderBy('id').execute();
    expect(await rowsOf()).toHaveLength(0);
    const r1 = await verify(communityId);
    const r2 = await verify(communityId);
    const rows = await rowsOf();
    expect(rows).toHaveLength(2);
    for (const row of rows) {
      expect(row).toMatchObject({ chain: communityId, ok: true, events_checked: 2, first_broken_seq: null, problem: null, trigger: 'on_demand' });
    }
    expect([r1.checkedAt, r2.checkedAt]).toEqual(rows.map((r) => r.checked_at.toISOString()));

    // A broken chain's verification is recorded with where it broke.
    const last = (await events(communityId)).at(-1) as EventDto;
    await t.db
      .insertInto('audit_events')
      .values({ chain: communityId, seq: 3, community_id: communityId, actor_user_id: null, action: 'x', entity_type: 'x', entity_id: null, before: null, after: null, created_at: new Date(), prev_hash: last.hash, hash: 'bad' })
      .execute();
    await verify(communityId);
    const broken = (await rowsOf()).at(-1);
    expect(broken).toMatchObject({ ok: false, events_checked: 2, first_broken_seq: 3, trigger: 'on_demand' });
    expect(broken?.problem).toMatch(/hash/);
  });

  it('a refused verify (no access) records nothing', async () => {
    const communityId = await newCommunity();
    const stranger = await makeUser(t.db);
    const res = await as(t.app, stranger.id)({ method: 'GET', url: `${API}/audit/communities/${communityId}/verify` });
    expect(res.statusCode).toBe(404);
    const rows = await t.db.selectFrom('audit_verifications').select('id').where('community_id', '=', communityId).execute();
    expect(rows).toHaveLength(0);
  });
});

describe('hash.ts (pure)', () => {
  const base: ChainedEvent = {
    chain: 'c1',
    seq: 1,
    communityId: '5f0c7e52-7c1e-4a5b-9d1e-0a7b6c3d2e1f',
    actorUserId: '0b1c2d3e-4f50-4617-8293-a4b5c6d7e8f9',
    action: 'building.created',
    entityType: 'building',
    entityId: 'e1',
    before: null,
    after: { name: '1号楼', floors: 18 },
    createdAt: new Date('2026-11-22T10:00:00.123Z'),
  };

  describe('canonicalJson', () => {
    it('does not depend on key order, at any depth', () => {
      const x = { b: 1, a: { d: [1, { z: true, y: null }], c: 'x' } };
      const y = { a: { c: 'x', d: [1, { y: null, z: true }] }, b: 1 };
      expect(canonicalJson(x)).toBe(canonicalJson(y));
      expect(canonicalJson(x)).toBe('{"a":{"c":"x","d":[1,{"y":null,"z":true}]},"b":1}');
    });

    it('keeps array order, drops undefined properties, writes dates as ISO strings', () => {
      expect(canonicalJson([2, 1])).not.toBe(canonicalJson([1, 2]));
      expect(canonicalJson({ a: 1, b: undefined })).toBe('{"a":1}');
      expect(canonicalJson(undefined)).toBe('null');
      expect(canonicalJson({ t: new Date('2026-01-02T03:04:05.006Z') })).toBe('{"t":"2026-01-02T03:04:05.006Z"}');
      expect(canonicalJson({ s: '引号"与\\反斜杠' })).toBe(JSON.stringify({ s: '引号"与\\反斜杠' }));
    });

    it('writes what the first implementation wrote, on any JSON value (fast-check): stored hashes still verify', () => {
      // The implementation every stored event was hashed with until 2026-11-23 (entries, sort, join).
      const reference = (value: unknown): string => {
        if (value === undefined) return 'null';
        if (value === null || typeof value !== 'object') return JSON.stringify(value);
        if (Array.isArray(value)) return `[${value.map(reference).join(',')}]`;
        const entries = Object.entries(value as Record<string, unknown>)
          .filter(([, v]) => v !== undefined)
          .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
        return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${reference(v)}`).join(',')}}`;
      };
      fc.assert(
        fc.property(fc.jsonValue(), (value) => {
          const out = canonicalJson(value);
          expect(out).toBe(reference(value));
          expect(JSON.parse(out)).toEqual(JSON.parse(JSON.stringify(value)));
        }),
        { numRuns: 1_000 },
      );
    });

    it('distinguishes values that only look alike', () => {
      expect(canonicalJson({ a: 1 })).not.toBe(canonicalJson({ a: '1' }));
      expect(canonicalJson({ a: null })).not.toBe(canonicalJson({}));
    });
  });

  describe('eventHash', () => {
    it('is deterministic and independent of key order inside before/after', () => {
      const h = eventHash(GENESIS_HASH, base);
      expect(h).toMatch(/^[0-9a-f]{64}$/);
      expect(eventHash(GENESIS_HASH, { ...base })).toBe(h);
      expect(eventHash(GENESIS_HASH, { ...base, after: { floors: 18, name: '1号楼' } })).toBe(h);
    });

    it('changes when any field, or the previous hash, changes', () => {
      const h = eventHash(GENESIS_HASH, base);
      const variants: Array<[string, ChainedEvent]> = [
        ['chain', { ...base, chain: 'c2' }],
        ['seq', { ...base, seq: 2 }],
        ['communityId', { ...base, communityId: null }],
        ['actorUserId', { ...base, actorUserId: null }],
        ['action', { ...base, action: 'building.deleted' }],
        ['entityType', { ...base, entityType: 'unit' }],
        ['entityId', { ...base, entityId: 'e2' }],
        ['before', { ...base, before: { name: '1号楼' } }],
        ['after', { ...base, after: { name: '1号楼', floors: 19 } }],
        ['createdAt', { ...base, createdAt: new Date(base.createdAt.getTime() + 1) }],
      ];
      // Every field of the event is covered by a variant.
      expect(variants.map(([k]) => k).sort()).toEqual(Object.keys(base).sort());
      const hashes = new Set([h]);
      for (const [field, v] of variants) {
        const hv = eventHash(GENESIS_HASH, v);
        expect(hv, field).not.toBe(h);
        hashes.add(hv);
      }
      expect(hashes.size).toBe(variants.length + 1);
      expect(eventHash('a'.repeat(64), base)).not.toBe(h);
    });
  });

  describe('checkLinks', () => {
    function chainOf(n: number, startSeq = 0, startPrev = GENESIS_HASH): StoredEvent[] {
      const out: StoredEvent[] = [];
      let prev = startPrev;
      for (let i = 1; i <= n; i++) {
        const e: ChainedEvent = { ...base, seq: startSeq + i, entityId: `e${startSeq + i}` };
        const hash = eventHash(prev, e);
        out.push({ ...e, prevHash: prev, hash });
        prev = hash;
      }
      return out;
    }

    it('accepts a well-formed chain and reports where it ended', () => {
      const c = chainOf(3);
      const r = checkLinks(c, { prevHash: GENESIS_HASH, seq: 0 });
      expect(r).toMatchObject({ ok: true, eventsChecked: 3, firstBrokenSeq: null, problem: null });
      expect(r.last).toEqual({ prevHash: c[2]?.hash, seq: 3 });
      expect(checkLinks([], { prevHash: GENESIS_HASH, seq: 0 })).toMatchObject({ ok: true, eventsChecked: 0 });
    });

    it('continues from a page boundary', () => {
      const c = chainOf(5);
      const first = checkLinks(c.slice(0, 2), { prevHash: GENESIS_HASH, seq: 0 });
      const second = checkLinks(c.slice(2), first.last);
      expect(second).toMatchObject({ ok: true, eventsChecked: 3 });
      // Starting from the wrong place is a break.
      expect(checkLinks(c.slice(2), { prevHash: GENESIS_HASH, seq: 2 })).toMatchObject({ ok: false, firstBrokenSeq: 3 });
    });

    it('finds a gap', () => {
      const c = chainOf(4);
      const gapped = [c[0], c[2], c[3]] as StoredEvent[];
      const r = checkLinks(gapped, { prevHash: GENESIS_HASH, seq: 0 });
      expect(r).toMatchObject({ ok: false, eventsChecked: 1, firstBrokenSeq: 3 });
      expect(r.problem).toMatch(/sequence gap: expected 2, found 3/);
    });

    it('finds a bad prev_hash', () => {
      const c = chainOf(3);
      const bad = [c[0], { ...(c[1] as StoredEvent), prevHash: 'b'.repeat(64) }, c[2]] as StoredEvent[];
      const r = checkLinks(bad, { prevHash: GENESIS_HASH, seq: 0 });
      expect(r).toMatchObject({ ok: false, eventsChecked: 1, firstBrokenSeq: 2 });
      expect(r.problem).toMatch(/prev_hash/);
    });

    it('finds contents that no longer match their hash', () => {
      const c = chainOf(3);
      const edited = [c[0], c[1], { ...(c[2] as StoredEvent), after: { name: '2号楼' } }] as StoredEvent[];
      expect(checkLinks(edited, { prevHash: GENESIS_HASH, seq: 0 })).toMatchObject({ ok: false, eventsChecked: 2, firstBrokenSeq: 3, problem: 'hash does not match the event’s contents' });
      // A re-hashed edit still breaks the next link.
      const e2 = { ...(c[1] as StoredEvent), action: 'forged' };
      e2.hash = eventHash(e2.prevHash, e2);
      expect(checkLinks([c[0], e2, c[2]] as StoredEvent[], { prevHash: GENESIS_HASH, seq: 0 })).toMatchObject({ ok: false, firstBrokenSeq: 3, problem: expect.stringMatching(/prev_hash/) });
    });
  });
});

describe('appending in one statement (the chain head row, hashed by PostgreSQL)', () => {
  it('the head/tail split around seq hashes exactly as eventHash', async () => {
    const { canonicalAroundSeq } = await import('../src/modules/audit/hash.js');
    const { createHash } = await import('node:crypto');
    const base = { chain: 'c', communityId: null, actorUserId: null, action: 'a', entityType: 'e', entityId: null, before: { z: 1, a: [1, '二'] }, after: null, createdAt: new Date() };
    for (const seq of [1, 9, 10, 12345678901]) {
      const { head, tail } = canonicalAroundSeq(base);
      const split = createHash('sha256').update(GENESIS_HASH + head + String(seq) + tail).digest('hex');
      expect(split).toBe(eventHash(GENESIS_HASH, { ...base, seq }));
    }
  });

  it('events with Chinese, emoji, quotes, backslashes and control characters verify, and the head follows the chain', async () => {
    const community = await makeCommunity(t.db);
    // (jsonb itself refuses \u0000 and lone surrogates, whoever appends.)
    const texts = ['电梯困人，请尽快处理', 'emoji 🚒🔥', 'quote " and \\ backslash', 'tab \t, newline \n and \u001f', ''];
    for (const text of texts) {
      await t.db.transaction().execute((trx) => recordAudit(trx, { communityId: community.id, actorUserId: admin.id, action: 'test.text', entityType: 'test', entityId: text.slice(0, 3), before: { text }, after: { n: text.length, nested: { text } } }));
    }
    expect(await verifyChain(t.db, community.id)).toMatchObject({ ok: true, eventsChecked: texts.length });
    const head = await sql<{ seq: string; hash: string }>`SELECT seq::text, hash FROM audit_chain_heads WHERE chain = ${community.id}`.execute(t.db);
    const last = await t.db.selectFrom('audit_events').select(['seq', 'hash']).where('chain', '=', community.id).orderBy('seq', 'desc').limit(1).executeTakeFirstOrThrow();
    expect(head.rows).toEqual([{ seq: String(last.seq), hash: last.hash }]);
  });

  it('several events appended by one statement (auditCtes), on a new chain and after others, verify; a false guard appends nothing', async () => {
    const community = await makeCommunity(t.db);
    const ev = (n: number) => ({ communityId: community.id, actorUserId: admin.id, action: 'test.batch', entityType: 'test', entityId: String(n), after: { n, text: `第${n}件 "q"` } });
    const append = (name: string, events: ReturnType<typeof ev>[], when?: boolean) =>
      sql<{ seq: string }>`WITH ${auditCtes(name, events, when === undefined ? undefined : sql`${when}::boolean`)} SELECT seq::text FROM ${sql.id(name)} ORDER BY seq`.execute(t.db);
    // The chain's first append (the head row inserted) has three events.
    expect((await append('first', [ev(1), ev(2), ev(3)])).rows.map((r) => r.seq)).toEqual(['1', '2', '3']);
    await t.db.transaction().execute((trx) => recordAudit(trx, ev(4)));
    expect((await append('gated', [ev(5), ev(6)], false)).rows).toEqual([]);
    expect((await append('later', [ev(5), ev(6)], true)).rows.map((r) => r.seq)).toEqual(['5', '6']);
    await t.db.transaction().execute((trx) => recordAudit(trx, ev(7)));
    expect(await verifyChain(t.db, community.id)).toMatchObject({ ok: true, eventsChecked: 7 });
    const head = await sql<{ seq: string; hash: string }>`SELECT seq::text, hash FROM audit_chain_heads WHERE chain = ${community.id}`.execute(t.db);
    const last = await t.db.selectFrom('audit_events').select(['seq', 'hash']).where('chain', '=', community.id).orderBy('seq', 'desc').limit(1).executeTakeFirstOrThrow();
    expect(head.rows).toEqual([{ seq: '7', hash: last.hash }]);
  });

  it('parallel appends to one chain from separate transactions stay gapless (the head row lock serialises them)', async () => {
    const community = await makeCommunity(t.db);
    await Promise.all(
      Array.from({ length: 12 }, (_, i) =>
        t.db.transaction().execute(async (trx) => {
          await recordAudit(trx, { communityId: community.id, actorUserId: null, action: 'test.parallel', entityType: 'test', entityId: String(i) });
          // Hold the head's lock a little while others queue behind it.
          await sql`SELECT pg_sleep(0.01)`.execute(trx);
        }),
      ),
    );
    const rows = await t.db.selectFrom('audit_events').select('seq').where('chain', '=', community.id).orderBy('seq').execute();
    expect(rows.map((r) => Number(r.seq))).toEqual(Array.from({ length: 12 }, (_, i) => i + 1));
    expect(await verifyChain(t.db, community.id)).toMatchObject({ ok: true, eventsChecked: 12 });
  });
});
