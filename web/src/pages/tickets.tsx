import { useEffect, useState } from 'preact/hooks';
import { download, get, patch, post, request } from '../lib/api.js';
import { CATEGORIES, UserError, cat, t, tk, type MsgKey } from '../lib/i18n.js';
import { dateTime, duration } from '../lib/format.js';
import { navigate, setQuery, useLocation } from '../lib/router.js';
import { Badge, Card, ErrorBox, FilterSelect, Link, ListTable, Loading, useAction, useAsync, useDraft, usePages, useSession } from '../ui.js';

export interface Ticket {
  id: string;
  ref: number;
  communityId: string;
  kind: string;
  channel: string;
  category: string;
  priority: 'P1' | 'P2' | 'P3' | 'P4';
  status: string;
  title: string;
  description: string | null;
  facilityId: string | null;
  reporter: { userId: string | null; name: string | null; phone: string | null } | null;
  assigneeUserId: string | null;
  assigneeOrgId: string | null;
  holdReason: string | null;
  openedAt: string;
  respondBy: string | null;
  resolveBy: string | null;
  rating: number | null;
}
interface Clock {
  dueAt: string | null;
  status: 'running' | 'paused' | 'met' | 'breached';
  remainingMs: number | null;
  fractionUsed: number | null;
}
interface TicketDetail extends Ticket {
  sla: { response: Clock | null; resolution: Clock | null } | null;
  comments: Array<{ id: string; body: string; internal: boolean; authorName: string | null; createdAt: string }>;
  allowedTransitions: string[];
}
interface Attachment {
  id: string;
  originalName: string;
  mimeType: string;
  sizeBytes: number;
  createdAt: string;
}

const STATUSES = ['new', 'acknowledged', 'in_progress', 'on_hold', 'resolved', 'reopened', 'closed', 'cancelled'];
const LIVE = ['new', 'acknowledged', 'in_progress', 'on_hold', 'resolved', 'reopened'];

export function StatusBadge({ status }: { status: string }) {
  return <Badge kind={status}>{tk('st_', status)}</Badge>;
}

/** Counts per status, re-read every 20 s ("100+" past one page: a count, not a report). */
function LiveCounts({ communityId, reporter, onPick, current }: { communityId: string | null; reporter?: string; onPick: (s: string) => void; current: string }) {
  const [tick, setTick] = useState(0);
  useEffect(() => {
    const id = setInterval(() => setTick((n) => n + 1), 20_000);
    return () => clearInterval(id);
  }, []);
  const counts = useAsync(async () => {
    const base = { communityId: communityId ?? undefined, reporter, limit: 100 };
    const per = await Promise.all(LIVE.map((s) => get<{ items: unknown[]; nextCursor: string | null }>('/tickets', { ...base, status: s })));
    const overdue = await get<{ items: unknown[]; nextCursor: string | null }>('/tickets', { ...base, status: 'open', overdue: true });
    const fmt = (r: { items: unknown[]; nextCursor: string | null }) => (r.nextCursor ? `${r.items.length}+` : String(r.items.length));
    return { per: LIVE.map((s, i) => [s, fmt(per[i] as { items: unknown[]; nextCursor: string | null })] as const), overdue: fmt(overdue) };
  }, [communityId, reporter, tick]);
  if (!counts.data) return <div class="counts muted">{counts.error ? '' : t('loading')}</div>;
  return (
    <div class="counts" title={t('liveCounts')} data-testid="live-counts">
      {counts.data.per.map(([s, n]) => (
        <button type="button" key={s} class={`count ${current === s ? 'active' : ''}`} onClick={() => onPick(current === s ? '' : s)}>
          <span>{tk('st_', s)}</span>
          <strong data-testid={`count-${s}`}>{n}</strong>
        </button>
      ))}
      <button type="button" class="count overdue" onClick={() => onPick('__overdue')}>
        <span>{t('overdueTickets')}</span>
        <strong>{counts.data.overdue}</strong>
      </button>
    </div>
  );
}

