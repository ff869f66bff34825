import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import Fastify, { type FastifyInstance } from 'fastify';
import { Redis } from 'ioredis';
import { buildApp } from '../../src/app.ts';
import { ConfigError, loadConfig } from '../../src/config.ts';
import { AuthFailureLimiter, registerAuthentication } from '../../src/http/auth.ts';
import { registerErrorHandling } from '../../src/http/error-handler.ts';
import { createRedisClient, RedisAuthFailureLimiter, registerRateLimits } from '../../src/http/rate-limit.ts';
import { ADMIN_TOKEN, createTestContext, type TestContext } from '../support/app.ts';
import { keysUnder, TEST_REDIS_URL, uniqueRedisPrefix } from './redis.ts';

type Store = 'memory' | 'redis';

/** One database and its organizations for every probe app in this file (a context is slow to make). */
let shared: TestContext;
before(async () => {
  shared = await createTestContext();
});
after(async () => shared.close());

/** The limits on probe routes of each envelope, the way the app registers them. */
async function buildLimited(
  context: TestContext,
  settings: { perKey: number; perAddress: number; redis?: Redis; redisKeyPrefix?: string },
): Promise<FastifyInstance> {
  const app = Fastify({ logger: false });
  registerErrorHandling(app);
  registerAuthentication(app, {
    organizations: context.services.organizations,
    limiter: new AuthFailureLimiter(1000, 60_000),
    adminToken: undefined,
  });
  await registerRateLimits(app, { ...settings, windowMs: 60_000 });
  app.get('/intake', { config: { auth: 'apiKey', envelope: 'intake' } }, async () => ({ ok: true }));
  app.get('/payments', { config: { auth: 'apiKey', envelope: 'payments' } }, async () => ({ ok: true }));
  app.get('/open', async () => ({ ok: true }));
  app.get('/probe', { config: { rateLimit: false } }, async () => ({ ok: true }));
  await app.ready();
  return app;
}

const headersOf = (response: { headers: Record<string, unknown> }) => ({
  limit: Number(response.headers['ratelimit-limit']),
  remaining: Number(response.headers['ratelimit-remaining']),
  reset: Number(response.headers['ratelimit-reset']),
});

