import { createHash, randomBytes, randomUUID } from 'node:crypto';
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import type { LightMyRequestResponse } from 'fastify';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { handleTimerFire } from '../src/modules/timers/timers.jobs.js';
import type { TimerKind } from '../src/modules/timers/kinds.js';
import { createTimerHandlers } from '../workers/registry.js';
import { createTestApp, type TestApp } from './helpers/app.js';
import { addMembership, as, makeBuilding, makeOrg, makeTwoWorlds, makeUnit, makeUser, type Role } from './helpers/factories.js';
import { multipart, type MultipartPart as Part } from './helpers/http.js';

/**
 * Special maintenance fund requests through the API on a real PostgreSQL (DESIGN.md "Law for
 * fund use", "Fund requests", "Access"): the tally on its boundaries with electorates built from
 * real units and owners, concurrent ballots, paper and proxy ballots with their scans, the vote
 * window and its timers, every transition by role, the emergency path, settlement and the unit
 * ledgers, and who may see what.
 */

const API = '/api/v1';
const DAY = 86_400_000;
const uniq = () => randomBytes(4).toString('hex');

let t: TestApp;
let w: Awaited<ReturnType<typeof makeTwoWorlds>>;
let uploadDir: string;

beforeAll(async () => {
  uploadDir = await mkdtemp(join(tmpdir(), 'upkeep-funds-'));
  t = await createTestApp({ uploadDir, uploadMaxBytes: 64 * 1024 });
  w = await makeTwoWorlds(t.db);
});
afterAll(async () => {
  await t?.close();
  if (uploadDir) await rm(uploadDir, { recursive: true, force: true });
});

type Call = ReturnType<typeof as>;
const who = (role: Role, world: 'a' | 'b' = 'a'): Call => as(t.app, w[world].users[role].id);
const user = (userId: string): Call => as(t.app, userId);

// ---------------------------------------------------------------------------------------------
// Electorates: buildings of units with their owners (each owner with a login, to vote online)

interface Owner {
  ownerId: string;
  userId: string;
  name: string;
  email: string;
}

/** An owner person in community A (or another), with a user account; developer owners too. */
async function makeOwner(opts: { developer?: boolean; communityId?: string; email?: string } = {}): Promise<Owner> {
  const u = await makeUser(t.db);
  const name = opts.developer ? `开发商${uniq()}` : `业主${uniq()}`;
  const email = opts.email ?? `owner-${uniq()}@test.upkeep.cn`;
  const o = await t.db
    .insertInto('owners')
    .values({ community_id: opts.communityId ?? w.a.community.id, name, phone: null, email, identity_key: `e:${email}`, is_developer: opts.developer ?? false, user_id: u.id })
    .returning('id')
    .executeTakeFirstOrThrow();
  return { ownerId: o.id, userId: u.id, name, email };
}

async function addUnit(buildingId: string, areaCentiM2: number, owners: Owner[], opts: { firstDepositCents?: number; number?: string } = {}) {
  const unit = await t.db
    .insertInto('units')
    .values({ community_id: w.a.community.id, building_id: buildingId, number: opts.number ?? `U${uniq()}`, area_centi_m2: areaCentiM2, first_deposit_cents: opts.firstDepositCents ?? 0 })
    .returningAll()
    .executeTakeFirstOrThrow();
  if (owners.length) await t.db.insertInto('unit_owners').values(owners.map((o) => ({ unit_id: unit.id, owner_id: o.ownerId }))).execute();
  return unit;
}

/**
 * A building in community A from [area, owner label] pairs: the same label is the same owner
 * (several units, one person); labels starting with "dev" are developer owners.
 */
async function electorate(spec: Array<[area: number, label: string]>) {
  const building = await makeBuilding(t.db, w.a.community.id);
  const owners: Record<string, Owner> = {};
  const units: string[] = [];
  for (const [area, label] of spec) {
    owners[label] ??= await makeOwner({ developer: label.startsWith('dev') });
    units.push((await addUnit(building.id, area, [owners[label]])).id);
  }
  return { building, owners, units };
}

interface ProposeOpts {
  buildingIds?: string[];
  unitIds?: string[];
  decisionType?: 'use_fund' | 'raise_fund' | 'renovation' | 'change_use';
  path?: 'normal' | 'emergency';
  emergencyKind?: string;
  ticketIds?: string[];
  facilityIds?: string[];
  contractorOrgId?: string | null;
  budgetCents?: number;
  /** The maintenance fund's part of the budget (the rest is a government subsidy). */
  fundCents?: number;
  by?: Call;
  communityId?: string;
}

function proposal(o: ProposeOpts) {
  const budget = o.budgetCents ?? 1_000_000;
  const fund = o.fundCents ?? budget;
  return {
    communityId: o.communityId ?? w.a.community.id,
    title: `维修-${uniq()}`,
    path: o.path ?? 'normal',
    ...(o.emergencyKind ? { emergencyKind: o.emergencyKind } : {}),
    decisionType: o.decisionType ?? 'use_fund',
    scope: { ...(o.buildingIds ? { buildingIds: o.buildingIds } : {}), ...(o.unitIds ? { unitIds: o.unitIds } : {}) },
    budgetLines: [{ description: '材料与人工', amountCents: budget }],
    funding: [{ source: 'maintenance_fund', amountCents: fund }, ...(budget > fund ? [{ source: 'government_subsidy', amountCents: budget - fund }] : [])],
    ...(o.ticketIds ? { ticketIds: o.ticketIds } : {}),
    ...(o.facilityIds ? { facilityIds: o.facilityIds } : {}),
    ...(o.contractorOrgId !== undefined ? { contractorOrgId: o.contractorOrgId } : {}),
  };
}

async function propose(o: ProposeOpts): Promise<string> {
  const res = await (o.by ?? who('propertyManager'))({ method: 'POST', url: `${API}/fund-requests`, payload: proposal(o) });
  expect(res.statusCode, res.body).toBe(201);
  return res.json().id as string;
}

const move = (by: Call, id: string, to: string, extra: object = {}) => by({ method: 'POST', url: `${API}/fund-requests/${id}/transitions`, payload: { to, ...extra } });

async function moveOk(by: Call, id: string, to: string, extra: object = {}) {
  const res = await move(by, id, to, extra);
  expect(res.statusCode, `${to}: ${res.body}`).toBe(200);
  expect(res.json().status).toBe(to);
  return res.json();
}

const openVote = (id: string, closesInMs = 7 * DAY) => moveOk(who('committeeChair'), id, 'voting', { voteClosesAt: new Date(Date.now() + closesInMs).toISOString() });

const ballot = (by: Call, id: string, payload: object) => by({ method: 'POST', url: `${API}/fund-requests/${id}/ballots`, payload });
const vote = (userId: string, id: string, choice: 'agree' | 'disagree' | 'abstain') => ballot(user(userId), id, { choice });

async function tallyOf(id: string) {
  const res = await who('committeeChair')({ method: 'GET', url: `${API}/fund-requests/${id}/tally` });
  expect(res.statusCode, res.body).toBe(200);
  return res.json();
}

async function statusOf(id: string) {
  return (await t.db.selectFrom('fund_requests').select('status').where('id', '=', id).executeTakeFirstOrThrow()).status;
}

// ---------------------------------------------------------------------------------------------
// Timers, fired deterministically (no worker): due now, then the handler in its transaction

const timerCtx = () => ({ db: t.db, logger: pino({ level: 'silent' }), timerHandlers: createTimerHandlers(), relayQueues: { main: t.queue, email: t.queue, redis: t.redis } });

async function timersOf(subjectId: string, kind: TimerKind) {
  return t.db.selectFrom('timers').select(['id', 'job_id', 'state', 'due_at', 'payload']).where('subject_id', '=', subjectId).where('kind', '=', kind).orderBy('due_at').execute();
}

/** Makes the timer due and fires it. */
async function fireTimer(timerId: string) {
  await t.db.updateTable('timers').set({ due_at: new Date(Date.now() - 1000) }).where('id', '=', timerId).execute();
  await handleTimerFire({ timerId }, timerCtx());
}

async function notificationsFor(template: string, dedupePrefix: string) {
  return t.db
    .selectFrom('notifications')
    .select(['recipient_user_id', 'recipient_email', 'channel', 'dedupe_key'])
    .where('template', '=', template)
    .where('dedupe_key', 'like', `${dedupePrefix}%`)
    .execute();
}

// ---------------------------------------------------------------------------------------------
// Multipart uploads

const PDF = Buffer.from(
  '%PDF-1.4\n1 0 obj<</Type/Catalog/Pages 2 0 R>>endobj\n2 0 obj<</Type/Pages/Kids[3 0 R]/Count 1>>endobj\n3 0 obj<</Type/Page/Parent 2 0 R/MediaBox[0 0 200 200]>>endobj\ntrailer<</Root 1 0 R>>\n%%EOF\n',
  'latin1',
);
const PNG = Buffer.from('iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg==', 'base64');
const pdfPart = (filename = 'scan.pdf'): Part => ({ name: 'file', filename, type: 'application/pdf', data: PDF });
const fields = (kind?: string, title?: string): Part[] => [...(kind !== undefined ? [{ name: 'kind', data: kind }] : []), ...(title !== undefined ? [{ name: 'title', data: title }] : [])];

const uploadRaw = (by: Call, id: string, parts: Part[]) => by({ method: 'POST', url: `${API}/fund-requests/${id}/documents`, ...multipart(parts) });

async function upload(by: Call, id: string, kind: string, title = `${kind}-${uniq()}`, file: Part = pdfPart()): Promise<string> {
  const res = await uploadRaw(by, id, [...fields(kind, title), file]);
  expect(res.statusCode, res.body).toBe(201);
  return res.json().id as string;
}

