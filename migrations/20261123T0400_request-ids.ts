import { type Kysely } from 'kysely';

// Frozen in time (2026-11-23): the id of the API request that scheduled a timer or created a
// notification, carried into the job that fires or sends it so that the job's logs name the
// request that caused it (docs/RELIABILITY.md, "Observability"). Null for rows made outside a
// request (workers, seeds, older rows). Adding a nullable column does not rewrite the tables.

export async function up(db: Kysely<any>): Promise<void> {
  await db.schema.alterTable('timers').addColumn('request_id', 'text').execute();
  await db.schema.alterTable('notifications').addColumn('request_id', 'text').execute();
}

export async function down(db: Kysely<any>): Promise<void> {
  await db.schema.alterTable('notifications').dropColumn('request_id').execute();
  await db.schema.alterTable('timers').dropColumn('request_id').execute();
}
