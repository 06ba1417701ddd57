/**
 * The tally of an owners' fund vote (pure: no I/O). Exact integer arithmetic only: every
 * threshold is checked by cross-multiplying integers in BigInt (part × den vs whole × num), never
 * by dividing, so a bound is met or missed exactly.
 *
 * Civil Code art. 278 (DESIGN.md "Law for fund use"):
 * - Quorum: owners holding ≥ 2/3 of the exclusive area AND ≥ 2/3 of the headcount take part.
 *   Abstaining is taking part. "以上" includes the bound.
 * - `use_fund`: agreement of > 1/2 of the participating area AND > 1/2 of the participating
 *   headcount ("过半数": strictly more).
 * - `raise_fund`, `renovation` (改建、重建), `change_use`: ≥ 3/4 of the participating area AND
 *   ≥ 3/4 of the participating headcount.
 * Headcount and area come from the electorate (electorate.ts, SPC interpretation arts. 8–9).
 *
 * Ballots must come from voters of the electorate, one each: a ballot with an unknown voter key
 * or a second ballot for one voter throws TallyInputError rather than being ignored, because
 * either means the ballots and the fixed electorate disagree and a silent drop would hide a
 * miscount.
 */

export type DecisionType = 'use_fund' | 'raise_fund' | 'renovation' | 'change_use';
export type Choice = 'agree' | 'disagree' | 'abstain';
export type Outcome = 'passed' | 'rejected' | 'no_quorum';

export interface TallyVoter {
  voterKey: string;
  areaCentiM2: number;
}

/** Structurally satisfied by `Electorate` from electorate.ts (or a stored snapshot of it). */
export interface TallyElectorate {
  voters: readonly TallyVoter[];
  totalArea: number;
  totalHeadcount: number;
}

export interface BallotInput {
  voterKey: string;
  choice: Choice;
}

/** A threshold "part / whole ≥ num/den" (inclusive) or "part / whole > num/den" (strict). */
export interface Threshold {
  numerator: number;
  denominator: number;
  inclusive: boolean;
}

export interface ThresholdCheck extends Threshold {
  /** Hundredths of m² for area checks, persons for headcount checks. */
  part: number;
  whole: number;
  met: boolean;
}

export interface ReasoningLine {
  zh: string;
  en: string;
}

export interface TallyResult {
  decisionType: DecisionType;
  totalArea: number;
  totalHeadcount: number;
  participatingArea: number;
  participatingHeadcount: number;
  agreeArea: number;
  agreeHeadcount: number;
  disagreeArea: number;
  disagreeHeadcount: number;
  abstainArea: number;
  abstainHeadcount: number;
  notVotedArea: number;
  notVotedHeadcount: number;
  quorum: { area: ThresholdCheck; headcount: ThresholdCheck; met: boolean };
  /** Computed even without quorum (live progress), but only decisive when the quorum is met. */
  approval: { area: ThresholdCheck; headcount: ThresholdCheck; met: boolean };
  outcome: Outcome;
  reasoning: ReasoningLine[];
}

export class TallyInputError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'TallyInputError';
  }
}

export const QUORUM: Threshold = { numerator: 2, denominator: 3, inclusive: true };
export const MAJORITY: Threshold = { numerator: 1, denominator: 2, inclusive: false };
export const THREE_QUARTERS: Threshold = { numerator: 3, denominator: 4, inclusive: true };

export const DECISION_TYPES: readonly DecisionType[] = ['use_fund', 'raise_fund', 'renovation', 'change_use'];

export function approvalThreshold(decisionType: DecisionType): Threshold {
  switch (decisionType) {
    case 'use_fund':
      return MAJORITY;
    case 'raise_fund':
    case 'renovation':
    case 'change_use':
      return THREE_QUARTERS;
    default: {
      const never: never = decisionType;
      throw new TallyInputError(`Unknown decision type ${String(never)}`);
    }
  }
}

