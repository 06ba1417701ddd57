import { sql, type Kysely } from 'kysely';

// Frozen in time: this file describes the schema as it was on 2026-11-22. Never edit it; add a
// new migration instead.

export async function up(db: Kysely<any>): Promise<void> {
  await sql`CREATE EXTENSION IF NOT EXISTS pgcrypto`.execute(db);

  await db.schema
    .createTable('organizations')
    .addColumn('id', 'uuid', (c) => c.primaryKey().defaultTo(sql`gen_random_uuid()`))
    .addColumn('kind', 'text', (c) =>
      c.notNull().check(sql`kind IN ('property_company','owners_committee','property_management_committee','residents_committee','contractor','authority','platform')`),
    )
    .addColumn('name', 'text', (c) => c.notNull().check(sql`length(name) BETWEEN 1 AND 200`))
    // Committees belong to one community; set once the community exists.
    .addColumn('community_id', 'uuid')
    // Authorities supervise a district.
    .addColumn('district', 'text')
    .addColumn('created_at', sql`timestamptz(3)`, (c) => c.notNull().defaultTo(sql`now()`))
    .addCheckConstraint('authority_has_district', sql`kind <> 'authority' OR district IS NOT NULL`)
    .execute();

  await db.schema
    .createTable('users')
    .addColumn('id', 'uuid', (c) => c.primaryKey().defaultTo(sql`gen_random_uuid()`))
    .addColumn('email', 'text', (c) => c.notNull())
    .addColumn('name', 'text', (c) => c.notNull())
    .addColumn('phone', 'text')
    .addColumn('password_hash', 'text', (c) => c.notNull())
    .addColumn('locale', 'text', (c) => c.notNull().defaultTo('zh-CN').check(sql`locale IN ('zh-CN','en')`))
    .addColumn('is_platform_admin', 'boolean', (c) => c.notNull().defaultTo(false))
    .addColumn('failed_logins', 'integer', (c) => c.notNull().defaultTo(0))
    .addColumn('locked_until', 'timestamptz')
    .addColumn('disabled_at', 'timestamptz')
    .addColumn('created_at', sql`timestamptz(3)`, (c) => c.notNull().defaultTo(sql`now()`))
    .execute();
  // One person one account: an email identifies exactly one user, whatever its case.
  await sql`CREATE UNIQUE INDEX users_email_lower_key ON users (lower(email))`.execute(db);

  await db.schema
    .createTable('memberships')
    .addColumn('id', 'uuid', (c) => c.primaryKey().defaultTo(sql`gen_random_uuid()`))
    .addColumn('user_id', 'uuid', (c) => c.notNull().references('users.id').onDelete('cascade'))
    .addColumn('organization_id', 'uuid', (c) => c.notNull().references('organizations.id').onDelete('cascade'))
    .addColumn('role', 'text', (c) => c.notNull().check(sql`role IN ('manager','staff','member','chair','viewer')`))
    .addColumn('created_at', sql`timestamptz(3)`, (c) => c.notNull().defaultTo(sql`now()`))
    .addUniqueConstraint('memberships_user_org_key', ['user_id', 'organization_id'])
    .execute();
  await db.schema.createIndex('memberships_org_idx').on('memberships').column('organization_id').execute();

  await db.schema
    .createTable('refresh_tokens')
    .addColumn('id', 'uuid', (c) => c.primaryKey().defaultTo(sql`gen_random_uuid()`))
    .addColumn('user_id', 'uuid', (c) => c.notNull().references('users.id').onDelete('cascade'))
    .addColumn('family_id', 'uuid', (c) => c.notNull())
    // sha256 of the token: a database leak must not hand out sessions.
    .addColumn('token_hash', 'text', (c) => c.notNull().unique())
    .addColumn('expires_at', 'timestamptz', (c) => c.notNull())
    .addColumn('used_at', 'timestamptz')
    .addColumn('revoked_at', 'timestamptz')
    .addColumn('created_at', sql`timestamptz(3)`, (c) => c.notNull().defaultTo(sql`now()`))
    .execute();
  await db.schema.createIndex('refresh_tokens_family_idx').on('refresh_tokens').column('family_id').execute();

  await db.schema
    .createTable('communities')
    .addColumn('id', 'uuid', (c) => c.primaryKey().defaultTo(sql`gen_random_uuid()`))
    .addColumn('name', 'text', (c) => c.notNull().check(sql`length(name) BETWEEN 1 AND 200`))
    .addColumn('district', 'text', (c) => c.notNull())
    .addColumn('address', 'text')
    .addColumn('time_zone', 'text', (c) => c.notNull().defaultTo('Asia/Shanghai'))
    .addColumn('created_at', sql`timestamptz(3)`, (c) => c.notNull().defaultTo(sql`now()`))
    .execute();
  await db.schema.createIndex('communities_district_idx').on('communities').column('district').execute();
  await db.schema
    .alterTable('organizations')
    .addForeignKeyConstraint('organizations_community_fk', ['community_id'], 'communities', ['id'])
    .execute();
  await db.schema.createIndex('organizations_community_idx').on('organizations').column('community_id').execute();

  // Who must keep a community (or one facility category in it) running. Access for property
  // companies and contractors derives from these rows; the duties feature extends them.
  await db.schema
    .createTable('duty_assignments')
    .addColumn('id', 'uuid', (c) => c.primaryKey().defaultTo(sql`gen_random_uuid()`))
    .addColumn('community_id', 'uuid', (c) => c.notNull().references('communities.id'))
    .addColumn('organization_id', 'uuid', (c) => c.notNull().references('organizations.id'))
    .addColumn('facility_category', 'text')
    .addColumn('basis', 'text', (c) =>
      c.notNull().check(sql`basis IN ('service_contract','fallback_committee','delegated_contractor')`),
    )
    .addColumn('valid_from', 'timestamptz', (c) => c.notNull().defaultTo(sql`now()`))
    .addColumn('valid_to', 'timestamptz')
    .addColumn('created_at', sql`timestamptz(3)`, (c) => c.notNull().defaultTo(sql`now()`))
    .addCheckConstraint('duty_valid_range', sql`valid_to IS NULL OR valid_to > valid_from`)
    .execute();
  await db.schema.createIndex('duty_assignments_org_idx').on('duty_assignments').columns(['organization_id', 'community_id']).execute();
  await db.schema.createIndex('duty_assignments_community_idx').on('duty_assignments').column('community_id').execute();

  await db.schema
    .createTable('buildings')
    .addColumn('id', 'uuid', (c) => c.primaryKey().defaultTo(sql`gen_random_uuid()`))
    .addColumn('community_id', 'uuid', (c) => c.notNull().references('communities.id'))
    .addColumn('name', 'text', (c) => c.notNull().check(sql`length(name) BETWEEN 1 AND 100`))
    .addColumn('created_at', sql`timestamptz(3)`, (c) => c.notNull().defaultTo(sql`now()`))
    .addUniqueConstraint('buildings_community_name_key', ['community_id', 'name'])
    .execute();

  await db.schema
    .createTable('units')
    .addColumn('id', 'uuid', (c) => c.primaryKey().defaultTo(sql`gen_random_uuid()`))
    .addColumn('community_id', 'uuid', (c) => c.notNull().references('communities.id'))
    .addColumn('building_id', 'uuid', (c) => c.notNull().references('buildings.id'))
    .addColumn('number', 'text', (c) => c.notNull().check(sql`length(number) BETWEEN 1 AND 50`))
    // Registered area of the exclusive part in hundredths of m²: exact integers for the tally.
    .addColumn('area_centi_m2', 'bigint', (c) => c.notNull().check(sql`area_centi_m2 > 0`))
    .addColumn('first_deposit_cents', 'bigint', (c) => c.notNull().defaultTo(0).check(sql`first_deposit_cents >= 0`))
    .addColumn('created_at', sql`timestamptz(3)`, (c) => c.notNull().defaultTo(sql`now()`))
    .addUniqueConstraint('units_building_number_key', ['building_id', 'number'])
    .execute();
  await db.schema.createIndex('units_community_idx').on('units').column('community_id').execute();

  await db.schema
    .createTable('owners')
    .addColumn('id', 'uuid', (c) => c.primaryKey().defaultTo(sql`gen_random_uuid()`))
    .addColumn('community_id', 'uuid', (c) => c.notNull().references('communities.id'))
    .addColumn('name', 'text', (c) => c.notNull())
    .addColumn('phone', 'text')
    .addColumn('email', 'text')
    // A developer's unsold or undelivered units count as one person together (SPC interp. art. 9).
    .addColumn('is_developer', 'boolean', (c) => c.notNull().defaultTo(false))
    // The login of this owner, once they have one.
    .addColumn('user_id', 'uuid', (c) => c.references('users.id'))
    // How the same person is recognised across rows: phone, else email, else name.
    .addColumn('identity_key', 'text', (c) => c.notNull())
    .addColumn('created_at', sql`timestamptz(3)`, (c) => c.notNull().defaultTo(sql`now()`))
    .addUniqueConstraint('owners_community_identity_key', ['community_id', 'identity_key'])
    .execute();
  await db.schema.createIndex('owners_user_idx').on('owners').column('user_id').execute();

  await db.schema
    .createTable('unit_owners')
    .addColumn('unit_id', 'uuid', (c) => c.notNull().references('units.id').onDelete('cascade'))
    .addColumn('owner_id', 'uuid', (c) => c.notNull().references('owners.id'))
    .addPrimaryKeyConstraint('unit_owners_pkey', ['unit_id', 'owner_id'])
    .execute();
  await db.schema.createIndex('unit_owners_owner_idx').on('unit_owners').column('owner_id').execute();

  await db.schema
    .createTable('facilities')
    .addColumn('id', 'uuid', (c) => c.primaryKey().defaultTo(sql`gen_random_uuid()`))
    .addColumn('community_id', 'uuid', (c) => c.notNull().references('communities.id'))
    .addColumn('building_id', 'uuid', (c) => c.references('buildings.id'))
    .addColumn('category', 'text', (c) => c.notNull())
    .addColumn('name', 'text', (c) => c.notNull().check(sql`length(name) BETWEEN 1 AND 200`))
    .addColumn('location', 'text')
    .addColumn('status', 'text', (c) =>
      c.notNull().defaultTo('operational').check(sql`status IN ('operational','faulty','under_repair','decommissioned')`),
    )
    // Unguessable: it opens a public fault-report form without a login.
    .addColumn('qr_token', 'text', (c) => c.notNull().unique())
    .addColumn('created_at', sql`timestamptz(3)`, (c) => c.notNull().defaultTo(sql`now()`))
    .execute();
  await db.schema.createIndex('facilities_community_idx').on('facilities').columns(['community_id', 'category']).execute();

  // Append-only, hash-chained per chain (a community's id, or 'platform' for changes that
  // belong to no community). seq orders the chain; prev_hash links it.
  await db.schema
    .createTable('audit_events')
    .addColumn('id', 'bigserial', (c) => c.primaryKey())
    .addColumn('chain', 'text', (c) => c.notNull())
    .addColumn('seq', 'bigint', (c) => c.notNull())
    .addColumn('community_id', 'uuid')
    .addColumn('actor_user_id', 'uuid')
    .addColumn('action', 'text', (c) => c.notNull())
    .addColumn('entity_type', 'text', (c) => c.notNull())
    .addColumn('entity_id', 'text')
    .addColumn('before', 'jsonb')
    .addColumn('after', 'jsonb')
    .addColumn('created_at', sql`timestamptz(3)`, (c) => c.notNull())
    .addColumn('prev_hash', 'text', (c) => c.notNull())
    .addColumn('hash', 'text', (c) => c.notNull())
    .addUniqueConstraint('audit_events_chain_seq_key', ['chain', 'seq'])
    .execute();
  await db.schema.createIndex('audit_events_entity_idx').on('audit_events').columns(['entity_type', 'entity_id']).execute();

  // The database itself refuses to rewrite history, whoever the client is.
  await sql`
    CREATE FUNCTION audit_events_refuse_change() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
      RAISE EXCEPTION 'audit_events is append-only: % is not allowed', TG_OP
        USING ERRCODE = 'insufficient_privilege';
    END $$`.execute(db);
  await sql`
    CREATE TRIGGER audit_events_no_update_delete BEFORE UPDATE OR DELETE ON audit_events
    FOR EACH ROW EXECUTE FUNCTION audit_events_refuse_change()`.execute(db);
  await sql`
    CREATE TRIGGER audit_events_no_truncate BEFORE TRUNCATE ON audit_events
    FOR EACH STATEMENT EXECUTE FUNCTION audit_events_refuse_change()`.execute(db);

  // Results of chain verification runs (the nightly job and on-demand checks).
  await db.schema
    .createTable('audit_verifications')
    .addColumn('id', 'bigserial', (c) => c.primaryKey())
    .addColumn('chain', 'text', (c) => c.notNull())
    .addColumn('community_id', 'uuid')
    .addColumn('ok', 'boolean', (c) => c.notNull())
    .addColumn('events_checked', 'bigint', (c) => c.notNull())
    .addColumn('first_broken_seq', 'bigint')
    .addColumn('problem', 'text')
    .addColumn('trigger', 'text', (c) => c.notNull())
    .addColumn('checked_at', 'timestamptz', (c) => c.notNull().defaultTo(sql`now()`))
    .execute();
  await db.schema.createIndex('audit_verifications_chain_idx').on('audit_verifications').columns(['chain', 'checked_at']).execute();
}

export async function down(db: Kysely<any>): Promise<void> {
  for (const t of [
    'audit_verifications',
    'audit_events',
    'facilities',
    'unit_owners',
    'owners',
    'units',
    'buildings',
    'duty_assignments',
    'refresh_tokens',
    'memberships',
    'users',
  ]) {
    await db.schema.dropTable(t).ifExists().execute();
  }
  await db.schema.alterTable('organizations').dropConstraint('organizations_community_fk').execute();
  await db.schema.dropTable('communities').ifExists().execute();
  await db.schema.dropTable('organizations').ifExists().execute();
  await sql`DROP FUNCTION IF EXISTS audit_events_refuse_change()`.execute(db);
}
