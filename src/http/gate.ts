import { createHash, timingSafeEqual } from 'node:crypto';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { hashApiKey, isGeneratedApiKey } from '../modules/organizations/api-keys.ts';
import { roleMay, type StaffPermission, type StaffRole } from '../modules/staff/roles.ts';
import { sendError, sendUnauthorized, type KeyRefusal } from './envelopes.ts';
import { appendRouteHook } from './route-hooks.ts';

/**
 * The gate: who is calling. The authentication hook turns a `cv-api-key` into `request.scope`, the one
 * source of the caller's organization (a `Tenant`) and of the state of its key. Repositories that hold an
 * organization's rows take a `Tenant` and add the organization condition themselves, and a `Tenant` is made
 * here only: by the hook for a caller, or by `Tenant.forOperator` for the paths that work across
 * organizations (the admin API, the CLI, background work), which name themselves at that call.
 */

/** Made inside this file only (the class's static block): a route cannot name an organization itself. */
let admit: (organizationId: string) => Tenant;

/** The organization a request (or an operator's command) acts for. */
export class Tenant {
  static {
    admit = (organizationId) => new Tenant(organizationId, undefined);
  }

  private constructor(
    readonly organizationId: string,
    /** Why an operator path acts for this organization; undefined for a caller's own key. Being private,
     * it also keeps a plain object with an organizationId from passing for a Tenant. */
    private readonly operatorReason: string | undefined,
  ) {}

  /**
   * The one way into an organization that is not the caller's key: the admin API (the operator names the
   * organization in the path), the CLI, and background work on rows found across organizations.
   */
  static forOperator(organizationId: string, why: string): Tenant {
    return new Tenant(organizationId, why);
  }
}

/** Reads keys: the organization service in the app. */
export interface KeyCheck {
  /** The organization and key id of the active key with this hash, or null; records the key's use. */
  authenticateHash(keyHash: string): Promise<{ organizationId: string; apiKeyId: string } | null>;
  /** Records a use of a key taken from memory (last_used_at is kept to the minute). */
  touchApiKey(apiKeyId: string): Promise<void> | void;
  isActiveKey(organizationId: string, apiKeyId: string): Promise<boolean>;
}

/** How many recently read keys are remembered, and for how long (see `RecentKeys`). */
const RECENT_KEYS_MAX = 10_000;
const RECENT_KEY_TTL_MS = 5 * 60_000;

/**
 * Keys read as active in the last few minutes, by hash, oldest first. Only routes with
 * `keyConfirmedByWrite` take a key from here: the request's write checks it in its own statement, and any
 * other answer confirms it first (`Scope.confirmKey`), so a revocation by any process takes effect at the
 * next request.
 */
class RecentKeys {
  private readonly keys = new Map<string, { tenant: Tenant; apiKeyId: string; readAt: number }>();

  get(keyHash: string, now: number): { tenant: Tenant; apiKeyId: string } | undefined {
    const recent = this.keys.get(keyHash);
    return recent && now - recent.readAt < RECENT_KEY_TTL_MS ? recent : undefined;
  }

  remember(keyHash: string, found: { tenant: Tenant; apiKeyId: string } | null, now: number): void {
    this.keys.delete(keyHash);
    if (!found) return;
    this.keys.set(keyHash, { ...found, readAt: now });
    if (this.keys.size > RECENT_KEYS_MAX) this.keys.delete(this.keys.keys().next().value!);
  }

  forget(apiKeyId: string): void {
    for (const [keyHash, recent] of this.keys) if (recent.apiKeyId === apiKeyId) this.keys.delete(keyHash);
  }
}

/** Who is calling with an API key: its organization and the key's confirmation state. One per request. */
export class Scope {
  constructor(
    readonly tenant: Tenant,
    readonly apiKeyId: string,
    private unconfirmed: boolean,
    /** Null for a caller whose credential was verified whole (a signed link): there is nothing to confirm. */
    private readonly keys: { check: KeyCheck; recent: RecentKeys } | null,
  ) {}

  get organizationId(): string {
    return this.tenant.organizationId;
  }

  /**
   * Set when the key came from memory and was not read for this request: the request's write must find
   * this key still active in its own statement (`activeKeyCondition`) and write nothing otherwise.
   */
  get keyToCheckInWrite(): string | undefined {
    return this.unconfirmed ? this.apiKeyId : undefined;
  }

  /** True when the key is active: at once when it was read for this request; a revoked key is forgotten. */
  async confirmKey(): Promise<boolean> {
    if (!this.unconfirmed || !this.keys) return true;
    const active = await this.keys.check.isActiveKey(this.tenant.organizationId, this.apiKeyId);
    if (active) this.unconfirmed = false;
    else this.keys.recent.forget(this.apiKeyId);
    return active;
  }
}

