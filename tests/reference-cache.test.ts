import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ReferenceCache, startChangeFeed, type ChangeFeed } from '../src/db/change-feed.js';
import { FreezableProxy } from './helpers/tcp-proxy.js';
import { createTestApp, type TestApp } from './helpers/app.js';
import { PASSWORD, as, makeFacility, makeTwoWorlds, type CommunityWorld } from './helpers/factories.js';
import { verifyChain } from '../src/modules/audit/audit.service.js';

/**
 * The reference caches of the API (actors, communities' SLA context) against a real PostgreSQL:
 * cached while the change feed is live, emptied by the NOTIFY of a commit to the tables they are
 * read from, read through while the feed is down.
 */

const API = '/api/v1';
let t: TestApp;
let A: CommunityWorld;

beforeAll(async () => {
  t = await createTestApp({ changeFeed: true });
  ({ a: A } = await makeTwoWorlds(t.db));
  await until('the change feed is live', () => t.app.changeFeed?.live === true);
  // The setup's own notifications may still be on their way: let them land before counting.
  await new Promise((r) => setTimeout(r, 200));
});
afterAll(async () => {
  await t?.close();
});

/** Polls `check` until it holds (at most `ms`), else fails saying what was awaited. */
async function until(what: string, check: () => boolean | Promise<boolean>, ms = 3_000): Promise<number> {
  const started = Date.now();
  while (!(await check())) {
    if (Date.now() - started > ms) throw new Error(`timed out after ${ms} ms waiting for: ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
  return Date.now() - started;
}

/** Runs a change and waits until this process heard its notification. */
async function changed(change: () => Promise<unknown>): Promise<void> {
  const before = t.app.changeFeed?.heard ?? 0;
  await change();
  await until('the change is heard', () => (t.app.changeFeed?.heard ?? 0) > before);
}

const community = (userId: string) => as(t.app, userId)({ method: 'GET', url: `${API}/communities/${A.community.id}` });
const counts = () => ({ hits: t.app.actorCache.hits, misses: t.app.actorCache.misses });

describe('actor cache', () => {
  it('serves a repeated request from the cache; a removed membership takes effect as soon as its commit is heard', async () => {
    const pm = A.users.propertyManager.id;
    expect((await community(pm)).statusCode).toBe(200);
    const before = counts();
    expect((await community(pm)).statusCode).toBe(200);
    expect(counts()).toEqual({ hits: before.hits + 1, misses: before.misses });

    await t.db.deleteFrom('memberships').where('user_id', '=', pm).execute();
    const waited = await until('the manager loses the community', async () => (await community(pm)).statusCode === 404);
    expect(waited).toBeLessThan(1_000);
  });

  it('failed logins (which update the user row) keep the cache; disabling the account empties it', async () => {
    const tech = A.users.technician;
    expect((await community(tech.id)).statusCode).toBe(200);
    const login = await t.app.inject({ method: 'POST', url: `${API}/auth/login`, payload: { email: tech.email, password: `${PASSWORD}-wrong` } });
    expect(login.statusCode).toBe(401);
    expect((await t.db.selectFrom('users').select('failed_logins').where('id', '=', tech.id).executeTakeFirstOrThrow()).failed_logins).toBe(1);
    // Give a notification time to arrive, were one sent: the next request must still hit.
    await new Promise((r) => setTimeout(r, 100));
    const before = counts();
    expect((await community(tech.id)).statusCode).toBe(200);
    expect(counts().hits).toBe(before.hits + 1);

    await t.db.updateTable('users').set({ disabled_at: new Date() }).where('id', '=', tech.id).execute();
    await until('the disabled technician is refused', async () => (await community(tech.id)).statusCode === 401);
  });

  it('a duty that ends later is cached only until it ends', async () => {
    const chair = A.users.committeeChair.id;
    // The contractor's delegated duty ends in 1.5 s: its manager may not be cached past that.
    const endsAt = new Date(Date.now() + 1_500);
    await changed(() => t.db.updateTable('duty_assignments').set({ valid_to: endsAt }).where('id', '=', A.contractorDuty.id).execute());
    const contractor = A.users.contractor.id;
    expect((await community(contractor)).statusCode).toBe(200);
    expect((await community(chair)).statusCode).toBe(200);
    const before = counts();
    expect((await community(contractor)).statusCode).toBe(200);
    expect(counts().hits).toBe(before.hits + 1);
    // No notification comes when a duty lapses with time: the entry expires on its own.
    await until('the duty ended', () => Date.now() > endsAt.getTime() + 50, 3_000);
    expect((await community(contractor)).statusCode).toBe(404);
  });

  it('while the feed is down nothing is cached and changes count at once; then it comes back', async () => {
    const member = A.users.committeeMember.id;
    expect((await community(member)).statusCode).toBe(200);
    await sql`SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = current_database() AND query = 'LISTEN upkeep_changes'`.execute(t.db);
    await until('the feed is down', () => t.app.changeFeed?.live === false);

    const before = counts();
    expect((await community(member)).statusCode).toBe(200);
    expect((await community(member)).statusCode).toBe(200);
    expect(counts()).toEqual({ hits: before.hits, misses: before.misses + 2 });
    // No notification can arrive now, and none is needed: the very next request sees the change.
    await t.db.deleteFrom('memberships').where('user_id', '=', member).execute();
    expect((await community(member)).statusCode).toBe(404);

    await until('the feed reconnects', () => t.app.changeFeed?.live === true, 5_000);
    const chair = A.users.committeeChair.id;
    expect((await community(chair)).statusCode).toBe(200);
    const after = counts();
    expect((await community(chair)).statusCode).toBe(200);
    expect(counts().hits).toBe(after.hits + 1);
  });
});

describe('metrics', () => {
  it('/metrics shows the feed live and the actor cache’s hits and misses', async () => {
    const body = (await t.app.inject({ method: 'GET', url: '/metrics' })).body;
    expect(body).toMatch(/^upkeep_change_feed_live 1$/m);
    const hits = Number(/^upkeep_actor_cache_lookups\{result="hit"\} (\d+)$/m.exec(body)?.[1]);
    expect(hits).toBe(t.app.actorCache.hits);
    expect(hits).toBeGreaterThan(0);
    expect(body).toMatch(/^upkeep_actor_cache_lookups\{result="miss"\} \d+$/m);
  });
});

describe('change feed through a connection that hangs', () => {
  it('is no longer live once a heartbeat goes unanswered, and is live again when PostgreSQL answers', async () => {
    const proxy = await FreezableProxy.start(t.testDb.url);
    const feed = startChangeFeed({ databaseUrl: proxy.url(t.testDb.url), logger: { warn: () => {} }, heartbeatMs: 200, retryMs: 100 });
    let resets = 0;
    feed.subscribe(['users'], () => resets++);
    try {
      await until('the feed is live', () => feed.live);
      // A change is heard through the proxy.
      const heard = feed.heard;
      await t.db.updateTable('users').set({ name: '改名' }).where('id', '=', A.users.owner.id).execute();
      await until('the change is heard', () => feed.heard > heard);
      // The connection hangs (no FIN, no answers): the heartbeat finds out, the caches reset.
      proxy.freeze();
      const before = resets;
      await until('the feed is not live', () => !feed.live, 2_000);
      expect(resets).toBeGreaterThan(before);
      proxy.thaw();
      await until('the feed is live again', () => feed.live, 5_000);
    } finally {
      proxy.thaw();
      await feed.close();
      await proxy.close();
    }
  });
});

describe('ReferenceCache (the rules, with a feed standing in for LISTEN)', () => {
  function feed(live = true) {
    const subscribers: Array<() => void> = [];
    const f = {
      live,
      heard: 0,
      subscribe: (_tables: readonly string[], onChange: () => void) => void subscribers.push(onChange),
      close: async () => {},
      change: () => subscribers.forEach((s) => s()),
    };
    return f satisfies ChangeFeed;
  }

  it('does not keep a value read across a change (it may predate the commit)', async () => {
    const f = feed();
    const cache = new ReferenceCache<string>(f, ['users'], 60_000);
    await cache.get('k', async () => {
      f.change(); // a commit's notification arrives while the read is in flight
      return { value: 'old' };
    });
    expect(await cache.get('k', async () => ({ value: 'new' }))).toBe('new');
    expect(await cache.get('k', async () => ({ value: 'newer' }))).toBe('new');
  });

  it('keeps a value no longer than its validUntil and the TTL; reads through without a live feed or TTL', async () => {
    const f = feed();
    const shortLived = new ReferenceCache<number>(f, ['users'], 60_000);
    let n = 0;
    const load = async () => ({ value: ++n, validUntil: new Date(Date.now() + 40) });
    expect(await shortLived.get('k', load)).toBe(1);
    expect(await shortLived.get('k', load)).toBe(1);
    await new Promise((r) => setTimeout(r, 60));
    expect(await shortLived.get('k', load)).toBe(2);

    const ttl = new ReferenceCache<number>(f, ['users'], 40);
    expect(await ttl.get('k', async () => ({ value: 1 }))).toBe(1);
    expect(await ttl.get('k', async () => ({ value: 2 }))).toBe(1);
    await new Promise((r) => setTimeout(r, 60));
    expect(await ttl.get('k', async () => ({ value: 3 }))).toBe(3);

    const down = new ReferenceCache<number>(feed(false), ['users'], 60_000);
    expect(await down.get('k', async () => ({ value: 1 }))).toBe(1);
    expect(await down.get('k', async () => ({ value: 2 }))).toBe(2);
    const off = new ReferenceCache<number>(f, ['users'], 0);
    expect(await off.get('k', async () => ({ value: 1 }))).toBe(1);
    expect(await off.get('k', async () => ({ value: 2 }))).toBe(2);
  });

  it('holds at most maxEntries, dropping the oldest; caches nothing for a missing record', async () => {
    const cache = new ReferenceCache<string>(feed(), ['users'], 60_000, 2);
    for (const k of ['a', 'b', 'c']) await cache.get(k, async () => ({ value: k }));
    expect(await cache.get('a', async () => ({ value: 'a2' }))).toBe('a2');
    expect(await cache.get('c', async () => ({ value: 'c2' }))).toBe('c');
    let reads = 0;
    await cache.get('gone', async () => (reads++, undefined));
    await cache.get('gone', async () => (reads++, undefined));
    expect(reads).toBe(2);
  });
});

describe('community context cache (opening a ticket)', () => {
  const open = async (userId: string, body: Record<string, unknown>) => {
    const res = await as(t.app, userId)({ method: 'POST', url: `${API}/tickets`, payload: { communityId: A.community.id, title: '路灯不亮', ...body } });
    expect(res.statusCode, res.body).toBe(201);
    return res.json() as { id: string; ref: number; openedAt: string; respondBy: string; dutyHolderOrgId: string | null };
  };
  const respondMinutes = (x: { openedAt: string; respondBy: string }) => (new Date(x.respondBy).getTime() - new Date(x.openedAt).getTime()) / 60_000;
  const admin = () => A.users.platformAdmin.id;

  it('is used (a change made without notifying stays unseen), and a notified change applies to the next ticket', async () => {
    // P2 is 1 h round the clock by default.
    expect(respondMinutes(await open(admin(), { priority: 'P2', category: 'lighting' }))).toBe(60);
    // Triggers off for this transaction: no notification, so the cached context stays.
    await t.db.transaction().execute(async (trx) => {
      await sql`SET LOCAL session_replication_role = replica`.execute(trx);
      await trx.insertInto('sla_policies').values({ community_id: A.community.id, category: 'lighting', priority: 'P2', respond_value: 30, respond_unit: 'minutes', resolve_value: 8, resolve_unit: 'hours', calendar: '24x7' }).execute();
    });
    expect(respondMinutes(await open(admin(), { priority: 'P2', category: 'lighting' }))).toBe(60);
    // A notified change (any of the context's tables) empties the cache.
    await changed(() => t.db.updateTable('communities').set({ name: `${A.community.name}·改` }).where('id', '=', A.community.id).execute());
    expect(respondMinutes(await open(admin(), { priority: 'P2', category: 'lighting' }))).toBe(30);
    await changed(() => t.db.deleteFrom('sla_policies').where('community_id', '=', A.community.id).execute());
    expect(respondMinutes(await open(admin(), { priority: 'P2', category: 'lighting' }))).toBe(60);
  });

  it('a new duty holder gets the next ticket of its category', async () => {
    const before = await open(admin(), { category: 'elevator' });
    expect(before.dutyHolderOrgId).toBe(A.orgs.company.id);
    await changed(() =>
      t.db.insertInto('duty_assignments').values({ community_id: A.community.id, organization_id: A.orgs.contractor.id, basis: 'delegated_contractor', facility_category: 'elevator' }).execute(),
    );
    expect((await open(admin(), { category: 'elevator' })).dutyHolderOrgId).toBe(A.orgs.contractor.id);
  });

  it('refs drawn a block at a time are unique, and the audit event carries the ticket’s', async () => {
    const tickets = await Promise.all(Array.from({ length: 45 }, (_, i) => open(admin(), { title: `井盖松动 ${i}` })));
    expect(new Set(tickets.map((x) => x.ref)).size).toBe(45);
    const rows = await t.db.selectFrom('audit_events').select(['entity_id', 'after']).where('action', '=', 'ticket.created').where('entity_id', 'in', tickets.map((x) => x.id)).execute();
    expect(rows).toHaveLength(45);
    for (const x of tickets) expect((rows.find((r) => r.entity_id === x.id)?.after as { ref: number }).ref).toBe(x.ref);
  });
});

describe('facility guesses (opening tickets about a facility)', () => {
  const openAbout = async (facilityId: string, title: string) => {
    const res = await as(t.app, A.users.platformAdmin.id)({ method: 'POST', url: `${API}/tickets`, payload: { communityId: A.community.id, facilityId, title } });
    expect(res.statusCode, res.body).toBe(201);
    return res.json() as { id: string };
  };
  const status = async (id: string) => (await t.db.selectFrom('facilities').select('status').where('id', '=', id).executeTakeFirstOrThrow()).status;
  const changes = async (id: string) =>
    (await t.db.selectFrom('audit_events').select(['before', 'after', 'seq']).where('entity_id', '=', id).where('action', '=', 'facility.status_changed').orderBy('seq').execute()).map(
      (e) => `${(e.before as { status: string }).status}→${(e.after as { status: string }).status}`,
    );

  it('a guess outdated behind this process’s back is caught by the write, and the facility still ends right', async () => {
    const gate = await makeFacility(t.db, A.community.id, 'face_gate');
    const first = await openAbout(gate.id, '闸机不开');
    expect(await status(gate.id)).toBe('faulty');
    // Repaired and reset elsewhere (another process, a direct fix): this process still guesses faulty.
    await t.db.updateTable('tickets').set({ status: 'closed' }).where('id', '=', first.id).execute();
    await t.db.updateTable('facilities').set({ status: 'operational' }).where('id', '=', gate.id).execute();
    await openAbout(gate.id, '闸机又坏了');
    expect(await status(gate.id)).toBe('faulty');
    expect(await changes(gate.id)).toEqual(['operational→faulty', 'operational→faulty']);

    // Another ticket about it is now being worked on (elsewhere): the next one makes it under repair.
    const second = (await t.db.selectFrom('tickets').select('id').where('facility_id', '=', gate.id).where('status', '=', 'new').executeTakeFirstOrThrow()).id;
    await t.db.updateTable('tickets').set({ status: 'in_progress' }).where('id', '=', second).execute();
    await openAbout(gate.id, '闸机刷卡无反应');
    expect(await status(gate.id)).toBe('under_repair');
    expect(await changes(gate.id)).toEqual(['operational→faulty', 'operational→faulty', 'faulty→under_repair']);
    expect(await verifyChain(t.db, A.community.id.toLowerCase())).toMatchObject({ ok: true });
  });
});
