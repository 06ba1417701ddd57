import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { formatHundredths, parseHundredths } from '../src/lib/decimal.js';
import { MAX_IMPORT_ROWS, ownerIdentityKey, parseUnitCsv } from '../src/modules/units/unit-rows.js';

const EN_HEADER = 'building,unit number,area m²,owner name,owner phone,owner email,first deposit,developer';
const ZH_HEADER = '楼栋,房号,面积,业主姓名,联系电话,邮箱,首期维修资金,开发商';

describe('parseHundredths', () => {
  it.each([
    ['89.37', 8937],
    ['89', 8900],
    ['89.3', 8930],
    ['89.30', 8930],
    ['0.01', 1],
    ['0', 0],
    ['1,234.5', 123450],
    ['1,234,567.89', 123456789],
    [' 89.37 ', 8937],
    ['\t120.5\n', 12050],
  ])('%j → %i', (text, expected) => {
    expect(parseHundredths(text)).toBe(expected);
  });

  it.each(['89.375', '-1', '-0.5', 'abc', '', '   ', '1e3', '89.', '.5', '89.3.1', '+89', '89,37.1x', 'NaN', 'Infinity', '0x10'])('rejects %j', (text) => {
    expect(parseHundredths(text)).toBeNull();
  });

  it('takes numbers through their shortest decimal text, refusing more than 2 decimals', () => {
    expect(parseHundredths(89.37)).toBe(8937);
    expect(parseHundredths(100)).toBe(10000);
    expect(parseHundredths(89.375)).toBeNull();
    expect(parseHundredths(0.1 + 0.2)).toBeNull();
    expect(parseHundredths(1e21)).toBeNull();
    expect(parseHundredths(-1)).toBeNull();
  });

  it('accepts at most 13 whole digits', () => {
    expect(parseHundredths('9999999999999.99')).toBe(999_999_999_999_999);
    expect(parseHundredths('10000000000000')).toBeNull();
  });

  it('round-trips with formatHundredths over its whole range', () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 999_999_999_999_999 }), (n) => {
        expect(parseHundredths(formatHundredths(n))).toBe(n);
      }),
    );
  });
});

