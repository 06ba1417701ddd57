import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { ApportionInputError, apportion, belowTopUpThreshold } from '../src/modules/funds/apportion.js';
import { DEVELOPER_VOTER_KEY, ElectorateInputError, buildElectorate, votersByOwner } from '../src/modules/funds/electorate.js';
import type { ScopeUnit } from '../src/modules/funds/electorate.js';
import { TallyInputError, canOutcomeStillChange, formatArea, formatPercent, tally } from '../src/modules/funds/tally.js';
import type { BallotInput, Choice, DecisionType, Outcome, TallyElectorate } from '../src/modules/funds/tally.js';

/** An electorate of voters v0, v1, … with the given areas (hundredths of m²). */
function electorateOf(areas: readonly number[]): TallyElectorate {
  return {
    voters: areas.map((a, i) => ({ voterKey: `v${i}`, areaCentiM2: a })),
    totalArea: areas.reduce((s, a) => s + a, 0),
    totalHeadcount: areas.length,
  };
}

/** Ballots by position: null = has not voted. */
function ballotsOf(choices: ReadonlyArray<Choice | null>): BallotInput[] {
  return choices.flatMap((c, i) => (c === null ? [] : [{ voterKey: `v${i}`, choice: c }]));
}

const A = 'agree' as const;
const D = 'disagree' as const;
const X = 'abstain' as const;
const THREE_QUARTER_TYPES: DecisionType[] = ['raise_fund', 'renovation', 'change_use'];

interface Case {
  name: string;
  decisionType: DecisionType;
  areas: number[];
  choices: Array<Choice | null>;
  quorumArea: boolean;
  quorumHeadcount: boolean;
  approvalArea: boolean;
  approvalHeadcount: boolean;
  outcome: Outcome;
}

