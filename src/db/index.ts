import { createHash } from 'node:crypto';
import { Kysely, PostgresDialect, sql, type KyselyConfig, type PostgresPool, type PostgresPoolClient, type Transaction } from 'kysely';
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

export interface CreateDbOptions {
  max?: number;
  /**
   * Named prepared statements for hot queries (default on): PostgreSQL parses and plans each
   * once per connection instead of per execution, which halved its CPU per reminder. Turn off
   * behind a pooler in transaction mode (PgBouncer), where a connection's statements are not ours.
   */
  prepare?: boolean;
  /** Shown in pg_stat_activity (benchmarks find their backends' CPU time by it). */
  applicationName?: string;
  /** Kysely's query log (benchmarks time every statement with it). */
  log?: KyselyConfig['log'];
}

export function createDb(connectionString: string, options: CreateDbOptions = {}): Db {
  const pool = new pg.Pool({
    connectionString,
    max: options.max ?? 10,
    // Fail fast when PostgreSQL is gone so requests answer 503 instead of hanging.
    connectionTimeoutMillis: 5_000,
    idleTimeoutMillis: 30_000,
    ...(options.applicationName ? { application_name: options.applicationName } : {}),
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
  return new Kysely<Database>({
    dialect: new PostgresDialect({ pool: options.prepare === false ? pool : preparingPool(pool) }),
    ...(options.log ? { log: options.log } : {}),
  });
}

/**
 * Put in a statement whose best plan depends on a parameter's value (a search pattern: a rare
 * word and a common one want different indexes): it is never prepared, so PostgreSQL plans it
 * with the values every time instead of settling on one generic plan for all of them.
 */
const PLAN_WITH_VALUES_TEXT = '/* plan-with-values */';
export const PLAN_WITH_VALUES = sql.raw(PLAN_WITH_VALUES_TEXT);

/** A statement's text is prepared once it has run this often (one-off texts stay unnamed). */
const PREPARE_AFTER = 3;
/** Texts counted at most; the counts start over when full (variable-length IN lists make many). */
const MAX_COUNTED_TEXTS = 5_000;
/** Per connection: PostgreSQL keeps each prepared statement until the connection closes. */
const MAX_PREPARED_PER_CONNECTION = 300;

interface ClientState {
  prepared: Set<string>;
  inTransaction: boolean;
  /** A prepared statement went bad (schema changed under it): drop the connection on release. */
  discard: boolean;
}

/**
 * Wraps the pool Kysely uses so that hot statements run as named prepared statements, named by a
 * hash of their text (pg parses a name once per connection, then only binds and executes).
 * Bounded: a text is named after PREPARE_AFTER runs, at most MAX_PREPARED_PER_CONNECTION per
 * connection. A new connection (after a PostgreSQL restart) starts with none; a prepared
 * statement invalidated by a schema change fails once, then its connection is replaced (and
 * outside a transaction the statement is retried unnamed, so the caller does not see it).
 */
function preparingPool(pool: pg.Pool): PostgresPool {
  const counts = new Map<string, { runs: number; name?: string }>();
  const states = new WeakMap<pg.PoolClient, ClientState>();

  const nameFor = (text: string): string | undefined => {
    let entry = counts.get(text);
    if (!entry) {
      if (counts.size >= MAX_COUNTED_TEXTS) counts.clear();
      entry = { runs: 0 };
      counts.set(text, entry);
    }
    if (entry.name) return entry.name;
    if (++entry.runs < PREPARE_AFTER) return undefined;
    entry.name = `k_${createHash('sha1').update(text).digest('base64url').slice(0, 22)}`;
    return entry.name;
  };

  const wrap = (client: pg.PoolClient): PostgresPoolClient => {
    let state = states.get(client);
    if (!state) {
      state = { prepared: new Set(), inTransaction: false, discard: false };
      states.set(client, state);
    }
    const s = state;
    const query = async (text: string, values: unknown[]): Promise<pg.QueryResult> => {
      const head = text.slice(0, 16).trimStart().toLowerCase();
      if (values.length === 0) {
        // Transaction control (Kysely's begin/commit/rollback) and parameterless texts (which may
        // hold several statements, not preparable) go as simple queries.
        if (head.startsWith('begin') || head.startsWith('start transaction')) s.inTransaction = true;
        else if (head.startsWith('commit') || head.startsWith('rollback') || head.startsWith('end')) {
          if (!head.startsWith('rollback to')) s.inTransaction = false;
        }
        return client.query(text);
      }
      const name = /^(select|insert|update|delete|with)\b/.test(head) && !text.includes(PLAN_WITH_VALUES_TEXT) ? nameFor(text) : undefined;
      if (!name || (!s.prepared.has(name) && s.prepared.size >= MAX_PREPARED_PER_CONNECTION)) return client.query(text, values);
      s.prepared.add(name);
      try {
        return await client.query({ name, text, values });
      } catch (err) {
        const code = (err as { code?: string }).code;
        // 0A000: "cached plan must not change result type" (a migration changed a table a
        // prepared SELECT * reads); 26000: the statement is gone from the server.
        if (code !== '0A000' && code !== '26000') throw err;
        s.discard = true;
        if (s.inTransaction) throw err;
        return client.query(text, values);
      }
    };
    return {
      query: ((textOrCursor: unknown, values?: ReadonlyArray<unknown>) => {
        if (typeof textOrCursor !== 'string') return client.query(textOrCursor as pg.Submittable);
        return query(textOrCursor, [...(values ?? [])]);
      }) as unknown as PostgresPoolClient['query'],
      release: () => {
        if (s.discard) {
          states.delete(client);
          client.release(true);
        } else client.release();
      },
    };
  };

  return {
    connect: async () => wrap(await pool.connect()),
    end: () => pool.end(),
  };
}
