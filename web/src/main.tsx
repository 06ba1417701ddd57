import { render } from 'preact';
import { useEffect, useState } from 'preact/hooks';
import './style.css';
import { get, hasSession, logout, onSessionEnd } from './lib/api.js';
import { lang, onLang, setLang, t, type MsgKey } from './lib/i18n.js';
import { match, navigate, useLocation } from './lib/router.js';
import { fetchMe, rolesOf, saveCommunity, savedCommunity, type Community, type Me, type Role } from './lib/session.js';
import { ErrorBox, Link, Loading, SessionCtx, type Ctx } from './ui.js';
import { LoginPage } from './pages/login.js';
import { PublicReportPage } from './pages/public.js';
import { TicketListPage, TicketDetailPage, ReportFaultPage } from './pages/tickets.js';
import { DashboardPage, AuthorityPage } from './pages/dashboard.js';
import { FacilitiesPage, QrLabelsPage, DutiesPage, InspectionCalendarPage } from './pages/facilities.js';
import { FundListPage, FundNewPage, FundDetailPage, FundNoticePage } from './pages/funds.js';
import { MyBallotsPage, MyLedgerPage } from './pages/owner.js';
import { PATHS } from './routes.js';

type Page = (props: { params: Record<string, string> }) => preact.JSX.Element | null;
interface RouteDef {
  path: string;
  page: Page;
  nav?: MsgKey;
  roles?: Role[];
}

const STAFF: Role[] = ['admin', 'staff', 'contractor'];
const ROUTES: RouteDef[] = [
  { path: PATHS.dashboard, page: DashboardPage, nav: 'nav_dashboard', roles: ['admin', 'staff', 'committee'] },
  { path: PATHS.tickets, page: TicketListPage, nav: 'nav_tickets', roles: [...STAFF, 'committee', 'authority'] },
  { path: PATHS.ticketNew, page: ReportFaultPage },
  { path: PATHS.ticket, page: TicketDetailPage },
  { path: PATHS.facilities, page: FacilitiesPage, nav: 'nav_facilities', roles: ['admin', 'staff', 'committee'] },
  { path: PATHS.qrLabels, page: QrLabelsPage },
  { path: PATHS.duties, page: DutiesPage, nav: 'nav_duties', roles: ['admin', 'staff', 'committee', 'authority'] },
  { path: PATHS.inspections, page: InspectionCalendarPage, nav: 'nav_inspections', roles: ['admin', 'staff', 'contractor', 'committee'] },
  { path: PATHS.funds, page: FundListPage, nav: 'nav_funds', roles: ['admin', 'staff', 'committee', 'authority'] },
  { path: PATHS.fundNew, page: FundNewPage },
  { path: PATHS.fund, page: FundDetailPage },
  { path: PATHS.fundNotice, page: FundNoticePage },
  { path: PATHS.myTickets, page: (p) => <TicketListPage {...p} mine />, nav: 'nav_myTickets', roles: ['owner'] },
  { path: PATHS.myReport, page: ReportFaultPage, nav: 'nav_report', roles: ['owner'] },
  { path: PATHS.myBallots, page: MyBallotsPage, nav: 'nav_ballots', roles: ['owner'] },
  { path: PATHS.myLedger, page: MyLedgerPage, nav: 'nav_ledger', roles: ['owner'] },
  { path: PATHS.authority, page: AuthorityPage, nav: 'nav_authority', roles: ['authority', 'admin'] },
];

function homeFor(roles: Role[]): string {
  if (roles.includes('staff') || roles.includes('admin')) return '/dashboard';
  if (roles.includes('contractor')) return '/tickets';
  if (roles.includes('committee')) return '/funds';
  if (roles.includes('authority')) return '/authority';
  if (roles.includes('owner')) return '/my/ballots';
  return '/tickets';
}

function LangSwitch() {
  return (
    <button type="button" class="lang" data-testid="lang-switch" onClick={() => setLang(lang === 'en' ? 'zh-CN' : 'en')}>
      {t('switchLang')}
    </button>
  );
}

function Redirect({ to }: { to: string }) {
  useEffect(() => navigate(to, true), [to]);
  return <Loading />;
}

function NotFound() {
  return (
    <div class="card">
      <h1>{t('notFoundPage')}</h1>
      <Link href="/">{t('home')}</Link>
    </div>
  );
}

