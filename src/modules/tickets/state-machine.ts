/**
 * The ticket status machine of DESIGN.md "Tickets and SLAs", pure:
 *   new → acknowledged → in_progress ⇄ on_hold(reason) → resolved → closed
 *   resolved → reopened → in_progress; any open state → cancelled (reason required).
 */

export const TICKET_STATUSES = ['new', 'acknowledged', 'in_progress', 'on_hold', 'resolved', 'reopened', 'closed', 'cancelled'] as const;
export type TicketStatus = (typeof TICKET_STATUSES)[number];

export const HOLD_REASONS = ['awaiting_parts', 'awaiting_access', 'awaiting_funds'] as const;
export type HoldReason = (typeof HOLD_REASONS)[number];

/** Open = the SLA clock may be running and the ticket can still be cancelled. */
export const OPEN_STATUSES: readonly TicketStatus[] = ['new', 'acknowledged', 'in_progress', 'on_hold', 'reopened'];

const MOVES: Record<TicketStatus, readonly TicketStatus[]> = {
  new: ['acknowledged', 'cancelled'],
  acknowledged: ['in_progress', 'cancelled'],
  in_progress: ['on_hold', 'resolved', 'cancelled'],
  on_hold: ['in_progress', 'cancelled'],
  resolved: ['closed', 'reopened'],
  reopened: ['in_progress', 'cancelled'],
  closed: [],
  cancelled: [],
};

export function allowedMoves(from: TicketStatus): readonly TicketStatus[] {
  return MOVES[from];
}

export type TransitionCheck =
  | { ok: true }
  | { ok: false; kind: 'illegal'; message: string }
  | { ok: false; kind: 'reason_required'; message: string };

/** Whether `from → to` is a legal move, with the reason rules (on_hold and cancelled need one). */
export function checkTransition(from: TicketStatus, to: TicketStatus, reason?: string | null): TransitionCheck {
  if (!MOVES[from].includes(to)) {
    const allowed = MOVES[from];
    return {
      ok: false,
      kind: 'illegal',
      message:
        allowed.length === 0
          ? `A ${from} ticket cannot change status any more`
          : `Cannot move a ticket from ${from} to ${to}; from ${from} it can go to: ${allowed.join(', ')}`,
    };
  }
  if (to === 'on_hold' && !(HOLD_REASONS as readonly string[]).includes(reason ?? '')) {
    return { ok: false, kind: 'reason_required', message: `Putting a ticket on hold needs a reason: ${HOLD_REASONS.join(', ')}` };
  }
  if (to === 'cancelled' && !(reason && reason.trim().length > 0)) {
    return { ok: false, kind: 'reason_required', message: 'Cancelling a ticket needs a reason' };
  }
  return { ok: true };
}

export const isOpen = (s: TicketStatus) => OPEN_STATUSES.includes(s);
