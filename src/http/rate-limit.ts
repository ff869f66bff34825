import type { FastifyInstance, FastifyReply, FastifyRequest, RouteOptions } from 'fastify';
import fastifyRateLimit, { normalizeIP } from '@fastify/rate-limit';
import { AuthFailureLimiter, type AuthenticationKind, type FailedAuthenticationLimiter } from './gate.ts';
import { sendError } from './envelopes.ts';
import type { RedisCircuit } from './redis-circuit.ts';
import { appendRouteHook } from './route-hooks.ts';

/**
 * Request rate limits, per API key and per client address, in fixed windows.
 *
 * Every request counts against its client address; a request authenticated by `cv-api-key` also
 * counts against its key. The limit that binds (exceeded, or else the one with fewer requests left)
 * is reported in `RateLimit-Limit`, `RateLimit-Remaining` and `RateLimit-Reset` (seconds) on every
 * response; an exceeded limit answers 429 with `Retry-After` and the route's documented error
 * envelope. Counters live in memory, or in Redis when REDIS_URL is set, so that every server
 * process shares them; while Redis does not answer (RedisCircuit), in memory again. @fastify/rate-limit
 * keeps the counters (its local and Redis stores); this module decides which counters a request takes
 * and how the answer looks.
 */

export interface RateLimitSettings {
  /** Requests per window per API key; 0 turns the per-key limit off. */
  perKey: number;
  /** Requests per window per client address; 0 turns the per-address limit off. */
  perAddress: number;
  windowMs: number;
  /** Shared counters; in memory (per process) when absent, and while Redis does not answer. */
  redis?: RedisCircuit;
  /** Prefix of every Redis key this server writes. */
  redisKeyPrefix?: string;
}

type CreateRateLimit = FastifyInstance['createRateLimit'];
type RateLimitResult = Awaited<ReturnType<ReturnType<CreateRateLimit>>>;
type Counted = Extract<RateLimitResult, { isAllowed: false }>;
type Limiter = (request: FastifyRequest) => Promise<RateLimitResult> | undefined;

/**
 * @fastify/rate-limit with its memory store, or its Redis store, in a scope of its own: its `createRateLimit`
 * counts in that store only, so the app can hold both and choose per request.
 */
async function rateLimitStore(
  app: FastifyInstance,
  windowMs: number,
  redis?: { circuit: RedisCircuit; nameSpace: string },
): Promise<CreateRateLimit> {
  let create: CreateRateLimit | undefined;
  await app.register(async (scope) => {
    await scope.register(fastifyRateLimit, {
      // No hook of its own: the hook below takes the counters it needs.
      global: false,
      timeWindow: windowMs,
      // A Redis failure reaches the hook below, which counts that request in memory instead.
      skipOnError: false,
      ...(redis ? { redis: redis.circuit.client, nameSpace: redis.nameSpace } : {}),
    });
    create = scope.createRateLimit;
  });
  return create!;
}

/** The per-address and per-key limiters of one store. */
function limitersOf(create: CreateRateLimit, settings: RateLimitSettings): Limiter[] {
  const limiters: Limiter[] = [];
  if (settings.perAddress > 0) {
    const byAddress = create({
      max: settings.perAddress,
      keyGenerator: (request) => `address:${normalizeIP(request.ip)}`,
    });
    limiters.push((request) => byAddress(request));
  }
  if (settings.perKey > 0) {
    const byKey = create({
      max: settings.perKey,
      keyGenerator: (request) => `key:${request.scope.apiKeyId}`,
    });
    // `scope` is set by the authentication hook, which runs before this one (see onRoute below).
    limiters.push((request) => (request.scope ? byKey(request) : undefined));
  }
  return limiters;
}

