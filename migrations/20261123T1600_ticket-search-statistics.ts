import { sql, type Kysely } from 'kysely';

// Frozen in time (2026-11-23): the planner's guess of how many tickets match `q` decides between
// two plans that are each 100× slower on the other's terms: walking tickets_created_idx newest
// first (a common word: 50 matches come quickly) or the trigram index then a sort (a rare word).
// The guess comes from the statistics of the search expression (the index's second column): with
// the default 100-entry histogram its resolution is 1%, so a word in 0.05% of 1,000,000 tickets
// was guessed at 9,815 and walked 111,000 rows (652 ms, bench/tickets.ts). 1,000 entries resolve
// 0.1%: rare words take the trigram index (2.8 ms). Costs: ANALYZE of tickets samples 300,000
// rows, and planning a search evaluates the pattern against the histogram's 1,000 entries.

export async function up(db: Kysely<any>): Promise<void> {
  await sql`ALTER INDEX tickets_community_search_idx ALTER COLUMN 2 SET STATISTICS 1000`.execute(db);
}

export async function down(db: Kysely<any>): Promise<void> {
  await sql`ALTER INDEX tickets_community_search_idx ALTER COLUMN 2 SET STATISTICS -1`.execute(db);
}
