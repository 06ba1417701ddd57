import { useEffect, useState } from 'preact/hooks';
import { get, post } from '../lib/api.js';
import { lang, named, t, tk, type MsgKey } from '../lib/i18n.js';
import { dateOnly, dateTime, m2, pct, toCents, yuan } from '../lib/format.js';
import { navigate, setQuery, useLocation } from '../lib/router.js';
import { DECISION_TYPES, type TallyResult, type ThresholdCheck } from '../../../src/modules/funds/tally.js';
import { Badge, Card, ChipChecks, ErrorBox, FilterSelect, Link, ListTable, Loading, RowsEditor, TallyBar, useAction, useAsync, useDraft, usePages, useSession } from '../ui.js';

// The tally is the server's own TallyResult (the API sends it whole): tally.ts is pure, with no
// imports at all, so the console takes its types and decision types from it rather than copies.
export type Check = ThresholdCheck;
export type Tally = TallyResult;
export interface FundRequest {
  id: string;
  ref: number;
  communityId: string;
  title: string;
  description: string | null;
  path: 'normal' | 'emergency';
  emergencyKind: string | null;
  decisionType: string;
  status: string;
  budgetCents: number;
  voteOpensAt: string | null;
  voteClosesAt: string | null;
  noticeEndsAt: string | null;
  afterFactNoticeAt: string | null;
  outcome: string | null;
  worksReportedAt: string | null;
  actualCostCents: number | null;
  fundShareCents: number | null;
  settledAt: string | null;
  createdAt: string;
}
export interface FundDetail extends FundRequest {
  budgetLines: Array<{ position: number; description: string; amountCents: number }>;
  funding: Array<{ source: string; amountCents: number }>;
  units: number;
  objections: Array<{ id: string; body: string; createdAt: string }>;
  documents: Array<{ id: string; kind: string; title: string }>;
  tally: Tally | null;
  allowedTransitions: string[];
}

const SOURCES = ['maintenance_fund', 'government_subsidy', 'street_community', 'property_company', 'contractor_concession', 'other'];
const FUND_STATUSES = ['draft', 'voting', 'passed', 'rejected', 'no_quorum', 'public_notice', 'emergency_review', 'approved', 'in_works', 'accepted', 'settled', 'closed', 'withdrawn'];
const EMERGENCIES = ['roof_leak', 'elevator_danger', 'water_pump_failure', 'facade_falling', 'drainage_failure', 'fire_system_failure'];
const EMERGENCY_NAMES: Record<string, [string, string]> = {
  roof_leak: ['屋面防水损坏渗漏', 'Roof leak'],
  elevator_danger: ['电梯故障危及人身安全', 'Elevator fault endangering people'],
  water_pump_failure: ['高层供水水泵损坏', 'High-rise water pump failure'],
  facade_falling: ['外墙有脱落危险', 'Facade at risk of falling'],
  drainage_failure: ['排水设施堵塞爆裂', 'Drainage collapse or burst'],
  fire_system_failure: ['消防设施失灵', 'Fire system failure'],
};
const emergencyName = named(EMERGENCY_NAMES);

export function FundStatus({ status }: { status: string }) {
  return <Badge kind={`f-${status}`}>{tk('fs_', status)}</Badge>;
}

const rule = (c: Check) => `${c.inclusive ? '≥' : '>'} ${c.numerator}/${c.denominator}`;