export function TicketListPage({ mine }: { params: Record<string, string>; mine?: boolean }) {
  const { communityId } = useSession();
  const { query } = useLocation();
  const status = query.get('status') ?? '';
  const category = query.get('category') ?? '';
  const priority = query.get('priority') ?? '';
  const overdue = query.get('overdue') === '1';
  const sort = query.get('sort') ?? 'created';
  const [q, setQ] = useState(query.get('q') ?? '');
  const reporter = mine ? 'me' : undefined;
  const list = usePages(
    (cursor) =>
      get<{ items: Ticket[]; nextCursor: string | null }>('/tickets', {
        communityId: communityId ?? undefined,
        status: status || undefined,
        category: category || undefined,
        priority: priority || undefined,
        overdue: overdue || undefined,
        q: query.get('q') || undefined,
        sort,
        reporter,
        limit: 20,
        cursor,
      }),
    [communityId, status, category, priority, overdue, sort, query.get('q'), reporter],
  );
  const sel = (name: string, value: string, options: Array<[string, string]>) => <FilterSelect label={name} name={name} value={value} options={options} onPick={(v) => setQuery({ [name]: v })} />;
  return (
    <div>
      <Card
        title={mine ? t('myTickets') : t('tickets')}
        actions={
          <Link href={mine ? '/my/report' : '/tickets/new'} class="button primary">
            {t('reportFault')}
          </Link>
        }
      >
        <LiveCounts
          communityId={communityId}
          reporter={reporter}
          current={overdue ? '__overdue' : status}
          onPick={(s) => setQuery(s === '__overdue' ? { overdue: overdue ? undefined : '1', status: undefined } : { status: s || undefined, overdue: undefined })}
        />
        <form
          class="filters"
          onSubmit={(e) => {
            e.preventDefault();
            setQuery({ q });
          }}
        >
          {sel('status', status, [['', t('all')], ['open', t('st_open')], ...STATUSES.map((s) => [s, tk('st_', s)] as [string, string])])}
          {sel('category', category, [['', t('allCategories')], ...CATEGORIES.map((c) => [c, cat(c)] as [string, string])])}
          {sel('priority', priority, [['', t('priority')], ['P1', 'P1'], ['P2', 'P2'], ['P3', 'P3'], ['P4', 'P4']])}
          {sel('sort', sort, [['created', t('sort_created')], ['due', t('sort_due')]])}
          <label class="inline">
            <input type="checkbox" checked={overdue} onChange={(e) => setQuery({ overdue: (e.target as HTMLInputElement).checked ? '1' : undefined })} />
            {t('overdueOnly')}
          </label>
          <input type="search" placeholder={t('search')} value={q} onInput={(e) => setQ((e.target as HTMLInputElement).value)} />
        </form>
        <ListTable
          res={list}
          testid="ticket-list"
          columns={['#', t('title'), t('status'), [t('category'), 'hide-sm'], t('priority'), [t('openedAt'), 'hide-sm'], [t('slaResolution'), 'hide-sm']]}
          empty={t('noTickets')}
          row={(tk_) => (
            <tr key={tk_.id} onClick={() => navigate(`/tickets/${tk_.id}`)} class="clickable">
              <td>{tk_.ref}</td>
              <td>
                <Link href={`/tickets/${tk_.id}`}>{tk_.title}</Link>
              </td>
              <td>
                <StatusBadge status={tk_.status} />
              </td>
              <td class="hide-sm">{cat(tk_.category)}</td>
              <td>
                <Badge kind={tk_.priority}>{tk_.priority}</Badge>
              </td>
              <td class="hide-sm">{dateTime(tk_.openedAt)}</td>
              <td class="hide-sm">{dateTime(tk_.resolveBy)}</td>
            </tr>
          )}
        />
        {list.pager}
      </Card>
    </div>
  );
}

