import { sql } from 'kysely';
import type { DbOrTrx } from '../../db/index.js';
import type { NotificationChannel, NotificationStatus } from '../../db/types.js';
import { afterCursor, type Cursor } from '../../lib/pagination.js';
import { currentRequestId } from '../../lib/request-context.js';

export interface NewNotification {
  dedupeKey: string;
  communityId: string | null;
  recipientUserId: string | null;
  recipientEmail: string | null;
  channel: NotificationChannel;
  template: string;
  locale: 'zh-CN' | 'en';
  payload: unknown;
  subject: string;
  bodyText: string;
  bodyHtml: string | null;
}

/**
 * Inserts what is new; an existing dedupe key wins (at most one notification per key). One
 * statement whatever the number of rows: its text never changes, so it stays one prepared
 * statement, and a batch of timers writes all its notifications at once. The rows travel as one
 * JSON document (json_to_recordset): JSON.stringify is native, where pg escapes every element of
 * an array parameter in JavaScript, and rendered HTML bodies made that most of a firing's CPU.
 */
export async function insertNotifications(db: DbOrTrx, rows: NewNotification[]): Promise<Array<{ id: string; channel: NotificationChannel }>> {
  if (rows.length === 0) return [];
  // The request (or job) causing them, for the logs of the jobs that send them.
  const requestId = currentRequestId() ?? null;
  const doc = JSON.stringify(
    rows.map((r) => ({
      k: r.dedupeKey,
      c: r.communityId,
      u: r.recipientUserId,
      e: r.recipientEmail,
      ch: r.channel,
      t: r.template,
      l: r.locale,
      p: r.payload ?? {},
      s: r.subject,
      bt: r.bodyText,
      bh: r.bodyHtml,
    })),
  );
  const { rows: inserted } = await sql<{ id: string; channel: NotificationChannel }>`
    INSERT INTO notifications (request_id, dedupe_key, community_id, recipient_user_id, recipient_email, channel, template, locale, payload,
                               subject, body_text, body_html, status, sent_at, delivered_via)
    SELECT ${requestId}::text, v.k, v.c, v.u, v.e, v.ch, v.t, v.l, v.p, v.s, v.bt, v.bh,
           -- In-app messages are delivered by being stored.
           CASE WHEN v.ch = 'in_app' THEN 'sent' ELSE 'pending' END,
           CASE WHEN v.ch = 'in_app' THEN now() END,
           CASE WHEN v.ch = 'in_app' THEN 'in_app' END
    FROM json_to_recordset(${doc}::json) AS v(k text, c uuid, u uuid, e text, ch text, t text, l text, p jsonb, s text, bt text, bh text)
    ON CONFLICT (dedupe_key) DO NOTHING
    RETURNING id, channel`.execute(db);
  return inserted;
}

/**
 * Claims emails not yet handed to the queue, in one short statement that marks them relayed
 * (other relays skip locked rows). No lock is kept while the relay talks to Redis; if the add
 * fails, unmarkRelayed gives them back (and the reconciler would find them anyway).
 */
export async function claimUnrelayed(db: DbOrTrx, limit: number): Promise<Array<{ id: string; request_id: string | null }>> {
  const { rows } = await sql<{ id: string; request_id: string | null }>`
    WITH claimed AS MATERIALIZED (
      SELECT id FROM notifications
      WHERE channel = 'email' AND status = 'pending' AND enqueued_at IS NULL
      ORDER BY created_at LIMIT ${limit}
      FOR UPDATE SKIP LOCKED
    )
    UPDATE notifications n SET enqueued_at = now(), updated_at = now()
    FROM claimed c WHERE n.id = c.id
    RETURNING n.id, n.request_id`.execute(db);
  return rows;
}

export async function unmarkRelayed(db: DbOrTrx, ids: string[]) {
  if (ids.length === 0) return;
  await db.updateTable('notifications').set({ enqueued_at: null, updated_at: new Date() }).where('id', 'in', ids).where('status', '=', 'pending').execute();
}

/** Emails still owed a delivery, for the reconciler. */
export function undeliveredPage(db: DbOrTrx, afterId: string | null, limit: number) {
  let q = db
    .selectFrom('notifications')
    .select(['id', 'request_id'])
    .where('channel', '=', 'email')
    .where('status', 'in', ['pending', 'failed', 'sending'])
    .where('enqueued_at', 'is not', null);
  if (afterId) q = q.where('id', '>', afterId);
  return q.orderBy('id').limit(limit).execute();
}

/** What sending an email needs, not the payload or the rest of the row. */
export interface ClaimedEmail {
  id: string;
  recipient_email: string | null;
  subject: string;
  body_text: string;
  body_html: string | null;
  dedupe_key: string;
  attempts: number;
}

/**
 * Claims emails for sending, one sender at a time whoever races: each claimable row (pending,
 * failed, or 'sending' under a lease that lapsed because its sender died mid-send) is leased and
 * its attempt counted, in one statement for the whole list. Rows another statement is claiming
 * right now are skipped, not waited for (no lock-order deadlock between two senders' lists): the
 * caller reads their status (statusesOf) and retries them later. Primary-key lookups only: the
 * senders' jobs name their rows, nothing scans the outbox.
 */