const download = (by: Call, id: string, documentId: string) => by({ method: 'GET', url: `${API}/fund-requests/${id}/documents/${documentId}` });

async function storedFiles(): Promise<string[]> {
  const entries = await readdir(uploadDir, { withFileTypes: true, recursive: true });
  return entries.filter((e) => e.isFile()).map((e) => relative(uploadDir, join(e.parentPath, e.name)));
}

// =============================================================================================

describe('the tally through the API, on the boundaries, with electorates from the unit register', () => {
  type Choice = 'agree' | 'disagree' | 'abstain' | null;
  interface Case {
    name: string;
    decisionType?: 'use_fund' | 'raise_fund' | 'renovation' | 'change_use';
    /** One voter (owner of one unit) per entry: its area and its ballot (null: does not vote). */
    voters: Array<[area: number, choice: Choice]>;
    outcome: 'passed' | 'rejected' | 'no_quorum';
    quorum: { area: boolean; headcount: boolean };
    approval?: { area: boolean; headcount: boolean };
  }
  const n = (k: number, area: number, choice: Choice): Array<[number, Choice]> => Array.from({ length: k }, () => [area, choice]);
  const CASES: Case[] = [
    { name: 'participation exactly 2/3 of area and of headcount meets the quorum', voters: [[100, 'agree'], [100, 'agree'], [100, null]], outcome: 'passed', quorum: { area: true, headcount: true } },
    { name: 'participating area just under 2/3 (200 of 301) is no quorum', voters: [[100, 'agree'], [100, 'agree'], [101, null]], outcome: 'no_quorum', quorum: { area: false, headcount: true } },
    { name: 'participating headcount just under 2/3 (5 of 8) is no quorum', voters: [...n(5, 100, 'agree'), ...n(3, 1, null)], outcome: 'no_quorum', quorum: { area: true, headcount: false } },
    {
      name: 'use_fund: agreeing area exactly 1/2 of the participating area fails',
      voters: [[200, 'disagree'], [100, 'agree'], [100, 'agree']],
      outcome: 'rejected',
      quorum: { area: true, headcount: true },
      approval: { area: false, headcount: true },
    },
    {
      name: 'use_fund: agreeing headcount exactly 1/2 of the participating headcount fails',
      voters: [[300, 'agree'], [100, 'disagree']],
      outcome: 'rejected',
      quorum: { area: true, headcount: true },
      approval: { area: true, headcount: false },
    },
    {
      name: 'use_fund: just over 1/2 of both passes',
      voters: [[201, 'agree'], [200, 'disagree'], [1, 'agree']],
      outcome: 'passed',
      quorum: { area: true, headcount: true },
      approval: { area: true, headcount: true },
    },
    {
      name: 'raise_fund: exactly 3/4 of area and headcount passes',
      decisionType: 'raise_fund',
      voters: [...n(3, 100, 'agree'), [100, 'disagree']],
      outcome: 'passed',
      quorum: { area: true, headcount: true },
      approval: { area: true, headcount: true },
    },
    {
      name: 'renovation: agreeing area just under 3/4 (300 of 401) fails',
      decisionType: 'renovation',
      voters: [...n(3, 100, 'agree'), [101, 'disagree']],
      outcome: 'rejected',
      quorum: { area: true, headcount: true },
      approval: { area: false, headcount: true },
    },
    {
      name: 'change_use: agreeing headcount 2 of 3 (under 3/4) fails although the area is 600 of 601',
      decisionType: 'change_use',
      voters: [[300, 'agree'], [300, 'agree'], [1, 'disagree']],
      outcome: 'rejected',
      quorum: { area: true, headcount: true },
      approval: { area: true, headcount: false },
    },
    {
      name: 'an abstention counts as participation: it completes the quorum (4 of 6)',
      voters: [...n(3, 100, 'agree'), [100, 'abstain'], ...n(2, 100, null)],
      outcome: 'passed',
      quorum: { area: true, headcount: true },
      approval: { area: true, headcount: true },
    },
    {
      name: 'an abstention is not agreement: 1 agree and 1 abstain is exactly 1/2, which fails use_fund',
      voters: [[100, 'agree'], [100, 'abstain'], [100, null]],
      outcome: 'rejected',
      quorum: { area: true, headcount: true },
      approval: { area: false, headcount: false },
    },
  ];

  it.each(CASES)('$name', async (c) => {
    const e = await electorate(c.voters.map(([area], i) => [area, `o${i}`]));
    const id = await propose({ buildingIds: [e.building.id], decisionType: c.decisionType });
    await openVote(id);
    const casts = await Promise.all(c.voters.map(([, choice], i) => (choice ? vote(e.owners[`o${i}`]!.userId, id, choice) : null)));
    for (const r of casts) if (r) expect(r.statusCode, r.body).toBe(200);

    const tally = await tallyOf(id);
    const voted = c.voters.filter(([, ch]) => ch !== null);
    expect(tally).toMatchObject({
      decisionType: c.decisionType ?? 'use_fund',
      totalHeadcount: c.voters.length,
      totalArea: c.voters.reduce((s, [a]) => s + a, 0),
      participatingHeadcount: voted.length,
      participatingArea: voted.reduce((s, [a]) => s + a, 0),
      agreeArea: c.voters.filter(([, ch]) => ch === 'agree').reduce((s, [a]) => s + a, 0),
      abstainHeadcount: c.voters.filter(([, ch]) => ch === 'abstain').length,
      outcome: c.outcome,
    });
    expect(tally.quorum.area.met).toBe(c.quorum.area);
    expect(tally.quorum.headcount.met).toBe(c.quorum.headcount);
    if (c.approval) {
      expect(tally.approval.area.met).toBe(c.approval.area);
      expect(tally.approval.headcount.met).toBe(c.approval.headcount);
    }
    // Every figure comes with its reasoning, in both languages.
    expect(tally.reasoning.length).toBeGreaterThan(5);
    expect(tally.reasoning.every((l: { zh: string; en: string }) => l.zh && l.en)).toBe(true);
  });

  it('a developer holding several unsold units counts as one voter, and its ballot covers all of them', async () => {
    // Two developer records (e.g. the developer and its sales arm) and 3 of their units; 2 owners.
    const building = await makeBuilding(t.db, w.a.community.id);
    const devA = await makeOwner({ developer: true });
    const devB = await makeOwner({ developer: true });
    const p = await makeOwner();
    const q = await makeOwner();
    const devUnits = [(await addUnit(building.id, 100, [devA])).id, (await addUnit(building.id, 100, [devA])).id, (await addUnit(building.id, 100, [devB])).id];
    await addUnit(building.id, 100, [p]);
    await addUnit(building.id, 100, [q]);
    const id = await propose({ buildingIds: [building.id] });
    await openVote(id);

    const dev = await vote(devA.userId, id, 'agree');
    expect(dev.statusCode, dev.body).toBe(200);
    expect(dev.json().voterKey).toBe('developer');
    expect([...dev.json().units].sort()).toEqual([...devUnits].sort());
    // The other developer record is the same voter: its ballot is already in (one per person).
    const again = await vote(devB.userId, id, 'disagree');
    expect(again.statusCode).toBe(409);
    expect(again.json().error.message).toMatch(/already voted/);
    expect((await vote(p.userId, id, 'disagree')).statusCode).toBe(200);

    const tally = await tallyOf(id);
    // Three persons: the developer, p and q. Counted as three persons the developer would pass it.
    expect(tally).toMatchObject({ totalHeadcount: 3, totalArea: 500, participatingHeadcount: 2, agreeHeadcount: 1, agreeArea: 300, outcome: 'rejected' });
    expect(tally.approval.area.met).toBe(true);
    expect(tally.approval.headcount.met).toBe(false);
    const voters = await t.db.selectFrom('fund_voters').select(['voter_key', 'kind']).where('request_id', '=', id).execute();
    expect(voters).toHaveLength(3);
  });

  it('an owner of several units votes once for all their units in scope; owners outside the scope get 403', async () => {
    const inScope = await makeBuilding(t.db, w.a.community.id);
    const outside = await makeBuilding(t.db, w.a.community.id);
    const x = await makeOwner();
    const y = await makeOwner();
    const z = await makeOwner();
    const stranger = await makeOwner();
    const x1 = await addUnit(inScope.id, 120, [x]);
    const x2 = await addUnit(inScope.id, 80, [x]);
    const x3 = await addUnit(outside.id, 500, [x]);
    await addUnit(inScope.id, 100, [y]);
    await addUnit(inScope.id, 100, [z]);
    await addUnit(outside.id, 100, [stranger]);
    const id = await propose({ buildingIds: [inScope.id] });
    await openVote(id);

    const cast = await vote(x.userId, id, 'agree');
    expect(cast.statusCode, cast.body).toBe(200);
    expect([...cast.json().units].sort()).toEqual([x1.id, x2.id].sort());
    expect(cast.json().units).not.toContain(x3.id);
    expect(cast.json().created).toBe(true);
    // Changing one's own vote is the same ballot.
    const changed = await vote(x.userId, id, 'disagree');
    expect(changed.json()).toMatchObject({ created: false, choice: 'disagree' });

    const tally = await tallyOf(id);
    expect(tally).toMatchObject({ totalHeadcount: 3, totalArea: 400, participatingHeadcount: 1, participatingArea: 200, disagreeArea: 200, agreeHeadcount: 0 });
    expect(await t.db.selectFrom('fund_ballots').select('voter_key').where('request_id', '=', id).execute()).toHaveLength(1);

    // An owner of the community whose units are all outside the scope: 403.
    const out = await vote(stranger.userId, id, 'agree');
    expect(out.statusCode).toBe(403);
    // Staff who own nothing: 403 too; another community's owner does not even see the request.
    expect((await ballot(who('propertyManager'), id, { choice: 'agree' })).statusCode).toBe(403);
    expect((await ballot(who('owner', 'b'), id, { choice: 'agree' })).statusCode).toBe(404);

    // The notice shows the one choice on both of x's units.
    const notice = await user(y.userId)({ method: 'GET', url: `${API}/fund-requests/${id}/notice` });
    const rows = notice.json().units as Array<{ unitId: string; choice: string | null }>;
    expect(rows.filter((r) => r.unitId === x1.id || r.unitId === x2.id).map((r) => r.choice)).toEqual(['disagree', 'disagree']);
    expect(rows.map((r) => r.unitId)).not.toContain(x3.id);
  });
});

