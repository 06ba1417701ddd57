import { sql, type Kysely } from 'kysely';

// Frozen in time (2026-11-23): indexes for the outbox relay and the reconciler, found missing by
// bench/timers.ts (docs/BENCHMARKS.md). Each covers only open rows, so it stays small however
// many timers have fired and emails have been sent:
// - the relay's claim of pending timers (state = 'pending' ORDER BY due_at) was a seq scan of the
//   whole timers table on every pass, and a pass runs on every commit that touches timers or
//   notifications: ~20 ms of PostgreSQL CPU per pass with 100,000 timers;
// - the relay's claim of unrelayed emails read every email still owed a delivery;
// - the reconciler's pages (by id) of enqueued timers and undelivered emails walked the primary
//   keys of both tables.

export async function up(db: Kysely<any>): Promise<void> {
  await sql`CREATE INDEX timers_pending_due_idx ON timers (due_at) WHERE state = 'pending'`.execute(db);
  await sql`CREATE INDEX timers_enqueued_id_idx ON timers (id) WHERE state = 'enqueued'`.execute(db);
  await sql`CREATE INDEX notifications_unrelayed_idx ON notifications (created_at) WHERE channel = 'email' AND status = 'pending' AND enqueued_at IS NULL`.execute(db);
  await sql`CREATE INDEX notifications_undelivered_id_idx ON notifications (id) WHERE channel = 'email' AND status IN ('pending','failed','sending')`.execute(db);
}

export async function down(db: Kysely<any>): Promise<void> {
  await sql`DROP INDEX notifications_undelivered_id_idx`.execute(db);
  await sql`DROP INDEX notifications_unrelayed_idx`.execute(db);
  await sql`DROP INDEX timers_enqueued_id_idx`.execute(db);
  await sql`DROP INDEX timers_pending_due_idx`.execute(db);
}
