/**
 * The relay: a request handler on the web-standard Request and Response that a storefront mounts on its own server
 * (Next.js route handlers, Cloudflare-style workers, Deno, Bun; Node's http, Express and Fastify through
 * `@care360/client/node`). It holds the care360 API key server side and passes the browser only what an intake page
 * needs, as the Case Create page's CORS section asks ("there must be a server to relay the request and inject the
 * key"):
 *
 * | relay path (under `basePath`)  | care360                        |
 * | ------------------------------ | ------------------------------ |
 * | `GET /forms`, `/forms/:formId` | the forms API                  |
 * | `GET /promo-codes`             | promo code validation          |
 * | `GET /payments/config`         | the publishable keys           |
 * | `POST /payments/setup`         | a SetupIntent                  |
 * | `POST /payments/intent`        | a PaymentIntent                |
 * | `POST /dynamic-case`           | Case Create                    |
 * | `GET /payments/test-card.js`, `POST /payments/test-card/confirm` | the test card element (simulated mode) |
 *
 * Anything else is 404. Requests must come from an allowed origin (403 otherwise), within a per-visitor rate
 * limit (429) and a body limit (413); only named query parameters and the JSON body are passed on, with the key.
 */

export interface RelayOptions {
  /** Where care360 listens, as the storefront's server reaches it: `https://care360.example.com`. */
  care360Url: string;
  /** The organization's secret API key. It never leaves the storefront's server. */
  apiKey: string;
  /**
   * The origins whose pages may call the relay, exactly as browsers send them: `https://shop.example.com`. A
   * same-origin request without an `Origin` header is accepted when its own origin is in the list.
   */
  allowedOrigins: string[];
  /** The path the relay is mounted at (default `/care360`); requests outside it are 404. */
  basePath?: string;
  /** Requests per visitor per window (default 60 per 60 s); `false` turns the limit off (e.g. behind your own). */
  rateLimit?: { requests: number; windowSeconds: number } | false;
  /** Largest request body in bytes: Case Create (files, base64) and everything else (defaults 8 MiB and 16 KiB). */
  maxBodyBytes?: { caseCreate?: number; other?: number };
  /**
   * Who the visitor is, for the rate limit: by default the `clientAddress` given with each request (the socket
   * address, or what your platform says: `cf-connecting-ip`...). Requests without one share a single budget.
   */
  visitorId?: (request: Request, context: RelayContext) => string | undefined;
  /** How long to wait for care360 (default 30 s); then 504. */
  timeoutMs?: number;
  /** A fetch of your own; the global fetch otherwise. */
  fetch?: typeof globalThis.fetch;
}

export interface RelayContext {
  /** The visitor's address as the host server sees it. */
  clientAddress?: string;
}

export type RelayHandler = (request: Request, context?: RelayContext) => Promise<Response>;

interface Route {
  method: 'GET' | 'POST';
  /** Matched against the path under basePath; the target is built from its groups. */
  pattern: RegExp;
  target: (match: RegExpExecArray) => string;
  /** Query parameters passed on (the others are dropped). */
  query?: string[];
  /** Whether the API key goes with it (the test card element authorizes itself with a client secret). */
  withKey: boolean;
  caseCreate?: boolean;
}

const ROUTES: Route[] = [
  {
    method: 'GET',
    pattern: /^\/forms$/,
    target: () => '/api/v1/forms',
    query: ['title', 'limit', 'cursor'],
    withKey: true,
  },
  {
    method: 'GET',
    pattern: /^\/forms\/([0-9A-Fa-f-]{36})$/,
    target: (match) => `/api/v1/forms/${match[1]}`,
    withKey: true,
  },
  {
    method: 'GET',
    pattern: /^\/promo-codes$/,
    target: () => '/api/v1/promo-codes',
    query: ['code', 'product_bundle_id'],
    withKey: true,
  },
  { method: 'GET', pattern: /^\/payments\/config$/, target: () => '/api/v1/payments/config', withKey: true },
  { method: 'POST', pattern: /^\/payments\/setup$/, target: () => '/api/v1/payments/setup', withKey: true },
  { method: 'POST', pattern: /^\/payments\/intent$/, target: () => '/api/v1/payments/intent', withKey: true },
  {
    method: 'POST',
    pattern: /^\/dynamic-case$/,
    target: () => '/api/v1/dynamic-case',
    withKey: true,
    caseCreate: true,
  },
  { method: 'GET', pattern: /^\/payments\/test-card\.js$/, target: () => '/payments/test-card.js', withKey: false },
  {
    method: 'POST',
    pattern: /^\/payments\/test-card\/confirm$/,
    target: () => '/payments/test-card/confirm',
    withKey: false,
  },
];

