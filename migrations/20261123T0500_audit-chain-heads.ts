import { sql, type Kysely } from 'kysely';

// Frozen in time (2026-11-23): the head (last seq and hash) of every audit chain in a row of its
// own, so that an append is one statement (bench/tickets.ts: a ticket creation spent three round
// trips on its audit event: advisory lock, read of the chain's last event, insert). The append
// upserts the head row, whose row lock serialises appends per chain as the advisory lock did,
// and which ON CONFLICT DO UPDATE reads at its latest committed version even under READ
// COMMITTED; the event is inserted from the returned head in the same statement.

export async function up(db: Kysely<any>): Promise<void> {
  await sql`
    CREATE TABLE audit_chain_heads (
      chain text PRIMARY KEY,
      seq bigint NOT NULL,
      hash text NOT NULL,
      prev_hash text NOT NULL
    )`.execute(db);
  await sql`
    INSERT INTO audit_chain_heads (chain, seq, hash, prev_hash)
    SELECT DISTINCT ON (chain) chain, seq, hash, prev_hash FROM audit_events ORDER BY chain, seq DESC`.execute(db);
}

export async function down(db: Kysely<any>): Promise<void> {
  await sql`DROP TABLE audit_chain_heads`.execute(db);
}
