import { parse } from 'csv-parse/sync';
import { parseHundredths } from '../../lib/decimal.js';

/**
 * Pure rules for the unit register: parsing and validating CSV rows (no I/O), so every error can
 * be reported with its row number before anything touches the database.
 */

export interface OwnerInput {
  name: string;
  phone: string | null;
  email: string | null;
  isDeveloper: boolean;
}

export interface UnitInput {
  /**
   * 1-based row of the file as a spreadsheet shows it (header and blank rows count; a quoted
   * field spanning several lines is one row); 0 for API-created units.
   */
  row: number;
  buildingName: string;
  number: string;
  areaCentiM2: number;
  firstDepositCents: number;
  owners: OwnerInput[];
}

export interface RowError {
  row: number;
  column?: string;
  message: string;
}

export const MAX_IMPORT_ROWS = 50_000;
export const MAX_AREA_CENTI_M2 = 100_000_000; // 1,000,000 m²: anything above is a typo

const HEADER_ALIASES: Record<string, string[]> = {
  building: ['building', '楼栋', '楼号', '栋'],
  unit: ['unit number', 'unit', 'unit_number', 'number', '房号', '单元号', '户号', '房屋编号'],
  area: ['area', 'area m²', 'area m2', 'area_m2', 'area (m²)', '面积', '建筑面积', '面积(m²)', '面积（m²）', '专有面积'],
  ownerName: ['owner name', 'owner', 'owner_name', '业主姓名', '业主', '姓名'],
  ownerPhone: ['owner phone', 'phone', 'owner_phone', '电话', '手机', '联系电话', '业主电话'],
  ownerEmail: ['owner email', 'email', 'owner_email', '邮箱', '电子邮箱', '业主邮箱'],
  firstDeposit: ['first deposit', 'first_deposit', 'deposit', '首期维修资金', '首次交存', '首期交存', '维修资金'],
  developer: ['developer', 'developer held', 'developer_held', '开发商', '开发建设单位'],
};
const DEFAULT_ORDER = ['building', 'unit', 'area', 'ownerName', 'ownerPhone', 'ownerEmail', 'firstDeposit', 'developer'];
const COLUMN_LABEL: Record<string, string> = {
  building: 'building',
  unit: 'unit number',
  area: 'area m²',
  ownerName: 'owner name',
  ownerPhone: 'owner phone',
  ownerEmail: 'owner email',
  firstDeposit: 'first deposit',
  developer: 'developer',
};

const PHONE = /^\+?[0-9][0-9 -]{4,19}$/;
const EMAIL = /^[^\s@]+@[^\s@]+\.[^\s@]+$/;
const TRUE_WORDS = new Set(['1', 'true', 'yes', 'y', '是', '开发商']);
const FALSE_WORDS = new Set(['', '0', 'false', 'no', 'n', '否']);

/** Owners are the same person when their phone (else email, else name) matches; developers are one. */
export function ownerIdentityKey(o: OwnerInput): string {
  if (o.isDeveloper) return 'developer';
  if (o.phone) return `p:${o.phone.replace(/[^0-9+]/g, '')}`;
  if (o.email) return `e:${o.email.toLowerCase()}`;
  return `n:${o.name.trim()}`;
}

function columnMap(header: string[]): Map<string, number> | null {
  const normal = header.map((h) => h.trim().toLowerCase());
  const map = new Map<string, number>();
  for (const [key, aliases] of Object.entries(HEADER_ALIASES)) {
    const idx = normal.findIndex((h) => aliases.includes(h));
    if (idx >= 0) map.set(key, idx);
  }
  return map.has('building') && map.has('unit') && map.has('area') ? map : null;
}

export interface ParsedImport {
  units: UnitInput[];
  errors: RowError[];
  rowCount: number;
}

