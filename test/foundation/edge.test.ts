import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { ADMIN_TOKEN, createTestContext, type TestContext } from '../support/app.ts';

const admin = { authorization: `Bearer ${ADMIN_TOKEN}` };

describe('errors at the edge are JSON in the route envelope', () => {
  let context: TestContext;
  before(async () => {
    context = await createTestContext({ BODY_LIMIT_BYTES: '2048' });
  });
  after(() => context.close());

  it('answers an unknown route with a JSON 404', async () => {
    const response = await context.app.inject({ method: 'GET', url: '/api/v1/nothing-here?email=a@b.c' });
    assert.equal(response.statusCode, 404);
    assert.match(String(response.headers['content-type']), /application\/json/);
    assert.deepEqual(response.json(), {
      status: 404,
      success: false,
      error: 'Route GET /api/v1/nothing-here not found',
    });
  });

  it('answers malformed JSON with a 400', async () => {
    const response = await context.app.inject({
      method: 'POST',
      url: '/admin/v1/organizations',
      headers: { ...admin, 'content-type': 'application/json' },
      payload: '{"name": ',
    });
    assert.equal(response.statusCode, 400);
    assert.deepEqual(response.json(), {
      status: 400,
      success: false,
      error: 'Validation failed: body: Malformed JSON',
    });
  });

  it('refuses prototype-poisoning keys and deep nesting with 400s in the documented validation form', async () => {
    const cases = [
      [
        '{"name":"x","__proto__":{"admin":true}}',
        'Validation failed: body: Property names __proto__ and constructor are not allowed',
      ],
      [
        '{"name":"x","constructor":{"prototype":{"admin":true}}}',
        'Validation failed: body: Property names __proto__ and constructor are not allowed',
      ],
      [`{"name":${'['.repeat(65)}${']'.repeat(65)}}`, 'Validation failed: body: Nests deeper than 64 levels'],
    ] as const;
    for (const [payload, error] of cases) {
      const response = await context.app.inject({
        method: 'POST',
        url: '/admin/v1/organizations',
        headers: { ...admin, 'content-type': 'application/json' },
        payload,
      });
      assert.equal(response.statusCode, 400);
      assert.deepEqual(response.json(), { status: 400, success: false, error });
    }
    const { rows } = await context.db.query<{ count: number }>(
      "select count(*)::int as count from organizations where name = 'x'",
    );
    assert.equal(rows[0]?.count, 0);
  });

  it('answers a body over the limit with a 413', async () => {
    const response = await context.app.inject({
      method: 'POST',
      url: '/admin/v1/organizations',
      headers: { ...admin, 'content-type': 'application/json' },
      payload: JSON.stringify({ name: 'x'.repeat(5000) }),
    });
    assert.equal(response.statusCode, 413);
    assert.equal(response.json().error, 'Request body is too large');
  });

  it('answers a wrong content type with a 415', async () => {
    for (const contentType of ['text/plain', 'application/xml', 'application/x-www-form-urlencoded']) {
      const response = await context.app.inject({
        method: 'POST',
        url: '/admin/v1/organizations',
        headers: { ...admin, 'content-type': contentType },
        payload: 'name=Acme',
      });
      assert.equal(response.statusCode, 415, contentType);
      assert.equal(response.json().success, false);
    }
  });

  it('never shows a stack trace or HTML', async () => {
    const response = await context.app.inject({
      method: 'POST',
      url: '/admin/v1/organizations',
      headers: { ...admin, 'content-type': 'application/json' },
      payload: '[1,2',
    });
    assert.doesNotMatch(response.body, /<html|at .+\.ts:\d+/i);
  });
});

