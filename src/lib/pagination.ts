import { sql, type Expression, type SqlBool } from 'kysely';
import { badRequest } from './errors.js';

/**
 * Keyset cursors over (created_at, id): stable under inserts, no OFFSET scans. The cursor is
 * opaque to clients (base64url JSON).
 */
export interface Cursor {
  t: string;
  id: string;
}

export function encodeCursor(row: { created_at: Date; id: string }): string {
  return Buffer.from(JSON.stringify({ t: row.created_at.toISOString(), id: row.id })).toString('base64url');
}

export function decodeCursor(cursor: string | undefined): Cursor | undefined {
  if (!cursor) return undefined;
  try {
    const parsed = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8')) as Partial<Cursor>;
    if (typeof parsed.t === 'string' && typeof parsed.id === 'string' && !Number.isNaN(Date.parse(parsed.t)) && /^[0-9a-f-]{36}$/i.test(parsed.id)) {
      return { t: parsed.t, id: parsed.id };
    }
  } catch {
    // fall through to the error below
  }
  throw badRequest('The cursor is not valid; use nextCursor from a previous page');
}

/** Given limit+1 rows, returns the page and the next cursor. */
export function toPage<T extends { created_at: Date; id: string }, U>(rows: T[], limit: number, map: (row: T) => U) {
  const hasMore = rows.length > limit;
  const pageRows = hasMore ? rows.slice(0, limit) : rows;
  const last = pageRows[pageRows.length - 1];
  return { items: pageRows.map(map), nextCursor: hasMore && last ? encodeCursor(last) : null };
}

/** The keyset condition for rows after the cursor, ordered by (created_at, id). */
export function afterCursor(cursor: Cursor | undefined, createdAtColumn: string, idColumn: string): Expression<SqlBool> {
  return cursor
    ? sql<SqlBool>`(${sql.ref(createdAtColumn)}, ${sql.ref(idColumn)}) > (${cursor.t}::timestamptz, ${cursor.id}::uuid)`
    : sql<SqlBool>`true`;
}
