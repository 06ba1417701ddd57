import { randomBytes } from 'node:crypto';
import type { FastifyInstance } from 'fastify';
import type { Redis } from 'ioredis';
import { buildApp } from '../../src/app.js';
import { loadConfig, type Config } from '../../src/config.js';
import type { Db } from '../../src/db/index.js';
import { createQueue, type UpkeepQueue } from '../../src/jobs/queue.js';
import { createRedis } from '../../src/lib/redis.js';
import { createTestDb, type TestDb } from './db.js';
import { TEST_REDIS_URL } from './env.js';

export interface TestApp {
  app: FastifyInstance;
  db: Db;
  testDb: TestDb;
  redis: Redis;
  queue: UpkeepQueue;
  config: Config;
  /** Unique per file: BullMQ keys of this file never meet another's. */
  prefix: string;
  close(): Promise<void>;
}

export function testConfig(overrides: Partial<Config> = {}): Config {
  return { ...loadConfig({ NODE_ENV: 'test', LOG_LEVEL: 'silent' }), ...overrides };
}

/** The whole app on a fresh database and a unique queue prefix; use app.inject, no port. */
export async function createTestApp(overrides: Partial<Config> & { redisUrl?: string; changeFeed?: boolean } = {}): Promise<TestApp> {
  const prefix = `test-${randomBytes(5).toString('hex')}`;
  const testDb = await createTestDb();
  const config = testConfig({ queuePrefix: prefix, databaseUrl: testDb.url, redisUrl: overrides.redisUrl ?? TEST_REDIS_URL, ...overrides });
  const redis = createRedis(config.redisUrl as string, 'producer');
  const queue = createQueue(redis, prefix);
  // The reference caches need the change feed; tests get it only when they ask (a cached actor
  // and a change made straight in the database would otherwise race the notification).
  const app = await buildApp({ config, db: testDb.db, redis, queue, ...(overrides.changeFeed ? { databaseUrl: testDb.url } : {}) }, { logger: false });
  await app.ready();
  return {
    app,
    db: testDb.db,
    testDb,
    redis,
    queue,
    config,
    prefix,
    async close() {
      await app.close();
      // BullMQ waits for a connection; with Redis unreachable there is nothing to clean anyway.
      if (redis.status === 'ready') {
        await Promise.race([queue.obliterate({ force: true }).catch(() => {}), new Promise((r) => setTimeout(r, 5_000).unref())]);
      }
      await queue.close().catch(() => {});
      redis.disconnect();
      await testDb.drop();
    },
  };
}
