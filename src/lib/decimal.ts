/**
 * Exact decimal text → integer of hundredths ("89.37" → 8937). Areas and money never pass
 * through floating point. Returns null for anything that is not a plain non-negative decimal
 * with at most two fraction digits.
 */
export function parseHundredths(input: string | number): number | null {
  const text = (typeof input === 'number' ? String(input) : input).trim().replace(/,/g, '');
  const m = /^(\d{1,13})(?:\.(\d{1,2}))?$/.exec(text);
  if (!m) return null;
  const whole = Number(m[1]);
  const frac = Number((m[2] ?? '').padEnd(2, '0'));
  const value = whole * 100 + frac;
  return Number.isSafeInteger(value) ? value : null;
}

/** 8937 → "89.37" */
export function formatHundredths(value: number): string {
  const sign = value < 0 ? '-' : '';
  const abs = Math.abs(value);
  return `${sign}${Math.trunc(abs / 100)}.${String(abs % 100).padStart(2, '0')}`;
}