/** The tally as two bars (area, headcount) with the legal thresholds drawn as lines. */
export function TallyView({ tally, live = false }: { tally: Tally; live?: boolean }) {
  const colors = { agree: '#16a34a', disagree: '#dc2626', abstain: '#9ca3af', none: '#f3f4f6' };
  const bar = (kind: 'area' | 'headcount') => {
    const a = kind === 'area';
    const total = a ? tally.totalArea : tally.totalHeadcount;
    const q = tally.quorum[kind];
    const ap = tally.approval[kind];
    const fmt = (v: number) => (a ? `${m2(v)} m²` : String(v));
    const lines = [
      { at: (q.numerator / q.denominator) * (q.whole / Math.max(1, total)), label: `${t('thresholdQuorum').replace(/[≥>].*$/, '')}${rule(q)}`, color: '#1d4ed8' },
      { at: (ap.numerator / ap.denominator) * (ap.whole / Math.max(1, total)), label: `${t('agree')} ${rule(ap)}`, color: '#b45309' },
    ];
    return (
      <div>
        <TallyBar
          testid={`tally-${kind}`}
          label={`${a ? t('areaLine') : t('headLine')}: ${t('agree')} ${fmt(a ? tally.agreeArea : tally.agreeHeadcount)} · ${t('disagree')} ${fmt(a ? tally.disagreeArea : tally.disagreeHeadcount)} · ${t('abstain')} ${fmt(a ? tally.abstainArea : tally.abstainHeadcount)} · ${t('notVoted')} ${fmt(a ? tally.notVotedArea : tally.notVotedHeadcount)} / ${fmt(total)}`}
          total={total}
          parts={[
            { value: a ? tally.agreeArea : tally.agreeHeadcount, color: colors.agree, name: t('agree') },
            { value: a ? tally.disagreeArea : tally.disagreeHeadcount, color: colors.disagree, name: t('disagree') },
            { value: a ? tally.abstainArea : tally.abstainHeadcount, color: colors.abstain, name: t('abstain') },
          ]}
          lines={lines}
        />
        <div class="checks small">
          <span class={q.met ? 'ok' : 'no'}>
            {t('participation')} {pct(q.part / Math.max(1, q.whole))} ({rule(q)}) {q.met ? t('met') : t('notMet')}
          </span>
          <span class={ap.met ? 'ok' : 'no'}>
            {t('approvalOfParticipants')} {pct(ap.part / Math.max(1, ap.whole))} ({rule(ap)}) {ap.met ? t('met') : t('notMet')}
          </span>
        </div>
      </div>
    );
  };
  return (
    <div class="tally" data-testid="tally">
      {bar('area')}
      {bar('headcount')}
      <div class="legend small">
        <span style={{ color: colors.agree }}>■ {t('agree')}</span> <span style={{ color: colors.disagree }}>■ {t('disagree')}</span> <span style={{ color: colors.abstain }}>■ {t('abstain')}</span>{' '}
        <span style={{ color: '#1d4ed8' }}>┃ {t('thresholdQuorum')}</span> <span style={{ color: '#b45309' }}>┃ {t('thresholdApproval', { rule: rule(tally.approval.area) })}</span>
      </div>
      <p>
        {live ? t('outcomeSoFar') : t('outcome')}: <strong data-testid="tally-outcome">{tk('out_', tally.outcome)}</strong>
      </p>
      <details>
        <summary>{t('reasoning')}</summary>
        <ul class="small">
          {tally.reasoning.map((r, i) => (
            <li key={i}>{lang === 'en' ? r.en : r.zh}</li>
          ))}
        </ul>
      </details>
    </div>
  );
}

export function FundListPage() {
  const { communityId, roles } = useSession();
  const { query } = useLocation();
  const status = query.get('status') ?? '';
  const list = usePages((cursor) => get<{ items: FundRequest[]; nextCursor: string | null }>('/fund-requests', { communityId: communityId ?? undefined, status: status || undefined, limit: 20, cursor }), [communityId, status]);
  const canCreate = roles.some((r) => r === 'committee' || r === 'staff' || r === 'admin');
  return (
    <Card
      title={t('fundRequests')}
      actions={
        canCreate && (
          <Link href="/funds/new" class="button primary">
            {t('newRequest')}
          </Link>
        )
      }
    >
      <div class="filters">
        <FilterSelect
          label={t('status')}
          value={status}
          options={[['', t('all')], ...FUND_STATUSES.map((s) => [s, tk('fs_', s)] as const)]}
          onPick={(v) => setQuery({ status: v })}
        />
      </div>
      <ListTable
        res={list}
        testid="fund-list"
        columns={['#', t('title'), t('status'), t('budget'), [t('decisionType'), 'hide-sm']]}
        empty={t('none')}
        row={(r) => (
          <tr key={r.id} class="clickable" onClick={() => navigate(`/funds/${r.id}`)}>
            <td>{r.ref}</td>
            <td>
              <Link href={`/funds/${r.id}`}>{r.title}</Link>
            </td>
            <td>
              <FundStatus status={r.status} />
            </td>
            <td>{yuan(r.budgetCents)}</td>
            <td class="hide-sm">{tk('dt_', r.decisionType)}</td>
          </tr>
        )}
      />
      {list.pager}
    </Card>
  );
}

