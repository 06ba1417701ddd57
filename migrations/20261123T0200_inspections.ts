import { sql, type Kysely } from 'kysely';

// Frozen in time (2026-11-23): recurring inspections and electronic patrol (issue 6). Plans
// (with a version history), tasks generated from their RRULE on a rolling horizon, results per
// facility, and patrol check-ins. Results and check-ins are evidence: they refuse UPDATE/DELETE.

export async function up(db: Kysely<any>): Promise<void> {
  await db.schema
    .createTable('inspection_plans')
    .addColumn('id', 'uuid', (c) => c.primaryKey().defaultTo(sql`gen_random_uuid()`))
    .addColumn('community_id', 'uuid', (c) => c.notNull().references('communities.id'))
    .addColumn('name', 'text', (c) => c.notNull().check(sql`length(name) BETWEEN 1 AND 200`))
    .addColumn('kind', 'text', (c) => c.notNull().check(sql`kind IN ('inspection','patrol')`))
    // The default plan this one was adopted from (cameras_access, fire_equipment…), if any.
    .addColumn('template', 'text')
    // The plan's facility category: duty holder, ticket routing and KPIs.
    .addColumn('category', 'text', (c) => c.notNull())
    // Facility selection: every facility of these categories, or the explicit list (a patrol's
    // route, in order).
    .addColumn('categories', sql`text[]`, (c) => c.notNull().defaultTo(sql`'{}'`))
    .addColumn('facility_ids', sql`uuid[]`, (c) => c.notNull().defaultTo(sql`'{}'`))
    // RFC 5545 RRULE evaluated on the local wall clock of time_zone from dtstart_local.
    .addColumn('rrule', 'text', (c) => c.notNull().check(sql`length(rrule) BETWEEN 1 AND 500`))
    .addColumn('dtstart_local', 'text', (c) => c.notNull().check(sql`dtstart_local ~ '^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}$'`))
    .addColumn('time_zone', 'text', (c) => c.notNull())
    // [{ id, text, textEn?, severity: low|medium|high|critical }]
    .addColumn('checklist', 'jsonb', (c) => c.notNull().defaultTo(sql`'[]'::jsonb`))
    // 'duty_holder': assignee_org_id follows the category's duty holder; 'explicit': as set.
    .addColumn('assignee_source', 'text', (c) => c.notNull().defaultTo('duty_holder').check(sql`assignee_source IN ('duty_holder','explicit')`))
    .addColumn('assignee_org_id', 'uuid', (c) => c.references('organizations.id'))
    .addColumn('assignee_user_id', 'uuid', (c) => c.references('users.id'))
    // A task can be worked from (occurrence − lead time); it is due at occurrence + due window;
    // the owners' committee hears of it when still not done escalate_after past the due time.
    .addColumn('lead_time_minutes', 'integer', (c) => c.notNull().defaultTo(0).check(sql`lead_time_minutes BETWEEN 0 AND 44640`))
    .addColumn('due_window_minutes', 'integer', (c) => c.notNull().defaultTo(1440).check(sql`due_window_minutes BETWEEN 1 AND 44640`))
    .addColumn('escalate_after_minutes', 'integer', (c) => c.notNull().defaultTo(2880).check(sql`escalate_after_minutes BETWEEN 1 AND 44640`))
    .addColumn('active', 'boolean', (c) => c.notNull().defaultTo(true))
    .addColumn('version', 'integer', (c) => c.notNull().defaultTo(1))
    // The generator's watermark: the first occurrence it has not made a task for yet (null: the
    // rule has ended). A generation pass looks only at plans whose watermark enters the horizon.
    .addColumn('next_occurrence_at', sql`timestamptz(3)`, (c) => c.defaultTo(sql`now()`))
    .addColumn('created_by', 'uuid', (c) => c.references('users.id'))
    .addColumn('created_at', sql`timestamptz(3)`, (c) => c.notNull().defaultTo(sql`now()`))
    .addColumn('updated_at', sql`timestamptz(3)`, (c) => c.notNull().defaultTo(sql`now()`))
    .addCheckConstraint('inspection_plans_selection', sql`cardinality(categories) > 0 OR cardinality(facility_ids) > 0`)
    .addCheckConstraint('inspection_plans_patrol_route', sql`kind <> 'patrol' OR cardinality(facility_ids) > 0`)
    .execute();
  await sql`CREATE INDEX inspection_plans_community_idx ON inspection_plans (community_id, created_at, id)`.execute(db);
  // The generator moves next_occurrence_at on every pass that makes tasks: no index on it and
  // room on each page, so that update stays HOT (the plans are scanned; there are few per community).
  await sql`ALTER TABLE inspection_plans SET (fillfactor = 70)`.execute(db);
  // Adopting the defaults twice creates each default plan once.
  await sql`CREATE UNIQUE INDEX inspection_plans_template_key ON inspection_plans (community_id, template) WHERE template IS NOT NULL AND active`.execute(db);

  // Every version of a plan as it was: what a task of that version asked for (its checklist).
  await db.schema
    .createTable('inspection_plan_versions')
    .addColumn('plan_id', 'uuid', (c) => c.notNull().references('inspection_plans.id'))
    .addColumn('version', 'integer', (c) => c.notNull())
    .addColumn('snapshot', 'jsonb', (c) => c.notNull())
    .addColumn('created_by', 'uuid', (c) => c.references('users.id'))
    .addColumn('created_at', sql`timestamptz(3)`, (c) => c.notNull().defaultTo(sql`now()`))
    .addPrimaryKeyConstraint('inspection_plan_versions_pkey', ['plan_id', 'version'])
    .execute();

  await db.schema
    .createTable('inspection_tasks')
    .addColumn('id', 'uuid', (c) => c.primaryKey().defaultTo(sql`gen_random_uuid()`))
    .addColumn('plan_id', 'uuid', (c) => c.notNull().references('inspection_plans.id'))
    .addColumn('community_id', 'uuid', (c) => c.notNull().references('communities.id'))
    .addColumn('kind', 'text', (c) => c.notNull().check(sql`kind IN ('inspection','patrol')`))
    .addColumn('category', 'text', (c) => c.notNull())
    .addColumn('plan_version', 'integer', (c) => c.notNull())
    .addColumn('occurrence_at', sql`timestamptz(3)`, (c) => c.notNull())
    .addColumn('available_at', sql`timestamptz(3)`, (c) => c.notNull())
    .addColumn('due_at', sql`timestamptz(3)`, (c) => c.notNull())
    .addColumn('status', 'text', (c) =>
      c.notNull().defaultTo('scheduled').check(sql`status IN ('scheduled','in_progress','done','missed','cancelled')`),
    )
    // The facilities to inspect, fixed when the task was made (a patrol's route, in order).
    .addColumn('facility_ids', sql`uuid[]`, (c) => c.notNull())
    // Facilities with a result, or route stops checked in.
    .addColumn('progress', 'integer', (c) => c.notNull().defaultTo(0))
    .addColumn('assignee_org_id', 'uuid', (c) => c.references('organizations.id'))
    .addColumn('assignee_user_id', 'uuid', (c) => c.references('users.id'))
    .addColumn('completed_at', sql`timestamptz(3)`)
    .addColumn('completed_by', 'uuid', (c) => c.references('users.id'))
    .addColumn('on_time', 'boolean')
    .addColumn('missed_at', sql`timestamptz(3)`)
    .addColumn('escalated_at', sql`timestamptz(3)`)
    .addColumn('cancelled_at', sql`timestamptz(3)`)
    .addColumn('created_at', sql`timestamptz(3)`, (c) => c.notNull().defaultTo(sql`now()`))
    .addColumn('updated_at', sql`timestamptz(3)`, (c) => c.notNull().defaultTo(sql`now()`))
    .addCheckConstraint('inspection_tasks_done', sql`status <> 'done' OR (completed_at IS NOT NULL AND on_time IS NOT NULL)`)
    .execute();
  // Idempotent generation: one live task per plan and occurrence (INSERT … ON CONFLICT DO NOTHING).
  // Cancelled tasks (a plan edited or deactivated) stay as the trace and free their slot.
  await sql`CREATE UNIQUE INDEX inspection_tasks_occurrence_key ON inspection_tasks (plan_id, occurrence_at) WHERE status <> 'cancelled'`.execute(db);
  // Lists by community and due time, and KPIs (due_at ranges per community).
  await sql`CREATE INDEX inspection_tasks_community_due_idx ON inspection_tasks (community_id, due_at, id)`.execute(db);
  // Patrol check-ins look for the open patrols of a community.
  await sql`CREATE INDEX inspection_tasks_open_patrol_idx ON inspection_tasks (community_id, due_at) WHERE kind = 'patrol' AND status IN ('scheduled','in_progress','missed')`.execute(db);
  await sql`CREATE INDEX inspection_tasks_assignee_org_idx ON inspection_tasks (assignee_org_id, due_at) WHERE assignee_org_id IS NOT NULL`.execute(db);
  await sql`CREATE INDEX inspection_tasks_assignee_user_idx ON inspection_tasks (assignee_user_id, due_at) WHERE assignee_user_id IS NOT NULL`.execute(db);

  await db.schema
    .createTable('inspection_results')
    .addColumn('id', 'uuid', (c) => c.primaryKey().defaultTo(sql`gen_random_uuid()`))
    .addColumn('task_id', 'uuid', (c) => c.notNull().references('inspection_tasks.id'))
    .addColumn('facility_id', 'uuid', (c) => c.notNull().references('facilities.id'))
    .addColumn('community_id', 'uuid', (c) => c.notNull().references('communities.id'))
    .addColumn('outcome', 'text', (c) => c.notNull().check(sql`outcome IN ('ok','fault')`))
    .addColumn('notes', 'text', (c) => c.notNull().defaultTo('').check(sql`length(notes) <= 5000`))
    // [{ itemId, ok, note? }]
    .addColumn('checklist', 'jsonb', (c) => c.notNull().defaultTo(sql`'[]'::jsonb`))
    .addColumn('photo_ids', sql`uuid[]`, (c) => c.notNull().defaultTo(sql`'{}'`))
    .addColumn('ticket_id', 'uuid', (c) => c.references('tickets.id'))
    .addColumn('recorded_by', 'uuid', (c) => c.notNull().references('users.id'))
    .addColumn('recorded_at', sql`timestamptz(3)`, (c) => c.notNull().defaultTo(sql`now()`))
    .addUniqueConstraint('inspection_results_task_facility_key', ['task_id', 'facility_id'])
    .execute();
  await sql`CREATE INDEX inspection_results_ticket_idx ON inspection_results (ticket_id) WHERE ticket_id IS NOT NULL`.execute(db);
  await sql`CREATE INDEX inspection_results_facility_idx ON inspection_results (facility_id, recorded_at)`.execute(db);

  await db.schema
    .createTable('patrol_checkins')
    .addColumn('id', 'uuid', (c) => c.primaryKey().defaultTo(sql`gen_random_uuid()`))
    .addColumn('community_id', 'uuid', (c) => c.notNull().references('communities.id'))
    .addColumn('facility_id', 'uuid', (c) => c.notNull().references('facilities.id'))
    .addColumn('user_id', 'uuid', (c) => c.notNull().references('users.id'))
    // The patrol task it advanced, and the route stop (0-based); null when it advanced none.
    .addColumn('task_id', 'uuid', (c) => c.references('inspection_tasks.id'))
    .addColumn('position', 'integer')
    .addColumn('checked_in_at', sql`timestamptz(3)`, (c) => c.notNull().defaultTo(sql`now()`))
    .addCheckConstraint('patrol_checkins_position', sql`(task_id IS NULL) = (position IS NULL)`)
    .execute();
  await sql`CREATE INDEX patrol_checkins_task_idx ON patrol_checkins (task_id, checked_in_at) WHERE task_id IS NOT NULL`.execute(db);
  await sql`CREATE INDEX patrol_checkins_community_idx ON patrol_checkins (community_id, checked_in_at)`.execute(db);
  await sql`CREATE INDEX patrol_checkins_user_idx ON patrol_checkins (user_id, checked_in_at)`.execute(db);

  // Evidence of work done (or not done) is never rewritten.
  await sql`
    CREATE FUNCTION inspections_refuse_change() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
      RAISE EXCEPTION '% is append-only', TG_TABLE_NAME USING ERRCODE = 'insufficient_privilege';
    END $$`.execute(db);
  for (const table of ['inspection_results', 'patrol_checkins', 'inspection_plan_versions']) {
    await sql`CREATE TRIGGER ${sql.id(`${table}_append_only`)} BEFORE UPDATE OR DELETE ON ${sql.id(table)} FOR EACH ROW EXECUTE FUNCTION inspections_refuse_change()`.execute(db);
    await sql`CREATE TRIGGER ${sql.id(`${table}_no_truncate`)} BEFORE TRUNCATE ON ${sql.id(table)} FOR EACH STATEMENT EXECUTE FUNCTION inspections_refuse_change()`.execute(db);
  }
}

export async function down(db: Kysely<any>): Promise<void> {
  for (const t of ['patrol_checkins', 'inspection_results', 'inspection_tasks', 'inspection_plan_versions', 'inspection_plans']) {
    await db.schema.dropTable(t).ifExists().execute();
  }
  await sql`DROP FUNCTION IF EXISTS inspections_refuse_change()`.execute(db);
}
