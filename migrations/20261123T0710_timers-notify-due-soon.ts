import { sql, type Kysely } from 'kysely';

// Frozen in time (2026-11-23): a new or re-armed timer wakes the relay (NOTIFY upkeep_outbox) only
// when it falls due within 60 s. A transaction that NOTIFYs takes a database-wide lock at commit
// (PostgreSQL queues notifications in commit order), so every ticket opened, held or resumed
// (SLA timers, minutes to days ahead) committed one after another; the relay's poll
// (RELAY_POLL_MS, at most 60 s: src/config.ts) puts those on BullMQ long before they are due.
// Emails still wake it at once.

export async function up(db: Kysely<any>): Promise<void> {
  await sql`DROP TRIGGER timers_outbox_notify ON timers`.execute(db);
  await sql`
    CREATE TRIGGER timers_outbox_notify AFTER INSERT OR UPDATE OF due_at, state ON timers
    FOR EACH ROW WHEN (NEW.state = 'pending' AND NEW.due_at <= now() + interval '60 seconds') EXECUTE FUNCTION upkeep_outbox_notify()`.execute(db);
}

export async function down(db: Kysely<any>): Promise<void> {
  await sql`DROP TRIGGER timers_outbox_notify ON timers`.execute(db);
  await sql`
    CREATE TRIGGER timers_outbox_notify AFTER INSERT OR UPDATE OF due_at, state ON timers
    FOR EACH ROW WHEN (NEW.state = 'pending') EXECUTE FUNCTION upkeep_outbox_notify()`.execute(db);
}
