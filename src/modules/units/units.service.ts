import { createHash } from 'node:crypto';
import type { Db, Trx } from '../../db/index.js';
import { AppError, badRequest, conflict, forbidden, notFound } from '../../lib/errors.js';
import type { Cursor } from '../../lib/pagination.js';
import { formatHundredths } from '../../lib/decimal.js';
import { maskPhone, type Actor, type CommunityAccess } from '../../plugins/access.js';
import { recordAudit } from '../audit/audit.service.js';
import * as repo from './units.repository.js';
import { ownerIdentityKey, parseUnitCsv, type RowError, type UnitInput } from './unit-rows.js';

const MAX_ERRORS_SHOWN = 200;

function rowErrors(status: 400 | 409, message: string, errors: RowError[]): AppError {
  return new AppError(status, status === 400 ? 'VALIDATION_ERROR' : 'CONFLICT', message, {
    errorCount: errors.length,
    errors: errors.slice(0, MAX_ERRORS_SHOWN),
    truncated: errors.length > MAX_ERRORS_SHOWN,
  });
}

/** Writes units, their buildings and owners; the caller owns the transaction. */
async function writeUnits(trx: Trx, communityId: string, units: UnitInput[]) {
  const buildingNames = [...new Set(units.map((u) => u.buildingName))];
  const buildings = await repo.ensureBuildings(trx, communityId, buildingNames);

  const keyed = units.map((u) => ({ ...u, buildingId: buildings.ids.get(u.buildingName) as string }));
  const existing = await repo.findExistingUnits(trx, keyed.map((u) => u.buildingId), keyed.map((u) => u.number));
  if (existing.length > 0) {
    const taken = new Set(existing.map((e) => `${e.building_id}\u0000${e.number}`));
    const errors = keyed
      .filter((u) => taken.has(`${u.buildingId}\u0000${u.number}`))
      .map((u) => ({ row: u.row, message: `unit ${u.buildingName} ${u.number} already exists in this community` }));
    throw rowErrors(409, `${errors.length} unit(s) already exist; nothing was imported`, errors);
  }

  const ownerMap = new Map<string, { identityKey: string; name: string; phone: string | null; email: string | null; isDeveloper: boolean }>();
  for (const u of units) for (const o of u.owners) {
    const identityKey = ownerIdentityKey(o);
    if (!ownerMap.has(identityKey)) ownerMap.set(identityKey, { identityKey, ...o });
  }
  const owners = await repo.upsertOwners(trx, communityId, [...ownerMap.values()]);
  const inserted = await repo.insertUnits(trx, communityId, keyed);
  const unitIdByKey = new Map(inserted.map((r) => [`${r.building_id}\u0000${r.number}`, r.id]));
  await repo.linkOwners(
    trx,
    keyed.flatMap((u) =>
      u.owners.map((o) => ({ unitId: unitIdByKey.get(`${u.buildingId}\u0000${u.number}`) as string, ownerId: owners.ids.get(ownerIdentityKey(o)) as string })),
    ),
  );
  return { buildingsCreated: buildings.created, ownersCreated: owners.created, unitIds: inserted.map((r) => r.id) };
}

/**
 * Imports a unit register CSV all-or-nothing: every row is validated first and every problem is
 * reported with its row number; then everything is written in one transaction, or nothing.
 */
export async function importUnits(db: Db, actor: Actor, communityId: string, csv: string) {
  const parsed = parseUnitCsv(csv);
  if (parsed.errors.length > 0) throw rowErrors(400, `${parsed.errors.length} problem(s) in the file; nothing was imported`, parsed.errors);
  if (parsed.units.length === 0) throw badRequest('The file has no unit rows');
  const checksum = createHash('sha256').update(csv).digest('hex');
  return db.transaction().execute(async (trx) => {
    const result = await writeUnits(trx, communityId, parsed.units);
    const totalArea = parsed.units.reduce((s, u) => s + u.areaCentiM2, 0);
    const summary = {
      rows: parsed.rowCount,
      unitsCreated: result.unitIds.length,
      buildingsCreated: result.buildingsCreated,
      ownersCreated: result.ownersCreated,
      totalAreaM2: formatHundredths(totalArea),
    };
    // One event for the whole file: its checksum identifies exactly what was imported.
    await recordAudit(trx, { communityId, actorUserId: actor.userId, action: 'units.imported', entityType: 'community', entityId: communityId, after: { ...summary, sha256: checksum } });
    return summary;
  });
}

