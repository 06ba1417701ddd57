import { sql, type Expression, type SqlBool } from 'kysely';
import type { DbOrTrx } from '../../db/index.js';
import { currentRequestId } from '../../lib/request-context.js';

export interface TimerRow {
  kind: string;
  subjectId: string;
  communityId: string | null;
  dueAt: Date;
  jobId: string;
  payload: unknown;
}

/**
 * Inserts timers, or re-arms existing ones with the same job id (a moved deadline): back to
 * pending with the new due time, so the relay replaces the delayed job. Fired timers stay fired.
 */
export async function upsertTimers(db: DbOrTrx, rows: TimerRow[]): Promise<number> {
  if (rows.length === 0) return 0;
  const res = await upsertTimersSql(rows).execute(db);
  return Number(res.numAffectedRows ?? 0);
}

/** upsertTimers's statement, to compose into a data-modifying CTE; `when` gates it. */
export function upsertTimersSql(rows: TimerRow[], when?: Expression<SqlBool>) {
  // The request (or job) scheduling them, for the logs of the jobs that fire them.
  const requestId = currentRequestId() ?? null;
  return sql`
    INSERT INTO timers (kind, subject_id, community_id, due_at, job_id, payload, request_id)
    SELECT k, s, c, d, j, p::jsonb, ${requestId}::text
    FROM unnest(${rows.map((r) => r.kind)}::text[], ${rows.map((r) => r.subjectId)}::text[], ${rows.map((r) => r.communityId)}::uuid[],
                ${rows.map((r) => r.dueAt.toISOString())}::timestamptz[], ${rows.map((r) => r.jobId)}::text[],
                ${rows.map((r) => JSON.stringify(r.payload ?? {}))}::text[]) AS t(k, s, c, d, j, p)
    ${when === undefined ? sql`` : sql`WHERE ${when}`}
    ON CONFLICT (job_id) DO UPDATE
      SET due_at = EXCLUDED.due_at, payload = EXCLUDED.payload, state = 'pending', cancelled_at = NULL, request_id = EXCLUDED.request_id, updated_at = now()
      WHERE timers.state <> 'fired' AND (timers.due_at <> EXCLUDED.due_at OR timers.state = 'cancelled')`;
}

export async function cancelTimers(db: DbOrTrx, where: { kind?: string; subjectId: string; exceptJobId?: string }): Promise<number> {
  let q = db
    .updateTable('timers')
    .set({ state: 'cancelled', cancelled_at: new Date(), updated_at: new Date() })
    .where('subject_id', '=', where.subjectId)
    .where('state', 'in', ['pending', 'enqueued']);
  if (where.kind) q = q.where('kind', '=', where.kind);
  if (where.exceptJobId) q = q.where('job_id', '<>', where.exceptJobId);
  const res = await q.executeTakeFirst();
  return Number(res.numUpdatedRows);
}

/**
 * Claims pending timers for the relay, in one short statement: marks them as being relayed
 * (enqueued_at) and returns each with the previous enqueued_at (not null: a job may be in Redis
 * already and must be replaced). Rows locked by a transaction in progress are skipped, and no
 * lock is kept while the relay talks to Redis: a domain write never waits for Redis.
 */
export async function claimForRelay(db: DbOrTrx, limit: number) {
  const { rows } = await sql<{ id: string; kind: string; job_id: string; due_at: Date; prev_enqueued_at: Date | null; request_id: string | null }>`
    WITH claimed AS MATERIALIZED (
      SELECT id, enqueued_at AS prev FROM timers WHERE state = 'pending' ORDER BY due_at LIMIT ${limit} FOR UPDATE SKIP LOCKED
    )
    UPDATE timers t SET enqueued_at = now(), updated_at = now()
    FROM claimed c WHERE t.id = c.id
    RETURNING t.id, t.kind, t.job_id, t.due_at, c.prev AS prev_enqueued_at, t.request_id`.execute(db);
  return rows;
}

/**
 * After the relay put the jobs in Redis: marks the timers enqueued, but only those still pending
 * with the due time the job was made for. A timer moved (or being moved) meanwhile stays pending
 * with enqueued_at set, so the next pass replaces its job. Never waits for a lock.
 */
export async function markEnqueued(db: DbOrTrx, relayed: Array<{ id: string; due_at: Date }>) {
  if (relayed.length === 0) return;
  await sql`
    UPDATE timers t SET state = 'enqueued', updated_at = now()
    FROM (
      -- One primary-key lookup per relayed timer (LATERAL, its LIMIT keeping the state test out
      -- of it): a join let the planner, misled by statistics from before a burst of timers, scan
      -- every pending timer instead (600 ms a page of 1,000).
      SELECT l.id FROM unnest(${relayed.map((r) => r.id)}::uuid[], ${relayed.map((r) => r.due_at.toISOString())}::timestamptz[]) AS v(id, due_at)
      CROSS JOIN LATERAL (SELECT id, due_at, state FROM timers WHERE id = v.id LIMIT 1 FOR UPDATE SKIP LOCKED) l
      WHERE l.due_at = v.due_at AND l.state = 'pending'
    ) r
    WHERE t.id = r.id`.execute(db);
}

