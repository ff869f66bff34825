import type { RouteOptions } from 'fastify';

type RouteHookName = 'onRequest' | 'preValidation' | 'onResponse';

/**
 * Adds a hook to one route, from an `onRoute` hook: it runs only on the routes that need it (a hook of the
 * whole app runs, and costs, on every request), after the app-wide hooks of its kind and after the hooks
 * added before it, in the order the `onRoute` hooks were registered.
 */
export function appendRouteHook<Name extends RouteHookName>(
  route: RouteOptions,
  name: Name,
  hook: NonNullable<RouteOptions[Name]> extends infer Hooks
    ? Hooks extends readonly (infer One)[]
      ? One
      : Hooks
    : never,
): void {
  const existing = route[name] as unknown;
  (route as Record<RouteHookName, unknown>)[name] = [
    ...(Array.isArray(existing) ? existing : existing ? [existing] : []),
    hook,
  ];
}