/** A route opts out with `config: { rateLimit: false }` (for example a load balancer's probe). */
export async function registerRateLimits(app: FastifyInstance, settings: RateLimitSettings): Promise<void> {
  if (settings.perKey <= 0 && settings.perAddress <= 0) return;

  const inMemory = limitersOf(await rateLimitStore(app, settings.windowMs), settings);
  const { redis } = settings;
  const inRedis = redis
    ? limitersOf(
        await rateLimitStore(app, settings.windowMs, {
          circuit: redis,
          nameSpace: `${settings.redisKeyPrefix ?? ''}rate-limit:`,
        }),
        settings,
      )
    : undefined;
  const count = (limiters: Limiter[], request: FastifyRequest) =>
    Promise.all(limiters.map((limiter) => limiter(request)));

  const limit = async (request: FastifyRequest, reply: FastifyReply) => {
    const results = await (inRedis && redis
      ? redis.use(
          () => count(inRedis, request),
          () => count(inMemory, request),
        )
      : count(inMemory, request));
    const counted = results.filter((result): result is Counted => result !== undefined && !result.isAllowed);
    const binding =
      counted.find((result) => result.isExceeded) ??
      counted.reduce<Counted | undefined>(
        (tightest, result) => (tightest === undefined || result.remaining < tightest.remaining ? result : tightest),
        undefined,
      );
    if (!binding) return;

    reply.header('ratelimit-limit', binding.max);
    reply.header('ratelimit-remaining', binding.remaining);
    reply.header('ratelimit-reset', binding.ttlInSeconds);
    if (!binding.isExceeded) return;

    reply.header('retry-after', binding.ttlInSeconds);
    return sendError(request, reply, 429, `Rate limit exceeded; retry in ${binding.ttlInSeconds} seconds`);
  };

  // A route-level hook, added after authentication's (registerAuthentication runs first), so the key is known.
  // Where the key travels in the body (`auth: 'bodyKey'`), it is known only at preValidation.
  app.addHook('onRoute', (route: RouteOptions) => {
    if (route.config?.rateLimit === false) return;
    if (route.config?.rateLimit !== undefined) {
      throw new Error(`${route.method} ${route.url}: config.rateLimit takes only false (to opt out)`);
    }
    appendRouteHook(route, route.config?.auth === 'bodyKey' ? 'preValidation' : 'onRequest', limit);
  });
}

/**
 * The failed-authentication limiter shared through Redis: one counter per kind and client address, created
 * with the window's expiry at the first failure (a fixed window, as AuthFailureLimiter in memory). Every
 * failure is also counted in memory, which answers while Redis does not (RedisCircuit): this process's
 * own failures, at once, with no request waiting on Redis.
 */
export class RedisAuthFailureLimiter implements FailedAuthenticationLimiter {
  private readonly inMemory: AuthFailureLimiter;

  constructor(
    private readonly redis: RedisCircuit,
    private readonly limit: number,
    private readonly windowMs: number,
    private readonly keyPrefix = '',
  ) {
    this.inMemory = new AuthFailureLimiter(limit, windowMs);
  }

  private key(address: string, kind: AuthenticationKind): string {
    return `${this.keyPrefix}auth-failures:${kind}:${normalizeIP(address)}`;
  }

  retryAfterSeconds(address: string, kind: AuthenticationKind): number | Promise<number> {
    return this.redis.use(
      async (client) => {
        const key = this.key(address, kind);
        const replies = await client.multi().get(key).pttl(key).exec();
        const count = Number(replies?.[0]?.[1] ?? 0);
        const ttl = Number(replies?.[1]?.[1] ?? -2);
        return count >= this.limit && ttl > 0 ? Math.ceil(ttl / 1000) : 0;
      },
      () => this.inMemory.retryAfterSeconds(address, kind),
    );
  }

  async recordFailure(address: string, kind: AuthenticationKind): Promise<void> {
    this.inMemory.recordFailure(address, kind);
    const key = this.key(address, kind);
    await this.redis.use(
      async (client) => void (await client.multi().set(key, 0, 'PX', this.windowMs, 'NX').incr(key).exec()),
      () => undefined,
    );
  }
}