/** Exact: part/whole ≥ num/den (inclusive) or > num/den (strict), as part·den vs whole·num in BigInt. */
export function meets(part: number | bigint, whole: number | bigint, t: Threshold): boolean {
  const lhs = BigInt(part) * BigInt(t.denominator);
  const rhs = BigInt(whole) * BigInt(t.numerator);
  return t.inclusive ? lhs >= rhs : lhs > rhs;
}

function check(part: number, whole: number, t: Threshold): ThresholdCheck {
  return { ...t, part, whole, met: meets(part, whole, t) };
}

// ---------------------------------------------------------------------------------------------
// Counting

interface Counts {
  agreeArea: number;
  agreeHeadcount: number;
  disagreeArea: number;
  disagreeHeadcount: number;
  abstainArea: number;
  abstainHeadcount: number;
}

function validateElectorate(electorate: TallyElectorate): Map<string, number> {
  const areaOf = new Map<string, number>();
  let sum = 0;
  for (const v of electorate.voters) {
    if (areaOf.has(v.voterKey)) throw new TallyInputError(`Voter ${v.voterKey} appears twice in the electorate`);
    if (!Number.isSafeInteger(v.areaCentiM2) || v.areaCentiM2 <= 0) throw new TallyInputError(`Voter ${v.voterKey} has an invalid area`);
    areaOf.set(v.voterKey, v.areaCentiM2);
    sum += v.areaCentiM2;
  }
  if (electorate.voters.length === 0) throw new TallyInputError('The electorate is empty');
  if (!Number.isSafeInteger(sum) || sum !== electorate.totalArea) {
    throw new TallyInputError(`Electorate total area ${electorate.totalArea} differs from the sum of its voters' areas ${sum}`);
  }
  if (electorate.totalHeadcount !== electorate.voters.length) {
    throw new TallyInputError(`Electorate headcount ${electorate.totalHeadcount} differs from its ${electorate.voters.length} voters`);
  }
  return areaOf;
}

function count(areaOf: Map<string, number>, ballots: readonly BallotInput[]): { counts: Counts; voted: Set<string> } {
  const counts: Counts = { agreeArea: 0, agreeHeadcount: 0, disagreeArea: 0, disagreeHeadcount: 0, abstainArea: 0, abstainHeadcount: 0 };
  const voted = new Set<string>();
  for (const b of ballots) {
    const area = areaOf.get(b.voterKey);
    if (area === undefined) throw new TallyInputError(`Ballot from ${b.voterKey}, who is not in the electorate`);
    if (voted.has(b.voterKey)) throw new TallyInputError(`Two ballots from ${b.voterKey}`);
    voted.add(b.voterKey);
    switch (b.choice) {
      case 'agree':
        counts.agreeArea += area;
        counts.agreeHeadcount += 1;
        break;
      case 'disagree':
        counts.disagreeArea += area;
        counts.disagreeHeadcount += 1;
        break;
      case 'abstain':
        counts.abstainArea += area;
        counts.abstainHeadcount += 1;
        break;
      default:
        throw new TallyInputError(`Unknown choice ${String(b.choice as unknown)} from ${b.voterKey}`);
    }
  }
  return { counts, voted };
}

interface Decision {
  quorumArea: boolean;
  quorumHeadcount: boolean;
  approvalArea: boolean;
  approvalHeadcount: boolean;
  outcome: Outcome;
}

/** The outcome from aggregate figures alone (shared by tally and canOutcomeStillChange). */
function decide(
  totalArea: number,
  totalHeadcount: number,
  c: { participatingArea: number; participatingHeadcount: number; agreeArea: number; agreeHeadcount: number },
  approval: Threshold,
): Decision {
  const quorumArea = meets(c.participatingArea, totalArea, QUORUM);
  const quorumHeadcount = meets(c.participatingHeadcount, totalHeadcount, QUORUM);
  const approvalArea = meets(c.agreeArea, c.participatingArea, approval);
  const approvalHeadcount = meets(c.agreeHeadcount, c.participatingHeadcount, approval);
  // Totals are positive (non-empty electorate), so a met quorum implies participation > 0 and
  // the ¾ test "agree ≥ ¾ × 0" can never pass a vote nobody took part in.
  const outcome: Outcome = !(quorumArea && quorumHeadcount) ? 'no_quorum' : approvalArea && approvalHeadcount ? 'passed' : 'rejected';
  return { quorumArea, quorumHeadcount, approvalArea, approvalHeadcount, outcome };
}