describe('concurrent ballots', () => {
  it('200 owners casting at once, some twice in parallel, are each counted once', async () => {
    const N = 200;
    const building = await makeBuilding(t.db, w.a.community.id);
    const users = await t.db
      .insertInto('users')
      .values(Array.from({ length: N }, (_, i) => ({ email: `voter-${i}-${uniq()}@test.upkeep.cn`, name: `投票人${i}`, password_hash: 'not-used', is_platform_admin: false, locale: 'zh-CN' as const })))
      .returning('id')
      .execute();
    const owners = await t.db
      .insertInto('owners')
      .values(users.map((u, i) => ({ community_id: w.a.community.id, name: `业主${i}`, email: null, phone: null, identity_key: `u:${u.id}`, user_id: u.id })))
      .returning(['id', 'user_id'])
      .execute();
    const units = await t.db
      .insertInto('units')
      .values(owners.map((_, i) => ({ community_id: w.a.community.id, building_id: building.id, number: `C${i}`, area_centi_m2: 5_000 + i * 37 })))
      .returning('id')
      .execute();
    await t.db.insertInto('unit_owners').values(units.map((u, i) => ({ unit_id: u.id, owner_id: owners[i]!.id }))).execute();
    const id = await propose({ buildingIds: [building.id] });
    await openVote(id);

    const choices = ['agree', 'disagree', 'abstain'] as const;
    const casts: Array<Promise<LightMyRequestResponse>> = [];
    owners.forEach((o, i) => {
      casts.push(vote(o.user_id!, id, choices[i % 3]!));
      // Every fourth owner casts twice at the same moment: the same choice or another one.
      if (i % 4 === 0) casts.push(vote(o.user_id!, id, i % 8 === 0 ? choices[i % 3]! : choices[(i + 1) % 3]!));
    });
    const results = await Promise.all(casts);
    expect(results.map((r) => r.statusCode).filter((s) => s !== 200)).toEqual([]);
    expect(results.filter((r) => r.json().created === true)).toHaveLength(N);

    const rows = await t.db.selectFrom('fund_ballots').select(['voter_key']).where('request_id', '=', id).execute();
    expect(rows).toHaveLength(N);
    expect(new Set(rows.map((r) => r.voter_key)).size).toBe(N);
    const tally = await tallyOf(id);
    expect(tally.totalHeadcount).toBe(N);
    expect(tally.participatingHeadcount).toBe(N);
    expect(tally.agreeHeadcount + tally.disagreeHeadcount + tally.abstainHeadcount).toBe(N);
    expect(tally.participatingArea).toBe(tally.totalArea);
  });
});

describe('ballots racing the close of the vote', () => {
  it('every accepted ballot is in the final tally; the others are refused (409)', async () => {
    const e = await electorate(Array.from({ length: 30 }, (_, i): [number, string] => [1_000 + i, `r${i}`]));
    const id = await propose({ buildingIds: [e.building.id] });
    await openVote(id);
    const [closeTimer] = await timersOf(id, 'fund.vote-close');
    const casts = Object.values(e.owners).map((o) => vote(o.userId, id, 'agree'));
    const [results] = await Promise.all([Promise.all(casts), fireTimer(closeTimer!.id)]);
    expect(results.every((r) => r.statusCode === 200 || r.statusCode === 409)).toBe(true);
    const accepted = results.filter((r) => r.statusCode === 200).length;
    const final = (await t.db.selectFrom('fund_requests').select('final_tally').where('id', '=', id).executeTakeFirstOrThrow()).final_tally as { participatingHeadcount: number };
    const rows = await t.db.selectFrom('fund_ballots').select('voter_key').where('request_id', '=', id).execute();
    expect(rows).toHaveLength(accepted);
    expect(final.participatingHeadcount).toBe(accepted);
  });
});

describe('paper and proxy ballots entered by the committee', () => {
  let id: string;
  let e: Awaited<ReturnType<typeof electorate>>;
  let scan: string;
  let proxyLetter: string;
  let quote: string;
  beforeAll(async () => {
    e = await electorate([[100, 'x'], [100, 'y'], [100, 'z'], [100, 'v']]);
    id = await propose({ buildingIds: [e.building.id] });
    await openVote(id);
    scan = await upload(who('committeeChair'), id, 'ballot_scan', '纸质表决票 x');
    proxyLetter = await upload(who('committeeMember'), id, 'proxy', '授权委托书 z');
    quote = await upload(who('propertyManager'), id, 'quote', '报价单');
  });

  it('a paper ballot with its scan counts; the owner’s own online ballot is then refused (409)', async () => {
    const paper = await ballot(who('committeeChair'), id, { choice: 'agree', channel: 'paper', ownerId: e.owners.x!.ownerId, scanDocumentId: scan });
    expect(paper.statusCode, paper.body).toBe(200);
    expect(paper.json()).toMatchObject({ channel: 'paper', created: true });
    const online = await vote(e.owners.x!.userId, id, 'disagree');
    expect(online.statusCode).toBe(409);
    const row = await t.db.selectFrom('fund_ballots').selectAll().where('request_id', '=', id).where('voter_key', '=', paper.json().voterKey).executeTakeFirstOrThrow();
    expect(row).toMatchObject({ choice: 'agree', channel: 'paper', owner_id: e.owners.x!.ownerId, entered_by: w.a.users.committeeChair.id, scan_document_id: scan });
  });

  it('an online ballot first: a paper ballot for the same owner is then refused (409)', async () => {
    expect((await vote(e.owners.y!.userId, id, 'agree')).statusCode).toBe(200);
    const paper = await ballot(who('committeeChair'), id, { choice: 'disagree', channel: 'paper', ownerId: e.owners.y!.ownerId, scanDocumentId: scan });
    expect(paper.statusCode).toBe(409);
    const row = await t.db.selectFrom('fund_ballots').selectAll().where('request_id', '=', id).where('owner_id', '=', e.owners.y!.ownerId).executeTakeFirstOrThrow();
    expect(row).toMatchObject({ choice: 'agree', channel: 'online', entered_by: e.owners.y!.userId });
  });

  it('an entered ballot needs a scan (400) of a ballot or proxy letter of this request (422); owners cannot enter them (403)', async () => {
    const z = e.owners.z!.ownerId;
    expect((await ballot(who('committeeChair'), id, { choice: 'agree', channel: 'paper', ownerId: z })).statusCode).toBe(400);
    expect((await ballot(who('committeeChair'), id, { choice: 'agree', ownerId: z })).statusCode).toBe(400);
    const wrongKind = await ballot(who('committeeChair'), id, { choice: 'agree', channel: 'paper', ownerId: z, scanDocumentId: quote });
    expect(wrongKind.statusCode).toBe(422);
    expect((await ballot(who('committeeChair'), id, { choice: 'agree', channel: 'paper', ownerId: z, scanDocumentId: randomUUID() })).statusCode).toBe(422);
    // The owner x (who voted on paper) tries to enter a ballot for z.
    expect((await ballot(user(e.owners.x!.userId), id, { choice: 'agree', channel: 'paper', ownerId: z, scanDocumentId: scan })).statusCode).toBe(403);
    expect((await ballot(who('propertyManager'), id, { choice: 'agree', channel: 'proxy', ownerId: z, scanDocumentId: proxyLetter })).statusCode).toBe(403);
    expect(await t.db.selectFrom('fund_ballots').select('voter_key').where('request_id', '=', id).where('owner_id', '=', z).execute()).toEqual([]);
    // An online ballot names nobody else.
    expect((await ballot(user(e.owners.z!.userId), id, { choice: 'agree', ownerId: e.owners.v!.ownerId, channel: 'online' })).statusCode).toBe(400);
  });

  it('a committee member enters a ballot; re-entering it (now as a proxy ballot) corrects it', async () => {
    const z = e.owners.z!.ownerId;
    const paper = await ballot(who('committeeMember'), id, { choice: 'abstain', channel: 'paper', ownerId: z, scanDocumentId: scan });
    expect(paper.statusCode, paper.body).toBe(200);
    expect(paper.json()).toMatchObject({ channel: 'paper', created: true });
    const fixed = await ballot(who('committeeMember'), id, { choice: 'agree', channel: 'proxy', ownerId: z, scanDocumentId: proxyLetter });
    expect(fixed.json()).toMatchObject({ created: false, choice: 'agree', channel: 'proxy' });
    const row = await t.db.selectFrom('fund_ballots').selectAll().where('request_id', '=', id).where('owner_id', '=', z).executeTakeFirstOrThrow();
    expect(row).toMatchObject({ choice: 'agree', channel: 'proxy', entered_by: w.a.users.committeeMember.id, scan_document_id: proxyLetter });

    const tally = await tallyOf(id);
    expect(tally).toMatchObject({ participatingHeadcount: 3, agreeHeadcount: 3 });
    const notice = await who('owner')({ method: 'GET', url: `${API}/fund-requests/${id}/notice` });
    expect((notice.json().units as Array<{ channel: string | null }>).map((u) => u.channel).sort()).toEqual(['online', 'paper', 'proxy', null].sort());
  });

  it('a ballot scan is read by the committee, the authority and the owner it is for; not by other owners (404)', async () => {
    const ok = await download(who('committeeMember'), id, scan);
    expect(ok.statusCode).toBe(200);
    expect(ok.rawPayload.equals(PDF)).toBe(true);
    expect((await download(who('authority'), id, scan)).statusCode).toBe(200);
    expect((await download(user(e.owners.x!.userId), id, scan)).statusCode).toBe(200);
    const other = await download(user(e.owners.v!.userId), id, scan);
    expect(other.statusCode).toBe(404);
    expect(other.json().error.code).toBe('NOT_FOUND');
    expect((await download(who('contractor'), id, proxyLetter)).statusCode).toBe(404);
    // Other documents are for everyone who reads the request.
    expect((await download(user(e.owners.v!.userId), id, quote)).statusCode).toBe(200);
  });
});

