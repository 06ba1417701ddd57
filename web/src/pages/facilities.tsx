import QRCode from 'qrcode';
import { useState } from 'preact/hooks';
import { get } from '../lib/api.js';
import { CATEGORIES, cat, lang, t, tk } from '../lib/i18n.js';
import { dateOnly } from '../lib/format.js';
import { setQuery, useLocation } from '../lib/router.js';
import { Badge, Card, ErrorBox, FilterSelect, Link, ListTable, Loading, useAsync, usePages, useSession } from '../ui.js';

interface Facility {
  id: string;
  category: string;
  name: string;
  location: string | null;
  status: string;
  qrToken?: string | null;
}

const reportUrl = (token: string) => `${location.origin}/q/${encodeURIComponent(token)}`;

export function FacilitiesPage() {
  const { communityId } = useSession();
  const { query } = useLocation();
  const category = query.get('category') ?? '';
  const status = query.get('status') ?? '';
  const list = usePages(
    (cursor) => get<{ items: Facility[]; nextCursor: string | null }>(`/communities/${communityId}/facilities`, { category: category || undefined, status: status || undefined, limit: 20, cursor }),
    [communityId, category, status],
  );
  return (
    <Card
      title={t('facilities')}
      actions={
        <Link href={`/facilities/labels?${new URLSearchParams({ category, status }).toString()}`} class="button">
          {t('qrLabels')}
        </Link>
      }
    >
      <div class="filters">
        <FilterSelect label={t('category')} value={category} options={[['', t('allCategories')], ...CATEGORIES.map((c) => [c, cat(c)] as const)]} onPick={(v) => setQuery({ category: v })} />
        <FilterSelect
          label={t('status')}
          value={status}
          options={[['', t('all')], ...['operational', 'faulty', 'under_repair', 'decommissioned'].map((s) => [s, tk('fac_', s)] as const)]}
          onPick={(v) => setQuery({ status: v })}
        />
      </div>
      <ListTable
        res={list}
        testid="facility-list"
        columns={[t('name'), t('category'), [t('location'), 'hide-sm'], t('status'), t('scanToReport')]}
        row={(f) => (
          <tr key={f.id}>
            <td>{f.name}</td>
            <td>{cat(f.category)}</td>
            <td class="hide-sm">{f.location}</td>
            <td>
              <Badge kind={`fac-${f.status}`}>{tk('fac_', f.status)}</Badge>
            </td>
            <td>
              {f.qrToken && (
                <a href={`/q/${encodeURIComponent(f.qrToken)}`} target="_blank" rel="noopener" data-testid="qr-link">
                  /q/…
                </a>
              )}
            </td>
          </tr>
        )}
      />
      {list.pager}
    </Card>
  );
}

function QrLabel({ f }: { f: Facility }) {
  const token = f.qrToken as string;
  const svg = useAsync(() => QRCode.toString(reportUrl(token), { type: 'svg', margin: 1, errorCorrectionLevel: 'M' }), [token]);
  return (
    <div class="label">
      {svg.data && <img alt={f.name} src={`data:image/svg+xml;utf8,${encodeURIComponent(svg.data)}`} />}
      <div class="label-text">
        <strong>{f.name}</strong>
        <div>
          {cat(f.category)} · {f.location}
        </div>
        <div class="small">{t('scanToReport')}</div>
      </div>
    </div>
  );
}

/** Printable QR labels: one per facility, each opening the facility's public report form. */
export function QrLabelsPage() {
  const { communityId, communities } = useSession();
  const { query } = useLocation();
  const category = query.get('category') ?? '';
  const status = query.get('status') ?? '';
  const all = useAsync(async () => {
    const items: Facility[] = [];
    let cursor: string | undefined;
    // Every facility matching the filter (labels are printed in one go), 100 a page.
    do {
      const p = await get<{ items: Facility[]; nextCursor: string | null }>(`/communities/${communityId}/facilities`, { category: category || undefined, status: status || undefined, limit: 100, cursor });
      items.push(...p.items);
      cursor = p.nextCursor ?? undefined;
    } while (cursor && items.length < 1000);
    return items.filter((f) => f.qrToken);
  }, [communityId, category, status]);
  const community = communities.find((c) => c.id === communityId);
  if (all.loading) return <Loading />;
  if (all.error) return <ErrorBox error={all.error} onRetry={all.reload} />;
  return (
    <div class="printable">
      <div class="no-print row">
        <button type="button" class="primary" onClick={() => window.print()}>
          {t('print')}
        </button>
        <Link href="/facilities" class="button">
          {t('back')}
        </Link>
        <span class="muted">
          {community?.name} · {all.data?.length}
        </span>
      </div>
      <div class="labels" data-testid="qr-labels">
        {all.data?.map((f) => (
          <QrLabel key={f.id} f={f} />
        ))}
      </div>
    </div>
  );
}

interface Duty {
  id: string;
  organizationName: string;
  organizationKind: string;
  facilityCategory: string | null;
  basis: string;
  validFrom: string;
  validTo: string | null;
  active: boolean;
}

