import { createHash, timingSafeEqual } from 'node:crypto';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { OrganizationService } from '../modules/organizations/service.ts';
import { isGeneratedApiKey } from '../modules/organizations/api-keys.ts';
import type { Principal } from '../modules/organizations/repository.ts';
import { envelopeOf } from './error-handler.ts';
import { appendRouteHook } from './route-hooks.ts';

type AuthMode = 'apiKey' | 'admin' | 'bodyKey';

declare module 'fastify' {
  interface FastifyContextConfig {
    /**
     * `apiKey`: the `cv-api-key` header names the organization. `admin`: the ADMIN_TOKEN bearer.
     * `bodyKey`: the key is the JSON body's `key` field (legacy initiatePayment); checked once the body is parsed.
     */
    auth?: AuthMode;
    /**
     * On an `apiKey` route whose one successful outcome is a write that checks the key itself (the
     * intake: `activeKeyCondition`): a key read as active moments ago is not read again for the request
     * (`request.principal.unconfirmed`). Its errors confirm the key before they are sent (error-handler.ts).
     */
    keyConfirmedByWrite?: boolean;
  }
  interface FastifyRequest {
    /** Set on `auth: 'apiKey'` routes: the only source of the organization id. */
    principal: Principal;
  }
}

/**
 * The secrets whose failures are counted apart: API keys (a stale key of one clinic must not lock the operator
 * out of the admin API behind the same address) and the ADMIN_TOKEN.
 */
export type AuthenticationKind = 'apiKey' | 'admin';

/**
 * Where failed authentications are counted: this in-memory limiter by default, or one shared by all
 * server processes through Redis when REDIS_URL is set (RedisAuthFailureLimiter in rate-limit.ts).
 */
export interface FailedAuthenticationLimiter {
  /** Seconds until this address may try this kind of secret again freely, or 0 when it may now. */
  retryAfterSeconds(address: string, kind: AuthenticationKind): number | Promise<number>;
  recordFailure(address: string, kind: AuthenticationKind): void | Promise<void>;
}

/**
 * Counts failed authentications per client address and kind of secret in a fixed window. After `limit`
 * failures the address is limited until the window ends (see registerAuthentication for what that refuses).
 */
export class AuthFailureLimiter implements FailedAuthenticationLimiter {
  private readonly windows = new Map<string, { count: number; resetsAt: number }>();

  constructor(
    private readonly limit: number,
    private readonly windowMs: number,
  ) {}

  retryAfterSeconds(address: string, kind: AuthenticationKind, now = Date.now()): number {
    const window = this.windows.get(`${kind} ${address}`);
    if (!window || window.resetsAt <= now) return 0;
    return window.count >= this.limit ? Math.ceil((window.resetsAt - now) / 1000) : 0;
  }

  recordFailure(address: string, kind: AuthenticationKind, now = Date.now()): void {
    const key = `${kind} ${address}`;
    const window = this.windows.get(key);
    if (!window || window.resetsAt <= now) {
      this.windows.set(key, { count: 1, resetsAt: now + this.windowMs });
      if (this.windows.size > 100_000) this.sweep(now);
    } else {
      window.count += 1;
    }
  }

  private sweep(now: number): void {
    for (const [address, window] of this.windows) if (window.resetsAt <= now) this.windows.delete(address);
  }
}

function sameSecret(given: string, expected: string): boolean {
  const digest = (value: string) => createHash('sha256').update(value).digest();
  return timingSafeEqual(digest(given), digest(expected));
}

function bearerToken(request: FastifyRequest): string | undefined {
  const header = request.headers.authorization;
  const match = typeof header === 'string' ? /^Bearer\s+(.+)$/i.exec(header.trim()) : null;
  return match?.[1];
}

