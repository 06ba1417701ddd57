import { randomUUID } from 'node:crypto';
import { sql, type RawBuilder, type SqlBool } from 'kysely';
import type { Db, DbOrTrx, Trx } from '../../db/index.js';
import { ReferenceCache, type ChangeFeed } from '../../db/change-feed.js';
import { SequenceBlock } from '../../db/sequence-block.js';
import type { FacilityStatus, Priority, TicketChannel, TicketKind } from '../../db/types.js';
import { AppError, badRequest, conflict, forbidden, notFound } from '../../lib/errors.js';
import { communityAccess, ticketPermissions, type Actor, type TicketAction } from '../../plugins/access.js';
import { auditCtes, recordAudit, type AuditInput } from '../audit/audit.service.js';
import { dutyFactsColumns, dutyHolderFromFacts, type DutyFactsRow } from '../duties/duties.service.js';
import { lockedStatusSql, setStatusFromTickets, statusFromTicketsChange } from '../facilities/facilities.service.js';
import { notify } from '../notifications/notifications.service.js';
import { recipients } from '../notifications/recipients.js';
import { cancelTimers, scheduleTimer, scheduleTimersSql } from '../timers/timers.service.js';
import { applySla, loadSlaContext, planSla, slaContextColumns, slaContextFrom, type SlaContext, type SlaContextRow } from './sla.service.js';
import { checkTransition, isOpen, type HoldReason, type TicketStatus } from './state-machine.js';
import * as repo from './tickets.repository.js';

export type TicketRow = NonNullable<Awaited<ReturnType<typeof repo.findTicket>>>;

export interface CreateTicketInput {
  communityId: string;
  kind: TicketKind;
  channel: TicketChannel;
  priority: Priority;
  title: string;
  description?: string;
  category?: string;
  facilityId?: string | null;
  unitId?: string | null;
  reporterUserId?: string | null;
  reporterName?: string | null;
  reporterPhone?: string | null;
  isPublic?: boolean;
  dedupeKey?: string | null;
  rectificationDeadline?: Date | null;
}

const SLA_KINDS = ['sla.warning', 'sla.breach', 'sla.escalate-committee', 'sla.escalate-authority'] as const;

/** Everything SLA-related about a ticket, from its row and pauses. */
async function clockOf(trx: DbOrTrx, t: TicketRow, version: number) {
  const pauses = await repo.listPauses(trx, t.id);
  return {
    id: t.id,
    communityId: t.community_id,
    priority: t.priority,
    category: t.category,
    openedAt: t.opened_at,
    acknowledgedAt: t.acknowledged_at,
    resolvedAt: t.resolved_at,
    slaVersion: version,
    pauses: pauses.map((p) => ({ from: p.started_at, to: p.ended_at })),
  };
}

/** Recomputes targets and timers under a new SLA version, and stores them on the ticket. */
async function recomputeSla(trx: Trx, ctx: SlaContext, t: TicketRow, now = new Date()): Promise<TicketRow> {
  const version = t.sla_version + 1;
  const sla = await applySla(trx, ctx, await clockOf(trx, t, version), now);
  return repo.updateTicket(trx, t.id, { sla_version: version, respond_by: sla.respondBy, resolve_by: sla.resolveBy });
}

/** The kinds of ticket a facility's status follows. */
const FACILITY_TICKET_KINDS = ['fault', 'alarm', 'inspection_finding', 'rectification'] as const;
const FACILITY_KINDS = sql`(${sql.join(FACILITY_TICKET_KINDS.map((k) => sql.lit(k)))})`;

/** The facility follows its open faults: faulty while any is open, under repair while worked on. */
async function syncFacility(trx: Trx, facilityId: string | null, actorUserId: string | null, ticketId: string) {
  if (!facilityId) return;
  const open = await trx
    .selectFrom('tickets')
    .select(['status'])
    .where('facility_id', '=', facilityId)
    .where('kind', 'in', [...FACILITY_TICKET_KINDS])
    .where('status', 'in', ['new', 'acknowledged', 'in_progress', 'on_hold', 'reopened'])
    .execute();
  const status = open.length === 0 ? 'operational' : open.some((o) => o.status === 'in_progress') ? 'under_repair' : 'faulty';
  await setStatusFromTickets(trx, facilityId, status, actorUserId, { ticketId });
}