export async function claimForSending(db: DbOrTrx, ids: string[], leaseSeconds: number): Promise<ClaimedEmail[]> {
  if (ids.length === 0) return [];
  const { rows } = await sql<ClaimedEmail>`
    WITH claimable AS (
      -- One primary-key lookup per listed row: a LATERAL subquery is a nested loop by
      -- construction, and its LIMIT keeps the conditions below out of it, so no partial index
      -- whose predicate they imply can be chosen to find a row by id. Misled by statistics from
      -- before a burst of emails, the planner did both (a scan of the outbox index, then of the
      -- status index per row): 12-250 ms a claim with a backlog of 40,000.
      SELECT l.id FROM unnest(${ids}::uuid[]) AS x(id)
      CROSS JOIN LATERAL (SELECT id, channel, status, lease_until FROM notifications WHERE id = x.id LIMIT 1 FOR UPDATE SKIP LOCKED) l
      WHERE l.channel = 'email' AND (l.status IN ('pending','failed') OR (l.status = 'sending' AND l.lease_until < now()))
    )
    UPDATE notifications n
    SET status = 'sending', attempts = attempts + 1, lease_until = now() + make_interval(secs => ${leaseSeconds}), updated_at = now()
    FROM claimable c WHERE n.id = c.id
    RETURNING n.id, n.recipient_email, n.subject, n.body_text, n.body_html, n.dedupe_key, n.attempts`.execute(db);
  return rows;
}

/**
 * The status of each of these notifications that exists. By id alone: no condition for the
 * planner to match against a partial index (see claimForSending); the ids are emails' anyway.
 */
export async function statusesOf(db: DbOrTrx, ids: string[]): Promise<Map<string, NotificationStatus>> {
  if (ids.length === 0) return new Map();
  const rows = await db.selectFrom('notifications').select(['id', 'status']).where('id', '=', sql<string>`ANY(${ids}::uuid[])`).execute();
  return new Map(rows.map((r) => [r.id, r.status]));
}

/** markSent for many rows sent the same way, in one statement. */
export async function markSentMany(db: DbOrTrx, ids: string[], deliveredVia: string) {
  if (ids.length === 0) return;
  // Rows looked up by id, as in claimForSending (`id = ANY(...) AND status = 'sending'` was planned
  // as a scan of every row in 'sending').
  await sql`
    WITH leased AS (
      SELECT l.id FROM unnest(${ids}::uuid[]) AS x(id)
      CROSS JOIN LATERAL (SELECT id, status FROM notifications WHERE id = x.id LIMIT 1 FOR UPDATE) l
      WHERE l.status = 'sending'
    )
    UPDATE notifications n SET status = 'sent', sent_at = now(), delivered_via = ${deliveredVia}, lease_until = NULL, last_error = NULL, updated_at = now()
    FROM leased WHERE n.id = leased.id`.execute(db);
}

export function findNotification(db: DbOrTrx, id: string) {
  return db.selectFrom('notifications').selectAll().where('id', '=', id).executeTakeFirst();
}

/**
 * Records a failed send. `refundAttempt`: the server could not be reached at all (nothing was
 * sent), so the claim's attempt is given back: attempts count the tries a server answered, and
 * an SMTP outage, however long, does not use up an email's budget (sendEmail).
 */
export async function markFailed(db: DbOrTrx, id: string, status: 'failed' | 'dead', error: string, opts: { refundAttempt?: boolean } = {}) {
  await db
    .updateTable('notifications')
    .set({
      status,
      last_error: error.slice(0, 2000),
      lease_until: null,
      updated_at: new Date(),
      ...(opts.refundAttempt ? { attempts: sql<number>`greatest(attempts - 1, 0)` } : {}),
    })
    .where('id', '=', id)
    .where('status', '=', 'sending')
    .execute();
}

export function listInbox(db: DbOrTrx, userId: string, opts: { unreadOnly: boolean; cursor?: Cursor; limit: number }) {
  let q = db
    .selectFrom('notifications')
    .select(['id', 'community_id', 'template', 'subject', 'body_text', 'payload', 'read_at', 'created_at'])
    .where('recipient_user_id', '=', userId)
    .where('channel', '=', 'in_app');
  if (opts.unreadOnly) q = q.where('read_at', 'is', null);
  // Newest first: the keyset runs backwards.
  if (opts.cursor) q = q.where(sql<boolean>`(created_at, id) < (${opts.cursor.t}::timestamptz, ${opts.cursor.id}::uuid)`);
  return q.orderBy('created_at', 'desc').orderBy('id', 'desc').limit(opts.limit + 1).execute();
}

export async function markRead(db: DbOrTrx, userId: string, ids: string[] | 'all') {
  let q = db.updateTable('notifications').set({ read_at: new Date(), updated_at: new Date() }).where('recipient_user_id', '=', userId).where('channel', '=', 'in_app').where('read_at', 'is', null);
  if (ids !== 'all') q = q.where('id', 'in', ids);
  const res = await q.executeTakeFirst();
  return Number(res.numUpdatedRows);
}

export function listByStatus(db: DbOrTrx, status: NotificationStatus, opts: { cursor?: Cursor; limit: number }) {
  return db
    .selectFrom('notifications')
    .selectAll()
    .where('status', '=', status)
    .where('channel', '=', 'email')
    .where(afterCursor(opts.cursor, 'created_at', 'id'))
    .orderBy('created_at')
    .orderBy('id')
    .limit(opts.limit + 1)
    .execute();
}

/** Back to pending with a fresh attempt budget; the relay sends it again. */
export function resetForRetry(db: DbOrTrx, id: string) {
  return db
    .updateTable('notifications')
    .set({ status: 'pending', attempts: 0, enqueued_at: null, lease_until: null, updated_at: new Date() })
    .where('id', '=', id)
    .where('channel', '=', 'email')
    .where('status', 'in', ['dead', 'failed'])
    .returningAll()
    .executeTakeFirst();
}