interface Line {
  description: string;
  amount: string;
}
interface FundDraft {
  title: string;
  description: string;
  path: 'normal' | 'emergency';
  emergencyKind: string;
  decisionType: string;
  buildingIds: string[];
  facilityIds: string[];
  contractorOrgId: string;
  budgetLines: Line[];
  funding: Array<{ source: string; amount: string }>;
}

export function FundNewPage() {
  const { communityId } = useSession();
  const buildings = useAsync(() => get<{ items: Array<{ id: string; name: string }> }>(`/communities/${communityId}/buildings`), [communityId]);
  // Contractors serving this community (a duty holder), plus any the user's organizations list shows.
  const contractors = useAsync(async () => {
    const [duties, orgs] = await Promise.all([
      get<{ items: Array<{ organizationId: string; organizationName: string; organizationKind: string }> }>(`/communities/${communityId}/duties`).catch(() => ({ items: [] })),
      get<{ items: Array<{ id: string; name: string }> }>('/organizations', { kind: 'contractor', limit: 100 }).catch(() => ({ items: [] })),
    ]);
    const m = new Map<string, string>();
    for (const d of duties.items) if (d.organizationKind === 'contractor') m.set(d.organizationId, d.organizationName);
    for (const o of orgs.items) m.set(o.id, o.name);
    return [...m].map(([id, name]) => ({ id, name }));
  }, [communityId]);
  const facilities = useAsync(() => get<{ items: Array<{ id: string; name: string; status: string }> }>(`/communities/${communityId}/facilities`, { limit: 100 }), [communityId]);
  const initial: FundDraft = {
    title: '',
    description: '',
    path: 'normal',
    emergencyKind: 'elevator_danger',
    decisionType: 'use_fund',
    buildingIds: [],
    facilityIds: [],
    contractorOrgId: '',
    budgetLines: [{ description: '', amount: '' }],
    funding: [{ source: 'maintenance_fund', amount: '' }],
  };
  const [f, setF, clear] = useDraft<FundDraft>(`fund.${communityId}`, initial);
  const { error, setError, busy, run } = useAction();
  const budget = f.budgetLines.reduce((s, l) => s + (toCents(l.amount) || 0), 0);
  const funded = f.funding.reduce((s, l) => s + (toCents(l.amount) || 0), 0);
  const mismatch = budget !== funded;
  return (
    <Card title={t('newRequest')}>
      <form
        class="form"
        onSubmit={async (e) => {
          e.preventDefault();
          setError(null);
          if (mismatch) return;
          await run(async () => {
            const r = await post<{ id: string }>('/fund-requests', {
              communityId,
              title: f.title.trim(),
              description: f.description.trim() || undefined,
              path: f.path,
              emergencyKind: f.path === 'emergency' ? f.emergencyKind : undefined,
              decisionType: f.decisionType,
              scope: { buildingIds: f.buildingIds },
              facilityIds: f.facilityIds.length ? f.facilityIds : undefined,
              contractorOrgId: f.contractorOrgId || undefined,
              budgetLines: f.budgetLines.map((l) => ({ description: l.description.trim(), amountCents: toCents(l.amount) })),
              funding: f.funding.filter((l) => toCents(l.amount) > 0).map((l) => ({ source: l.source, amountCents: toCents(l.amount) })),
            });
            clear();
            navigate(`/funds/${r.id}`);
          });
        }}
      >
        <label>
          {t('title')}
          <input name="title" required value={f.title} onInput={(e) => setF({ ...f, title: (e.target as HTMLInputElement).value })} />
        </label>
        <label>
          {t('description')}
          <textarea name="description" rows={3} value={f.description} onInput={(e) => setF({ ...f, description: (e.target as HTMLTextAreaElement).value })} />
        </label>
        <div class="row">
          <label>
            {t('path')}
            <select name="path" value={f.path} onChange={(e) => setF({ ...f, path: (e.target as HTMLSelectElement).value as FundDraft['path'] })}>
              <option value="normal">{t('path_normal')}</option>
              <option value="emergency">{t('path_emergency')}</option>
            </select>
          </label>
          {f.path === 'emergency' && (
            <label>
              {t('emergencyKind')}
              <select value={f.emergencyKind} onChange={(e) => setF({ ...f, emergencyKind: (e.target as HTMLSelectElement).value })}>
                {EMERGENCIES.map((k) => (
                  <option key={k} value={k}>
                    {emergencyName(k)}
                  </option>
                ))}
              </select>
            </label>
          )}
          <label>
            {t('decisionType')}
            <select name="decisionType" value={f.decisionType} onChange={(e) => setF({ ...f, decisionType: (e.target as HTMLSelectElement).value })}>
              {DECISION_TYPES.map((d) => (
                <option key={d} value={d}>
                  {tk('dt_', d)}
                </option>
              ))}
            </select>
          </label>
        </div>
        <fieldset>
          <legend>{t('scope')}</legend>
          <ErrorBox error={buildings.error} />
          <ChipChecks name="building" items={buildings.data?.items} chosen={f.buildingIds} onChange={(ids) => setF({ ...f, buildingIds: ids })} />
        </fieldset>
        <label>
          {t('contractor')}
          <select name="contractorOrgId" value={f.contractorOrgId} onChange={(e) => setF({ ...f, contractorOrgId: (e.target as HTMLSelectElement).value })}>
            <option value="">—</option>
            {contractors.data?.map((x) => (
              <option key={x.id} value={x.id}>
                {x.name}
              </option>
            ))}
          </select>
        </label>
        <fieldset>
          <legend>{t('linkedFacilities')}</legend>
          {f.path === 'emergency' && <div class="muted small">{t('emergencyNeedsLink')}</div>}
          <ErrorBox error={facilities.error} />
          <ChipChecks name="facility" items={facilities.data?.items} chosen={f.facilityIds} onChange={(ids) => setF({ ...f, facilityIds: ids })} />
        </fieldset>
        <fieldset>
          <legend>
            {t('budgetLines')} · {t('budget')} {yuan(budget)}
          </legend>
          <RowsEditor
            rows={f.budgetLines}
            onChange={(budgetLines) => setF({ ...f, budgetLines })}
            blank={{ description: '', amount: '' }}
            render={(l, set, i) => (
              <>
                <input aria-label={t('description')} name={`line-${i}-description`} required placeholder={t('description')} value={l.description} onInput={(e) => set({ description: (e.target as HTMLInputElement).value })} />
                <input aria-label={t('amountYuan')} name={`line-${i}-amount`} required inputMode="decimal" placeholder={t('amountYuan')} value={l.amount} onInput={(e) => set({ amount: (e.target as HTMLInputElement).value })} />
              </>
            )}
          />
        </fieldset>
        <fieldset>
          <legend>
            {t('funding')} · {yuan(funded)}
          </legend>
          <RowsEditor
            rows={f.funding}
            onChange={(funding) => setF({ ...f, funding })}
            blank={{ source: 'government_subsidy', amount: '' }}
            render={(l, set, i) => (
              <>
                <select aria-label={t('funding')} name={`funding-${i}-source`} value={l.source} onChange={(e) => set({ source: (e.target as HTMLSelectElement).value })}>
                  {SOURCES.map((s) => (
                    <option key={s} value={s}>
                      {tk('src_', s)}
                    </option>
                  ))}
                </select>
                <input aria-label={t('amountYuan')} name={`funding-${i}-amount`} inputMode="decimal" placeholder={t('amountYuan')} value={l.amount} onInput={(e) => set({ amount: (e.target as HTMLInputElement).value })} />
              </>
            )}
          />
          {mismatch && <div class="warn">{t('fundingMismatch', { a: (funded / 100).toFixed(2), b: (budget / 100).toFixed(2) })}</div>}
        </fieldset>
        <ErrorBox error={error} />
        <button type="submit" class="primary" disabled={busy || mismatch}>
          {t('submit')}
        </button>
      </form>
    </Card>
  );
}

