import { useState } from 'preact/hooks';
import { get, post } from '../lib/api.js';
import { t, tk } from '../lib/i18n.js';
import { dateTime, m2, yuan } from '../lib/format.js';
import { Card, ErrorBox, Loading, useAction, useAsync, useSession } from '../ui.js';
import { FundingBars, TallyView, fetchNotice, type FundDetail, type FundRequest } from './funds.js';

interface Unit {
  id: string;
  building: string;
  number: string;
  areaCentiM2: number;
  firstDepositCents: number | null;
}

function useMyUnits() {
  const { communityId } = useSession();
  return useAsync(async () => (communityId ? (await get<{ items: Unit[] }>(`/communities/${communityId}/units`, { limit: 100 })).items : []), [communityId]);
}

/** One ballot: what is decided, what it costs my units, one tap to vote, the tally moving. */
function BallotCard({ request, myUnits }: { request: FundRequest; myUnits: Unit[] }) {
  const detail = useAsync(() => get<FundDetail>(`/fund-requests/${request.id}`), [request.id]);
  // My units in scope and how I voted so far: from the notice's per-unit list.
  const mine = useAsync(async () => {
    const n = await fetchNotice(request.id).catch(() => null);
    const ids = new Set(myUnits.map((u) => u.id));
    return n ? n.units.filter((u) => ids.has(u.unitId)) : null;
  }, [request.id, myUnits.length]);
  const { error, busy, run } = useAction();
  const [recorded, setRecorded] = useState<{ choice: string; units: string[] } | null>(null);
  if (detail.loading && !detail.data) return <Card title={request.title}><Loading /></Card>;
  if (!detail.data) return <Card title={request.title}><ErrorBox error={detail.error} onRetry={detail.reload} /></Card>;
  const d = detail.data;
  const fund = d.funding.filter((f) => f.source === 'maintenance_fund').reduce((s, f) => s + f.amountCents, 0);
  const inScope = mine.data ?? [];
  const myArea = (mine.data ? inScope.reduce((s, u) => s + u.areaCentiM2, 0) : myUnits.reduce((s, u) => s + u.areaCentiM2, 0));
  const totalArea = d.tally?.totalArea ?? 0;
  // An estimate by area share; settlement apportions the actual cost exactly.
  const estimate = totalArea > 0 ? Math.round((fund * myArea) / totalArea) : null;
  const current = recorded?.choice ?? inScope.find((u) => u.choice)?.choice ?? null;
  const vote = async (choice: string) => {
    await run(async () => {
      const r = await post<{ choice: string; units: string[] }>(`/fund-requests/${request.id}/ballots`, { choice });
      setRecorded({ choice: r.choice, units: r.units });
      detail.reload();
    });
  };
  const unitNames = (ids: string[]) =>
    ids
      .map((id) => myUnits.find((u) => u.id === id))
      .filter(Boolean)
      .map((u) => `${u?.building} ${u?.number}`)
      .join('、');
  return (
    <Card title={`#${d.ref} ${d.title}`}>
      <div class="ballot" data-testid="ballot">
        <h3>{t('whatIsDecided')}</h3>
        <p>
          <strong>{tk('dt_', d.decisionType)}</strong>
          {d.description && ` — ${d.description}`}
        </p>
        <dl class="facts">
          <dt>{t('budget')}</dt>
          <dd>{yuan(d.budgetCents)}</dd>
          <dt>{t('voteClosesAt')}</dt>
          <dd>{dateTime(d.voteClosesAt)}</dd>
          <dt>{t('units')}</dt>
          <dd>{d.units}</dd>
        </dl>
        <FundingBars funding={d.funding} total={d.budgetCents} />
        <div class="estimate" data-testid="cost-per-unit">
          <div class="muted">{t('costPerUnit')}</div>
          <div class="big">{yuan(estimate)}</div>
          <div class="muted small">{t('costPerUnitNote', { area: m2(myArea), total: m2(totalArea) })}</div>
        </div>
        {current && (
          <p class="ok" data-testid="my-vote">
            {t('yourVote', { choice: tk('', current) })} {recorded && `· ${t('voteRecorded', { units: unitNames(recorded.units) })}`} · {t('changeVoteNote')}
          </p>
        )}
        <div class="vote-buttons">
          {(['agree', 'disagree', 'abstain'] as const).map((c) => (
            <button key={c} type="button" data-testid={`vote-${c}`} class={`vote vote-${c} ${current === c ? 'chosen' : ''}`} disabled={busy} onClick={() => vote(c)}>
              {t(c)}
            </button>
          ))}
        </div>
        <ErrorBox error={error} />
        {d.tally && <TallyView tally={d.tally} live={d.status === 'voting'} />}
      </div>
    </Card>
  );
}

