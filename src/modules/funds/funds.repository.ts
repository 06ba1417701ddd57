import { sql } from 'kysely';
import type { DbOrTrx } from '../../db/index.js';
import type { Insertable, Updateable } from 'kysely';
import type { FundingSource, FundRequestsTable } from '../../db/types.js';
import type { Voter } from './electorate.js';

export type FundRequestPatch = Updateable<FundRequestsTable>;

export function insertRequest(db: DbOrTrx, r: Insertable<FundRequestsTable>) {
  return db.insertInto('fund_requests').values(r).returningAll().executeTakeFirstOrThrow();
}

export function findRequest(db: DbOrTrx, id: string) {
  return db.selectFrom('fund_requests').selectAll().where('id', '=', id).executeTakeFirst();
}

export function lockRequest(db: DbOrTrx, id: string) {
  return db.selectFrom('fund_requests').selectAll().where('id', '=', id).forUpdate().executeTakeFirst();
}

/** Held by ballots while they are recorded; closing the vote (FOR UPDATE) waits for them. */
export function shareLockRequest(db: DbOrTrx, id: string) {
  return db.selectFrom('fund_requests').selectAll().where('id', '=', id).forShare().executeTakeFirst();
}

export function updateRequest(db: DbOrTrx, id: string, patch: FundRequestPatch) {
  return db.updateTable('fund_requests').set({ ...patch, updated_at: new Date() }).where('id', '=', id).returningAll().executeTakeFirstOrThrow();
}

export async function insertScope(db: DbOrTrx, requestId: string, unitIds: string[]) {
  if (unitIds.length === 0) return;
  await sql`INSERT INTO fund_request_units (request_id, unit_id) SELECT ${requestId}::uuid, u FROM unnest(${unitIds}::uuid[]) AS u ON CONFLICT DO NOTHING`.execute(db);
}

/** Units of a community by id and/or by building, for resolving a scope. */
export function scopeUnits(db: DbOrTrx, communityId: string, buildingIds: string[], unitIds: string[]) {
  return db
    .selectFrom('units')
    .select(['id', 'building_id'])
    .where('community_id', '=', communityId)
    .where((eb) => eb.or([eb('building_id', 'in', buildingIds.length ? buildingIds : ['00000000-0000-0000-0000-000000000000']), eb('id', 'in', unitIds.length ? unitIds : ['00000000-0000-0000-0000-000000000000'])]))
    .execute();
}

/** Units in scope with their area and owners, for the electorate. */
export async function scopeWithOwners(db: DbOrTrx, requestId: string) {
  const rows = await db
    .selectFrom('fund_request_units as s')
    .innerJoin('units as u', 'u.id', 's.unit_id')
    .leftJoin('unit_owners as uo', 'uo.unit_id', 'u.id')
    .leftJoin('owners as o', 'o.id', 'uo.owner_id')
    .select(['u.id as unit_id', 'u.area_centi_m2', 'o.id as owner_id', 'o.is_developer'])
    .where('s.request_id', '=', requestId)
    .execute();
  const units = new Map<string, { unitId: string; areaCentiM2: number; owners: Array<{ ownerId: string; isDeveloper: boolean }> }>();
  for (const r of rows) {
    const u = units.get(r.unit_id) ?? { unitId: r.unit_id, areaCentiM2: r.area_centi_m2, owners: [] };
    if (r.owner_id) u.owners.push({ ownerId: r.owner_id, isDeveloper: r.is_developer ?? false });
    units.set(r.unit_id, u);
  }
  return [...units.values()];
}

export function scopeUnitAreas(db: DbOrTrx, requestId: string) {
  return db
    .selectFrom('fund_request_units as s')
    .innerJoin('units as u', 'u.id', 's.unit_id')
    .select(['u.id', 'u.area_centi_m2', 'u.first_deposit_cents'])
    .where('s.request_id', '=', requestId)
    .orderBy('u.id')
    .execute();
}

