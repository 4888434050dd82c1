import { lazy, Suspense, useEffect, useRef, type ComponentType, type LazyExoticComponent } from 'react';
import type { Scope } from './api/client';
import { Loading } from './components/states';
import { useLiveState } from './live';
import { LoginPage } from './pages/login';
import { Link, navigate, useLocation } from './router';
import { useSession } from './session';

interface Page {
  /** `/messages/:id` style: a segment starting with ':' matches any one segment. */
  path: string;
  title: string;
  /** In the navigation when set. */
  nav?: string;
  /** The key needs one of these; others never see the page or its link. */
  scopes: Scope[];
  component: LazyExoticComponent<ComponentType<{ params: Record<string, string> }>>;
}

const page = (load: () => Promise<{ default: ComponentType<{ params: Record<string, string> }> }>) => lazy(load);

const PAGES: Page[] = [
  { path: '/', title: 'Overview', nav: 'Overview', scopes: ['read'], component: page(() => import('./pages/overview')) },
  { path: '/messages', title: 'Messages', nav: 'Messages', scopes: ['read'], component: page(() => import('./pages/messages')) },
  { path: '/messages/:id', title: 'Message', scopes: ['read'], component: page(() => import('./pages/message-detail')) },
  { path: '/batches', title: 'Batches', nav: 'Batches', scopes: ['read'], component: page(() => import('./pages/batches')) },
  { path: '/compose', title: 'Compose', nav: 'Compose', scopes: ['sms:send', 'otp'], component: page(() => import('./pages/compose')) },
  { path: '/templates', title: 'Templates', nav: 'Templates', scopes: ['read'], component: page(() => import('./pages/templates')) },
  { path: '/providers', title: 'Providers', nav: 'Providers', scopes: ['read'], component: page(() => import('./pages/providers')) },
  { path: '/keys', title: 'API keys', nav: 'API keys', scopes: ['admin'], component: page(() => import('./pages/keys')) },
  { path: '/opt-outs', title: 'Opt-outs', nav: 'Opt-outs', scopes: ['read'], component: page(() => import('./pages/opt-outs')) },
  { path: '/audit', title: 'Audit log', nav: 'Audit log', scopes: ['admin'], component: page(() => import('./pages/audit')) },
];

function match(pattern: string, path: string): Record<string, string> | undefined {
  const want = pattern.split('/');
  const got = path.split('/');
  if (want.length !== got.length) return undefined;
  const params: Record<string, string> = {};
  for (let i = 0; i < want.length; i++) {
    if (want[i].startsWith(':')) params[want[i].slice(1)] = decodeURIComponent(got[i]);
    else if (want[i] !== got[i]) return undefined;
  }
  return params;
}

const LIVE_TEXT = { off: '', connecting: 'Connecting…', live: 'Live', reconnecting: 'Reconnecting…' } as const;

export function App() {
  const { session, can, logOut } = useSession();
  const { path } = useLocation();
  const live = useLiveState();
  const heading = useRef<HTMLHeadingElement>(null);

  const found = PAGES.map((p) => ({ page: p, params: match(p.path, path) })).find((m) => m.params !== undefined);
  const allowed = found && found.page.scopes.some(can);
  const title = !session ? 'Log in' : found ? (allowed ? found.page.title : 'Not available') : 'Not found';

  // A new page: its title for the tab, and focus to its heading for keyboard and screen-reader users.
  useEffect(() => {
    document.title = `${title} · SMS gateway`;
  }, [title]);
  const first = useRef(true);
  useEffect(() => {
    if (first.current) {
      first.current = false;
      return;
    }
    heading.current?.focus();
  }, [path]);

  // A key that may not read the overview lands on the first page it may use.
  useEffect(() => {
    if (!session || path !== '/' || allowed) return;
    const fallback = PAGES.find((p) => p.nav && p.scopes.some(can));
    if (fallback) navigate(fallback.path, { replace: true });
  }, [session, path, allowed, can]);

  if (!session) return <LoginPage />;
  const Component = found?.page.component;
  return (
    <div className="shell">
      <a className="skip" href="#main">Skip to content</a>
      <header className="top">
        <span className="brand">SMS gateway</span>
        <span className={`live ${live}`} role="status" aria-live="polite">{LIVE_TEXT[live]}</span>
        <span className="who">{session.keyId ?? 'operator (no key)'} · {session.scopes.join(', ')}</span>
        <button type="button" className="link-button" onClick={logOut}>Log out</button>
      </header>
      <nav className="side" aria-label="Dashboard">
        <ul>
          {PAGES.filter((p) => p.nav && p.scopes.some(can)).map((p) => {
            const current = p.path === '/' ? path === '/' : path === p.path || path.startsWith(`${p.path}/`);
            return <li key={p.path}><Link to={p.path} aria-current={current ? 'page' : undefined}>{p.nav}</Link></li>;
          })}
        </ul>
      </nav>
      <main id="main">
        <h1 ref={heading} tabIndex={-1}>{title}</h1>
        {!found && <p className="state">No dashboard page at this address. <Link to="/">Go to the overview</Link>.</p>}
        {found && !allowed && <p className="state">This key ({session.scopes.join(', ')}) may not use this page.</p>}
        {Component && allowed && (
          <Suspense fallback={<Loading what="the page" />}>
            <Component params={found.params!} />
          </Suspense>
        )}
      </main>
    </div>
  );
}
