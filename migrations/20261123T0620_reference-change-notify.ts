import { sql, type Kysely } from 'kysely';

// Frozen in time (2026-11-23): NOTIFY upkeep_changes, payload the table's name, on commit of any
// change to the tables the API processes cache (src/db/change-feed.ts): who a user is and what
// they may see (users, memberships, organizations, duty_assignments, owners), and a community's
// SLA context (communities, business_calendars, sla_policies). Statement triggers: a bulk import
// notifies once per statement, and NOTIFY folds identical notifications of one transaction.
// users is a row trigger on the columns an actor is made of: failed logins and lockouts update
// the row on every login attempt and must not empty every cache.

const STATEMENT_TABLES = ['memberships', 'organizations', 'duty_assignments', 'owners', 'communities', 'business_calendars', 'sla_policies'];

export async function up(db: Kysely<any>): Promise<void> {
  await sql`
    CREATE FUNCTION upkeep_changes_notify() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
      PERFORM pg_notify('upkeep_changes', TG_TABLE_NAME);
      RETURN NULL;
    END $$`.execute(db);
  for (const table of STATEMENT_TABLES) {
    await sql`
      CREATE TRIGGER ${sql.id(`${table}_changes_notify`)} AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON ${sql.table(table)}
      FOR EACH STATEMENT EXECUTE FUNCTION upkeep_changes_notify()`.execute(db);
  }
  await sql`
    CREATE TRIGGER users_changes_notify AFTER INSERT OR DELETE ON users
    FOR EACH STATEMENT EXECUTE FUNCTION upkeep_changes_notify()`.execute(db);
  await sql`
    CREATE TRIGGER users_changes_notify_update AFTER UPDATE ON users FOR EACH ROW
    WHEN ((OLD.email, OLD.name, OLD.locale, OLD.is_platform_admin, OLD.disabled_at) IS DISTINCT FROM (NEW.email, NEW.name, NEW.locale, NEW.is_platform_admin, NEW.disabled_at))
    EXECUTE FUNCTION upkeep_changes_notify()`.execute(db);
}

export async function down(db: Kysely<any>): Promise<void> {
  await sql`DROP TRIGGER users_changes_notify_update ON users`.execute(db);
  await sql`DROP TRIGGER users_changes_notify ON users`.execute(db);
  for (const table of STATEMENT_TABLES) await sql`DROP TRIGGER ${sql.id(`${table}_changes_notify`)} ON ${sql.table(table)}`.execute(db);
  await sql`DROP FUNCTION upkeep_changes_notify()`.execute(db);
}
