import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import type { Config } from '../src/config.js';
import { enqueue } from '../src/jobs/queue.js';
import { composeMessage, messageIdFor, SmtpChannel } from '../src/modules/notifications/channels.js';
import { notify, SendFailed, sendEmail } from '../src/modules/notifications/notifications.service.js';
import { notificationJobId } from '../src/modules/timers/relay.js';
import { createTestApp, testConfig, type TestApp } from './helpers/app.js';
import { TEST_REDIS_URL } from './helpers/env.js';
import { addMembership, as, makeOrg, makeUser } from './helpers/factories.js';
import { TestSmtpServer } from './helpers/smtp.js';
import { captureLogs, sleep, TestWorkers, uniquePrefix, waitFor } from './helpers/workers.js';

// Emails through a real SMTP server (smtp-server on a loopback port) with the real SmtpChannel
// (nodemailer), real PostgreSQL and real Redis: at most once per dedupe key, retried with
// backoff, dead after EMAIL_MAX_ATTEMPTS, and exactly once even when a worker dies mid-send.

let t: TestApp;
let smtp: TestSmtpServer;
let pool: TestWorkers;
const log = captureLogs('warn');

function config(overrides: Partial<Config> = {}): Config {
  return testConfig({
    databaseUrl: t.testDb.url,
    smtpUrl: smtp.url,
    relayPollMs: 200,
    reconcileEveryMs: 3_600_000,
    // Short enough for a test, the same mechanisms as in production.
    emailLeaseSeconds: 2,
    emailRetryBaseMs: 100,
    emailLockMs: 2_000,
    stalledIntervalMs: 1_000,
    ...overrides,
  });
}

beforeAll(async () => {
  smtp = await TestSmtpServer.start();
  t = await createTestApp();
  pool = new TestWorkers({ db: t.db, databaseUrl: t.testDb.url, config: config(), logger: log.logger });
});

beforeEach(() => {
  smtp.recover();
  smtp.release();
});

afterEach(async () => {
  await pool.closeAll();
});

afterAll(async () => {
  smtp?.release();
  await pool?.cleanup();
  await t?.close();
  await smtp?.stop();
});

const address = (what: string) => `${what}-${randomBytes(4).toString('hex')}@example.test`;

/** One email (to an address only: no in-app copy), committed; returns its row. */
async function emailTo(email: string, message: { title: string; body: string } = { title: '停水通知 Water off', body: '明天 9:00–12:00 停水。' }) {
  const dedupeKey = `test-email-${randomBytes(6).toString('hex')}`;
  const inserted = await t.db.transaction().execute((trx) =>
    notify(trx, {
      dedupeKey,
      communityId: null,
      timeZone: 'Asia/Shanghai',
      template: 'message.plain',
      payload: message,
      recipients: [{ userId: null, email, name: '业主', locale: 'zh-CN' }],
    }),
  );
  expect(inserted).toHaveLength(1);
  return t.db.selectFrom('notifications').selectAll().where('id', '=', inserted[0]?.id as string).executeTakeFirstOrThrow();
}

function row(id: string) {
  return t.db.selectFrom('notifications').selectAll().where('id', '=', id).executeTakeFirstOrThrow();
}