/** What opening a ticket about a facility depends on (the write's guard checks every field). */
interface FacilityFacts {
  id: string;
  community_id: string;
  category: string;
  status: FacilityStatus;
  /** Another ticket about it is being worked on (its status becomes under_repair, not faulty). */
  in_progress: boolean;
}
interface PlaceRow {
  facility: FacilityFacts | null;
  unit_community_id: string | null;
}
interface CreationContextRow extends SlaContextRow, DutyFactsRow, PlaceRow {
  /** The new ticket's ref, drawn from its identity sequence (so its audit event is known in Node). */
  ref: string;
}

/** What opening a ticket needs to know about its community: SLA context and duty facts. */
export interface CommunityContext {
  sla: SlaContext;
  duty: DutyFactsRow;
}
/** The tables a CommunityContext is read from: a change to any of them empties its cache. */
export const COMMUNITY_CONTEXT_TABLES = ['communities', 'business_calendars', 'sla_policies', 'duty_assignments', 'organizations'] as const;

/**
 * What an API process may keep between creations (the ticket routes pass it): communities'
 * contexts (ReferenceCache, emptied on change) and ticket refs drawn a block at a time. Without
 * it a creation reads everything, its ref included, in one round trip.
 */
export interface TicketCaches {
  contexts: ReferenceCache<CommunityContext>;
  refs: SequenceBlock;
  /**
   * Facilities as last read or written here: a guess, not a cache. The write's guard checks each
   * fact under the facility's row lock, and a wrong guess writes nothing and is read afresh.
   */
  facilities: Map<string, FacilityFacts>;
}
const MAX_FACILITY_GUESSES = 10_000;
export function createTicketCaches(db: Db, feed: ChangeFeed | undefined, ttlMs: number): TicketCaches {
  return { contexts: new ReferenceCache(feed, COMMUNITY_CONTEXT_TABLES, ttlMs, 2_000), refs: new SequenceBlock(db, 'tickets_ref_seq'), facilities: new Map() };
}
function rememberFacility(caches: TicketCaches, f: FacilityFacts) {
  caches.facilities.delete(f.id);
  if (caches.facilities.size >= MAX_FACILITY_GUESSES) caches.facilities.delete(caches.facilities.keys().next().value as string);
  caches.facilities.set(f.id, f);
}

/** Whether another ticket about the facility is being worked on (read and guard alike). */
const facilityInProgressSql = (facilityId: string) =>
  sql<boolean>`EXISTS (SELECT 1 FROM tickets t WHERE t.facility_id = ${facilityId}::uuid AND t.kind IN ${FACILITY_KINDS} AND t.status = 'in_progress')`;

/** The facility and unit named (to check they belong to the community); the facility's state. */
const placeColumns = (facilityId: string | null, unitId: string | null) => sql`
  (SELECT json_build_object('id', f.id, 'community_id', f.community_id, 'category', f.category, 'status', f.status,
                            'in_progress', ${facilityId === null ? sql`false` : facilityInProgressSql(facilityId)})
   FROM facilities f WHERE f.id = ${facilityId}::uuid) AS facility,
  (SELECT u.community_id FROM units u WHERE u.id = ${unitId}::uuid) AS unit_community_id`;

/**
 * Everything opening a ticket reads: the community's SLA context, the facts of duty resolution,
 * the facility and unit named and the ticket's ref. Without caches in one round trip; with them,
 * the community's part comes from the cache, the ref from the block, a facility from the last
 * guess (`guessed`: the write checks it), and only a unit or a facility not seen yet is read.
 */
async function creationContext(db: DbOrTrx, communityId: string, facilityId: string | null, unitId: string | null, caches?: TicketCaches) {
  if (!caches) {
    const { rows } = await sql<CreationContextRow>`
      SELECT ${slaContextColumns}, ${dutyFactsColumns}, ${placeColumns(facilityId, unitId)}, nextval('tickets_ref_seq')::text AS ref
      FROM communities c WHERE c.id = ${communityId}`.execute(db);
    const row = rows[0];
    return row && { community: { sla: slaContextFrom(row), duty: row }, place: row, ref: row.ref, guessed: false };
  }
  const community = await caches.contexts.get(communityId, async () => {
    const { rows } = await sql<SlaContextRow & DutyFactsRow>`SELECT ${slaContextColumns}, ${dutyFactsColumns} FROM communities c WHERE c.id = ${communityId}`.execute(db);
    const row = rows[0];
    return row && { value: { sla: slaContextFrom(row), duty: { duty_assignments: row.duty_assignments, duty_committees: row.duty_committees } } };
  });
  if (!community) return undefined;
  const guess = facilityId && !unitId ? caches.facilities.get(facilityId) : undefined;
  if (guess) return { community, place: { facility: guess, unit_community_id: null }, ref: await caches.refs.next(), guessed: true };
  const place: PlaceRow =
    facilityId || unitId ? (await sql<PlaceRow>`SELECT ${placeColumns(facilityId, unitId)}`.execute(db)).rows[0]! : { facility: null, unit_community_id: null };
  if (place.facility) rememberFacility(caches, place.facility);
  return { community, place, ref: await caches.refs.next(), guessed: false };
}