/** care360's answer headers that reach the browser; the rest (its rate limits, policies) stay here. */
const PASSED_RESPONSE_HEADERS = ['content-type', 'retry-after', 'x-request-id'];

class RelayRefusal extends Error {
  constructor(
    readonly status: number,
    message: string,
    readonly headers: Record<string, string> = {},
  ) {
    super(message);
  }
}

/** A fixed window per visitor, in memory (one relay process; several processes each count their own). */
class VisitorLimiter {
  private readonly windows = new Map<string, { count: number; resetsAt: number }>();

  constructor(
    private readonly requests: number,
    private readonly windowMs: number,
  ) {}

  /** Seconds to wait when over the limit, else 0 (and the request is counted). */
  take(visitor: string, now = Date.now()): number {
    let window = this.windows.get(visitor);
    if (!window || window.resetsAt <= now) {
      if (this.windows.size >= 50_000) this.sweep(now);
      window = { count: 0, resetsAt: now + this.windowMs };
      this.windows.set(visitor, window);
    }
    if (window.count >= this.requests) return Math.max(1, Math.ceil((window.resetsAt - now) / 1000));
    window.count += 1;
    return 0;
  }

  private sweep(now: number): void {
    for (const [visitor, window] of this.windows) if (window.resetsAt <= now) this.windows.delete(visitor);
  }
}

/** The body, read up to `limit` bytes (413 beyond, whatever Content-Length said). */
async function readBody(request: Request, limit: number): Promise<Uint8Array> {
  const declared = Number(request.headers.get('content-length'));
  if (Number.isFinite(declared) && declared > limit) throw new RelayRefusal(413, 'Request body is too large');
  if (!request.body) return new Uint8Array(0);
  const reader = request.body.getReader();
  const chunks: Uint8Array[] = [];
  let size = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    size += value.byteLength;
    if (size > limit) {
      await reader.cancel().catch(() => undefined);
      throw new RelayRefusal(413, 'Request body is too large');
    }
    chunks.push(value);
  }
  const body = new Uint8Array(size);
  let offset = 0;
  for (const chunk of chunks) {
    body.set(chunk, offset);
    offset += chunk.byteLength;
  }
  return body;
}

function json(status: number, body: unknown, headers: Record<string, string> = {}): Response {
  return new Response(JSON.stringify(body), {
    status,
    headers: { 'content-type': 'application/json; charset=utf-8', 'cache-control': 'no-store', ...headers },
  });
}