describe('CORS: the API is server to server', () => {
  let context: TestContext;
  before(async () => {
    context = await createTestContext();
  });
  after(() => context.close());

  it('sends no Access-Control-Allow-Origin and approves no preflight', async () => {
    const preflight = await context.app.inject({
      method: 'OPTIONS',
      url: '/admin/v1/organizations',
      headers: {
        origin: 'https://shop.example.com',
        'access-control-request-method': 'POST',
        'access-control-request-headers': 'cv-api-key, content-type',
      },
    });
    assert.ok(preflight.statusCode >= 400, `preflight answered ${preflight.statusCode}`);
    assert.equal(preflight.headers['access-control-allow-origin'], undefined);
    assert.equal(preflight.headers['access-control-allow-headers'], undefined);

    const simple = await context.app.inject({
      method: 'GET',
      url: '/health',
      headers: { origin: 'https://shop.example.com' },
    });
    assert.equal(simple.statusCode, 200);
    assert.equal(simple.headers['access-control-allow-origin'], undefined);
  });
});

describe('response headers', () => {
  let context: TestContext;
  before(async () => {
    context = await createTestContext();
  });
  after(() => context.close());

  it('carry a request id, nosniff and no-store', async () => {
    const response = await context.app.inject({ method: 'GET', url: '/health' });
    assert.match(String(response.headers['x-request-id']), /^[0-9a-f-]{36}$/);
    assert.equal(response.headers['x-content-type-options'], 'nosniff');
    assert.equal(response.headers['cache-control'], 'no-store');
  });

  it('echo a plain request id from the caller, and replace anything else', async () => {
    const plain = await context.app.inject({ method: 'GET', url: '/health', headers: { 'x-request-id': 'abc-123' } });
    assert.equal(plain.headers['x-request-id'], 'abc-123');
    const odd = await context.app.inject({ method: 'GET', url: '/health', headers: { 'x-request-id': 'a b\u00e9' } });
    assert.notEqual(odd.headers['x-request-id'], 'a b\u00e9');
  });
});

describe('health', () => {
  let context: TestContext;
  before(async () => {
    context = await createTestContext();
  });
  after(() => context.close());

  it('reports the process up and the database ready', async () => {
    assert.deepEqual((await context.app.inject({ method: 'GET', url: '/health' })).json(), { status: 'ok' });
    const ready = await context.app.inject({ method: 'GET', url: '/ready' });
    assert.equal(ready.statusCode, 200);
    assert.equal(ready.json().status, 'ready');
    assert.equal(ready.json().database, process.env.TEST_DATABASE_URL ? 'postgres' : 'pglite');
  });

  it('reports 503 when the database is gone', async () => {
    const broken = await createTestContext();
    await broken.db.close();
    const ready = await broken.app.inject({ method: 'GET', url: '/ready' });
    assert.equal(ready.statusCode, 503);
    assert.equal(ready.json().status, 'unavailable');
    await broken.app.close();
  });
});

describe('client address behind a proxy', () => {
  it('ignores X-Forwarded-For unless TRUST_PROXY says whose to believe', async () => {
    const direct = await createTestContext({ AUTH_FAILURE_LIMIT: '1' });
    const proxied = await createTestContext({ AUTH_FAILURE_LIMIT: '1', TRUST_PROXY: '127.0.0.1' });
    try {
      const attempt = (context: TestContext, forwardedFor: string) =>
        context.app.inject({
          method: 'GET',
          url: '/admin/v1/organizations',
          remoteAddress: '127.0.0.1',
          headers: { authorization: 'Bearer wrong', 'x-forwarded-for': forwardedFor },
        });
      // Without TRUST_PROXY, both "clients" are the proxy's one address: the second is already limited.
      assert.equal((await attempt(direct, '203.0.113.1')).statusCode, 401);
      assert.equal((await attempt(direct, '203.0.113.2')).statusCode, 429);
      // Trusting the proxy, each forwarded client has its own count.
      assert.equal((await attempt(proxied, '203.0.113.1')).statusCode, 401);
      assert.equal((await attempt(proxied, '203.0.113.2')).statusCode, 401);
      assert.equal((await attempt(proxied, '203.0.113.1')).statusCode, 429);
    } finally {
      await direct.close();
      await proxied.close();
    }
  });
});
