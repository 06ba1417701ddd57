import { sql, type Expression, type RawBuilder, type SqlBool } from 'kysely';
import type { DbOrTrx, Trx } from '../../db/index.js';
import type { StoredEvent } from './hash.js';

export type NewEvent = Omit<StoredEvent, 'seq' | 'prevHash' | 'hash'> & { canonical: { head: string; tail: string } };

/** sha256(prev ‖ head ‖ seq ‖ tail) in SQL: eventHash of an event whose canonical form is split around seq. */
function hashSql(prev: RawBuilder<unknown> | Expression<unknown>, e: NewEvent, seq: RawBuilder<unknown>) {
  return sql<string>`encode(sha256(convert_to(${prev} || ${e.canonical.head} || (${seq})::text || ${e.canonical.tail}, 'UTF8')), 'hex')`;
}

/** The hash after the first k events, from the chain's hash and seq before them (nested, k ≤ a few). */
function chainedHash(events: NewEvent[], k: number, baseHash: RawBuilder<unknown>, baseSeq: RawBuilder<unknown>): RawBuilder<string> {
  let h: RawBuilder<unknown> = baseHash;
  for (let i = 0; i < k; i++) h = hashSql(h, events[i] as NewEvent, sql`${baseSeq} + ${i + 1}`);
  return h as RawBuilder<string>;
}

/**
 * Appending events to one chain, as two CTEs of a data-modifying statement (`<name>_head` and
 * `<name>`, the latter returning each event's seq, prev_hash and hash), so that a change and its
 * trace are one atomic statement. The chain's head row is upserted: its row lock serialises
 * appends per chain until commit, and ON CONFLICT DO UPDATE reads the latest committed head,
 * whatever the statement's snapshot. Hashes are computed by PostgreSQL as
 * sha256(prev_hash ‖ head ‖ seq ‖ tail), which is eventHash (hash.ts canonicalAroundSeq; the
 * database is UTF8, as Node hashes strings). The head row's prev_hash is the chain's hash before
 * the latest append (for a one-event append, that event's prev_hash): what the events are
 * chained from. `when` (optional) gates the whole append, e.g. on a guard of the statement.
 */
export function appendEventsCtes(name: string, events: NewEvent[], genesis: string, when?: Expression<SqlBool>): RawBuilder<unknown> {
  const first = events[0];
  if (!first || events.some((e) => e.chain !== first.chain)) throw new Error('an append needs events of one chain');
  const n = events.length;
  const head = sql.id(`${name}_head`);
  const json = (v: unknown) => (v === undefined || v === null ? null : JSON.stringify(v));
  const rows = events.map(
    (e, i) => sql`SELECT ${e.chain}::text, hd.base_seq + ${i + 1}, ${e.communityId}::uuid, ${e.actorUserId}::uuid, ${e.action}::text, ${e.entityType}::text, ${e.entityId}::text,
           ${json(e.before)}::jsonb, ${json(e.after)}::jsonb, ${e.createdAt}::timestamptz,
           ${chainedHash(events, i, sql`hd.base_hash`, sql`hd.base_seq`)}, ${chainedHash(events, i + 1, sql`hd.base_hash`, sql`hd.base_seq`)}
    FROM ${head} hd`,
  );
  return sql`${head} AS (
      INSERT INTO audit_chain_heads AS h (chain, seq, prev_hash, hash)
      SELECT ${first.chain}, ${n}, ${genesis}, ${chainedHash(events, n, sql`${genesis}::text`, sql`0`)}
      ${when === undefined ? sql`` : sql`WHERE ${when}`}
      ON CONFLICT (chain) DO UPDATE
        SET seq = h.seq + ${n}, prev_hash = h.hash, hash = ${chainedHash(events, n, sql`h.hash`, sql`h.seq`)}
      RETURNING seq - ${n} AS base_seq, prev_hash AS base_hash
    ),
    ${sql.id(name)} AS (
      INSERT INTO audit_events (chain, seq, community_id, actor_user_id, action, entity_type, entity_id, before, after, created_at, prev_hash, hash)
      ${sql.join(rows, sql` UNION ALL `)}
      RETURNING seq, prev_hash, hash
    )`;
}

/** Appends one event to its chain in one statement (appendEventsCtes). */
export async function appendEvent(trx: Trx, e: NewEvent, genesis: string): Promise<{ seq: number; prevHash: string; hash: string }> {
  const { rows } = await sql<{ seq: string | number; prev_hash: string; hash: string }>`
    WITH ${appendEventsCtes('appended', [e], genesis)} SELECT seq, prev_hash, hash FROM appended`.execute(trx);
  const row = rows[0];
  if (!row) throw new Error('audit append returned no row');
  return { seq: Number(row.seq), prevHash: row.prev_hash, hash: row.hash };
}

export async function eventsPage(db: DbOrTrx, chain: string, afterSeq: number, limit: number): Promise<StoredEvent[]> {
  const rows = await db
    .selectFrom('audit_events')
    .selectAll()
    .where('chain', '=', chain)
    .where('seq', '>', afterSeq)
    .orderBy('seq')
    .limit(limit)
    .execute();
  return rows.map((r) => ({
    chain: r.chain,
    seq: r.seq,
    communityId: r.community_id,
    actorUserId: r.actor_user_id,
    action: r.action,
    entityType: r.entity_type,
    entityId: r.entity_id,
    before: r.before,
    after: r.after,
    createdAt: r.created_at,
    prevHash: r.prev_hash,
    hash: r.hash,
  }));
}

export async function insertVerification(
  db: DbOrTrx,
  v: { chain: string; communityId: string | null; ok: boolean; eventsChecked: number; firstBrokenSeq: number | null; problem: string | null; trigger: string },
) {
  return db
    .insertInto('audit_verifications')
    .values({
      chain: v.chain,
      community_id: v.communityId,
      ok: v.ok,
      events_checked: v.eventsChecked,
      first_broken_seq: v.firstBrokenSeq,
      problem: v.problem,
      trigger: v.trigger,
    })
    .returning(['id', 'checked_at'])
    .executeTakeFirstOrThrow();
}

/**
 * Every audit chain that should be verified: the platform chain (communityId null) first, then
 * one per community, in id order. Communities with no events yet are included: an empty chain
 * verifies as ok with 0 events, which is itself worth recording.
 */
export async function listAuditChains(db: DbOrTrx): Promise<Array<{ communityId: string | null }>> {
  const rows = await db.selectFrom('communities').select('id').orderBy('id').execute();
  return [{ communityId: null }, ...rows.map((r) => ({ communityId: r.id }))];
}

export async function communityExists(db: DbOrTrx, communityId: string): Promise<boolean> {
  const row = await db.selectFrom('communities').select('id').where('id', '=', communityId).executeTakeFirst();
  return row !== undefined;
}