for (const store of ['memory', 'redis'] as Store[]) {
  describe(`rate limits, counters in ${store}`, () => {
    let context: TestContext;
    let keyA: string;
    let keyB: string;
    let redis: Redis | undefined;
    const { prefix, cleanup } = uniqueRedisPrefix();
    const apps: FastifyInstance[] = [];
    let testNumber = 0;

    /** A fresh app; with Redis, on fresh counters (a prefix of its own) unless `sharedWith` names one. */
    const limited = async (perKey: number, perAddress: number, sharedPrefix?: string) => {
      const app = await buildLimited(context, {
        perKey,
        perAddress,
        ...(redis ? { redis, redisKeyPrefix: sharedPrefix ?? `${prefix}${++testNumber}:` } : {}),
      });
      apps.push(app);
      return app;
    };

    before(async () => {
      context = shared;
      keyA = (await context.organization()).apiKey;
      keyB = (await context.organization()).apiKey;
      if (store === 'redis') redis = createRedisClient(TEST_REDIS_URL);
    });
    after(async () => {
      for (const app of apps) await app.close();
      await redis?.quit();
      await cleanup();
    });

    it('limits each API key, with RateLimit headers, then 429 with Retry-After in the intake envelope', async () => {
      const app = await limited(3, 100);
      for (const remaining of [2, 1, 0]) {
        const response = await app.inject({ method: 'GET', url: '/intake', headers: { 'cv-api-key': keyA } });
        assert.equal(response.statusCode, 200);
        const headers = headersOf(response);
        assert.equal(headers.limit, 3);
        assert.equal(headers.remaining, remaining);
        assert.ok(headers.reset > 0 && headers.reset <= 60);
      }
      const refused = await app.inject({ method: 'GET', url: '/intake', headers: { 'cv-api-key': keyA } });
      assert.equal(refused.statusCode, 429);
      const retryAfter = Number(refused.headers['retry-after']);
      assert.ok(retryAfter > 0 && retryAfter <= 60);
      assert.equal(headersOf(refused).remaining, 0);
      assert.deepEqual(Object.keys(refused.json()).sort(), ['error', 'success']);
      assert.equal(refused.json().success, false);
      assert.match(refused.json().error, /Rate limit exceeded/);

      // The payments family answers in its own envelope.
      const payments = await app.inject({ method: 'GET', url: '/payments', headers: { 'cv-api-key': keyA } });
      assert.equal(payments.statusCode, 429);
      assert.deepEqual(Object.keys(payments.json()).sort(), ['message', 'success']);

      // Another key from the same address has its own allowance.
      const other = await app.inject({ method: 'GET', url: '/intake', headers: { 'cv-api-key': keyB } });
      assert.equal(other.statusCode, 200);
      assert.equal(headersOf(other).remaining, 2);
    });

    it('limits each client address, whatever the key, in the standard envelope where the route has no other', async () => {
      const app = await limited(100, 4);
      const from = (remoteAddress: string, url = '/open', headers: Record<string, string> = {}) =>
        app.inject({ method: 'GET', url, remoteAddress, headers });
      for (let index = 0; index < 4; index++) assert.equal((await from('198.51.100.1')).statusCode, 200);
      const refused = await from('198.51.100.1');
      assert.equal(refused.statusCode, 429);
      assert.ok(Number(refused.headers['retry-after']) > 0);
      assert.deepEqual(Object.keys(refused.json()).sort(), ['error', 'status', 'success']);
      assert.equal(refused.json().status, 429);
      // Authenticated requests from that address are refused too: the address limit binds first.
      const keyed = await from('198.51.100.1', '/intake', { 'cv-api-key': keyA });
      assert.equal(keyed.statusCode, 429);
      // Another address is not affected.
      assert.equal((await from('198.51.100.2')).statusCode, 200);
    });

    it('reports the limit that binds: the one with fewer requests left', async () => {
      const app = await limited(10, 4);
      const first = await app.inject({
        method: 'GET',
        url: '/intake',
        remoteAddress: '198.51.100.9',
        headers: { 'cv-api-key': keyA },
      });
      assert.deepEqual(
        { limit: headersOf(first).limit, remaining: headersOf(first).remaining },
        { limit: 4, remaining: 3 },
      );
      const keyBound = await limited(2, 50);
      const second = await keyBound.inject({ method: 'GET', url: '/intake', headers: { 'cv-api-key': keyA } });
      assert.deepEqual(
        { limit: headersOf(second).limit, remaining: headersOf(second).remaining },
        { limit: 2, remaining: 1 },
      );
    });

    it('leaves a route with config.rateLimit false alone', async () => {
      const app = await limited(1, 1);
      for (let index = 0; index < 3; index++) {
        const response = await app.inject({ method: 'GET', url: '/probe' });
        assert.equal(response.statusCode, 200);
        assert.equal(response.headers['ratelimit-limit'], undefined);
      }
    });

    it('counts a key sent in the body (auth: bodyKey) once the body has named it', async () => {
      const app = Fastify({ logger: false });
      registerErrorHandling(app);
      app.decorateRequest('principal', null as never);
      // Stands for the authentication hook of `bodyKey` routes, which runs at preValidation.
      app.addHook('preValidation', async (request) => {
        const key = (request.body as { key?: string } | undefined)?.key;
        if (key) request.principal = { organizationId: 'organization', apiKeyId: key };
      });
      await registerRateLimits(app, {
        perKey: 2,
        perAddress: 100,
        windowMs: 60_000,
        ...(redis ? { redis, redisKeyPrefix: `${prefix}${++testNumber}:` } : {}),
      });
      app.post('/legacy', { config: { auth: 'bodyKey' as never, envelope: 'payments' } }, async () => ({ ok: true }));
      await app.ready();
      apps.push(app);
      const send = (key: string) => app.inject({ method: 'POST', url: '/legacy', payload: { key } });
      assert.equal((await send('key-1')).statusCode, 200);
      const second = await send('key-1');
      assert.equal(second.statusCode, 200);
      assert.equal(headersOf(second).limit, 2);
      assert.equal(headersOf(second).remaining, 0);
      const refused = await send('key-1');
      assert.equal(refused.statusCode, 429);
      assert.deepEqual(Object.keys(refused.json()).sort(), ['message', 'success']);
      assert.equal((await send('key-2')).statusCode, 200);
    });

    if (store === 'redis') {
      it('shares the counters between server processes through Redis', async () => {
        const shared = `${prefix}shared:`;
        const first = await limited(3, 100, shared);
        const second = await limited(3, 100, shared);
        const call = (app: FastifyInstance) =>
          app.inject({ method: 'GET', url: '/intake', headers: { 'cv-api-key': keyB } });
        assert.equal((await call(first)).statusCode, 200);
        assert.equal((await call(second)).statusCode, 200);
        const third = await call(first);
        assert.equal(third.statusCode, 200);
        assert.equal(headersOf(third).remaining, 0);
        assert.equal((await call(second)).statusCode, 429);
        const keys = await keysUnder(shared);
        assert.ok(
          keys.some((key) => key.includes('key:')),
          `per-key counter in Redis: ${keys.join(', ')}`,
        );
        assert.ok(
          keys.some((key) => key.includes('address:')),
          'per-address counter in Redis',
        );
      });
    }
  });
}

describe('rate limits when Redis is unreachable', () => {
  it('lets requests through (and the app still answers) rather than failing them', async () => {
    const context = shared;
    const { apiKey } = await context.organization();
    // Nothing listens on port 1: every counter command fails.
    const redis = createRedisClient('redis://127.0.0.1:1');
    redis.on('error', () => undefined);
    const app = await buildLimited(context, { perKey: 1, perAddress: 1, redis, redisKeyPrefix: 'unused:' });
    try {
      for (let index = 0; index < 3; index++) {
        const response = await app.inject({ method: 'GET', url: '/intake', headers: { 'cv-api-key': apiKey } });
        assert.equal(response.statusCode, 200);
        assert.equal(response.headers['ratelimit-limit'], undefined);
      }
    } finally {
      await app.close();
      redis.disconnect();
    }
  });
});

