/**
 * The web console end to end: headless Chromium clicking through the built SPA served by the
 * API (@fastify/static at /), against a real database seeded with the demo community. Each flow
 * asserts on what the page shows and on the database rows the clicks produced.
 * `npm run screenshots` runs this file with UPKEEP_SCREENSHOTS=1 to refresh docs/screenshots/.
 */
import QRCode from 'qrcode';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CONSOLE_PATHS } from '../../src/plugins/web.js';
import { PATHS } from '../../web/src/routes.js';
import { tokenFor } from '../helpers/factories.js';
import { loginAs, logout, shot, startConsole, TINY_PNG, type Console } from './harness.js';

let c: Console;
let communityId: string;
let userIds: Record<string, string>;

beforeAll(async () => {
  c = await startConsole();
  communityId = (await c.t.db.selectFrom('communities').select('id').executeTakeFirstOrThrow()).id;
  const users = await c.t.db.selectFrom('users').select(['id', 'email']).execute();
  userIds = Object.fromEntries(users.map((u) => [u.email.split('@')[0] as string, u.id]));
}, 120_000);
afterAll(async () => c?.close());

/** Follows a link of the navigation bar. */
const nav = (name: string) => c.page.locator('nav.nav').getByRole('link', { name, exact: true }).click();

/** Clicks a button and waits for `probe` to show `shown`; if the page shows an error instead, fails with its words. */
async function clickUntil(selector: string, probe: () => Promise<string | null>, shown: string) {
  await c.page.click(selector);
  await expect
    .poll(async () => {
      const error = await c.page.locator('.error').first().textContent({ timeout: 50 }).catch(() => null);
      if (error) throw new Error(`the page shows an error: ${error}`);
      return probe();
    })
    .toBe(shown);
}

/** Submits and waits for the page to go to `url`; if it shows an error instead, fails with its words. */
async function submitTo(url: RegExp) {
  await c.page.click('button[type=submit]');
  await Promise.race([
    c.page.waitForURL(url),
    c.page.waitForSelector('.error', { timeout: 15_000 }).then(async (e) => {
      throw new Error(`the page shows an error: ${await e.textContent()}`);
    }),
  ]);
}

const api = (who: string) => async (method: string, url: string, payload?: unknown) => {
  const res = await c.t.app.inject({ method: method as 'GET', url: `/api/v1${url}`, payload: payload as object, headers: { authorization: `Bearer ${tokenFor(c.t.app, userIds[who] as string)}` } });
  if (res.statusCode >= 400) throw new Error(`${method} ${url}: ${res.statusCode} ${res.body}`);
  return res.json();
};

describe('serving the console', () => {
  it('serves index.html for the client paths but never shadows the API, and nothing for unknown paths', async () => {
    // The server's list of client paths is the SPA's.
    expect([...CONSOLE_PATHS].sort()).toEqual([...new Set(Object.values(PATHS))].sort());
    for (const path of ['/', '/tickets/123', '/q/some-token', '/my/ballots', '/funds/abc/notice']) {
      const res = await fetch(`${c.base}${path}`);
      expect(res.status, path).toBe(200);
      expect(res.headers.get('content-type')).toMatch(/text\/html/);
      expect(await res.text()).toContain('<div id="app">');
    }
    for (const path of ['/api/v1/nope', '/api/v1/tickets/abc/nope', '/healthz/x', '/admin/nope', '/no/such/page', '/assets/missing-123.js', '/assets/../package.json']) {
      const res = await fetch(`${c.base}${path}`);
      expect(res.status, path).toBe(404);
      expect(((await res.json()) as { error: { code: string } }).error.code).toBe('NOT_FOUND');
    }
    expect((await fetch(`${c.base}/healthz`)).status).toBe(200);
    const html = await (await fetch(`${c.base}/`)).text();
    const bundle = /src="(\/assets\/[^"]+\.js)"/.exec(html)?.[1] as string;
    const js = await fetch(`${c.base}${bundle}`);
    expect(js.status).toBe(200);
    expect(js.headers.get('cache-control')).toContain('immutable');
  });
});

