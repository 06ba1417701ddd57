import type { Expression, RawBuilder, SqlBool } from 'kysely';
import type { Db, DbOrTrx, Trx } from '../../db/index.js';
import { GENESIS_HASH, canonicalAroundSeq, checkLinks, type ChainCheck, type StoredEvent } from './hash.js';
import * as repo from './audit.repository.js';

export const PLATFORM_CHAIN = 'platform';

/**
 * The chain of a community: its id as PostgreSQL spells a uuid (lower case). Ids arrive from URLs
 * in any letter case; the chain name and the hashed communityId must not depend on that, or one
 * community would get several chains and its events would not verify once read back.
 */
export function chainOf(communityId: string | null): string {
  return communityId === null ? PLATFORM_CHAIN : communityId.toLowerCase();
}

export interface AuditInput {
  /** The community whose chain records this; null for platform-level records (users, organizations). */
  communityId: string | null;
  actorUserId: string | null;
  action: string;
  entityType: string;
  entityId: string | null;
  before?: unknown;
  after?: unknown;
}

/** The event as stored and hashed, its seq and hashes still to be learned under the chain's lock. */
function newEvent(input: AuditInput): repo.NewEvent {
  const chain = chainOf(input.communityId);
  const communityId = input.communityId === null ? null : chain;
  // jsonb keeps no undefined and no key order: store what hashing saw, as plain JSON.
  const normalise = (v: unknown) => (v === undefined || v === null ? null : JSON.parse(JSON.stringify(v)));
  const event = {
    chain,
    communityId,
    actorUserId: input.actorUserId,
    action: input.action,
    entityType: input.entityType,
    entityId: input.entityId,
    before: normalise(input.before),
    after: normalise(input.after),
    // Millisecond precision (created_at is timestamptz(3)), so the value read back hashes the same.
    createdAt: new Date(),
  };
  return { ...event, canonical: canonicalAroundSeq(event) };
}

/**
 * Appends one event to its community's chain. Must be called with the transaction that makes
 * the change, so the change and its trace commit or roll back together.
 */
export async function recordAudit(trx: Trx, input: AuditInput): Promise<StoredEvent> {
  const e = newEvent(input);
  // seq and prev_hash are only known under the chain's lock, in the database: one round trip.
  const linked = await repo.appendEvent(trx, e, GENESIS_HASH);
  return { chain: e.chain, communityId: e.communityId, actorUserId: e.actorUserId, action: e.action, entityType: e.entityType, entityId: e.entityId, before: e.before, after: e.after, createdAt: e.createdAt, ...linked };
}

/**
 * The audit events of a change, as CTEs (`<name>_head`, `<name>`) to compose into the one
 * data-modifying statement that makes the change, so both are one atomic unit without a
 * transaction. The events must be of one chain (one community), appended in the order given;
 * `when` gates the append like the rest of the statement.
 */
export function auditCtes(name: string, inputs: AuditInput[], when?: Expression<SqlBool>): RawBuilder<unknown> {
  return repo.appendEventsCtes(name, inputs.map(newEvent), GENESIS_HASH, when);
}

const PAGE = 5_000;

/** Walks a whole chain in pages and reports the first broken link. */
export async function verifyChain(db: DbOrTrx, chain: string): Promise<ChainCheck> {
  let cursor = { prevHash: GENESIS_HASH, seq: 0 };
  let total = 0;
  for (;;) {
    const page = await repo.eventsPage(db, chain, cursor.seq, PAGE);
    const result = checkLinks(page, cursor);
    total += result.eventsChecked;
    if (!result.ok) return { ok: false, eventsChecked: total, firstBrokenSeq: result.firstBrokenSeq, problem: result.problem };
    if (page.length < PAGE) return { ok: true, eventsChecked: total, firstBrokenSeq: null, problem: null };
    cursor = result.last;
  }
}

/** Verifies and records the result (the nightly job and the verify endpoint both do this). */
export async function verifyAndRecord(db: Db, communityId: string | null, trigger: 'nightly' | 'on_demand') {
  const chain = chainOf(communityId);
  const result = await verifyChain(db, chain);
  const row = await repo.insertVerification(db, { chain, communityId: communityId === null ? null : chain, trigger, ...result });
  return { chain, ...result, checkedAt: row.checked_at };
}

export async function listEvents(db: DbOrTrx, communityId: string, afterSeq: number, limit: number) {
  return repo.eventsPage(db, chainOf(communityId), afterSeq, limit);
}

/** Every chain to verify: the platform chain (communityId null) and one per community. */
export async function listAuditChains(db: DbOrTrx): Promise<Array<{ communityId: string | null }>> {
  return repo.listAuditChains(db);
}

export async function communityExists(db: DbOrTrx, communityId: string): Promise<boolean> {
  return repo.communityExists(db, communityId);
}
