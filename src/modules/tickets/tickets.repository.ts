import { sql, type Expression, type Selectable, type SelectQueryBuilder, type SqlBool } from 'kysely';
import { PLAN_WITH_VALUES, type DbOrTrx } from '../../db/index.js';
import type { Insertable, Updateable } from 'kysely';
import type { Database, TicketsTable } from '../../db/types.js';
import type { TicketBranch } from '../../plugins/access.js';

export type NewTicket = Insertable<TicketsTable>;
export type TicketPatch = Updateable<TicketsTable>;

export function insertTicket(db: DbOrTrx, t: NewTicket) {
  return db.insertInto('tickets').values(t).returningAll().executeTakeFirstOrThrow();
}

export function findTicket(db: DbOrTrx, id: string) {
  return db.selectFrom('tickets').selectAll().where('id', '=', id).executeTakeFirst();
}

export function lockTicket(db: DbOrTrx, id: string) {
  return db.selectFrom('tickets').selectAll().where('id', '=', id).forUpdate().executeTakeFirst();
}

export function updateTicket(db: DbOrTrx, id: string, patch: TicketPatch) {
  return db
    .updateTable('tickets')
    .set({ ...patch, updated_at: new Date() })
    .where('id', '=', id)
    .returningAll()
    .executeTakeFirstOrThrow();
}

/** The open alarm ticket with this key, locked, if any. */
export function findOpenByDedupeKey(db: DbOrTrx, communityId: string, dedupeKey: string) {
  return db
    .selectFrom('tickets')
    .selectAll()
    .where('community_id', '=', communityId)
    .where('dedupe_key', '=', dedupeKey)
    .where('status', 'in', ['new', 'acknowledged', 'in_progress', 'on_hold', 'reopened'])
    .forUpdate()
    .executeTakeFirst();
}

export function listPauses(db: DbOrTrx, ticketId: string) {
  return db.selectFrom('ticket_holds').select(['reason', 'started_at', 'ended_at']).where('ticket_id', '=', ticketId).orderBy('started_at').execute();
}

export function startPause(db: DbOrTrx, ticketId: string, reason: 'awaiting_parts' | 'awaiting_access' | 'awaiting_funds' | 'resolved', at: Date) {
  return db.insertInto('ticket_holds').values({ ticket_id: ticketId, reason, started_at: at }).execute();
}

export function endOpenPause(db: DbOrTrx, ticketId: string, at: Date) {
  return db.updateTable('ticket_holds').set({ ended_at: at }).where('ticket_id', '=', ticketId).where('ended_at', 'is', null).execute();
}

export function insertComment(db: DbOrTrx, c: { ticket_id: string; author_user_id: string | null; body: string; internal: boolean }) {
  return db.insertInto('ticket_comments').values(c).returningAll().executeTakeFirstOrThrow();
}

export function listComments(db: DbOrTrx, ticketId: string, includeInternal: boolean) {
  let q = db
    .selectFrom('ticket_comments as c')
    .leftJoin('users as u', 'u.id', 'c.author_user_id')
    .select(['c.id', 'c.body', 'c.internal', 'c.created_at', 'c.author_user_id', 'u.name as author_name'])
    .where('c.ticket_id', '=', ticketId);
  if (!includeInternal) q = q.where('c.internal', '=', false);
  return q.orderBy('c.created_at').execute();
}

export interface TicketFilters {
  communityId?: string;
  status?: string[];
  category?: string;
  priority?: string;
  assigneeUserId?: string;
  assigneeOrgId?: string;
  facilityId?: string;
  reporterUserId?: string;
  overdue?: boolean;
  q?: string;
}

export type TicketSort = 'created' | 'due';

type TicketQuery = SelectQueryBuilder<Database & { t: TicketsTable }, 't', Selectable<TicketsTable>>;

