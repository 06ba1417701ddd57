import { sql, type Kysely } from 'kysely';

// Frozen in time (2026-11-23): the voter lookup of every ballot (fund_voters.owner_ids && the
// caller's owner ids) goes through the GIN index fund_voters_owner_idx. With GIN's default
// fastupdate, the electorate written when a vote opens (one row per owner-person: 18,000 rows for
// a 20,000-unit community) sits in the index's unsorted pending list until a vacuum or an
// autoanalyze merges it, and every lookup meanwhile scans that whole list: 0.6 ms and ~75 pages
// per ballot instead of 0.002 ms and 3 pages, measured by bench/funds.ts (docs/BENCHMARKS.md), for
// the first minutes of the vote when most ballots arrive. Without fastupdate the entries go
// straight into the tree: writing an 18,000-voter electorate costs ~7 ms more.

export async function up(db: Kysely<any>): Promise<void> {
  await sql`ALTER INDEX fund_voters_owner_idx SET (fastupdate = off)`.execute(db);
  // Entries already pending stay there until merged; merge them now.
  await sql`SELECT gin_clean_pending_list('fund_voters_owner_idx'::regclass)`.execute(db);
}

export async function down(db: Kysely<any>): Promise<void> {
  await sql`ALTER INDEX fund_voters_owner_idx RESET (fastupdate)`.execute(db);
}