export function registerAuthentication(
  app: FastifyInstance,
  options: {
    organizations: OrganizationService;
    limiter: FailedAuthenticationLimiter;
    adminToken: string | undefined;
  },
): void {
  app.decorateRequest('principal', null as unknown as Principal);

  // A limiter that cannot answer must not lock everyone out: it counts as "may try now". The in-memory limiter
  // answers at once (and the Redis one falls back to memory at once), and then nothing is awaited.
  const retryAfterSeconds = (request: FastifyRequest, kind: AuthenticationKind): number | Promise<number> => {
    const unavailable = (error: unknown) => {
      request.log.warn({ err: error }, 'failed-authentication limiter unavailable');
      return 0;
    };
    try {
      const answer = options.limiter.retryAfterSeconds(request.ip, kind);
      return typeof answer === 'number' ? answer : answer.catch(unavailable);
    } catch (error) {
      return unavailable(error);
    }
  };

  const reject = async (
    request: FastifyRequest,
    reply: FastifyReply,
    kind: AuthenticationKind,
    reason: 'missing' | 'invalid' = 'invalid',
  ) => {
    try {
      await options.limiter.recordFailure(request.ip, kind);
    } catch (error) {
      request.log.warn({ err: error }, 'failed-authentication limiter unavailable');
    }
    return reply.code(401).send(envelopeOf(request).unauthorized(reason));
  };

  const tooManyFailures = (request: FastifyRequest, reply: FastifyReply, retryAfter: number) =>
    reply
      .code(429)
      .header('retry-after', String(retryAfter))
      .send(envelopeOf(request).error(429, 'Too many failed authentication attempts; try again later'));

  /**
   * An API key, from the header or the body. From an address over its failure limit, a valid key is still
   * served: the failures were not its own (an agency behind one address, one clinic's stale key). A key is
   * checked there only when it has the form of the keys we generate (256 random bits: a guess at one is
   * hopeless, limit or not); anything else, an operator-chosen BOOTSTRAP_API_KEY included, gets the 429
   * unchecked. A key that fails there gets the 429 too, and counts no further failure.
   */
  const acceptKey = async (
    request: FastifyRequest,
    reply: FastifyReply,
    apiKey: string | undefined,
    retryAfter: number,
    confirmedByWrite = false,
  ) => {
    const limited = retryAfter > 0;
    if (limited && !(apiKey && isGeneratedApiKey(apiKey))) return tooManyFailures(request, reply, retryAfter);
    const principal = apiKey ? await options.organizations.authenticate(apiKey, { confirmedByWrite }) : null;
    if (principal) {
      request.principal = principal;
      return;
    }
    if (limited) return tooManyFailures(request, reply, retryAfter);
    return reject(request, reply, 'apiKey', apiKey ? 'invalid' : 'missing');
  };

  /** Limited addresses of `bodyKey` requests, whose key is known only once the body is parsed. */
  const bodyKeyLimits = new WeakMap<FastifyRequest, number>();

  // onRequest: before the body is read or validated, so an unauthenticated caller learns nothing. Made per
  // route, with the route's settings at hand (request.routeOptions builds a new object at every read).
  const authenticatorFor =
    (mode: AuthMode, confirmedByWrite: boolean) => async (request: FastifyRequest, reply: FastifyReply) => {
      const kind = mode === 'admin' ? 'admin' : 'apiKey';
      const pending = retryAfterSeconds(request, kind);
      const retryAfter = typeof pending === 'number' ? pending : await pending;

      if (mode === 'admin') {
        // The admin token is one operator-chosen secret: its own failures limit it, whatever is presented.
        if (retryAfter > 0) return tooManyFailures(request, reply, retryAfter);
        const token = bearerToken(request);
        if (!options.adminToken || !token || !sameSecret(token, options.adminToken)) {
          return reject(request, reply, 'admin');
        }
        return;
      }

      // The body is not parsed yet: its key is checked in preValidation below.
      if (mode === 'bodyKey') {
        if (retryAfter > 0) bodyKeyLimits.set(request, retryAfter);
        return;
      }

      const header = request.headers['cv-api-key'];
      return acceptKey(request, reply, Array.isArray(header) ? header[0] : header, retryAfter, confirmedByWrite);
    };

  // preValidation: after parsing, before the body schema is applied, for keys sent in the body.
  const authenticateBody = async (request: FastifyRequest, reply: FastifyReply) => {
    const body = request.body as { key?: unknown } | null | undefined;
    const apiKey = body && typeof body === 'object' && typeof body.key === 'string' ? body.key : undefined;
    return acceptKey(request, reply, apiKey || undefined, bodyKeyLimits.get(request) ?? 0);
  };

  // Only on the routes that name an `auth` mode: the others (health, docs) pay nothing for it.
  app.addHook('onRoute', (route) => {
    const mode = route.config?.auth;
    if (!mode) return;
    appendRouteHook(route, 'onRequest', authenticatorFor(mode, route.config?.keyConfirmedByWrite === true));
    if (mode === 'bodyKey') appendRouteHook(route, 'preValidation', authenticateBody);
  });
}