/**
 * The insert's column lists as raw SQL, made once per set of columns (the row's keys, fixed in
 * code): a ticket's 26 columns as identifier nodes cost Kysely more to build and compile on every
 * creation than the rest of its statement.
 */
const columnLists = new Map<string, { names: RawBuilder<unknown>; values: RawBuilder<unknown> }>();
function insertColumns(columns: string[]) {
  const key = columns.join(',');
  let lists = columnLists.get(key);
  if (!lists) {
    if (!columns.every((c) => /^[a-z_]+$/.test(c))) throw new Error(`not a column name: ${key}`);
    lists = { names: sql.raw(columns.map((c) => `"${c}"`).join(', ')), values: sql.raw(columns.map((c) => `r."${c}"`).join(', ')) };
    columnLists.set(key, lists);
  }
  return lists;
}

/** Attempts before giving up when the facility's status keeps changing under a creation. */
const CREATE_ATTEMPTS = 5;

/**
 * Opens a ticket: routed to the duty holder of its category, SLA targets and timers set, the
 * facility marked faulty, the audit events written. Works with or without a transaction: after
 * one read (creationContext), everything is written by one data-modifying statement, atomic on
 * its own. The statement's sub-statements share one snapshot, so the facility's status is read
 * under its row lock (latest committed version) and the whole statement does nothing unless it
 * is the status the facility's audit event was built from; then the context is read again.
 */
export async function createTicket(db: DbOrTrx, actorUserId: string | null, input: CreateTicketInput, caches?: TicketCaches): Promise<TicketRow> {
  for (let attempt = 1; ; attempt++) {
    const ticket = await tryCreateTicket(db, actorUserId, input, caches);
    if (ticket) return ticket;
    if (attempt >= CREATE_ATTEMPTS) throw conflict('The facility changed during the creation; try again');
  }
}

