import { createHash } from 'node:crypto';

/** The hash that starts every chain. */
export const GENESIS_HASH = '0'.repeat(64);

export interface ChainedEvent {
  chain: string;
  seq: number;
  communityId: string | null;
  actorUserId: string | null;
  action: string;
  entityType: string;
  entityId: string | null;
  before: unknown;
  after: unknown;
  createdAt: Date;
}

/**
 * JSON with object keys sorted at every depth, so the same event always hashes the same. Built
 * with plain loops: every audited change runs it (a ticket creation once or twice).
 */
export function canonicalJson(value: unknown): string {
  if (value === undefined) return 'null';
  if (value === null || typeof value !== 'object') return JSON.stringify(value);
  if (value instanceof Date) return JSON.stringify(value.toISOString());
  if (Array.isArray(value)) {
    let out = '[';
    // Index loop, not map: a hole is null as in JSON.stringify.
    for (let i = 0; i < value.length; i++) out += (i === 0 ? '' : ',') + canonicalJson(value[i]);
    return `${out}]`;
  }
  const record = value as Record<string, unknown>;
  // Default sort: UTF-16 code unit order, the same as comparing the keys with <.
  const keys = Object.keys(record).sort();
  let out = '{';
  for (const key of keys) {
    const v = record[key];
    if (v === undefined) continue;
    out += `${out.length === 1 ? '' : ','}${JSON.stringify(key)}:${canonicalJson(v)}`;
  }
  return `${out}}`;
}

/** hash = sha256(prevHash ‖ canonical event) (DESIGN.md "Audit"). */
export function eventHash(prevHash: string, event: ChainedEvent): string {
  return createHash('sha256').update(prevHash).update(canonicalJson(canonicalFields(event))).digest('hex');
}

function canonicalFields(event: ChainedEvent) {
  return {
    chain: event.chain,
    seq: event.seq,
    communityId: event.communityId,
    actorUserId: event.actorUserId,
    action: event.action,
    entityType: event.entityType,
    entityId: event.entityId,
    before: event.before ?? null,
    after: event.after ?? null,
    createdAt: event.createdAt.toISOString(),
  };
}

const SEQ_LAST = ',"seq":0}';

/**
 * The canonical form of an event split around its seq (canonical = head + seq + tail), for an
 * append that learns seq in the database and hashes there (audit.repository.ts appendEvent):
 * sha256(prevHash ‖ head ‖ seq ‖ tail) is eventHash. "seq" sorts after every other key, so it
 * comes last; checked here rather than assumed.
 */
export function canonicalAroundSeq(event: Omit<ChainedEvent, 'seq'>): { head: string; tail: string } {
  const whole = canonicalJson(canonicalFields({ ...event, seq: 0 }));
  if (!whole.endsWith(SEQ_LAST)) throw new Error('canonical event form: seq is not the last key');
  return { head: whole.slice(0, whole.length - 2), tail: '}' };
}

export interface StoredEvent extends ChainedEvent {
  prevHash: string;
  hash: string;
}

export interface ChainCheck {
  ok: boolean;
  eventsChecked: number;
  firstBrokenSeq: number | null;
  problem: string | null;
}

/**
 * Checks events of one chain given in seq order, starting after `startPrevHash` at `startSeq`.
 * Pure: the caller pages rows in. Reports the first broken link.
 */
export function checkLinks(events: StoredEvent[], start: { prevHash: string; seq: number }): ChainCheck & { last: { prevHash: string; seq: number } } {
  let prev = start.prevHash;
  let expectedSeq = start.seq;
  let checked = 0;
  for (const e of events) {
    expectedSeq += 1;
    const fail = (problem: string) => ({ ok: false, eventsChecked: checked, firstBrokenSeq: e.seq, problem, last: { prevHash: prev, seq: expectedSeq } });
    if (e.seq !== expectedSeq) return fail(`sequence gap: expected ${expectedSeq}, found ${e.seq}`);
    if (e.prevHash !== prev) return fail('prev_hash does not match the previous event’s hash');
    if (eventHash(prev, e) !== e.hash) return fail('hash does not match the event’s contents');
    prev = e.hash;
    checked += 1;
  }
  return { ok: true, eventsChecked: checked, firstBrokenSeq: null, problem: null, last: { prevHash: prev, seq: expectedSeq } };
}
