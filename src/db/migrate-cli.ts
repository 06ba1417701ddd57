// `npm run migrate`: applies pending migrations to DATABASE_URL (or the embedded PostgreSQL).
import { pino } from 'pino';
import { loadConfig } from '../config.js';
import { resolveServices } from '../bootstrap/services.js';
import { createDb } from './index.js';
import { migrateToLatest } from './migrator.js';

const config = loadConfig();
const logger = pino({ level: config.logLevel });
const services = await resolveServices(config, logger, { redis: false });
const db = createDb(services.databaseUrl);
try {
  const applied = await migrateToLatest(db);
  logger.info({ applied }, applied.length ? 'migrations applied' : 'already up to date');
} finally {
  await db.destroy();
  await services.stop();
}
