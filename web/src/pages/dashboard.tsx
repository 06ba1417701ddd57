import { useState } from 'preact/hooks';
import { get } from '../lib/api.js';
import { cat, t } from '../lib/i18n.js';
import { duration, pct } from '../lib/format.js';
import { Card, ErrorBox, Link, Loading, RateBars, Ring, useAsync, useSession } from '../ui.js';

interface TicketKpis {
  open: number;
  overdue: number;
  rectificationsOverdue: number;
  openedInPeriod: number;
  responseCompliance: number | null;
  resolutionCompliance: number | null;
  responseMeasured: number;
  resolutionMeasured: number;
  meanTimeToAcknowledgeSeconds: number | null;
  meanTimeToResolveSeconds: number | null;
}
interface FacilityKpi {
  category: string;
  total: number;
  operational: number;
  rate: number;
  target: number | null;
  belowTarget: boolean;
}
interface InspectionKpis {
  due: number;
  doneOnTime: number;
  doneLate: number;
  notDone: number;
  onTimeRate: number | null;
}
interface CommunityKpis {
  communityId: string;
  name: string;
  period: { from: string; to: string };
  tickets: TicketKpis;
  facilities: FacilityKpi[];
  dutyGap: boolean;
  inspections: InspectionKpis;
}

function Kpi({ label, value, tone, href }: { label: string; value: string | number; tone?: 'bad' | 'good'; href?: string }) {
  const body = (
    <>
      <div class="muted">{label}</div>
      <div class={`big ${tone ?? ''}`}>{value}</div>
    </>
  );
  return href ? (
    <Link href={href} class="kpi">
      {body}
    </Link>
  ) : (
    <div class="kpi">{body}</div>
  );
}

const PERIODS = [7, 30, 90];

function KpiBlocks({ k, linkTickets }: { k: { tickets: TicketKpis; facilities: FacilityKpi[]; dutyGap: boolean; inspections: InspectionKpis }; linkTickets?: boolean }) {
  return (
    <>
      <div class="kpis" data-testid="kpis">
        <Kpi label={t('openTickets')} value={k.tickets.open} href={linkTickets ? '/tickets?status=open' : undefined} />
        <Kpi label={t('overdueTickets')} value={k.tickets.overdue} tone={k.tickets.overdue > 0 ? 'bad' : 'good'} href={linkTickets ? '/tickets?overdue=1' : undefined} />
        <Kpi label={t('rectOverdue')} value={k.tickets.rectificationsOverdue} tone={k.tickets.rectificationsOverdue > 0 ? 'bad' : undefined} />
        <Kpi label={t('openedInPeriod')} value={k.tickets.openedInPeriod} />
        <Kpi label={t('mtta')} value={k.tickets.meanTimeToAcknowledgeSeconds === null ? '—' : duration(k.tickets.meanTimeToAcknowledgeSeconds * 1000)} />
        <Kpi label={t('mttr')} value={k.tickets.meanTimeToResolveSeconds === null ? '—' : duration(k.tickets.meanTimeToResolveSeconds * 1000)} />
        <Kpi label={t('dutyGap')} value={k.dutyGap ? '⚠' : '✓'} tone={k.dutyGap ? 'bad' : 'good'} />
      </div>
      <div class="grid2">
        <Card title={t('respCompliance') + ' / ' + t('resoCompliance')}>
          <div class="rings">
            <Ring value={k.tickets.responseCompliance} label={`${t('respCompliance')} (${k.tickets.responseMeasured})`} target={0.9} />
            <Ring value={k.tickets.resolutionCompliance} label={`${t('resoCompliance')} (${k.tickets.resolutionMeasured})`} target={0.9} />
            <Ring value={k.inspections.onTimeRate} label={`${t('inspectionsOnTime')} (${k.inspections.doneOnTime}/${k.inspections.due})`} target={0.9} />
          </div>
        </Card>
        <Card title={t('intactRate')}>
          {k.facilities.length === 0 ? (
            <p class="muted">{t('noData')}</p>
          ) : (
            <RateBars rows={k.facilities.map((f) => ({ label: cat(f.category), rate: f.rate, target: f.target, note: `${f.operational}/${f.total}` }))} />
          )}
        </Card>
      </div>
    </>
  );
}

