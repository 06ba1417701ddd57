import { randomBytes } from 'node:crypto';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createQueue, type UpkeepQueue } from '../src/jobs/queue.js';
import { LogChannel } from '../src/modules/notifications/channels.js';
import { handleDigestCommunity, handleDigestTick, localDayAndHour, type NotificationJobContext } from '../src/modules/notifications/notifications.jobs.js';
import { notify } from '../src/modules/notifications/notifications.service.js';
import { recipients, type Recipient } from '../src/modules/notifications/recipients.js';
import { escapeHtml, formatDateTime, render } from '../src/modules/notifications/templates.js';
import { createTestApp, testConfig, type TestApp } from './helpers/app.js';
import { addMembership, as, makeBuilding, makeCommunity, makeFacility, makeOrg, makeUnit, makeUser } from './helpers/factories.js';
import { deletePrefix, uniquePrefix } from './helpers/workers.js';

let t: TestApp;
const prefixes: string[] = [];
const queues: UpkeepQueue[] = [];
const logger = pino({ level: 'silent' });
const DAY = 86_400_000;
const uniq = () => randomBytes(4).toString('hex');

beforeAll(async () => {
  t = await createTestApp();
});

afterAll(async () => {
  for (const q of queues) await q.close();
  for (const p of prefixes) await deletePrefix(p);
  await t?.close();
});

const ids = (list: Recipient[]) => list.map((r) => r.userId ?? `email:${r.email}`).sort();

