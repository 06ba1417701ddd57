import { createContext, type ComponentChildren } from 'preact';
import { useCallback, useContext, useEffect, useRef, useState } from 'preact/hooks';
import { errorText, t } from './lib/i18n.js';
import { navigate } from './lib/router.js';
import type { Community, Me, Role } from './lib/session.js';

export interface Ctx {
  me: Me;
  roles: Role[];
  communities: Community[];
  communityId: string | null;
  setCommunity(id: string): void;
  reloadMe(): void;
}
export const SessionCtx = createContext<Ctx | null>(null);
export function useSession(): Ctx {
  const c = useContext(SessionCtx);
  if (!c) throw new Error('no session');
  return c;
}

export function useAsync<T>(fn: () => Promise<T>, deps: unknown[]): { data: T | undefined; error: unknown; loading: boolean; reload: () => void; set: (v: T) => void } {
  const [state, setState] = useState<{ data?: T; error?: unknown; loading: boolean }>({ loading: true });
  const [tick, setTick] = useState(0);
  useEffect(() => {
    let live = true;
    setState((s) => ({ ...s, loading: true }));
    fn().then(
      (data) => live && setState({ data, loading: false }),
      (error: unknown) => live && setState({ error, loading: false }),
    );
    return () => {
      live = false;
    };
  }, [...deps, tick]);
  const reload = useCallback(() => setTick((n) => n + 1), []);
  return { data: state.data, error: state.error, loading: state.loading, reload, set: (data: T) => setState({ data, loading: false }) };
}

/** Form state kept in sessionStorage until a submit succeeds: a failed submit or a reload loses nothing. */
export function useDraft<T>(key: string, initial: T): [T, (v: T) => void, () => void] {
  const storageKey = `upkeep.draft.${key}`;
  const [value, setValue] = useState<T>(() => {
    try {
      const raw = sessionStorage.getItem(storageKey);
      return raw ? (JSON.parse(raw) as T) : initial;
    } catch {
      return initial;
    }
  });
  const set = (v: T) => {
    setValue(v);
    sessionStorage.setItem(storageKey, JSON.stringify(v));
  };
  const clear = () => {
    sessionStorage.removeItem(storageKey);
    setValue(initial);
  };
  return [value, set, clear];
}

export function ErrorBox({ error, onRetry }: { error: unknown; onRetry?: () => void }) {
  if (!error) return null;
  const { text, detail } = errorText(error);
  return (
    <div class="error" role="alert">
      <div>{text}</div>
      {detail && (
        <div class="error-detail">
          {t('serverSaid')}: {detail}
        </div>
      )}
      {onRetry && (
        <button type="button" class="link" onClick={onRetry}>
          {t('retry')}
        </button>
      )}
    </div>
  );
}

export function Loading() {
  return <div class="loading">{t('loading')}</div>;
}

export function Link({ href, children, class: cls, ...rest }: { href: string; children: ComponentChildren; class?: string; 'data-testid'?: string }) {
  return (
    <a
      href={href}
      class={cls}
      {...rest}
      onClick={(e) => {
        if (e.ctrlKey || e.metaKey || e.shiftKey || e.button !== 0) return;
        e.preventDefault();
        navigate(href);
      }}
    >
      {children}
    </a>
  );
}

export function Badge({ kind, children }: { kind: string; children: ComponentChildren }) {
  return <span class={`badge badge-${kind}`}>{children}</span>;
}

/** Cursor pages with Previous/Next: the API's lists are cursor-paginated (`?limit&cursor`). */
export function usePages<T>(fetchPage: (cursor: string | undefined) => Promise<{ items: T[]; nextCursor: string | null }>, deps: unknown[]) {
  const [stack, setStack] = useState<Array<string | undefined>>([undefined]);
  const depsKey = JSON.stringify(deps);
  const prevKey = useRef(depsKey);
  if (prevKey.current !== depsKey) {
    prevKey.current = depsKey;
    if (stack.length !== 1) setStack([undefined]);
  }
  const cursor = stack[stack.length - 1];
  const res = useAsync(() => fetchPage(cursor), [depsKey, cursor]);
  const pager = (
    <div class="pager">
      <button type="button" disabled={stack.length <= 1} onClick={() => setStack(stack.slice(0, -1))}>
        {t('prev')}
      </button>
      <span>{t('page', { n: stack.length })}</span>
      <button type="button" disabled={!res.data?.nextCursor} onClick={() => res.data?.nextCursor && setStack([...stack, res.data.nextCursor])}>
        {t('next')}
      </button>
    </div>
  );
  return { ...res, pager };
}