/** The budget lines and their total, on the request page and its printed notice. */
function BudgetTable({ lines, total }: { lines: Array<{ description: string; amountCents: number }>; total: number }) {
  return (
    <table class="list">
      <tbody>
        {lines.map((l, i) => (
          <tr key={i}>
            <td>{l.description}</td>
            <td class="num">{yuan(l.amountCents)}</td>
          </tr>
        ))}
        <tr class="total">
          <td>{t('budget')}</td>
          <td class="num">{yuan(total)}</td>
        </tr>
      </tbody>
    </table>
  );
}

export function FundDetailPage({ params }: { params: Record<string, string> }) {
  const { roles } = useSession();
  const id = params.id as string;
  const d = useAsync(() => get<FundDetail>(`/fund-requests/${id}`), [id]);
  const { error, busy, run: act } = useAction(d.reload);
  const [reason, setReason] = useState('');
  const [closesAt, setClosesAt] = useState(() => new Date(Date.now() + 14 * 86_400_000).toISOString().slice(0, 10));
  const [actual, setActual] = useState('');
  // The tally is live while the vote runs.
  useEffect(() => {
    if (d.data?.status !== 'voting') return;
    const h = setInterval(d.reload, 10_000);
    return () => clearInterval(h);
  }, [d.data?.status]);
  if (d.loading && !d.data) return <Loading />;
  if (d.error && !d.data) return <ErrorBox error={d.error} onRetry={d.reload} />;
  const r = d.data as FundDetail;
  const move = (to: string) =>
    act(() =>
      post(`/fund-requests/${id}/transitions`, {
        to,
        reason: to === 'withdrawn' ? reason.trim() || undefined : undefined,
        voteClosesAt: to === 'voting' ? new Date(`${closesAt}T23:59:59+08:00`).toISOString() : undefined,
        actualCostCents: to === 'accepted' && actual ? toCents(actual) : undefined,
      }),
    );
  const isCommittee = roles.includes('committee') || roles.includes('admin');
  const fundBudget = r.funding.filter((x) => x.source === 'maintenance_fund').reduce((s, x) => s + x.amountCents, 0);
  return (
    <div class="detail">
      <Card
        title={
          <span>
            #{r.ref} {r.title}
          </span>
        }
        actions={
          <>
            <FundStatus status={r.status} />
            <Link href={`/funds/${id}/notice`} class="button">
              {t('noticePage')}
            </Link>
          </>
        }
      >
        <dl class="facts">
          <dt>{t('status')}</dt>
          <dd data-testid="fund-status">{tk('fs_', r.status)}</dd>
          <dt>{t('path')}</dt>
          <dd>
            {tk('path_', r.path)} {r.emergencyKind && `· ${emergencyName(r.emergencyKind)}`}
          </dd>
          <dt>{t('decisionType')}</dt>
          <dd>{tk('dt_', r.decisionType)}</dd>
          <dt>{t('units')}</dt>
          <dd>{r.units}</dd>
          <dt>{t('budget')}</dt>
          <dd>{yuan(r.budgetCents)}</dd>
          {r.voteClosesAt && (
            <>
              <dt>{t('voteClosesAt')}</dt>
              <dd>{dateTime(r.voteClosesAt)}</dd>
            </>
          )}
          {r.noticeEndsAt && (
            <>
              <dt>{t('noticeEnds')}</dt>
              <dd>{dateTime(r.noticeEndsAt)}</dd>
            </>
          )}
          {r.actualCostCents !== null && (
            <>
              <dt>{t('actualCost')}</dt>
              <dd>{yuan(r.actualCostCents)}</dd>
            </>
          )}
          {r.fundShareCents !== null && (
            <>
              <dt>{t('fundShare')}</dt>
              <dd data-testid="fund-share">{yuan(r.fundShareCents)}</dd>
            </>
          )}
        </dl>
        {r.description && <p class="description">{r.description}</p>}
      </Card>
      <div class="grid2">
        <Card title={t('budgetLines')}>
          <BudgetTable lines={r.budgetLines} total={r.budgetCents} />
        </Card>
        <Card title={t('funding')}>
          <FundingBars funding={r.funding} total={r.budgetCents} />
          <p class="muted small">
            {t('fundShare')}: {yuan(fundBudget)}
          </p>
        </Card>
      </div>
      {r.tally && (
        <Card title={r.status === 'voting' ? t('tally') : t('finalTally')}>
          <TallyView tally={r.tally} live={r.status === 'voting'} />
        </Card>
      )}
      <Card title={t('moves')}>
        <div class="moves">
          {r.allowedTransitions.includes('voting') && (
            <label class="inline">
              {t('voteClosesAt')} <input type="date" value={closesAt} onInput={(e) => setClosesAt((e.target as HTMLInputElement).value)} />
            </label>
          )}
          {r.allowedTransitions.includes('accepted') && (
            <label class="inline">
              {t('actualCost')} <input name="actualCost" inputMode="decimal" value={actual} placeholder={(r.budgetCents / 100).toFixed(2)} onInput={(e) => setActual((e.target as HTMLInputElement).value)} />
            </label>
          )}
          {r.allowedTransitions.includes('withdrawn') && <input placeholder={t('reason')} value={reason} onInput={(e) => setReason((e.target as HTMLInputElement).value)} />}
          {r.allowedTransitions.map((to) => (
            <button key={to} type="button" data-testid={`fund-move-${to}`} class={to === 'withdrawn' ? 'danger' : 'primary'} disabled={busy} onClick={() => move(to)}>
              {t(`fmv_${to}` as MsgKey)}
            </button>
          ))}
          {r.status === 'voting' && isCommittee && (
            <button type="button" data-testid="close-vote" disabled={busy} onClick={() => act(() => post(`/fund-requests/${id}/close-vote`))}>
              {t('closeVote')}
            </button>
          )}
          {r.status === 'in_works' && !r.worksReportedAt && roles.includes('contractor') && (
            <button type="button" disabled={busy} onClick={() => act(() => post(`/fund-requests/${id}/works-done`))}>
              {t('worksDone')}
            </button>
          )}
          {r.path === 'emergency' && !r.afterFactNoticeAt && ['approved', 'in_works', 'accepted'].includes(r.status) && isCommittee && (
            <button type="button" disabled={busy} onClick={() => act(() => post(`/fund-requests/${id}/after-fact-notice`))}>
              {t('afterFactNotice')}
            </button>
          )}
        </div>
        {r.allowedTransitions.includes('settled') && <p class="muted small">{t('settleNote')}</p>}
        <ErrorBox error={error} />
      </Card>
      {r.objections.length > 0 && (
        <Card title={t('objections')}>
          <ul>
            {r.objections.map((o) => (
              <li key={o.id}>
                {o.body} <span class="muted small">{dateTime(o.createdAt)}</span>
              </li>
            ))}
          </ul>
        </Card>
      )}
    </div>
  );
}