export function parseUnitCsv(csv: string): ParsedImport {
  let records: string[][];
  try {
    // Blank rows are kept here and skipped below, so that row numbers stay those of the file.
    records = parse(csv, { bom: true, skip_empty_lines: false, relax_column_count: true, trim: true, max_record_size: 10_000 }) as string[][];
  } catch (err) {
    const e = err as { lines?: number; message: string };
    return { units: [], errors: [{ row: e.lines ?? 0, message: `The file is not valid CSV: ${e.message}` }], rowCount: 0 };
  }
  // A row with no value in any column (an empty line, or ",,,," as spreadsheets export cleared rows).
  const isBlank = (record: string[]) => record.every((f) => f === '');
  const firstIndex = records.findIndex((r) => !isBlank(r));
  if (firstIndex < 0) return { units: [], errors: [{ row: 0, message: 'The file is empty' }], rowCount: 0 };

  const first = records[firstIndex] ?? [];
  const header = columnMap(first);
  const columns = header ?? new Map(DEFAULT_ORDER.map((k, i) => [k, i]));
  const dataStart = header ? firstIndex + 1 : firstIndex;
  let rowCount = 0;
  for (let i = dataStart; i < records.length; i++) if (!isBlank(records[i] ?? [])) rowCount++;
  if (rowCount > MAX_IMPORT_ROWS) {
    return { units: [], errors: [{ row: 0, message: `Too many rows: ${rowCount} (at most ${MAX_IMPORT_ROWS} per import)` }], rowCount };
  }

  const errors: RowError[] = [];
  const byKey = new Map<string, UnitInput>();
  for (let i = dataStart; i < records.length; i++) {
    const record = records[i] ?? [];
    if (isBlank(record)) continue;
    const row = i + 1;
    const get = (key: string) => {
      const idx = columns.get(key);
      return idx === undefined ? '' : (record[idx] ?? '').trim();
    };
    const fail = (key: string, message: string) => errors.push({ row, column: COLUMN_LABEL[key], message });
    const before = errors.length;

    const buildingName = get('building');
    const number = get('unit');
    if (!buildingName) fail('building', 'building is required');
    else if (buildingName.length > 100) fail('building', 'building is longer than 100 characters');
    if (!number) fail('unit', 'unit number is required');
    else if (number.length > 50) fail('unit', 'unit number is longer than 50 characters');

    const areaText = get('area');
    const area = parseHundredths(areaText);
    if (!areaText) fail('area', 'area is required');
    else if (area === null) fail('area', `area "${areaText}" must be a number of m² with at most 2 decimals`);
    else if (area <= 0) fail('area', 'area must be greater than 0');
    else if (area > MAX_AREA_CENTI_M2) fail('area', `area ${areaText} m² is implausibly large`);

    const depositText = get('firstDeposit');
    const deposit = depositText === '' ? 0 : parseHundredths(depositText);
    if (deposit === null) fail('firstDeposit', `first deposit "${depositText}" must be an amount in yuan with at most 2 decimals`);

    const developerText = get('developer').toLowerCase();
    let isDeveloper = false;
    if (TRUE_WORDS.has(developerText)) isDeveloper = true;
    else if (!FALSE_WORDS.has(developerText)) fail('developer', `developer "${developerText}" must be yes or no`);

    const ownerName = get('ownerName');
    const phone = get('ownerPhone');
    const email = get('ownerEmail');
    if (!ownerName && !isDeveloper) fail('ownerName', 'owner name is required');
    else if (ownerName.length > 100) fail('ownerName', 'owner name is longer than 100 characters');
    if (phone && !PHONE.test(phone)) fail('ownerPhone', `phone "${phone}" is not a phone number`);
    if (email && (!EMAIL.test(email) || email.length > 254)) fail('ownerEmail', `email "${email}" is not an email address`);

    if (errors.length > before) continue;
    const owner: OwnerInput = { name: ownerName || '开发建设单位', phone: phone || null, email: email || null, isDeveloper };
    const key = `${buildingName}\u0000${number}`;
    const existing = byKey.get(key);
    if (existing) {
      // Several rows for one unit list its co-owners; they must agree on the unit itself.
      if (existing.areaCentiM2 !== area || existing.firstDepositCents !== deposit) {
        errors.push({ row, message: `unit ${buildingName} ${number} appears again (row ${existing.row}) with a different area or deposit` });
      } else if (existing.owners.some((o) => ownerIdentityKey(o) === ownerIdentityKey(owner))) {
        errors.push({ row, message: `unit ${buildingName} ${number} and this owner already appear in row ${existing.row}` });
      } else {
        existing.owners.push(owner);
      }
      continue;
    }
    byKey.set(key, { row, buildingName, number, areaCentiM2: area as number, firstDepositCents: deposit as number, owners: [owner] });
  }
  return { units: [...byKey.values()], errors, rowCount };
}
