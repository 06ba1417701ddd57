import type { Config } from '../../config.js';
import type { DbOrTrx } from '../../db/index.js';
import { notFound } from '../../lib/errors.js';
import type { Cursor } from '../../lib/pagination.js';
import type { EmailChannel } from './channels.js';
import * as repo from './notifications.repository.js';
import { uniqueRecipients, type Recipient } from './recipients.js';
import { render, type TemplateName, type TemplatePayloads } from './templates.js';

export interface NotifyInput<K extends TemplateName> {
  /** Identifies the event: one notification per key, recipient and channel, however often called. */
  dedupeKey: string;
  communityId: string | null;
  /** The community's time zone, for dates in the message. */
  timeZone: string;
  template: K;
  payload: TemplatePayloads[K];
  recipients: Recipient[];
  /** In-app only, no email (default: both). */
  emailToo?: boolean;
}

/**
 * Records notifications in the caller's transaction: an in-app message for each user and an
 * email for each address, rendered in the recipient's language. Emails are sent by the worker
 * after commit (the relay is woken by NOTIFY); a rolled-back change sends nothing.
 */
export async function notify<K extends TemplateName>(trx: DbOrTrx, input: NotifyInput<K>) {
  return repo.insertNotifications(trx, notificationRows(input));
}

/** notify for many events at once (a batch of timers): one INSERT for all their notifications. */
export async function notifyMany(trx: DbOrTrx, inputs: Array<NotifyInput<TemplateName>>) {
  return repo.insertNotifications(trx, inputs.flatMap((i) => notificationRows(i)));
}

function notificationRows<K extends TemplateName>(input: NotifyInput<K>): repo.NewNotification[] {
  const rows: repo.NewNotification[] = [];
  for (const r of uniqueRecipients(input.recipients)) {
    const rendered = render(input.template, input.payload, { locale: r.locale, timeZone: input.timeZone, recipientName: r.name });
    const who = r.userId ?? `email:${(r.email ?? '').toLowerCase()}`;
    const base = {
      communityId: input.communityId,
      recipientUserId: r.userId,
      recipientEmail: r.email,
      template: input.template,
      locale: r.locale,
      payload: input.payload,
      subject: rendered.subject,
      bodyText: rendered.text,
    };
    if (r.userId) rows.push({ ...base, dedupeKey: `${input.dedupeKey}|${who}|in_app`, channel: 'in_app', bodyHtml: null });
    if (r.email && input.emailToo !== false) rows.push({ ...base, dedupeKey: `${input.dedupeKey}|${who}|email`, channel: 'email', bodyHtml: rendered.html });
  }
  return rows;
}

export type SendOutcome = 'sent' | 'skipped' | 'retry' | 'dead';

export class SendFailed extends Error {
  override name = 'SendFailed';
}

/** The email is being sent by another sender (perhaps a batch in this process). */
export class LeaseHeld extends SendFailed {
  override name = 'LeaseHeld';
}

type SendDeps = { db: DbOrTrx; channel: EmailChannel; config: Pick<Config, 'emailMaxAttempts' | 'emailLeaseSeconds'> };

/**
 * Sends one email at most once per dedupe key: the row is claimed first (one sender wins a
 * race), then sent, then marked. A sender that dies mid-send leaves a lease that lapses; the
 * retry sends again with the same Message-ID. SMTP failures count attempts and end as 'dead'.
 * Throws SendFailed when BullMQ should retry with backoff.
 */
export async function sendEmail(deps: SendDeps, notificationId: string): Promise<SendOutcome> {
  const outcome = (await sendEmailBatch(deps, [notificationId])).get(notificationId);
  if (!outcome || outcome.status === 'rejected') throw outcome?.reason ?? new SendFailed('no outcome');
  return outcome.value;
}

/**
 * sendEmail for several emails at once, each with its own outcome (a rejection is that email's
 * SendFailed): one statement claims them all, they are sent concurrently over the pooled
 * transport, and the sent ones are marked in one statement once every send is over (rows sent
 * but not marked yet keep their lease, so no other sender takes them meanwhile). The same
 * at-most-once rule holds for each.
 */