// ---------------------------------------------------------------------------------------------
// Formatting (figures for the reasoning lines; grouping commas, exact)

function group(digits: string): string {
  return digits.replace(/\B(?=(\d{3})+(?!\d))/g, ',');
}

/** Hundredths (of m²) → "6,700.00". */
export function formatArea(hundredths: number | bigint): string {
  const v = BigInt(hundredths);
  const neg = v < 0n;
  const abs = neg ? -v : v;
  return `${neg ? '-' : ''}${group((abs / 100n).toString())}.${(abs % 100n).toString().padStart(2, '0')}`;
}

function formatCount(n: number | bigint): string {
  return group(BigInt(n).toString());
}

/** part/whole as a percentage rounded half up to 2 decimals ("67.00%"); for reading only. */
export function formatPercent(part: number | bigint, whole: number | bigint): string {
  const p = BigInt(part);
  const w = BigInt(whole);
  if (w === 0n) return '—';
  const basisPoints = (p * 20000n + w) / (2n * w); // round half up
  return `${formatCount(basisPoints / 100n)}.${(basisPoints % 100n).toString().padStart(2, '0')}%`;
}

const FRACTION_ZH: Record<string, string> = { '2/3': '三分之二', '1/2': '二分之一', '3/4': '四分之三' };

function needText(t: Threshold): ReasoningLine {
  if (!t.inclusive && t.numerator * 2 === t.denominator) return { zh: '须过半数', en: 'needs more than 1/2' };
  const frac = `${t.numerator}/${t.denominator}`;
  return t.inclusive
    ? { zh: `须达${FRACTION_ZH[frac] ?? frac}以上`, en: `needs ≥ ${frac}` }
    : { zh: `须超过${FRACTION_ZH[frac] ?? frac}`, en: `needs more than ${frac}` };
}

/** "6,700.00 × 3 = 20,100.00 ≥ 10,000.00 × 2 = 20,000.00" — the exact comparison behind a check. */
function comparisonText(c: ThresholdCheck, fmt: (v: bigint) => string): string {
  const lhs = BigInt(c.part) * BigInt(c.denominator);
  const rhs = BigInt(c.whole) * BigInt(c.numerator);
  const op = c.inclusive ? (c.met ? '≥' : '<') : c.met ? '>' : '≤';
  return `${fmt(BigInt(c.part))} × ${c.denominator} = ${fmt(lhs)} ${op} ${fmt(BigInt(c.whole))} × ${c.numerator} = ${fmt(rhs)}`;
}

const metText = (met: boolean): ReasoningLine => (met ? { zh: '已达到 ✓', en: 'met ✓' } : { zh: '未达到 ✗', en: 'not met ✗' });

const DECISION_TEXT: Record<DecisionType, ReasoningLine> = {
  use_fund: { zh: '使用建筑物及其附属设施的维修资金', en: 'use of the maintenance fund' },
  raise_fund: { zh: '筹集建筑物及其附属设施的维修资金', en: 'raising the maintenance fund' },
  renovation: { zh: '改建、重建建筑物及其附属设施', en: 'rebuilding or reconstructing buildings and their facilities' },
  change_use: { zh: '改变共有部分的用途或者利用共有部分从事经营活动', en: 'changing the use of common parts' },
};

