import { sql, type Kysely } from 'kysely';

// Frozen in time (2026-11-23): special maintenance fund requests, the electorate fixed at the
// opening of a vote, ballots, objections during public notice, and per-unit fund ledgers.

export async function up(db: Kysely<any>): Promise<void> {
  await db.schema
    .createTable('fund_requests')
    .addColumn('id', 'uuid', (c) => c.primaryKey().defaultTo(sql`gen_random_uuid()`))
    .addColumn('ref', 'bigint', (c) => c.notNull().unique().generatedAlwaysAsIdentity())
    .addColumn('community_id', 'uuid', (c) => c.notNull().references('communities.id'))
    .addColumn('title', 'text', (c) => c.notNull().check(sql`length(title) BETWEEN 1 AND 200`))
    .addColumn('description', 'text', (c) => c.notNull().defaultTo(''))
    .addColumn('path', 'text', (c) => c.notNull().check(sql`path IN ('normal','emergency')`))
    .addColumn('emergency_kind', 'text', (c) =>
      c.check(sql`emergency_kind IS NULL OR emergency_kind IN ('roof_leak','elevator_danger','water_pump_failure','facade_falling','drainage_failure','fire_system_failure')`),
    )
    .addColumn('decision_type', 'text', (c) => c.notNull().check(sql`decision_type IN ('use_fund','raise_fund','renovation','change_use')`))
    .addColumn('status', 'text', (c) =>
      c
        .notNull()
        .defaultTo('draft')
        .check(
          sql`status IN ('draft','voting','passed','rejected','no_quorum','public_notice','emergency_review','approved','in_works','accepted','settled','closed','withdrawn')`,
        ),
    )
    .addColumn('proposer_user_id', 'uuid', (c) => c.references('users.id'))
    .addColumn('proposer_org_id', 'uuid', (c) => c.references('organizations.id'))
    .addColumn('contractor_org_id', 'uuid', (c) => c.references('organizations.id'))
    .addColumn('budget_cents', 'bigint', (c) => c.notNull().check(sql`budget_cents > 0`))
    // Who approves: the owners' committee (filing with the authority), or the authority while it still manages the fund.
    .addColumn('approval_mode', 'text', (c) => c.notNull().defaultTo('committee').check(sql`approval_mode IN ('committee','authority')`))
    .addColumn('vote_opens_at', sql`timestamptz(3)`)
    .addColumn('vote_closes_at', sql`timestamptz(3)`)
    .addColumn('notice_days', 'integer', (c) => c.notNull().defaultTo(7).check(sql`notice_days BETWEEN 1 AND 60`))
    .addColumn('notice_starts_at', sql`timestamptz(3)`)
    .addColumn('notice_ends_at', sql`timestamptz(3)`)
    // Emergency path: the after-the-fact public notice (required; reminded until done).
    .addColumn('after_fact_notice_at', sql`timestamptz(3)`)
    .addColumn('outcome', 'text', (c) => c.check(sql`outcome IS NULL OR outcome IN ('passed','rejected','no_quorum')`))
    .addColumn('final_tally', 'jsonb')
    .addColumn('approved_at', sql`timestamptz(3)`)
    .addColumn('approved_by', 'uuid', (c) => c.references('users.id'))
    .addColumn('filed_with_authority_at', sql`timestamptz(3)`)
    .addColumn('authority_reviewed_at', sql`timestamptz(3)`)
    .addColumn('works_reported_at', sql`timestamptz(3)`)
    .addColumn('accepted_at', sql`timestamptz(3)`)
    .addColumn('actual_cost_cents', 'bigint', (c) => c.check(sql`actual_cost_cents IS NULL OR actual_cost_cents >= 0`))
    .addColumn('fund_share_cents', 'bigint', (c) => c.check(sql`fund_share_cents IS NULL OR fund_share_cents >= 0`))
    .addColumn('settled_at', sql`timestamptz(3)`)
    .addColumn('closed_at', sql`timestamptz(3)`)
    .addColumn('withdrawn_at', sql`timestamptz(3)`)
    .addColumn('withdraw_reason', 'text')
    .addColumn('created_at', sql`timestamptz(3)`, (c) => c.notNull().defaultTo(sql`now()`))
    .addColumn('updated_at', sql`timestamptz(3)`, (c) => c.notNull().defaultTo(sql`now()`))
    .addCheckConstraint('fund_emergency_kind', sql`(path = 'emergency') = (emergency_kind IS NOT NULL)`)
    .addCheckConstraint('fund_vote_window', sql`vote_closes_at IS NULL OR vote_opens_at IS NULL OR vote_closes_at > vote_opens_at`)
    .execute();
  await db.schema.createIndex('fund_requests_community_idx').on('fund_requests').columns(['community_id', 'created_at']).execute();

  // The units whose owners vote and pay, resolved from the chosen buildings/units at creation.
  await db.schema
    .createTable('fund_request_units')
    .addColumn('request_id', 'uuid', (c) => c.notNull().references('fund_requests.id'))
    .addColumn('unit_id', 'uuid', (c) => c.notNull().references('units.id'))
    .addPrimaryKeyConstraint('fund_request_units_pkey', ['request_id', 'unit_id'])
    .execute();

  await db.schema
    .createTable('fund_budget_lines')
    .addColumn('id', 'uuid', (c) => c.primaryKey().defaultTo(sql`gen_random_uuid()`))
    .addColumn('request_id', 'uuid', (c) => c.notNull().references('fund_requests.id'))
    .addColumn('position', 'integer', (c) => c.notNull())
    .addColumn('description', 'text', (c) => c.notNull())
    .addColumn('amount_cents', 'bigint', (c) => c.notNull().check(sql`amount_cents > 0`))
    .execute();
  await db.schema.createIndex('fund_budget_lines_request_idx').on('fund_budget_lines').column('request_id').execute();

  await db.schema
    .createTable('fund_funding')
    .addColumn('request_id', 'uuid', (c) => c.notNull().references('fund_requests.id'))
    .addColumn('source', 'text', (c) =>
      c.notNull().check(sql`source IN ('maintenance_fund','government_subsidy','street_community','property_company','contractor_concession','other')`),
    )
    .addColumn('amount_cents', 'bigint', (c) => c.notNull().check(sql`amount_cents >= 0`))
    .addPrimaryKeyConstraint('fund_funding_pkey', ['request_id', 'source'])
    .execute();

  await db.schema
    .createTable('fund_request_links')
    .addColumn('request_id', 'uuid', (c) => c.notNull().references('fund_requests.id'))
    .addColumn('ticket_id', 'uuid', (c) => c.references('tickets.id'))
    .addColumn('facility_id', 'uuid', (c) => c.references('facilities.id'))
    .addCheckConstraint('fund_link_one', sql`(ticket_id IS NULL) <> (facility_id IS NULL)`)
    .execute();
  await db.schema.createIndex('fund_request_links_request_idx').on('fund_request_links').column('request_id').execute();

  await db.schema
    .createTable('fund_documents')
    .addColumn('id', 'uuid', (c) => c.primaryKey().defaultTo(sql`gen_random_uuid()`))
    .addColumn('request_id', 'uuid', (c) => c.notNull().references('fund_requests.id'))
    .addColumn('kind', 'text', (c) => c.notNull().check(sql`kind IN ('quote','contract','plan','ballot_scan','proxy','acceptance','invoice','notice','other')`))
    .addColumn('title', 'text', (c) => c.notNull())
    .addColumn('storage_key', 'text')
    .addColumn('mime_type', 'text')
    .addColumn('size_bytes', 'integer')
    .addColumn('sha256', 'text')
    .addColumn('uploaded_by', 'uuid', (c) => c.references('users.id'))
    .addColumn('created_at', sql`timestamptz(3)`, (c) => c.notNull().defaultTo(sql`now()`))
    .execute();
  await db.schema.createIndex('fund_documents_request_idx').on('fund_documents').column('request_id').execute();

  // The electorate, fixed when voting opens (owner-persons per SPC interpretation arts. 8–9).
  await db.schema
    .createTable('fund_voters')
    .addColumn('request_id', 'uuid', (c) => c.notNull().references('fund_requests.id'))
    .addColumn('voter_key', 'text', (c) => c.notNull())
    .addColumn('kind', 'text', (c) => c.notNull().check(sql`kind IN ('owner','developer','unowned')`))
    .addColumn('owner_ids', sql`uuid[]`, (c) => c.notNull())
    .addColumn('unit_ids', sql`uuid[]`, (c) => c.notNull())
    .addColumn('area_centi_m2', 'bigint', (c) => c.notNull())
    .addPrimaryKeyConstraint('fund_voters_pkey', ['request_id', 'voter_key'])
    .execute();
  await sql`CREATE INDEX fund_voters_owner_idx ON fund_voters USING gin (owner_ids)`.execute(db);

  // One ballot per owner-person: an online ballot and an entered paper/proxy one cannot both count.
  await db.schema
    .createTable('fund_ballots')
    .addColumn('request_id', 'uuid', (c) => c.notNull())
    .addColumn('voter_key', 'text', (c) => c.notNull())
    .addColumn('choice', 'text', (c) => c.notNull().check(sql`choice IN ('agree','disagree','abstain')`))
    .addColumn('channel', 'text', (c) => c.notNull().check(sql`channel IN ('online','paper','proxy')`))
    // The owner the ballot is for, and who recorded it (the owner online; a committee member for paper/proxy).
    .addColumn('owner_id', 'uuid', (c) => c.references('owners.id'))
    .addColumn('entered_by', 'uuid', (c) => c.notNull().references('users.id'))
    .addColumn('scan_document_id', 'uuid', (c) => c.references('fund_documents.id'))
    .addColumn('cast_at', sql`timestamptz(3)`, (c) => c.notNull().defaultTo(sql`now()`))
    .addColumn('updated_at', sql`timestamptz(3)`, (c) => c.notNull().defaultTo(sql`now()`))
    .addPrimaryKeyConstraint('fund_ballots_pkey', ['request_id', 'voter_key'])
    .addForeignKeyConstraint('fund_ballots_voter_fk', ['request_id', 'voter_key'], 'fund_voters', ['request_id', 'voter_key'])
    .addCheckConstraint('fund_ballot_scan', sql`channel = 'online' OR scan_document_id IS NOT NULL`)
    .execute();

  await db.schema
    .createTable('fund_objections')
    .addColumn('id', 'uuid', (c) => c.primaryKey().defaultTo(sql`gen_random_uuid()`))
    .addColumn('request_id', 'uuid', (c) => c.notNull().references('fund_requests.id'))
    .addColumn('user_id', 'uuid', (c) => c.notNull().references('users.id'))
    .addColumn('body', 'text', (c) => c.notNull().check(sql`length(body) BETWEEN 1 AND 5000`))
    .addColumn('created_at', sql`timestamptz(3)`, (c) => c.notNull().defaultTo(sql`now()`))
    .execute();

  // Each unit's maintenance fund account: signed entries; the balance is their sum.
  await db.schema
    .createTable('unit_ledger_entries')
    .addColumn('id', 'uuid', (c) => c.primaryKey().defaultTo(sql`gen_random_uuid()`))
    .addColumn('unit_id', 'uuid', (c) => c.notNull().references('units.id'))
    .addColumn('community_id', 'uuid', (c) => c.notNull().references('communities.id'))
    .addColumn('request_id', 'uuid', (c) => c.references('fund_requests.id'))
    .addColumn('kind', 'text', (c) => c.notNull().check(sql`kind IN ('opening_balance','deposit','debit','top_up','adjustment')`))
    .addColumn('amount_cents', 'bigint', (c) => c.notNull())
    .addColumn('note', 'text')
    .addColumn('created_by', 'uuid', (c) => c.references('users.id'))
    .addColumn('created_at', sql`timestamptz(3)`, (c) => c.notNull().defaultTo(sql`now()`))
    .execute();
  await db.schema.createIndex('unit_ledger_unit_idx').on('unit_ledger_entries').columns(['unit_id', 'created_at']).execute();
  await db.schema.createIndex('unit_ledger_community_idx').on('unit_ledger_entries').column('community_id').execute();
  // A request debits each unit once.
  await sql`CREATE UNIQUE INDEX unit_ledger_debit_once ON unit_ledger_entries (request_id, unit_id) WHERE kind = 'debit'`.execute(db);
}

export async function down(db: Kysely<any>): Promise<void> {
  for (const t of ['unit_ledger_entries', 'fund_objections', 'fund_ballots', 'fund_voters', 'fund_documents', 'fund_request_links', 'fund_funding', 'fund_budget_lines', 'fund_request_units', 'fund_requests']) {
    await db.schema.dropTable(t).ifExists().execute();
  }
}