describe('templates', () => {
  const validTo = '2026-12-31T16:30:00.000Z'; // 2027-01-01 00:30 in Shanghai, 2026-12-31 11:30 in New York

  it('renders zh-CN and en, with dates in the community’s time zone', () => {
    const payload = { communityName: '翠苑小区', organizationName: '绿城物业', validTo, daysBefore: 7, category: null };
    const zh = render('duty.contract_ending', payload, { locale: 'zh-CN', timeZone: 'Asia/Shanghai', recipientName: '王经理' });
    expect(zh.subject).toBe('【翠苑小区】维保责任合同将于 7 天后到期');
    expect(zh.text).toContain('王经理，您好：');
    expect(zh.text).toContain('绿城物业 对 翠苑小区 的维保责任将于 2027/01/01 GMT+8 00:30 到期');
    expect(zh.html).toContain('<html lang="zh-CN">');
    expect(zh.html).toContain('2027/01/01 GMT+8 00:30');

    const en = render('duty.contract_ending', payload, { locale: 'en', timeZone: 'Asia/Shanghai', recipientName: 'Ms Wang' });
    expect(en.subject).toBe('[翠苑小区] Upkeep duty contract ends in 7 days');
    expect(en.text).toContain('Hello Ms Wang,');
    // Midnight is 00:30, not 24:30.
    expect(en.text).toContain('ends on 01/01/2027, 00:30 GMT+8.');
    expect(en.html).toContain('<html lang="en">');

    const ny = render('duty.contract_ending', payload, { locale: 'en', timeZone: 'America/New_York', recipientName: 'Ms Wang' });
    expect(ny.text).toContain('ends on 12/31/2026, 11:30 EST.');
    const nyZh = render('duty.contract_ending', payload, { locale: 'zh-CN', timeZone: 'America/New_York', recipientName: '王经理' });
    expect(nyZh.text).toContain('2026/12/31 GMT-5 11:30');

    expect(formatDateTime(new Date('2026-07-01T04:05:00Z'), { locale: 'en', timeZone: 'America/New_York' })).toBe('07/01/2026, 00:05 EDT');
    expect(formatDateTime('2026-07-01T04:05:00Z', { locale: 'zh-CN', timeZone: 'Asia/Shanghai' })).toBe('2026/07/01 GMT+8 12:05');
  });

  it('renders the daily digest in both languages', () => {
    const payload = {
      communityName: '翠苑小区',
      day: '2026-03-02',
      faultyFacilities: [{ name: '北门摄像头', category: 'camera', status: 'faulty' }],
      endingDuties: [{ organizationName: '绿城物业', validTo }],
    };
    const zh = render('digest.daily', payload, { locale: 'zh-CN', timeZone: 'Asia/Shanghai', recipientName: '王经理' });
    expect(zh.subject).toBe('【翠苑小区】2026-03-02 待办汇总');
    expect(zh.text).toContain('1 项设施未恢复正常，1 项责任合同即将到期');
    expect(zh.text).toContain('- 北门摄像头 (camera): faulty');
    expect(zh.text).toContain('- 绿城物业 的责任于 2027/01/01 GMT+8 00:30 到期');
    expect(zh.html).toContain('<li>北门摄像头 (camera): faulty</li>');
    const en = render('digest.daily', payload, { locale: 'en', timeZone: 'America/New_York', recipientName: 'Ms Wang' });
    expect(en.subject).toBe('[翠苑小区] Open work for 2026-03-02');
    expect(en.text).toContain("绿城物业's duty ends 12/31/2026, 11:30 EST");
    expect(en.html).toContain('绿城物业&#39;s duty ends 12/31/2026, 11:30 EST');
  });

  it('escapes user-provided text in HTML and keeps it raw in the text part', () => {
    const evil = '<script>alert("x")</script>';
    const name = '<img src=x onerror=alert(1)>';
    const body = `Tom & Jerry's <b>notice</b>\n${evil}\n\nSecond paragraph`;
    for (const locale of ['zh-CN', 'en'] as const) {
      const r = render('message.plain', { title: `Notice ${evil}`, body }, { locale, timeZone: 'Asia/Shanghai', recipientName: name });
      expect(r.html).not.toContain('<script>');
      expect(r.html).not.toContain('<img');
      expect(r.html).not.toContain('<b>notice');
      expect(r.html).toContain('&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;');
      expect(r.html).toContain('Tom &amp; Jerry&#39;s &lt;b&gt;notice&lt;/b&gt;<br>&lt;script&gt;');
      expect(r.html).toContain('&lt;img src=x onerror=alert(1)&gt;');
      expect(r.html).toContain('<title>Notice &lt;script&gt;');
      expect(r.html).toContain('<p>Second paragraph</p>');
      // Plain text is not HTML: shown as written.
      expect(r.text).toContain(`Tom & Jerry's <b>notice</b>\n${evil}`);
      expect(r.text).toContain(name);
      expect(r.subject).toBe(`Notice ${evil}`);
    }
    const duty = render(
      'duty.contract_ending',
      { communityName: 'A&B <Court>', organizationName: evil, validTo, daysBefore: 30, category: 'camera' },
      { locale: 'en', timeZone: 'Asia/Shanghai', recipientName: 'X' },
    );
    expect(duty.html).not.toContain('<script>');
    expect(duty.html).toContain(escapeHtml(evil));
    expect(duty.html).toContain('<title>[A&amp;B &lt;Court&gt;]');
    expect(duty.text).toContain(evil);
    const digest = render(
      'digest.daily',
      { communityName: 'C', day: '2026-03-02', faultyFacilities: [{ name: evil, category: 'camera', status: 'faulty' }], endingDuties: [] },
      { locale: 'zh-CN', timeZone: 'Asia/Shanghai', recipientName: 'X' },
    );
    expect(digest.html).not.toContain('<script>');
    expect(digest.html).toContain(`<li>${escapeHtml(evil)} (camera): faulty</li>`);
  });
});