/** The filters, the keyset cursor and the order of a list, on a query of `tickets as t`. */
function filtered(q: TicketQuery, f: TicketFilters, sort: TicketSort, after: { key: string; id: string } | undefined, limit: number): TicketQuery {
  if (f.communityId) q = q.where('t.community_id', '=', f.communityId);
  if (f.status?.length) q = q.where('t.status', 'in', f.status as never);
  if (f.category) q = q.where('t.category', '=', f.category);
  if (f.priority) q = q.where('t.priority', '=', f.priority as never);
  if (f.assigneeUserId) q = q.where('t.assignee_user_id', '=', f.assigneeUserId);
  if (f.assigneeOrgId) q = q.where('t.assignee_org_id', '=', f.assigneeOrgId);
  if (f.facilityId) q = q.where('t.facility_id', '=', f.facilityId);
  if (f.reporterUserId) q = q.where('t.reporter_user_id', '=', f.reporterUserId);
  if (f.overdue) {
    q = q
      .where('t.status', 'in', ['new', 'acknowledged', 'in_progress', 'reopened'])
      .where((eb) => eb.or([eb('t.resolve_by', '<', sql<Date>`now()`), eb('t.rectification_deadline', '<', sql<Date>`now()`)]));
  }
  if (f.q) {
    // Trigram index: works for Chinese (any 3-character run), and for shorter terms via LIKE.
    const pattern = `%${f.q.replace(/[\\%_]/g, (c) => `\\${c}`)}%`;
    // Planned with the pattern each time: how rare the word is picks the index (see the migration
    // 20261123T1600_ticket-search-statistics).
    q = q.where(sql<SqlBool>`${PLAN_WITH_VALUES} (t.title || ' ' || t.description) ILIKE ${pattern}`);
  }
  if (sort === 'due') {
    if (after) q = q.where(sql<SqlBool>`(COALESCE(t.resolve_by, 'infinity'::timestamptz), t.id) > (${after.key}::timestamptz, ${after.id}::uuid)`);
    return q.orderBy(sql`COALESCE(t.resolve_by, 'infinity'::timestamptz)`).orderBy('t.id').limit(limit + 1);
  }
  if (after) q = q.where(sql<SqlBool>`(t.created_at, t.id) < (${after.key}::timestamptz, ${after.id}::uuid)`);
  return q.orderBy('t.created_at', 'desc').orderBy('t.id', 'desc').limit(limit + 1);
}

/**
 * A page of tickets the actor may see, keyset-paginated by (created_at, id) or (resolve_by, id).
 * `visible` is visibleTicket; `branches` (visibleTicketBranches; null: `visible` alone) the same
 * set as parts an index can serve: across communities (no communityId), the page is the union
 * of each part's first page (per visible community, a scan of its own index), merged by the
 * sort key.
 */
export async function listTickets(
  db: DbOrTrx,
  visible: Expression<SqlBool>,
  f: TicketFilters,
  sort: TicketSort,
  after: { key: string; id: string } | undefined,
  limit: number,
  branches: TicketBranch[] | null = null,
): Promise<Selectable<TicketsTable>[]> {
  const base = () => db.selectFrom('tickets as t').selectAll('t');
  if (f.communityId || branches === null) return filtered(base().where(visible), f, sort, after, limit).execute();
  const parts = branches.map((b) => {
    if (!b.communities) return sql`${filtered(base().where(b.where), f, sort, after, limit)}`;
    const perCommunity = filtered(base().where(sql<SqlBool>`t.community_id = v.id`).$if(b.where !== undefined, (q) => q.where(b.where as Expression<SqlBool>)), f, sort, after, limit);
    return sql`SELECT x.* FROM (${b.communities}) AS v(id) CROSS JOIN LATERAL ${perCommunity} AS x`;
  });
  // UNION drops a ticket reached by two parts (reported by me in a community I see).
  const union = sql.join(parts.map((p) => sql`(${p})`), sql` UNION `);
  const order = sort === 'due' ? sql`COALESCE(t.resolve_by, 'infinity'::timestamptz), t.id` : sql`t.created_at DESC, t.id DESC`;
  const { rows } = await sql<Selectable<TicketsTable>>`SELECT t.* FROM (${union}) AS t ORDER BY ${order} LIMIT ${limit + 1}`.execute(db);
  return rows;
}
