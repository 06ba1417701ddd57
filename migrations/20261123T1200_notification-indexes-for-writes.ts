import { sql, type Kysely } from 'kysely';

// Frozen in time (2026-11-23): fewer index entries per notification written or updated, found by
// bench/timers.ts (docs/BENCHMARKS.md). Status changes are never HOT updates (status is in the
// partial indexes' predicates), so every index gets a new entry at each of an email's three
// updates (relayed, sending, sent).
// - notifications_outbox_idx (created_at, over pending/failed/sending emails): nothing reads it
//   any more; email jobs claim their rows by id.
// - notifications_status_idx (status, created_at) over every row: in-app messages (half of the
//   rows) gave it an entry each for nothing. Only emails are listed by status (GET
//   /admin/notifications?status=…, ordered by created_at, id).

export async function up(db: Kysely<any>): Promise<void> {
  await sql`DROP INDEX notifications_outbox_idx`.execute(db);
  await sql`DROP INDEX notifications_status_idx`.execute(db);
  await sql`CREATE INDEX notifications_email_status_idx ON notifications (status, created_at, id) WHERE channel = 'email'`.execute(db);
}

export async function down(db: Kysely<any>): Promise<void> {
  await sql`DROP INDEX notifications_email_status_idx`.execute(db);
  await sql`CREATE INDEX notifications_status_idx ON notifications (status, created_at)`.execute(db);
  await sql`CREATE INDEX notifications_outbox_idx ON notifications (created_at) WHERE channel = 'email' AND status IN ('pending','failed','sending')`.execute(db);
}