const cases: Case[] = [
  // Quorum: ≥ 2/3 of area AND ≥ 2/3 of headcount, bound included.
  { name: 'participation exactly 2/3 of area and headcount meets quorum', decisionType: 'use_fund', areas: [10000, 10000, 10000], choices: [A, A, null], quorumArea: true, quorumHeadcount: true, approvalArea: true, approvalHeadcount: true, outcome: 'passed' },
  { name: 'exactly 2/3 of area with unequal units meets quorum', decisionType: 'use_fund', areas: [10001, 9999, 10000], choices: [A, A, null], quorumArea: true, quorumHeadcount: true, approvalArea: true, approvalHeadcount: true, outcome: 'passed' },
  { name: 'participation one hundredth m² under 2/3 of area fails quorum', decisionType: 'use_fund', areas: [10000, 9999, 10001], choices: [A, A, null], quorumArea: false, quorumHeadcount: true, approvalArea: true, approvalHeadcount: true, outcome: 'no_quorum' },
  { name: 'participation exactly 2/3 of headcount (4 of 6) meets quorum', decisionType: 'use_fund', areas: [20000, 20000, 20000, 1, 1, 1], choices: [A, A, A, A, null, null], quorumArea: true, quorumHeadcount: true, approvalArea: true, approvalHeadcount: true, outcome: 'passed' },
  { name: 'participation one voter under 2/3 of headcount (3 of 6) fails quorum though area is met', decisionType: 'use_fund', areas: [20000, 20000, 20000, 1, 1, 1], choices: [A, A, A, null, null, null], quorumArea: true, quorumHeadcount: false, approvalArea: true, approvalHeadcount: true, outcome: 'no_quorum' },
  { name: 'no ballots: no quorum', decisionType: 'use_fund', areas: [10000, 10000, 10000], choices: [null, null, null], quorumArea: false, quorumHeadcount: false, approvalArea: false, approvalHeadcount: false, outcome: 'no_quorum' },
  // use_fund: > 1/2 of participating area AND headcount, strictly.
  { name: 'agree exactly 1/2 of area and headcount fails use_fund', decisionType: 'use_fund', areas: [10000, 10000, 10000, 10000], choices: [A, A, D, D], quorumArea: true, quorumHeadcount: true, approvalArea: false, approvalHeadcount: false, outcome: 'rejected' },
  { name: 'one more agreeing voter passes use_fund', decisionType: 'use_fund', areas: [10000, 10000, 10000, 10000], choices: [A, A, A, D], quorumArea: true, quorumHeadcount: true, approvalArea: true, approvalHeadcount: true, outcome: 'passed' },
  { name: 'agree area exactly 1/2 (headcount 2/3) fails use_fund', decisionType: 'use_fund', areas: [10000, 10000, 20000], choices: [A, A, D], quorumArea: true, quorumHeadcount: true, approvalArea: false, approvalHeadcount: true, outcome: 'rejected' },
  { name: 'agree area one hundredth m² over 1/2 passes use_fund', decisionType: 'use_fund', areas: [10000, 10001, 20000], choices: [A, A, D], quorumArea: true, quorumHeadcount: true, approvalArea: true, approvalHeadcount: true, outcome: 'passed' },
  { name: 'agree headcount exactly 1/2 (area 2/3) fails use_fund', decisionType: 'use_fund', areas: [30000, 10000, 10000, 10000], choices: [A, A, D, D], quorumArea: true, quorumHeadcount: true, approvalArea: true, approvalHeadcount: false, outcome: 'rejected' },
  // Abstentions: participation yes, agreement no.
  { name: 'an abstention completes the quorum', decisionType: 'use_fund', areas: [10000, 10000, 10000], choices: [A, X, null], quorumArea: true, quorumHeadcount: true, approvalArea: false, approvalHeadcount: false, outcome: 'rejected' },
  { name: 'abstentions dilute agreement: 2 agree of 3 participating passes use_fund', decisionType: 'use_fund', areas: [10000, 10000, 10000], choices: [A, A, X], quorumArea: true, quorumHeadcount: true, approvalArea: true, approvalHeadcount: true, outcome: 'passed' },
  { name: 'everyone abstains: quorate and rejected', decisionType: 'use_fund', areas: [10000, 10000, 10000], choices: [X, X, X], quorumArea: true, quorumHeadcount: true, approvalArea: false, approvalHeadcount: false, outcome: 'rejected' },
  // ¾ types: ≥ 3/4 of participating area AND headcount, bound included.
  ...THREE_QUARTER_TYPES.flatMap((t): Case[] => [
    { name: `${t}: agree exactly 3/4 of area and headcount passes`, decisionType: t, areas: [10000, 10000, 10000, 10000], choices: [A, A, A, D], quorumArea: true, quorumHeadcount: true, approvalArea: true, approvalHeadcount: true, outcome: 'passed' },
    { name: `${t}: agree area one hundredth m² under 3/4 fails`, decisionType: t, areas: [10000, 10000, 9999, 10001], choices: [A, A, A, D], quorumArea: true, quorumHeadcount: true, approvalArea: false, approvalHeadcount: true, outcome: 'rejected' },
    { name: `${t}: agree headcount one voter under 3/4 (5 of 8) fails`, decisionType: t, areas: [90000, 90000, 90000, 90000, 90000, 1, 1, 1], choices: [A, A, A, A, A, D, D, D], quorumArea: true, quorumHeadcount: true, approvalArea: true, approvalHeadcount: false, outcome: 'rejected' },
    { name: `${t}: agree headcount exactly 3/4 (6 of 8) passes`, decisionType: t, areas: [90000, 90000, 90000, 90000, 90000, 1, 1, 1], choices: [A, A, A, A, A, A, D, D], quorumArea: true, quorumHeadcount: true, approvalArea: true, approvalHeadcount: true, outcome: 'passed' },
    { name: `${t}: 2 agree + 1 abstain (2/3) fails although it passes use_fund`, decisionType: t, areas: [10000, 10000, 10000], choices: [A, A, X], quorumArea: true, quorumHeadcount: true, approvalArea: false, approvalHeadcount: false, outcome: 'rejected' },
  ]),
];