describe('notify()', () => {
  it('inserts one notification per recipient and channel, however often it is called', async () => {
    const user = await makeUser(t.db, { locale: 'en' });
    const ownerEmail = `Owner-${uniq()}@Example.test`;
    const list: Recipient[] = [
      { userId: user.id, email: user.email, name: user.name, locale: 'en' },
      { userId: user.id, email: user.email, name: user.name, locale: 'en' },
      { userId: null, email: ownerEmail, name: '业主', locale: 'zh-CN' },
      { userId: null, email: ownerEmail.toLowerCase(), name: '业主', locale: 'zh-CN' },
    ];
    const key = `test-notify-${uniq()}`;
    const input = { dedupeKey: key, communityId: null, timeZone: 'Asia/Shanghai', template: 'message.plain' as const, payload: { title: 'Hi', body: 'There' }, recipients: list };
    const first = await t.db.transaction().execute((trx) => notify(trx, input));
    expect(first).toHaveLength(3);
    const second = await t.db.transaction().execute((trx) => notify(trx, input));
    expect(second).toHaveLength(0);
    // Racing callers: the unique dedupe key lets one win.
    const raced = await Promise.all([1, 2, 3].map(() => t.db.transaction().execute((trx) => notify(trx, input))));
    expect(raced.flat()).toHaveLength(0);

    const rows = await t.db.selectFrom('notifications').selectAll().where('dedupe_key', 'like', `${key}|%`).orderBy('dedupe_key').execute();
    expect(rows.map((r) => [r.dedupe_key, r.channel, r.locale, r.status])).toEqual(
      [
        [`${key}|${user.id}|email`, 'email', 'en', 'pending'],
        [`${key}|${user.id}|in_app`, 'in_app', 'en', 'sent'],
        [`${key}|email:${ownerEmail.toLowerCase()}|email`, 'email', 'zh-CN', 'pending'],
      ].sort((a, b) => (a[0] as string).localeCompare(b[0] as string)),
    );
    expect(rows.find((r) => r.channel === 'in_app')?.body_html).toBeNull();
    expect(rows.find((r) => r.channel === 'email' && r.recipient_user_id === user.id)?.body_html).toContain('<html lang="en">');

    // In-app only.
    const key2 = `test-notify-${uniq()}`;
    const inApp = await t.db.transaction().execute((trx) => notify(trx, { ...input, dedupeKey: key2, emailToo: false }));
    expect(inApp.map((r) => r.channel)).toEqual(['in_app']);
  });

  it('writes nothing when the transaction rolls back', async () => {
    const user = await makeUser(t.db);
    const key = `test-notify-rollback-${uniq()}`;
    await expect(
      t.db.transaction().execute(async (trx) => {
        await notify(trx, { dedupeKey: key, communityId: null, timeZone: 'Asia/Shanghai', template: 'message.plain', payload: { title: 'x', body: 'y' }, recipients: [{ userId: user.id, email: user.email, name: user.name, locale: 'zh-CN' }] });
        throw new Error('rolled back');
      }),
    ).rejects.toThrow('rolled back');
    expect(await t.db.selectFrom('notifications').select('id').where('dedupe_key', 'like', `${key}|%`).execute()).toHaveLength(0);
  });
});