export function MyBallotsPage() {
  const { communityId } = useSession();
  const units = useMyUnits();
  const open = useAsync(() => get<{ items: FundRequest[] }>('/fund-requests', { communityId: communityId ?? undefined, status: 'voting', limit: 50 }), [communityId]);
  if (open.loading || units.loading) return <Loading />;
  if (open.error || units.error) return <ErrorBox error={open.error ?? units.error} onRetry={() => (open.reload(), units.reload())} />;
  const items = open.data?.items ?? [];
  return (
    <div>
      <h1 class="page-title">{t('myBallots')}</h1>
      {items.length === 0 && <p class="muted">{t('noBallots')}</p>}
      {items.map((r) => (
        <BallotCard key={r.id} request={r} myUnits={units.data ?? []} />
      ))}
    </div>
  );
}

interface Ledger {
  unitId: string;
  firstDepositCents: number | null;
  balanceCents: number;
  belowTopUpThreshold: boolean;
  entries: Array<{ id: string; kind: string; amountCents: number; balanceCents: number; note: string | null; requestTitle: string | null; createdAt: string }>;
}

function LedgerCard({ unit }: { unit: Unit }) {
  const l = useAsync(() => get<Ledger>(`/units/${unit.id}/ledger`), [unit.id]);
  return (
    <Card title={`${unit.building} ${unit.number} · ${m2(unit.areaCentiM2)} m²`}>
      <ErrorBox error={l.error} onRetry={l.reload} />
      {l.data && (
        <div data-testid="ledger">
          <div class="kpis">
            <div class="kpi">
              <div class="muted">{t('balance')}</div>
              <div class={`big ${l.data.balanceCents < 0 ? 'neg' : ''}`} data-testid="ledger-balance">
                {yuan(l.data.balanceCents)}
              </div>
            </div>
            <div class="kpi">
              <div class="muted">{t('firstDeposit')}</div>
              <div class="big">{yuan(l.data.firstDepositCents)}</div>
            </div>
          </div>
          {l.data.belowTopUpThreshold && <div class="warn">{t('belowThreshold')}</div>}
          <table class="list">
            <tbody>
              {l.data.entries.map((e) => (
                <tr key={e.id} data-testid="ledger-entry">
                  <td>{dateTime(e.createdAt)}</td>
                  <td>{e.requestTitle ?? e.note ?? e.kind}</td>
                  <td class={`num ${e.amountCents < 0 || e.kind === 'debit' ? 'neg' : ''}`}>{yuan(e.amountCents)}</td>
                  <td class="num">{yuan(e.balanceCents)}</td>
                </tr>
              ))}
              {l.data.entries.length === 0 && (
                <tr>
                  <td class="muted">{t('noEntries')}</td>
                </tr>
              )}
            </tbody>
          </table>
        </div>
      )}
    </Card>
  );
}

export function MyLedgerPage() {
  const units = useMyUnits();
  if (units.loading) return <Loading />;
  if (units.error) return <ErrorBox error={units.error} onRetry={units.reload} />;
  return (
    <div>
      <h1 class="page-title">{t('ledger')}</h1>
      {units.data?.map((u) => (
        <LedgerCard key={u.id} unit={u} />
      ))}
    </div>
  );
}