/** The funding breakdown as one stacked bar with a legend. */
export function FundingBars({ funding, total }: { funding: Array<{ source: string; amountCents: number }>; total: number }) {
  const colors = ['#2563eb', '#16a34a', '#f59e0b', '#7c3aed', '#db2777', '#6b7280'];
  let x = 0;
  return (
    <div>
      <svg viewBox="0 0 400 28" class="chart bar-strip" preserveAspectRatio="none" role="img" aria-label={t('funding')}>
        {funding.map((f, i) => {
          const w = total > 0 ? (400 * f.amountCents) / total : 0;
          const el = <rect key={f.source} x={x} y={2} width={w} height={24} fill={colors[SOURCES.indexOf(f.source) % colors.length] ?? colors[i % 6]} />;
          x += w;
          return el;
        })}
      </svg>
      <ul class="legend-list small">
        {funding.map((f) => (
          <li key={f.source}>
            <span style={{ color: colors[SOURCES.indexOf(f.source) % colors.length] }}>■</span> {tk('src_', f.source)} {yuan(f.amountCents)} ({pct(f.amountCents / Math.max(1, total))})
          </li>
        ))}
      </ul>
    </div>
  );
}

interface Notice {
  request: FundRequest;
  budgetLines: Array<{ description: string; amountCents: number }>;
  funding: Array<{ source: string; amountCents: number }>;
  tally: Tally | null;
  units: Array<{ unitId: string; building: string; number: string; areaCentiM2: number; owners: string[]; choice: string | null; channel: string | null; shareCents: number | null }>;
  objections: number;
}

