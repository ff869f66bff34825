import { useEffect, useState } from 'react';

/** The console's pages, from the path under /console (the server answers the same page for each). */
export type Route =
  { page: 'queue' } | { page: 'case'; caseId: string } | { page: 'set-password' } | { page: 'operator'; path: string };

const BASE = '/console';

export function routeOf(pathname: string): Route {
  if (/^\/console\/set-password\/?$/.test(pathname)) return { page: 'set-password' };
  const operator = /^\/console\/operator(?:\/(.*))?$/.exec(pathname);
  if (operator) return { page: 'operator', path: (operator[1] ?? '').replace(/\/$/, '') };
  const match = /^\/console\/cases\/([^/]+)\/?$/.exec(pathname);
  return match ? { page: 'case', caseId: decodeURIComponent(match[1]!) } : { page: 'queue' };
}

export const hrefOf = (route: Route): string =>
  route.page === 'case'
    ? `${BASE}/cases/${encodeURIComponent(route.caseId)}`
    : route.page === 'set-password'
      ? `${BASE}/set-password`
      : route.page === 'operator'
        ? `${BASE}/operator/${route.path}`
        : `${BASE}/`;

export function navigate(route: Route): void {
  history.pushState(null, '', hrefOf(route));
  window.dispatchEvent(new PopStateEvent('popstate'));
}

export function useRoute(): Route {
  const [route, setRoute] = useState(() => routeOf(location.pathname));
  useEffect(() => {
    const update = () => setRoute(routeOf(location.pathname));
    window.addEventListener('popstate', update);
    return () => window.removeEventListener('popstate', update);
  }, []);
  return route;
}
