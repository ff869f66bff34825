import createClient, { type Middleware } from 'openapi-fetch';
import type { paths } from '../../packages/client/src/generated/openapi.ts';

/**
 * The staff API through the client typed from /openapi.json (packages/client generates the types before every type
 * check), so a route or schema change breaks `npm run typecheck`, not the page.
 *
 * The session is the HttpOnly cookie the sign-in sets (Path=/staff): scripts never see it. Writes carry the
 * session's CSRF token, which the sign-in answers; it is kept for this tab only (sessionStorage), and no PHI is
 * ever stored in the browser: answers are no-store and live only in memory (TanStack Query's cache).
 */
const CSRF_KEY = 'care360.console.csrf';

export const csrf = {
  get: (): string | null => sessionStorage.getItem(CSRF_KEY),
  set: (token: string) => sessionStorage.setItem(CSRF_KEY, token),
  clear: () => sessionStorage.removeItem(CSRF_KEY),
};

/** Called when the API answers 401: the session ended (signed out elsewhere, expired, revoked). */
let onSignedOut: () => void = () => undefined;
export function whenSignedOut(listener: () => void): void {
  onSignedOut = listener;
}

const session: Middleware = {
  onRequest({ request }) {
    const token = csrf.get();
    if (request.method !== 'GET' && token) request.headers.set('x-csrf-token', token);
    return request;
  },
  onResponse({ response, request }) {
    if (response.status === 401 && !request.url.endsWith('/staff/v1/auth/login')) onSignedOut();
    return response;
  },
};

export const api = createClient<paths>({ baseUrl: location.origin, credentials: 'same-origin', cache: 'no-store' });
api.use(session);

/** The message of a refused call, from the API's envelope (`message` or `error`). */
export class ApiFailure extends Error {
  constructor(
    readonly status: number,
    message: string,
    readonly body: unknown,
  ) {
    super(message);
  }
}

export function failure(response: Response, body: unknown): ApiFailure {
  const fields = (body ?? {}) as { message?: unknown; error?: unknown };
  const text =
    typeof fields.message === 'string' ? fields.message : typeof fields.error === 'string' ? fields.error : '';
  return new ApiFailure(response.status, text || `The server answered ${response.status}`, body);
}

/** The data of a call, or its envelope's error thrown as an ApiFailure. */
export async function data<T>(call: Promise<{ data?: T; error?: unknown; response: Response }>): Promise<T> {
  const result = await call;
  if (!result.response.ok || result.data === undefined) throw failure(result.response, result.error);
  return result.data;
}

type Get<Path extends keyof paths> = paths[Path] extends {
  get: { responses: { 200: { content: { 'application/json': infer Body } } } };
}
  ? Body
  : never;

export type Me = Get<'/staff/v1/me'>;
export type Queue = Get<'/staff/v1/cases'>;
export type QueueItem = Queue['cases'][number];
export type CaseRead = Get<'/staff/v1/cases/{caseId}'>;
export type CaseDetail = CaseRead['caseDetail'];
export type DecisionBody = NonNullable<
  paths['/staff/v1/cases/{caseId}/decisions']['post']['requestBody']
>['content']['application/json'];
export const CASE_STATUSES = [
  'OPEN',
  'ASSIGNED',
  'IN_PROGRESS',
  'APPROVED',
  'REJECTED',
  'NO_DECISION',
  'ABANDONED',
] as const satisfies readonly QueueItem['status'][];