describe('tally boundaries', () => {
  it.each(cases)('$name', (c) => {
    const r = tally({ decisionType: c.decisionType, electorate: electorateOf(c.areas), ballots: ballotsOf(c.choices) });
    expect({
      quorumArea: r.quorum.area.met,
      quorumHeadcount: r.quorum.headcount.met,
      approvalArea: r.approval.area.met,
      approvalHeadcount: r.approval.headcount.met,
      outcome: r.outcome,
    }).toEqual({
      quorumArea: c.quorumArea,
      quorumHeadcount: c.quorumHeadcount,
      approvalArea: c.approvalArea,
      approvalHeadcount: c.approvalHeadcount,
      outcome: c.outcome,
    });
    expect(r.quorum.met).toBe(c.quorumArea && c.quorumHeadcount);
    expect(r.approval.met).toBe(c.approvalArea && c.approvalHeadcount);
  });

  it('counts abstentions as participation but not as agreement', () => {
    const r = tally({ decisionType: 'use_fund', electorate: electorateOf([10000, 20000, 30000, 40000]), ballots: ballotsOf([A, X, D, null]) });
    expect(r).toMatchObject({
      totalArea: 100000,
      totalHeadcount: 4,
      participatingArea: 60000,
      participatingHeadcount: 3,
      agreeArea: 10000,
      agreeHeadcount: 1,
      disagreeArea: 30000,
      disagreeHeadcount: 1,
      abstainArea: 20000,
      abstainHeadcount: 1,
      notVotedArea: 40000,
      notVotedHeadcount: 1,
    });
  });

  it('writes the figures and exact comparisons into the reasoning, in zh-CN and en', () => {
    const areas = Array.from({ length: 100 }, () => 10000); // 100 voters × 100.00 m²
    const choices: Array<Choice | null> = Array.from({ length: 100 }, (_, i) => (i < 40 ? A : i < 60 ? D : i < 67 ? X : null));
    const r = tally({ decisionType: 'use_fund', electorate: electorateOf(areas), ballots: ballotsOf(choices) });
    expect(r.outcome).toBe('passed');
    const en = r.reasoning.map((l) => l.en).join('\n');
    const zh = r.reasoning.map((l) => l.zh).join('\n');
    expect(en).toContain('Participating area: 6,700.00 m² of 10,000.00 m² = 67.00%; needs ≥ 2/3: 6,700.00 × 3 = 20,100.00 ≥ 10,000.00 × 2 = 20,000.00: met ✓');
    expect(en).toContain('Participating headcount: 67 of 100 = 67.00%; needs ≥ 2/3: 67 × 3 = 201 ≥ 100 × 2 = 200: met ✓');
    expect(en).toContain('Agreeing area: 4,000.00 m² of participating 6,700.00 m² = 59.70%; needs more than 1/2: 4,000.00 × 2 = 8,000.00 > 6,700.00 × 1 = 6,700.00: met ✓');
    expect(en).toContain('Agreeing headcount: 40 of participating 67 = 59.70%');
    expect(en).toContain('abstain 7 (700.00 m²)');
    expect(en).toContain('Outcome: passed.');
    expect(zh).toContain('参与表决专有部分面积 6,700.00 m²，占总面积 10,000.00 m² 的 67.00%；须达三分之二以上：6,700.00 × 3 = 20,100.00 ≥ 10,000.00 × 2 = 20,000.00，已达到 ✓');
    expect(zh).toContain('参与表决人数 67 人，占总人数 100 人的 67.00%');
    expect(zh).toContain('须过半数');
    expect(zh).toContain('结果：通过。');
    for (const line of r.reasoning) {
      expect(line.zh.length).toBeGreaterThan(0);
      expect(line.en.length).toBeGreaterThan(0);
    }
  });

  it('shows a missed bound with the failing comparison', () => {
    const r = tally({ decisionType: 'use_fund', electorate: electorateOf([10000, 9999, 10001]), ballots: ballotsOf([A, A, null]) });
    const en = r.reasoning.map((l) => l.en).join('\n');
    expect(en).toContain('199.99 × 3 = 599.97 < 300.00 × 2 = 600.00: not met ✗');
    expect(en).toContain('Outcome: no quorum');
    const r2 = tally({ decisionType: 'raise_fund', electorate: electorateOf([10000, 10000, 10000, 10000]), ballots: ballotsOf([A, A, D, D]) });
    expect(r2.reasoning.map((l) => l.en).join('\n')).toContain('2 × 4 = 8 < 4 × 3 = 12: not met ✗');
    const r3 = tally({ decisionType: 'use_fund', electorate: electorateOf([10000, 10000, 10000, 10000]), ballots: ballotsOf([A, A, D, D]) });
    expect(r3.reasoning.map((l) => l.zh).join('\n')).toContain('2 × 2 = 4 ≤ 4 × 1 = 4，未达到 ✗');
  });

  it('rejects ballots that do not match the electorate', () => {
    const e = electorateOf([10000, 10000]);
    expect(() => tally({ decisionType: 'use_fund', electorate: e, ballots: [{ voterKey: 'nobody', choice: A }] })).toThrow(TallyInputError);
    expect(() => tally({ decisionType: 'use_fund', electorate: e, ballots: [{ voterKey: 'v0', choice: A }, { voterKey: 'v0', choice: D }] })).toThrow(TallyInputError);
    expect(() => canOutcomeStillChange(e, [{ voterKey: 'v1', choice: A }, { voterKey: 'v1', choice: A }], 'use_fund')).toThrow(TallyInputError);
    expect(() => tally({ decisionType: 'use_fund', electorate: { ...e, totalArea: 1 }, ballots: [] })).toThrow(TallyInputError);
    expect(() => tally({ decisionType: 'use_fund', electorate: { ...e, totalHeadcount: 3 }, ballots: [] })).toThrow(TallyInputError);
    expect(() => tally({ decisionType: 'use_fund', electorate: electorateOf([]), ballots: [] })).toThrow(TallyInputError);
  });

  it('formats areas and percentages exactly', () => {
    expect(formatArea(123456789)).toBe('1,234,567.89');
    expect(formatArea(5)).toBe('0.05');
    expect(formatArea(10n ** 20n)).toBe('1,000,000,000,000,000,000.00');
    expect(formatPercent(2, 3)).toBe('66.67%');
    expect(formatPercent(1, 8)).toBe('12.50%');
    expect(formatPercent(0, 0)).toBe('—');
  });
});

