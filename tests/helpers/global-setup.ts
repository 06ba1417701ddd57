import pg from 'pg';
import type { TestProject } from 'vitest/node';
import { createDb } from '../../src/db/index.js';
import { migrateToLatest } from '../../src/db/migrator.js';
import { TEST_DATABASE_URL, TEST_DB_PREFIX, databaseUrl, testDbName } from './env.js';

const STALE_AFTER_SECONDS = 3 * 3600;

async function admin<T>(fn: (c: pg.Client) => Promise<T>): Promise<T> {
  const client = new pg.Client({ connectionString: TEST_DATABASE_URL });
  await client.connect();
  try {
    return await fn(client);
  } finally {
    await client.end();
  }
}

/**
 * Builds this run's migrated template database, which every test file clones
 * (CREATE DATABASE … TEMPLATE …), and drops it at the end.
 */
export default async function setup(project: TestProject) {
  const template = testDbName('tpl');
  await admin(async (c) => {
    // Leftovers of crashed runs (names carry their creation time); never another live run's.
    const rows = await c.query<{ datname: string }>(`SELECT datname FROM pg_database WHERE datname LIKE $1`, [`${TEST_DB_PREFIX}%`]);
    const now = Date.now() / 1000;
    for (const { datname } of rows.rows) {
      const created = Number(datname.slice(TEST_DB_PREFIX.length).split('_')[0]);
      if (Number.isFinite(created) && now - created > STALE_AFTER_SECONDS) {
        await c.query(`DROP DATABASE IF EXISTS "${datname}" WITH (FORCE)`).catch(() => {});
      }
    }
    await c.query(`CREATE DATABASE ${template}`);
  });
  const db = createDb(databaseUrl(template), { max: 1 });
  try {
    await migrateToLatest(db);
  } finally {
    await db.destroy();
  }
  project.provide('templateDb', template);
  return async () => {
    await admin((c) => c.query(`DROP DATABASE IF EXISTS ${template} WITH (FORCE)`));
  };
}
