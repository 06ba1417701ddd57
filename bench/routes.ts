import os from 'node:os';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import Fastify, { type FastifyInstance } from 'fastify';
import { sql, type LogEvent } from 'kysely';
import type { Db } from '../src/db/index.js';
import { fmt, mib, scratchApp, type Benchmark } from './scratch.js';
import { envInt } from './child.js';
import { assertClean, databaseUrlOf, drive, loadAverage, ms1, runAsChild, serveUnderLoad, startServer, type Load, type LoadRequest, type ServerHandle, type ServerSpec, type ServerStats } from './load.js';
import { seed as seedTickets } from './tickets.js';
import { seed as seedFunds } from './funds.js';

/**
 * Route-level load figures (issue 7, item 1): ticket create, ticket list and ballot cast through
 * the real app (every plugin, real HTTP on 127.0.0.1, the server in a child process so autocannon
 * does not share its event loop), each next to a bare Fastify route on the same PostgreSQL, in
 * the same run, that makes THE SAME NUMBER of statements of the same kinds per request.
 *
 * The statements are counted first, not assumed: one pass of each app route over one connection
 * with Kysely's query log on, each statement classed by its first keyword (SELECT, INSERT,
 * UPDATE, DELETE, other) and by whether it ran inside a transaction (between BEGIN and COMMIT,
 * themselves counted). The bare route of that route then runs the rounded per-request counts:
 * the SELECTs outside a transaction as primary-key reads of `users` (the list's last one is the
 * page itself: 51 tickets of the community, newest first); then, if the app used a transaction,
 * BEGIN, the SELECTs inside it as primary-key reads, the INSERTs (ticket create: the first one into
 * `tickets`, the rest into a scratch table; ballot: an upsert into a scratch table keyed by voter,
 * the rest plain inserts), the UPDATEs as primary-key updates of a scratch row, other statements
 * as `SELECT 1`, COMMIT. No auth, no validation, no business rules, no audit chain.
 *
 * Data: the tickets world of bench/tickets.ts (BENCH_TICKETS, default 1,000,000, across
 * BENCH_COMMUNITIES, default 1,000) and the fund world of bench/funds.ts (BENCH_UNITS, default
 * 20,000 units, one vote open) in one scratch database, seeded by their own seed functions.
 * BENCH_ROUTE_REQUESTS (default 1,500) requests per measured run, BENCH_CONNECTIONS (10)
 * connections; two rounds, bare then app, per route.
 * A quick run: BENCH_TICKETS=20000 BENCH_COMMUNITIES=20 BENCH_UNITS=2000 BENCH_ROUTE_REQUESTS=300.
 */

const REQUESTS = envInt('BENCH_ROUTE_REQUESTS', 1_500);
const CONNECTIONS = envInt('BENCH_CONNECTIONS', 10);
const ROUNDS = 2;
/** Requests of the counting pass (one connection) and of the warm-up before each measured run. */
const COUNT_REQUESTS = 100;
const WARMUP = 100;

type Kind = 'select' | 'insert' | 'update' | 'delete' | 'other';
const KINDS: readonly Kind[] = ['select', 'insert', 'update', 'delete', 'other'];
type Counts = Record<Kind, number>;
/** Statements per request: outside a transaction, inside one, and the transactions themselves. */
interface Shape {
  outside: Counts;
  inside: Counts;
  transactions: number;
}
type RouteId = 'create' | 'list' | 'ballot';

const zero = (): Counts => ({ select: 0, insert: 0, update: 0, delete: 0, other: 0 });

function kindOf(statement: string): Kind | 'begin' | 'commit' {
  const s = statement.trimStart().toLowerCase();
  if (/^(begin|start transaction)\b/.test(s)) return 'begin';
  if (/^(commit|rollback)\b/.test(s)) return 'commit';
  const first = /^\w+/.exec(s)?.[0] ?? '';
  if (first === 'with') return /\b(insert|update|delete)\b/.exec(s)?.[1] as Kind | undefined ?? 'select';
  return (KINDS as readonly string[]).includes(first) ? (first as Kind) : 'other';
}

/* ------------------------------------------------------------------------------------------- */
/* Servers in child processes                                                                   */