describe('flow 1: a fault from the public QR form to closed', () => {
  it('is reported without login on a phone, then acknowledged, assigned, worked, commented, photographed, resolved and closed by the manager', async () => {
    const { page } = c;
    const facility = await c.t.db.selectFrom('facilities').select(['id', 'qr_token', 'name']).where('name', '=', '1栋1号电梯').executeTakeFirstOrThrow();

    // The public form on a phone-sized screen, no login.
    await page.setViewportSize({ width: 390, height: 844 });
    await page.goto(`${c.base}/q/${facility.qr_token}`);
    await expect.poll(() => page.textContent('[data-testid=qr-facility]')).toBe('1栋1号电梯');
    await page.fill('textarea[name=description]', '电梯门关不上，反复开合');
    await page.fill('input[name=reporterName]', '陈女士');
    await page.fill('input[name=reporterPhone]', '13912345678');
    await shot(page, 'qr-form-phone');
    // The network fails once: the page says so in words, and nothing typed is lost.
    await page.route('**/reports', (route) => route.abort());
    await page.click('button[type=submit]');
    await expect.poll(() => page.textContent('.error')).toContain('无法连接服务器');
    expect(await page.inputValue('textarea[name=description]')).toBe('电梯门关不上，反复开合');
    expect(await page.inputValue('input[name=reporterPhone]')).toBe('13912345678');
    await page.unroute('**/reports');
    await page.click('button[type=submit]');
    const done = await page.waitForSelector('[data-testid=qr-done]');
    const ref = Number(/#(\d+)/.exec((await done.textContent()) ?? '')?.[1]);
    expect(ref).toBeGreaterThan(0);
    const created = await c.t.db.selectFrom('tickets').selectAll().where('ref', '=', ref).where('community_id', '=', communityId).executeTakeFirstOrThrow();
    expect(created).toMatchObject({ status: 'new', facility_id: facility.id, description: '电梯门关不上，反复开合' });

    // The manager: dashboard, the live counts, the ticket.
    await page.setViewportSize({ width: 1280, height: 860 });
    await loginAs(c, 'manager');
    await page.waitForURL(/\/dashboard$/);
    await page.waitForSelector('[data-testid=kpis]');
    await shot(page, 'manager-dashboard');
    await nav('工单');
    await expect.poll(() => page.textContent('[data-testid=count-new]')).toBe('1');
    await page.getByRole('link', { name: created.title }).click();
    await page.waitForURL(new RegExp(`/tickets/${created.id}$`));
    await expect.poll(() => page.textContent('[data-testid=ticket-status]')).toBe('新建');
    await expect.poll(() => page.locator('[data-testid=sla-clock]').count()).toBe(2);

    // Assign to the technician.
    await expect.poll(() => page.locator('select[name=assignee] option', { hasText: '李师傅' }).count()).toBeGreaterThan(0);
    const techOption = await page.locator('select[name=assignee] option', { hasText: '李师傅' }).first().getAttribute('value');
    await page.selectOption('select[name=assignee]', techOption as string);
    await expect.poll(async () => (await c.t.db.selectFrom('tickets').select('assignee_user_id').where('id', '=', created.id).executeTakeFirstOrThrow()).assignee_user_id).toBe(userIds.tech);

    for (const [move, shown] of [
      ['acknowledged', '已受理'],
      ['in_progress', '处理中'],
    ] as const) {
      await page.click(`[data-testid=move-${move}]`);
      await expect.poll(() => page.textContent('[data-testid=ticket-status]')).toBe(shown);
    }

    // A comment and a photo.
    await page.fill('textarea[name=comment]', '已到场，更换门机皮带');
    await page.getByRole('button', { name: '添加评论' }).click();
    await expect.poll(() => page.textContent('[data-testid=comments]')).toContain('已到场，更换门机皮带');
    await page.setInputFiles('input[type=file]', { name: 'door.png', mimeType: 'image/png', buffer: TINY_PNG });
    await page.getByRole('button', { name: '上传' }).click();
    await expect.poll(() => page.getByRole('button', { name: 'door.png' }).count()).toBe(1);
    await shot(page, 'ticket-detail');

    await page.click('[data-testid=move-resolved]');
    await expect.poll(() => page.textContent('[data-testid=ticket-status]')).toBe('已解决');
    await page.click('[data-testid=move-closed]');
    await expect.poll(() => page.textContent('[data-testid=ticket-status]')).toBe('已关闭');

    const row = await c.t.db.selectFrom('tickets').selectAll().where('id', '=', created.id).executeTakeFirstOrThrow();
    expect(row.status).toBe('closed');
    expect(row.acknowledged_at).not.toBeNull();
    expect(row.resolved_at).not.toBeNull();
    expect(row.closed_at).not.toBeNull();
    const comments = await c.t.db.selectFrom('ticket_comments').select('body').where('ticket_id', '=', created.id).execute();
    expect(comments.map((x) => x.body)).toContain('已到场，更换门机皮带');
    const files = await c.t.db.selectFrom('ticket_attachments').select(['original_name', 'mime_type']).where('ticket_id', '=', created.id).execute();
    expect(files).toEqual([{ original_name: 'door.png', mime_type: 'image/png' }]);
    const trail = await c.t.db.selectFrom('audit_events').select('action').where('entity_id', '=', created.id).orderBy('seq').execute();
    expect(trail.map((e) => e.action)).toEqual(
      expect.arrayContaining(['ticket.created', 'ticket.updated', 'ticket.acknowledged', 'ticket.in_progress', 'ticket.commented', 'ticket.attachment_added', 'ticket.resolved', 'ticket.closed']),
    );

    // The list shows it closed; English works too.
    await nav('工单');
    await page.selectOption('select[name=status]', 'closed');
    await expect.poll(() => page.textContent('[data-testid=ticket-list]')).toContain(created.title);
    await page.click('[data-testid=lang-switch]');
    await expect.poll(() => page.textContent('[data-testid=ticket-list]')).toContain('Closed');
    await shot(page, 'ticket-list');
    await page.click('[data-testid=lang-switch]');
    await logout(c);
  }, 180_000);
});

/** The committee's request for building 1 (the demo owner's unit 1栋 101 is in it). */
async function proposeForBuilding1(title: string) {
  const chair = api('committee');
  const building = await c.t.db.selectFrom('buildings').select('id').where('community_id', '=', communityId).where('name', '=', '1栋').executeTakeFirstOrThrow();
  return chair('POST', '/fund-requests', {
    communityId,
    title,
    description: '1栋两部电梯曳引机老化，更换并加装应急照明',
    path: 'normal',
    decisionType: 'use_fund',
    scope: { buildingIds: [building.id] },
    budgetLines: [
      { description: '曳引机', amountCents: 12_000_000 },
      { description: '安装调试', amountCents: 3_000_000 },
    ],
    funding: [
      { source: 'maintenance_fund', amountCents: 10_000_000 },
      { source: 'government_subsidy', amountCents: 3_000_000 },
      { source: 'contractor_concession', amountCents: 2_000_000 },
    ],
  }) as Promise<{ id: string }>;
}

describe('flow 2: an owner votes and sees the tally move', () => {
  it('shows what is decided and the cost per unit, takes one tap, and the tally moves', async () => {
    const { page } = c;
    // Set up through the API: the committee proposes and opens the vote (creating requests is
    // exercised through the UI in flow 3). The vote stays open a week: nothing here needs time to pass.
    const r = await proposeForBuilding1('更换1栋电梯曳引机');
    await api('committee')('POST', `/fund-requests/${r.id}/transitions`, { to: 'voting', voteClosesAt: new Date(Date.now() + 7 * 86_400_000).toISOString() });
    // The committee's view of the live tally, with the thresholds drawn.
    await loginAs(c, 'committee');
    await page.goto(`${c.base}/funds/${r.id}`);
    await page.waitForSelector('[data-testid=tally]');
    await shot(page, 'fund-tally');
    await logout(c);

    // Owners vote on their phones.
    await page.setViewportSize({ width: 390, height: 844 });
    await loginAs(c, 'owner');
    await page.waitForURL(/\/my\/ballots$/);
    const ballot = page.locator('[data-testid=ballot]');
    await expect.poll(() => ballot.textContent()).toContain('使用维修资金');
    // The demo owner's unit 1栋 101 (85.00 m²) of building 1's area pays its share of ¥100,000.
    const areas = await c.t.db
      .selectFrom('units')
      .innerJoin('buildings', 'buildings.id', 'units.building_id')
      .select(['units.number', 'units.area_centi_m2'])
      .where('buildings.name', '=', '1栋')
      .execute();
    const total = areas.reduce((s, u) => s + u.area_centi_m2, 0);
    const mine = areas.find((u) => u.number === '101')?.area_centi_m2 as number;
    const expected = Math.round((10_000_000 * mine) / total);
    await expect.poll(() => page.textContent('[data-testid=cost-per-unit]')).toContain((expected / 100).toLocaleString('zh-CN', { minimumFractionDigits: 2, maximumFractionDigits: 2 }));
    const headcount = () => page.textContent('[data-testid=tally-headcount] figcaption');
    await expect.poll(headcount).toMatch(/同意 0 ·.*反对 0 ·/);
    await shot(page, 'owner-ballot');

    await page.click('[data-testid=vote-agree]');
    await expect.poll(() => page.textContent('[data-testid=my-vote]')).toContain('同意');
    await expect.poll(headcount).toMatch(/同意 1 ·.*反对 0 ·/);
    const ballots = await c.t.db.selectFrom('fund_ballots').select(['choice', 'channel', 'voter_key']).where('request_id', '=', r.id).execute();
    expect(ballots.map((b) => `${b.choice}/${b.channel}`)).toEqual(['agree/online']);

    // Changing one's mind before the deadline moves it again.
    await page.click('[data-testid=vote-abstain]');
    await expect.poll(headcount).toMatch(/同意 0 ·.*反对 0 ·.*弃权 1 ·/);
    const after = await c.t.db.selectFrom('fund_ballots').select('choice').where('request_id', '=', r.id).where('channel', '=', 'online').execute();
    expect(after.map((b) => b.choice)).toEqual(['abstain']);
    await logout(c);
    await page.setViewportSize({ width: 1280, height: 860 });
  }, 180_000);
});

describe('flow 3: the committee settles a request and an owner sees the ledger debit', () => {
  it('proposes an emergency repair in the form, moves it to settlement, and the owner ledger shows the debit', async () => {
    const { page } = c;
    const ownerUnit = await c.t.db
      .selectFrom('units')
      .innerJoin('buildings', 'buildings.id', 'units.building_id')
      .select(['units.id'])
      .where('buildings.name', '=', '1栋')
      .where('units.number', '=', '101')
      .executeTakeFirstOrThrow();
    const before = await c.t.db.selectFrom('unit_ledger_entries').select('id').where('unit_id', '=', ownerUnit.id).execute();

    await loginAs(c, 'committee');
    await page.waitForURL(/\/funds$/);
    await page.getByRole('link', { name: '新建申请' }).click();
    await page.fill('input[name=title]', '1栋电梯困人抢修');
    await page.selectOption('select[name=path]', 'emergency');
    await page.getByLabel('1栋', { exact: true }).check();
    // An emergency request names what is broken.
    await page.getByLabel('1栋1号电梯', { exact: true }).check();
    await page.selectOption('select[name=contractorOrgId]', { label: '安防维保工程有限公司' });
    await page.fill('input[name=line-0-description]', '抢修更换控制板');
    await page.fill('input[name=line-0-amount]', '8000');
    // A line added then removed leaves the first as typed (one Remove per row, none on a lone row).
    const budget = page.locator('fieldset', { has: page.locator('input[name=line-0-amount]') });
    await budget.getByRole('button', { name: '添加一行' }).click();
    await page.fill('input[name=line-1-description]', '多余的一行');
    expect(await budget.getByRole('button', { name: '删除' }).count()).toBe(2);
    await budget.getByRole('button', { name: '删除' }).nth(1).click();
    await expect.poll(() => page.locator('input[name=line-1-description]').count()).toBe(0);
    expect(await budget.getByRole('button', { name: '删除' }).count()).toBe(0);
    expect(await page.inputValue('input[name=line-0-amount]')).toBe('8000');
    // A mismatch between funding and budget is caught before anything is sent; nothing typed is lost.
    await page.fill('input[name=funding-0-amount]', '7000');
    await expect.poll(() => page.textContent('.warn')).toContain('须等于预算');
    await page.fill('input[name=funding-0-amount]', '8000');
    await shot(page, 'fund-new');
    await submitTo(/\/funds\/[0-9a-f-]{36}$/);
    const id = page.url().split('/').pop() as string;
    const status = () => page.textContent('[data-testid=fund-status]');
    await expect.poll(status).toBe('草稿');

    await clickUntil('[data-testid=fund-move-emergency_review]', status, '应急审核');
    await clickUntil('[data-testid=fund-move-approved]', status, '已批准');
    await page.getByRole('button', { name: '登记事后公示' }).click();
    await expect.poll(() => page.getByRole('button', { name: '登记事后公示' }).count()).toBe(0);
    await clickUntil('[data-testid=fund-move-in_works]', status, '施工中');
    await page.fill('input[name=actualCost]', '7500');
    await clickUntil('[data-testid=fund-move-accepted]', status, '已验收');
    await clickUntil('[data-testid=fund-move-settled]', status, '已结算');
    await expect.poll(() => page.textContent('[data-testid=fund-share]')).toContain('7,500.00');

    const req = await c.t.db.selectFrom('fund_requests').selectAll().where('id', '=', id).executeTakeFirstOrThrow();
    expect(req).toMatchObject({ status: 'settled', actual_cost_cents: 750_000, fund_share_cents: 750_000 });
    const debit = await c.t.db.selectFrom('unit_ledger_entries').selectAll().where('unit_id', '=', ownerUnit.id).where('request_id', '=', id).executeTakeFirstOrThrow();
    expect(debit.kind).toBe('debit');
    const allDebits = await c.t.db.selectFrom('unit_ledger_entries').select('amount_cents').where('request_id', '=', id).execute();
    // The shares add up exactly to the fund's share (largest remainder, whole cents).
    expect(allDebits.reduce((s, d) => s + Math.abs(Number(d.amount_cents)), 0)).toBe(750_000);

    // The printable public notice lists the units and their shares.
    await page.goto(`${c.base}/funds/${id}/notice`);
    await expect.poll(() => page.textContent('[data-testid=notice]')).toContain('1栋 101');
    await shot(page, 'fund-notice');
    await logout(c);

    await loginAs(c, 'owner');
    await nav('我的资金账户');
    const entry = page.locator('[data-testid=ledger-entry]', { hasText: '1栋电梯困人抢修' });
    await expect.poll(() => entry.count()).toBe(1);
    const shown = Math.abs(Number(debit.amount_cents)) / 100;
    await expect.poll(() => entry.textContent()).toContain(shown.toLocaleString('zh-CN', { minimumFractionDigits: 2, maximumFractionDigits: 2 }));
    expect(await page.locator('[data-testid=ledger-entry]').count()).toBe(before.length + 1);
    await shot(page, 'owner-ledger');
    await logout(c);
  }, 180_000);
});

describe('an owner reports a fault while logged in', () => {
  it('files it from the form and finds it under my tickets', async () => {
    const { page } = c;
    await loginAs(c, 'owner');
    await nav('我要报修');
    await page.fill('input[name=title]', '2单元楼道灯不亮');
    await page.selectOption('select[name=category]', 'lighting');
    await page.fill('textarea[name=description]', '晚上楼道一片黑');
    await submitTo(/\/tickets\/[0-9a-f-]{36}$/);
    await expect.poll(() => page.textContent('[data-testid=ticket-status]')).toBe('新建');
    const row = await c.t.db.selectFrom('tickets').selectAll().where('title', '=', '2单元楼道灯不亮').executeTakeFirstOrThrow();
    expect(row).toMatchObject({ category: 'lighting', reporter_user_id: userIds.owner, status: 'new' });
    await nav('我的报修');
    await expect.poll(() => page.textContent('[data-testid=ticket-list]')).toContain('2单元楼道灯不亮');
    // The owner's list holds only what they reported: not the manager's QR ticket of flow 1.
    expect(await page.textContent('[data-testid=ticket-list]')).not.toContain('1栋1号电梯');
    await logout(c);
  }, 120_000);
});

describe("the manager's other pages", () => {
  it('lists facilities and prints their QR labels, shows the duties and the inspection calendar', async () => {
    const { page } = c;
    // Default inspection plans, so the calendar has tasks (adopted through the API, as a manager would once).
    await api('manager')('POST', `/communities/${communityId}/inspection-plans/adopt-defaults`, {});
    const facilities = await c.t.db.selectFrom('facilities').select('name').where('community_id', '=', communityId).execute();
    await loginAs(c, 'manager');
    await nav('设施');
    await expect.poll(() => page.textContent('[data-testid=facility-list]')).toContain('南门高清摄像机');
    await page.getByRole('link', { name: '打印二维码标签' }).click();
    await expect.poll(() => page.locator('[data-testid=qr-labels] img').count()).toBe(facilities.length);
    // Each label encodes the facility's public report URL (the same QR code, drawn the same way).
    const elevator = await c.t.db.selectFrom('facilities').select('qr_token').where('name', '=', '2栋1号电梯').executeTakeFirstOrThrow();
    const src = (await page.locator('[data-testid=qr-labels] img[alt="2栋1号电梯"]').getAttribute('src')) as string;
    expect(src).toMatch(/^data:image\/svg\+xml;utf8,/);
    const expectedSvg = await QRCode.toString(`${c.base}/q/${encodeURIComponent(elevator.qr_token)}`, { type: 'svg', margin: 1, errorCorrectionLevel: 'M' });
    expect(decodeURIComponent(src.slice('data:image/svg+xml;utf8,'.length))).toBe(expectedSvg);
    await shot(page, 'qr-labels');
    await nav('维保责任');
    await expect.poll(() => page.textContent('[data-testid=duties]')).toContain('安防维保工程有限公司');
    await nav('巡检日历');
    await page.waitForSelector('[data-testid=calendar]');
    // Saturdays and Sundays (at least 8 in any month) are non-working days of the default calendar.
    expect(await page.locator('[data-testid=calendar] .cal-cell.off').count()).toBeGreaterThanOrEqual(8);
    // Go to the month of the first task due, and find there every task due that month (Beijing time).
    const tasks = await c.t.db.selectFrom('inspection_tasks').select('due_at').where('community_id', '=', communityId).orderBy('due_at').execute();
    expect(tasks.length).toBeGreaterThan(0);
    const beijing = (d: Date) => new Date(d.getTime() + 8 * 3_600_000).toISOString().slice(0, 7);
    const month = beijing(tasks[0]?.due_at as Date);
    for (let i = 0; i < 12 && (await page.textContent('.card-head h2'))?.includes(`${Number(month.slice(0, 4))}年${Number(month.slice(5))}月`) !== true; i++) {
      await page.getByRole('button', { name: '›' }).click();
    }
    const due = tasks.filter((x) => beijing(x.due_at) === month).length;
    await expect.poll(() => page.locator('[data-testid=calendar] .cal-cell .task').count()).toBe(due);
    await shot(page, 'inspection-calendar');
    await logout(c);
  }, 120_000);
});

describe('sessions and errors', () => {
  it('says what went wrong at login in both languages', async () => {
    const { page } = c;
    await page.goto(`${c.base}/login`);
    await page.fill('input[name=email]', 'owner@demo.upkeep.cn');
    await page.fill('input[name=password]', 'not-the-password');
    await page.click('button[type=submit]');
    await expect.poll(() => page.textContent('.error')).toContain('邮箱或密码不正确');
    await page.click('[data-testid=lang-switch]');
    await expect.poll(() => page.textContent('.error')).toContain('The email or password is incorrect');
    // What was typed stays.
    expect(await page.inputValue('input[name=email]')).toBe('owner@demo.upkeep.cn');
    await page.click('[data-testid=lang-switch]');
  });

  it('refreshes an expired access token once and carries on', async () => {
    const { page } = c;
    await loginAs(c, 'owner');
    const before = JSON.parse((await page.evaluate('localStorage.getItem("upkeep.tokens")')) as string) as { accessToken: string; refreshToken: string };
    await page.evaluate(`localStorage.setItem("upkeep.tokens", JSON.stringify({ accessToken: "expired", refreshToken: ${JSON.stringify(before.refreshToken)} }))`);
    await page.goto(`${c.base}/my/ledger`);
    await page.waitForSelector('[data-testid=ledger]');
    const after = JSON.parse((await page.evaluate('localStorage.getItem("upkeep.tokens")')) as string) as { accessToken: string; refreshToken: string };
    expect(after.accessToken).not.toBe('expired');
    expect(after.refreshToken).not.toBe(before.refreshToken);
    await logout(c);
  });
});

describe('the authority view', () => {
  it('shows the district KPIs read-only, with the duty gaps', async () => {
    const { page } = c;
    await loginAs(c, 'authority');
    await page.waitForURL(/\/authority$/);
    await expect.poll(() => page.textContent('[data-testid=district-table]')).toContain('示范花园小区');
    await expect.poll(() => page.locator('[data-testid=duty-gaps]').count()).toBe(1);
    await shot(page, 'authority');
    await logout(c);
    // And the login page itself, for the README.
    await shot(page, 'login');
  }, 120_000);
});