describe('parseUnitCsv', () => {
  it('reads an English header', () => {
    const csv = `${EN_HEADER}\n1栋,101,89.37,张三,13800000001,zhang@example.cn,3000,no\n1栋,102,120,李四,,,,\n`;
    const { units, errors, rowCount } = parseUnitCsv(csv);
    expect(errors).toEqual([]);
    expect(rowCount).toBe(2);
    expect(units).toEqual([
      {
        row: 2,
        buildingName: '1栋',
        number: '101',
        areaCentiM2: 8937,
        firstDepositCents: 300000,
        owners: [{ name: '张三', phone: '13800000001', email: 'zhang@example.cn', isDeveloper: false }],
      },
      { row: 3, buildingName: '1栋', number: '102', areaCentiM2: 12000, firstDepositCents: 0, owners: [{ name: '李四', phone: null, email: null, isDeveloper: false }] },
    ]);
  });

  it('reads a Chinese header, in any column order', () => {
    const csv = '房号,面积（m²）,楼栋,业主,电话\n201,75.5,2号楼,王五,13900000002\n';
    const { units, errors } = parseUnitCsv(csv);
    expect(errors).toEqual([]);
    expect(units).toEqual([
      { row: 2, buildingName: '2号楼', number: '201', areaCentiM2: 7550, firstDepositCents: 0, owners: [{ name: '王五', phone: '13900000002', email: null, isDeveloper: false }] },
    ]);
  });

  it('takes the columns in the documented order when there is no header', () => {
    const csv = '3栋,301,66.6,赵六,13700000003,zhao@example.cn,1500.50,0\n3栋,302,70,钱七\n';
    const { units, errors, rowCount } = parseUnitCsv(csv);
    expect(errors).toEqual([]);
    expect(rowCount).toBe(2);
    expect(units.map((u) => [u.row, u.buildingName, u.number, u.areaCentiM2, u.firstDepositCents, u.owners[0]?.name, u.owners[0]?.email])).toEqual([
      [1, '3栋', '301', 6660, 150050, '赵六', 'zhao@example.cn'],
      [2, '3栋', '302', 7000, 0, '钱七', null],
    ]);
  });

  it('ignores a UTF-8 BOM before the header', () => {
    const { units, errors } = parseUnitCsv(`\uFEFF${ZH_HEADER}\n1栋,101,89.37,张三,,,,\n`);
    expect(errors).toEqual([]);
    expect(units).toHaveLength(1);
    expect(units[0]?.buildingName).toBe('1栋');
  });

  it('reads CRLF line endings', () => {
    const { units, errors } = parseUnitCsv(`${ZH_HEADER}\r\n1栋,101,89.37,张三,,,,\r\n1栋,102,90,李四,,,,\r\n`);
    expect(errors).toEqual([]);
    expect(units.map((u) => [u.row, u.number, u.areaCentiM2, u.owners[0]?.name])).toEqual([
      [2, '101', 8937, '张三'],
      [3, '102', 9000, '李四'],
    ]);
  });

  it('reads quoted fields holding commas and quotes (and thousands separators in the area)', () => {
    const csv = `${EN_HEADER}\n"Tower A, East",101,"1,234.56","Smith, ""Jo""",,,"2,000",\n`;
    const { units, errors } = parseUnitCsv(csv);
    expect(errors).toEqual([]);
    expect(units[0]).toMatchObject({ buildingName: 'Tower A, East', number: '101', areaCentiM2: 123456, firstDepositCents: 200000 });
    expect(units[0]?.owners[0]?.name).toBe('Smith, "Jo"');
  });

  it('merges rows of the same unit with different owners into one unit with co-owners', () => {
    const csv = `${ZH_HEADER}\n1栋,101,89.37,张三,13800000001,,,\n1栋,101,89.37,张三妻,13800000009,,,\n1栋,102,90,李四,,,,\n`;
    const { units, errors, rowCount } = parseUnitCsv(csv);
    expect(errors).toEqual([]);
    expect(rowCount).toBe(3);
    expect(units).toHaveLength(2);
    expect(units[0]).toMatchObject({ row: 2, number: '101', areaCentiM2: 8937 });
    expect(units[0]?.owners.map((o) => o.name)).toEqual(['张三', '张三妻']);
    // Total area counts the unit once.
    expect(units.reduce((s, u) => s + u.areaCentiM2, 0)).toBe(8937 + 9000);
  });

  it('reports the same unit listed with a different area, naming both rows', () => {
    const csv = `${ZH_HEADER}\n1栋,101,89.37,张三,13800000001,,,\n1栋,102,90,李四,,,,\n1栋,101,89.38,张三妻,13800000009,,,\n`;
    const { errors } = parseUnitCsv(csv);
    expect(errors).toHaveLength(1);
    expect(errors[0]?.row).toBe(4);
    expect(errors[0]?.message).toContain('row 2');
    expect(errors[0]?.message).toContain('1栋 101');
  });

  it('reports the same owner listed twice for one unit', () => {
    const csv = `${ZH_HEADER}\n1栋,101,89.37,张三,13800000001,,,\n1栋,101,89.37,Zhang San,138 0000 0001,,,\n`;
    const { errors } = parseUnitCsv(csv);
    expect(errors).toEqual([{ row: 3, message: expect.stringContaining('row 2') }]);
  });

  it('reports each bad value with its row number and column label', () => {
    const csv = [
      ZH_HEADER,
      '1栋,101,89.37,张三,13800000001,,,', // row 2 fine
      '1栋,102,89.375,李四,,,,', // row 3: 3 decimals
      '1栋,103,abc,王五,,,,', // row 4: not a number
      '1栋,104,-5,赵六,,,,', // row 5: negative
      '1栋,105,0,钱七,,,,', // row 6: zero
      '1栋,106,80,孙八,phone?,,,', // row 7: phone
      '1栋,107,80,周九,,not-an-email,,', // row 8: email
      '1栋,108,80,吴十,,,,maybe', // row 9: developer flag
      '1栋,109,80,郑一,,,12.345,', // row 10: deposit
      ',110,80,冯二,,,,', // row 11: building missing
      '1栋,,80,陈三,,,,', // row 12: unit missing
      '1栋,113,,褚四,,,,', // row 13: area missing
      '1栋,114,80,,,,,', // row 14: owner missing (not a developer)
    ].join('\n');
    const { units, errors } = parseUnitCsv(csv);
    expect(errors.map((e) => [e.row, e.column])).toEqual([
      [3, 'area m²'],
      [4, 'area m²'],
      [5, 'area m²'],
      [6, 'area m²'],
      [7, 'owner phone'],
      [8, 'owner email'],
      [9, 'developer'],
      [10, 'first deposit'],
      [11, 'building'],
      [12, 'unit number'],
      [13, 'area m²'],
      [14, 'owner name'],
    ]);
    expect(errors.every((e) => e.message.length > 0)).toBe(true);
    expect(errors[0]?.message).toContain('89.375');
    expect(units.map((u) => u.number)).toEqual(['101']);
  });

  it('reports several problems of one row, each with its column', () => {
    const { errors } = parseUnitCsv(`${EN_HEADER}\n1栋,101,x,张三,bad,bad,,\n`);
    expect(errors.map((e) => [e.row, e.column])).toEqual([
      [2, 'area m²'],
      [2, 'owner phone'],
      [2, 'owner email'],
    ]);
  });

  it('keeps the row numbers of the file when it has blank rows', () => {
    const csv = `${ZH_HEADER}\n\n1栋,101,89.37,张三,,,,\n,,,,,,,\n   \n1栋,102,bad,李四,,,,\n\n`;
    const { units, errors, rowCount } = parseUnitCsv(csv);
    expect(rowCount).toBe(2);
    expect(units.map((u) => u.row)).toEqual([3]);
    expect(errors.map((e) => [e.row, e.column])).toEqual([[6, 'area m²']]);
  });

  it('counts a quoted field spanning two lines as one row', () => {
    const csv = `${ZH_HEADER}\n1栋,101,89.37,"张三\n(代理人)",,,,\n1栋,102,bad,李四,,,,\n`;
    const { errors } = parseUnitCsv(csv);
    expect(errors.map((e) => e.row)).toEqual([3]);
  });

  it('groups developer rows under the one identity "developer", whatever their names', () => {
    const csv = `${EN_HEADER}\n1栋,101,89.37,,,,,yes\n1栋,102,90,XX地产有限公司,,,,是\n1栋,103,91,,,,,1\n1栋,104,92,张三,13800000001,,,no\n`;
    const { units, errors } = parseUnitCsv(csv);
    expect(errors).toEqual([]);
    const developerOwners = units.flatMap((u) => u.owners).filter((o) => o.isDeveloper);
    expect(developerOwners).toHaveLength(3);
    expect(new Set(developerOwners.map(ownerIdentityKey))).toEqual(new Set(['developer']));
    expect(developerOwners[0]?.name).toBe('开发建设单位');
    expect(ownerIdentityKey(units[3]?.owners[0] as never)).toBe('p:13800000001');
  });

  it('recognises owners by phone, else email, else name', () => {
    expect(ownerIdentityKey({ name: 'A', phone: '138 0000-0001', email: 'a@x.cn', isDeveloper: false })).toBe('p:13800000001');
    expect(ownerIdentityKey({ name: 'A', phone: null, email: 'A@X.cn', isDeveloper: false })).toBe('e:a@x.cn');
    expect(ownerIdentityKey({ name: ' A ', phone: null, email: null, isDeveloper: false })).toBe('n:A');
  });

  it('refuses more than MAX_IMPORT_ROWS rows with one error', () => {
    const lines = [ZH_HEADER];
    for (let i = 0; i <= MAX_IMPORT_ROWS; i++) lines.push(`1栋,${i},80,业主${i},,,,`);
    const { units, errors, rowCount } = parseUnitCsv(lines.join('\n'));
    expect(rowCount).toBe(MAX_IMPORT_ROWS + 1);
    expect(units).toEqual([]);
    expect(errors).toHaveLength(1);
    expect(errors[0]?.message).toContain(String(MAX_IMPORT_ROWS));
  });

  it('accepts exactly MAX_IMPORT_ROWS rows', () => {
    const lines = [ZH_HEADER];
    for (let i = 0; i < MAX_IMPORT_ROWS; i++) lines.push(`1栋,${i},80,业主${i},,,,`);
    const { units, errors } = parseUnitCsv(lines.join('\n'));
    expect(errors).toEqual([]);
    expect(units).toHaveLength(MAX_IMPORT_ROWS);
  });

  it.each([
    ['an empty file', ''],
    ['only a BOM', '\uFEFF'],
    ['only blank lines', '\n\r\n  \n,,,\n'],
  ])('reports %s as empty', (_label, csv) => {
    const { units, errors, rowCount } = parseUnitCsv(csv);
    expect(units).toEqual([]);
    expect(rowCount).toBe(0);
    expect(errors).toEqual([{ row: 0, message: 'The file is empty' }]);
  });

  it('returns no units and no errors for a header alone (the service refuses it)', () => {
    expect(parseUnitCsv(`${ZH_HEADER}\n`)).toEqual({ units: [], errors: [], rowCount: 0 });
  });

  it('reports a file that is not CSV (an unclosed quote) instead of throwing', () => {
    const { units, errors } = parseUnitCsv(`${ZH_HEADER}\n1栋,101,"89.37,张三,,,,\n`);
    expect(units).toEqual([]);
    expect(errors).toHaveLength(1);
    expect(errors[0]?.message).toMatch(/not valid CSV/);
  });
});