export async function createUnit(
  db: Db,
  actor: Actor,
  communityId: string,
  input: { buildingId: string; number: string; areaCentiM2: number; firstDepositCents: number; owners: UnitInput['owners'] },
) {
  return db.transaction().execute(async (trx) => {
    const building = await trx.selectFrom('buildings').select(['id', 'name']).where('id', '=', input.buildingId).where('community_id', '=', communityId).executeTakeFirst();
    if (!building) throw notFound('Building');
    const number = input.number.trim();
    const identities = input.owners.map(ownerIdentityKey);
    if (new Set(identities).size !== identities.length) throw badRequest('The same owner is listed twice');
    let result;
    try {
      result = await writeUnits(trx, communityId, [{ row: 0, buildingName: building.name, number, areaCentiM2: input.areaCentiM2, firstDepositCents: input.firstDepositCents, owners: input.owners }]);
    } catch (err) {
      if (err instanceof AppError && err.statusCode === 409) throw conflict(`Unit ${building.name} ${number} already exists`);
      throw err;
    }
    const unitId = result.unitIds[0] as string;
    await recordAudit(trx, {
      communityId,
      actorUserId: actor.userId,
      action: 'unit.created',
      entityType: 'unit',
      entityId: unitId,
      after: { building: building.name, number, areaCentiM2: input.areaCentiM2, firstDepositCents: input.firstDepositCents, owners: input.owners.length },
    });
    return unitId;
  });
}

type UnitRow = Awaited<ReturnType<typeof repo.findUnit>> & {};

/** Shapes units for a reader: owners' phones masked unless the reader's role needs them. */
export async function presentUnits(db: Db, access: CommunityAccess, rows: UnitRow[]) {
  const owners = await repo.ownersOfUnits(db, rows.map((r) => r.id));
  const full = access.can('owners.read');
  return rows.map((u) => ({
    id: u.id,
    communityId: u.community_id,
    buildingId: u.building_id,
    building: u.building_name,
    number: u.number,
    areaCentiM2: u.area_centi_m2,
    areaM2: formatHundredths(u.area_centi_m2),
    firstDepositCents: u.first_deposit_cents,
    owners: owners
      .filter((o) => o.unit_id === u.id)
      .map((o) => ({ id: o.id, name: o.name, phone: full ? o.phone : maskPhone(o.phone), isDeveloper: o.is_developer, hasAccount: o.user_id !== null })),
  }));
}

export function listUnits(db: Db, access: CommunityAccess, actor: Actor, communityId: string, opts: { cursor?: Cursor; limit: number; buildingId?: string }) {
  const everyUnit = access.can('owners.read') || access.stances.has('authority') || access.stances.has('platform_admin');
  if (!everyUnit && !access.stances.has('owner')) throw forbidden('Your role does not include the unit register');
  // Owners (with no staff role here) see only their own units.
  return repo.listUnits(db, communityId, { ...opts, ownerUserId: everyUnit ? undefined : actor.userId });
}

/** Staff reads of owners' contact details are themselves recorded (DESIGN.md "Audit"). */
export async function logPersonalDataRead(db: Db, actor: Actor, access: CommunityAccess, communityId: string, unitIds: string[]) {
  if (!access.can('owners.read') || unitIds.length === 0) return;
  await db.transaction().execute((trx) =>
    recordAudit(trx, { communityId, actorUserId: actor.userId, action: 'personal_data.read', entityType: 'unit', entityId: null, after: { unitIds } }),
  );
}

export async function getUnit(db: Db, id: string) {
  const unit = await repo.findUnit(db, id);
  if (!unit) throw notFound('Unit');
  return unit;
}

export async function isOwnerOfUnit(db: Db, userId: string, unitId: string) {
  const owners = await repo.ownersOfUnits(db, [unitId]);
  return owners.some((o) => o.user_id === userId);
}
