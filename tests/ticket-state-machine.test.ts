import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { HOLD_REASONS, OPEN_STATUSES, TICKET_STATUSES, allowedMoves, checkTransition, isOpen, type TicketStatus } from '../src/modules/tickets/state-machine.js';

/**
 * The pure ticket status machine (DESIGN.md "Tickets and SLAs"), checked against an independent
 * transcription of the design and with random walks.
 */

//  new → acknowledged → in_progress ⇄ on_hold(reason) → resolved → closed
//  resolved → reopened → in_progress; any open state → cancelled (reason required)
const DESIGN: Record<TicketStatus, readonly TicketStatus[]> = {
  new: ['acknowledged', 'cancelled'],
  acknowledged: ['in_progress', 'cancelled'],
  in_progress: ['on_hold', 'resolved', 'cancelled'],
  on_hold: ['in_progress', 'cancelled'],
  resolved: ['closed', 'reopened'],
  reopened: ['in_progress', 'cancelled'],
  closed: [],
  cancelled: [],
};
const TERMINAL: readonly TicketStatus[] = ['closed', 'cancelled'];

/** Reasons worth trying: none, every hold reason, blank, free text and near misses. */
const reasonArb = fc.oneof(
  fc.constant(undefined),
  fc.constant(null),
  fc.constantFrom(...HOLD_REASONS),
  fc.constantFrom('', '   ', '\t', 'AWAITING_PARTS', 'awaiting_parts ', 'resolved', 'duplicate report'),
  fc.string({ maxLength: 20 }),
);
const statusArb = fc.constantFrom(...TICKET_STATUSES);
const stepArb = fc.record({ to: statusArb, reason: reasonArb });

function reasonAccepted(to: TicketStatus, reason: string | null | undefined): boolean {
  if (to === 'on_hold') return (HOLD_REASONS as readonly string[]).includes(reason ?? '');
  if (to === 'cancelled') return typeof reason === 'string' && reason.trim().length > 0;
  return true;
}

describe('ticket state machine (pure)', () => {
  it('allowedMoves is exactly the machine of DESIGN.md', () => {
    for (const from of TICKET_STATUSES) expect([...allowedMoves(from)].sort(), from).toEqual([...DESIGN[from]].sort());
  });

  it('every status is reachable from new, and closed/cancelled are terminal', () => {
    const seen = new Set<TicketStatus>(['new']);
    const queue: TicketStatus[] = ['new'];
    while (queue.length > 0) {
      const s = queue.shift() as TicketStatus;
      for (const to of allowedMoves(s)) {
        if (!seen.has(to)) {
          seen.add(to);
          queue.push(to);
        }
      }
    }
    expect([...seen].sort()).toEqual([...TICKET_STATUSES].sort());
    for (const s of TERMINAL) expect(allowedMoves(s)).toEqual([]);
  });

  it('the open states are exactly those that can still be cancelled', () => {
    for (const s of TICKET_STATUSES) {
      expect(isOpen(s), s).toBe(allowedMoves(s).includes('cancelled'));
      expect(OPEN_STATUSES.includes(s), s).toBe(isOpen(s));
    }
  });

  it('checkTransition agrees with allowedMoves and the reason rules, for every pair and reason', () => {
    fc.assert(
      fc.property(statusArb, statusArb, reasonArb, (from, to, reason) => {
        const check = checkTransition(from, to, reason);
        const legal = allowedMoves(from).includes(to);
        if (!legal) {
          expect(check).toMatchObject({ ok: false, kind: 'illegal' });
          if (check.ok) return;
          // The message names the moves that are allowed (or says there are none).
          for (const m of allowedMoves(from)) expect(check.message).toContain(m);
          if (allowedMoves(from).length === 0) expect(check.message).toMatch(/cannot change status/);
        } else if (reasonAccepted(to, reason)) {
          expect(check).toEqual({ ok: true });
        } else {
          expect(check).toMatchObject({ ok: false, kind: 'reason_required' });
        }
      }),
      { numRuns: 2_000 },
    );
  });

  it('random walks from new never leave the machine, and nothing leaves closed or cancelled', () => {
    fc.assert(
      fc.property(fc.array(stepArb, { maxLength: 60 }), (steps) => {
        let s: TicketStatus = 'new';
        const trace: TicketStatus[] = [s];
        for (const { to, reason } of steps) {
          const before = s;
          const check = checkTransition(s, to, reason);
          if (check.ok) {
            expect(allowedMoves(s)).toContain(to);
            s = to;
          }
          expect(TICKET_STATUSES).toContain(s);
          if (TERMINAL.includes(before)) expect(s).toBe(before);
          trace.push(s);
        }
        // Once terminal, always terminal (and the same one).
        const firstTerminal = trace.findIndex((x) => TERMINAL.includes(x));
        if (firstTerminal >= 0) expect(new Set(trace.slice(firstTerminal)).size).toBe(1);
      }),
      { numRuns: 1_000 },
    );
  });

  it('walks driven only by legal moves (with a good reason) always succeed and end terminal or open/resolved', () => {
    fc.assert(
      fc.property(fc.array(fc.nat(), { maxLength: 40 }), (choices) => {
        let s: TicketStatus = 'new';
        for (const c of choices) {
          const moves = allowedMoves(s);
          if (moves.length === 0) break;
          const to = moves[c % moves.length] as TicketStatus;
          const reason = to === 'on_hold' ? HOLD_REASONS[c % HOLD_REASONS.length] : to === 'cancelled' ? 'no longer needed' : undefined;
          expect(checkTransition(s, to, reason)).toEqual({ ok: true });
          s = to;
        }
        expect(isOpen(s) || s === 'resolved' || TERMINAL.includes(s)).toBe(true);
      }),
    );
  });
});