describe('electorate (headcount rules, SPC interpretation art. 9)', () => {
  const own = (ownerId: string, isDeveloper = false) => ({ ownerId, isDeveloper });

  it('counts all developer-held units as one voter', () => {
    const e = buildElectorate([
      { unitId: 'u1', areaCentiM2: 10000, owners: [own('dev', true)] },
      { unitId: 'u2', areaCentiM2: 12000, owners: [own('dev', true)] },
      { unitId: 'u3', areaCentiM2: 9000, owners: [own('dev2', true)] },
      { unitId: 'u4', areaCentiM2: 8000, owners: [own('alice')] },
      { unitId: 'u5', areaCentiM2: 7000, owners: [own('bob')] },
    ]);
    expect(e.totalHeadcount).toBe(3);
    expect(e.totalArea).toBe(46000);
    const dev = e.voters.find((v) => v.voterKey === DEVELOPER_VOTER_KEY);
    expect(dev).toEqual({ voterKey: 'developer', kind: 'developer', ownerIds: ['dev', 'dev2'], unitIds: ['u1', 'u2', 'u3'], areaCentiM2: 31000 });
  });

  it('counts one owner of several units as one voter carrying all their area', () => {
    const e = buildElectorate([
      { unitId: 'u1', areaCentiM2: 10000, owners: [own('alice')] },
      { unitId: 'u2', areaCentiM2: 10000, owners: [own('alice')] },
      { unitId: 'u3', areaCentiM2: 10000, owners: [own('alice')] },
      { unitId: 'u4', areaCentiM2: 5000, owners: [own('bob')] },
    ]);
    expect(e.totalHeadcount).toBe(2);
    expect(e.voters).toEqual([
      { voterKey: 'owner:alice', kind: 'owner', ownerIds: ['alice'], unitIds: ['u1', 'u2', 'u3'], areaCentiM2: 30000 },
      { voterKey: 'owner:bob', kind: 'owner', ownerIds: ['bob'], unitIds: ['u4'], areaCentiM2: 5000 },
    ]);
  });

  it('counts a co-owned unit once: its co-owners are one voter', () => {
    const e = buildElectorate([
      { unitId: 'u1', areaCentiM2: 10000, owners: [own('bob'), own('alice')] },
      { unitId: 'u2', areaCentiM2: 10000, owners: [own('carol')] },
    ]);
    expect(e.totalHeadcount).toBe(2);
    expect(e.voters[0]).toEqual({ voterKey: 'owner:alice', kind: 'owner', ownerIds: ['alice', 'bob'], unitIds: ['u1'], areaCentiM2: 10000 });
    const byOwner = votersByOwner(e);
    expect(byOwner.get('bob')?.voterKey).toBe('owner:alice');
    expect(byOwner.get('alice')?.voterKey).toBe('owner:alice');
    expect(byOwner.get('carol')?.voterKey).toBe('owner:carol');
    expect(byOwner.get('nobody')).toBeUndefined();
  });

  it('joins a sole owner of one unit and co-owner of another into one voter with both units', () => {
    const e = buildElectorate([
      { unitId: 'a', areaCentiM2: 10000, owners: [own('p')] },
      { unitId: 'b', areaCentiM2: 8000, owners: [own('p'), own('q')] },
      { unitId: 'c', areaCentiM2: 6000, owners: [own('q')] },
      { unitId: 'd', areaCentiM2: 4000, owners: [own('r')] },
    ]);
    expect(e.totalHeadcount).toBe(2);
    expect(e.voters[0]).toMatchObject({ ownerIds: ['p', 'q'], unitIds: ['a', 'b', 'c'], areaCentiM2: 24000 });
  });

  it('treats a unit the developer still holds with a buyer as developer-held', () => {
    const e = buildElectorate([
      { unitId: 'u1', areaCentiM2: 10000, owners: [own('dev', true), own('buyer')] },
      { unitId: 'u2', areaCentiM2: 10000, owners: [own('dev', true)] },
      { unitId: 'u3', areaCentiM2: 10000, owners: [own('other')] },
    ]);
    expect(e.totalHeadcount).toBe(2);
    expect(e.voters.find((v) => v.kind === 'developer')).toMatchObject({ ownerIds: ['buyer', 'dev'], unitIds: ['u1', 'u2'] });
  });

  it('keeps a unit without recorded owners as its own voter (one part one person)', () => {
    const e = buildElectorate([
      { unitId: 'u1', areaCentiM2: 10000, owners: [] },
      { unitId: 'u2', areaCentiM2: 10000, owners: [own('alice')] },
    ]);
    expect(e.totalHeadcount).toBe(2);
    expect(e.voters).toContainEqual({ voterKey: 'unit:u1', kind: 'unowned', ownerIds: [], unitIds: ['u1'], areaCentiM2: 10000 });
  });

  it('does not depend on the order of units or owners', () => {
    const units: ScopeUnit[] = [
      { unitId: 'u1', areaCentiM2: 100, owners: [own('b'), own('a')] },
      { unitId: 'u2', areaCentiM2: 200, owners: [own('c')] },
      { unitId: 'u3', areaCentiM2: 300, owners: [own('d', true)] },
      { unitId: 'u4', areaCentiM2: 400, owners: [own('a')] },
    ];
    const reversed = [...units].reverse().map((u) => ({ ...u, owners: [...u.owners].reverse() }));
    expect(buildElectorate(reversed)).toEqual(buildElectorate(units));
  });

  it('refuses invalid scopes', () => {
    expect(() => buildElectorate([])).toThrow(ElectorateInputError);
    expect(() => buildElectorate([{ unitId: 'u1', areaCentiM2: 0, owners: [] }])).toThrow(ElectorateInputError);
    expect(() => buildElectorate([{ unitId: 'u1', areaCentiM2: 1.5, owners: [] }])).toThrow(ElectorateInputError);
    expect(() =>
      buildElectorate([
        { unitId: 'u1', areaCentiM2: 1, owners: [] },
        { unitId: 'u1', areaCentiM2: 1, owners: [] },
      ]),
    ).toThrow(ElectorateInputError);
    expect(() =>
      buildElectorate([
        { unitId: 'u1', areaCentiM2: 1, owners: [own('x', true)] },
        { unitId: 'u2', areaCentiM2: 1, owners: [own('x', false)] },
      ]),
    ).toThrow(ElectorateInputError);
  });

  it('tallies the developer as one voter with all its area', () => {
    // 3 developer units (1 voter, 300.00 m²) + 3 owners (100.00 m² each): 4 voters, 600.00 m².
    const e = buildElectorate([
      ...['d1', 'd2', 'd3'].map((unitId) => ({ unitId, areaCentiM2: 10000, owners: [own('dev', true)] })),
      ...['x', 'y', 'z'].map((o) => ({ unitId: `u-${o}`, areaCentiM2: 10000, owners: [own(o)] })),
    ]);
    expect(e.totalHeadcount).toBe(4);
    const r = tally({
      decisionType: 'use_fund',
      electorate: e,
      ballots: [
        { voterKey: 'developer', choice: A },
        { voterKey: 'owner:x', choice: D },
        { voterKey: 'owner:y', choice: D },
      ],
    });
    // Area 500/600 ≥ 2/3, headcount 3/4 ≥ 2/3; agree area 300/500 > 1/2 but headcount 1/3 is not.
    expect(r).toMatchObject({ participatingArea: 50000, participatingHeadcount: 3, agreeArea: 30000, agreeHeadcount: 1, outcome: 'rejected' });
  });

  it('property: single-owner units give one voter per distinct owner, plus one for all developer units', () => {
    fc.assert(
      fc.property(
        fc.array(fc.record({ owner: fc.integer({ min: 0, max: 9 }), dev: fc.boolean(), area: fc.integer({ min: 1, max: 1_000_000 }) }), { minLength: 1, maxLength: 30 }),
        (rows) => {
          const units: ScopeUnit[] = rows.map((r, i) => ({
            unitId: `u${i}`,
            areaCentiM2: r.area,
            owners: [r.dev ? own(`dev${r.owner % 2}`, true) : own(`o${r.owner}`)],
          }));
          const e = buildElectorate(units);
          const people = new Set(rows.filter((r) => !r.dev).map((r) => r.owner));
          const expected = people.size + (rows.some((r) => r.dev) ? 1 : 0);
          expect(e.totalHeadcount).toBe(expected);
          expect(e.voters.reduce((s, v) => s + v.areaCentiM2, 0)).toBe(e.totalArea);
          expect(e.voters.flatMap((v) => v.unitIds).sort()).toEqual(units.map((u) => u.unitId).sort());
        },
      ),
      { numRuns: 200 },
    );
  });
});

