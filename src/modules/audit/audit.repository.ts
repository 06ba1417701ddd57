import { sql } from 'kysely';
import type { DbOrTrx, Trx } from '../../db/index.js';
import type { StoredEvent } from './hash.js';

/**
 * Appends one event to its chain in one statement: the chain's head row is upserted (its row
 * lock serialises appends per chain until commit; ON CONFLICT DO UPDATE reads the latest
 * committed head, whatever the statement's snapshot), and the event is inserted from it, its
 * hash computed by PostgreSQL as sha256(prev_hash ‖ head ‖ seq ‖ tail), which is eventHash of
 * the event (hash.ts canonicalAroundSeq; the database is UTF8, as Node hashes strings).
 */
export async function appendEvent(
  trx: Trx,
  e: Omit<StoredEvent, 'seq' | 'prevHash' | 'hash'>,
  canonical: { head: string; tail: string },
  genesis: string,
): Promise<{ seq: number; prevHash: string; hash: string }> {
  const json = (v: unknown) => (v === undefined || v === null ? null : JSON.stringify(v));
  const { rows } = await sql<{ seq: string | number; prev_hash: string; hash: string }>`
    WITH head AS (
      INSERT INTO audit_chain_heads AS h (chain, seq, prev_hash, hash)
      VALUES (${e.chain}, 1, ${genesis}, encode(sha256(convert_to(${genesis} || ${canonical.head} || '1' || ${canonical.tail}, 'UTF8')), 'hex'))
      ON CONFLICT (chain) DO UPDATE
        SET seq = h.seq + 1, prev_hash = h.hash,
            hash = encode(sha256(convert_to(h.hash || ${canonical.head} || (h.seq + 1)::text || ${canonical.tail}, 'UTF8')), 'hex')
      RETURNING seq, prev_hash, hash
    )
    INSERT INTO audit_events (chain, seq, community_id, actor_user_id, action, entity_type, entity_id, before, after, created_at, prev_hash, hash)
    SELECT ${e.chain}, head.seq, ${e.communityId}::uuid, ${e.actorUserId}::uuid, ${e.action}, ${e.entityType}, ${e.entityId},
           ${json(e.before)}::jsonb, ${json(e.after)}::jsonb, ${e.createdAt}::timestamptz, head.prev_hash, head.hash
    FROM head
    RETURNING seq, prev_hash, hash`.execute(trx);
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
