import { sql, type Kysely } from 'kysely';

// Frozen in time (2026-11-23): indexes for ticket lists across communities and for searching
// within one community, found missing by bench/tickets.ts on 1,000,000 tickets (docs/BENCHMARKS.md):
// - newest first across communities (platform admins, authorities; no community filter) was a
//   parallel seq scan and top-N sort of the whole table;
// - open tickets by due time (sort=due orders by COALESCE(resolve_by, 'infinity'), id) read every
//   open ticket through tickets_open_due_idx and sorted them;
// - a search within one community ANDed the community's few rows with the trigram bitmap of the
//   whole table (tens of thousands of rows for a common word). One GIN index on (community_id,
//   trigrams) answers both that and searches across communities (GIN can use either column
//   alone), so it replaces tickets_search_idx: the same write cost as before.

const OPEN = sql`status IN ('new','acknowledged','in_progress','on_hold','reopened')`;

export async function up(db: Kysely<any>): Promise<void> {
  await sql`CREATE INDEX tickets_created_idx ON tickets (created_at, id)`.execute(db);
  await sql`CREATE INDEX tickets_open_by_due_idx ON tickets ((COALESCE(resolve_by, 'infinity'::timestamptz)), id) WHERE ${OPEN}`.execute(db);
  // btree_gin: the uuid column inside a GIN index (a trusted extension, shipped with PostgreSQL's contrib).
  await sql`CREATE EXTENSION IF NOT EXISTS btree_gin`.execute(db);
  await sql`CREATE INDEX tickets_community_search_idx ON tickets USING gin (community_id, (title || ' ' || description) gin_trgm_ops)`.execute(db);
  await sql`DROP INDEX tickets_search_idx`.execute(db);
}

export async function down(db: Kysely<any>): Promise<void> {
  await sql`CREATE INDEX tickets_search_idx ON tickets USING gin ((title || ' ' || description) gin_trgm_ops)`.execute(db);
  await sql`DROP INDEX tickets_community_search_idx`.execute(db);
  await sql`DROP INDEX tickets_open_by_due_idx`.execute(db);
  await sql`DROP INDEX tickets_created_idx`.execute(db);
}