describe('documents: upload and download', () => {
  let id: string;
  beforeAll(async () => {
    id = await propose({ buildingIds: [w.a.building.id], contractorOrgId: w.a.orgs.contractor.id });
  });

  it('stores the file by its content under a server-chosen name, records it and streams it back', async () => {
    const before = await storedFiles();
    const res = await uploadRaw(who('committeeChair'), id, [...fields('quote', '电梯更换报价单'), pdfPart('../../etc/报价.pdf')]);
    expect(res.statusCode, res.body).toBe(201);
    const doc = res.json();
    expect(doc).toMatchObject({ requestId: id, kind: 'quote', title: '电梯更换报价单', mimeType: 'application/pdf', sizeBytes: PDF.length, uploadedBy: w.a.users.committeeChair.id });
    expect(doc.sha256).toBe(createHash('sha256').update(PDF).digest('hex'));
    const row = await t.db.selectFrom('fund_documents').selectAll().where('id', '=', doc.id).executeTakeFirstOrThrow();
    expect(row.storage_key).toMatch(/^\d{4}\/\d{2}\/[0-9a-f-]{36}\.pdf$/);
    expect((await storedFiles()).filter((f) => !before.includes(f))).toEqual([row.storage_key]);

    const got = await download(who('owner'), id, doc.id);
    expect(got.statusCode).toBe(200);
    expect(got.headers['content-type']).toBe('application/pdf');
    expect(got.headers['content-disposition']).toContain("filename*=UTF-8''");
    expect(got.headers['content-disposition']).toContain('.pdf');
    expect(got.headers['x-content-type-options']).toBe('nosniff');
    expect(got.rawPayload.equals(PDF)).toBe(true);

    const detail = await who('owner')({ method: 'GET', url: `${API}/fund-requests/${id}` });
    expect(detail.json().documents).toEqual([expect.objectContaining({ id: doc.id, kind: 'quote', title: '电梯更换报价单', mimeType: 'application/pdf' })]);
  });

  it('the title defaults to the file name; staff and the request’s contractor add documents', async () => {
    const png = await uploadRaw(who('technician'), id, [...fields('plan'), { name: 'file', filename: '平面图.png', type: 'image/png', data: PNG }]);
    expect(png.statusCode, png.body).toBe(201);
    expect(png.json()).toMatchObject({ title: '平面图.png', mimeType: 'image/png' });
    const invoice = await uploadRaw(who('contractor'), id, [...fields('invoice', '发票'), pdfPart()]);
    expect(invoice.statusCode, invoice.body).toBe(201);
  });

  it('refuses bad uploads and keeps no file of them', async () => {
    const before = await storedFiles();
    const cases: Array<[string, Call, Part[], number]> = [
      ['no kind', who('committeeChair'), [...fields(undefined, 't'), pdfPart()], 400],
      ['an unknown kind', who('committeeChair'), [...fields('selfie', 't'), pdfPart()], 400],
      ['an empty title', who('committeeChair'), [...fields('quote', '   '), pdfPart()], 400],
      ['no file', who('committeeChair'), fields('quote', 't'), 400],
      ['HTML named .pdf', who('committeeChair'), [...fields('quote', 't'), { name: 'file', filename: 'x.pdf', type: 'application/pdf', data: '<html><script>alert(1)</script></html>' }], 415],
      ['a PDF declared as PNG', who('committeeChair'), [...fields('quote', 't'), { name: 'file', filename: 'x.png', type: 'image/png', data: PDF }], 415],
      ['two files', who('committeeChair'), [...fields('quote', 't'), pdfPart('a.pdf'), pdfPart('b.pdf')], 413],
      ['too large', who('committeeChair'), [...fields('quote', 't'), { name: 'file', filename: 'big.pdf', type: 'application/pdf', data: Buffer.concat([PDF, Buffer.alloc(70 * 1024)]) }], 413],
      ['an owner', who('owner'), [...fields('quote', 't'), pdfPart()], 403],
      ['the authority (read-only)', who('authority'), [...fields('notice', 't'), pdfPart()], 403],
      ['a ballot scan from the contractor', who('contractor'), [...fields('ballot_scan', 't'), pdfPart()], 403],
      ['a proxy letter from the property company', who('propertyManager'), [...fields('proxy', 't'), pdfPart()], 403],
      ['another community’s committee', who('committeeChair', 'b'), [...fields('quote', 't'), pdfPart()], 404],
    ];
    for (const [what, by, parts, status] of cases) {
      const res = await uploadRaw(by, id, parts);
      expect(res.statusCode, `${what}: ${res.body}`).toBe(status);
    }
    const json = await who('committeeChair')({ method: 'POST', url: `${API}/fund-requests/${id}/documents`, payload: { kind: 'quote' } });
    expect(json.statusCode).toBe(415);
    expect(await storedFiles()).toEqual(before);
    const recorded = await t.db.selectFrom('fund_documents').select('storage_key').where('request_id', '=', id).execute();
    expect(recorded).toHaveLength(3);
  });

  it('a document of another request, an unknown one, or another community’s: 404', async () => {
    const other = await propose({ buildingIds: [w.a.building.id] });
    const docOfOther = await upload(who('committeeChair'), other, 'plan');
    expect((await download(who('committeeChair'), id, docOfOther)).statusCode).toBe(404);
    expect((await download(who('committeeChair'), id, randomUUID())).statusCode).toBe(404);
    for (const role of ['committeeChair', 'propertyManager', 'owner', 'authority', 'contractor'] as const) {
      const res = await download(who(role, 'b'), other, docOfOther);
      expect(res.statusCode, role).toBe(404);
      expect(res.body).not.toContain('%PDF');
    }
    // A contractor not working on the request does not see its documents.
    expect((await download(who('contractor'), other, docOfOther)).statusCode).toBe(404);
  });
});

describe('the vote window, its timers and the early close', () => {
  it('no ballots before the vote opens or after it closes; the timer closes it with the final tally', async () => {
    const e = await electorate([[100, 'a1'], [100, 'a2'], [100, 'a3'], [100, 'a4']]);
    const id = await propose({ buildingIds: [e.building.id] });
    const early = await vote(e.owners.a1!.userId, id, 'agree');
    expect(early.statusCode).toBe(409);
    expect(early.json().error.code).toBe('VOTE_CLOSED');
    await openVote(id);
    expect((await vote(e.owners.a1!.userId, id, 'agree')).statusCode).toBe(200);

    // Closing soon (3 days and 1 day before): only owners who have not voted are reminded.
    const soon = await timersOf(id, 'fund.vote-closing-soon');
    expect(soon.map((x) => (x.payload as { daysBefore: number }).daysBefore).sort()).toEqual([1, 3]);
    await fireTimer(soon[0]!.id);
    const reminded = await notificationsFor('fund.vote_closing', soon[0]!.job_id);
    const remindedUsers = new Set(reminded.filter((n) => n.channel === 'in_app').map((n) => n.recipient_user_id));
    expect(remindedUsers).toEqual(new Set([e.owners.a2!.userId, e.owners.a3!.userId, e.owners.a4!.userId]));
    expect(reminded.map((n) => n.recipient_email)).not.toContain(e.owners.a1!.email);
    // a2 votes; the 1-day reminder goes to a3 and a4 only.
    expect((await vote(e.owners.a2!.userId, id, 'disagree')).statusCode).toBe(200);
    await fireTimer(soon[1]!.id);
    const last = await notificationsFor('fund.vote_closing', soon[1]!.job_id);
    expect(new Set(last.filter((n) => n.channel === 'in_app').map((n) => n.recipient_user_id))).toEqual(new Set([e.owners.a3!.userId, e.owners.a4!.userId]));

    // The deadline timer closes the vote: 2 of 4 took part, no quorum.
    const [closeTimer] = await timersOf(id, 'fund.vote-close');
    await fireTimer(closeTimer!.id);
    const r = await t.db.selectFrom('fund_requests').select(['status', 'outcome', 'final_tally']).where('id', '=', id).executeTakeFirstOrThrow();
    expect(r).toMatchObject({ status: 'no_quorum', outcome: 'no_quorum' });
    expect(r.final_tally).toMatchObject({ outcome: 'no_quorum', participatingHeadcount: 2, totalHeadcount: 4 });
    const late = await vote(e.owners.a3!.userId, id, 'agree');
    expect(late.statusCode).toBe(409);
    expect(late.json().error.code).toBe('VOTE_CLOSED');
    // The stored tally is what everyone reads from now on; the vote result went out.
    expect(await tallyOf(id)).toEqual(r.final_tally);
    expect((await notificationsFor('fund.vote_result', `fund-vote-result-${id}`)).length).toBeGreaterThan(0);
    expect((await timersOf(id, 'fund.vote-close'))[0]!.state).toBe('fired');
  });

  it('a vote whose deadline has passed takes no ballot even before its timer fired', async () => {
    const e = await electorate([[100, 'a'], [100, 'b']]);
    const id = await propose({ buildingIds: [e.building.id] });
    await openVote(id);
    await t.db.updateTable('fund_requests').set({ vote_opens_at: new Date(Date.now() - 2000), vote_closes_at: new Date(Date.now() - 1000) }).where('id', '=', id).execute();
    expect((await vote(e.owners.a!.userId, id, 'agree')).statusCode).toBe(409);
  });

  it('the committee closes early only when the outcome can no longer change', async () => {
    const e = await electorate([[100, 'a'], [100, 'b'], [100, 'c']]);
    const id = await propose({ buildingIds: [e.building.id] });
    await openVote(id);
    const close = (by: Call = who('committeeChair')) => by({ method: 'POST', url: `${API}/fund-requests/${id}/close-vote` });
    let res = await close();
    expect(res.statusCode).toBe(409);
    expect(res.json().error.code).toBe('OUTCOME_OPEN');
    await vote(e.owners.a!.userId, id, 'agree');
    res = await close();
    expect(res.json().error.code).toBe('OUTCOME_OPEN');
    await vote(e.owners.b!.userId, id, 'agree');
    // Quorum is certain (2 of 3) and c cannot undo the majority either way: decided.
    expect((await close(who('propertyManager'))).statusCode).toBe(403);
    expect((await close(who('owner'))).statusCode).toBe(403);
    res = await close();
    expect(res.statusCode, res.body).toBe(200);
    expect(res.json()).toMatchObject({ status: 'passed', outcome: 'passed' });
    expect((await close()).statusCode).toBe(409);
    // Its timers are cancelled with it.
    expect((await timersOf(id, 'fund.vote-close')).map((x) => x.state)).toEqual(['cancelled']);
  });
});

