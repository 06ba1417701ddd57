import { inject } from 'vitest';

/** Where the tests find the real services (CI: .ci/run makes sure they answer). */
export const TEST_DATABASE_URL = process.env.TEST_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres';
export const TEST_REDIS_URL = process.env.TEST_REDIS_URL ?? 'redis://127.0.0.1:6379';

/** Database names carry their creation time, so later runs can clean up after crashed ones. */
export const TEST_DB_PREFIX = 'upkeep_t_';
export function testDbName(kind: 'tpl' | 'db'): string {
  return `${TEST_DB_PREFIX}${Math.floor(Date.now() / 1000)}_${kind}_${Math.random().toString(16).slice(2, 10)}`;
}

/** The migrated template of this run (made by global-setup; one per run, so runs never collide). */
export function templateDb(): string {
  return inject('templateDb');
}

export function databaseUrl(name: string): string {
  const u = new URL(TEST_DATABASE_URL);
  u.pathname = `/${name}`;
  return u.toString();
}

declare module 'vitest' {
  export interface ProvidedContext {
    templateDb: string;
  }
}