export async function sendEmailBatch(deps: SendDeps, ids: string[]): Promise<Map<string, PromiseSettledResult<SendOutcome>>> {
  const unique = [...new Set(ids)];
  const rows = await repo.claimForSending(deps.db, unique, deps.config.emailLeaseSeconds);
  const outcomes = new Map<string, PromiseSettledResult<SendOutcome>>();
  const claimed = new Set(rows.map((r) => r.id));
  const unclaimed = unique.filter((id) => !claimed.has(id));
  const statuses = await repo.statusesOf(deps.db, unclaimed);
  for (const id of unclaimed) {
    const status = statuses.get(id);
    // Held by a live sender's lease: come back later. Pending or failed: another sender was
    // claiming it at this very moment (skipped, not waited for) or has finished with it after a
    // failed send: still owed, so come back later too, never 'skipped' (nothing would retry it
    // until the reconciler ran). Otherwise sent, dead or gone: nothing to do.
    if (status === 'sending') outcomes.set(id, { status: 'rejected', reason: new LeaseHeld('another sender holds this email’s lease') });
    else if (status === 'pending' || status === 'failed') outcomes.set(id, { status: 'rejected', reason: new LeaseHeld('another sender attempted this email meanwhile') });
    else outcomes.set(id, { status: 'fulfilled', value: 'skipped' });
  }
  const settled = await Promise.allSettled(rows.map((row) => sendClaimed(deps, row)));
  const sent = new Map<string, string[]>();
  settled.forEach((r, i) => {
    if (r.status === 'fulfilled' && r.value.outcome === 'sent') {
      const via = r.value.deliveredVia as string;
      sent.set(via, [...(sent.get(via) ?? []), (rows[i] as { id: string }).id]);
    }
  });
  for (const [via, sentIds] of sent) await repo.markSentMany(deps.db, sentIds, via);
  settled.forEach((r, i) => {
    const id = (rows[i] as { id: string }).id;
    outcomes.set(id, r.status === 'fulfilled' ? { status: 'fulfilled', value: r.value.outcome } : r);
  });
  return outcomes;
}

/**
 * Coalesces the email jobs running at the same time in one worker: each job still sends its own
 * email and gets its own outcome (so retries, backoff and the rate limiter stay per email), but
 * the jobs that start within `windowMs` of each other share one claim and one mark. With a
 * claim per email, PostgreSQL spent more on the claims than on anything else a reminder does.
 */
export class EmailSender {
  private waiting = new Map<string, Array<{ resolve(o: SendOutcome): void; reject(e: unknown): void }>>();
  private timer: NodeJS.Timeout | undefined;

  constructor(
    private readonly deps: SendDeps,
    private readonly opts: { maxBatch: number; windowMs: number; onBatch?: (size: number) => void },
  ) {}

  send(notificationId: string): Promise<SendOutcome> {
    return new Promise<SendOutcome>((resolve, reject) => {
      const waiters = this.waiting.get(notificationId) ?? [];
      waiters.push({ resolve, reject });
      this.waiting.set(notificationId, waiters);
      if (this.waiting.size >= this.opts.maxBatch) this.flush();
      else this.timer ??= setTimeout(() => this.flush(), this.opts.windowMs);
    });
  }

  private flush(): void {
    clearTimeout(this.timer);
    this.timer = undefined;
    const batch = this.waiting;
    this.waiting = new Map();
    if (batch.size === 0) return;
    this.opts.onBatch?.(batch.size);
    sendEmailBatch(this.deps, [...batch.keys()]).then(
      (outcomes) => {
        for (const [id, waiters] of batch) {
          const o = outcomes.get(id);
          for (const w of waiters) {
            if (o?.status === 'fulfilled') w.resolve(o.value);
            else w.reject(o?.reason ?? new SendFailed('no outcome'));
          }
        }
      },
      // The claim or the mark failed (PostgreSQL unreachable): every job of the batch retries.
      (err: unknown) => {
        for (const waiters of batch.values()) for (const w of waiters) w.reject(err);
      },
    );
  }
}