export const fetchNotice = (id: string) => get<Notice>(`/fund-requests/${id}/notice`);

/** The public notice (公示), laid out for printing. */
export function FundNoticePage({ params }: { params: Record<string, string> }) {
  const id = params.id as string;
  const n = useAsync(() => fetchNotice(id), [id]);
  const { communities } = useSession();
  if (n.loading) return <Loading />;
  if (n.error) return <ErrorBox error={n.error} onRetry={n.reload} />;
  const x = n.data as Notice;
  const r = x.request;
  const community = communities.find((c) => c.id === r.communityId);
  return (
    <article class="notice printable" data-testid="notice">
      <div class="no-print row">
        <button type="button" onClick={() => window.print()}>
          {t('print')}
        </button>
        <Link href={`/funds/${id}`} class="button">
          {t('back')}
        </Link>
      </div>
      <h1>{t('noticeTitle')}</h1>
      <p class="center">
        {community?.name} · #{r.ref} · {dateOnly(new Date().toISOString())}
      </p>
      <h2>{r.title}</h2>
      {r.description && <p>{r.description}</p>}
      <p>
        {t('status')}: {tk('fs_', r.status)} · {t('decisionType')}: {tk('dt_', r.decisionType)}
        {r.noticeEndsAt && ` · ${t('noticeEnds')}: ${dateTime(r.noticeEndsAt)}`}
      </p>
      <h3>{t('budgetLines')}</h3>
      <BudgetTable lines={x.budgetLines} total={r.budgetCents} />
      <h3>{t('funding')}</h3>
      <table class="list">
        <tbody>
          {x.funding.map((f) => (
            <tr key={f.source}>
              <td>{tk('src_', f.source)}</td>
              <td class="num">{yuan(f.amountCents)}</td>
            </tr>
          ))}
        </tbody>
      </table>
      {x.tally && (
        <>
          <h3>{t('finalTally')}</h3>
          <TallyView tally={x.tally} />
        </>
      )}
      <h3>
        {t('unit')} ({x.units.length})
      </h3>
      <table class="list small">
        <thead>
          <tr>
            <th>{t('unit')}</th>
            <th>m²</th>
            <th>{t('owners')}</th>
            <th>{t('choice')}</th>
            <th>{t('share')}</th>
          </tr>
        </thead>
        <tbody>
          {x.units.map((u) => (
            <tr key={u.unitId}>
              <td>
                {u.building} {u.number}
              </td>
              <td class="num">{m2(u.areaCentiM2)}</td>
              <td>{u.owners.join('、')}</td>
              <td>{u.choice ? tk('', u.choice) : '—'}</td>
              <td class="num">{u.shareCents === null ? '—' : yuan(u.shareCents)}</td>
            </tr>
          ))}
        </tbody>
      </table>
      <p class="small">
        {t('objections')}: {x.objections}
      </p>
    </article>
  );
}