async function tryCreateTicket(db: DbOrTrx, actorUserId: string | null, input: CreateTicketInput, caches?: TicketCaches): Promise<TicketRow | undefined> {
  const context = await creationContext(db, input.communityId, input.facilityId ?? null, input.unitId ?? null, caches);
  if (!context) throw notFound('Community');
  let category = input.category;
  if (input.facilityId) {
    const facility = context.place.facility;
    if (context.guessed && facility?.community_id !== input.communityId) {
      caches?.facilities.delete(input.facilityId); // never refuse on a guess: read it
      return undefined;
    }
    if (!facility || facility.community_id !== input.communityId) throw notFound('Facility');
    category ??= facility.category;
  }
  if (input.unitId && context.place.unit_community_id !== input.communityId) throw notFound('Unit');
  category ??= 'other';
  const now = new Date();
  const holder = dutyHolderFromFacts(context.community.duty, category, now);
  const ctx = context.community.sla;
  const id = randomUUID();
  const sla = planSla(ctx, { id, communityId: input.communityId, priority: input.priority, category, openedAt: now, acknowledgedAt: null, resolvedAt: null, slaVersion: 1, pauses: [] }, now);
  const row = {
    id,
    ref: context.ref,
    community_id: input.communityId,
    kind: input.kind,
    channel: input.channel,
    category,
    priority: input.priority,
    title: input.title.trim(),
    description: (input.description ?? '').trim(),
    facility_id: input.facilityId ?? null,
    unit_id: input.unitId ?? null,
    reporter_user_id: input.reporterUserId ?? null,
    reporter_name: input.reporterName ?? null,
    reporter_phone: input.reporterPhone ?? null,
    is_public: input.isPublic ?? true,
    duty_holder_org_id: holder?.organizationId ?? null,
    // A contractor holding the category's duty gets the work directly.
    assignee_org_id: holder?.source === 'assignment' && holder.organizationKind === 'contractor' ? holder.organizationId : null,
    dedupe_key: input.dedupeKey ?? null,
    alarm_count: input.kind === 'alarm' ? 1 : 0,
    rectification_deadline: input.rectificationDeadline ?? null,
    opened_at: now,
    sla_version: 1,
    respond_by: sla.respondBy,
    resolve_by: sla.resolveBy,
  };
  const facility = context.place.facility;
  // The statement acts only if the facility is still as read or guessed (its row locked by `fac`):
  // checked once (the `ok` CTE), and every sub-statement writes only if it holds.
  const guard = facility ? sql<SqlBool>`(SELECT ok FROM ok)` : undefined;
  const audits: AuditInput[] = [
    {
      communityId: input.communityId,
      actorUserId,
      action: 'ticket.created',
      entityType: 'ticket',
      entityId: id,
      after: {
        ref: Number(row.ref),
        kind: row.kind,
        channel: row.channel,
        category: row.category,
        priority: row.priority,
        title: row.title,
        facilityId: row.facility_id,
        dutyHolderOrgId: row.duty_holder_org_id,
        respondBy: row.respond_by,
        resolveBy: row.resolve_by,
      },
    },
  ];
  // The facility follows its open faults (syncFacility), knowing this one is open and new: faulty
  // unless another is being worked on.
  const change =
    facility && guard
      ? statusFromTicketsChange({ id: facility.id, communityId: facility.community_id, before: facility.status }, facility.in_progress ? 'under_repair' : 'faulty', actorUserId, { ticketId: id }, guard)
      : null;
  if (change) audits.push(change.audit);
  const columns = insertColumns(Object.keys(row));
  const ctes = [
    ...(facility
      ? [
          sql`fac AS (${lockedStatusSql(facility.id)})`,
          sql`ok AS (SELECT EXISTS (SELECT 1 FROM fac WHERE fac.status = ${facility.status} AND fac.community_id = ${facility.community_id}::uuid AND fac.category = ${facility.category})
                            AND ${facilityInProgressSql(facility.id)} = ${facility.in_progress} AS ok)`,
        ]
      : []),
    sql`t AS (
      INSERT INTO tickets (${columns.names}) OVERRIDING SYSTEM VALUE
      SELECT ${columns.values} FROM json_populate_record(NULL::tickets, ${JSON.stringify(row)}::json) r
      ${guard ? sql`WHERE ${guard}` : sql``}
      RETURNING *)`,
    ...(sla.specs.length > 0 ? [sql`tm AS (${scheduleTimersSql(sla.specs, guard)})`] : []),
    ...(change ? [sql`fu AS (${change.update})`] : []),
    auditCtes('audited', audits, guard),
  ];
  const { rows } = await sql<TicketRow>`WITH ${sql.join(ctes)} SELECT * FROM t`.execute(db);
  if (caches && facility) {
    if (rows[0]) rememberFacility(caches, { ...facility, status: change ? (facility.in_progress ? 'under_repair' : 'faulty') : facility.status });
    else caches.facilities.delete(facility.id); // the guess (or the read) was outdated: read it next time
  }
  return rows[0];
}

/** Loads a ticket the actor may act on; 404 when they may not even see it. */
export async function ticketForActor(db: DbOrTrx, actor: Actor, ticketId: string, lock = false) {
  const t = lock ? await repo.lockTicket(db, ticketId) : await repo.findTicket(db, ticketId);
  if (!t) throw notFound('Ticket');
  const access = await communityAccess(db, actor, t.community_id);
  const can = ticketPermissions(access, actor, t);
  if (!can.has('read')) throw notFound('Ticket');
  return { ticket: t, can, access };
}

const WORK_MOVES: readonly TicketStatus[] = ['acknowledged', 'in_progress', 'on_hold', 'resolved'];

function mayMove(can: Set<TicketAction>, from: TicketStatus, to: TicketStatus): boolean {
  if (can.has('manage')) return true;
  if (can.has('work') && WORK_MOVES.includes(to)) return true;
  if (can.has('confirm') && ((from === 'resolved' && (to === 'closed' || to === 'reopened')) || (from === 'new' && to === 'cancelled'))) return true;
  return false;
}

/**
 * Moves a ticket along its status machine (409 on an illegal move), with the SLA clock paused
 * on hold, targets recomputed, timers replaced, the facility following and the trace audited.
 * `actor` null is the system (auto-close).
 */