export function DutiesPage() {
  const { communityId } = useSession();
  const duties = useAsync(() => get<{ items: Duty[] }>(`/communities/${communityId}/duties`), [communityId]);
  const holder = useAsync(
    () => get<{ gap: boolean; holder: { organizationName: string; source: string; basis?: string } | null }>(`/communities/${communityId}/duty-holder`),
    [communityId],
  );
  return (
    <div>
      <Card title={t('dutyHolderNow')}>
        <ErrorBox error={holder.error} />
        {holder.data &&
          (holder.data.gap || !holder.data.holder ? (
            <p class="warn">{t('dutyGap')}</p>
          ) : (
            <p>
              <strong>{holder.data.holder.organizationName}</strong> · {holder.data.holder.basis ? tk('basis_', holder.data.holder.basis) : holder.data.holder.source}
            </p>
          ))}
      </Card>
      <Card title={t('duties')}>
        <ListTable
          res={duties}
          testid="duties"
          columns={[t('organization'), t('category'), t('basis'), [t('validFrom'), 'hide-sm'], t('validTo'), t('status')]}
          empty={t('none')}
          row={(d) => (
            <tr key={d.id}>
              <td>{d.organizationName}</td>
              <td>{d.facilityCategory ? cat(d.facilityCategory) : t('allCategories')}</td>
              <td>{tk('basis_', d.basis)}</td>
              <td class="hide-sm">{dateOnly(d.validFrom)}</td>
              <td>{dateOnly(d.validTo)}</td>
              <td>{d.active ? <Badge kind="ok">{t('active')}</Badge> : <Badge kind="muted">{t('inactive')}</Badge>}</td>
            </tr>
          )}
        />
      </Card>
    </div>
  );
}

interface Task {
  id: string;
  planName: string;
  category: string | null;
  dueAt: string;
  occurrenceAt: string;
  status: string;
  progress: { done: number; total: number };
}
interface Day {
  date: string;
  working: boolean;
  reason: string;
  name?: string;
}

const ymd = (d: Date) => `${d.getFullYear()}-${String(d.getMonth() + 1).padStart(2, '0')}-${String(d.getDate()).padStart(2, '0')}`;

/** A month grid: working days and holidays (调休 included) from the community calendar, tasks by due day. */
export function InspectionCalendarPage() {
  const { communityId } = useSession();
  const [month, setMonth] = useState(() => {
    const n = new Date();
    return new Date(n.getFullYear(), n.getMonth(), 1);
  });
  const first = month;
  const last = new Date(month.getFullYear(), month.getMonth() + 1, 0);
  const data = useAsync(async () => {
    const [days, tasks] = await Promise.all([
      get<{ items: Day[] }>(`/communities/${communityId}/calendar/days`, { from: ymd(first), to: ymd(last) }),
      (async () => {
        const items: Task[] = [];
        let cursor: string | undefined;
        do {
          const p = await get<{ items: Task[]; nextCursor: string | null }>('/inspection-tasks', {
            communityId: communityId ?? undefined,
            dueFrom: new Date(first.getTime()).toISOString(),
            dueTo: new Date(last.getTime() + 86_400_000).toISOString(),
            limit: 100,
            cursor,
          });
          items.push(...p.items);
          cursor = p.nextCursor ?? undefined;
        } while (cursor && items.length < 500);
        return items;
      })(),
    ]);
    return { days: days.items, tasks };
  }, [communityId, month.getTime()]);
  const lead = (first.getDay() + 6) % 7; // Monday first
  const cells: Array<Date | null> = [...Array.from({ length: lead }, () => null), ...Array.from({ length: last.getDate() }, (_, i) => new Date(month.getFullYear(), month.getMonth(), i + 1))];
  const title = month.toLocaleDateString(lang === 'en' ? 'en-GB' : 'zh-CN', { year: 'numeric', month: 'long' });
  const weekdays = lang === 'en' ? ['Mon', 'Tue', 'Wed', 'Thu', 'Fri', 'Sat', 'Sun'] : ['一', '二', '三', '四', '五', '六', '日'];
  return (
    <Card
      title={`${t('inspections')} · ${title}`}
      actions={
        <>
          <button type="button" onClick={() => setMonth(new Date(month.getFullYear(), month.getMonth() - 1, 1))}>
            ‹
          </button>
          <button type="button" onClick={() => setMonth(new Date(month.getFullYear(), month.getMonth() + 1, 1))}>
            ›
          </button>
        </>
      }
    >
      <ErrorBox error={data.error} onRetry={data.reload} />
      {data.loading && !data.data ? (
        <Loading />
      ) : (
        <div class="calendar" data-testid="calendar">
          {weekdays.map((w) => (
            <div key={w} class="cal-head">
              {w}
            </div>
          ))}
          {cells.map((d, i) => {
            if (!d) return <div key={`e${i}`} class="cal-cell empty" />;
            const key = ymd(d);
            const day = data.data?.days.find((x) => x.date === key);
            const tasks = data.data?.tasks.filter((x) => ymd(new Date(x.dueAt)) === key) ?? [];
            return (
              <div key={key} class={`cal-cell ${day && !day.working ? 'off' : ''} ${day?.reason === 'makeup_workday' ? 'makeup' : ''}`}>
                <div class="cal-date">
                  {d.getDate()} {day?.name && <span class="small">{day.name}</span>}
                  {day?.reason === 'makeup_workday' && <span class="small"> {t('makeup')}</span>}
                </div>
                {tasks.map((x) => (
                  <div key={x.id} class={`task task-${x.status}`} title={`${x.planName} · ${tk('ins_', x.status)}`}>
                    {x.planName} {x.progress.done}/{x.progress.total}
                  </div>
                ))}
              </div>
            );
          })}
        </div>
      )}
      <div class="legend small">
        <span class="task task-scheduled">{t('ins_scheduled')}</span> <span class="task task-done">{t('ins_done')}</span> <span class="task task-missed">{t('ins_missed')}</span>{' '}
        <span class="cal-cell off inline-legend">{t('holiday')}</span>
      </div>
    </Card>
  );
}