describe('recipients by role', () => {
  it('duty holders’ managers: active duties only, managers only, by category', async () => {
    const { db } = t;
    const c = await makeCommunity(db);
    const member = async (orgId: string, role: 'manager' | 'staff' | 'member' | 'chair' | 'viewer', opts: { disabled?: boolean } = {}) => {
      const u = await makeUser(db);
      await addMembership(db, u.id, orgId, role);
      if (opts.disabled) await db.updateTable('users').set({ disabled_at: new Date() }).where('id', '=', u.id).execute();
      return u;
    };
    const duty = (orgId: string, basis: 'service_contract' | 'delegated_contractor', from: Date, to: Date | null, category: string | null = null) =>
      db.insertInto('duty_assignments').values({ community_id: c.id, organization_id: orgId, basis, valid_from: from, valid_to: to, facility_category: category }).execute();
    const now = Date.now();
    const active = await makeOrg(db, 'property_company');
    await duty(active.id, 'service_contract', new Date(now - 30 * DAY), null);
    const activeManager = await member(active.id, 'manager');
    await member(active.id, 'staff');
    await member(active.id, 'manager', { disabled: true });
    const expired = await makeOrg(db, 'property_company');
    await duty(expired.id, 'service_contract', new Date(now - 60 * DAY), new Date(now - DAY));
    await member(expired.id, 'manager');
    const future = await makeOrg(db, 'property_company');
    await duty(future.id, 'service_contract', new Date(now + 10 * DAY), null);
    await member(future.id, 'manager');
    const cameras = await makeOrg(db, 'contractor');
    await duty(cameras.id, 'delegated_contractor', new Date(now - DAY), new Date(now + 90 * DAY), 'camera');
    const cameraManager = await member(cameras.id, 'manager');
    // Managers of a company active elsewhere only.
    const elsewhere = await makeCommunity(db);
    const other = await makeOrg(db, 'property_company');
    await db.insertInto('duty_assignments').values({ community_id: elsewhere.id, organization_id: other.id, basis: 'service_contract' }).execute();
    await member(other.id, 'manager');

    expect(ids(await recipients.dutyHolderManagers(db, c.id))).toEqual([activeManager.id, cameraManager.id].sort());
    expect(ids(await recipients.dutyHolderManagers(db, c.id, 'camera'))).toEqual([activeManager.id, cameraManager.id].sort());
    expect(ids(await recipients.dutyHolderManagers(db, c.id, 'elevator'))).toEqual([activeManager.id]);
    const [r] = await recipients.dutyHolderManagers(db, c.id, 'elevator');
    expect(r).toEqual({ userId: activeManager.id, email: activeManager.email, name: activeManager.name, locale: 'zh-CN' });
  });

  it('committee members, and the authority’s viewers of the district', async () => {
    const { db } = t;
    const district = `D-${uniq()}`;
    const c = await makeCommunity(db, { district });
    const elsewhere = await makeCommunity(db, { district: `E-${uniq()}` });
    const member = async (orgId: string, role: 'manager' | 'staff' | 'member' | 'chair' | 'viewer') => {
      const u = await makeUser(db);
      await addMembership(db, u.id, orgId, role);
      return u;
    };
    const owners = await makeOrg(db, 'owners_committee', { communityId: c.id });
    const chair = await member(owners.id, 'chair');
    const m = await member(owners.id, 'member');
    const residents = await makeOrg(db, 'residents_committee', { communityId: c.id });
    const r = await member(residents.id, 'member');
    const otherCommittee = await makeOrg(db, 'owners_committee', { communityId: elsewhere.id });
    await member(otherCommittee.id, 'chair');
    const company = await makeOrg(db, 'property_company');
    await db.insertInto('duty_assignments').values({ community_id: c.id, organization_id: company.id, basis: 'service_contract' }).execute();
    await member(company.id, 'manager');
    expect(ids(await recipients.committeeMembers(db, c.id))).toEqual([chair.id, m.id, r.id].sort());

    const authority = await makeOrg(db, 'authority', { district });
    const viewer = await member(authority.id, 'viewer');
    const head = await member(authority.id, 'manager');
    const otherAuthority = await makeOrg(db, 'authority', { district: `E-${uniq()}` });
    await member(otherAuthority.id, 'viewer');
    expect(ids(await recipients.authorityViewers(db, c.id))).toEqual([viewer.id, head.id].sort());
    expect(await recipients.authorityViewers(db, elsewhere.id)).toEqual([]);
  });

  it('owners in scope: by account or by email alone, never the developer, only owners of units', async () => {
    const { db } = t;
    const c = await makeCommunity(db);
    const building = await makeBuilding(db, c.id);
    const withAccount = await makeUser(db, { locale: 'en' });
    const { unit: u1, owner: o1 } = await makeUnit(db, c.id, building.id, { ownerUserId: withAccount.id });
    const { unit: u2, owner: o2 } = await makeUnit(db, c.id, building.id);
    const emailOnly = `owner-${uniq()}@example.test`;
    await db.updateTable('owners').set({ email: emailOnly }).where('id', '=', o2.id).execute();
    await makeUnit(db, c.id, building.id); // neither account nor email: cannot be reached
    const { owner: dev } = await makeUnit(db, c.id, building.id);
    await db.updateTable('owners').set({ is_developer: true, email: `dev-${uniq()}@example.test` }).where('id', '=', dev.id).execute();
    // An owner row without units (e.g. sold everything) is out of scope.
    await db.insertInto('owners').values({ community_id: c.id, name: 'Former owner', email: `former-${uniq()}@example.test`, identity_key: `e:${uniq()}` }).execute();
    // Another community's owner.
    const other = await makeCommunity(db);
    const ob = await makeBuilding(db, other.id);
    const { owner: foreign } = await makeUnit(db, other.id, ob.id);
    await db.updateTable('owners').set({ email: `foreign-${uniq()}@example.test` }).where('id', '=', foreign.id).execute();

    const all = await recipients.ownersInScope(db, c.id);
    expect(all.sort((a, b) => (a.email ?? '').localeCompare(b.email ?? ''))).toEqual(
      [
        { userId: withAccount.id, email: withAccount.email, name: o1.name, locale: 'en' },
        { userId: null, email: emailOnly, name: o2.name, locale: 'zh-CN' },
      ].sort((a, b) => a.email.localeCompare(b.email)),
    );
    expect(await recipients.ownersInScope(db, c.id, [u2.id])).toEqual([{ userId: null, email: emailOnly, name: o2.name, locale: 'zh-CN' }]);
    expect((await recipients.ownersInScope(db, c.id, [u1.id])).map((r) => r.userId)).toEqual([withAccount.id]);
    expect(await recipients.ownersInScope(db, c.id, [])).toEqual([]);
  });
});

