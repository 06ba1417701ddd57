/**
 * The console's client-side paths. The API serves index.html for exactly these (CONSOLE_PATHS in
 * src/plugins/web.ts, kept equal by tests/e2e/console.test.ts), so an unknown path stays a 404
 * and an API path is never shadowed.
 */
export const PATHS = {
  home: '/',
  login: '/login',
  publicReport: '/q/:token',
  dashboard: '/dashboard',
  tickets: '/tickets',
  ticketNew: '/tickets/new',
  ticket: '/tickets/:id',
  facilities: '/facilities',
  qrLabels: '/facilities/labels',
  duties: '/duties',
  inspections: '/inspections',
  funds: '/funds',
  fundNew: '/funds/new',
  fund: '/funds/:id',
  fundNotice: '/funds/:id/notice',
  myTickets: '/my/tickets',
  myReport: '/my/report',
  myBallots: '/my/ballots',
  myLedger: '/my/ledger',
  authority: '/authority',
} as const;