export function DashboardPage() {
  const { communityId } = useSession();
  const [days, setDays] = useState(30);
  const k = useAsync(async () => {
    if (!communityId) return null;
    const to = new Date();
    const from = new Date(to.getTime() - days * 86_400_000);
    return get<CommunityKpis>(`/reports/communities/${communityId}/kpis`, { from: from.toISOString(), to: to.toISOString() });
  }, [communityId, days]);
  return (
    <div>
      <div class="row page-head">
        <h1 class="page-title">
          {t('kpis')} {k.data && `· ${k.data.name}`}
        </h1>
        <label class="inline">
          {t('period')}
          <select value={days} onChange={(e) => setDays(Number((e.target as HTMLSelectElement).value))}>
            {PERIODS.map((d) => (
              <option key={d} value={d}>
                {d} {t('period') === '统计周期' ? '天' : 'days'}
              </option>
            ))}
          </select>
        </label>
      </div>
      <ErrorBox error={k.error} onRetry={k.reload} />
      {k.loading && !k.data ? <Loading /> : k.data && <KpiBlocks k={k.data} linkTickets />}
    </div>
  );
}

interface DistrictKpis {
  district: string;
  communities: Array<{ communityId: string; name: string } & Omit<CommunityKpis, 'communityId' | 'name' | 'period'>>;
  totals: { communities: number; dutyGaps: number; tickets: TicketKpis; facilities: FacilityKpi[]; inspections: InspectionKpis };
}

/** The authority's read-only view: its district's KPIs and duty gaps. */
export function AuthorityPage() {
  const { me, communities } = useSession();
  const districts = [...new Set([...me.memberships.filter((m) => m.kind === 'authority' && m.district).map((m) => m.district as string), ...communities.map((c) => c.district)])];
  const [district, setDistrict] = useState(districts[0] ?? '');
  const k = useAsync(() => (district ? get<DistrictKpis>(`/reports/districts/${encodeURIComponent(district)}/kpis`) : Promise.resolve(null)), [district]);
  const gaps = useAsync(() => get<{ items: Array<{ communityId: string; name: string; district: string }> }>('/reports/duty-gaps'), []);
  return (
    <div>
      <div class="row page-head">
        <h1 class="page-title">
          {t('districtKpis')} <span class="badge">{t('readOnly')}</span>
        </h1>
        {districts.length > 1 && (
          <select aria-label={t('district')} value={district} onChange={(e) => setDistrict((e.target as HTMLSelectElement).value)}>
            {districts.map((d) => (
              <option key={d}>{d}</option>
            ))}
          </select>
        )}
      </div>
      <ErrorBox error={k.error} onRetry={k.reload} />
      {k.loading && !k.data ? (
        <Loading />
      ) : (
        k.data && (
          <>
            <p class="muted">
              {t('district')}: {k.data.district} · {t('communities')}: {k.data.totals.communities}
            </p>
            <KpiBlocks k={{ ...k.data.totals, dutyGap: k.data.totals.dutyGaps > 0 }} />
            <Card title={t('community')}>
              <table class="list" data-testid="district-table">
                <thead>
                  <tr>
                    <th>{t('community')}</th>
                    <th class="num">{t('openTickets')}</th>
                    <th class="num">{t('overdueTickets')}</th>
                    <th class="num hide-sm">{t('resoCompliance')}</th>
                    <th class="num hide-sm">{t('inspectionsOnTime')}</th>
                    <th>{t('dutyGap')}</th>
                  </tr>
                </thead>
                <tbody>
                  {k.data.communities.map((c) => (
                    <tr key={c.communityId}>
                      <td>{c.name}</td>
                      <td class="num">{c.tickets.open}</td>
                      <td class={`num ${c.tickets.overdue ? 'neg' : ''}`}>{c.tickets.overdue}</td>
                      <td class="num hide-sm">{pct(c.tickets.resolutionCompliance)}</td>
                      <td class="num hide-sm">{pct(c.inspections.onTimeRate)}</td>
                      <td>{c.dutyGap ? '⚠' : '✓'}</td>
                    </tr>
                  ))}
                </tbody>
              </table>
            </Card>
          </>
        )
      )}
      <Card title={t('dutyGaps')}>
        <ErrorBox error={gaps.error} />
        {gaps.data && gaps.data.items.length === 0 && <p class="ok">{t('dutyGapNone')}</p>}
        <ul data-testid="duty-gaps">
          {gaps.data?.items.map((g) => (
            <li key={g.communityId}>
              ⚠ {g.name} <span class="muted">{g.district}</span>
            </li>
          ))}
        </ul>
      </Card>
    </div>
  );
}