function Shell({ ctx, path }: { ctx: Ctx; path: string }) {
  const nav = ROUTES.filter((r) => r.nav && r.roles?.some((x) => ctx.roles.includes(x)));
  let found: { route: RouteDef; params: Record<string, string> } | null = null;
  for (const route of ROUTES) {
    const params = match(route.path, path);
    if (params) {
      found = { route, params };
      break;
    }
  }
  const needsCommunity = ctx.communities.length > 1;
  // The deepest nav entry containing this page (a ticket's page belongs to 工单).
  const active = nav.filter((r) => path === r.path || path.startsWith(`${r.path}/`)).sort((a, b) => b.path.length - a.path.length)[0];
  return (
    <div class="shell">
      <header class="top">
        <Link href="/" class="brand">
          {t('appName')}
        </Link>
        {needsCommunity && (
          <select aria-label={t('community')} value={ctx.communityId ?? ''} onChange={(e) => ctx.setCommunity((e.target as HTMLSelectElement).value)}>
            {ctx.communities.map((c) => (
              <option key={c.id} value={c.id}>
                {c.name}
              </option>
            ))}
          </select>
        )}
        {!needsCommunity && ctx.communities[0] && <span class="community-name">{ctx.communities[0].name}</span>}
        <span class="spacer" />
        <span class="who" data-testid="who">
          {ctx.me.name} · {ctx.roles.map((r) => t(`role_${r}` as MsgKey)).join(' / ')}
        </span>
        <LangSwitch />
        <button
          type="button"
          class="link"
          onClick={async () => {
            await logout();
            navigate('/login', true);
          }}
        >
          {t('logout')}
        </button>
      </header>
      <nav class="nav">
        {nav.map((r) => (
          <Link key={r.path} href={r.path} class={r === active ? 'active' : ''}>
            {t(r.nav as MsgKey)}
          </Link>
        ))}
      </nav>
      <main class="main">{found ? <found.route.page params={found.params} /> : <NotFound />}</main>
    </div>
  );
}

function App() {
  const { path } = useLocation();
  const [, setLangTick] = useState(0);
  useEffect(() => onLang(() => setLangTick((n) => n + 1)), []);
  const [session, setSession] = useState<{ me: Me; communities: Community[] } | null>(null);
  const [error, setError] = useState<unknown>(null);
  const [communityId, setCommunityId] = useState<string | null>(savedCommunity());
  const [loadTick, setLoadTick] = useState(0);

  const isPublic = path.startsWith('/q/');
  const isLogin = path === '/login';

  useEffect(() => onSessionEnd(() => {
    setSession(null);
    navigate('/login', true);
  }), []);

  useEffect(() => {
    if (isPublic || isLogin) return;
    if (!hasSession()) {
      navigate(`/login?next=${encodeURIComponent(location.pathname + location.search)}`, true);
      return;
    }
    let live = true;
    (async () => {
      const me = await fetchMe();
      const roles = rolesOf(me);
      // Staff, committees and authorities list what they may see; an owner has their own.
      const communities: Community[] = roles.some((r) => r !== 'owner')
        ? (await get<{ items: Community[] }>('/communities', { limit: 100 })).items
        : await Promise.all([...new Set(me.ownerOf.map((o) => o.communityId))].map((id) => get<Community>(`/communities/${id}`)));
      if (!live) return;
      setSession({ me, communities });
      setError(null);
      const current = communities.find((c) => c.id === communityId) ?? communities[0];
      if (current && current.id !== communityId) setCommunityId(current.id);
      if (me.locale === 'en' && !localStorage.getItem('upkeep.lang')) setLang('en');
      if (location.pathname === '/') navigate(homeFor(roles), true);
    })().catch((e: unknown) => live && setError(e));
    return () => {
      live = false;
    };
  }, [isPublic, isLogin, loadTick]);

  if (isPublic) {
    const token = path.slice(3);
    return (
      <div class="public">
        <div class="public-lang">
          <LangSwitch />
        </div>
        <PublicReportPage token={decodeURIComponent(token)} />
      </div>
    );
  }
  if (isLogin) return <LoginPage onLoggedIn={() => setLoadTick((n) => n + 1)} langSwitch={<LangSwitch />} />;
  if (error) return <main class="main"><ErrorBox error={error} onRetry={() => setLoadTick((n) => n + 1)} /></main>;
  if (!session) return <Loading />;
  const roles = rolesOf(session.me);
  if (path === '/') return <Redirect to={homeFor(roles)} />;
  const ctx: Ctx = {
    me: session.me,
    roles,
    communities: session.communities,
    communityId,
    setCommunity: (id) => {
      saveCommunity(id);
      setCommunityId(id);
    },
    reloadMe: () => setLoadTick((n) => n + 1),
  };
  return (
    <SessionCtx.Provider value={ctx}>
      <Shell ctx={ctx} path={path} />
    </SessionCtx.Provider>
  );
}

render(<App />, document.getElementById('app') as HTMLElement);
