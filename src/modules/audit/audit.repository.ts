import { sql } from 'kysely';
import type { DbOrTrx, Trx } from '../../db/index.js';
import type { StoredEvent } from './hash.js';

export async function lockChain(trx: Trx, chain: string): Promise<void> {
  // Serialises appends per chain for the rest of the transaction; other chains proceed.
  await sql`SELECT pg_advisory_xact_lock(hashtextextended(${`audit:${chain}`}, 0))`.execute(trx);
}

export async function lastEventOfChain(trx: DbOrTrx, chain: string) {
  return trx
    .selectFrom('audit_events')
    .select(['seq', 'hash'])
    .where('chain', '=', chain)
    .orderBy('seq', 'desc')
    .limit(1)
    .executeTakeFirst();
}

export async function insertEvent(trx: DbOrTrx, e: StoredEvent): Promise<void> {
  await trx
    .insertInto('audit_events')
    .values({
      chain: e.chain,
      seq: e.seq,
      community_id: e.communityId,
      actor_user_id: e.actorUserId,
      action: e.action,
      entity_type: e.entityType,
      entity_id: e.entityId,
      before: e.before === undefined || e.before === null ? null : JSON.stringify(e.before),
      after: e.after === undefined || e.after === null ? null : JSON.stringify(e.after),
      created_at: e.createdAt,
      prev_hash: e.prevHash,
      hash: e.hash,
    })
    .execute();
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