interface RouteServerSpec extends ServerSpec {
  /** bare: the statements per request of each route, as counted on the app. */
  shapes?: Partial<Record<RouteId, Shape>>;
}
/** Statements seen while counting (one connection at a time, so BEGIN/COMMIT bracket a request's own). */
interface Counted {
  outside: Counts;
  inside: Counts;
  transactions: number;
}
type RouteServer = ServerHandle<Counted>;
type RouteStats = ServerStats<Counted>;

const SERVER_ENV = 'UPKEEP_BENCH_ROUTES_SERVER';
const SELF = fileURLToPath(import.meta.url);
const BARE_ROWS = 'bench_bare_rows';
const BARE_VOTES = 'bench_bare_votes';
/** Rows the bare UPDATEs pick from at random (so that they do not queue on one row). */
const BARE_UPDATE_ROWS = 1_000;

function bareApp(db: Db, shapes: Partial<Record<RouteId, Shape>>): FastifyInstance {
  const app = Fastify({ logger: false });
  const pkRead = (q: Db, userId: string) => q.selectFrom('users').select(['id', 'email', 'name', 'locale', 'is_platform_admin', 'disabled_at']).where('id', '=', userId).executeTakeFirst();
  const anyRow = () => 1 + Math.floor(Math.random() * BARE_UPDATE_ROWS);
  /** Runs a shape: `first` replaces the first INSERT (ticket create, ballot), `last` the last outside SELECT (the list page). */
  async function run(shape: Shape, userId: string, hooks: { firstInsert?: (q: Db) => Promise<unknown>; lastSelect?: (q: Db) => Promise<unknown> }): Promise<unknown> {
    let result: unknown;
    let inserted = false;
    const statements = async (q: Db, c: Counts, withLastSelect: boolean) => {
      for (let i = 0; i < c.select; i++) {
        if (withLastSelect && hooks.lastSelect && i === c.select - 1) result = await hooks.lastSelect(q);
        else await pkRead(q, userId);
      }
      for (let i = 0; i < c.insert; i++) {
        if (!inserted && hooks.firstInsert) result = await hooks.firstInsert(q);
        else await sql`INSERT INTO ${sql.table(BARE_ROWS)} (payload) VALUES (${JSON.stringify({ userId, i })}::jsonb)`.execute(q);
        inserted = true;
      }
      for (let i = 0; i < c.update; i++) await sql`UPDATE ${sql.table(BARE_ROWS)} SET hits = hits + 1 WHERE id = ${anyRow()}`.execute(q);
      for (let i = 0; i < c.delete; i++) await sql`DELETE FROM ${sql.table(BARE_ROWS)} WHERE id = -1`.execute(q);
      for (let i = 0; i < c.other; i++) await sql`SELECT 1`.execute(q);
    };
    await statements(db, shape.outside, true);
    if (shape.transactions > 0) await db.transaction().execute((trx) => statements(trx, shape.inside, false));
    return result ?? { ok: true };
  }
  const shapeOf = (id: RouteId) => {
    const s = shapes[id];
    if (!s) throw new Error(`no shape for ${id}`);
    return s;
  };
  app.post('/tickets', async (request, reply) => {
    const b = request.body as { communityId: string; title: string; description: string; category: string; priority: 'P1' | 'P2' | 'P3' | 'P4'; reporterUserId: string };
    const row = await run(shapeOf('create'), b.reporterUserId, {
      firstInsert: (q) =>
        q
          .insertInto('tickets')
          .values({ community_id: b.communityId, kind: 'fault', channel: 'staff', category: b.category, priority: b.priority, title: b.title, description: b.description, reporter_user_id: b.reporterUserId, is_public: true })
          .returningAll()
          .executeTakeFirstOrThrow(),
    });
    return reply.status(201).send(row);
  });
  app.get('/tickets', async (request) => {
    const qs = request.query as { communityId: string; userId: string };
    const items = await run(shapeOf('list'), qs.userId, {
      lastSelect: (q) => q.selectFrom('tickets').selectAll().where('community_id', '=', qs.communityId).orderBy('created_at', 'desc').orderBy('id', 'desc').limit(51).execute(),
    });
    return { items, nextCursor: null };
  });
  app.post('/ballots', async (request) => {
    const b = request.body as { userId: string; voterKey: string; choice: string };
    await run(shapeOf('ballot'), b.userId, {
      firstInsert: (q) =>
        sql`INSERT INTO ${sql.table(BARE_VOTES)} (voter_key, user_id, choice) VALUES (${b.voterKey}, ${b.userId}, ${b.choice})
            ON CONFLICT (voter_key) DO UPDATE SET choice = EXCLUDED.choice`.execute(q),
    });
    return { voterKey: b.voterKey, choice: b.choice };
  });
  return app;
}