export async function transitionTicket(db: Db, actor: Actor | null, ticketId: string, to: TicketStatus, reason?: string | null) {
  return db.transaction().execute(async (trx) => {
    let t: TicketRow;
    if (actor) {
      const found = await ticketForActor(trx, actor, ticketId, true);
      if (!mayMove(found.can, found.ticket.status, to)) throw forbidden(`You may not move this ticket to ${to}`);
      t = found.ticket;
    } else {
      const found = await repo.lockTicket(trx, ticketId);
      if (!found) throw notFound('Ticket');
      t = found;
    }
    return applyTransition(trx, actor?.userId ?? null, t, to, reason);
  });
}

export async function applyTransition(trx: Trx, actorUserId: string | null, t: TicketRow, to: TicketStatus, reason?: string | null) {
  const from = t.status;
  const check = checkTransition(from, to, reason);
  if (!check.ok) {
    throw check.kind === 'illegal'
      ? new AppError(409, 'ILLEGAL_TRANSITION', check.message, { from, to })
      : badRequest(check.message, [{ field: 'reason', message: check.message }]);
  }
  const now = new Date();
  const patch: repo.TicketPatch = { status: to };
  if (from === 'on_hold') {
    await repo.endOpenPause(trx, t.id, now);
    patch.hold_reason = null;
  }
  switch (to) {
    case 'acknowledged':
      patch.acknowledged_at = t.acknowledged_at ?? now;
      break;
    case 'in_progress':
      // Starting work is a response too, if nobody acknowledged first.
      patch.acknowledged_at = t.acknowledged_at ?? now;
      break;
    case 'on_hold':
      await repo.startPause(trx, t.id, reason as HoldReason, now);
      patch.hold_reason = reason ?? null;
      break;
    case 'resolved':
      patch.resolved_at = now;
      break;
    case 'reopened':
      // The time spent resolved was not the duty holder's to count.
      if (t.resolved_at) {
        await trx.insertInto('ticket_holds').values({ ticket_id: t.id, reason: 'resolved', started_at: t.resolved_at, ended_at: now }).execute();
      }
      patch.resolved_at = null;
      break;
    case 'closed':
      patch.closed_at = now;
      break;
    case 'cancelled':
      patch.cancelled_at = now;
      patch.cancel_reason = reason?.trim() ?? null;
      break;
    default:
      break;
  }
  let updated = await repo.updateTicket(trx, t.id, patch);
  const ctx = await loadSlaContext(trx, t.community_id);
  if (isOpen(to) || to === 'resolved') {
    updated = await recomputeSla(trx, ctx, updated, now);
  } else {
    await cancelTimers(trx, t.id);
  }
  if (to === 'resolved') {
    await scheduleTimer(trx, {
      kind: 'ticket.auto-close',
      subjectId: t.id,
      communityId: t.community_id,
      dueAt: new Date(now.getTime() + ctx.settings.tickets.autoCloseAfterHours * 3_600_000),
      jobId: `ticket-auto-close-${t.id}-${now.getTime()}`,
      payload: { ticketId: t.id, resolvedAt: now.toISOString() },
    });
    if (t.reporter_user_id) {
      const community = await trx.selectFrom('communities').select(['name']).where('id', '=', t.community_id).executeTakeFirstOrThrow();
      await notify(trx, {
        dedupeKey: `ticket-resolved-${t.id}-${now.getTime()}`,
        communityId: t.community_id,
        timeZone: ctx.timeZone,
        template: 'ticket.resolved',
        payload: { communityName: community.name, ticketRef: t.ref, title: t.title, autoCloseHours: ctx.settings.tickets.autoCloseAfterHours },
        recipients: await recipients.user(trx, t.reporter_user_id),
      });
    }
  }
  await recordAudit(trx, {
    communityId: t.community_id,
    actorUserId,
    action: `ticket.${to}`,
    entityType: 'ticket',
    entityId: t.id,
    before: { status: from },
    after: { status: to, reason: reason ?? null, respondBy: updated.respond_by, resolveBy: updated.resolve_by },
  });
  await syncFacility(trx, t.facility_id, actorUserId, t.id);
  return updated;
}