describe('transitions by role', () => {
  const ROLES_NOT_ADMIN = ['propertyManager', 'technician', 'committeeChair', 'committeeMember', 'owner', 'contractor', 'authority'] as const;

  /**
   * Every role but `allowed` is refused with 403 (404 for a contractor the request is not for:
   * it does not see it) and the status does not move.
   */
  async function onlyThese(id: string, to: string, allowed: readonly Role[], extra: object = {}) {
    const r = await t.db.selectFrom('fund_requests').select(['status', 'contractor_org_id']).where('id', '=', id).executeTakeFirstOrThrow();
    const from = r.status;
    for (const role of ROLES_NOT_ADMIN.filter((x) => !allowed.includes(x))) {
      const res = await move(who(role), id, to, extra);
      const expected = role === 'contractor' && r.contractor_org_id !== w.a.orgs.contractor.id ? 404 : 403;
      expect(res.statusCode, `${role}: ${from} → ${to}: ${res.body}`).toBe(expected);
    }
    expect(await statusOf(id)).toBe(from);
  }

  it('the normal path, committee approval: each move only by its roles; illegal moves 409', async () => {
    // Scope: A's building, whose one owner is the world's owner.
    const id = await propose({ buildingIds: [w.a.building.id], contractorOrgId: w.a.orgs.contractor.id, budgetCents: 2_000_000, fundCents: 1_500_000 });
    for (const [to, extra] of [['approved', {}], ['settled', {}], ['public_notice', {}], ['passed', {}]] as const) {
      const res = await move(who('committeeChair'), id, to, extra);
      expect(res.statusCode, to).toBe(409);
      expect(res.json().error.code).toBe('ILLEGAL_TRANSITION');
    }
    const closes = { voteClosesAt: new Date(Date.now() + 7 * DAY).toISOString() };
    await onlyThese(id, 'voting', ['committeeChair'], closes);
    // The detail tells each role what it may do.
    const pmView = await who('propertyManager')({ method: 'GET', url: `${API}/fund-requests/${id}` });
    expect(pmView.json().allowedTransitions).toEqual(['emergency_review', 'withdrawn']);
    expect((await who('owner')({ method: 'GET', url: `${API}/fund-requests/${id}` })).json().allowedTransitions).toEqual([]);
    await moveOk(who('committeeChair'), id, 'voting', closes);

    // The result is the system's (the deadline) or the early close: nobody moves it by hand.
    for (const role of ['committeeChair', 'platformAdmin'] as const) expect((await move(who(role), id, 'passed')).statusCode).toBe(403);
    expect((await move(who('committeeChair'), id, 'public_notice')).statusCode).toBe(409);
    await onlyThese(id, 'withdrawn', ['committeeChair'], { reason: '撤回' });
    expect((await vote(w.a.users.owner.id, id, 'agree')).statusCode).toBe(200);
    expect((await who('committeeChair')({ method: 'POST', url: `${API}/fund-requests/${id}/close-vote` })).json().status).toBe('passed');

    await onlyThese(id, 'public_notice', ['committeeChair']);
    await moveOk(who('committeeChair'), id, 'public_notice');
    // Objections during the notice: owners and the committee, not the property company.
    expect((await who('owner')({ method: 'POST', url: `${API}/fund-requests/${id}/objections`, payload: { body: '报价偏高' } })).statusCode).toBe(201);
    expect((await who('propertyManager')({ method: 'POST', url: `${API}/fund-requests/${id}/objections`, payload: { body: 'x' } })).statusCode).toBe(403);
    const running = await move(who('committeeChair'), id, 'approved');
    expect(running.statusCode).toBe(409);
    expect(running.json().error.code).toBe('NOTICE_RUNNING');
    await t.db.updateTable('fund_requests').set({ notice_ends_at: new Date(Date.now() - 1000) }).where('id', '=', id).execute();
    expect((await move(who('committeeChair'), id, 'closed')).statusCode).toBe(422); // a passed request is approved, not closed
    await onlyThese(id, 'approved', ['committeeChair']);
    const approved = await moveOk(who('committeeChair'), id, 'approved');
    expect(approved.approvedAt).not.toBeNull();
    const filed = await t.db.selectFrom('fund_requests').select(['filed_with_authority_at', 'authority_reviewed_at', 'approved_by']).where('id', '=', id).executeTakeFirstOrThrow();
    expect(filed.filed_with_authority_at).not.toBeNull();
    expect(filed.authority_reviewed_at).toBeNull();
    expect(filed.approved_by).toBe(w.a.users.committeeChair.id);

    // Works start by the committee or those doing the works (the property company, the contractor).
    await onlyThese(id, 'in_works', ['committeeChair', 'propertyManager', 'contractor']);
    const early = await who('contractor')({ method: 'POST', url: `${API}/fund-requests/${id}/works-done` });
    expect(early.statusCode).toBe(409);
    await moveOk(who('contractor'), id, 'in_works');
    expect((await who('propertyManager')({ method: 'POST', url: `${API}/fund-requests/${id}/works-done` })).statusCode).toBe(403);
    expect((await who('contractor', 'b')({ method: 'POST', url: `${API}/fund-requests/${id}/works-done` })).statusCode).toBe(404);
    const done = await who('contractor')({ method: 'POST', url: `${API}/fund-requests/${id}/works-done` });
    expect(done.statusCode, done.body).toBe(200);
    expect(done.json().worksReportedAt).not.toBeNull();

    await onlyThese(id, 'accepted', ['committeeChair'], { actualCostCents: 1_800_000 });
    expect((await move(who('committeeChair'), id, 'accepted')).statusCode).toBe(400); // the actual cost is required
    expect((await move(who('committeeChair'), id, 'accepted', { actualCostCents: 100, fundShareCents: 101 })).statusCode).toBe(422);
    const accepted = await moveOk(who('committeeChair'), id, 'accepted', { actualCostCents: 1_800_000 });
    expect(accepted.fundShareCents).toBe(1_350_000); // 1,500,000 of 2,000,000 budgeted

    await onlyThese(id, 'settled', ['committeeChair']);
    await moveOk(who('committeeChair'), id, 'settled');
    expect((await move(who('committeeChair'), id, 'settled')).statusCode).toBe(409);
    await onlyThese(id, 'closed', ['committeeChair']);
    await moveOk(who('committeeChair'), id, 'closed');
    for (const to of ['withdrawn', 'in_works', 'draft']) {
      const res = await move(who('platformAdmin'), id, to, { reason: 'x' });
      expect(res.statusCode, to).toBe(409);
    }
  });

  it('authority approval (community setting): the authority approves and settles, the committee does not approve', async () => {
    await t.db.updateTable('communities').set({ settings: JSON.stringify({ funds: { approval: 'authority' } }) }).where('id', '=', w.a.community.id).execute();
    let id: string;
    try {
      id = await propose({ path: 'emergency', emergencyKind: 'water_pump_failure', facilityIds: [w.a.facility.id], buildingIds: [w.a.building.id], contractorOrgId: w.a.orgs.contractor.id });
    } finally {
      await t.db.updateTable('communities').set({ settings: JSON.stringify({}) }).where('id', '=', w.a.community.id).execute();
    }
    const detail = await who('authority')({ method: 'GET', url: `${API}/fund-requests/${id}` });
    expect(detail.json().approvalMode).toBe('authority');
    // The proposer (the property manager) or the committee sends it to review.
    await onlyThese(id, 'emergency_review', ['propertyManager', 'committeeChair']);
    await moveOk(who('propertyManager'), id, 'emergency_review');
    await onlyThese(id, 'approved', ['authority']);
    await moveOk(who('authority'), id, 'approved');
    const row = await t.db.selectFrom('fund_requests').select(['authority_reviewed_at', 'filed_with_authority_at', 'approved_by']).where('id', '=', id).executeTakeFirstOrThrow();
    expect(row.authority_reviewed_at).not.toBeNull();
    expect(row.filed_with_authority_at).toBeNull();
    expect(row.approved_by).toBe(w.a.users.authority.id);
    await moveOk(who('propertyManager'), id, 'in_works');
    await moveOk(who('committeeChair'), id, 'accepted', { actualCostCents: 500_000 });
    expect((await who('committeeChair')({ method: 'POST', url: `${API}/fund-requests/${id}/after-fact-notice` })).statusCode).toBe(200);
    await onlyThese(id, 'settled', ['committeeChair', 'authority']);
    await moveOk(who('authority'), id, 'settled');
  });

  it('withdrawal: by the proposer or the committee, with a reason; then nothing moves', async () => {
    const id = await propose({ buildingIds: [w.a.building.id], by: who('committeeMember') });
    await onlyThese(id, 'withdrawn', ['committeeMember', 'committeeChair'], { reason: '不再需要' });
    expect((await move(who('committeeMember'), id, 'withdrawn')).statusCode).toBe(400);
    const res = await moveOk(who('committeeMember'), id, 'withdrawn', { reason: '不再需要' });
    expect(res.status).toBe('withdrawn');
    expect((await move(who('committeeChair'), id, 'voting', { voteClosesAt: new Date(Date.now() + DAY).toISOString() })).statusCode).toBe(409);
  });

  it('who proposes, and funding that does not add up to the budget (422)', async () => {
    for (const role of ['owner', 'technician', 'contractor', 'authority'] as const) {
      const res = await who(role)({ method: 'POST', url: `${API}/fund-requests`, payload: proposal({ buildingIds: [w.a.building.id] }) });
      expect(res.statusCode, role).toBe(403);
    }
    const p = proposal({ buildingIds: [w.a.building.id], budgetCents: 1_000_000, fundCents: 600_000 });
    const short = await who('committeeChair')({ method: 'POST', url: `${API}/fund-requests`, payload: { ...p, funding: [{ source: 'maintenance_fund', amountCents: 600_000 }, { source: 'contractor_concession', amountCents: 399_999 }] } });
    expect(short.statusCode).toBe(422);
    expect(short.json().error.details).toEqual({ budgetCents: 1_000_000, fundedCents: 999_999 });
    const over = await who('committeeChair')({ method: 'POST', url: `${API}/fund-requests`, payload: { ...p, funding: [{ source: 'maintenance_fund', amountCents: 1_000_001 }] } });
    expect(over.statusCode).toBe(422);
    const split = await who('committeeChair')({
      method: 'POST',
      url: `${API}/fund-requests`,
      payload: {
        ...p,
        budgetLines: [{ description: 'a', amountCents: 333_333 }, { description: 'b', amountCents: 666_667 }],
        funding: [
          { source: 'maintenance_fund', amountCents: 400_000 },
          { source: 'government_subsidy', amountCents: 250_000 },
          { source: 'street_community', amountCents: 150_000 },
          { source: 'property_company', amountCents: 100_000 },
          { source: 'contractor_concession', amountCents: 99_999 },
          { source: 'other', amountCents: 1 },
        ],
      },
    });
    expect(split.statusCode, split.body).toBe(201);
    expect(split.json().budgetCents).toBe(1_000_000);
    expect(await t.db.selectFrom('fund_requests').select('id').where('title', '=', p.title).execute()).toHaveLength(1);
  });
});

