import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { chromium, type BrowserContext, type Page } from 'playwright-core';
import { seedDemo } from '../../src/bootstrap/seed.js';
import { createTestApp, type TestApp } from '../helpers/app.js';

export const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
export const DEMO_PASSWORD = 'upkeep-demo-2026';
const ROOT = resolve(import.meta.dirname, '../..');
export const SCREENSHOT_DIR = join(ROOT, 'docs/screenshots');
/** `npm run screenshots` sets this: the flows then save PNGs of the main pages for the README. */
export const SAVE_SCREENSHOTS = process.env.UPKEEP_SCREENSHOTS === '1';

export interface Console {
  t: TestApp;
  base: string;
  context: BrowserContext;
  page: Page;
  close(): Promise<void>;
}

/**
 * The API with the built console on 127.0.0.1:<random> against this file's database (seeded
 * with the demo community), and headless Chromium with a fresh profile.
 */
export async function startConsole(): Promise<Console> {
  if (!existsSync(CHROMIUM)) {
    throw new Error(`Chromium is not installed at ${CHROMIUM}; the end-to-end tests need it: install it with \`apt-get install chromium\` (bash .ci/run does this when it is missing)`);
  }
  // Builds web/dist when it is missing or older than its sources (a few seconds, once).
  execFileSync(process.execPath, [join(ROOT, 'web/build.mjs')], { stdio: 'inherit' });
  const t = await createTestApp();
  await seedDemo(t.db);
  await t.app.listen({ host: '127.0.0.1', port: 0 });
  const address = t.app.server.address();
  if (!address || typeof address === 'string') throw new Error('no port');
  const base = `http://127.0.0.1:${address.port}`;
  const profile = mkdtempSync(join(tmpdir(), 'upkeep-e2e-'));
  const context = await chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM,
    headless: true,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
    viewport: { width: 1280, height: 860 },
    locale: 'zh-CN',
    timezoneId: 'Asia/Shanghai',
  });
  const page = context.pages()[0] ?? (await context.newPage());
  page.setDefaultTimeout(15_000);
  if (SAVE_SCREENSHOTS) mkdirSync(SCREENSHOT_DIR, { recursive: true });
  return {
    t,
    base,
    context,
    page,
    async close() {
      await context.close().catch(() => {});
      rmSync(profile, { recursive: true, force: true });
      await t.close();
    },
  };
}

export async function loginAs(c: Console, who: string): Promise<void> {
  const { page } = c;
  await page.goto(`${c.base}/login`);
  // A fresh start for each login (the page runs in the browser, where localStorage exists).
  await page.evaluate('localStorage.removeItem("upkeep.tokens")');
  await page.fill('input[name=email]', `${who}@demo.upkeep.cn`);
  await page.fill('input[name=password]', DEMO_PASSWORD);
  await page.click('button[type=submit]');
  await page.waitForSelector('[data-testid=who]', { state: 'attached' });
}

export async function logout(c: Console): Promise<void> {
  await c.page.getByRole('button', { name: /退出|Log out/ }).click();
  await c.page.waitForURL(/\/login/);
}

export async function shot(page: Page, name: string): Promise<void> {
  if (!SAVE_SCREENSHOTS) return;
  // Let charts and counts settle before the picture.
  await page.waitForLoadState('networkidle').catch(() => {});
  await page.screenshot({ path: join(SCREENSHOT_DIR, `${name}.png`), fullPage: true });
}

/** The smallest valid PNG (1×1, transparent): a "photo" the attachment check accepts. */
export const TINY_PNG = Buffer.from('iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAQAAAC1HAwCAAAAC0lEQVR42mNkYAAAAAYAAjCB0C8AAAAASUVORK5CYII=', 'base64');