/** Makes the relay's request handler. */
export function createRelay(options: RelayOptions): RelayHandler {
  if (!options.apiKey) throw new TypeError('createRelay: apiKey is required');
  const care360 = new URL(options.care360Url);
  const basePath = (options.basePath ?? '/care360').replace(/\/+$/, '');
  const allowed = new Set(options.allowedOrigins.map((origin) => new URL(origin).origin));
  if (allowed.size === 0) throw new TypeError('createRelay: allowedOrigins must name at least one origin');
  const rateLimit = options.rateLimit === undefined ? { requests: 60, windowSeconds: 60 } : options.rateLimit;
  const limiter = rateLimit ? new VisitorLimiter(rateLimit.requests, rateLimit.windowSeconds * 1000) : null;
  const maxCaseCreate = options.maxBodyBytes?.caseCreate ?? 8 * 1024 * 1024;
  const maxOther = options.maxBodyBytes?.other ?? 16 * 1024;
  const timeoutMs = options.timeoutMs ?? 30_000;
  const fetchCare360 = options.fetch ?? globalThis.fetch;

  /** The page's origin: its Origin header, or for a same-origin request without one, the request's own. */
  function originOf(request: Request): string | null {
    const origin = request.headers.get('origin');
    if (origin) return origin;
    return request.headers.get('sec-fetch-site') === 'same-origin' ? new URL(request.url).origin : null;
  }

  function corsHeaders(origin: string): Record<string, string> {
    return { 'access-control-allow-origin': origin, vary: 'Origin' };
  }

  async function forward(request: Request, route: Route, match: RegExpExecArray, url: URL): Promise<Response> {
    const target = new URL(route.target(match), care360);
    for (const name of route.query ?? []) {
      const value = url.searchParams.get(name);
      if (value !== null) target.searchParams.set(name, value);
    }
    const headers = new Headers({ accept: 'application/json' });
    if (route.withKey) headers.set('cv-api-key', options.apiKey);
    let body: Uint8Array | undefined;
    if (route.method === 'POST') {
      const type = request.headers.get('content-type') ?? '';
      body = await readBody(request, route.caseCreate ? maxCaseCreate : maxOther);
      if (body.length > 0 && !/^application\/json\b/i.test(type)) {
        throw new RelayRefusal(415, 'Unsupported Content-Type: send application/json');
      }
      if (body.length > 0) headers.set('content-type', 'application/json');
    }
    let upstream: Response;
    try {
      upstream = await fetchCare360(target, {
        method: route.method,
        headers,
        body: body && body.length > 0 ? (body as BodyInit) : undefined,
        redirect: 'manual',
        signal: AbortSignal.timeout(timeoutMs),
      });
    } catch (error) {
      const timedOut = (error as Error)?.name === 'TimeoutError';
      throw new RelayRefusal(
        timedOut ? 504 : 502,
        timedOut ? 'care360 did not answer in time' : 'care360 is unavailable',
      );
    }
    const passed = new Headers({ 'cache-control': 'no-store' });
    for (const name of PASSED_RESPONSE_HEADERS) {
      const value = upstream.headers.get(name);
      if (value !== null) passed.set(name, value);
    }
    return new Response(upstream.body, { status: upstream.status, headers: passed });
  }

  return async (request, context = {}) => {
    const url = new URL(request.url);
    const path = url.pathname.startsWith(`${basePath}/`) ? url.pathname.slice(basePath.length) : null;
    const candidates = path === null ? [] : ROUTES.filter((route) => route.pattern.test(path));
    if (candidates.length === 0) return json(404, { success: false, error: 'Not found' });

    const origin = originOf(request);
    if (origin === null || !allowed.has(origin)) {
      return json(403, { success: false, error: 'This origin may not use the relay' });
    }
    const cors = corsHeaders(origin);

    if (request.method === 'OPTIONS') {
      return new Response(null, {
        status: 204,
        headers: {
          ...cors,
          'access-control-allow-methods': [...new Set(candidates.map((route) => route.method))].join(', '),
          'access-control-allow-headers': 'content-type',
          'access-control-max-age': '600',
        },
      });
    }
    const route = candidates.find((candidate) => candidate.method === request.method);
    if (!route) {
      return json(405, { success: false, error: 'Method not allowed' }, { ...cors, allow: candidates[0]!.method });
    }

    if (limiter) {
      const visitor = options.visitorId?.(request, context) ?? context.clientAddress ?? 'unknown';
      const wait = limiter.take(visitor);
      if (wait > 0) {
        return json(429, { success: false, error: 'Too many requests' }, { ...cors, 'retry-after': String(wait) });
      }
    }

    try {
      const response = await forward(request, route, route.pattern.exec(path!)!, url);
      for (const [name, value] of Object.entries(cors)) response.headers.set(name, value);
      return response;
    } catch (error) {
      if (error instanceof RelayRefusal) {
        return json(error.status, { success: false, error: error.message }, { ...cors, ...error.headers });
      }
      throw error;
    }
  };
}