export async function insertBudget(db: DbOrTrx, requestId: string, lines: Array<{ description: string; amountCents: number }>, funding: Array<{ source: FundingSource; amountCents: number }>) {
  if (lines.length) {
    await db.insertInto('fund_budget_lines').values(lines.map((l, i) => ({ request_id: requestId, position: i + 1, description: l.description, amount_cents: l.amountCents }))).execute();
  }
  if (funding.length) {
    await db.insertInto('fund_funding').values(funding.map((f) => ({ request_id: requestId, source: f.source, amount_cents: f.amountCents }))).execute();
  }
}

export async function insertLinks(db: DbOrTrx, requestId: string, ticketIds: string[], facilityIds: string[]) {
  const rows = [...ticketIds.map((t) => ({ request_id: requestId, ticket_id: t, facility_id: null })), ...facilityIds.map((f) => ({ request_id: requestId, ticket_id: null, facility_id: f }))];
  if (rows.length) await db.insertInto('fund_request_links').values(rows).execute();
}

export function budgetLines(db: DbOrTrx, requestId: string) {
  return db.selectFrom('fund_budget_lines').select(['position', 'description', 'amount_cents']).where('request_id', '=', requestId).orderBy('position').execute();
}

export function funding(db: DbOrTrx, requestId: string) {
  return db.selectFrom('fund_funding').select(['source', 'amount_cents']).where('request_id', '=', requestId).orderBy('source').execute();
}

export function links(db: DbOrTrx, requestId: string) {
  return db.selectFrom('fund_request_links').select(['ticket_id', 'facility_id']).where('request_id', '=', requestId).execute();
}

export async function insertVoters(db: DbOrTrx, requestId: string, voters: Voter[]) {
  for (let i = 0; i < voters.length; i += 5_000) {
    const batch = voters.slice(i, i + 5_000);
    await sql`
      INSERT INTO fund_voters (request_id, voter_key, kind, owner_ids, unit_ids, area_centi_m2)
      SELECT ${requestId}::uuid, k, kind, string_to_array(o, ',')::uuid[], string_to_array(u, ',')::uuid[], a
      FROM unnest(${batch.map((v) => v.voterKey)}::text[], ${batch.map((v) => v.kind)}::text[],
                  ${batch.map((v) => v.ownerIds.join(','))}::text[], ${batch.map((v) => v.unitIds.join(','))}::text[],
                  ${batch.map((v) => v.areaCentiM2)}::bigint[]) AS t(k, kind, o, u, a)`.execute(db);
  }
}

export function voters(db: DbOrTrx, requestId: string) {
  return db.selectFrom('fund_voters').select(['voter_key', 'kind', 'owner_ids', 'unit_ids', 'area_centi_m2']).where('request_id', '=', requestId).execute();
}

/**
 * What the tally needs of the electorate: each voter's key and area. Not the owner and unit id
 * arrays, whose parsing is most of the time of reading a 20,000-voter electorate.
 */
export function voterAreas(db: DbOrTrx, requestId: string) {
  return db.selectFrom('fund_voters').select(['voter_key', 'area_centi_m2']).where('request_id', '=', requestId).execute();
}

/** Number of units in a request's scope. */
export async function scopeUnitCount(db: DbOrTrx, requestId: string): Promise<number> {
  const r = await db.selectFrom('fund_request_units').select((eb) => eb.fn.countAll<number>().as('n')).where('request_id', '=', requestId).executeTakeFirstOrThrow();
  return Number(r.n);
}

/** The voter (owner-person) that one of these owners casts for. */
export function voterOfOwners(db: DbOrTrx, requestId: string, ownerIds: string[]) {
  return db
    .selectFrom('fund_voters')
    .select(['voter_key', 'owner_ids', 'unit_ids'])
    .where('request_id', '=', requestId)
    .where(sql<boolean>`owner_ids && ${ownerIds}::uuid[]`)
    .executeTakeFirst();
}

export function ballots(db: DbOrTrx, requestId: string) {
  return db.selectFrom('fund_ballots').select(['voter_key', 'choice', 'channel', 'owner_id', 'entered_by', 'cast_at']).where('request_id', '=', requestId).execute();
}

