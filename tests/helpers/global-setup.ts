import pg from 'pg';
import { createDb } from '../../src/db/index.js';
import { migrateToLatest } from '../../src/db/migrator.js';
import { TEMPLATE_DB, TEST_DATABASE_URL, databaseUrl } from './env.js';

/** Builds the migrated template database that every test file clones (CREATE DATABASE … TEMPLATE). */
export async function setup(): Promise<void> {
  const admin = new pg.Client({ connectionString: TEST_DATABASE_URL });
  await admin.connect();
  try {
    await admin.query(`DROP DATABASE IF EXISTS ${TEMPLATE_DB} WITH (FORCE)`);
    await admin.query(`CREATE DATABASE ${TEMPLATE_DB}`);
    // Leftovers of interrupted earlier runs.
    const stale = await admin.query<{ datname: string }>(
      `SELECT datname FROM pg_database WHERE datname LIKE 'upkeep_t_%' AND datname <> $1`,
      [TEMPLATE_DB],
    );
    for (const { datname } of stale.rows) await admin.query(`DROP DATABASE IF EXISTS "${datname}" WITH (FORCE)`).catch(() => {});
  } finally {
    await admin.end();
  }
  const db = createDb(databaseUrl(TEMPLATE_DB), { max: 1 });
  try {
    await migrateToLatest(db);
  } finally {
    await db.destroy();
  }
}