/* ------------------------------------------------------------------------------------------- */

/** CSV field quoting as a spreadsheet would write it. */
const quote = (v: string) => (/[",\r\n]/.test(v) ? `"${v.replaceAll('"', '""')}"` : v);

/** Writes hundredths as decimal text in the ways people do: "89.37", "89.3", "89", "1,234.50". */
function areaText(n: number, style: number): string {
  const whole = Math.trunc(n / 100);
  const frac = n % 100;
  const wholeText = style % 2 === 1 ? whole.toLocaleString('en-US') : String(whole);
  if (frac === 0 && style >= 2) return wholeText;
  if (frac % 10 === 0 && style >= 2) return `${wholeText}.${frac / 10}`;
  return `${wholeText}.${String(frac).padStart(2, '0')}`;
}

const nameArb = fc
  .array(fc.constantFrom('张', '王', '李', 'a', 'B', ' ', ',', '"', '-', '·', 'é'), { minLength: 1, maxLength: 12 })
  .map((chars) => chars.join('').trim())
  .filter((s) => s.length > 0);

const unitArb = fc.record({
  building: fc.integer({ min: 1, max: 5 }),
  areaCentiM2: fc.integer({ min: 1, max: 100_000_000 }),
  style: fc.integer({ min: 0, max: 3 }),
  // 1..3 owners; a developer-held unit has the developer as its only owner.
  owners: fc.array(nameArb, { minLength: 1, maxLength: 3 }),
  developer: fc.boolean(),
  depositCents: fc.integer({ min: 0, max: 10_000_000 }),
});

describe('parseUnitCsv (property)', () => {
  it('for random valid rows: no errors, every unit once, and the total area is the exact sum', () => {
    fc.assert(
      fc.property(fc.array(unitArb, { minLength: 1, maxLength: 60 }), fc.boolean(), fc.boolean(), (generated, withHeader, crlf) => {
        const lines: string[] = withHeader ? [ZH_HEADER] : [];
        let phone = 13000000000;
        generated.forEach((u, i) => {
          const owners = u.developer ? [''] : u.owners;
          for (const owner of owners) {
            // Distinct phones make co-owners distinct people.
            const cells = [`${u.building}栋`, `${1000 + i}`, areaText(u.areaCentiM2, u.style), owner, u.developer ? '' : String(phone++), '', areaText(u.depositCents, u.style), u.developer ? '是' : ''];
            lines.push(cells.map(quote).join(','));
          }
        });
        const { units, errors, rowCount } = parseUnitCsv(lines.join(crlf ? '\r\n' : '\n'));
        expect(errors).toEqual([]);
        expect(rowCount).toBe(lines.length - (withHeader ? 1 : 0));
        expect(units).toHaveLength(generated.length);
        const total = units.reduce((s, u) => s + u.areaCentiM2, 0);
        expect(total).toBe(generated.reduce((s, u) => s + u.areaCentiM2, 0));
        expect(units.map((u) => u.areaCentiM2)).toEqual(generated.map((u) => u.areaCentiM2));
        expect(units.map((u) => u.firstDepositCents)).toEqual(generated.map((u) => u.depositCents));
        expect(units.map((u) => u.owners.length)).toEqual(generated.map((u) => (u.developer ? 1 : u.owners.length)));
        expect(units.flatMap((u) => u.owners.map((o) => o.name))).toEqual(generated.flatMap((u) => (u.developer ? ['开发建设单位'] : u.owners)));
      }),
      { numRuns: 200 },
    );
  });
});
