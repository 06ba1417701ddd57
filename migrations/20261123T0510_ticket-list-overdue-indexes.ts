import { sql, type Kysely } from 'kysely';

// Frozen in time (2026-11-23): indexes for overdue=true lists, found slow by bench/tickets.ts on
// 1,000,000 tickets. Overdue is a running clock (new, acknowledged, in progress, reopened) past
// resolve_by or the rectification deadline, newest first. now() cannot be in an index, but the
// running tickets are few (about 15%): a partial index of them in list order lets the list stop
// after the first page of overdue ones instead of reading every open ticket of the community and
// sorting it (per community), or every ticket newest first (across communities).
// The reporter's index gets the list order too (it replaces tickets_reporter_idx: same write
// cost): a list across communities is the union of per-branch first pages (visibleTicketBranches),
// and "tickets I reported" is one of them.

const RUNNING = sql`status IN ('new','acknowledged','in_progress','reopened')`;

export async function up(db: Kysely<any>): Promise<void> {
  await sql`CREATE INDEX tickets_running_community_created_idx ON tickets (community_id, created_at, id) WHERE ${RUNNING}`.execute(db);
  await sql`CREATE INDEX tickets_running_created_idx ON tickets (created_at, id) WHERE ${RUNNING}`.execute(db);
  await sql`CREATE INDEX tickets_reporter_created_idx ON tickets (reporter_user_id, created_at, id) WHERE reporter_user_id IS NOT NULL`.execute(db);
  await sql`DROP INDEX tickets_reporter_idx`.execute(db);
}

export async function down(db: Kysely<any>): Promise<void> {
  await sql`CREATE INDEX tickets_reporter_idx ON tickets (reporter_user_id) WHERE reporter_user_id IS NOT NULL`.execute(db);
  await sql`DROP INDEX tickets_reporter_created_idx`.execute(db);
  await sql`DROP INDEX tickets_running_created_idx`.execute(db);
  await sql`DROP INDEX tickets_running_community_created_idx`.execute(db);
}