describe('the emergency path', () => {
  let p1Ticket: string;
  let p3Ticket: string;
  beforeAll(async () => {
    const mk = async (priority: string) => {
      const res = await who('propertyManager')({ method: 'POST', url: `${API}/tickets`, payload: { communityId: w.a.community.id, title: `水泵故障-${priority}`, category: 'water_pump', priority } });
      expect(res.statusCode, res.body).toBe(201);
      return res.json().id as string;
    };
    p1Ticket = await mk('P1');
    p3Ticket = await mk('P3');
  });

  it('needs an emergency kind and a P1 ticket or a facility, and is for using the fund', async () => {
    const base = { path: 'emergency' as const, buildingIds: [w.a.building.id] };
    const cases: Array<[string, object, number]> = [
      ['no kind', proposal({ ...base, ticketIds: [p1Ticket] }), 400],
      ['an unknown kind', proposal({ ...base, emergencyKind: 'bad_weather', ticketIds: [p1Ticket] }), 400],
      ['no ticket or facility', proposal({ ...base, emergencyKind: 'roof_leak' }), 422],
      ['a P3 ticket only', proposal({ ...base, emergencyKind: 'roof_leak', ticketIds: [p3Ticket] }), 422],
      ['another community’s facility', proposal({ ...base, emergencyKind: 'roof_leak', facilityIds: [w.b.facility.id] }), 404],
      ['a ¾ decision', proposal({ ...base, emergencyKind: 'roof_leak', ticketIds: [p1Ticket], decisionType: 'renovation' }), 422],
      ['a kind on the normal path', proposal({ buildingIds: [w.a.building.id], emergencyKind: 'roof_leak' }), 400],
    ];
    for (const [what, payload, status] of cases) {
      const res = await who('committeeChair')({ method: 'POST', url: `${API}/fund-requests`, payload });
      expect(res.statusCode, `${what}: ${res.body}`).toBe(status);
    }
    const byTicket = await who('committeeChair')({ method: 'POST', url: `${API}/fund-requests`, payload: proposal({ ...base, emergencyKind: 'elevator_danger', ticketIds: [p1Ticket] }) });
    expect(byTicket.statusCode, byTicket.body).toBe(201);
    expect(byTicket.json()).toMatchObject({ path: 'emergency', emergencyKind: 'elevator_danger', status: 'draft' });
    // No owners' vote on this path; and a normal request has no emergency review.
    const noVote = await move(who('committeeChair'), byTicket.json().id, 'voting', { voteClosesAt: new Date(Date.now() + DAY).toISOString() });
    expect(noVote.statusCode).toBe(422);
    const normal = await propose({ buildingIds: [w.a.building.id] });
    expect((await move(who('committeeChair'), normal, 'emergency_review')).statusCode).toBe(422);
  });

  it('goes to review and approval without a vote, and cannot be settled before its after-the-fact notice; the committee is reminded daily until then', async () => {
    const id = await propose({ path: 'emergency', emergencyKind: 'roof_leak', ticketIds: [p1Ticket], buildingIds: [w.a.building.id], contractorOrgId: w.a.orgs.contractor.id });
    await moveOk(who('propertyManager'), id, 'emergency_review');
    const approved = await moveOk(who('committeeChair'), id, 'approved');
    expect(approved.outcome).toBeNull();
    expect(await t.db.selectFrom('fund_voters').select('voter_key').where('request_id', '=', id).execute()).toEqual([]);
    expect(await t.db.selectFrom('fund_ballots').select('voter_key').where('request_id', '=', id).execute()).toEqual([]);

    // Reminders: the first a day after approval; each one schedules the next.
    const chairReminders = async () =>
      (await notificationsFor('fund.emergency_notice_due', `fund-emergency-notice-${id}-`)).filter((n) => n.channel === 'in_app' && n.recipient_user_id === w.a.users.committeeChair.id).length;
    const first = await timersOf(id, 'fund.emergency-notice');
    expect(first).toHaveLength(1);
    expect(first[0]!.due_at.getTime()).toBeGreaterThan(Date.now() + DAY - 60_000);
    await fireTimer(first[0]!.id);
    expect(await chairReminders()).toBe(1);
    const second = (await timersOf(id, 'fund.emergency-notice')).filter((x) => x.state === 'pending');
    expect(second).toHaveLength(1);
    await fireTimer(second[0]!.id);
    expect(await chairReminders()).toBe(2);
    // The authority is told too.
    expect((await notificationsFor('fund.emergency_notice_due', `fund-emergency-notice-${id}-`)).some((n) => n.recipient_user_id === w.a.users.authority.id)).toBe(true);
    const third = (await timersOf(id, 'fund.emergency-notice')).filter((x) => x.state === 'pending');
    expect(third).toHaveLength(1);

    await moveOk(who('contractor'), id, 'in_works');
    await moveOk(who('committeeChair'), id, 'accepted', { actualCostCents: 300_000 });
    const blocked = await move(who('committeeChair'), id, 'settled');
    expect(blocked.statusCode).toBe(422);
    expect(blocked.json().error.message).toMatch(/after the fact/);
    expect(await statusOf(id)).toBe('accepted');
    expect(await t.db.selectFrom('unit_ledger_entries').select('id').where('request_id', '=', id).execute()).toEqual([]);

    const notice = (by: Call) => by({ method: 'POST', url: `${API}/fund-requests/${id}/after-fact-notice` });
    expect((await notice(who('propertyManager'))).statusCode).toBe(403);
    expect((await notice(who('owner'))).statusCode).toBe(403);
    const recorded = await notice(who('committeeChair'));
    expect(recorded.statusCode, recorded.body).toBe(200);
    expect(recorded.json().afterFactNoticeAt).not.toBeNull();
    expect((await notice(who('committeeChair'))).statusCode).toBe(409);
    // No more reminders: the pending one is cancelled, and firing it does nothing.
    expect((await t.db.selectFrom('timers').select('state').where('id', '=', third[0]!.id).executeTakeFirstOrThrow()).state).toBe('cancelled');
    await fireTimer(third[0]!.id);
    expect(await chairReminders()).toBe(2);
    expect((await timersOf(id, 'fund.emergency-notice')).filter((x) => x.state === 'pending')).toEqual([]);

    await moveOk(who('committeeChair'), id, 'settled');
    // A normal request has no after-the-fact notice.
    const normal = await propose({ buildingIds: [w.a.building.id] });
    expect((await notice(who('committeeChair'))).statusCode).toBe(409);
    expect((await who('committeeChair')({ method: 'POST', url: `${API}/fund-requests/${normal}/after-fact-notice` })).statusCode).toBe(422);
  });
});