/** A signed-in staff member's session, as the staff service reads it for the gate. */
export interface StaffSession {
  sessionId: string;
  staffId: string;
  role: StaffRole;
  /** Null: every organization; otherwise the organizations the member works for. */
  organizationIds: readonly string[] | null;
  licensedStates: readonly string[];
  /** SHA-256 (hex) of the session's CSRF token. */
  csrfHash: string;
  /** True: an organization of the member requires a second factor and the member has none yet. */
  secondFactorMissing?: boolean;
}

/** The refusal of every route but the member's own session routes while a required second factor is missing. */
export const SECOND_FACTOR_REQUIRED =
  'Your organization requires a second factor: turn TOTP on (POST /staff/v1/auth/totp/setup, then totp/enable)';

/** The admin API's refusal of a staff session that is not an ADMIN of every organization. */
export const ADMIN_API_REFUSAL = 'Only a staff ADMIN of every organization may use the admin API';

/** The form of the staff session tokens the sign-in issues (`c360s_` and 256 random bits). */
export const STAFF_TOKEN_PREFIX = 'c360s_';

/** Reads staff sessions: the staff service in the app. */
export interface StaffSessionCheck {
  /** The session with this token hash when it is active (not expired, not revoked, member not disabled). */
  sessionOf(tokenHash: string): Promise<StaffSession | null>;
}

/** The console's session cookie: HttpOnly, SameSite=Strict, sent to the staff API only. */
export const STAFF_SESSION_COOKIE = 'care360_staff';
/** The header a cookie-authenticated write carries its session's CSRF token in. */
export const CSRF_HEADER = 'x-csrf-token';

/** SHA-256 (hex) of a staff session's token or CSRF token: only these hashes are stored. */
export const hashStaffToken = (token: string): string => createHash('sha256').update(token).digest('hex');

/**
 * Who is calling the staff API: a staff member, their role, and the organizations they work for. A case is
 * reached only through `tenantFor` with the case's organization: a member of other organizations gets no Tenant.
 */
export class StaffScope {
  constructor(
    readonly sessionId: string,
    readonly staffId: string,
    readonly role: StaffRole,
    /** Null: every organization. */
    readonly organizationIds: readonly string[] | null,
    readonly licensedStates: readonly string[],
  ) {}

  worksFor(organizationId: string): boolean {
    return this.organizationIds === null || this.organizationIds.includes(organizationId);
  }

  /** The organization's Tenant when this member works for it, else null (the case then answers as not found). */
  tenantFor(organizationId: string): Tenant | null {
    return this.worksFor(organizationId) ? admit(organizationId) : null;
  }
}

/**
 * The caller of a signed download link: the organization and key the link was issued to. The link's
 * signature is the credential, verified before this is made.
 */
export function signedLinkScope(organizationId: string, apiKeyId: string): Scope {
  return new Scope(Tenant.forOperator(organizationId, 'a signed download link'), apiKeyId, false, null);
}

type AuthMode = 'apiKey' | 'admin' | 'bodyKey' | 'headerOrBodyKey' | 'staff';