function serve(spec: RouteServerSpec): Promise<void> {
  let inTx = false;
  let outside = zero();
  let inside = zero();
  let transactions = 0;
  const recorder = {
    query(e: LogEvent) {
      const k = kindOf(e.query.sql);
      if (k === 'begin') {
        inTx = true;
        transactions++;
      } else if (k === 'commit') inTx = false;
      else (inTx ? inside : outside)[k]++;
    },
    reset() {
      outside = zero();
      inside = zero();
      transactions = 0;
    },
    stats: (): Counted => ({ outside, inside, transactions }),
  };
  return serveUnderLoad(spec, recorder, (db) => bareApp(db, spec.shapes ?? {}));
}

const startRouteServer = (spec: RouteServerSpec): Promise<RouteServer> => startServer<Counted>(SELF, SERVER_ENV, spec);

function shapeOf(st: RouteStats): Shape {
  const per = (c: Counts) => Object.fromEntries(KINDS.map((k) => [k, Math.round(c[k] / st.requests)])) as Counts;
  return { outside: per(st.outside), inside: per(st.inside), transactions: Math.round(st.transactions / st.requests) };
}
const total = (s: Shape) => KINDS.reduce((a, k) => a + s.outside[k] + s.inside[k], 0) + 2 * s.transactions;
const exact = (st: RouteStats) => (KINDS.reduce((a, k) => a + st.outside[k] + st.inside[k], 0) + 2 * st.transactions) / st.requests;
function describe(s: Shape): string {
  const part = (c: Counts) =>
    KINDS.filter((k) => c[k] > 0)
      .map((k) => `${c[k]} ${k.toUpperCase()}`)
      .join(', ') || 'nothing';
  return `${part(s.outside)} outside a transaction${s.transactions ? `; ${s.transactions === 1 ? 'one transaction' : `${s.transactions} transactions`}: BEGIN, ${part(s.inside)}, COMMIT` : ''}`;
}

/* ------------------------------------------------------------------------------------------- */
/* The run                                                                                       */

interface RouteCase {
  id: RouteId;
  label: string;
  expect: number;
  app: (i: number) => LoadRequest;
  bare: (i: number) => LoadRequest;
  /** Requests each run makes (ballots: at most one per voter). */
  perRun: number;
}

