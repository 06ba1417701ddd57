/**
 * Apportioning a cost across the units in scope by floor area (pure: no I/O).
 *
 * Measures on the residential special maintenance fund (2007): costs are apportioned among the
 * owners in scope by their share of floor area. In whole cents, by the largest-remainder
 * (Hamilton) method, all in BigInt:
 * - exact share of unit i = total × area_i / Σarea; it first gets floor(total × area_i / Σarea);
 * - the cents left over (fewer than the number of units) go one each to the units with the
 *   largest remainders (total × area_i mod Σarea).
 * Ties are broken deterministically: larger remainder first, then larger area, then smaller
 * unitId (plain code-unit order, not locale order). A unit whose exact share is a whole number of
 * cents (remainder 0) never receives an extra cent. So the parts add up exactly to the total and
 * each differs from its exact share by less than one cent. The output keeps the input order.
 */

export interface ApportionShare {
  unitId: string;
  /** Hundredths of m², a positive integer. */
  areaCentiM2: number | bigint;
}

export class ApportionInputError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ApportionInputError';
  }
}

function toBigInt(value: number | bigint, what: string): bigint {
  if (typeof value === 'bigint') return value;
  if (!Number.isSafeInteger(value)) throw new ApportionInputError(`${what} must be a safe integer, got ${String(value)}`);
  return BigInt(value);
}

/**
 * Splits totalCents (≥ 0) across shares by area. A number total gives number cents (every part
 * is at most the total, so it stays a safe integer); a bigint total gives bigint cents.
 * Throws ApportionInputError on no shares, a duplicate unitId, a non-positive or non-integer
 * area, or a negative or non-integer total.
 */
export function apportion(totalCents: number, shares: readonly ApportionShare[]): Array<{ unitId: string; cents: number }>;
export function apportion(totalCents: bigint, shares: readonly ApportionShare[]): Array<{ unitId: string; cents: bigint }>;
export function apportion(totalCents: number | bigint, shares: readonly ApportionShare[]): Array<{ unitId: string; cents: number | bigint }>;
export function apportion(totalCents: number | bigint, shares: readonly ApportionShare[]): Array<{ unitId: string; cents: number | bigint }> {
  const total = toBigInt(totalCents, 'The total');
  if (total < 0n) throw new ApportionInputError('The total must not be negative');
  if (shares.length === 0) throw new ApportionInputError('There are no units to apportion across');

  const seen = new Set<string>();
  const rows = shares.map((s) => {
    if (seen.has(s.unitId)) throw new ApportionInputError(`Unit ${s.unitId} appears twice`);
    seen.add(s.unitId);
    const area = toBigInt(s.areaCentiM2, `The area of unit ${s.unitId}`);
    if (area <= 0n) throw new ApportionInputError(`Unit ${s.unitId} has a non-positive area`);
    return { unitId: s.unitId, area, cents: 0n, remainder: 0n };
  });
  const sumArea = rows.reduce((acc, r) => acc + r.area, 0n);

  let given = 0n;
  for (const r of rows) {
    const product = total * r.area;
    r.cents = product / sumArea;
    r.remainder = product % sumArea;
    given += r.cents;
  }
  const leftover = Number(total - given); // < rows.length, since every remainder < sumArea
  if (leftover > 0) {
    const order = [...rows].sort((a, b) => {
      if (a.remainder !== b.remainder) return a.remainder > b.remainder ? -1 : 1;
      if (a.area !== b.area) return a.area > b.area ? -1 : 1;
      return a.unitId < b.unitId ? -1 : a.unitId > b.unitId ? 1 : 0;
    });
    for (let i = 0; i < leftover; i++) order[i]!.cents += 1n;
  }

  const asNumber = typeof totalCents === 'number';
  return rows.map((r) => ({ unitId: r.unitId, cents: asNumber ? Number(r.cents) : r.cents }));
}

/**
 * A unit account must be topped up when its balance is below 30% of its first deposit
 * (Measures, 2007): balance × 10 < first × 3, exactly in BigInt. With a first deposit of 0 only a
 * negative balance is below the threshold.
 */
export function belowTopUpThreshold(balanceCents: number | bigint, firstDepositCents: number | bigint): boolean {
  const balance = toBigInt(balanceCents, 'The balance');
  const first = toBigInt(firstDepositCents, 'The first deposit');
  return balance * 10n < first * 3n;
}
