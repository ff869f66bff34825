import type { FastifyInstance, FastifyReply, FastifyRequest, RouteOptions } from 'fastify';
import fastifyRateLimit, { normalizeIP } from '@fastify/rate-limit';
import { Redis } from 'ioredis';
import type { FailedAuthenticationLimiter } from './auth.ts';
import { envelopeOf } from './error-handler.ts';
import { appendRouteHook } from './route-hooks.ts';

/**
 * Request rate limits, per API key and per client address, in fixed windows.
 *
 * Every request counts against its client address; a request authenticated by `cv-api-key` also
 * counts against its key. The limit that binds (exceeded, or else the one with fewer requests left)
 * is reported in `RateLimit-Limit`, `RateLimit-Remaining` and `RateLimit-Reset` (seconds) on every
 * response; an exceeded limit answers 429 with `Retry-After` and the route's documented error
 * envelope. Counters live in memory, or in Redis when REDIS_URL is set, so that every server
 * process shares them. @fastify/rate-limit keeps the counters (its local and Redis stores); this
 * module decides which counters a request takes and how the answer looks.
 */

export interface RateLimitSettings {
  /** Requests per window per API key; 0 turns the per-key limit off. */
  perKey: number;
  /** Requests per window per client address; 0 turns the per-address limit off. */
  perAddress: number;
  windowMs: number;
  /** Shared counters; in memory (per process) when absent. */
  redis?: Redis;
  /** Prefix of every Redis key this server writes. */
  redisKeyPrefix?: string;
}

type RateLimitResult = Awaited<ReturnType<ReturnType<FastifyInstance['createRateLimit']>>>;
type Counted = Extract<RateLimitResult, { isAllowed: false }>;

/** A route opts out with `config: { rateLimit: false }` (for example a load balancer's probe). */
export async function registerRateLimits(app: FastifyInstance, settings: RateLimitSettings): Promise<void> {
  if (settings.perKey <= 0 && settings.perAddress <= 0) return;

  await app.register(fastifyRateLimit, {
    // No hook of its own: the hook below takes the counters it needs.
    global: false,
    timeWindow: settings.windowMs,
    // A counter store that cannot answer (Redis down) lets the request through rather than failing it.
    skipOnError: true,
    ...(settings.redis ? { redis: settings.redis, nameSpace: `${settings.redisKeyPrefix ?? ''}rate-limit:` } : {}),
  });

  const limiters: ((request: FastifyRequest) => Promise<RateLimitResult> | undefined)[] = [];
  if (settings.perAddress > 0) {
    const byAddress = app.createRateLimit({
      max: settings.perAddress,
      keyGenerator: (request) => `address:${normalizeIP(request.ip)}`,
    });
    limiters.push((request) => byAddress(request));
  }
  if (settings.perKey > 0) {
    const byKey = app.createRateLimit({
      max: settings.perKey,
      keyGenerator: (request) => `key:${request.principal.apiKeyId}`,
    });
    // `principal` is set by the authentication hook, which runs before this one (see onRoute below).
    limiters.push((request) => (request.principal ? byKey(request) : undefined));
  }

  const limit = async (request: FastifyRequest, reply: FastifyReply) => {
    const results = await Promise.all(limiters.map((limiter) => limiter(request)));
    const counted = results.filter((result): result is Counted => result !== undefined && !result.isAllowed);
    const binding =
      counted.find((result) => result.isExceeded) ??
      counted.reduce<Counted | undefined>(
        (tightest, result) => (tightest === undefined || result.remaining < tightest.remaining ? result : tightest),
        undefined,
      );
    if (!binding) return;
    // A store that failed (skipOnError) reports nothing counted: no headers then, rather than made-up ones.
    if (binding.ttl <= 0 && !binding.isExceeded) return;

    reply.header('ratelimit-limit', binding.max);
    reply.header('ratelimit-remaining', binding.remaining);
    reply.header('ratelimit-reset', binding.ttlInSeconds);
    if (!binding.isExceeded) return;

    reply.header('retry-after', binding.ttlInSeconds);
    return reply
      .code(429)
      .send(envelopeOf(request).error(429, `Rate limit exceeded; retry in ${binding.ttlInSeconds} seconds`));
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

/** A Redis client for shared counters: short timeouts, so a Redis outage slows no request for long. */
export function createRedisClient(url: string): Redis {
  return new Redis(url, {
    connectTimeout: 2_000,
    commandTimeout: 1_000,
    maxRetriesPerRequest: 1,
    // Connection errors are reported by the caller's 'error' listener; ioredis reconnects by itself.
    lazyConnect: false,
  });
}

/**
 * The failed-authentication limiter shared through Redis: one counter per client address, created
 * with the window's expiry at the first failure (a fixed window, as AuthFailureLimiter in memory).
 */
export class RedisAuthFailureLimiter implements FailedAuthenticationLimiter {
  constructor(
    private readonly redis: Redis,
    private readonly limit: number,
    private readonly windowMs: number,
    private readonly keyPrefix = '',
  ) {}

  private key(address: string): string {
    return `${this.keyPrefix}auth-failures:${normalizeIP(address)}`;
  }

  async retryAfterSeconds(address: string): Promise<number> {
    const key = this.key(address);
    const replies = await this.redis.multi().get(key).pttl(key).exec();
    const count = Number(replies?.[0]?.[1] ?? 0);
    const ttl = Number(replies?.[1]?.[1] ?? -2);
    return count >= this.limit && ttl > 0 ? Math.ceil(ttl / 1000) : 0;
  }

  async recordFailure(address: string): Promise<void> {
    const key = this.key(address);
    await this.redis.multi().set(key, 0, 'PX', this.windowMs, 'NX').incr(key).exec();
  }
}