export const routes: Benchmark = {
  id: 'routes',
  title: 'API routes under load next to bare routes with the same statements',
  async run(log) {
    const loadBefore = loadAverage();
    const s = await scratchApp();
    const servers: RouteServer[] = [];
    const databaseUrl = databaseUrlOf(s.dbName);
    try {
      log(`routes: scratch database ${s.dbName}`);
      const t0 = performance.now();
      await seedTickets(s.db, log);
      const ticketCount = Number((await sql<{ n: number }>`SELECT count(*)::int AS n FROM tickets`.execute(s.db)).rows[0]?.n);
      const communityCount = Number((await sql<{ n: number }>`SELECT count(*)::int AS n FROM communities`.execute(s.db)).rows[0]?.n);
      const fundsWorld = await seedFunds(s);
      const seedSeconds = (performance.now() - t0) / 1000;
      log(`routes: seeded ${fmt(ticketCount)} tickets and a ${fmt(fundsWorld.units)}-unit community in ${fmt(seedSeconds, 1)} s`);
      await sql`CREATE TABLE ${sql.table(BARE_ROWS)} (id bigserial PRIMARY KEY, payload jsonb, hits int NOT NULL DEFAULT 0)`.execute(s.db);
      await sql`INSERT INTO ${sql.table(BARE_ROWS)} (payload) SELECT '{}'::jsonb FROM generate_series(1, ${BARE_UPDATE_ROWS}::int)`.execute(s.db);
      await sql`CREATE TABLE ${sql.table(BARE_VOTES)} (voter_key text PRIMARY KEY, user_id uuid NOT NULL, choice text NOT NULL)`.execute(s.db);

      // Ticket creators and the list's community: the tickets world's managers.
      const people = await sql<{ community_id: string; manager_id: string }>`
        SELECT c.id AS community_id, m.user_id AS manager_id
        FROM communities c
        JOIN duty_assignments d ON d.community_id = c.id
        JOIN memberships m ON m.organization_id = d.organization_id AND m.role = 'manager'
        WHERE c.district LIKE '基准区%'
        ORDER BY c.name`.execute(s.db);
      const creators = people.rows.slice(0, 100);
      const first = creators[0];
      if (!first) throw new Error('no community seeded');
      const tokenOf = (userId: string) => s.app.jwt.sign({ sub: userId, typ: 'access' });
      const creatorTokens = creators.map((c) => tokenOf(c.manager_id));
      const listCount = Number((await sql<{ n: number }>`SELECT count(*)::int AS n FROM tickets WHERE community_id = ${first.community_id}::uuid`.execute(s.db)).rows[0]?.n);
      const prios = ['P1', 'P2', 'P3', 'P3', 'P3', 'P4'] as const;
      const cats = ['camera', 'elevator', 'intercom', 'lighting', 'drainage', 'roof'];
      const createBody = (i: number) => {
        const k = i % creators.length;
        const c = creators[k] as (typeof creators)[number];
        return { k, body: { communityId: c.community_id, title: `${(i % 28) + 1}号楼设施故障（压测 ${i}）`, description: '巡检时发现，需安排检修', priority: prios[i % prios.length], category: cats[i % cats.length] as string } };
      };

      // The vote: proposed by the manager, opened by the chair (through the in-process app).
      const inject = async (userId: string, url: string, payload: object, expect: number) => {
        const res = await s.app.inject({ method: 'POST', url, payload, headers: { authorization: `Bearer ${tokenOf(userId)}` } });
        if (res.statusCode !== expect) throw new Error(`${url}: ${res.statusCode} ${res.body.slice(0, 300)}`);
        return res.json() as { id: string };
      };
      const request = await inject(fundsWorld.managerUserId, '/api/v1/fund-requests', {
        communityId: fundsWorld.communityId,
        title: '更换全小区电梯曳引主机及控制系统',
        description: '全小区电梯运行已满15年，曳引主机及控制柜需整体更换。',
        path: 'normal',
        decisionType: 'use_fund',
        scope: { buildingIds: fundsWorld.buildingIds },
        budgetLines: [{ description: '电梯曳引主机更换', amountCents: 320_000_000 }],
        funding: [{ source: 'maintenance_fund', amountCents: 320_000_000 }],
        contractorOrgId: fundsWorld.contractorOrgId,
      }, 201);
      await inject(fundsWorld.chairUserId, `/api/v1/fund-requests/${request.id}/transitions`, { to: 'voting', voteClosesAt: new Date(Date.now() + 14 * 86_400_000).toISOString() }, 200);
      await sql`ANALYZE fund_voters`.execute(s.db);
      const voterRows = await sql<{ voter_key: string; user_id: string }>`
        SELECT v.voter_key, (SELECT o.user_id FROM owners o WHERE o.id = ANY (v.owner_ids) AND o.user_id IS NOT NULL ORDER BY o.id LIMIT 1) AS user_id
        FROM fund_voters v WHERE v.request_id = ${request.id}::uuid ORDER BY v.voter_key`.execute(s.db);
      const voters = voterRows.rows.filter((v) => v.user_id !== null).map((v) => ({ ...v, token: tokenOf(v.user_id) }));
      // Each voter votes once, in the app or in the bare route (its own table): a share per run.
      const appBallots = voters.filter((_, i) => i % 2 === 0);
      const bareBallots = voters.filter((_, i) => i % 2 === 1);
      const ballotsPerRun = Math.min(REQUESTS, Math.floor((appBallots.length - COUNT_REQUESTS) / ROUNDS));
      if (ballotsPerRun < 50) throw new Error(`only ${voters.length} voters: raise BENCH_UNITS`);
      const choice = (i: number) => (['agree', 'agree', 'disagree', 'abstain'] as const)[i % 4];
      let appBallot = 0;
      let bareBallot = 0;
      const ballotPath = `/api/v1/fund-requests/${request.id}/ballots`;

      const cases: RouteCase[] = [
        {
          id: 'create',
          label: '`POST /api/v1/tickets` (ticket create)',
          expect: 201,
          perRun: REQUESTS,
          app: (i) => {
            const { k, body } = createBody(i);
            return { method: 'POST', path: '/api/v1/tickets', headers: { authorization: `Bearer ${creatorTokens[k]}` }, body: JSON.stringify(body) };
          },
          bare: (i) => {
            const { k, body } = createBody(i);
            return { method: 'POST', path: '/tickets', body: JSON.stringify({ ...body, reporterUserId: creators[k]?.manager_id }) };
          },
        },
        {
          id: 'list',
          label: '`GET /api/v1/tickets?communityId=…` (ticket list, first page of 50)',
          expect: 200,
          perRun: REQUESTS,
          app: () => ({ method: 'GET', path: `/api/v1/tickets?communityId=${first.community_id}&limit=50`, headers: { authorization: `Bearer ${creatorTokens[0]}` } }),
          bare: () => ({ method: 'GET', path: `/tickets?communityId=${first.community_id}&userId=${first.manager_id}` }),
        },
        {
          id: 'ballot',
          label: '`POST /api/v1/fund-requests/:id/ballots` (ballot cast)',
          expect: 200,
          perRun: ballotsPerRun,
          app: () => {
            const v = appBallots[appBallot] ?? appBallots[appBallots.length - 1];
            const i = appBallot++;
            return { method: 'POST', path: ballotPath, headers: { authorization: `Bearer ${v?.token}` }, body: JSON.stringify({ choice: choice(i) }) };
          },
          bare: () => {
            const v = bareBallots[bareBallot % bareBallots.length];
            const i = bareBallot++;
            return { method: 'POST', path: '/ballots', body: JSON.stringify({ userId: v?.user_id, voterKey: v?.voter_key, choice: choice(i) }) };
          },
        },
      ];

      // 1. Count each app route's statements (one connection, so BEGIN/COMMIT bracket one request's own).
      const appServer = await startRouteServer({ mode: 'app', databaseUrl });
      servers.push(appServer);
      const shapes: Partial<Record<RouteId, Shape>> = {};
      const exactCounts: Partial<Record<RouteId, number>> = {};
      let createI = 0;
      for (const c of cases) {
        // Counted with warm caches, as the load runs see them (one round over the ticket routes'
        // rotation first); ballots are each a different owner's first, cold by nature.
        if (c.id !== 'ballot') {
          const warm = createI;
          assertClean(await drive({ url: appServer.url, amount: COUNT_REQUESTS, connections: 1, expect: c.expect, build: (i) => c.app(warm + i) }), `${c.id} (warming)`);
          createI += COUNT_REQUESTS;
        }
        await appServer.reset();
        await appServer.record(true);
        const offset = createI;
        const r = await drive({ url: appServer.url, amount: COUNT_REQUESTS, connections: 1, expect: c.expect, build: (i) => c.app(offset + i) });
        createI += COUNT_REQUESTS;
        await appServer.record(false);
        assertClean(r, `${c.id} (counting)`);
        const st = await appServer.stats();
        shapes[c.id] = shapeOf(st);
        exactCounts[c.id] = exact(st);
        log(`routes: ${c.id}: ${fmt(exact(st), 2)} statements per request: ${describe(shapeOf(st))}`);
      }
      const bareServer = await startRouteServer({ mode: 'bare', databaseUrl, shapes });
      servers.push(bareServer);
      // The bare routes' own counts, checked rather than assumed.
      const bareCounts: Partial<Record<RouteId, number>> = {};
      for (const c of cases) {
        await bareServer.reset();
        await bareServer.record(true);
        const r = await drive({ url: bareServer.url, amount: 20, connections: 1, expect: c.expect, build: (i) => c.bare(1_000_000 + i) });
        await bareServer.record(false);
        assertClean(r, `bare ${c.id} (counting)`);
        const st = await bareServer.stats();
        bareCounts[c.id] = exact(st);
        const want = total(shapes[c.id] as Shape);
        if (Math.abs(exact(st) - want) > 0.01) throw new Error(`bare ${c.id} made ${exact(st)} statements per request, not ${want}`);
      }

      // 2. Load: per route and round, the bare route then the app (alternating, so noise hits both).
      interface Run {
        id: RouteId;
        kind: 'app' | 'bare';
        round: number;
        r: Load;
        rss: number;
        cpuMs: number;
      }
      const runs: Run[] = [];
      let bareI = 2_000_000;
      for (const c of cases) {
        for (let round = 1; round <= ROUNDS; round++) {
          for (const kind of ['bare', 'app'] as const) {
            const server = kind === 'app' ? appServer : bareServer;
            const build = kind === 'app' ? c.app : c.bare;
            if (c.id !== 'ballot' && round === 1) {
              const off = kind === 'app' ? createI : bareI;
              await drive({ url: server.url, amount: WARMUP, connections: CONNECTIONS, expect: c.expect, build: (i) => build(off + i) });
              if (kind === 'app') createI += WARMUP;
              else bareI += WARMUP;
            }
            await server.reset();
            const off = kind === 'app' ? createI : bareI;
            const r = await drive({ url: server.url, amount: c.perRun, connections: CONNECTIONS, expect: c.expect, build: (i) => build(off + i) });
            if (kind === 'app') createI += c.perRun;
            else bareI += c.perRun;
            assertClean(r, `${kind} ${c.id} round ${round}`);
            const st = await server.stats();
            runs.push({ id: c.id, kind, round, r, rss: st.rss, cpuMs: st.cpuMs });
            log(`routes: ${c.id} ${kind} round ${round}: ${fmt(r.rps)} req/s, p50 ${ms1(r.p50)} ms, p99 ${ms1(r.p99)} ms, RSS ${mib(st.rss)}`);
          }
        }
      }
      const recorded = Number((await sql<{ n: number }>`SELECT count(*)::int AS n FROM fund_ballots WHERE request_id = ${request.id}::uuid`.execute(s.db)).rows[0]?.n);
      const expectedBallots = COUNT_REQUESTS + ROUNDS * ballotsPerRun;
      if (recorded !== expectedBallots) throw new Error(`${recorded} ballots recorded, ${expectedBallots} cast`);
      const loadAfter = loadAverage();

      /* Report */
      const rpsOf = (id: RouteId, kind: 'app' | 'bare') => {
        const rs = runs.filter((x) => x.id === id && x.kind === kind);
        return rs.reduce((a, x) => a + x.r.requests, 0) / rs.reduce((a, x) => a + x.r.seconds, 0);
      };
      const worst = (id: RouteId, kind: 'app' | 'bare', f: 'p50' | 'p99') => Math.max(...runs.filter((x) => x.id === id && x.kind === kind).map((x) => x.r[f]));
      const markdown = [
        `One scratch database, seeded in ${fmt(seedSeconds, 1)} s by the seed functions of the sections above: the tickets world (${fmt(ticketCount)} tickets, ` +
          `${fmt(communityCount - 1)} communities; the list's community has ${fmt(listCount)}) and the fund world (one community of ${fmt(fundsWorld.units)} units, ` +
          `a vote open with ${fmt(voterRows.rows.length)} voters, ${fmt(voters.length)} with an account). The app (\`buildApp\`, every plugin) and the bare routes ` +
          `(bare Fastify, no plugins) each listen on 127.0.0.1 in their own child process with the same pool size (10); autocannon sends fixed request counts over ` +
          `${CONNECTIONS} keep-alive connections from this process, after a warm-up of ${WARMUP} (ticket routes). Tickets are created by the managers of 100 communities ` +
          `in turn; the list is the first page (50, newest first) of one community as its manager; each ballot is a different owner's first, with their own token ` +
          `(${fmt(ballotsPerRun)} per run; the bare route's voters are others, into its own table). Load average ${loadBefore} before, ` +
          `${loadAfter} after, on ${os.cpus().length} logical CPUs. Sizes: \`BENCH_TICKETS\`, \`BENCH_COMMUNITIES\`, \`BENCH_UNITS\`, ` +
          `\`BENCH_ROUTE_REQUESTS\`, \`BENCH_CONNECTIONS\`; run alone with \`npm run bench -- routes\`.`,
        '',
        '### Statements per request (counted on the app, one connection, Kysely query log; ticket routes after one unreported round over their rotation, so with warm caches)',
        '',
        '| route | app: statements per request (mean) | as run by the app (rounded) | the bare route runs | bare: counted |',
        '|---|---:|---|---|---:|',
        ...cases.map((c) => {
          const sh = shapes[c.id] as Shape;
          const what =
            c.id === 'create'
              ? 'the same, the first INSERT being the ticket into `tickets` (RETURNING *), the others into a scratch table'
              : c.id === 'list'
                ? 'the same, the last SELECT being the page: `tickets` of the community ORDER BY created_at DESC, id DESC LIMIT 51'
                : 'the same, the first INSERT an upsert of the vote into a scratch table keyed by voter';
          return `| ${c.label} | ${fmt(exactCounts[c.id] ?? NaN, 2)} | ${describe(sh)} (${total(sh)}) | ${what} | ${fmt(bareCounts[c.id] ?? NaN, 2)} |`;
        }),
        '',
        'Otherwise the bare routes\' SELECTs are primary-key reads of `users`, their UPDATEs primary-key updates of a random row of a 1,000-row scratch table, other statements `SELECT 1`; ' +
          'BEGIN and COMMIT are counted in the totals. The bare counts are measured on the bare routes, not assumed.',
        '',
        '### Under load',
        '',
        '| route | server | round | requests | req/s | p50 ms | p99 ms | max ms | server RSS after | server CPU |',
        '|---|---|---:|---:|---:|---:|---:|---:|---:|---:|',
        ...runs.map(
          (x) =>
            `| ${cases.find((c) => c.id === x.id)?.label} | ${x.kind === 'app' ? 'the app' : 'bare, same statements'} | ${x.round} | ${fmt(x.r.requests)} | ${fmt(x.r.rps)} | ${ms1(x.r.p50)} | ${ms1(x.r.p99)} | ${ms1(x.r.max)} | ${mib(x.rss)} | ${fmt(x.cpuMs / 1000, 2)} s |`,
        ),
        '',
        '### Ratios (both rounds pooled)',
        '',
        '| route | app req/s | bare req/s | app / bare | app p50 / p99 ms (worst round) | bare p50 / p99 ms (worst round) |',
        '|---|---:|---:|---:|---:|---:|',
        ...cases.map(
          (c) =>
            `| ${c.label} | ${fmt(rpsOf(c.id, 'app'))} | ${fmt(rpsOf(c.id, 'bare'))} | **${fmt((rpsOf(c.id, 'app') / rpsOf(c.id, 'bare')) * 100, 1)}%** | ${ms1(worst(c.id, 'app', 'p50'))} / ${ms1(worst(c.id, 'app', 'p99'))} | ${ms1(worst(c.id, 'bare', 'p50'))} / ${ms1(worst(c.id, 'bare', 'p99'))} |`,
        ),
        '',
        `The bare routes do the same number and kinds of statements without what makes them the app's: authentication and access scoping (their reads are plain primary-key reads), ` +
          'validation, business rules, the audit chain (its head row, one per community, is locked by each append until the end of its statement or transaction: the ballots of one vote and the tickets of one community commit one after another), ' +
          'serialization of the full response. Where the ratio is far below 100% the difference is CPU in the app process or time waiting for a lock, not more round trips. ' +
          `Checks: every answer had the expected status; ${fmt(recorded)} ballots recorded for the ${fmt(expectedBallots)} cast through the app.`,
      ].join('\n');
      return { markdown };
    } finally {
      for (const srv of servers) await srv.close().catch(() => {});
      await s.close();
      log(`routes: dropped ${s.dbName}`);
    }
  },
};

// Started as a child by startRouteServer(): serve until told to close.
runAsChild(SERVER_ENV, import.meta.url, serve);
