import type { FundStatus } from '../../db/types.js';

/**
 * The fund request status machine (DESIGN.md "Fund requests"), pure:
 *   draft → voting → (passed | rejected | no_quorum) → public_notice → approved → in_works
 *   → accepted → settled → closed, plus withdrawn;
 *   emergency: draft → emergency_review → approved → … (no owners' vote; noticed after the fact).
 * Each move names who may make it; the service maps the actor's stances to these roles.
 */

export type FundRole = 'proposer' | 'committee' | 'approver' | 'works' | 'system';

export interface FundMove {
  to: FundStatus;
  /** Any of these roles may make the move. */
  by: readonly FundRole[];
}

const MOVES: Record<FundStatus, readonly FundMove[]> = {
  draft: [
    { to: 'voting', by: ['committee'] },
    { to: 'emergency_review', by: ['proposer', 'committee'] },
    { to: 'withdrawn', by: ['proposer', 'committee'] },
  ],
  // The result comes from the tally at the deadline (or early, when it can no longer change).
  voting: [
    { to: 'passed', by: ['system'] },
    { to: 'rejected', by: ['system'] },
    { to: 'no_quorum', by: ['system'] },
    { to: 'withdrawn', by: ['committee'] },
  ],
  passed: [
    { to: 'public_notice', by: ['committee'] },
    { to: 'withdrawn', by: ['proposer', 'committee'] },
  ],
  rejected: [{ to: 'public_notice', by: ['committee'] }],
  no_quorum: [{ to: 'public_notice', by: ['committee'] }],
  // After the notice: a passed request is approved (or withdrawn); a failed one closes.
  public_notice: [
    { to: 'approved', by: ['approver'] },
    { to: 'closed', by: ['committee', 'system'] },
    { to: 'withdrawn', by: ['proposer', 'committee'] },
  ],
  emergency_review: [
    { to: 'approved', by: ['approver'] },
    { to: 'withdrawn', by: ['proposer', 'committee'] },
  ],
  approved: [
    { to: 'in_works', by: ['committee', 'works'] },
    { to: 'withdrawn', by: ['committee'] },
  ],
  in_works: [{ to: 'accepted', by: ['committee'] }],
  accepted: [{ to: 'settled', by: ['committee', 'approver'] }],
  settled: [{ to: 'closed', by: ['committee'] }],
  closed: [],
  withdrawn: [],
};

export function fundMoves(from: FundStatus): readonly FundMove[] {
  return MOVES[from];
}

export type FundMoveCheck = { ok: true } | { ok: false; kind: 'illegal' | 'forbidden'; message: string };

export function checkFundMove(from: FundStatus, to: FundStatus, roles: ReadonlySet<FundRole>): FundMoveCheck {
  const move = MOVES[from].find((m) => m.to === to);
  if (!move) {
    const allowed = MOVES[from].filter((m) => !m.by.every((r) => r === 'system')).map((m) => m.to);
    return {
      ok: false,
      kind: 'illegal',
      message: allowed.length ? `A ${from} request cannot move to ${to}; it can go to: ${allowed.join(', ')}` : `A ${from} request cannot change status any more`,
    };
  }
  if (!move.by.some((r) => roles.has(r))) {
    return { ok: false, kind: 'forbidden', message: `Moving a ${from} request to ${to} is for: ${move.by.filter((r) => r !== 'system').join(', ') || 'the system (at the vote deadline)'}` };
  }
  return { ok: true };
}

/** Sum of funding sources equals the budget, exactly, in cents. */
export function fundingMatchesBudget(budgetCents: number, funding: ReadonlyArray<{ amountCents: number }>): boolean {
  return funding.reduce((s, f) => s + BigInt(f.amountCents), 0n) === BigInt(budgetCents);
}

/**
 * The maintenance fund's share of the actual cost: the same proportion as in the budget,
 * rounded down to the cent (the other sources absorb the remainder cent).
 */
export function fundShareOfActual(actualCostCents: number, budgetCents: number, fundBudgetCents: number): number {
  if (budgetCents <= 0) return 0;
  return Number((BigInt(actualCostCents) * BigInt(fundBudgetCents)) / BigInt(budgetCents));
}
