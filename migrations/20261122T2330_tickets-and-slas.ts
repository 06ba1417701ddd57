import { sql, type Kysely } from 'kysely';

// Frozen in time (2026-11-22): business calendars, SLA policies, tickets with their SLA clock,
// holds (paused time), comments, attachments, devices for alarms.

export async function up(db: Kysely<any>): Promise<void> {
  await sql`CREATE EXTENSION IF NOT EXISTS pg_trgm`.execute(db);

  await db.schema
    .createTable('business_calendars')
    .addColumn('community_id', 'uuid', (c) => c.primaryKey().references('communities.id'))
    .addColumn('time_zone', 'text', (c) => c.notNull())
    // [{ start: 'HH:MM', end: 'HH:MM' }] per working day.
    .addColumn('working_hours', 'jsonb', (c) => c.notNull())
    .addColumn('weekend_days', sql`smallint[]`, (c) => c.notNull().defaultTo(sql`'{0,6}'`))
    .addColumn('use_china_holidays', 'boolean', (c) => c.notNull().defaultTo(true))
    // [{ date: 'YYYY-MM-DD', kind: 'holiday' | 'workday' }]: the community's own exceptions.
    .addColumn('overrides', 'jsonb', (c) => c.notNull().defaultTo(sql`'[]'::jsonb`))
    .addColumn('updated_at', sql`timestamptz(3)`, (c) => c.notNull().defaultTo(sql`now()`))
    .execute();

  await db.schema
    .createTable('sla_policies')
    .addColumn('id', 'uuid', (c) => c.primaryKey().defaultTo(sql`gen_random_uuid()`))
    .addColumn('community_id', 'uuid', (c) => c.notNull().references('communities.id'))
    // null: every category without a policy of its own.
    .addColumn('category', 'text')
    .addColumn('priority', 'text', (c) => c.notNull().check(sql`priority IN ('P1','P2','P3','P4')`))
    .addColumn('respond_value', 'integer', (c) => c.notNull().check(sql`respond_value > 0`))
    .addColumn('respond_unit', 'text', (c) => c.notNull().check(sql`respond_unit IN ('minutes','hours','working_days')`))
    .addColumn('resolve_value', 'integer', (c) => c.notNull().check(sql`resolve_value > 0`))
    .addColumn('resolve_unit', 'text', (c) => c.notNull().check(sql`resolve_unit IN ('minutes','hours','working_days')`))
    .addColumn('calendar', 'text', (c) => c.notNull().check(sql`calendar IN ('24x7','working_hours')`))
    .addColumn('created_at', sql`timestamptz(3)`, (c) => c.notNull().defaultTo(sql`now()`))
    .execute();
  await sql`CREATE UNIQUE INDEX sla_policies_scope_key ON sla_policies (community_id, COALESCE(category, ''), priority)`.execute(db);

  await db.schema
    .createTable('tickets')
    .addColumn('id', 'uuid', (c) => c.primaryKey().defaultTo(sql`gen_random_uuid()`))
    .addColumn('ref', 'bigint', (c) => c.notNull().unique().generatedAlwaysAsIdentity())
    .addColumn('community_id', 'uuid', (c) => c.notNull().references('communities.id'))
    .addColumn('kind', 'text', (c) => c.notNull().check(sql`kind IN ('fault','alarm','inspection_finding','rectification')`))
    .addColumn('category', 'text', (c) => c.notNull())
    .addColumn('priority', 'text', (c) => c.notNull().check(sql`priority IN ('P1','P2','P3','P4')`))
    .addColumn('status', 'text', (c) =>
      c.notNull().defaultTo('new').check(sql`status IN ('new','acknowledged','in_progress','on_hold','resolved','reopened','closed','cancelled')`),
    )
    .addColumn('title', 'text', (c) => c.notNull().check(sql`length(title) BETWEEN 1 AND 200`))
    .addColumn('description', 'text', (c) => c.notNull().defaultTo('').check(sql`length(description) <= 10000`))
    .addColumn('facility_id', 'uuid', (c) => c.references('facilities.id'))
    .addColumn('unit_id', 'uuid', (c) => c.references('units.id'))
    // Who reported: a user, or a person at the public QR form (name and phone only).
    .addColumn('reporter_user_id', 'uuid', (c) => c.references('users.id'))
    .addColumn('reporter_name', 'text')
    .addColumn('reporter_phone', 'text')
    .addColumn('channel', 'text', (c) => c.notNull().check(sql`channel IN ('staff','owner','qr','device','inspection','authority')`))
    // Public tickets (common parts) are visible to the community's owners; private ones to the reporter.
    .addColumn('is_public', 'boolean', (c) => c.notNull().defaultTo(true))
    .addColumn('duty_holder_org_id', 'uuid', (c) => c.references('organizations.id'))
    .addColumn('assignee_user_id', 'uuid', (c) => c.references('users.id'))
    .addColumn('assignee_org_id', 'uuid', (c) => c.references('organizations.id'))
    // Device alarms: a repeat alarm with the same key adds to the open ticket.
    .addColumn('dedupe_key', 'text')
    .addColumn('alarm_count', 'integer', (c) => c.notNull().defaultTo(0))
    .addColumn('hold_reason', 'text')
    .addColumn('cancel_reason', 'text')
    .addColumn('opened_at', sql`timestamptz(3)`, (c) => c.notNull().defaultTo(sql`now()`))
    .addColumn('acknowledged_at', sql`timestamptz(3)`)
    .addColumn('resolved_at', sql`timestamptz(3)`)
    .addColumn('closed_at', sql`timestamptz(3)`)
    .addColumn('cancelled_at', sql`timestamptz(3)`)
    // The SLA clock: targets in force, the version that timers carry, breaches for reporting.
    .addColumn('respond_by', sql`timestamptz(3)`)
    .addColumn('resolve_by', sql`timestamptz(3)`)
    .addColumn('sla_version', 'integer', (c) => c.notNull().defaultTo(1))
    .addColumn('response_breached_at', sql`timestamptz(3)`)
    .addColumn('resolution_breached_at', sql`timestamptz(3)`)
    .addColumn('escalation_level', 'integer', (c) => c.notNull().defaultTo(0))
    // Rectification orders carry the authority's own deadline.
    .addColumn('rectification_deadline', sql`timestamptz(3)`)
    .addColumn('rating', 'smallint', (c) => c.check(sql`rating BETWEEN 1 AND 5`))
    .addColumn('rating_comment', 'text')
    .addColumn('created_at', sql`timestamptz(3)`, (c) => c.notNull().defaultTo(sql`now()`))
    .addColumn('updated_at', sql`timestamptz(3)`, (c) => c.notNull().defaultTo(sql`now()`))
    .addCheckConstraint('tickets_reporter', sql`reporter_user_id IS NOT NULL OR reporter_name IS NOT NULL OR channel IN ('device','inspection')`)
    .execute();
  await sql`CREATE INDEX tickets_community_created_idx ON tickets (community_id, created_at, id)`.execute(db);
  await sql`CREATE INDEX tickets_community_status_due_idx ON tickets (community_id, status, resolve_by)`.execute(db);
  await sql`CREATE INDEX tickets_open_due_idx ON tickets (resolve_by) WHERE status IN ('new','acknowledged','in_progress','on_hold','reopened')`.execute(db);
  await sql`CREATE INDEX tickets_assignee_idx ON tickets (assignee_user_id, status) WHERE assignee_user_id IS NOT NULL`.execute(db);
  await sql`CREATE INDEX tickets_assignee_org_idx ON tickets (assignee_org_id, status) WHERE assignee_org_id IS NOT NULL`.execute(db);
  await sql`CREATE INDEX tickets_reporter_idx ON tickets (reporter_user_id) WHERE reporter_user_id IS NOT NULL`.execute(db);
  await sql`CREATE INDEX tickets_facility_idx ON tickets (facility_id, status) WHERE facility_id IS NOT NULL`.execute(db);
  // One open ticket per alarm key: 20 identical concurrent alarms make one ticket.
  await sql`CREATE UNIQUE INDEX tickets_open_dedupe_key ON tickets (community_id, dedupe_key) WHERE dedupe_key IS NOT NULL AND status IN ('new','acknowledged','in_progress','on_hold','reopened')`.execute(db);
  // Full-text search that works for Chinese: trigrams match any 3-character run (and LIKE).
  await sql`CREATE INDEX tickets_search_idx ON tickets USING gin ((title || ' ' || description) gin_trgm_ops)`.execute(db);

  await db.schema
    .createTable('ticket_holds')
    .addColumn('id', 'uuid', (c) => c.primaryKey().defaultTo(sql`gen_random_uuid()`))
    .addColumn('ticket_id', 'uuid', (c) => c.notNull().references('tickets.id'))
    .addColumn('reason', 'text', (c) => c.notNull().check(sql`reason IN ('awaiting_parts','awaiting_access','awaiting_funds','resolved')`))
    .addColumn('started_at', sql`timestamptz(3)`, (c) => c.notNull())
    .addColumn('ended_at', sql`timestamptz(3)`)
    .execute();
  await db.schema.createIndex('ticket_holds_ticket_idx').on('ticket_holds').columns(['ticket_id', 'started_at']).execute();

  await db.schema
    .createTable('ticket_comments')
    .addColumn('id', 'uuid', (c) => c.primaryKey().defaultTo(sql`gen_random_uuid()`))
    .addColumn('ticket_id', 'uuid', (c) => c.notNull().references('tickets.id'))
    .addColumn('author_user_id', 'uuid', (c) => c.references('users.id'))
    .addColumn('body', 'text', (c) => c.notNull().check(sql`length(body) BETWEEN 1 AND 10000`))
    // Internal comments are for staff; the others are visible to the reporter.
    .addColumn('internal', 'boolean', (c) => c.notNull().defaultTo(false))
    .addColumn('created_at', sql`timestamptz(3)`, (c) => c.notNull().defaultTo(sql`now()`))
    .execute();
  await db.schema.createIndex('ticket_comments_ticket_idx').on('ticket_comments').columns(['ticket_id', 'created_at']).execute();

  await db.schema
    .createTable('ticket_attachments')
    .addColumn('id', 'uuid', (c) => c.primaryKey().defaultTo(sql`gen_random_uuid()`))
    .addColumn('ticket_id', 'uuid', (c) => c.notNull().references('tickets.id'))
    // Server-chosen storage key, never a client path.
    .addColumn('storage_key', 'text', (c) => c.notNull().unique())
    .addColumn('original_name', 'text', (c) => c.notNull())
    .addColumn('mime_type', 'text', (c) => c.notNull())
    .addColumn('size_bytes', 'integer', (c) => c.notNull())
    .addColumn('sha256', 'text', (c) => c.notNull())
    .addColumn('uploaded_by', 'uuid', (c) => c.references('users.id'))
    .addColumn('created_at', sql`timestamptz(3)`, (c) => c.notNull().defaultTo(sql`now()`))
    .execute();
  await db.schema.createIndex('ticket_attachments_ticket_idx').on('ticket_attachments').column('ticket_id').execute();

  await db.schema
    .createTable('devices')
    .addColumn('id', 'uuid', (c) => c.primaryKey().defaultTo(sql`gen_random_uuid()`))
    .addColumn('facility_id', 'uuid', (c) => c.notNull().references('facilities.id'))
    .addColumn('name', 'text', (c) => c.notNull())
    // sha256 of the device's secret; the secret is shown once, at registration.
    .addColumn('secret_hash', 'text', (c) => c.notNull())
    .addColumn('disabled_at', sql`timestamptz(3)`)
    .addColumn('created_at', sql`timestamptz(3)`, (c) => c.notNull().defaultTo(sql`now()`))
    .execute();
  await db.schema.createIndex('devices_facility_idx').on('devices').column('facility_id').execute();

  // Per-community settings for the SLA ladder and auto-close (defaults in code when absent).
  await db.schema
    .alterTable('communities')
    .addColumn('settings', 'jsonb', (c) => c.notNull().defaultTo(sql`'{}'::jsonb`))
    .execute();
}

export async function down(db: Kysely<any>): Promise<void> {
  await db.schema.alterTable('communities').dropColumn('settings').execute();
  for (const t of ['devices', 'ticket_attachments', 'ticket_comments', 'ticket_holds', 'tickets', 'sla_policies', 'business_calendars']) {
    await db.schema.dropTable(t).ifExists().execute();
  }
}