function reasoningFor(r: Omit<TallyResult, 'reasoning'>, approval: Threshold): ReasoningLine[] {
  const area = (v: bigint) => `${formatArea(v)} m²`;
  const areaNum = (v: bigint) => formatArea(v);
  const lines: ReasoningLine[] = [];
  const d = DECISION_TEXT[r.decisionType];
  const need = needText(approval);

  lines.push({
    zh: `表决事项：${d.zh}（《民法典》第二百七十八条：参与表决的专有部分面积和人数均须达三分之二以上；${need.zh.replace(/^须/, '须经参与表决专有部分面积和人数')}的业主同意）。`,
    en: `Decision: ${d.en} (Civil Code art. 278: participation ≥ 2/3 of exclusive area and of headcount; approval ${need.en.replace(/^needs /, '')} of participating area and of participating headcount).`,
  });
  lines.push({
    zh: `表决权人于投票开始时确定：共 ${formatCount(r.totalHeadcount)} 人，专有部分总面积 ${area(BigInt(r.totalArea))}（人数按最高人民法院建筑物区分所有权司法解释第九条计算：一个专有部分按一人计算，建设单位尚未出售和虽已出售但尚未交付的部分合并按一人计算，同一买受人拥有一个以上专有部分的按一人计算）。`,
    en: `Electorate fixed when voting opened: ${formatCount(r.totalHeadcount)} owner-persons holding ${area(BigInt(r.totalArea))} of exclusive area (headcount per SPC interpretation art. 9: one exclusive part one person; a developer's unsold or undelivered parts one person together; one owner of several parts one person).`,
  });
  lines.push({
    zh: `表决情况：同意 ${formatCount(r.agreeHeadcount)} 人（${area(BigInt(r.agreeArea))}），反对 ${formatCount(r.disagreeHeadcount)} 人（${area(BigInt(r.disagreeArea))}），弃权 ${formatCount(r.abstainHeadcount)} 人（${area(BigInt(r.abstainArea))}）；未表决 ${formatCount(r.notVotedHeadcount)} 人（${area(BigInt(r.notVotedArea))}）。弃权计入参与表决，但不计为同意。`,
    en: `Ballots: agree ${formatCount(r.agreeHeadcount)} (${area(BigInt(r.agreeArea))}), disagree ${formatCount(r.disagreeHeadcount)} (${area(BigInt(r.disagreeArea))}), abstain ${formatCount(r.abstainHeadcount)} (${area(BigInt(r.abstainArea))}); not voted ${formatCount(r.notVotedHeadcount)} (${area(BigInt(r.notVotedArea))}). Abstentions count as participation, not as agreement.`,
  });

  const qa = r.quorum.area;
  const qh = r.quorum.headcount;
  const qNeed = needText(QUORUM);
  lines.push({
    zh: `参与表决专有部分面积 ${area(BigInt(qa.part))}，占总面积 ${area(BigInt(qa.whole))} 的 ${formatPercent(qa.part, qa.whole)}；${qNeed.zh}：${comparisonText(qa, areaNum)}，${metText(qa.met).zh}`,
    en: `Participating area: ${area(BigInt(qa.part))} of ${area(BigInt(qa.whole))} = ${formatPercent(qa.part, qa.whole)}; ${qNeed.en}: ${comparisonText(qa, areaNum)}: ${metText(qa.met).en}`,
  });
  lines.push({
    zh: `参与表决人数 ${formatCount(qh.part)} 人，占总人数 ${formatCount(qh.whole)} 人的 ${formatPercent(qh.part, qh.whole)}；${qNeed.zh}：${comparisonText(qh, formatCount)}，${metText(qh.met).zh}`,
    en: `Participating headcount: ${formatCount(qh.part)} of ${formatCount(qh.whole)} = ${formatPercent(qh.part, qh.whole)}; ${qNeed.en}: ${comparisonText(qh, formatCount)}: ${metText(qh.met).en}`,
  });
  lines.push(
    r.quorum.met
      ? { zh: '参与表决的面积和人数均达三分之二以上，表决有效。', en: 'Quorum met: participation ≥ 2/3 of both area and headcount.' }
      : {
          zh: '参与表决的面积和人数未均达三分之二以上，表决未达法定参与要求；以下同意比例仅供参考。',
          en: 'Quorum not met: participation must be ≥ 2/3 of both area and headcount; the approval figures below are for information only.',
        },
  );

  const aa = r.approval.area;
  const ah = r.approval.headcount;
  lines.push({
    zh: `同意的专有部分面积 ${area(BigInt(aa.part))}，占参与表决面积 ${area(BigInt(aa.whole))} 的 ${formatPercent(aa.part, aa.whole)}；${need.zh}：${comparisonText(aa, areaNum)}，${metText(aa.met).zh}`,
    en: `Agreeing area: ${area(BigInt(aa.part))} of participating ${area(BigInt(aa.whole))} = ${formatPercent(aa.part, aa.whole)}; ${need.en}: ${comparisonText(aa, areaNum)}: ${metText(aa.met).en}`,
  });
  lines.push({
    zh: `同意人数 ${formatCount(ah.part)} 人，占参与表决人数 ${formatCount(ah.whole)} 人的 ${formatPercent(ah.part, ah.whole)}；${need.zh}：${comparisonText(ah, formatCount)}，${metText(ah.met).zh}`,
    en: `Agreeing headcount: ${formatCount(ah.part)} of participating ${formatCount(ah.whole)} = ${formatPercent(ah.part, ah.whole)}; ${need.en}: ${comparisonText(ah, formatCount)}: ${metText(ah.met).en}`,
  });

  const outcomeText: Record<Outcome, ReasoningLine> = {
    passed: { zh: '结果：通过。', en: 'Outcome: passed.' },
    rejected: {
      zh: `结果：未通过（同意的面积和人数未均${need.zh.replace(/^须/, '')}）。`,
      en: `Outcome: rejected (agreement is not ${need.en.replace(/^needs /, '')} of both participating area and headcount).`,
    },
    no_quorum: { zh: '结果：未达法定参与人数和面积，表决不成立。', en: 'Outcome: no quorum; the vote does not stand.' },
  };
  lines.push(outcomeText[r.outcome]);
  return lines;
}

