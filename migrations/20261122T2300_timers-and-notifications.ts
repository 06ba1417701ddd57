import { sql, type Kysely } from 'kysely';

// Frozen in time (2026-11-22): timers derived from domain state, and notifications with a
// unique dedupe key. PostgreSQL is the source of truth; Redis/BullMQ only delivers.

export async function up(db: Kysely<any>): Promise<void> {
  await db.schema
    .createTable('timers')
    .addColumn('id', 'uuid', (c) => c.primaryKey().defaultTo(sql`gen_random_uuid()`))
    .addColumn('kind', 'text', (c) => c.notNull())
    .addColumn('subject_id', 'text', (c) => c.notNull())
    .addColumn('community_id', 'uuid', (c) => c.references('communities.id'))
    .addColumn('due_at', sql`timestamptz(3)`, (c) => c.notNull())
    // Deterministic BullMQ job id, e.g. sla-breach-<ticket>-v3: re-enqueueing is harmless.
    .addColumn('job_id', 'text', (c) => c.notNull().unique().check(sql`job_id !~ ':' AND job_id !~ '^[0-9]+$'`))
    .addColumn('payload', 'jsonb', (c) => c.notNull().defaultTo(sql`'{}'::jsonb`))
    .addColumn('state', 'text', (c) => c.notNull().defaultTo('pending').check(sql`state IN ('pending','enqueued','fired','cancelled')`))
    .addColumn('enqueued_at', sql`timestamptz(3)`)
    .addColumn('fired_at', sql`timestamptz(3)`)
    .addColumn('cancelled_at', sql`timestamptz(3)`)
    .addColumn('created_at', sql`timestamptz(3)`, (c) => c.notNull().defaultTo(sql`now()`))
    .addColumn('updated_at', sql`timestamptz(3)`, (c) => c.notNull().defaultTo(sql`now()`))
    .execute();
  await sql`CREATE INDEX timers_open_due_idx ON timers (due_at) WHERE state IN ('pending','enqueued')`.execute(db);
  await db.schema.createIndex('timers_subject_idx').on('timers').columns(['kind', 'subject_id']).execute();

  await db.schema
    .createTable('notifications')
    .addColumn('id', 'uuid', (c) => c.primaryKey().defaultTo(sql`gen_random_uuid()`))
    // At most one notification per key and channel, whoever races to create it.
    .addColumn('dedupe_key', 'text', (c) => c.notNull().unique())
    .addColumn('community_id', 'uuid', (c) => c.references('communities.id'))
    .addColumn('recipient_user_id', 'uuid', (c) => c.references('users.id'))
    .addColumn('recipient_email', 'text')
    .addColumn('channel', 'text', (c) => c.notNull().check(sql`channel IN ('email','in_app')`))
    .addColumn('template', 'text', (c) => c.notNull())
    .addColumn('locale', 'text', (c) => c.notNull().check(sql`locale IN ('zh-CN','en')`))
    .addColumn('payload', 'jsonb', (c) => c.notNull().defaultTo(sql`'{}'::jsonb`))
    .addColumn('subject', 'text', (c) => c.notNull())
    .addColumn('body_text', 'text', (c) => c.notNull())
    .addColumn('body_html', 'text')
    .addColumn('status', 'text', (c) => c.notNull().defaultTo('pending').check(sql`status IN ('pending','sending','sent','failed','dead')`))
    .addColumn('attempts', 'integer', (c) => c.notNull().defaultTo(0))
    .addColumn('last_error', 'text')
    // A sender's claim on the row; an expired lease means the sender died mid-send.
    .addColumn('lease_until', sql`timestamptz(3)`)
    .addColumn('enqueued_at', sql`timestamptz(3)`)
    .addColumn('sent_at', sql`timestamptz(3)`)
    .addColumn('delivered_via', 'text')
    .addColumn('read_at', sql`timestamptz(3)`)
    .addColumn('created_at', sql`timestamptz(3)`, (c) => c.notNull().defaultTo(sql`now()`))
    .addColumn('updated_at', sql`timestamptz(3)`, (c) => c.notNull().defaultTo(sql`now()`))
    .addCheckConstraint('notifications_recipient', sql`recipient_user_id IS NOT NULL OR recipient_email IS NOT NULL`)
    .execute();
  await sql`CREATE INDEX notifications_outbox_idx ON notifications (created_at) WHERE channel = 'email' AND status IN ('pending','failed','sending')`.execute(db);
  await sql`CREATE INDEX notifications_inbox_idx ON notifications (recipient_user_id, created_at DESC) WHERE channel = 'in_app'`.execute(db);
  await sql`CREATE INDEX notifications_status_idx ON notifications (status, created_at)`.execute(db);

  // Commits wake the relay at once (NOTIFY is delivered only when the transaction commits,
  // so a rolled-back timer never wakes anyone); the relay also polls as a fallback.
  await sql`
    CREATE FUNCTION upkeep_outbox_notify() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
      PERFORM pg_notify('upkeep_outbox', TG_TABLE_NAME);
      RETURN NULL;
    END $$`.execute(db);
  await sql`
    CREATE TRIGGER timers_outbox_notify AFTER INSERT OR UPDATE OF due_at, state ON timers
    FOR EACH STATEMENT EXECUTE FUNCTION upkeep_outbox_notify()`.execute(db);
  await sql`
    CREATE TRIGGER notifications_outbox_notify AFTER INSERT OR UPDATE OF status ON notifications
    FOR EACH STATEMENT EXECUTE FUNCTION upkeep_outbox_notify()`.execute(db);
}

export async function down(db: Kysely<any>): Promise<void> {
  await db.schema.dropTable('notifications').ifExists().execute();
  await db.schema.dropTable('timers').ifExists().execute();
  await sql`DROP FUNCTION IF EXISTS upkeep_outbox_notify()`.execute(db);
}