describe('settlement and the unit ledgers', () => {
  it('apportions the fund share by area exactly, debits each ledger once in one transaction, flags and reminds low accounts', async () => {
    const building = await makeBuilding(t.db, w.a.community.id);
    // 37 units with awkward areas (hundredths of m²) and owners known by email only.
    const UNITS = 37;
    const units: Array<{ id: string; number: string; area: number; first: number; ownerName: string; email: string }> = [];
    for (let i = 0; i < UNITS; i++) {
      const area = 3_001 + ((i * 7_919) % 13_997); // 30.01 m² … 170 m², mostly coprime with each other
      const first = i % 3 === 0 ? 20_000 : 2_000_000; // a third with small first deposits
      const email = `ledger-${i}-${uniq()}@test.upkeep.cn`;
      const ownerName = `欧阳明${i}`;
      const o = await t.db.insertInto('owners').values({ community_id: w.a.community.id, name: ownerName, email, phone: null, identity_key: `e:${email}` }).returning('id').executeTakeFirstOrThrow();
      const u = await t.db
        .insertInto('units')
        .values({ community_id: w.a.community.id, building_id: building.id, number: `S${String(i).padStart(2, '0')}`, area_centi_m2: area, first_deposit_cents: first })
        .returning('id')
        .executeTakeFirstOrThrow();
      await t.db.insertInto('unit_owners').values({ unit_id: u.id, owner_id: o.id }).execute();
      units.push({ id: u.id, number: `S${String(i).padStart(2, '0')}`, area, first, ownerName, email });
    }
    // Opening balances equal to the first deposits, through the CSV import.
    const csv = ['楼栋,房号,余额', ...units.map((u) => `${building.name},${u.number},${(u.first / 100).toFixed(2)}`)].join('\n');
    const imported = await who('committeeChair')({ method: 'POST', url: `${API}/communities/${w.a.community.id}/ledger/opening-balances`, headers: { 'content-type': 'text/csv' }, payload: csv });
    expect(imported.statusCode, imported.body).toBe(201);
    expect(imported.json()).toEqual({ units: UNITS, totalCents: units.reduce((s, u) => s + u.first, 0) });

    const budget = 1_999_999;
    const fundBudget = 1_777_777;
    const id = await propose({
      path: 'emergency',
      emergencyKind: 'drainage_failure',
      facilityIds: [w.a.facility.id],
      buildingIds: [building.id],
      budgetCents: budget,
      fundCents: fundBudget,
      contractorOrgId: w.a.orgs.contractor.id,
    });
    await moveOk(who('committeeChair'), id, 'emergency_review');
    await moveOk(who('committeeChair'), id, 'approved');
    await moveOk(who('committeeChair'), id, 'in_works');
    const actual = 1_234_567;
    const accepted = await moveOk(who('committeeChair'), id, 'accepted', { actualCostCents: actual });
    const share = Number((BigInt(actual) * BigInt(fundBudget)) / BigInt(budget));
    expect(accepted.fundShareCents).toBe(share);
    expect((await who('committeeChair')({ method: 'POST', url: `${API}/fund-requests/${id}/after-fact-notice` })).statusCode).toBe(200);

    // One transaction: a debit that cannot be written (a unit already debited for this request)
    // leaves no debit, no reminder and the status as it was.
    const sabotage = await t.db
      .insertInto('unit_ledger_entries')
      .values({ unit_id: units[UNITS - 1]!.id, community_id: w.a.community.id, request_id: id, kind: 'debit', amount_cents: -1, note: 'planted' })
      .returning('id')
      .executeTakeFirstOrThrow();
    const failed = await move(who('committeeChair'), id, 'settled');
    expect(failed.statusCode).toBe(409);
    expect(await statusOf(id)).toBe('accepted');
    expect(await t.db.selectFrom('unit_ledger_entries').select('id').where('request_id', '=', id).execute()).toHaveLength(1);
    expect(await notificationsFor('fund.top_up', `fund-top-up-${id}`)).toEqual([]);
    await t.db.deleteFrom('unit_ledger_entries').where('id', '=', sabotage.id).execute();

    const settled = await moveOk(who('committeeChair'), id, 'settled');
    expect(settled.settledAt).not.toBeNull();

    const debits = await t.db.selectFrom('unit_ledger_entries').select(['unit_id', 'amount_cents', 'created_at']).where('request_id', '=', id).where('kind', '=', 'debit').execute();
    expect(debits).toHaveLength(UNITS);
    expect(new Set(debits.map((d) => d.unit_id)).size).toBe(UNITS);
    expect(debits.reduce((s, d) => s - d.amount_cents, 0)).toBe(share);
    // Written by one transaction: one transaction time.
    expect(new Set(debits.map((d) => d.created_at.getTime())).size).toBe(1);
    const sumArea = BigInt(units.reduce((s, u) => s + u.area, 0));
    const byUnit = new Map(debits.map((d) => [d.unit_id, -d.amount_cents]));
    for (const u of units) {
      // |part − share × area / Σarea| < 1 cent, exactly.
      const diff = BigInt(byUnit.get(u.id)!) * sumArea - BigInt(share) * BigInt(u.area);
      expect(diff < 0n ? -diff : diff).toBeLessThan(sumArea);
    }

    // Below 30% of the first deposit: flagged in the ledger, its owner reminded to top up.
    const low = units.filter((u) => (u.first - byUnit.get(u.id)!) * 10 < u.first * 3);
    expect(low.length).toBeGreaterThan(0);
    expect(low.length).toBeLessThan(UNITS);
    // Notices follow right after the settlement commits (its 'fund.settled-notify' timer).
    const [notifyTimer] = await timersOf(id, 'fund.settled-notify');
    expect(notifyTimer?.state).toBe('pending');
    await fireTimer(notifyTimer!.id);
    const topUps = await notificationsFor('fund.top_up', `fund-top-up-${id}`);
    expect(new Set(topUps.map((n) => n.recipient_email))).toEqual(new Set(low.map((u) => u.email)));
    for (const u of [low[0]!, units.find((x) => !low.includes(x))!]) {
      const ledger = await who('committeeChair')({ method: 'GET', url: `${API}/units/${u.id}/ledger` });
      expect(ledger.statusCode).toBe(200);
      expect(ledger.json()).toMatchObject({ firstDepositCents: u.first, balanceCents: u.first - byUnit.get(u.id)!, belowTopUpThreshold: low.includes(u) });
      expect(ledger.json().entries.map((x: { kind: string }) => x.kind)).toEqual(['opening_balance', 'debit']);
      expect(ledger.json().entries[1]).toMatchObject({ requestId: id, amountCents: -byUnit.get(u.id)!, balanceCents: u.first - byUnit.get(u.id)! });
    }
    const audit = await t.db.selectFrom('audit_events').select('after').where('entity_id', '=', id).where('action', '=', 'fund.apportioned').executeTakeFirstOrThrow();
    expect(new Set((audit.after as { belowThreshold: string[] }).belowThreshold)).toEqual(new Set(low.map((u) => u.id)));

    // The notice: every unit, the owners' names masked, each unit's share.
    const notice = await who('owner')({ method: 'GET', url: `${API}/fund-requests/${id}/notice` });
    expect(notice.statusCode).toBe(200);
    const rows = notice.json().units as Array<{ unitId: string; number: string; owners: string[]; shareCents: number }>;
    expect(rows).toHaveLength(UNITS);
    expect(rows.map((r) => r.number)).toEqual(units.map((u) => u.number));
    for (const r of rows) {
      expect(r.shareCents).toBe(byUnit.get(r.unitId));
      expect(r.owners).toEqual(['欧***']);
    }
    for (const u of units) expect(notice.body).not.toContain(u.ownerName);
    expect(notice.body).not.toContain('@test.upkeep.cn');
    expect(rows.reduce((s, r) => s + r.shareCents, 0)).toBe(share);

    // The community summary counts the spend; settling twice is illegal.
    const summary = await who('committeeChair')({ method: 'GET', url: `${API}/communities/${w.a.community.id}/fund-summary` });
    expect(summary.json().settledFundShareCents).toBeGreaterThanOrEqual(share);
    expect((await move(who('committeeChair'), id, 'settled')).statusCode).toBe(409);
  });

  it('a unit’s ledger: its owner, the committee, the authority and staff read it; other owners and other communities get 404', async () => {
    const neighbourBuilding = await makeBuilding(t.db, w.a.community.id);
    const neighbourUser = await makeUser(t.db);
    await makeUnit(t.db, w.a.community.id, neighbourBuilding.id, { ownerUserId: neighbourUser.id });
    const url = `${API}/units/${w.a.unit.id}/ledger`;
    for (const role of ['owner', 'committeeChair', 'committeeMember', 'authority', 'propertyManager', 'technician', 'platformAdmin'] as const) {
      const res = await who(role)({ method: 'GET', url });
      expect(res.statusCode, role).toBe(200);
      expect(res.json().unitId).toBe(w.a.unit.id);
    }
    expect((await user(neighbourUser.id)({ method: 'GET', url })).statusCode).toBe(404);
    expect((await who('contractor')({ method: 'GET', url })).statusCode).toBe(404);
    for (const role of ['owner', 'committeeChair', 'authority', 'propertyManager', 'contractor'] as const) {
      const res = await who(role, 'b')({ method: 'GET', url });
      expect(res.statusCode, role).toBe(404);
      expect(res.json().error.code).toBe('NOT_FOUND');
    }
    expect((await who('owner')({ method: 'GET', url: `${API}/units/${randomUUID()}/ledger` })).statusCode).toBe(404);
  });

  it('opening balances: all or nothing with row-numbered errors; a unit’s second opening balance is refused', async () => {
    const building = await makeBuilding(t.db, w.a.community.id);
    const u1 = await addUnit(building.id, 9_000, [], { number: '101' });
    const u2 = await addUnit(building.id, 9_000, [], { number: '102' });
    const u3 = await addUnit(building.id, 9_000, [], { number: '103' });
    const url = `${API}/communities/${w.a.community.id}/ledger/opening-balances`;
    const post = (by: Call, body: string) => by({ method: 'POST', url, headers: { 'content-type': 'text/csv' }, payload: body });
    const entriesOf = async (unitIds: string[]) => t.db.selectFrom('unit_ledger_entries').select(['unit_id', 'amount_cents']).where('unit_id', 'in', unitIds).execute();
    const B = building.name;

    const bad = await post(who('committeeChair'), `building,unit,balance\n${B},101,1000.00\n${B},999,5.00\n${B},102,12.345\n${B},101,3.00\n`);
    expect(bad.statusCode).toBe(400);
    expect(bad.json().error.details.errors).toEqual([
      { row: 3, message: expect.stringContaining('no unit') },
      { row: 4, message: expect.stringContaining('12.345') },
      { row: 5, message: expect.stringContaining('twice') },
    ]);
    expect(await entriesOf([u1.id, u2.id, u3.id])).toEqual([]);

    for (const [role, status] of [['propertyManager', 403], ['owner', 403], ['committeeMember', 403], ['authority', 403]] as const) {
      expect((await post(who(role), `${B},101,1.00\n`)).statusCode, role).toBe(status);
    }
    expect((await post(who('committeeChair', 'b'), `${B},101,1.00\n`)).statusCode).toBe(404);

    const ok = await post(who('committeeChair'), `${B},101,1000.00\n${B},102,0.01\n`);
    expect(ok.statusCode, ok.body).toBe(201);
    expect(ok.json()).toEqual({ units: 2, totalCents: 100_001 });

    const again = await post(who('committeeChair'), `${B},103,50.00\n${B},102,7.00\n`);
    expect(again.statusCode).toBe(400);
    expect(again.json().error.details.errors).toEqual([{ row: 2, message: expect.stringContaining('already has an opening balance') }]);
    expect(await entriesOf([u3.id])).toEqual([]);

    // Two imports of the same unit at once: exactly one wins.
    const racing = await Promise.all([post(who('committeeChair'), `${B},103,1.00\n`), post(who('committeeChair'), `${B},103,2.00\n`)]);
    expect(racing.map((r) => r.statusCode).sort()).toEqual([201, 400]);
    expect(await entriesOf([u3.id])).toHaveLength(1);
  });
});

