/**
 * KPI figures (pure): ratios from counts, the camera intact-rate target, rows for CSV.
 * "Key-area camera intact rate ≥ 90%" is the plans' measurable target (摄像机完好率).
 */

export const CAMERA_INTACT_TARGET = 0.9;

export interface TicketCounts {
  open: number;
  overdue: number;
  rectificationsOverdue: number;
  openedInPeriod: number;
  responseDue: number;
  responseMet: number;
  resolutionDue: number;
  resolutionMet: number;
  mttaSeconds: number | null;
  mttrSeconds: number | null;
}

export const EMPTY_COUNTS: TicketCounts = {
  open: 0,
  overdue: 0,
  rectificationsOverdue: 0,
  openedInPeriod: 0,
  responseDue: 0,
  responseMet: 0,
  resolutionDue: 0,
  resolutionMet: 0,
  mttaSeconds: null,
  mttrSeconds: null,
};

/** A ratio rounded to 4 decimals, null when there is nothing to measure. */
export function ratio(part: number, whole: number): number | null {
  return whole === 0 ? null : Math.round((part / whole) * 10_000) / 10_000;
}

export interface IntactRow {
  category: string;
  total: number;
  operational: number;
}

export function intactRates(rows: IntactRow[]) {
  return rows
    .map((r) => {
      const rate = ratio(r.operational, r.total);
      const target = r.category === 'camera' ? CAMERA_INTACT_TARGET : null;
      return { category: r.category, total: r.total, operational: r.operational, rate, target, belowTarget: target !== null && rate !== null && rate < target };
    })
    .sort((a, b) => a.category.localeCompare(b.category));
}

/** Sums counts of several communities; mean times weighted by how many tickets they cover. */
export function sumCounts(list: Array<TicketCounts & { acknowledged?: number; resolved?: number }>): TicketCounts {
  const total = { ...EMPTY_COUNTS };
  let mttaWeight = 0;
  let mttaSum = 0;
  let mttrWeight = 0;
  let mttrSum = 0;
  for (const c of list) {
    total.open += c.open;
    total.overdue += c.overdue;
    total.rectificationsOverdue += c.rectificationsOverdue;
    total.openedInPeriod += c.openedInPeriod;
    total.responseDue += c.responseDue;
    total.responseMet += c.responseMet;
    total.resolutionDue += c.resolutionDue;
    total.resolutionMet += c.resolutionMet;
    if (c.mttaSeconds !== null) {
      mttaSum += c.mttaSeconds * c.responseDue;
      mttaWeight += c.responseDue;
    }
    if (c.mttrSeconds !== null) {
      mttrSum += c.mttrSeconds * c.resolutionDue;
      mttrWeight += c.resolutionDue;
    }
  }
  total.mttaSeconds = mttaWeight ? Math.round(mttaSum / mttaWeight) : null;
  total.mttrSeconds = mttrWeight ? Math.round(mttrSum / mttrWeight) : null;
  return total;
}

/** CSV with a header, quoting what needs it (RFC 4180), and a BOM so spreadsheet programs read UTF-8 Chinese. */
export function toCsv(header: string[], rows: Array<Array<string | number | boolean | null>>): string {
  const cell = (v: string | number | boolean | null) => {
    const s = v === null ? '' : String(v);
    // Formula injection: a cell starting with = + - @ (or a tab or carriage return before one,
    // which spreadsheets skip) is text, not a formula (OWASP "CSV Injection").
    const safe = /^[=+\-@\t\r]/.test(s) && typeof v === 'string' ? `'${s}` : s;
    return /[",\n\r]/.test(safe) ? `"${safe.replace(/"/g, '""')}"` : safe;
  };
  return `\uFEFF${[header, ...rows].map((r) => r.map(cell).join(',')).join('\r\n')}\r\n`;
}

/** Inspection tasks that fell due (or were done) in the period, per category. */
export interface InspectionRow {
  category: string;
  due: number;
  onTime: number;
  late: number;
  notDone: number;
}

/** Inspections done on time, per category and in total (a task done after its due time is late). */
export function inspectionRates(rows: InspectionRow[]) {
  const byCategory = new Map<string, InspectionRow>();
  for (const r of rows) {
    const cur = byCategory.get(r.category) ?? { category: r.category, due: 0, onTime: 0, late: 0, notDone: 0 };
    cur.due += r.due;
    cur.onTime += r.onTime;
    cur.late += r.late;
    cur.notDone += r.notDone;
    byCategory.set(r.category, cur);
  }
  const shape = (r: Omit<InspectionRow, 'category'>) => ({ due: r.due, doneOnTime: r.onTime, doneLate: r.late, notDone: r.notDone, onTimeRate: ratio(r.onTime, r.due) });
  const total = [...byCategory.values()].reduce((a, r) => ({ due: a.due + r.due, onTime: a.onTime + r.onTime, late: a.late + r.late, notDone: a.notDone + r.notDone }), { due: 0, onTime: 0, late: 0, notDone: 0 });
  return {
    ...shape(total),
    byCategory: [...byCategory.values()].sort((a, b) => a.category.localeCompare(b.category)).map((r) => ({ category: r.category, ...shape(r) })),
  };
}
