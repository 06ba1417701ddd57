import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createDb, PLAN_WITH_VALUES, type Db } from '../src/db/index.js';
import { createTestDb, type TestDb } from './helpers/db.js';

// src/db's named prepared statements: hot statements are prepared once per connection, and a
// schema change under a prepared `select *` costs no failed request outside a transaction.

let t: TestDb;
let db: Db;

beforeAll(async () => {
  t = await createTestDb();
  // One connection: every statement below runs on it.
  db = createDb(t.url, { max: 1 });
  await sql`CREATE TABLE prep_probe (id int PRIMARY KEY, a text)`.execute(db);
  await sql`INSERT INTO prep_probe VALUES (1, 'one'), (2, 'two')`.execute(db);
});

afterAll(async () => {
  await db?.destroy();
  await t?.drop();
});

const probe = (id: number) => db.selectFrom('prep_probe' as never).selectAll().where('id' as never, '=', id as never).execute() as Promise<Array<Record<string, unknown>>>;
const prepared = async () => (await sql<{ statement: string }>`SELECT statement FROM pg_prepared_statements`.execute(db)).rows.map((r) => r.statement);

describe('prepared statements', () => {
  it('a statement run often enough is prepared once on its connection and gives the same results', async () => {
    for (let i = 0; i < 5; i++) expect(await probe(1 + (i % 2))).toEqual([{ id: 1 + (i % 2), a: i % 2 ? 'two' : 'one' }]);
    expect((await prepared()).filter((s) => s.includes('prep_probe'))).toHaveLength(1);
  });

  it('a statement marked PLAN_WITH_VALUES is never prepared: PostgreSQL plans it with each pattern', async () => {
    const search = (pattern: string) =>
      sql<{ id: number }>`SELECT id FROM prep_probe WHERE ${PLAN_WITH_VALUES} a LIKE ${pattern} ORDER BY id`.execute(db).then((r) => r.rows.map((x) => x.id));
    for (let i = 0; i < 6; i++) expect(await search(i % 2 ? '%w%' : '%e')).toEqual(i % 2 ? [2] : [1]);
    expect((await prepared()).filter((s) => s.includes('LIKE'))).toEqual([]);
  });

  it('a table changed under a prepared select * : outside a transaction the query still answers, with the new column', async () => {
    for (let i = 0; i < 4; i++) await probe(1);
    await sql`ALTER TABLE prep_probe ADD COLUMN b int NOT NULL DEFAULT 7`.execute(db);
    expect(await probe(1)).toEqual([{ id: 1, a: 'one', b: 7 }]);
    // The connection that held the stale statement was replaced; the next ones prepare afresh.
    for (let i = 0; i < 4; i++) expect(await probe(2)).toEqual([{ id: 2, a: 'two', b: 7 }]);
  });

  it('inside a transaction it fails once (the transaction is aborted), and the next transaction works', async () => {
    for (let i = 0; i < 4; i++) await probe(1);
    await sql`ALTER TABLE prep_probe ADD COLUMN c int NOT NULL DEFAULT 8`.execute(db);
    await expect(db.transaction().execute(async (trx) => trx.selectFrom('prep_probe' as never).selectAll().where('id' as never, '=', 1 as never).execute())).rejects.toThrow(
      /cached plan must not change result type/,
    );
    const rows = await db.transaction().execute(async (trx) => trx.selectFrom('prep_probe' as never).selectAll().where('id' as never, '=', 1 as never).execute());
    expect(rows).toEqual([{ id: 1, a: 'one', b: 7, c: 8 }]);
  });
});