/**
 * The live tally's figures summed in the database, one row: the electorate's totals, area and
 * headcount per choice, and what tally() would refuse in the lists (a voter with a non-positive
 * area, a ballot from outside the electorate or with another choice), counted so the caller can
 * refuse it too. Reading 20,000 voters and ballots into the app to add them up there took most of
 * a live tally's time.
 */
export async function tallyFigures(db: DbOrTrx, requestId: string) {
  const { rows } = await sql<{
    total_headcount: number;
    total_area: string;
    bad_areas: number;
    agree_area: string;
    agree_headcount: number;
    disagree_area: string;
    disagree_headcount: number;
    abstain_area: string;
    abstain_headcount: number;
    outsiders: number;
    bad_choices: number;
  }>`
    -- One pass over the electorate with each voter's ballot (joined on the ballots' primary key:
    -- a hash join, or at worst an index lookup per voter). A ballot matches one voter at most
    -- (primary keys), so the ballots that matched none are all the ballots less those matched.
    SELECT count(*)::int AS total_headcount,
           COALESCE(sum(v.area_centi_m2), 0)::text AS total_area,
           (count(*) FILTER (WHERE v.area_centi_m2 <= 0))::int AS bad_areas,
           COALESCE(sum(v.area_centi_m2) FILTER (WHERE b.choice = 'agree'), 0)::text AS agree_area,
           (count(*) FILTER (WHERE b.choice = 'agree'))::int AS agree_headcount,
           COALESCE(sum(v.area_centi_m2) FILTER (WHERE b.choice = 'disagree'), 0)::text AS disagree_area,
           (count(*) FILTER (WHERE b.choice = 'disagree'))::int AS disagree_headcount,
           COALESCE(sum(v.area_centi_m2) FILTER (WHERE b.choice = 'abstain'), 0)::text AS abstain_area,
           (count(*) FILTER (WHERE b.choice = 'abstain'))::int AS abstain_headcount,
           ((SELECT count(*) FROM fund_ballots WHERE request_id = ${requestId}::uuid) - count(b.voter_key))::int AS outsiders,
           (count(*) FILTER (WHERE b.choice NOT IN ('agree', 'disagree', 'abstain')))::int AS bad_choices
    FROM fund_voters v LEFT JOIN fund_ballots b ON b.request_id = v.request_id AND b.voter_key = v.voter_key
    WHERE v.request_id = ${requestId}::uuid`.execute(db);
  const r = rows[0];
  if (!r) throw new Error('no tally figures');
  return {
    totalHeadcount: r.total_headcount,
    totalArea: Number(r.total_area),
    badAreas: r.bad_areas,
    outsiders: r.outsiders,
    badChoices: r.bad_choices,
    counts: {
      agreeArea: Number(r.agree_area),
      agreeHeadcount: r.agree_headcount,
      disagreeArea: Number(r.disagree_area),
      disagreeHeadcount: r.disagree_headcount,
      abstainArea: Number(r.abstain_area),
      abstainHeadcount: r.abstain_headcount,
    },
  };
}

/** What the tally needs of the ballots: whose, and the choice. */
export function ballotChoices(db: DbOrTrx, requestId: string) {
  return db.selectFrom('fund_ballots').select(['voter_key', 'choice']).where('request_id', '=', requestId).execute();
}

export function findBallot(db: DbOrTrx, requestId: string, voterKey: string) {
  return db.selectFrom('fund_ballots').selectAll().where('request_id', '=', requestId).where('voter_key', '=', voterKey).forUpdate().executeTakeFirst();
}

/**
 * Records a ballot race-safely: inserted, or updated only when the existing one came through
 * the same channel from the same person (changing one's own vote). Returns null when another
 * channel's ballot already counts for this voter.
 */