describe('access to fund requests', () => {
  let voting: string;
  let mine: string;
  let notMine: string;
  let docId: string;
  beforeAll(async () => {
    voting = await propose({ buildingIds: [w.a.building.id] });
    await openVote(voting);
    docId = await upload(who('committeeChair'), voting, 'plan', '施工方案');
    mine = await propose({ buildingIds: [w.a.building.id], contractorOrgId: w.a.orgs.contractor.id });
    notMine = await propose({ buildingIds: [w.a.building.id] });
  });

  it('another community’s users get 404 on every fund route, and none of the record', async () => {
    const title = (await t.db.selectFrom('fund_requests').select('title').where('id', '=', voting).executeTakeFirstOrThrow()).title;
    const calls: Array<[string, (by: Call) => Promise<LightMyRequestResponse>]> = [
      ['GET detail', (by) => by({ method: 'GET', url: `${API}/fund-requests/${voting}` })],
      ['GET tally', (by) => by({ method: 'GET', url: `${API}/fund-requests/${voting}/tally` })],
      ['GET notice', (by) => by({ method: 'GET', url: `${API}/fund-requests/${voting}/notice` })],
      ['POST transitions', (by) => move(by, voting, 'withdrawn', { reason: 'x' })],
      ['POST close-vote', (by) => by({ method: 'POST', url: `${API}/fund-requests/${voting}/close-vote` })],
      ['POST ballots', (by) => ballot(by, voting, { choice: 'agree' })],
      ['POST objections', (by) => by({ method: 'POST', url: `${API}/fund-requests/${voting}/objections`, payload: { body: 'x' } })],
      ['POST works-done', (by) => by({ method: 'POST', url: `${API}/fund-requests/${voting}/works-done` })],
      ['POST after-fact-notice', (by) => by({ method: 'POST', url: `${API}/fund-requests/${voting}/after-fact-notice` })],
      ['POST documents', (by) => uploadRaw(by, voting, [...fields('quote', 'x'), pdfPart()])],
      ['GET document', (by) => download(by, voting, docId)],
      ['GET list of A', (by) => by({ method: 'GET', url: `${API}/fund-requests?communityId=${w.a.community.id}` })],
      ['POST request in A', (by) => by({ method: 'POST', url: `${API}/fund-requests`, payload: proposal({ buildingIds: [w.a.building.id] }) })],
      ['GET ledger', (by) => by({ method: 'GET', url: `${API}/units/${w.a.unit.id}/ledger` })],
      ['POST opening balances', (by) => by({ method: 'POST', url: `${API}/communities/${w.a.community.id}/ledger/opening-balances`, headers: { 'content-type': 'text/csv' }, payload: `${w.a.building.name},${w.a.unit.number},1.00\n` })],
      ['GET fund summary', (by) => by({ method: 'GET', url: `${API}/communities/${w.a.community.id}/fund-summary` })],
    ];
    for (const role of ['propertyManager', 'technician', 'committeeChair', 'committeeMember', 'owner', 'contractor', 'authority'] as const) {
      for (const [what, call] of calls) {
        const res = await call(who(role, 'b'));
        expect(res.statusCode, `${role} ${what}: ${res.body}`).toBe(404);
        expect(res.json().error.code).toBe('NOT_FOUND');
        expect(res.body).not.toContain(title);
      }
      const list = await who(role, 'b')({ method: 'GET', url: `${API}/fund-requests?limit=200` });
      expect(list.statusCode).toBe(200);
      expect(list.json().items.filter((r: { communityId: string }) => r.communityId === w.a.community.id)).toEqual([]);
    }
    expect(await statusOf(voting)).toBe('voting');
    expect(await t.db.selectFrom('fund_objections').select('id').where('request_id', '=', voting).execute()).toEqual([]);
  });

  it('a contractor sees only the requests it works on, in the list too', async () => {
    const contractor = who('contractor');
    expect((await contractor({ method: 'GET', url: `${API}/fund-requests/${mine}` })).statusCode).toBe(200);
    for (const path of ['', '/tally', '/notice']) {
      expect((await contractor({ method: 'GET', url: `${API}/fund-requests/${notMine}${path}` })).statusCode, path).toBe(404);
      expect((await contractor({ method: 'GET', url: `${API}/fund-requests/${voting}${path}` })).statusCode, path).toBe(404);
    }
    for (const query of ['', `&communityId=${w.a.community.id}`]) {
      const list = await contractor({ method: 'GET', url: `${API}/fund-requests?limit=200${query}` });
      expect(list.statusCode).toBe(200);
      const ids = list.json().items.map((r: { id: string }) => r.id);
      expect(ids, query).toContain(mine);
      expect(ids, query).not.toContain(notMine);
      expect(ids, query).not.toContain(voting);
    }
  });

  it('a contractor hired for the works sees its request even without a duty in the community', async () => {
    const hired = await makeOrg(t.db, 'contractor');
    const worker = await makeUser(t.db);
    await addMembership(t.db, worker.id, hired.id, 'manager');
    const id = await propose({ buildingIds: [w.a.building.id], contractorOrgId: hired.id });
    const res = await user(worker.id)({ method: 'GET', url: `${API}/fund-requests/${id}` });
    expect(res.statusCode, res.body).toBe(200);
    const list = await user(worker.id)({ method: 'GET', url: `${API}/fund-requests?limit=200` });
    expect(list.json().items.map((r: { id: string }) => r.id)).toEqual([id]);
    expect((await user(worker.id)({ method: 'GET', url: `${API}/fund-requests/${notMine}` })).statusCode).toBe(404);
    // It adds its invoice, but nothing else of the community opens to it.
    expect((await uploadRaw(user(worker.id), id, [...fields('invoice', '发票'), pdfPart()])).statusCode).toBe(201);
    expect((await user(worker.id)({ method: 'GET', url: `${API}/communities/${w.a.community.id}/fund-summary` })).statusCode).toBe(404);
  });

  it('owners of the community read requests, their tally and notice, even outside the scope', async () => {
    const building = await makeBuilding(t.db, w.a.community.id);
    const outsider = await makeOwner();
    await addUnit(building.id, 5_000, [outsider]);
    for (const by of [who('owner'), user(outsider.userId)]) {
      for (const path of ['', '/tally', '/notice']) {
        const res = await by({ method: 'GET', url: `${API}/fund-requests/${voting}${path}` });
        expect(res.statusCode, `${path}: ${res.body}`).toBe(200);
      }
      expect((await download(by, voting, docId)).statusCode).toBe(200);
      const list = await by({ method: 'GET', url: `${API}/fund-requests?communityId=${w.a.community.id}&limit=200` });
      expect(list.json().items.map((r: { id: string }) => r.id)).toEqual(expect.arrayContaining([voting, mine, notMine]));
    }
    // Reading is all: the outsider has no ballot here.
    expect((await vote(outsider.userId, voting, 'agree')).statusCode).toBe(403);
  });

  it('the audit chain of the community is intact after all of the above', async () => {
    const verify = await who('committeeChair')({ method: 'GET', url: `${API}/audit/communities/${w.a.community.id}/verify` });
    expect(verify.json().ok).toBe(true);
  });
});