export function Card({ title, children, actions }: { title?: ComponentChildren; children: ComponentChildren; actions?: ComponentChildren }) {
  return (
    <section class="card">
      {(title || actions) && (
        <header class="card-head">
          {title && <h2>{title}</h2>}
          {actions && <div class="card-actions">{actions}</div>}
        </header>
      )}
      {children}
    </section>
  );
}

// ---- charts: small inline SVG, no chart library ------------------------------------------

/** A ring showing a share (SLA compliance), with the share in the middle. */
export function Ring({ value, label, target }: { value: number | null; label: string; target?: number }) {
  const r = 36;
  const c = 2 * Math.PI * r;
  const v = value ?? 0;
  const good = target === undefined || v >= target;
  return (
    <figure class="ring">
      <svg viewBox="0 0 100 100" width="110" height="110" role="img" aria-label={`${label}: ${value === null ? '—' : Math.round(v * 100) + '%'}`}>
        <circle cx="50" cy="50" r={r} fill="none" stroke="#e5e7eb" stroke-width="12" />
        {value !== null && (
          <circle cx="50" cy="50" r={r} fill="none" stroke={good ? '#16a34a' : '#dc2626'} stroke-width="12" stroke-dasharray={`${c * v} ${c}`} transform="rotate(-90 50 50)" />
        )}
        <text x="50" y="56" text-anchor="middle" font-size="18" font-weight="600" fill="#111827">
          {value === null ? '—' : `${Math.round(v * 100)}%`}
        </text>
      </svg>
      <figcaption>{label}</figcaption>
    </figure>
  );
}

/** Horizontal bars (0–100%) with a target line per bar. */
export function RateBars({ rows }: { rows: Array<{ label: string; rate: number; target?: number | null; note?: string }> }) {
  const h = 26;
  const left = 120;
  const width = 420;
  const W = left + width + 60;
  return (
    <svg class="chart" viewBox={`0 0 ${W} ${rows.length * h + 24}`} role="img">
      {rows.map((r, i) => {
        const y = i * h + 4;
        const below = r.target !== undefined && r.target !== null && r.rate < r.target;
        return (
          <g key={r.label}>
            <text x={left - 6} y={y + 15} text-anchor="end" font-size="12" fill="#374151">
              {r.label}
            </text>
            <rect x={left} y={y + 2} width={width} height={h - 10} fill="#f3f4f6" />
            <rect x={left} y={y + 2} width={width * Math.max(0, Math.min(1, r.rate))} height={h - 10} fill={below ? '#dc2626' : '#2563eb'} />
            {r.target !== undefined && r.target !== null && (
              <line x1={left + width * r.target} x2={left + width * r.target} y1={y} y2={y + h - 6} stroke="#111827" stroke-width="2" stroke-dasharray="3 2" />
            )}
            <text x={left + width + 6} y={y + 15} font-size="12" fill="#111827">
              {Math.round(r.rate * 1000) / 10}%{r.note ? ` ${r.note}` : ''}
            </text>
          </g>
        );
      })}
      <text x={left} y={rows.length * h + 18} font-size="11" fill="#6b7280">
        ┆ {t('target')}
      </text>
    </svg>
  );
}

/** A stacked bar of a tally line (agree/disagree/abstain/not voted) with threshold lines. */
export function TallyBar({
  label,
  parts,
  total,
  lines,
  testid,
}: {
  label: string;
  parts: Array<{ value: number; color: string; name: string }>;
  total: number;
  lines: Array<{ at: number; label: string; color: string }>;
  testid?: string;
}) {
  const W = 560;
  const left = 8;
  const width = W - 16;
  let x = left;
  return (
    <figure class="tallybar" data-testid={testid}>
      <figcaption>{label}</figcaption>
      <svg viewBox={`0 0 ${W} 78`} role="img" aria-label={label}>
        {parts.map((p) => {
          const w = total > 0 ? (width * p.value) / total : 0;
          const rect = <rect key={p.name} x={x} y={22} width={w} height={26} fill={p.color}><title>{p.name}</title></rect>;
          x += w;
          return rect;
        })}
        <rect x={left} y={22} width={width} height={26} fill="none" stroke="#9ca3af" />
        {lines.map((l, i) => (
          <g key={l.label}>
            <line x1={left + width * l.at} x2={left + width * l.at} y1={14} y2={56} stroke={l.color} stroke-width="2.5" />
            <text x={left + width * l.at} y={i % 2 ? 70 : 11} font-size="11" text-anchor={l.at < 0.15 ? 'start' : l.at > 0.85 ? 'end' : 'middle'} fill={l.color}>
              {l.label}
            </text>
          </g>
        ))}
      </svg>
    </figure>
  );
}