/** Assignment, priority and category changes by staff; targets are recomputed from opening. */
export async function updateTicket(
  db: Db,
  actor: Actor,
  ticketId: string,
  input: { priority?: Priority; category?: string; assigneeUserId?: string | null; assigneeOrgId?: string | null; isPublic?: boolean },
) {
  return db.transaction().execute(async (trx) => {
    const { ticket: t, can } = await ticketForActor(trx, actor, ticketId, true);
    if (!can.has('manage')) throw forbidden('Only staff handling this community change assignment, priority or category');
    if (!isOpen(t.status) && t.status !== 'resolved') throw new AppError(409, 'ILLEGAL_TRANSITION', `A ${t.status} ticket cannot be changed`);
    // Assignees come from the organizations serving this community (an active duty there), or
    // the contractor organization the ticket is assigned to: never a stranger to the community,
    // who would then read the ticket (visibleTicket) and get its SLA notices.
    const serving = trx
      .selectFrom('duty_assignments as d')
      .select('d.organization_id')
      .where('d.community_id', '=', t.community_id)
      .where(sql<boolean>`d.valid_from <= now() AND (d.valid_to IS NULL OR d.valid_to > now())`);
    if (input.assigneeOrgId) {
      const org = await trx
        .selectFrom('organizations')
        .select('kind')
        .where('id', '=', input.assigneeOrgId)
        .where('id', 'in', serving)
        .executeTakeFirst();
      if (!org || !['property_company', 'contractor'].includes(org.kind)) {
        throw badRequest('The assignee organization must be a property company or contractor serving this community', [{ field: 'assigneeOrgId', message: 'not a company or contractor with a duty in this community' }]);
      }
    }
    if (input.assigneeUserId) {
      const assigneeOrg = input.assigneeOrgId !== undefined ? input.assigneeOrgId : t.assignee_org_id;
      const ok = await trx
        .selectFrom('memberships as m')
        .innerJoin('organizations as o', 'o.id', 'm.organization_id')
        .select('m.user_id')
        .where('m.user_id', '=', input.assigneeUserId)
        .where('o.kind', 'in', ['property_company', 'contractor'])
        .where((eb) => eb.or([eb('o.id', 'in', serving), ...(assigneeOrg ? [eb('o.id', '=', assigneeOrg)] : [])]))
        .executeTakeFirst();
      if (!ok) throw badRequest('The assignee must work for a property company or contractor serving this community', [{ field: 'assigneeUserId', message: 'not staff or contractor of this community' }]);
    }
    const patch: repo.TicketPatch = {};
    if (input.priority !== undefined) patch.priority = input.priority;
    if (input.category !== undefined) patch.category = input.category;
    if (input.assigneeUserId !== undefined) patch.assignee_user_id = input.assigneeUserId;
    if (input.assigneeOrgId !== undefined) patch.assignee_org_id = input.assigneeOrgId;
    if (input.isPublic !== undefined) patch.is_public = input.isPublic;
    let updated = await repo.updateTicket(trx, t.id, patch);
    if ((input.priority !== undefined && input.priority !== t.priority) || (input.category !== undefined && input.category !== t.category)) {
      updated = await recomputeSla(trx, await loadSlaContext(trx, t.community_id), updated);
    }
    await recordAudit(trx, {
      communityId: t.community_id,
      actorUserId: actor.userId,
      action: 'ticket.updated',
      entityType: 'ticket',
      entityId: t.id,
      before: { priority: t.priority, category: t.category, assigneeUserId: t.assignee_user_id, assigneeOrgId: t.assignee_org_id, isPublic: t.is_public },
      after: { priority: updated.priority, category: updated.category, assigneeUserId: updated.assignee_user_id, assigneeOrgId: updated.assignee_org_id, isPublic: updated.is_public, respondBy: updated.respond_by, resolveBy: updated.resolve_by },
    });
    return updated;
  });
}

export { SLA_KINDS };

export async function addComment(db: Db, actor: Actor, ticketId: string, body: string, internal: boolean) {
  return db.transaction().execute(async (trx) => {
    const { ticket: t, can } = await ticketForActor(trx, actor, ticketId);
    if (!can.has('comment')) throw forbidden('You may read this ticket but not comment on it');
    if (internal && !can.has('comment_internal')) throw forbidden('Internal comments are for staff handling the ticket');
    const comment = await repo.insertComment(trx, { ticket_id: t.id, author_user_id: actor.userId, body: body.trim(), internal });
    await recordAudit(trx, { communityId: t.community_id, actorUserId: actor.userId, action: 'ticket.commented', entityType: 'ticket', entityId: t.id, after: { commentId: comment.id, internal } });
    return comment;
  });
}

