import { randomBytes } from 'node:crypto';
import { sql, type Expression, type RawBuilder, type SqlBool } from 'kysely';
import type { Db, Trx } from '../../db/index.js';
import type { Facility, FacilityCategory, FacilityStatus } from '../../db/types.js';
import { notFound } from '../../lib/errors.js';
import type { Cursor } from '../../lib/pagination.js';
import type { Actor, CommunityAccess } from '../../plugins/access.js';
import { recordAudit, type AuditInput } from '../audit/audit.service.js';
import * as repo from './facilities.repository.js';

/** 144 random bits: the token alone opens the public report form, so it must not be guessable. */
export const newQrToken = () => randomBytes(18).toString('base64url');

export function toFacilityDto(f: Facility, access: CommunityAccess) {
  return {
    id: f.id,
    communityId: f.community_id,
    buildingId: f.building_id,
    category: f.category,
    name: f.name,
    location: f.location,
    status: f.status,
    ...(access.can('facilities.manage') ? { qrToken: f.qr_token } : {}),
    createdAt: f.created_at.toISOString(),
  };
}

export async function createFacility(
  db: Db,
  actor: Actor,
  communityId: string,
  input: { category: FacilityCategory; name: string; location?: string; buildingId?: string },
) {
  return db.transaction().execute(async (trx) => {
    if (input.buildingId) {
      const b = await trx.selectFrom('buildings').select('id').where('id', '=', input.buildingId).where('community_id', '=', communityId).executeTakeFirst();
      if (!b) throw notFound('Building');
    }
    const f = await repo.insertFacility(trx, {
      community_id: communityId,
      building_id: input.buildingId ?? null,
      category: input.category,
      name: input.name.trim(),
      location: input.location?.trim() || null,
      qr_token: newQrToken(),
    });
    await recordAudit(trx, {
      communityId,
      actorUserId: actor.userId,
      action: 'facility.created',
      entityType: 'facility',
      entityId: f.id,
      after: { category: f.category, name: f.name, location: f.location, buildingId: f.building_id, status: f.status },
    });
    return f;
  });
}

export async function getFacility(db: Db, id: string) {
  const f = await repo.findFacility(db, id);
  if (!f) throw notFound('Facility');
  return f;
}

export async function updateFacility(db: Db, actor: Actor, id: string, patch: { name?: string; location?: string | null; status?: FacilityStatus }) {
  return db.transaction().execute(async (trx) => {
    const before = await repo.findFacilityForUpdate(trx, id);
    if (!before) throw notFound('Facility');
    const after = await repo.updateFacility(trx, id, { ...patch, ...(patch.name ? { name: patch.name.trim() } : {}) });
    await recordAudit(trx, {
      communityId: after.community_id,
      actorUserId: actor.userId,
      action: patch.status && patch.status !== before.status ? 'facility.status_changed' : 'facility.updated',
      entityType: 'facility',
      entityId: id,
      before: { name: before.name, location: before.location, status: before.status },
      after: { name: after.name, location: after.location, status: after.status },
    });
    return after;
  });
}

export function listFacilities(db: Db, communityId: string, opts: { cursor?: Cursor; limit: number; category?: FacilityCategory; status?: FacilityStatus }) {
  return repo.listFacilities(db, communityId, opts);
}

/**
 * Sets a facility's status because of its tickets (DESIGN.md: facility status follows its open
 * faults), in the caller's transaction, auditing a real change. A decommissioned facility stays so.
 */
export async function setStatusFromTickets(trx: Trx, facilityId: string, status: FacilityStatus, actorUserId: string | null, because: { ticketId: string }) {
  const before = await repo.findFacilityForUpdate(trx, facilityId);
  if (!before || before.status === status || before.status === 'decommissioned') return;
  const after = await repo.updateFacility(trx, facilityId, { status });
  await recordAudit(trx, {
    communityId: after.community_id,
    actorUserId,
    action: 'facility.status_changed',
    entityType: 'facility',
    entityId: facilityId,
    before: { status: before.status },
    after: { status: after.status, ticketId: because.ticketId },
  });
}

/**
 * setStatusFromTickets as parts of one data-modifying statement, the facility's current status
 * (`before`) being known to the caller, which must make the statement's effect conditional on it
 * (lockedStatusSql): the UPDATE to compose and the audit event to append with the statement's
 * others; null when the status does not change.
 */
export function statusFromTicketsChange(
  f: { id: string; communityId: string; before: FacilityStatus },
  status: FacilityStatus,
  actorUserId: string | null,
  because: { ticketId: string },
  when: Expression<SqlBool>,
): { update: RawBuilder<unknown>; audit: AuditInput } | null {
  if (f.before === status || f.before === 'decommissioned') return null;
  return {
    update: sql`UPDATE facilities SET status = ${status} WHERE id = ${f.id} AND ${when}`,
    audit: { communityId: f.communityId, actorUserId, action: 'facility.status_changed', entityType: 'facility', entityId: f.id, before: { status: f.before }, after: { status, ticketId: because.ticketId } },
  };
}

/** A facility's status, its row locked until commit (latest committed version), for a CTE. */
export function lockedStatusSql(facilityId: string) {
  return sql`SELECT status, community_id, category FROM facilities WHERE id = ${facilityId}::uuid FOR UPDATE`;
}

export async function findFacilityByQrToken(db: Db, qrToken: string) {
  return db.selectFrom('facilities').selectAll().where('qr_token', '=', qrToken).executeTakeFirst();
}

/** Facilities in service per community and category (decommissioned ones do not count). */
export async function facilityIntact(db: Db, communityIds: string[]) {
  if (communityIds.length === 0) return [];
  const rows = await db
    .selectFrom('facilities')
    .select((eb) => ['community_id', 'category', eb.fn.countAll<number>().as('total'), eb.fn.count<number>('id').filterWhere('status', '=', 'operational').as('operational')])
    .where('community_id', 'in', communityIds)
    .where('status', '<>', 'decommissioned')
    .groupBy(['community_id', 'category'])
    .execute();
  return rows.map((r) => ({ communityId: r.community_id, category: r.category, total: Number(r.total), operational: Number(r.operational) }));
}
