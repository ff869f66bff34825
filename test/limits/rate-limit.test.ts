import assert from 'node:assert/strict';
import { connect, createServer, type AddressInfo, type Server, type Socket } from 'node:net';
import { after, before, describe, it } from 'node:test';
import Fastify, { type FastifyInstance, type FastifyRequest } from 'fastify';
import { buildApp } from '../../src/app.ts';
import { ConfigError, loadConfig } from '../../src/config.ts';
import { AuthFailureLimiter, registerAuthentication } from '../../src/http/gate.ts';
import { registerErrorHandling } from '../../src/http/error-handler.ts';
import { RedisAuthFailureLimiter, registerRateLimits } from '../../src/http/rate-limit.ts';
import { createRedisClient, RedisCircuit } from '../../src/http/redis-circuit.ts';
import { ADMIN_TOKEN, createTestContext, type TestContext } from '../support/app.ts';
import { keysUnder, TEST_REDIS_URL, uniqueRedisPrefix } from './redis.ts';
import { until } from '../support/until.ts';

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
  settings: { perKey: number; perAddress: number; redis?: RedisCircuit; redisKeyPrefix?: string },
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

/** A Redis circuit on `url`, connected (or open, when nothing answers there), that logs into `lines`. */
async function connectedCircuit(url: string, lines: string[] = [], openMs?: number): Promise<RedisCircuit> {
  // Pino's signatures: (message) or (context, message).
  const record = (level: string) => (first: unknown, message?: string) =>
    void lines.push(`${level}: ${message ?? String(first)}`);
  const circuit = new RedisCircuit(createRedisClient(url), { warn: record('warn'), info: record('info') }, openMs);
  await circuit.connect();
  return circuit;
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
    let redis: RedisCircuit | undefined;
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
      if (store === 'redis') redis = await connectedCircuit(TEST_REDIS_URL);
    });
    after(async () => {
      for (const app of apps) await app.close();
      await redis?.client.quit();
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
      app.decorateRequest('scope', null as never);
      // Stands for the authentication hook of `bodyKey` routes, which runs at preValidation.
      app.addHook('preValidation', async (request) => {
        const key = (request.body as { key?: string } | undefined)?.key;
        if (key) request.scope = { apiKeyId: key } as FastifyRequest['scope'];
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

describe('Redis unreachable: fail fast, count in memory, say so once', () => {
  /** A TCP proxy to the test Redis that can be cut and restored, as a network partition does. */
  async function redisProxy(): Promise<{ url: string; cut: () => Promise<void>; restore: () => Promise<void> }> {
    const target = new URL(TEST_REDIS_URL);
    const sockets = new Set<Socket>();
    let server: Server | undefined;
    let port = 0;
    const restore = async () => {
      server = createServer((socket) => {
        const upstream = connect(Number(target.port || 6379), target.hostname);
        for (const end of [socket, upstream]) {
          sockets.add(end);
          end.on('error', () => undefined);
          end.on('close', () => sockets.delete(end));
        }
        socket.pipe(upstream).pipe(socket);
      });
      await new Promise<void>((resolve) => server!.listen(port, '127.0.0.1', resolve));
      port = (server.address() as AddressInfo).port;
    };
    const cut = async () => {
      const closed = new Promise((resolve) => server!.close(resolve));
      for (const socket of sockets) socket.destroy();
      await closed;
    };
    await restore();
    return { url: `redis://127.0.0.1:${port}`, cut, restore };
  }

  /** An app with its limits in Redis at `url`, and the lines its circuit logs. */
  async function appOn(url: string, perKey: number, openMs?: number) {
    const lines: string[] = [];
    const circuit = await connectedCircuit(url, lines, openMs);
    const app = await buildLimited(shared, { perKey, perAddress: 1000, redis: circuit, redisKeyPrefix: 'unused:' });
    return { app, circuit, lines, close: async () => (await app.close(), circuit.client.disconnect()) };
  }

  for (const [name, url] of [
    ['nothing listens', 'redis://127.0.0.1:1'],
    ['a server that never answers', ''],
  ] as const) {
    it(`${name}: every request answers at once, and the limits still hold (in memory)`, async () => {
      // Accepts connections and says nothing: ioredis never gets past its ready check.
      const silent = createServer(() => undefined);
      await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve));
      const { apiKey } = await shared.organization();
      const limited = await appOn(url || `redis://127.0.0.1:${(silent.address() as AddressInfo).port}`, 2);
      // Every command given to the client (the connection's own ready check, INFO, aside). Before, each request
      // waited 1 to 2 s on a command queued for the connection; a request that gives Redis no command waits for
      // nothing of it, which holds on any machine where a measured time would not.
      const commands: string[] = [];
      const client = limited.circuit.client;
      const sendCommand = client.sendCommand.bind(client);
      client.sendCommand = ((command, stream) => {
        if (command.name !== 'info') commands.push(command.name);
        return sendCommand(command, stream);
      }) as typeof client.sendCommand;
      try {
        const statuses: number[] = [];
        for (let index = 0; index < 4; index++) {
          const response = await limited.app.inject({
            method: 'GET',
            url: '/intake',
            headers: { 'cv-api-key': apiKey },
          });
          statuses.push(response.statusCode);
        }
        assert.deepEqual(commands, [], 'no request gave Redis a command');
        assert.deepEqual(statuses, [200, 200, 429, 429], 'counted in memory: the per-key limit of 2 holds');
        assert.equal(limited.lines.filter((line) => line.startsWith('warn: Redis unavailable')).length, 1);
        assert.equal(limited.circuit.available, false);
      } finally {
        await limited.close();
        silent.close();
      }
    });
  }

  it('counts in memory while Redis is cut off, and in Redis again once it answers', async () => {
    const proxy = await redisProxy();
    const { prefix, cleanup } = uniqueRedisPrefix();
    const lines: string[] = [];
    const circuit = await connectedCircuit(proxy.url, lines, 300);
    const app = await buildLimited(shared, { perKey: 100, perAddress: 100, redis: circuit, redisKeyPrefix: prefix });
    const { apiKey } = await shared.organization();
    const call = () => app.inject({ method: 'GET', url: '/intake', headers: { 'cv-api-key': apiKey } });
    try {
      assert.equal((await call()).statusCode, 200);
      assert.ok((await keysUnder(prefix)).length > 0, 'counted in Redis');
      assert.equal(circuit.available, true);

      await proxy.cut();
      for (let index = 0; index < 3; index++) assert.equal((await call()).statusCode, 200);
      assert.equal(circuit.available, false);
      assert.equal(lines.filter((line) => line.startsWith('warn: Redis unavailable')).length, 1, lines.join('\n'));

      await proxy.restore();
      // ioredis reconnects by itself; the circuit closes at the first probe after its 300 ms.
      await until(() => circuit.available, 10_000, 'the circuit closed once Redis came back');
      assert.deepEqual(
        lines.map((line) => line.split(':')[0]),
        ['warn', 'info'],
        'one line when it went, one when it came back',
      );
      const before = headersOf(await call());
      assert.equal(before.remaining, 98, 'the Redis counter goes on where it was (1 request before the cut, 1 now)');
    } finally {
      await app.close();
      circuit.client.disconnect();
      await proxy.cut();
      await cleanup();
    }
  });

  it('keeps the failed-authentication limit, in memory', async () => {
    const app = await buildApp({
      config: loadConfig({ REDIS_URL: 'redis://127.0.0.1:1', AUTH_FAILURE_LIMIT: '2', ADMIN_TOKEN }),
      db: shared.db,
      logger: false,
    });
    try {
      const statuses: number[] = [];
      for (let attempt = 0; attempt < 3; attempt++) {
        const response = await app.inject({
          method: 'GET',
          url: '/admin/v1/organizations',
          headers: { authorization: 'Bearer wrong' },
        });
        statuses.push(response.statusCode);
      }
      assert.deepEqual(statuses, [401, 401, 429]);
    } finally {
      await app.close();
    }
  });

  it('reports where the counters are in /ready', async () => {
    const memory = await buildApp({ config: loadConfig({}), db: shared.db, logger: false });
    const down = await buildApp({
      config: loadConfig({ REDIS_URL: 'redis://127.0.0.1:1' }),
      db: shared.db,
      logger: false,
    });
    const up = await buildApp({ config: loadConfig({ REDIS_URL: TEST_REDIS_URL }), db: shared.db, logger: false });
    try {
      const ready = async (app: FastifyInstance) => {
        const { status, ...rest } = (await app.inject({ method: 'GET', url: '/ready' })).json();
        assert.equal(status, 'ready');
        return { counters: rest.counters, redis: rest.redis };
      };
      assert.deepEqual(await ready(memory), { counters: 'memory', redis: undefined });
      assert.deepEqual(await ready(down), { counters: 'memory', redis: 'unavailable' });
      assert.deepEqual(await ready(up), { counters: 'redis', redis: 'available' });
    } finally {
      await Promise.all([memory.close(), down.close(), up.close()]);
    }
  });
});

describe('failed-authentication limiter in Redis', () => {
  const { prefix, cleanup } = uniqueRedisPrefix();
  let redis: RedisCircuit;
  before(async () => {
    redis = await connectedCircuit(TEST_REDIS_URL);
  });
  after(async () => {
    await redis.client.quit();
    await cleanup();
  });

  it('counts failures per address and kind in a window shared by every limiter on the same Redis', async () => {
    const one = new RedisAuthFailureLimiter(redis, 2, 60_000, prefix);
    const two = new RedisAuthFailureLimiter(redis, 2, 60_000, prefix);
    assert.equal(await one.retryAfterSeconds('192.0.2.1', 'apiKey'), 0);
    await one.recordFailure('192.0.2.1', 'apiKey');
    assert.equal(await two.retryAfterSeconds('192.0.2.1', 'apiKey'), 0);
    await two.recordFailure('192.0.2.1', 'apiKey');
    const wait = await one.retryAfterSeconds('192.0.2.1', 'apiKey');
    assert.ok(wait > 0 && wait <= 60, `retry after ${wait}`);
    assert.equal(await two.retryAfterSeconds('192.0.2.2', 'apiKey'), 0);
    assert.equal(await two.retryAfterSeconds('192.0.2.1', 'admin'), 0);
    const keys = await keysUnder(prefix);
    assert.deepEqual(keys, [`${prefix}auth-failures:apiKey:192.0.2.1`]);
    assert.ok((await redis.client.pttl(keys[0] ?? '')) > 0, 'the counter expires with its window');
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
      assert.deepEqual(await keysUnder(`${prefix}app:auth-failures:`), [`${prefix}app:auth-failures:admin:127.0.0.1`]);
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
      queueCountCap: 1000,
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