export async function upsertBallot(
  db: DbOrTrx,
  b: { requestId: string; voterKey: string; choice: 'agree' | 'disagree' | 'abstain'; channel: 'online' | 'paper' | 'proxy'; ownerId: string | null; enteredBy: string; scanDocumentId: string | null },
) {
  const res = await sql<{ voter_key: string; inserted: boolean; choice: string }>`
    INSERT INTO fund_ballots (request_id, voter_key, choice, channel, owner_id, entered_by, scan_document_id)
    VALUES (${b.requestId}, ${b.voterKey}, ${b.choice}, ${b.channel}, ${b.ownerId}, ${b.enteredBy}, ${b.scanDocumentId})
    ON CONFLICT (request_id, voter_key) DO UPDATE
      SET choice = EXCLUDED.choice, channel = EXCLUDED.channel, scan_document_id = EXCLUDED.scan_document_id, owner_id = EXCLUDED.owner_id, updated_at = now()
      WHERE (fund_ballots.channel = 'online') = (EXCLUDED.channel = 'online')
        AND (EXCLUDED.channel <> 'online' OR fund_ballots.entered_by = EXCLUDED.entered_by)
    RETURNING voter_key, (xmax = 0) AS inserted, choice`.execute(db);
  return res.rows[0] ?? null;
}

export function insertObjection(db: DbOrTrx, o: { request_id: string; user_id: string; body: string }) {
  return db.insertInto('fund_objections').values(o).returningAll().executeTakeFirstOrThrow();
}

export function objections(db: DbOrTrx, requestId: string) {
  return db.selectFrom('fund_objections').select(['id', 'body', 'created_at']).where('request_id', '=', requestId).orderBy('created_at').execute();
}

export function findDocument(db: DbOrTrx, requestId: string, id: string) {
  return db.selectFrom('fund_documents').selectAll().where('request_id', '=', requestId).where('id', '=', id).executeTakeFirst();
}

export function documents(db: DbOrTrx, requestId: string) {
  return db.selectFrom('fund_documents').select(['id', 'kind', 'title', 'mime_type', 'size_bytes', 'created_at']).where('request_id', '=', requestId).orderBy('created_at').execute();
}

export function insertDocument(db: DbOrTrx, d: { request_id: string; kind: string; title: string; storage_key: string | null; mime_type: string | null; size_bytes: number | null; sha256: string | null; uploaded_by: string }) {
  return db.insertInto('fund_documents').values(d as never).returningAll().executeTakeFirstOrThrow();
}

/** Debits each unit's ledger in one statement (a request debits a unit once: unique index). */
export async function debitUnits(db: DbOrTrx, communityId: string, requestId: string, parts: Array<{ unitId: string; cents: number }>, actorUserId: string | null, note: string) {
  const nonZero = parts.filter((p) => p.cents > 0);
  for (let i = 0; i < nonZero.length; i += 10_000) {
    const batch = nonZero.slice(i, i + 10_000);
    await sql`
      INSERT INTO unit_ledger_entries (unit_id, community_id, request_id, kind, amount_cents, note, created_by)
      SELECT u, ${communityId}::uuid, ${requestId}::uuid, 'debit', -c, ${note}, ${actorUserId}::uuid
      FROM unnest(${batch.map((p) => p.unitId)}::uuid[], ${batch.map((p) => p.cents)}::bigint[]) AS t(u, c)`.execute(db);
  }
}

/** Balances of units (sum of their entries). */
export async function balances(db: DbOrTrx, unitIds: string[]) {
  if (unitIds.length === 0) return new Map<string, number>();
  // One array parameter, not one parameter per unit (a statement takes at most 65,535).
  const rows = await db
    .selectFrom('unit_ledger_entries')
    .select((eb) => ['unit_id', eb.fn.sum<number>('amount_cents').as('balance')])
    .where(sql<boolean>`unit_id = ANY(${unitIds}::uuid[])`)
    .groupBy('unit_id')
    .execute();
  return new Map(rows.map((r) => [r.unit_id, Number(r.balance)]));
}

export function ledgerEntries(db: DbOrTrx, unitId: string) {
  return db
    .selectFrom('unit_ledger_entries as e')
    .leftJoin('fund_requests as r', 'r.id', 'e.request_id')
    .select(['e.id', 'e.kind', 'e.amount_cents', 'e.note', 'e.request_id', 'r.title as request_title', 'e.created_at'])
    .where('e.unit_id', '=', unitId)
    .orderBy('e.created_at')
    .orderBy('e.id')
    .execute();
}