// ---------------------------------------------------------------------------------------------
// Public API

export function tally(input: { decisionType: DecisionType; electorate: TallyElectorate; ballots: readonly BallotInput[] }): TallyResult {
  const { decisionType, electorate, ballots } = input;
  approvalThreshold(decisionType); // an unknown decision type is refused before the lists are looked at
  const areaOf = validateElectorate(electorate);
  const { counts } = count(areaOf, ballots);
  return tallyOfCounts({ decisionType, totalArea: electorate.totalArea, totalHeadcount: electorate.totalHeadcount, counts });
}

/** Area and headcount per choice, as count() makes them from the ballots. */
export type TallyCounts = Counts;

/**
 * The tally from the electorate's totals and the figures per choice, already counted (by
 * tally() from its lists, or summed in the database by the service for a live tally, with the
 * same checks). Throws TallyInputError on an empty electorate or figures that cannot come from
 * one (not safe non-negative integers, more taking part than the electorate holds).
 */
export function tallyOfCounts(input: { decisionType: DecisionType; totalArea: number; totalHeadcount: number; counts: TallyCounts }): TallyResult {
  const { decisionType, totalArea, totalHeadcount, counts } = input;
  const approval = approvalThreshold(decisionType);
  const c: Counts = {
    agreeArea: counts.agreeArea,
    agreeHeadcount: counts.agreeHeadcount,
    disagreeArea: counts.disagreeArea,
    disagreeHeadcount: counts.disagreeHeadcount,
    abstainArea: counts.abstainArea,
    abstainHeadcount: counts.abstainHeadcount,
  };
  if (totalHeadcount === 0) throw new TallyInputError('The electorate is empty');
  for (const [name, v] of Object.entries({ totalArea, totalHeadcount, ...c })) {
    if (!Number.isSafeInteger(v) || v < 0) throw new TallyInputError(`${name} must be a non-negative safe integer, got ${String(v)}`);
  }

  const participatingArea = c.agreeArea + c.disagreeArea + c.abstainArea;
  const participatingHeadcount = c.agreeHeadcount + c.disagreeHeadcount + c.abstainHeadcount;
  if (participatingArea > totalArea || participatingHeadcount > totalHeadcount) throw new TallyInputError('More take part than the electorate holds');
  const d = decide(totalArea, totalHeadcount, { participatingArea, participatingHeadcount, agreeArea: c.agreeArea, agreeHeadcount: c.agreeHeadcount }, approval);

  const quorumArea = check(participatingArea, totalArea, QUORUM);
  const quorumHeadcount = check(participatingHeadcount, totalHeadcount, QUORUM);
  const approvalArea = check(c.agreeArea, participatingArea, approval);
  const approvalHeadcount = check(c.agreeHeadcount, participatingHeadcount, approval);

  const result: Omit<TallyResult, 'reasoning'> = {
    decisionType,
    totalArea,
    totalHeadcount,
    participatingArea,
    participatingHeadcount,
    ...c,
    notVotedArea: totalArea - participatingArea,
    notVotedHeadcount: totalHeadcount - participatingHeadcount,
    quorum: { area: quorumArea, headcount: quorumHeadcount, met: d.quorumArea && d.quorumHeadcount },
    approval: { area: approvalArea, headcount: approvalHeadcount, met: d.approvalArea && d.approvalHeadcount },
    outcome: d.outcome,
  };
  return { ...result, reasoning: reasoningFor(result, approval) };
}