declare module 'fastify' {
  interface FastifyContextConfig {
    /**
     * `apiKey`: the `cv-api-key` header names the organization. `admin`: the ADMIN_TOKEN bearer, or a staff ADMIN
     * of every organization (`authenticateAdmin`).
     * `bodyKey`: the key is the JSON body's `key` field (legacy initiatePayment); checked once the body is parsed.
     * `headerOrBodyKey`: the `cv-api-key` header, or else the body's `key` (Patient Add Form to Case).
     */
    auth?: AuthMode;
    /** On an `auth: 'staff'` route (required there): what the route does; the gate refuses roles without it. */
    staffPermission?: StaffPermission;
    /**
     * On an `apiKey` route whose one successful outcome is a write that checks the key itself
     * (`activeKeyCondition`: the intake; the case detail, whose read writes its audit event): a key read as
     * active moments ago is not read again for the request (`Scope.keyToCheckInWrite`). Its errors confirm
     * the key before they are sent (error-handler.ts).
     */
    keyConfirmedByWrite?: boolean;
  }
  interface FastifyRequest {
    /** Set on `auth: 'apiKey'` and `bodyKey` routes (null elsewhere): the only source of the organization. */
    scope: Scope;
    /** Set on `auth: 'staff'` routes and on admin routes called with a staff session (null elsewhere). */
    staff: StaffScope | null;
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

/** One cookie of the request's Cookie header (RFC 6265 syntax; our cookie values need no decoding). */
function cookieValue(request: FastifyRequest, name: string): string | undefined {
  const header = request.headers.cookie;
  if (typeof header !== 'string') return undefined;
  for (const pair of header.split(';')) {
    const at = pair.indexOf('=');
    if (at > 0 && pair.slice(0, at).trim() === name) return pair.slice(at + 1).trim() || undefined;
  }
  return undefined;
}

function bearerToken(request: FastifyRequest): string | undefined {
  const header = request.headers.authorization;
  const match = typeof header === 'string' ? /^Bearer\s+(.+)$/i.exec(header.trim()) : null;
  return match?.[1];
}

export function registerAuthentication(
  app: FastifyInstance,
  options: {
    organizations: KeyCheck;
    limiter: FailedAuthenticationLimiter;
    adminToken: string | undefined;
    staff?: StaffSessionCheck;
  },
): void {
  app.decorateRequest('scope', null as unknown as Scope);
  app.decorateRequest('staff', null);
  const keys = { check: options.organizations, recent: new RecentKeys() };

  /** The caller of an active key, or null; from memory (unconfirmed) only when the route allows it. */
  const scopeOf = async (apiKey: string, confirmedByWrite: boolean): Promise<Scope | null> => {
    const keyHash = hashApiKey(apiKey);
    const now = Date.now();
    const recent = confirmedByWrite ? keys.recent.get(keyHash, now) : undefined;
    if (recent) {
      const touched = options.organizations.touchApiKey(recent.apiKeyId);
      if (touched) await touched;
      return new Scope(recent.tenant, recent.apiKeyId, true, keys);
    }
    const found = await options.organizations.authenticateHash(keyHash);
    const caller = found ? { tenant: admit(found.organizationId), apiKeyId: found.apiKeyId } : null;
    keys.recent.remember(keyHash, caller, now);
    return caller ? new Scope(caller.tenant, caller.apiKeyId, false, keys) : null;
  };

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
    reason: KeyRefusal = 'invalid',
  ) => {
    try {
      await options.limiter.recordFailure(request.ip, kind);
    } catch (error) {
      request.log.warn({ err: error }, 'failed-authentication limiter unavailable');
    }
    return sendUnauthorized(request, reply, reason);
  };

  const tooManyFailures = (request: FastifyRequest, reply: FastifyReply, retryAfter: number) =>
    sendError(
      request,
      reply.header('retry-after', String(retryAfter)),
      429,
      'Too many failed authentication attempts; try again later',
    );

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
    const scope = apiKey ? await scopeOf(apiKey, confirmedByWrite) : null;
    if (scope) {
      request.scope = scope;
      return;
    }
    if (limited) return tooManyFailures(request, reply, retryAfter);
    return reject(request, reply, 'apiKey', apiKey ? 'invalid' : 'missing');
  };

  /** Limited addresses of `bodyKey` requests, whose key is known only once the body is parsed. */
  const bodyKeyLimits = new WeakMap<FastifyRequest, number>();

  // onRequest: before the body is read or validated, so an unauthenticated caller learns nothing. Made per
  // route, with the route's settings at hand (request.routeOptions builds a new object at every read).
  /** The active staff session of a token, or null. */
  const sessionOfToken = async (token: string | undefined): Promise<StaffSession | null> =>
    token && options.staff ? await options.staff.sessionOf(hashStaffToken(token)) : null;

  /**
   * Admits a staff session: a cookie-authenticated write must carry the session's CSRF token (the cookie alone
   * could be a forged request from another site). Sets `request.staff`, so the audit log names the member.
   * False when it sent the refusal.
   */
  const admitStaff = async (
    request: FastifyRequest,
    reply: FastifyReply,
    session: StaffSession,
    fromCookie: boolean,
  ): Promise<boolean> => {
    if (fromCookie && request.method !== 'GET' && request.method !== 'HEAD') {
      const csrf = request.headers[CSRF_HEADER];
      if (typeof csrf !== 'string' || !sameSecret(hashStaffToken(csrf), session.csrfHash)) {
        await sendError(request, reply, 403, "A cookie-authenticated write needs the session's x-csrf-token header");
        return false;
      }
    }
    request.staff = new StaffScope(
      session.sessionId,
      session.staffId,
      session.role,
      session.organizationIds,
      session.licensedStates,
    );
    return true;
  };

  /**
   * A staff session, from the bearer token (the API) or the session cookie (the console). Session tokens are
   * 256 random bits, so a failure is not counted toward the address's limit (sign-in has its own throttle).
   */
  const authenticateStaff = async (request: FastifyRequest, reply: FastifyReply, permission: StaffPermission) => {
    const bearer = bearerToken(request);
    const cookie = bearer ? undefined : cookieValue(request, STAFF_SESSION_COOKIE);
    const session = await sessionOfToken(bearer ?? cookie);
    if (!session) return sendUnauthorized(request, reply, bearer || cookie ? 'invalid' : 'missing');
    if (!(await admitStaff(request, reply, session, cookie !== undefined))) return reply;
    if (!roleMay(session.role, permission)) return sendError(request, reply, 403, 'Your role may not do this');
    if (session.secondFactorMissing && permission !== 'session') {
      return sendError(request, reply, 403, SECOND_FACTOR_REQUIRED);
    }
  };