/** Residents rate closed tickets: the reporter, once. */
export async function rateTicket(db: Db, actor: Actor, ticketId: string, score: number, comment: string | undefined) {
  return db.transaction().execute(async (trx) => {
    const { ticket: t, can } = await ticketForActor(trx, actor, ticketId, true);
    if (!can.has('rate')) throw forbidden('Only the reporter rates a ticket');
    if (t.status !== 'closed') throw new AppError(409, 'CONFLICT', 'Only a closed ticket can be rated');
    if (t.rating !== null) throw new AppError(409, 'CONFLICT', 'This ticket has already been rated');
    const updated = await repo.updateTicket(trx, t.id, { rating: score, rating_comment: comment?.trim() || null });
    await recordAudit(trx, { communityId: t.community_id, actorUserId: actor.userId, action: 'ticket.rated', entityType: 'ticket', entityId: t.id, after: { score, comment: comment ?? null } });
    return updated;
  });
}

export const listComments = repo.listComments;
export const listPauses = repo.listPauses;
export const listTickets = repo.listTickets;

/** Ticket figures per community for KPI reports (period by opened_at). */
export async function ticketStats(db: DbOrTrx, communityIds: string[], from: Date, to: Date) {
  if (communityIds.length === 0) return [];
  const rows = await db
    .selectFrom('tickets')
    .select((eb) => [
      'community_id',
      sql<number>`count(*) FILTER (WHERE status IN ('new','acknowledged','in_progress','on_hold','reopened'))`.as('open'),
      sql<number>`count(*) FILTER (WHERE status IN ('new','acknowledged','in_progress','reopened') AND (resolve_by < now() OR rectification_deadline < now()))`.as('overdue'),
      sql<number>`count(*) FILTER (WHERE kind = 'rectification' AND status IN ('new','acknowledged','in_progress','on_hold','reopened') AND rectification_deadline < now())`.as('rectifications_overdue'),
      sql<number>`count(*) FILTER (WHERE opened_at >= ${from} AND opened_at < ${to})`.as('opened_in_period'),
      sql<number>`count(*) FILTER (WHERE opened_at >= ${from} AND opened_at < ${to} AND (acknowledged_at IS NOT NULL OR respond_by < now()) AND status <> 'cancelled')`.as('response_due'),
      sql<number>`count(*) FILTER (WHERE opened_at >= ${from} AND opened_at < ${to} AND acknowledged_at IS NOT NULL AND acknowledged_at <= respond_by AND status <> 'cancelled')`.as('response_met'),
      sql<number>`count(*) FILTER (WHERE opened_at >= ${from} AND opened_at < ${to} AND (resolved_at IS NOT NULL OR resolve_by < now()) AND status <> 'cancelled')`.as('resolution_due'),
      sql<number>`count(*) FILTER (WHERE opened_at >= ${from} AND opened_at < ${to} AND resolved_at IS NOT NULL AND resolved_at <= resolve_by AND resolution_breached_at IS NULL AND status <> 'cancelled')`.as('resolution_met'),
      sql<number | null>`avg(extract(epoch FROM acknowledged_at - opened_at)) FILTER (WHERE opened_at >= ${from} AND opened_at < ${to} AND acknowledged_at IS NOT NULL)`.as('mtta_seconds'),
      sql<number | null>`avg(extract(epoch FROM resolved_at - opened_at)) FILTER (WHERE opened_at >= ${from} AND opened_at < ${to} AND resolved_at IS NOT NULL)`.as('mttr_seconds'),
      eb.fn.countAll<number>().as('total'),
    ])
    .where('community_id', 'in', communityIds)
    .groupBy('community_id')
    .execute();
  return rows.map((r) => ({
    communityId: r.community_id,
    open: Number(r.open),
    overdue: Number(r.overdue),
    rectificationsOverdue: Number(r.rectifications_overdue),
    openedInPeriod: Number(r.opened_in_period),
    responseDue: Number(r.response_due),
    responseMet: Number(r.response_met),
    resolutionDue: Number(r.resolution_due),
    resolutionMet: Number(r.resolution_met),
    mttaSeconds: r.mtta_seconds === null ? null : Math.round(Number(r.mtta_seconds)),
    mttrSeconds: r.mttr_seconds === null ? null : Math.round(Number(r.mttr_seconds)),
  }));
}