/** A live countdown of one SLA clock. */
function Countdown({ label, clock }: { label: string; clock: Clock | null }) {
  const [now, setNow] = useState(Date.now());
  const [loadedAt] = useState(Date.now());
  useEffect(() => {
    const id = setInterval(() => setNow(Date.now()), 1000);
    return () => clearInterval(id);
  }, []);
  if (!clock) return null;
  // A running clock ticks down from what the server computed (working time); others are fixed.
  const remaining = clock.remainingMs === null ? null : clock.status === 'running' ? clock.remainingMs - (now - loadedAt) : clock.remainingMs;
  const late = remaining !== null && remaining < 0;
  return (
    <div class={`clock clock-${clock.status} ${late ? 'late' : ''}`} data-testid="sla-clock">
      <div class="muted">{label}</div>
      <strong>{tk('sla_', clock.status)}</strong>
      {remaining !== null && clock.status !== 'met' && <div class="big">{late ? t('overdueBy', { d: duration(-remaining) }) : t('remaining', { d: duration(remaining) })}</div>}
      <div class="muted small">{dateTime(clock.dueAt)}</div>
      {clock.fractionUsed !== null && (
        <div class="meter">
          <div style={{ width: `${Math.min(100, Math.max(0, clock.fractionUsed * 100))}%` }} />
        </div>
      )}
    </div>
  );
}

interface Person {
  userId: string;
  name: string;
  organizationId: string;
  organizationName: string;
}

/** Who may be assigned: members of the property company and the contractors with a duty here. */
async function assignables(communityId: string, mine: Array<{ organizationId: string; organizationName: string; kind: string }>): Promise<Person[]> {
  const duties = await get<{ items: Array<{ organizationId: string; organizationName: string; organizationKind: string; active: boolean }> }>(`/communities/${communityId}/duties`).catch(() => ({ items: [] }));
  const orgs = new Map<string, string>();
  for (const m of mine) if (m.kind === 'property_company' || m.kind === 'contractor') orgs.set(m.organizationId, m.organizationName);
  for (const d of duties.items) if (d.active && (d.organizationKind === 'property_company' || d.organizationKind === 'contractor')) orgs.set(d.organizationId, d.organizationName);
  const people: Person[] = [];
  await Promise.all(
    [...orgs].map(async ([id, name]) => {
      const members = await get<{ items: Array<{ userId: string; name: string }> }>(`/organizations/${id}/members`).catch(() => ({ items: [] }));
      for (const m of members.items) people.push({ userId: m.userId, name: m.name, organizationId: id, organizationName: name });
    }),
  );
  return people.sort((a, b) => a.organizationName.localeCompare(b.organizationName) || a.name.localeCompare(b.name));
}