// ---------------------------------------------------------------------------------------------
// Properties of the tally

const CHOICES: Choice[] = [A, D, X];
const ALL_TYPES: DecisionType[] = ['use_fund', 'raise_fund', 'renovation', 'change_use'];

const smallVote = fc
  .array(fc.record({ area: fc.integer({ min: 1, max: 6 }), choice: fc.constantFrom<Choice | null>(A, D, X, null) }), { minLength: 1, maxLength: 6 })
  .chain((voters) => fc.record({ voters: fc.constant(voters), decisionType: fc.constantFrom(...ALL_TYPES) }));

describe('tally properties', () => {
  it('is monotone: turning a disagree or abstain into agree never turns passed into anything else', () => {
    const vote = fc
      .array(fc.record({ area: fc.integer({ min: 1, max: 100_000 }), choice: fc.constantFrom<Choice | null>(A, D, X, null) }), { minLength: 1, maxLength: 25 })
      .chain((voters) => fc.record({ voters: fc.constant(voters), flip: fc.nat({ max: voters.length - 1 }), decisionType: fc.constantFrom(...ALL_TYPES) }));
    fc.assert(
      fc.property(vote, ({ voters, flip, decisionType }) => {
        const electorate = electorateOf(voters.map((v) => v.area));
        const before = voters.map((v) => v.choice);
        const target = before[flip];
        fc.pre(target === D || target === X);
        const after = before.map((c, i) => (i === flip ? A : c));
        const r1 = tally({ decisionType, electorate, ballots: ballotsOf(before) });
        const r2 = tally({ decisionType, electorate, ballots: ballotsOf(after) });
        if (r1.outcome === 'passed') expect(r2.outcome).toBe('passed');
        // The flip changes no participation, so the quorum cannot move either.
        expect(r2.quorum.met).toBe(r1.quorum.met);
      }),
      { numRuns: 400 },
    );
  });

  it('canOutcomeStillChange is exact: false iff every completion of the remaining votes gives the current outcome', () => {
    fc.assert(
      fc.property(smallVote, ({ voters, decisionType }) => {
        const electorate = electorateOf(voters.map((v) => v.area));
        const cast = voters.map((v) => v.choice);
        const remaining = cast.flatMap((c, i) => (c === null ? [i] : []));
        const outcomes = new Set<Outcome>();
        const options: Array<Choice | null> = [null, ...CHOICES];
        const combos = options.length ** remaining.length;
        for (let k = 0; k < combos; k++) {
          const filled = [...cast];
          let rest = k;
          for (const i of remaining) {
            filled[i] = options[rest % options.length]!;
            rest = Math.floor(rest / options.length);
          }
          outcomes.add(tally({ decisionType, electorate, ballots: ballotsOf(filled) }).outcome);
        }
        const canChange = canOutcomeStillChange(electorate, ballotsOf(cast), decisionType);
        expect(canChange).toBe(outcomes.size > 1);
        if (!canChange) {
          expect([...outcomes]).toEqual([tally({ decisionType, electorate, ballots: ballotsOf(cast) }).outcome]);
        }
      }),
      { numRuns: 300 },
    );
  });

  it('canOutcomeStillChange on simple cases', () => {
    const ten = electorateOf(Array.from({ length: 10 }, () => 10000));
    const first = (n: number, c: Choice) => Array.from({ length: n }, (_, i) => ({ voterKey: `v${i}`, choice: c }));
    expect(canOutcomeStillChange(ten, [], 'use_fund')).toBe(true);
    expect(canOutcomeStillChange(ten, first(7, A), 'use_fund')).toBe(false); // passed whatever the 3 others do
    expect(canOutcomeStillChange(ten, first(6, A), 'use_fund')).toBe(true); // not yet quorate
    expect(canOutcomeStillChange(ten, first(7, D), 'use_fund')).toBe(false); // rejected whatever happens
    expect(canOutcomeStillChange(ten, first(7, A), 'raise_fund')).toBe(true); // 3 disagreeing would make it 7/10 < 3/4
    expect(canOutcomeStillChange(ten, first(10, A), 'raise_fund')).toBe(false);
  });
});