/** A filter <select> of [value, label] pairs; `name` is set only where a page's forms or tests rely on it. */
export function FilterSelect({ label, name, value, options, onPick }: { label: string; name?: string; value: string; options: ReadonlyArray<readonly [string, string]>; onPick: (v: string) => void }) {
  return (
    <select aria-label={label} name={name} value={value} onChange={(e) => onPick((e.target as HTMLSelectElement).value)}>
      {options.map(([v, l]) => (
        <option key={v} value={v}>
          {l}
        </option>
      ))}
    </select>
  );
}

/** A column heading: its label, or [label, class] for a column with a class (e.g. hidden on small screens). */
export type Column = string | readonly [string, string];

/** The shape every list page shares: error with retry, loading until the first page, then the table (with a "none" row when `empty` is given). */
export function ListTable<T>({
  res,
  testid,
  columns,
  row,
  empty,
}: {
  res: { data: { items: T[] } | undefined; error: unknown; loading: boolean; reload: () => void };
  testid: string;
  columns: readonly Column[];
  row: (item: T) => ComponentChildren;
  empty?: string;
}) {
  return (
    <>
      <ErrorBox error={res.error} onRetry={res.reload} />
      {res.loading && !res.data ? (
        <Loading />
      ) : (
        <table class="list" data-testid={testid}>
          <thead>
            <tr>
              {columns.map((c, i) => (typeof c === 'string' ? <th key={i}>{c}</th> : <th key={i} class={c[1]}>{c[0]}</th>))}
            </tr>
          </thead>
          <tbody>
            {res.data?.items.map(row)}
            {empty !== undefined && res.data?.items.length === 0 && (
              <tr>
                <td colSpan={columns.length} class="muted">
                  {empty}
                </td>
              </tr>
            )}
          </tbody>
        </table>
      )}
    </>
  );
}

/**
 * One request at a time from a form or button: `busy` while it runs (to disable the controls), its
 * error kept for an ErrorBox until the next try. `run` resolves true when the request succeeded;
 * `after` (a page's reload) runs after each success.
 */
export function useAction(after?: () => void) {
  const [error, setError] = useState<unknown>(null);
  const [busy, setBusy] = useState(false);
  const run = async (fn: () => Promise<unknown>): Promise<boolean> => {
    setBusy(true);
    setError(null);
    try {
      await fn();
      after?.();
      return true;
    } catch (err) {
      setError(err);
      return false;
    } finally {
      setBusy(false);
    }
  };
  return { error, setError, busy, run };
}

/** Checkbox chips choosing ids from a list (a fund request's buildings, its facilities). */
export function ChipChecks({ name, items, chosen, onChange }: { name: string; items: ReadonlyArray<{ id: string; name: string }> | undefined; chosen: string[]; onChange: (ids: string[]) => void }) {
  return (
    <div class="chips">
      {items?.map((x) => (
        <label key={x.id} class="chip">
          <input type="checkbox" name={name} value={x.id} checked={chosen.includes(x.id)} onChange={(e) => onChange((e.target as HTMLInputElement).checked ? [...chosen, x.id] : chosen.filter((y) => y !== x.id))} />
          {x.name}
        </label>
      ))}
    </div>
  );
}

/** Editable rows (budget lines, funding sources): Remove on each while more than one is left, then "Add line" appending `blank`. */
export function RowsEditor<T extends object>({ rows, onChange, blank, render }: { rows: T[]; onChange: (rows: T[]) => void; blank: T; render: (row: T, set: (patch: Partial<T>) => void, i: number) => ComponentChildren }) {
  return (
    <>
      {rows.map((row, i) => (
        <div class="row" key={i}>
          {render(row, (patch) => onChange(rows.map((x, j) => (j === i ? { ...x, ...patch } : x))), i)}
          {rows.length > 1 && (
            <button type="button" class="link" onClick={() => onChange(rows.filter((_, j) => j !== i))}>
              {t('remove')}
            </button>
          )}
        </div>
      ))}
      <button type="button" onClick={() => onChange([...rows, blank])}>
        {t('addLine')}
      </button>
    </>
  );
}
