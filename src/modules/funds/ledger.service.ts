import { parse } from 'csv-parse/sync';
import { sql } from 'kysely';
import type { Db, DbOrTrx } from '../../db/index.js';
import { AppError, badRequest } from '../../lib/errors.js';
import { parseHundredths } from '../../lib/decimal.js';
import type { Actor } from '../../plugins/access.js';
import { recordAudit } from '../audit/audit.service.js';
import { belowTopUpThreshold } from './apportion.js';
import * as repo from './funds.repository.js';

/** One unit's fund account: entries oldest first with running balance, and the 30% top-up flag. */
export async function unitLedger(db: DbOrTrx, unit: { id: string; first_deposit_cents: number }) {
  const entries = await repo.ledgerEntries(db, unit.id);
  let balance = 0;
  const items = entries.map((e) => {
    balance += e.amount_cents;
    return { id: e.id, kind: e.kind, amountCents: e.amount_cents, balanceCents: balance, note: e.note, requestId: e.request_id, requestTitle: e.request_title, createdAt: e.created_at.toISOString() };
  });
  return { unitId: unit.id, firstDepositCents: unit.first_deposit_cents, balanceCents: balance, belowTopUpThreshold: belowTopUpThreshold(balance, unit.first_deposit_cents), entries: items };
}

/**
 * Opening balances from CSV (building, unit number, balance in yuan), all or nothing: every row
 * checked first and reported with its row number; a unit that already has an opening balance
 * is an error (corrections are adjustments, not a second opening).
 */
export async function importOpeningBalances(db: Db, actor: Actor, communityId: string, csv: string) {
  let records: string[][];
  try {
    records = parse(csv, { bom: true, skip_empty_lines: true, relax_column_count: true, trim: true }) as string[][];
  } catch (err) {
    throw badRequest(`The file is not valid CSV: ${(err as Error).message}`);
  }
  const first = records[0] ?? [];
  const hasHeader = first.length >= 3 && parseHundredths(first[2] ?? '') === null;
  const rows = records.slice(hasHeader ? 1 : 0);
  if (rows.length === 0) throw badRequest('The file has no rows');
  if (rows.length > 50_000) throw badRequest('At most 50,000 rows per file');
  const units = await db
    .selectFrom('units as u')
    .innerJoin('buildings as b', 'b.id', 'u.building_id')
    .select(['u.id', 'b.name as building', 'u.number'])
    .where('u.community_id', '=', communityId)
    .execute();
  const byKey = new Map(units.map((u) => [`${u.building}\u0000${u.number}`, u.id]));
  const openingBalances = async (q: DbOrTrx) =>
    new Set((await q.selectFrom('unit_ledger_entries').select('unit_id').where('community_id', '=', communityId).where('kind', '=', 'opening_balance').execute()).map((e) => e.unit_id));
  const existing = await openingBalances(db);
  const errors: Array<{ row: number; message: string }> = [];
  const seen = new Set<string>();
  const parsed: Array<{ unitId: string; cents: number; row: number; label: string }> = [];
  rows.forEach((r, i) => {
    const row = i + (hasHeader ? 2 : 1);
    const [building = '', number = '', amount = ''] = r;
    const unitId = byKey.get(`${building}\u0000${number}`);
    const cents = parseHundredths(amount.replace(/^-/, ''));
    if (!unitId) errors.push({ row, message: `no unit ${building} ${number} in this community` });
    else if (cents === null) errors.push({ row, message: `balance "${amount}" must be an amount in yuan with at most 2 decimals` });
    else if (existing.has(unitId)) errors.push({ row, message: `unit ${building} ${number} already has an opening balance` });
    else if (seen.has(unitId)) errors.push({ row, message: `unit ${building} ${number} appears twice` });
    else {
      seen.add(unitId);
      parsed.push({ unitId, cents: amount.trim().startsWith('-') ? -cents : cents, row, label: `${building} ${number}` });
    }
  });
  const refuse = (errs: typeof errors) => new AppError(400, 'VALIDATION_ERROR', `${errs.length} problem(s) in the file; nothing was imported`, { errorCount: errs.length, errors: errs.slice(0, 200) });
  if (errors.length > 0) throw refuse(errors);
  return db.transaction().execute(async (trx) => {
    // Two imports at once: the second waits here and then sees the first's opening balances.
    await sql`SELECT pg_advisory_xact_lock(hashtext(${`ledger-opening:${communityId}`}::text))`.execute(trx);
    const now = await openingBalances(trx);
    const late = parsed.filter((p) => now.has(p.unitId)).map((p) => ({ row: p.row, message: `unit ${p.label} already has an opening balance` }));
    if (late.length > 0) throw refuse(late);
    await sql`
      INSERT INTO unit_ledger_entries (unit_id, community_id, kind, amount_cents, note, created_by)
      SELECT u, ${communityId}::uuid, 'opening_balance', c, 'opening balance', ${actor.userId}::uuid
      FROM unnest(${parsed.map((p) => p.unitId)}::uuid[], ${parsed.map((p) => p.cents)}::bigint[]) AS t(u, c)`.execute(trx);
    const total = parsed.reduce((s, p) => s + p.cents, 0);
    await recordAudit(trx, { communityId, actorUserId: actor.userId, action: 'ledger.opening_balances', entityType: 'community', entityId: communityId, after: { units: parsed.length, totalCents: total } });
    return { units: parsed.length, totalCents: total };
  });
}

/** The community's fund: balances, units below the top-up threshold, requests and spending. */
export async function fundSummary(db: DbOrTrx, communityId: string) {
  const units = await db
    .selectFrom('units as u')
    .leftJoin('unit_ledger_entries as e', 'e.unit_id', 'u.id')
    .select((eb) => ['u.id', 'u.first_deposit_cents', eb.fn.coalesce(eb.fn.sum<number>('e.amount_cents'), sql<number>`0`).as('balance')])
    .where('u.community_id', '=', communityId)
    .groupBy(['u.id', 'u.first_deposit_cents'])
    .execute();
  const requests = await db
    .selectFrom('fund_requests')
    .select((eb) => ['status', eb.fn.countAll<number>().as('n'), eb.fn.sum<number>('fund_share_cents').as('fund_share')])
    .where('community_id', '=', communityId)
    .groupBy('status')
    .execute();
  return {
    communityId,
    units: units.length,
    balanceCents: units.reduce((s, u) => s + Number(u.balance), 0),
    belowTopUpThreshold: units.filter((u) => belowTopUpThreshold(Number(u.balance), u.first_deposit_cents)).length,
    requests: Object.fromEntries(requests.map((r) => [r.status, Number(r.n)])),
    settledFundShareCents: requests.filter((r) => r.status === 'settled' || r.status === 'closed').reduce((s, r) => s + Number(r.fund_share ?? 0), 0),
  };
}