describe('email delivery', () => {
  it('one notification: exactly one message, to the right address, with its subject and Message-ID', async () => {
    await pool.start();
    const to = address('one');
    const n = await emailTo(to);
    const [message] = await waitFor('the message', () => smtp.messagesTo(to).length >= 1 && smtp.messagesTo(to), 10_000);
    expect(message?.to).toContain(to);
    expect(message?.rcptTo).toEqual([to]);
    expect(message?.subject).toBe('停水通知 Water off');
    expect(message?.messageId).toBe(messageIdFor(n.dedupe_key));
    expect(message?.raw).toContain('multipart/alternative');

    const sent = await waitFor('the row to be sent', async () => {
      const r = await row(n.id);
      return r.status === 'sent' && r;
    });
    expect(sent).toMatchObject({ attempts: 1, delivered_via: 'smtp', last_error: null, lease_until: null });
    expect(sent.sent_at).not.toBeNull();
    await sleep(1_000);
    expect(smtp.messagesTo(to)).toHaveLength(1);
  });

  it('split across processes (WORKER_QUEUES=main and =email): the main set neither relays nor sends emails, the email set relays and sends them', async () => {
    const prefix = uniquePrefix();
    const main = await pool.start({ prefix, config: { workerQueues: 'main' } });
    expect(main.worker).toBeDefined();
    expect(main.emailWorker).toBeUndefined();
    const to = address('split');
    const n = await emailTo(to);
    // The main set's relay leaves emails to the process that sends them: still pending, no job.
    main.kickRelay();
    await sleep(1_000);
    expect(await main.emailQueue.getJob(notificationJobId(n.id))).toBeUndefined();
    expect(smtp.messagesTo(to)).toHaveLength(0);
    expect(await row(n.id)).toMatchObject({ status: 'pending', enqueued_at: null });

    const email = await pool.start({ prefix, config: { workerQueues: 'email' } });
    expect(email.worker).toBeUndefined();
    expect(email.emailWorker).toBeDefined();
    await waitFor('the email job', async () => (await email.emailQueue.getJob(notificationJobId(n.id))) !== undefined || (await row(n.id)).status === 'sent');
    await waitFor('the message', () => smtp.messagesTo(to).length >= 1, 10_000);
    await waitFor('the row to be sent', async () => (await row(n.id)).status === 'sent');
    await sleep(500);
    expect(smtp.messagesTo(to)).toHaveLength(1);
  });

  it('messages are composed whole: long non-ASCII subjects fold into encoded words, bodies decode, header values cannot add headers', () => {
    const subject = '物业服务合同将在 7 天后到期：提醒基准小区-12 的物业公司-12 duty contract ends in 7 days';
    const m = composeMessage({ from: 'Upkeep 物业 <no-reply@upkeep.local>', to: 'a@b.cn\r\nBcc: evil@x.cn', subject, text: '你好\n第二行', html: '<p>你好</p>', messageId: '<id@upkeep.local>' });
    const raw = m.raw.toString();
    expect(m.envelope).toEqual({ from: 'no-reply@upkeep.local', to: ['a@b.cn Bcc: evil@x.cn'] });
    expect(raw).not.toMatch(/^Bcc:/m);
    const [head = '', ...rest] = raw.split('\r\n\r\n');
    const subjectLines = /^Subject: ([^\r]*(?:\r\n [^\r]*)*)/m.exec(head)?.[1] ?? '';
    for (const line of subjectLines.split('\r\n')) expect(line.length).toBeLessThanOrEqual(78);
    const decoded = [...subjectLines.matchAll(/=\?UTF-8\?B\?([^?]*)\?=/g)].map((w) => Buffer.from(w[1] ?? '', 'base64').toString()).join('');
    expect(decoded).toBe(subject);
    const bodies = rest.map((part) => part.split('\r\n----')[0] ?? '').filter((b) => /^[A-Za-z0-9+/=\r\n]+$/.test(b));
    expect(bodies.map((b) => Buffer.from(b.replace(/\r\n/g, ''), 'base64').toString())).toEqual(['你好\n第二行', '<p>你好</p>']);
  });

  it('email jobs running together share a claim (EMAIL_RATE_PER_SECOND 1,000): each email arrives once, marked sent on its first attempt', async () => {
    const capture = captureLogs('debug');
    const tos = Array.from({ length: 45 }, (_, i) => address(`batch-${i}`));
    const rows: Array<Awaited<ReturnType<typeof emailTo>>> = [];
    for (const to of tos) rows.push(await emailTo(to));
    await pool.start({ config: { emailRatePerSecond: 1_000 }, logger: capture.logger });
    await waitFor('every message', () => tos.every((to) => smtp.messagesTo(to).length >= 1), 15_000);
    const sent = await waitFor('every row to be sent', async () => {
      const all = await Promise.all(rows.map((r) => row(r.id)));
      return all.every((r) => r.status === 'sent') && all;
    });
    expect(sent.map((r) => r.attempts)).toEqual(rows.map(() => 1));
    await sleep(1_000);
    for (const to of tos) expect(smtp.messagesTo(to)).toHaveLength(1);
    // Every job reports its own email sent, and the jobs were coalesced: fewer claims than emails.
    const ids = new Set(rows.map((r) => r.id));
    const reported = capture.entries.filter((e) => e.msg === 'email' && ids.has(e.notificationId as string));
    expect(reported.map((e) => e.notificationId).sort()).toEqual([...ids].sort());
    expect(reported.every((e) => e.outcome === 'sent')).toBe(true);
    const batches = capture.entries.filter((e) => e.msg === 'email batch').map((e) => e.size as number);
    expect(batches.reduce((a, b) => a + b, 0)).toBe(rows.length);
    expect(Math.max(...batches)).toBeGreaterThan(1);
    expect(batches.length).toBeLessThan(rows.length / 2);
  });

  it('two senders racing on one email send it once (direct calls, duplicate jobs, two worker sets)', async () => {
    // Direct: five concurrent sendEmail calls on the same row, no workers.
    const channel = new SmtpChannel(smtp.url, 'Upkeep <no-reply@upkeep.local>');
    const to = address('race');
    const n = await emailTo(to);
    const deps = { db: t.db, channel, config: config() };
    const outcomes = await Promise.allSettled(Array.from({ length: 5 }, () => sendEmail(deps, n.id)));
    channel.close();
    expect(outcomes.filter((o) => o.status === 'fulfilled' && o.value === 'sent')).toHaveLength(1);
    for (const o of outcomes) {
      if (o.status === 'rejected') expect(o.reason).toBeInstanceOf(SendFailed); // the lease is held: come back later
      else expect(['sent', 'skipped']).toContain(o.value);
    }
    await waitFor('the message', () => smtp.messagesTo(to).length === 1);
    expect(await row(n.id)).toMatchObject({ status: 'sent', attempts: 1 });

    // Through the queue: the relay's job, two more jobs for the same email under other ids, and
    // two worker sets on the same queue taking them at once.
    const workers = await pool.start();
    const other = await pool.start({ prefix: workers.prefix });
    const to2 = address('race-jobs');
    const m = await emailTo(to2);
    const ids = [`dup-a-${m.id}`, `dup-b-${m.id}`, `dup-c-${m.id}`];
    await Promise.all(ids.map((id, i) => enqueue(i % 2 ? other.emailQueue : workers.emailQueue, 'notification.send', { notificationId: m.id }, { jobId: id })));
    await waitFor('the message', () => smtp.messagesTo(to2).length >= 1);
    await waitFor('every job to be done', async () => {
      const jobs = await Promise.all([...ids, notificationJobId(m.id)].map((id) => workers.emailQueue.getJob(id)));
      return jobs.every((j) => j === undefined);
    });
    await sleep(1_000);
    expect(smtp.messagesTo(to2)).toHaveLength(1);
    expect(await row(m.id)).toMatchObject({ status: 'sent', attempts: 1 });
  });

  it('SMTP answering 451 twice, then OK: retried with backoff, delivered exactly once on the third attempt', async () => {
    await pool.start();
    smtp.failNext(2, 451);
    const before = smtp.dataCommands;
    const to = address('retry');
    const n = await emailTo(to);
    const sent = await waitFor('the row to be sent', async () => {
      const r = await row(n.id);
      return r.status === 'sent' && r;
    });
    expect(sent.attempts).toBe(3);
    expect(sent.last_error).toBeNull();
    await sleep(800);
    expect(smtp.messagesTo(to)).toHaveLength(1);
    expect(smtp.dataCommands - before).toBe(3);
  });

  it('SMTP answering 550 always: dead after EMAIL_MAX_ATTEMPTS with the error kept, listed for platform admins, retried on request', async () => {
    const cfg = config();
    expect(cfg.emailMaxAttempts).toBe(6); // the default: BullMQ must not give up before the row does
    await pool.start();
    smtp.failNext(Infinity, 550);
    const to = address('dead');
    const n = await emailTo(to);
    const dead = await waitFor(
      'the email to be dead',
      async () => {
        const r = await row(n.id);
        return r.status === 'dead' && r;
      },
      20_000,
    );
    expect(dead.attempts).toBe(cfg.emailMaxAttempts);
    expect(dead.last_error).toContain('550');
    expect(smtp.messagesTo(to)).toHaveLength(0);
    await sleep(500);
    expect((await row(n.id)).attempts).toBe(cfg.emailMaxAttempts); // no attempt after dead

    const admin = await makeUser(t.db, { isPlatformAdmin: true });
    // A property manager: staff, but not a platform administrator.
    const company = await makeOrg(t.db, 'property_company');
    const manager = await makeUser(t.db);
    await addMembership(t.db, manager.id, company.id, 'manager');

    const list = await as(t.app, admin.id)({ method: 'GET', url: '/api/v1/admin/notifications?status=dead' });
    expect(list.statusCode).toBe(200);
    const item = list.json<{ items: Array<{ id: string; status: string; attempts: number; lastError: string | null; recipientEmail: string | null }> }>().items.find((i) => i.id === n.id);
    expect(item).toMatchObject({ status: 'dead', attempts: cfg.emailMaxAttempts, recipientEmail: to });
    expect(item?.lastError).toContain('550');
    // Default status filter is dead too.
    expect((await as(t.app, admin.id)({ method: 'GET', url: '/api/v1/admin/notifications' })).json<{ items: Array<{ id: string }> }>().items.map((i) => i.id)).toContain(n.id);

    expect((await as(t.app, manager.id)({ method: 'GET', url: '/api/v1/admin/notifications?status=dead' })).statusCode).toBe(403);
    expect((await as(t.app, manager.id)({ method: 'POST', url: `/api/v1/admin/notifications/${n.id}/retry` })).statusCode).toBe(403);
    expect((await as(t.app, null)({ method: 'GET', url: '/api/v1/admin/notifications?status=dead' })).statusCode).toBe(401);
    expect((await row(n.id)).status).toBe('dead');

    // The server recovers; the admin retries: sent once, with a fresh attempt budget.
    smtp.recover();
    const retry = await as(t.app, admin.id)({ method: 'POST', url: `/api/v1/admin/notifications/${n.id}/retry` });
    expect(retry.statusCode).toBe(200);
    expect(retry.json()).toEqual({ id: n.id, status: 'pending', retried: true });
    await waitFor('the message', () => smtp.messagesTo(to).length === 1, 10_000);
    const sent = await waitFor('the row to be sent', async () => {
      const r = await row(n.id);
      return r.status === 'sent' && r;
    });
    expect(sent.attempts).toBe(1);
    expect(sent.last_error).toBeNull();
    // Retrying what is sent changes nothing.
    expect((await as(t.app, admin.id)({ method: 'POST', url: `/api/v1/admin/notifications/${n.id}/retry` })).json()).toEqual({ id: n.id, status: 'sent', retried: false });
    expect((await as(t.app, admin.id)({ method: 'POST', url: `/api/v1/admin/notifications/00000000-0000-4000-8000-000000000000/retry` })).statusCode).toBe(404);
    await sleep(800);
    expect(smtp.messagesTo(to)).toHaveLength(1);
  }, 40_000);

  it('a worker killed in the middle of sending: the email arrives exactly once', async () => {
    const prefix = uniquePrefix();
    pool.track(prefix);
    const to = address('killed');
    smtp.hangData();

    // The production entry point in a child process. `node --import tsx` rather than
    // `npx tsx`: one process (npx and the tsx CLI each spawn another), so SIGKILL hits the
    // worker itself, as an OOM kill or a lost machine would.
    const child: ChildProcess = spawn(process.execPath, ['--import', 'tsx', 'workers/main.ts'], {
      cwd: process.cwd(),
      env: {
        ...process.env,
        NODE_ENV: 'test',
        DATABASE_URL: t.testDb.url,
        REDIS_URL: TEST_REDIS_URL,
        QUEUE_PREFIX: prefix,
        SMTP_URL: smtp.url,
        EMAIL_LEASE_SECONDS: '2',
        // The lapsed lock is found within 1 s of lapsing (2 s after the kill): BullMQ's stalled
        // check, not a test shortcut, hands the job back (production: 60 s and 30 s).
        EMAIL_LOCK_MS: '2000',
        STALLED_INTERVAL_MS: '1000',
        EMAIL_RETRY_BASE_MS: '100',
        RELAY_POLL_MS: '200',
        RECONCILE_EVERY_MS: '3600000',
        LOG_LEVEL: 'warn',
        SEED_DEMO: 'false',
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let output = '';
    child.stdout?.on('data', (d: Buffer) => (output += d.toString()));
    child.stderr?.on('data', (d: Buffer) => (output += d.toString()));
    const exited = new Promise<NodeJS.Signals | number | null>((resolve) => child.once('exit', (code, signal) => resolve(signal ?? code)));
    try {
      const n = await emailTo(to);
      // The child started, relayed the email, claimed it and is inside DATA, waiting for our 250.
      await smtp.waitForHeld(1, 40_000).catch((err: Error) => {
        throw new Error(`${err.message}\nchild output:\n${output}`);
      });
      expect(await row(n.id)).toMatchObject({ status: 'sending', attempts: 1 });

      child.kill('SIGKILL');
      expect(await exited).toBe('SIGKILL');
      await smtp.waitForHeldClientsGone();
      // Our 250 now goes nowhere: the killed sender never learnt its message was accepted.
      smtp.release();
      await sleep(200);
      expect(smtp.messagesTo(to)).toHaveLength(0);
      expect((await row(n.id)).status).toBe('sending');

      // A worker elsewhere finds the job stalled (its lock lapsed), and the row's lease lapsed:
      // it sends again, with the same Message-ID.
      await pool.start({ prefix });
      const [message] = await waitFor('the message', () => smtp.messagesTo(to).length >= 1 && smtp.messagesTo(to), 20_000);
      expect(message?.messageId).toBe(messageIdFor(n.dedupe_key));
      const sent = await waitFor('the row to be sent', async () => {
        const r = await row(n.id);
        return r.status === 'sent' && r;
      });
      expect(sent.attempts).toBe(2);
      await sleep(1_000);
      expect(smtp.messagesTo(to)).toHaveLength(1);
    } finally {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
      await exited;
    }
  }, 60_000);

  it('without SMTP_URL, emails are written to the log and marked sent via "log"', async () => {
    const logs = captureLogs('info');
    await pool.start({ config: { smtpUrl: undefined }, logger: logs.logger });
    const to = address('log');
    const n = await emailTo(to, { title: 'Log only', body: 'No SMTP server configured.' });
    const sent = await waitFor('the row to be sent', async () => {
      const r = await row(n.id);
      return r.status === 'sent' && r;
    });
    expect(sent).toMatchObject({ delivered_via: 'log', attempts: 1 });
    const logged = logs.entries.filter((e) => e.to === to);
    expect(logged).toHaveLength(1);
    expect(logged[0]).toMatchObject({ subject: 'Log only', msg: expect.stringContaining('no SMTP_URL') });
    expect(smtp.messagesTo(to)).toHaveLength(0);
  });
});
