import { sql, type Kysely } from 'kysely';

// Frozen in time (2026-11-23): the outbox NOTIFY only when there is something to relay, found by
// bench/timers.ts (docs/BENCHMARKS.md). The statement triggers notified on every change of a
// timer's state and of an email's status, so each reminder woke the relay four times (timer
// fired, email written, email claimed for sending, email sent) when only one of them (the email
// written) gave it work. Now: a timer becoming pending (scheduled, moved, re-armed) and an email
// becoming pending (written, or reset for a retry). Row triggers with WHEN: the condition is
// checked without calling the function, and NOTIFY folds identical notifications of one
// transaction into one, so a bulk insert still wakes the relay once.

export async function up(db: Kysely<any>): Promise<void> {
  await sql`DROP TRIGGER timers_outbox_notify ON timers`.execute(db);
  await sql`DROP TRIGGER notifications_outbox_notify ON notifications`.execute(db);
  await sql`
    CREATE TRIGGER timers_outbox_notify AFTER INSERT OR UPDATE OF due_at, state ON timers
    FOR EACH ROW WHEN (NEW.state = 'pending') EXECUTE FUNCTION upkeep_outbox_notify()`.execute(db);
  await sql`
    CREATE TRIGGER notifications_outbox_notify AFTER INSERT OR UPDATE OF status ON notifications
    FOR EACH ROW WHEN (NEW.channel = 'email' AND NEW.status = 'pending') EXECUTE FUNCTION upkeep_outbox_notify()`.execute(db);
}

export async function down(db: Kysely<any>): Promise<void> {
  await sql`DROP TRIGGER timers_outbox_notify ON timers`.execute(db);
  await sql`DROP TRIGGER notifications_outbox_notify ON notifications`.execute(db);
  await sql`
    CREATE TRIGGER timers_outbox_notify AFTER INSERT OR UPDATE OF due_at, state ON timers
    FOR EACH STATEMENT EXECUTE FUNCTION upkeep_outbox_notify()`.execute(db);
  await sql`
    CREATE TRIGGER notifications_outbox_notify AFTER INSERT OR UPDATE OF status ON notifications
    FOR EACH STATEMENT EXECUTE FUNCTION upkeep_outbox_notify()`.execute(db);
}
