import type { Db } from '../../db/index.js';
import { visibleCommunity, type Actor } from '../../plugins/access.js';
import { dutyHolder } from '../duties/duties.service.js';
import { facilityIntact } from '../facilities/facilities.service.js';
import { inspectionStats } from '../inspections/inspections.service.js';
import { ticketStats } from '../tickets/tickets.service.js';
import { EMPTY_COUNTS, inspectionRates, intactRates, ratio, sumCounts, type TicketCounts } from './kpis.js';

export interface Period {
  from: Date;
  to: Date;
}

function shape(counts: TicketCounts) {
  return {
    open: counts.open,
    overdue: counts.overdue,
    rectificationsOverdue: counts.rectificationsOverdue,
    openedInPeriod: counts.openedInPeriod,
    responseCompliance: ratio(counts.responseMet, counts.responseDue),
    resolutionCompliance: ratio(counts.resolutionMet, counts.resolutionDue),
    responseMeasured: counts.responseDue,
    resolutionMeasured: counts.resolutionDue,
    meanTimeToAcknowledgeSeconds: counts.mttaSeconds,
    meanTimeToResolveSeconds: counts.mttrSeconds,
  };
}

export async function communityKpis(db: Db, communityId: string, period: Period) {
  const [stats, intact, holder, community, inspections] = await Promise.all([
    ticketStats(db, [communityId], period.from, period.to),
    facilityIntact(db, [communityId]),
    dutyHolder(db, communityId, null),
    db.selectFrom('communities').select(['id', 'name', 'district']).where('id', '=', communityId).executeTakeFirstOrThrow(),
    inspectionStats(db, [communityId], period.from, period.to),
  ]);
  return {
    communityId,
    name: community.name,
    district: community.district,
    period: { from: period.from.toISOString(), to: period.to.toISOString() },
    tickets: shape(stats[0] ?? EMPTY_COUNTS),
    facilities: intactRates(intact),
    dutyGap: holder === null,
    inspections: inspectionRates(inspections),
  };
}

/** Per community of the district, and the district's totals. */
export async function districtKpis(db: Db, actor: Actor, district: string, period: Period) {
  const communities = await db
    .selectFrom('communities')
    .select(['id', 'name'])
    .where('district', '=', district)
    .where(visibleCommunity(actor, 'communities.id'))
    .orderBy('name')
    .execute();
  const ids = communities.map((c) => c.id);
  const [stats, intact, holders, inspections] = await Promise.all([
    ticketStats(db, ids, period.from, period.to),
    facilityIntact(db, ids),
    Promise.all(ids.map((id) => dutyHolder(db, id, null))),
    inspectionStats(db, ids, period.from, period.to),
  ]);
  const rows = communities.map((c, i) => ({
    communityId: c.id,
    name: c.name,
    tickets: shape(stats.find((s) => s.communityId === c.id) ?? EMPTY_COUNTS),
    facilities: intactRates(intact.filter((r) => r.communityId === c.id)),
    dutyGap: holders[i] === null,
    inspections: inspectionRates(inspections.filter((r) => r.communityId === c.id)),
  }));
  const byCategory = new Map<string, { category: string; total: number; operational: number }>();
  for (const r of intact) {
    const cur = byCategory.get(r.category) ?? { category: r.category, total: 0, operational: 0 };
    cur.total += r.total;
    cur.operational += r.operational;
    byCategory.set(r.category, cur);
  }
  return {
    district,
    period: { from: period.from.toISOString(), to: period.to.toISOString() },
    communities: rows,
    totals: {
      communities: rows.length,
      dutyGaps: rows.filter((r) => r.dutyGap).length,
      tickets: shape(sumCounts(stats)),
      facilities: intactRates([...byCategory.values()]),
      inspections: inspectionRates(inspections),
    },
  };
}