/**
 * For an early close: false only when every way the voters who have not voted yet could still
 * act (each of them not voting, agreeing, disagreeing or abstaining) gives the same outcome.
 *
 * Exact, by extremes (each figure below is monotone voter by voter, all in the same direction):
 * - Participation only grows, so quorum is possible iff it is met with every remaining voter
 *   taking part, and certain iff it is already met.
 * - Possible quorum but not certain: no_quorum and a quorate outcome are both reachable → true.
 * - Certain quorum: the approval margins (agree·den − participating·num, area and headcount) move
 *   by +a·(den−num) for an agreeing voter, −a·num for a disagreeing or abstaining one and 0 for
 *   one not voting. So "everyone remaining agrees" maximises both margins at once and "everyone
 *   remaining disagrees" minimises both: the outcome is fixed iff those two agree.
 * - Impossible quorum: no_quorum whatever happens → false.
 * Throws TallyInputError like tally() on unknown or duplicate ballots.
 */
export function canOutcomeStillChange(electorate: TallyElectorate, ballots: readonly BallotInput[], decisionType: DecisionType): boolean {
  const approval = approvalThreshold(decisionType);
  const areaOf = validateElectorate(electorate);
  const { counts: c, voted } = count(areaOf, ballots);
  let remainingArea = 0;
  let remainingHeadcount = 0;
  for (const v of electorate.voters) {
    if (!voted.has(v.voterKey)) {
      remainingArea += v.areaCentiM2;
      remainingHeadcount += 1;
    }
  }
  const { totalArea, totalHeadcount } = electorate;
  const pArea = c.agreeArea + c.disagreeArea + c.abstainArea;
  const pHead = c.agreeHeadcount + c.disagreeHeadcount + c.abstainHeadcount;

  const nobodyMore = decide(totalArea, totalHeadcount, { participatingArea: pArea, participatingHeadcount: pHead, agreeArea: c.agreeArea, agreeHeadcount: c.agreeHeadcount }, approval);
  const allAgree = decide(
    totalArea,
    totalHeadcount,
    { participatingArea: pArea + remainingArea, participatingHeadcount: pHead + remainingHeadcount, agreeArea: c.agreeArea + remainingArea, agreeHeadcount: c.agreeHeadcount + remainingHeadcount },
    approval,
  );
  const allDisagree = decide(
    totalArea,
    totalHeadcount,
    { participatingArea: pArea + remainingArea, participatingHeadcount: pHead + remainingHeadcount, agreeArea: c.agreeArea, agreeHeadcount: c.agreeHeadcount },
    approval,
  );

  // Everyone taking part is 100% participation, so quorum is always reachable while voters
  // remain; this guard only keeps the function total.
  if (allAgree.outcome === 'no_quorum') return false;
  if (nobodyMore.outcome === 'no_quorum') return true; // quorum reachable but not yet certain
  return allAgree.outcome !== allDisagree.outcome;
}