/** Sends a claimed row; failures are recorded on the row. The caller marks 'sent' rows. */
async function sendClaimed(
  deps: SendDeps,
  row: repo.ClaimedEmail,
): Promise<{ outcome: SendOutcome; deliveredVia?: string }> {
  if (!row.recipient_email) {
    await repo.markFailed(deps.db, row.id, 'dead', 'no email address');
    return { outcome: 'dead' };
  }
  try {
    const result = await deps.channel.send({ to: row.recipient_email, subject: row.subject, text: row.body_text, html: row.body_html, dedupeKey: row.dedupe_key });
    return { outcome: 'sent', deliveredVia: result.deliveredVia };
  } catch (err) {
    const message = errorText(err);
    // An unreachable server (SMTP down) says nothing about this email: the attempt is not
    // counted, so an outage longer than the whole backoff budget does not kill the emails owed
    // meanwhile; they keep being retried with backoff (and, once BullMQ's own attempts run out,
    // put back by the reconciler) until the server is back. Only answers count toward 'dead'.
    if (serverUnreachable(err)) {
      await repo.markFailed(deps.db, row.id, 'failed', message, { refundAttempt: true });
      throw new SendFailed(`SMTP server unreachable (not counted as an attempt): ${message}`);
    }
    const dead = row.attempts >= deps.config.emailMaxAttempts;
    await repo.markFailed(deps.db, row.id, dead ? 'dead' : 'failed', message);
    if (dead) return { outcome: 'dead' };
    throw new SendFailed(`attempt ${row.attempts} of ${deps.config.emailMaxAttempts} failed: ${message}`);
  }
}

/**
 * The message cannot have reached the server: the connection itself failed (refused, timed out
 * connecting, no route, no such host), before any SMTP reply. A failure later in the
 * conversation (a 4xx/5xx reply, a connection lost during DATA) counts as an attempt.
 */
export function serverUnreachable(err: unknown): boolean {
  const e = err as { responseCode?: number; code?: string; command?: string; message?: string };
  if (e.responseCode) return false;
  if (e.command === 'CONN' || e.code === 'EDNS') return true;
  return /\b(ECONNREFUSED|EHOSTUNREACH|ENETUNREACH|ENOTFOUND|EAI_AGAIN)\b/.test(e.message ?? '') && (e.command === undefined || e.command === 'CONN');
}

function errorText(err: unknown): string {
  const e = err as { responseCode?: number; response?: string; message?: string; code?: string };
  if (e.responseCode) return `SMTP ${e.responseCode}: ${e.response ?? e.message ?? ''}`.trim();
  return `${e.code ? `${e.code}: ` : ''}${e.message ?? String(err)}`;
}

export function toInboxItem(n: Awaited<ReturnType<typeof repo.listInbox>>[number]) {
  return {
    id: n.id,
    communityId: n.community_id,
    template: n.template,
    subject: n.subject,
    body: n.body_text,
    payload: n.payload,
    read: n.read_at !== null,
    createdAt: n.created_at.toISOString(),
  };
}

export function listInbox(db: DbOrTrx, userId: string, opts: { unreadOnly: boolean; cursor?: Cursor; limit: number }) {
  return repo.listInbox(db, userId, opts);
}

export const markRead = repo.markRead;

/** Marks one of the user's in-app messages read; someone else's (or an email) is not found, as everywhere. */
export async function markOneRead(db: DbOrTrx, userId: string, id: string): Promise<number> {
  const updated = await repo.markRead(db, userId, [id]);
  if (updated > 0) return updated;
  const row = await repo.findNotification(db, id);
  if (!row || row.recipient_user_id !== userId || row.channel !== 'in_app') throw notFound('Notification');
  return 0; // already read
}
export const listByStatus = repo.listByStatus;

export async function retryEmail(db: DbOrTrx, id: string) {
  const row = await repo.resetForRetry(db, id);
  if (!row) {
    const exists = await repo.findNotification(db, id);
    if (!exists || exists.channel !== 'email') throw notFound('Notification');
    return { id, status: exists.status, retried: false };
  }
  return { id, status: row.status, retried: true };
}

export async function unreadCount(db: DbOrTrx, userId: string): Promise<number> {
  const row = await db
    .selectFrom('notifications')
    .select((eb) => eb.fn.countAll<number>().as('n'))
    .where('recipient_user_id', '=', userId)
    .where('channel', '=', 'in_app')
    .where('read_at', 'is', null)
    .executeTakeFirstOrThrow();
  return Number(row.n);
}