export function TicketDetailPage({ params }: { params: Record<string, string> }) {
  const { me, roles } = useSession();
  const id = params.id as string;
  const ticket = useAsync(() => get<TicketDetail>(`/tickets/${id}`), [id]);
  const files = useAsync(() => get<{ items: Attachment[] }>(`/tickets/${id}/attachments`, { limit: 50 }), [id]);
  const isStaff = roles.some((r) => r === 'staff' || r === 'admin' || r === 'contractor');
  const people = useAsync(() => (isStaff && ticket.data ? assignables(ticket.data.communityId, me.memberships) : Promise.resolve([])), [ticket.data?.communityId, isStaff]);
  const [comment, setComment, clearComment] = useDraft(`comment.${id}`, { body: '', internal: false });
  const [reason, setReason] = useState('');
  const [holdReason, setHoldReason] = useState('awaiting_parts');
  const { error: actionError, setError: setActionError, busy, run: act } = useAction(ticket.reload);
  const [file, setFile] = useState<File | null>(null);

  if (ticket.loading && !ticket.data) return <Loading />;
  if (ticket.error && !ticket.data) return <ErrorBox error={ticket.error} onRetry={ticket.reload} />;
  const tkt = ticket.data as TicketDetail;

  const move = (to: string) =>
    act(async () => {
      const needsReason = to === 'cancelled' || to === 'reopened';
      if (needsReason && !reason.trim()) throw new UserError(t('reasonRequired'));
      await post(`/tickets/${id}/transitions`, { to, reason: to === 'on_hold' ? holdReason : needsReason ? reason.trim() : undefined });
      setReason('');
    });

  return (
    <div class="detail">
      <Card
        title={
          <span>
            #{tkt.ref} {tkt.title}
          </span>
        }
        actions={<StatusBadge status={tkt.status} />}
      >
        <div class="grid2">
          <div>
            <dl class="facts">
              <dt>{t('status')}</dt>
              <dd data-testid="ticket-status">{tk('st_', tkt.status)}{tkt.holdReason ? ` (${tk('hold_', tkt.holdReason)})` : ''}</dd>
              <dt>{t('category')}</dt>
              <dd>{cat(tkt.category)}</dd>
              <dt>{t('priority')}</dt>
              <dd>
                {isStaff ? (
                  <select aria-label={t('priority')} value={tkt.priority} disabled={busy} onChange={(e) => act(() => patch(`/tickets/${id}`, { priority: (e.target as HTMLSelectElement).value }))}>
                    {['P1', 'P2', 'P3', 'P4'].map((p) => (
                      <option key={p}>{p}</option>
                    ))}
                  </select>
                ) : (
                  tkt.priority
                )}
              </dd>
              <dt>{t('openedAt')}</dt>
              <dd>{dateTime(tkt.openedAt)}</dd>
              <dt>{t('reporter')}</dt>
              <dd>
                {tkt.reporter?.name ?? '—'} {tkt.reporter?.phone ?? ''}
              </dd>
              <dt>{t('assignee')}</dt>
              <dd>
                {isStaff ? (
                  <select
                    aria-label={t('assignee')}
                    name="assignee"
                    value={tkt.assigneeUserId ?? ''}
                    disabled={busy || !people.data}
                    onChange={(e) => {
                      const userId = (e.target as HTMLSelectElement).value;
                      const p = people.data?.find((x) => x.userId === userId);
                      void act(() => patch(`/tickets/${id}`, userId ? { assigneeUserId: userId, assigneeOrgId: p?.organizationId } : { assigneeUserId: null }));
                    }}
                  >
                    <option value="">{t('unassigned')}</option>
                    {people.data?.map((p) => (
                      <option key={p.userId + p.organizationId} value={p.userId}>
                        {p.name} · {p.organizationName}
                      </option>
                    ))}
                  </select>
                ) : (
                  people.data?.find((p) => p.userId === tkt.assigneeUserId)?.name ?? (tkt.assigneeUserId ? '✓' : t('unassigned'))
                )}
              </dd>
            </dl>
            {tkt.description && <p class="description">{tkt.description}</p>}
          </div>
          <div class="clocks">
            <Countdown label={t('slaResponse')} clock={tkt.sla?.response ?? null} />
            <Countdown label={t('slaResolution')} clock={tkt.sla?.resolution ?? null} />
          </div>
        </div>
      </Card>

      {tkt.status === 'closed' && tkt.reporter?.userId === me.id && (
        <Card title={t('rate')}>
          {tkt.rating ? (
            <p data-testid="rating">{t('rateThanks', { n: tkt.rating })}</p>
          ) : (
            <div class="moves">
              {[1, 2, 3, 4, 5].map((n) => (
                <button key={n} type="button" aria-label={`${n}`} disabled={busy} onClick={() => act(() => post(`/tickets/${id}/rating`, { score: n }))}>
                  {'★'.repeat(n)}
                </button>
              ))}
            </div>
          )}
        </Card>
      )}
      {tkt.allowedTransitions.length > 0 && (
        <Card title={t('moves')}>
          <div class="moves">
            {tkt.allowedTransitions.includes('on_hold') && (
              <select aria-label={t('holdReason')} value={holdReason} onChange={(e) => setHoldReason((e.target as HTMLSelectElement).value)}>
                {['awaiting_parts', 'awaiting_access', 'awaiting_funds'].map((r) => (
                  <option key={r} value={r}>
                    {tk('hold_', r)}
                  </option>
                ))}
              </select>
            )}
            {(tkt.allowedTransitions.includes('cancelled') || tkt.allowedTransitions.includes('reopened')) && (
              <input placeholder={t('reason')} value={reason} onInput={(e) => setReason((e.target as HTMLInputElement).value)} />
            )}
            {tkt.allowedTransitions.map((to) => (
              <button key={to} type="button" data-testid={`move-${to}`} class={to === 'cancelled' ? 'danger' : 'primary'} disabled={busy} onClick={() => move(to)}>
                {t(`mv_${to}` as MsgKey)}
              </button>
            ))}
          </div>
        </Card>
      )}
      <ErrorBox error={actionError} />

      <Card title={t('attachments')}>
        <ErrorBox error={files.error} />
        <ul class="files">
          {files.data?.items.map((a) => (
            <li key={a.id}>
              <button type="button" class="link" onClick={() => download(`/tickets/${id}/attachments/${a.id}`, a.originalName).catch(setActionError)}>
                {a.originalName}
              </button>{' '}
              <span class="muted small">
                {Math.ceil(a.sizeBytes / 1024)} KB · {dateTime(a.createdAt)}
              </span>
            </li>
          ))}
        </ul>
        <form
          class="row"
          onSubmit={async (e) => {
            e.preventDefault();
            if (!file) return;
            const form = new FormData();
            form.append('file', file, file.name);
            const ok = await act(() => request('POST', `/tickets/${id}/attachments`, { form }));
            if (ok) {
              setFile(null);
              (e.target as HTMLFormElement).reset();
              files.reload();
            }
          }}
        >
          <input type="file" name="file" accept="image/*,application/pdf" capture="environment" onChange={(e) => setFile((e.target as HTMLInputElement).files?.[0] ?? null)} />
          <button type="submit" disabled={!file || busy}>
            {t('upload')}
          </button>
        </form>
      </Card>

      <Card title={t('comments')}>
        <ul class="comments" data-testid="comments">
          {tkt.comments.map((c) => (
            <li key={c.id} class={c.internal ? 'internal' : ''}>
              <div class="muted small">
                {c.authorName ?? '—'} · {dateTime(c.createdAt)} {c.internal && <Badge kind="internal">{t('internal')}</Badge>}
              </div>
              <div>{c.body}</div>
            </li>
          ))}
        </ul>
        <form
          onSubmit={async (e) => {
            e.preventDefault();
            const ok = await act(() => post(`/tickets/${id}/comments`, { body: comment.body.trim(), internal: comment.internal }));
            if (ok) clearComment();
          }}
        >
          <textarea name="comment" rows={3} required placeholder={t('addComment')} value={comment.body} onInput={(e) => setComment({ ...comment, body: (e.target as HTMLTextAreaElement).value })} />
          <div class="row">
            {isStaff && (
              <label class="inline">
                <input type="checkbox" checked={comment.internal} onChange={(e) => setComment({ ...comment, internal: (e.target as HTMLInputElement).checked })} />
                {t('internal')}
              </label>
            )}
            <button type="submit" class="primary" disabled={busy}>
              {t('addComment')}
            </button>
          </div>
        </form>
      </Card>
    </div>
  );
}

