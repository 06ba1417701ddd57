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
  return sendEmails(deps, notificationId, 0);
}

/**
 * sendEmail for a job's own email and, in the same claim, up to `more` other pending emails
 * whose jobs have not run yet: all leased in one statement, sent concurrently over the pooled
 * transport, and the sent ones marked in one statement. The same at-most-once rule holds for
 * each (claimed before sent, marked after). `others` learns each other email's outcome
 * ('retry' when it failed: its own job then retries it with backoff).
 */
export async function sendEmails(
  deps: SendDeps,
  notificationId: string,
  more: number,
  others?: (outcomes: Map<string, Promise<SendOutcome>>) => void,
  /** Not to be taken into the batch (emails whose own jobs are running). */
  exclude: string[] = [],
): Promise<SendOutcome> {
  const rows = await repo.claimBatchForSending(deps.db, notificationId, more, deps.config.emailLeaseSeconds, exclude);
  const own = rows[0]?.id === notificationId ? rows[0] : undefined;
  if (!own) {
    const current = await repo.findNotification(deps.db, notificationId);
    // Held by a live sender's lease: come back later. Pending or failed again: another sender
    // claimed it while this one waited for the row and has finished with it (a batch whose send
    // failed): still owed, so come back later too, never 'skipped' (nothing would retry it until
    // the reconciler ran). Otherwise sent, dead or gone: nothing to do.
    if (current?.status === 'sending') throw new LeaseHeld('another sender holds this email’s lease');
    if (current?.status === 'pending' || current?.status === 'failed') throw new LeaseHeld('another sender attempted this email meanwhile');
    return 'skipped';
  }
  const sends = rows.map((row) => sendClaimed(deps, row));
  // Marked sent together once every send is over: rows whose send succeeded but are not marked
  // yet keep their lease, so no other sender takes them meanwhile.
  const marking = Promise.allSettled(sends).then(async (settled) => {
    const sent = new Map<string, string[]>();
    settled.forEach((r, i) => {
      if (r.status === 'fulfilled' && r.value.outcome === 'sent') {
        const via = r.value.deliveredVia as string;
        sent.set(via, [...(sent.get(via) ?? []), (rows[i] as { id: string }).id]);
      }
    });
    for (const [via, ids] of sent) await repo.markSentMany(deps.db, ids, via);
  });
  // Told at once (before the sends), so the other emails' jobs wait for these outcomes instead of
  // finding their rows leased. A failed send (SendFailed) is 'retry' for its own job.
  others?.(
    new Map(
      rows.slice(1).map((row, i) => [
        row.id,
        marking.then(
          () => (sends[i + 1] as Promise<{ outcome: SendOutcome }>).then((r) => r.outcome, () => 'retry' as const),
          () => 'retry' as const,
        ),
      ]),
    ),
  );
  await marking;
  return (await sends[0] as { outcome: SendOutcome }).outcome;
}

/** Sends a claimed row; failures are recorded on the row. The caller marks 'sent' rows. */
async function sendClaimed(
  deps: SendDeps,
  row: { id: string; recipient_email: string | null; subject: string; body_text: string; body_html: string | null; dedupe_key: string; attempts: number },
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