describe('GET /notifications', () => {
  it('lists only my in-app messages, newest first, with the unread count; read and read-all touch only mine', async () => {
    const me = await makeUser(t.db);
    const someoneElse = await makeUser(t.db);
    const send = (userId: string, email: string, title: string) =>
      t.db.transaction().execute((trx) =>
        notify(trx, { dedupeKey: `test-inbox-${uniq()}`, communityId: null, timeZone: 'Asia/Shanghai', template: 'message.plain', payload: { title, body: `${title} body` }, recipients: [{ userId, email, name: 'X', locale: 'zh-CN' }] }),
      );
    await send(me.id, me.email, 'first');
    await new Promise((r) => setTimeout(r, 10));
    await send(me.id, me.email, 'second');
    const [theirs] = (await send(someoneElse.id, someoneElse.email, 'theirs')).filter((n) => n.channel === 'in_app');

    const get = (url = '/api/v1/notifications') => as(t.app, me.id)({ method: 'GET', url });
    const list = await get();
    expect(list.statusCode).toBe(200);
    const body = list.json<{ items: Array<{ id: string; subject: string; body: string; read: boolean }>; unreadCount: number; nextCursor: string | null }>();
    expect(body.items.map((i) => i.subject)).toEqual(['second', 'first']); // in-app only, no email copies
    expect(body.items[0]).toMatchObject({ body: expect.stringContaining('second body'), read: false });
    expect(body.unreadCount).toBe(2);
    expect(body.nextCursor).toBeNull();

    const page1 = (await get('/api/v1/notifications?limit=1')).json<{ items: Array<{ id: string; subject: string }>; nextCursor: string | null }>();
    expect(page1.items.map((i) => i.subject)).toEqual(['second']);
    const page2 = (await get(`/api/v1/notifications?limit=1&cursor=${encodeURIComponent(page1.nextCursor as string)}`)).json<{ items: Array<{ subject: string }> }>();
    expect(page2.items.map((i) => i.subject)).toEqual(['first']);

    const second = body.items[0] as { id: string };
    expect((await as(t.app, me.id)({ method: 'POST', url: `/api/v1/notifications/${second.id}/read` })).json()).toEqual({ updated: 1 });
    expect((await as(t.app, me.id)({ method: 'POST', url: `/api/v1/notifications/${second.id}/read` })).json()).toEqual({ updated: 0 });
    const after = (await get()).json<{ items: Array<{ id: string; read: boolean }>; unreadCount: number }>();
    expect(after.unreadCount).toBe(1);
    expect(after.items.find((i) => i.id === second.id)?.read).toBe(true);
    expect((await get('/api/v1/notifications?unread=true')).json<{ items: Array<{ subject: string }> }>().items.map((i) => i.subject)).toEqual(['first']);

    // Someone else's notification: not mine to mark, and not shown to exist.
    const notMine = await as(t.app, me.id)({ method: 'POST', url: `/api/v1/notifications/${theirs?.id}/read` });
    expect(notMine.statusCode).toBe(404);
    expect(notMine.json().error.code).toBeDefined();
    const theirList = (await as(t.app, someoneElse.id)({ method: 'GET', url: '/api/v1/notifications' })).json<{ items: Array<{ subject: string; read: boolean }>; unreadCount: number }>();
    expect(theirList.items.map((i) => [i.subject, i.read])).toEqual([['theirs', false]]);
    expect(theirList.unreadCount).toBe(1);

    expect((await as(t.app, me.id)({ method: 'POST', url: '/api/v1/notifications/read-all' })).json()).toEqual({ updated: 1 });
    expect((await get()).json<{ unreadCount: number }>().unreadCount).toBe(0);
    expect((await as(t.app, someoneElse.id)({ method: 'GET', url: '/api/v1/notifications' })).json<{ unreadCount: number }>().unreadCount).toBe(1);

    expect((await as(t.app, null)({ method: 'GET', url: '/api/v1/notifications' })).statusCode).toBe(401);
    expect((await as(t.app, me.id)({ method: 'POST', url: '/api/v1/notifications/not-a-uuid/read' })).statusCode).toBe(400);
  });
});