/** Timers that should be in Redis, for the reconciler, in pages by id. */
export function enqueuedPage(db: DbOrTrx, afterId: string | null, limit: number) {
  let q = db.selectFrom('timers').select(['id', 'kind', 'job_id', 'due_at', 'request_id']).where('state', '=', 'enqueued');
  if (afterId) q = q.where('id', '>', afterId);
  return q.orderBy('id').limit(limit).execute();
}

/**
 * Claims a due timer for firing, in the caller's transaction, in one statement: marks it fired
 * and returns it, or returns nothing when it is gone, already fired or cancelled, or not due by
 * `dueBy` (a job from before its deadline moved). The UPDATE holds the row lock until the
 * transaction ends, so a second firing of the same timer waits, then finds it fired; if the
 * transaction rolls back (the handler failed), the timer is as it was.
 */
export async function claimForFiring(db: DbOrTrx, id: string, dueBy: Date, firedAt: Date) {
  return db
    .updateTable('timers')
    .set({ state: 'fired', fired_at: firedAt, updated_at: firedAt })
    .where('id', '=', id)
    .where('state', 'in', ['pending', 'enqueued'])
    .where('due_at', '<=', dueBy)
    .returning(['id', 'kind', 'subject_id', 'community_id', 'due_at', 'job_id', 'payload'])
    .executeTakeFirst();
}

/**
 * Claims a job's own timer (as claimForFiring) and, in the same statement, up to `limit` other
 * due timers of the batchable kinds (skipping rows another firing holds and the `exclude`d), all
 * marked fired in the caller's transaction. Their jobs, when they run, find them fired. Without
 * an own timer (`ownId` null: the sweeper) it claims due timers only.
 */
export async function claimDueForFiring(
  db: DbOrTrx,
  opts: { ownId: string | null; ownDueBy: Date; dueFrom: Date; dueBy: Date; kinds: string[]; limit: number; exclude: string[]; firedAt: Date },
) {
  const { rows } = await sql<{ id: string; kind: string; subject_id: string; community_id: string | null; due_at: Date; job_id: string; payload: unknown }>`
    WITH own AS (
      SELECT id FROM timers WHERE id = ${opts.ownId}::uuid AND state IN ('pending','enqueued') AND due_at <= ${opts.ownDueBy} FOR UPDATE
    ), more AS (
      SELECT id FROM timers
      -- "IS TRUE": not an index condition, so the kind index (every timer of the kind: 150,000
      -- entries in the bench) is never ANDed with the due-time range the scan needs.
      WHERE state IN ('pending','enqueued') AND due_at >= ${opts.dueFrom} AND due_at <= ${opts.dueBy} AND (kind = ANY(${opts.kinds}::text[])) IS TRUE
        AND id IS DISTINCT FROM ${opts.ownId}::uuid AND id <> ALL(${opts.exclude}::uuid[])
      ORDER BY due_at LIMIT ${opts.limit}
      FOR UPDATE SKIP LOCKED
    )
    UPDATE timers t SET state = 'fired', fired_at = ${opts.firedAt}, updated_at = ${opts.firedAt}
    WHERE t.id IN (SELECT id FROM own UNION ALL SELECT id FROM more)
    RETURNING t.id, t.kind, t.subject_id, t.community_id, t.due_at, t.job_id, t.payload`.execute(db);
  return rows;
}

/** When the earliest open timer of these kinds due from `from` on falls due (the sweeper sleeps until then). */
export async function nextDueAt(db: DbOrTrx, kinds: string[], from: Date): Promise<Date | null> {
  // The first in due-time order (an index scan that stops at the first match), the kind tested
  // as in claimDueForFiring: min() over a kind-index bitmap read every open timer, 30 ms a call.
  const { rows } = await sql<{ due_at: Date | null }>`
    SELECT due_at FROM timers WHERE state IN ('pending','enqueued') AND due_at >= ${from} AND (kind = ANY(${kinds}::text[])) IS TRUE
    ORDER BY due_at LIMIT 1`.execute(db);
  return rows[0]?.due_at ?? null;
}

/** A timer's state, read without locking (a firing job's first look). */
export function timerState(db: DbOrTrx, id: string) {
  return db.selectFrom('timers').select('state').where('id', '=', id).executeTakeFirst();
}

/** Why a timer was not claimed for firing (for the log). */
export async function whyNotFired(db: DbOrTrx, id: string): Promise<'gone' | 'already-fired' | 'cancelled' | 'not-yet-due'> {
  const row = await db.selectFrom('timers').select('state').where('id', '=', id).executeTakeFirst();
  if (!row) return 'gone';
  if (row.state === 'fired') return 'already-fired';
  if (row.state === 'cancelled') return 'cancelled';
  return 'not-yet-due';
}