describe('failed-authentication limiter in Redis', () => {
  const { prefix, cleanup } = uniqueRedisPrefix();
  let redis: Redis;
  before(() => {
    redis = createRedisClient(TEST_REDIS_URL);
  });
  after(async () => {
    await redis.quit();
    await cleanup();
  });

  it('counts failures per address in a window shared by every limiter on the same Redis', async () => {
    const one = new RedisAuthFailureLimiter(redis, 2, 60_000, prefix);
    const two = new RedisAuthFailureLimiter(redis, 2, 60_000, prefix);
    assert.equal(await one.retryAfterSeconds('192.0.2.1'), 0);
    await one.recordFailure('192.0.2.1');
    assert.equal(await two.retryAfterSeconds('192.0.2.1'), 0);
    await two.recordFailure('192.0.2.1');
    const wait = await one.retryAfterSeconds('192.0.2.1');
    assert.ok(wait > 0 && wait <= 60, `retry after ${wait}`);
    assert.equal(await two.retryAfterSeconds('192.0.2.2'), 0);
    const keys = await keysUnder(prefix);
    assert.deepEqual(keys, [`${prefix}auth-failures:192.0.2.1`]);
    assert.ok((await redis.pttl(keys[0] ?? '')) > 0, 'the counter expires with its window');
  });

  it('is what the app uses when REDIS_URL is set: failures on one server count on another', async () => {
    const environment = {
      REDIS_URL: TEST_REDIS_URL,
      REDIS_KEY_PREFIX: `${prefix}app:`,
      AUTH_FAILURE_LIMIT: '2',
    };
    const first = await createTestContext(environment);
    // A second server process: its own app (and Redis client) on the same database.
    const second = await buildApp({ config: first.config, db: first.db, logger: false });
    try {
      const attempt = (context: { app: FastifyInstance }, token: string) =>
        context.app.inject({
          method: 'GET',
          url: '/admin/v1/organizations',
          headers: { authorization: `Bearer ${token}` },
        });
      assert.equal((await attempt(first, 'wrong')).statusCode, 401);
      assert.equal((await attempt({ app: second }, 'wrong')).statusCode, 401);
      const refused = await attempt(first, ADMIN_TOKEN);
      assert.equal(refused.statusCode, 429);
      assert.ok(Number(refused.headers['retry-after']) > 0);
      assert.equal((await attempt({ app: second }, ADMIN_TOKEN)).statusCode, 429);
      assert.ok((await keysUnder(`${prefix}app:auth-failures:`)).length === 1);
    } finally {
      await second.close();
      await first.close();
    }
  });
});

describe('rate limits in the app', () => {
  it('applies the configured per-address limit to every route by default', async () => {
    const context = {
      app: await buildApp({ config: loadConfig({ RATE_LIMIT_PER_ADDRESS: '3' }), db: shared.db, logger: false }),
    };
    try {
      for (let index = 0; index < 3; index++) {
        const response = await context.app.inject({ method: 'GET', url: '/health' });
        assert.equal(response.statusCode, 200);
        assert.equal(response.headers['ratelimit-limit'], '3');
      }
      const refused = await context.app.inject({ method: 'GET', url: '/health' });
      assert.equal(refused.statusCode, 429);
      assert.deepEqual(Object.keys(refused.json()).sort(), ['error', 'status', 'success']);
      assert.equal(refused.headers['cache-control'], 'no-store');
    } finally {
      await context.app.close();
    }
  });

  it('has documented defaults, and 0 turns the limits off', async () => {
    assert.deepEqual(loadConfig({}).limits, {
      rateLimitPerKey: 600,
      rateLimitPerAddress: 1200,
      rateLimitWindowSeconds: 60,
      requestTimeoutMs: 30_000,
      redisUrl: undefined,
      redisKeyPrefix: 'care360:',
    });
    const defaults = await buildApp({ config: loadConfig({}), db: shared.db, logger: false });
    const off = await buildApp({
      config: loadConfig({ RATE_LIMIT_PER_KEY: '0', RATE_LIMIT_PER_ADDRESS: '0' }),
      db: shared.db,
      logger: false,
    });
    try {
      const limited = await defaults.inject({ method: 'GET', url: '/health' });
      assert.equal(limited.headers['ratelimit-limit'], '1200');
      const response = await off.inject({ method: 'GET', url: '/health' });
      assert.equal(response.statusCode, 200);
      assert.equal(response.headers['ratelimit-limit'], undefined);
    } finally {
      await defaults.close();
      await off.close();
    }
  });

  it('refuses a malformed REDIS_URL', () => {
    assert.throws(() => loadConfig({ REDIS_URL: 'localhost:6379' }), ConfigError);
  });
});