/** Report a fault while logged in (owners, staff). */
export function ReportFaultPage() {
  const { communityId, roles } = useSession();
  const [form, setForm, clear] = useDraft('report', { title: '', description: '', category: 'other', priority: 'P3' });
  const { error, busy, run } = useAction();
  const owner = roles.length === 1 && roles[0] === 'owner';
  return (
    <Card title={t('reportFault')}>
      <form
        class="form"
        onSubmit={async (e) => {
          e.preventDefault();
          await run(async () => {
            const created = await post<{ id: string }>('/tickets', { communityId, title: form.title.trim(), description: form.description.trim() || undefined, category: form.category, ...(owner ? {} : { priority: form.priority }) });
            clear();
            navigate(`/tickets/${created.id}`);
          });
        }}
      >
        <label>
          {t('title')}
          <input name="title" required maxLength={200} value={form.title} onInput={(e) => setForm({ ...form, title: (e.target as HTMLInputElement).value })} />
        </label>
        <label>
          {t('category')}
          <select name="category" value={form.category} onChange={(e) => setForm({ ...form, category: (e.target as HTMLSelectElement).value })}>
            {CATEGORIES.map((c) => (
              <option key={c} value={c}>
                {cat(c)}
              </option>
            ))}
          </select>
        </label>
        {!owner && (
          <label>
            {t('priority')}
            <select name="priority" value={form.priority} onChange={(e) => setForm({ ...form, priority: (e.target as HTMLSelectElement).value })}>
              {['P1', 'P2', 'P3', 'P4'].map((p) => (
                <option key={p}>{p}</option>
              ))}
            </select>
          </label>
        )}
        <label>
          {t('description')}
          <textarea name="description" rows={4} value={form.description} onInput={(e) => setForm({ ...form, description: (e.target as HTMLTextAreaElement).value })} />
        </label>
        <ErrorBox error={error} />
        <button type="submit" class="primary" disabled={busy}>
          {t('submit')}
        </button>
      </form>
    </Card>
  );
}
