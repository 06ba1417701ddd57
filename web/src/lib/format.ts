import { lang } from './i18n.js';

export const yuan = (cents: number | null | undefined): string =>
  cents === null || cents === undefined
    ? '—'
    : `¥${(cents / 100).toLocaleString(lang === 'en' ? 'en-US' : 'zh-CN', { minimumFractionDigits: 2, maximumFractionDigits: 2 })}`;

/** '1,234.50' → 123450 (whole cents, no float drift); NaN when not an amount. */
export function toCents(s: string): number {
  const m = /^\s*(\d+)(?:\.(\d{1,2}))?\s*$/.exec(s.replaceAll(',', ''));
  if (!m) return Number.NaN;
  return Number(m[1]) * 100 + Number((m[2] ?? '').padEnd(2, '0'));
}

export const m2 = (centiM2: number) => (centiM2 / 100).toFixed(2);

export const pct = (x: number | null | undefined, digits = 1) => (x === null || x === undefined || Number.isNaN(x) ? '—' : `${(x * 100).toFixed(digits)}%`);

export function dateTime(iso: string | null | undefined): string {
  if (!iso) return '—';
  return new Date(iso).toLocaleString(lang === 'en' ? 'en-GB' : 'zh-CN', { timeZone: 'Asia/Shanghai', year: 'numeric', month: '2-digit', day: '2-digit', hour: '2-digit', minute: '2-digit' });
}
export function dateOnly(iso: string | null | undefined): string {
  if (!iso) return '—';
  return new Date(iso).toLocaleDateString(lang === 'en' ? 'en-GB' : 'zh-CN', { timeZone: 'Asia/Shanghai' });
}

/** 5400000 → '1 h 30 min' / '1小时30分'. */
export function duration(ms: number): string {
  const abs = Math.abs(ms);
  const d = Math.floor(abs / 86_400_000);
  const h = Math.floor((abs % 86_400_000) / 3_600_000);
  const min = Math.floor((abs % 3_600_000) / 60_000);
  const parts: string[] = [];
  if (lang === 'en') {
    if (d) parts.push(`${d} d`);
    if (h) parts.push(`${h} h`);
    if (!d) parts.push(`${min} min`);
  } else {
    if (d) parts.push(`${d}天`);
    if (h) parts.push(`${h}小时`);
    if (!d) parts.push(`${min}分`);
  }
  return parts.join(lang === 'en' ? ' ' : '');
}