  /**
   * The admin API's callers: the ADMIN_TOKEN bearer (the operator's scripts and CLI), or the session of an enabled
   * staff ADMIN who works for every organization (the console's operator pages), under the staff API's rules: the
   * CSRF token on cookie writes, and the second factor an organization requires. An ADMIN limited to some
   * organizations may use no admin route: the admin API acts across organizations (staff, organizations, keys,
   * backups); such an ADMIN manages their organizations through the staff API (docs/api/foundation.md).
   *
   * A bearer that is neither the admin token nor an active session counts toward the admin token's limit, and a
   * limited address gets 429 for it (even for the right admin token). An active staff session is served there:
   * its 256 random bits are not what the limit protects. A stale session cookie is not counted (sign-in renews it).
   */
  const authenticateAdmin = async (request: FastifyRequest, reply: FastifyReply, retryAfter: number) => {
    const bearer = bearerToken(request);
    if (bearer && options.adminToken && sameSecret(bearer, options.adminToken)) {
      return retryAfter > 0 ? tooManyFailures(request, reply, retryAfter) : undefined;
    }
    const cookie = bearer ? undefined : cookieValue(request, STAFF_SESSION_COOKIE);
    const session = await sessionOfToken(bearer?.startsWith(STAFF_TOKEN_PREFIX) ? bearer : cookie);
    if (!session) {
      if (cookie !== undefined) return sendUnauthorized(request, reply, 'invalid');
      if (retryAfter > 0) return tooManyFailures(request, reply, retryAfter);
      return reject(request, reply, 'admin', bearer ? 'invalid' : 'missing');
    }
    if (!(await admitStaff(request, reply, session, cookie !== undefined))) return reply;
    if (session.role !== 'ADMIN' || session.organizationIds !== null) {
      return sendError(request, reply, 403, ADMIN_API_REFUSAL);
    }
    if (session.secondFactorMissing) return sendError(request, reply, 403, SECOND_FACTOR_REQUIRED);
  };

  const authenticatorFor =
    (mode: AuthMode, confirmedByWrite: boolean) => async (request: FastifyRequest, reply: FastifyReply) => {
      const kind = mode === 'admin' ? 'admin' : 'apiKey';
      const pending = retryAfterSeconds(request, kind);
      const retryAfter = typeof pending === 'number' ? pending : await pending;

      if (mode === 'admin') return authenticateAdmin(request, reply, retryAfter);

      // The body is not parsed yet: its key is checked in preValidation below.
      if (mode === 'bodyKey' || mode === 'headerOrBodyKey') {
        if (retryAfter > 0) bodyKeyLimits.set(request, retryAfter);
        return;
      }

      const header = request.headers['cv-api-key'];
      return acceptKey(request, reply, Array.isArray(header) ? header[0] : header, retryAfter, confirmedByWrite);
    };

  // preValidation: after parsing, before the body schema is applied, for keys sent in the body.
  const authenticateBody = async (request: FastifyRequest, reply: FastifyReply) => {
    const body = request.body as { key?: unknown } | null | undefined;
    const inBody = body && typeof body === 'object' && typeof body.key === 'string' ? body.key : undefined;
    const header = request.routeOptions.config?.auth === 'headerOrBodyKey' ? request.headers['cv-api-key'] : undefined;
    const apiKey = (Array.isArray(header) ? header[0] : header) || inBody;
    return acceptKey(request, reply, apiKey || undefined, bodyKeyLimits.get(request) ?? 0);
  };

  // Only on the routes that name an `auth` mode: the others (health, docs) pay nothing for it.
  app.addHook('onRoute', (route) => {
    const mode = route.config?.auth;
    if (!mode) return;
    if (mode === 'staff') {
      const permission = route.config?.staffPermission;
      if (!permission) throw new Error(`staff route ${route.method} ${route.url} declares no staffPermission`);
      appendRouteHook(route, 'onRequest', (request: FastifyRequest, reply: FastifyReply) =>
        authenticateStaff(request, reply, permission),
      );
      return;
    }
    appendRouteHook(route, 'onRequest', authenticatorFor(mode, route.config?.keyConfirmedByWrite === true));
    if (mode === 'bodyKey' || mode === 'headerOrBodyKey') appendRouteHook(route, 'preValidation', authenticateBody);
  });
}