// ---------------------------------------------------------------------------------------------
// Apportionment and top-up

describe('apportion', () => {
  it('gives leftover cents to the largest remainders, then larger area, then smaller unitId', () => {
    // 1 cent over areas 1 and 2: exact shares 1/3 and 2/3.
    expect(apportion(1, [{ unitId: 'a', areaCentiM2: 1 }, { unitId: 'b', areaCentiM2: 2 }])).toEqual([
      { unitId: 'a', cents: 0 },
      { unitId: 'b', cents: 1 },
    ]);
    // 2 cents over areas 1 and 3: exact 0.5 and 1.5, equal remainders → the larger area.
    expect(apportion(2, [{ unitId: 'a', areaCentiM2: 1 }, { unitId: 'b', areaCentiM2: 3 }])).toEqual([
      { unitId: 'a', cents: 0 },
      { unitId: 'b', cents: 2 },
    ]);
    // 1 cent over three equal areas → the smallest unitId, whatever the input order.
    const shares = [{ unitId: 'c', areaCentiM2: 5 }, { unitId: 'a', areaCentiM2: 5 }, { unitId: 'b', areaCentiM2: 5 }];
    expect(apportion(1, shares)).toEqual([
      { unitId: 'c', cents: 0 },
      { unitId: 'a', cents: 1 },
      { unitId: 'b', cents: 0 },
    ]);
    expect(apportion(100, shares).map((p) => p.cents)).toEqual([33, 34, 33]);
  });

  it('handles a zero total, one unit and huge totals', () => {
    expect(apportion(0, [{ unitId: 'a', areaCentiM2: 7 }, { unitId: 'b', areaCentiM2: 9 }])).toEqual([
      { unitId: 'a', cents: 0 },
      { unitId: 'b', cents: 0 },
    ]);
    expect(apportion(123456, [{ unitId: 'a', areaCentiM2: 8937 }])).toEqual([{ unitId: 'a', cents: 123456 }]);
    const huge = 10n ** 30n + 7n;
    const parts = apportion(huge, [{ unitId: 'a', areaCentiM2: 1 }, { unitId: 'b', areaCentiM2: 2 }, { unitId: 'c', areaCentiM2: 99_999_999n }]);
    expect(parts.reduce((s, p) => s + p.cents, 0n)).toBe(huge);
    expect(typeof parts[0]!.cents).toBe('bigint');
    expect(apportion(Number.MAX_SAFE_INTEGER, [{ unitId: 'a', areaCentiM2: 3 }, { unitId: 'b', areaCentiM2: 7 }]).reduce((s, p) => s + p.cents, 0)).toBe(Number.MAX_SAFE_INTEGER);
  });

  it('refuses invalid input', () => {
    expect(() => apportion(100, [])).toThrow(ApportionInputError);
    expect(() => apportion(100, [{ unitId: 'a', areaCentiM2: 0 }])).toThrow(ApportionInputError);
    expect(() => apportion(100, [{ unitId: 'a', areaCentiM2: -5 }])).toThrow(ApportionInputError);
    expect(() => apportion(100, [{ unitId: 'a', areaCentiM2: 1.5 }])).toThrow(ApportionInputError);
    expect(() => apportion(-1, [{ unitId: 'a', areaCentiM2: 1 }])).toThrow(ApportionInputError);
    expect(() => apportion(0.5, [{ unitId: 'a', areaCentiM2: 1 }])).toThrow(ApportionInputError);
    expect(() => apportion(2 ** 53, [{ unitId: 'a', areaCentiM2: 1 }])).toThrow(ApportionInputError);
    expect(() => apportion(1, [{ unitId: 'a', areaCentiM2: 1 }, { unitId: 'a', areaCentiM2: 2 }])).toThrow(ApportionInputError);
  });

  it('property: parts sum exactly to the total and each is within one cent of its exact share', () => {
    const input = fc.record({
      total: fc.oneof(fc.bigInt({ min: 0n, max: 10n ** 24n }), fc.bigInt({ min: 0n, max: 1000n })),
      areas: fc.array(fc.oneof(fc.integer({ min: 1, max: 100_000_000 }), fc.integer({ min: 1, max: 5 })), { minLength: 1, maxLength: 40 }),
    });
    fc.assert(
      fc.property(input, ({ total, areas }) => {
        const shares = areas.map((a, i) => ({ unitId: `u${String(i).padStart(3, '0')}`, areaCentiM2: a }));
        const parts = apportion(total, shares);
        const sumArea = areas.reduce((s, a) => s + BigInt(a), 0n);
        expect(parts.map((p) => p.unitId)).toEqual(shares.map((s) => s.unitId));
        expect(parts.reduce((s, p) => s + p.cents, 0n)).toBe(total);
        parts.forEach((p, i) => {
          const diff = p.cents * sumArea - total * BigInt(areas[i]!);
          expect(diff < sumArea && -diff < sumArea).toBe(true);
          expect(p.cents >= 0n).toBe(true);
        });
      }),
      { numRuns: 300 },
    );
  });

  it('property: number totals give the same parts as bigint totals', () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: Number.MAX_SAFE_INTEGER }), fc.array(fc.integer({ min: 1, max: 1_000_000 }), { minLength: 1, maxLength: 10 }), (total, areas) => {
        const shares = areas.map((a, i) => ({ unitId: `u${i}`, areaCentiM2: a }));
        expect(apportion(total, shares).map((p) => BigInt(p.cents))).toEqual(apportion(BigInt(total), shares).map((p) => p.cents));
      }),
      { numRuns: 100 },
    );
  });
});

describe('belowTopUpThreshold (30% of the first deposit)', () => {
  it.each([
    [299, 1000, true],
    [300, 1000, false],
    [300, 1001, true], // 30% of 10.01 is 3.003
    [301, 1001, false],
    [0, 0, false],
    [-1, 0, true],
    [0, 1, true],
  ])('balance %i, first deposit %i → %s', (balance, first, expected) => {
    expect(belowTopUpThreshold(balance, first)).toBe(expected);
  });

  it('is exact for huge amounts', () => {
    const first = 10n ** 25n;
    expect(belowTopUpThreshold((first * 3n) / 10n, first)).toBe(false);
    expect(belowTopUpThreshold((first * 3n) / 10n - 1n, first)).toBe(true);
  });
});