describe('daily digest', () => {
  function digestContext(): NotificationJobContext & { queue: UpkeepQueue } {
    const prefix = uniquePrefix();
    prefixes.push(prefix);
    const queue = createQueue(t.redis, prefix);
    queues.push(queue);
    return { db: t.db, logger, queue, channel: new LogChannel(logger), config: testConfig() };
  }

  async function digestJobs(queue: UpkeepQueue) {
    const jobs = await queue.getJobs(['waiting', 'delayed', 'prioritized', 'active', 'completed']);
    return jobs.filter((j) => j.name === 'digest.community').map((j) => ({ id: j.id, data: j.data as { communityId: string; day: string } }));
  }

  it('digest.tick at 08:xx community time enqueues one digest per community and day, however often it runs', async () => {
    const shanghai = [await makeCommunity(t.db), await makeCommunity(t.db)];
    const ny = await makeCommunity(t.db);
    await t.db.updateTable('communities').set({ time_zone: 'America/New_York' }).where('id', '=', ny.id).execute();
    const allShanghai = (await t.db.selectFrom('communities').select('id').where('time_zone', '=', 'Asia/Shanghai').execute()).map((c) => c.id).sort();
    expect(allShanghai).toEqual(expect.arrayContaining(shanghai.map((c) => c.id)));

    // 00:30 UTC = 08:30 in Shanghai (19:30 the day before in New York).
    const at = '2026-03-02T00:30:00.000Z';
    expect(localDayAndHour(new Date(at), 'Asia/Shanghai')).toEqual({ day: '20260302', hour: 8 });
    const ctx = digestContext();
    await handleDigestTick({ requestedAt: at }, ctx);
    await handleDigestTick({ requestedAt: '2026-03-02T00:45:00.000Z' }, ctx); // the next tick, same day
    await handleDigestTick({ requestedAt: at }, ctx); // a retry
    const jobs = await digestJobs(ctx.queue);
    expect(jobs.map((j) => j.data.communityId).sort()).toEqual(allShanghai);
    for (const j of jobs) {
      expect(j.id).toBe(`digest-${j.data.communityId}-20260302`);
      expect(j.data.day).toBe('20260302');
    }

    // 07:59 in Shanghai: too early, nothing anywhere.
    const early = digestContext();
    await handleDigestTick({ requestedAt: '2026-03-01T23:59:00.000Z' }, early);
    expect(await digestJobs(early.queue)).toEqual([]);

    // 08:15 in New York (EST): only the New York community, for its own local day.
    const nyCtx = digestContext();
    await handleDigestTick({ requestedAt: '2026-03-02T13:15:00.000Z' }, nyCtx);
    expect(await digestJobs(nyCtx.queue)).toEqual([{ id: `digest-${ny.id}-20260302`, data: { communityId: ny.id, day: '20260302' } }]);
  });

  it('digest.community sends nothing without open work, and one email per manager when a facility is faulty', async () => {
    const { db } = t;
    const c = await makeCommunity(db);
    const company = await makeOrg(db, 'property_company');
    await db.insertInto('duty_assignments').values({ community_id: c.id, organization_id: company.id, basis: 'service_contract' }).execute();
    const zhManager = await makeUser(db, { locale: 'zh-CN' });
    const enManager = await makeUser(db, { locale: 'en' });
    const staff = await makeUser(db);
    await addMembership(db, zhManager.id, company.id, 'manager');
    await addMembership(db, enManager.id, company.id, 'manager');
    await addMembership(db, staff.id, company.id, 'staff');
    const facility = await makeFacility(db, c.id, 'camera');
    const ctx = digestContext();
    const digests = () => db.selectFrom('notifications').selectAll().where('community_id', '=', c.id).where('template', '=', 'digest.daily').orderBy('dedupe_key').execute();

    await handleDigestCommunity({ communityId: c.id, day: '20260302' }, ctx);
    expect(await digests()).toEqual([]);

    await db.updateTable('facilities').set({ status: 'faulty' }).where('id', '=', facility.id).execute();
    await handleDigestCommunity({ communityId: c.id, day: '20260302' }, ctx);
    await handleDigestCommunity({ communityId: c.id, day: '20260302' }, ctx); // a retry: no second digest
    const rows = await digests();
    const emails = rows.filter((r) => r.channel === 'email');
    expect(emails.map((r) => r.recipient_user_id).sort()).toEqual([zhManager.id, enManager.id].sort());
    expect(rows.filter((r) => r.channel === 'in_app')).toHaveLength(2);
    expect(rows.some((r) => r.recipient_user_id === staff.id)).toBe(false);
    for (const r of emails) expect(r.dedupe_key).toBe(`digest-${c.id}-20260302|${r.recipient_user_id}|email`);
    const en = emails.find((r) => r.recipient_user_id === enManager.id);
    expect(en?.subject).toBe(`[${c.name}] Open work for 2026-03-02`);
    expect(en?.body_text).toContain(`${facility.name} (camera): faulty`);
    expect(emails.find((r) => r.recipient_user_id === zhManager.id)?.subject).toBe(`【${c.name}】2026-03-02 待办汇总`);

    // The next day is another digest.
    await handleDigestCommunity({ communityId: c.id, day: '20260303' }, ctx);
    expect((await digests()).filter((r) => r.channel === 'email')).toHaveLength(4);
  });

  it('a duty ending within 30 days is open work too', async () => {
    const { db } = t;
    const c = await makeCommunity(db);
    const company = await makeOrg(db, 'property_company');
    await db.insertInto('duty_assignments').values({ community_id: c.id, organization_id: company.id, basis: 'service_contract', valid_to: new Date(Date.now() + 10 * DAY) }).execute();
    const manager = await makeUser(db, { locale: 'en' });
    await addMembership(db, manager.id, company.id, 'manager');
    await handleDigestCommunity({ communityId: c.id, day: '20260302' }, digestContext());
    const [email] = await db.selectFrom('notifications').selectAll().where('community_id', '=', c.id).where('channel', '=', 'email').execute();
    expect(email?.recipient_user_id).toBe(manager.id);
    expect(email?.body_text).toContain(`${company.name}'s duty ends`);
  });
});
