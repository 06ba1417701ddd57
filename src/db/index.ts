import { Kysely, PostgresDialect, type Transaction } from 'kysely';
import pg from 'pg';
import type { Database } from './types.js';

// int8 (bigint, count(*)) as a JS number: our bigints are areas in hundredths of m² and money in
// cents, far below 2^53; refuse loudly rather than round silently if that ever changes.
pg.types.setTypeParser(pg.types.builtins.INT8, (v: string) => {
  const n = Number(v);
  if (!Number.isSafeInteger(n)) throw new RangeError(`int8 value ${v} exceeds the safe integer range`);
  return n;
});

export type Db = Kysely<Database>;
export type Trx = Transaction<Database>;
/** Repositories take either: the caller owns the transaction. */
export type DbOrTrx = Db | Trx;

export function createDb(connectionString: string, options: { max?: number } = {}): Db {
  const pool = new pg.Pool({
    connectionString,
    max: options.max ?? 10,
    // Fail fast when PostgreSQL is gone so requests answer 503 instead of hanging.
    connectionTimeoutMillis: 5_000,
    idleTimeoutMillis: 30_000,
  });
  // An idle client losing its connection (PostgreSQL restarted) must not crash the process.
  pool.on('error', () => {});
  // Nor may a checked-out one: pg-pool listens for errors on idle clients only, and a client
  // whose connection drops while a request holds it (between two statements of a transaction)
  // emits 'error' with nobody listening, an uncaught exception that would take the whole API
  // down. The statement in flight still fails (the request answers 503) and the pool discards
  // the broken client on release (tests/faults.test.ts, "PostgreSQL restarted mid-load").
  pool.on('connect', (client) => {
    client.on('error', () => {});
  });
  return new Kysely<Database>({ dialect: new PostgresDialect({ pool }) });
}
