import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import Fastify, { type FastifyInstance } from 'fastify';
import { AuthFailureLimiter, registerAuthentication, type FailedAuthenticationLimiter } from '../../src/http/auth.ts';
import { registerErrorHandling } from '../../src/http/error-handler.ts';
import { hashApiKey } from '../../src/modules/organizations/api-keys.ts';
import { createTestContext, type TestContext } from '../support/app.ts';

// The authentication mechanism on two probe routes, one per documented 401 envelope.
describe('cv-api-key authentication', () => {
  let context: TestContext;
  let app: FastifyInstance;
  let apiKey: string;
  let organizationId: string;

  before(async () => {
    context = await createTestContext();
    ({ apiKey, organizationId } = await context.organization());
    app = Fastify({ logger: false });
    registerErrorHandling(app);
    registerAuthentication(app, {
      organizations: context.services.organizations,
      limiter: new AuthFailureLimiter(5, 60_000),
      adminToken: undefined,
    });
    app.get('/intake', { config: { auth: 'apiKey', envelope: 'intake' } }, async (request) => request.principal);
    app.get('/payments', { config: { auth: 'apiKey', envelope: 'payments' } }, async (request) => request.principal);
    await app.ready();
  });
  after(async () => {
    await app.close();
    await context.close();
  });

  it('resolves the organization from a valid key, whatever the header case', async () => {
    for (const header of ['cv-api-key', 'CV-Api-Key', 'CV-API-KEY']) {
      const response = await app.inject({ method: 'GET', url: '/intake', headers: { [header]: apiKey } });
      assert.equal(response.statusCode, 200);
      assert.equal(response.json().organizationId, organizationId);
    }
  });

  it('answers a missing or unknown key with the documented 401 of each endpoint family', async () => {
    const missing = await app.inject({ method: 'GET', url: '/intake' });
    assert.equal(missing.statusCode, 401);
    assert.deepEqual(missing.json(), { status: 401, error: 'Invalid request' });
    const unknown = await app.inject({ method: 'GET', url: '/payments', headers: { 'cv-api-key': 'c360_nope' } });
    assert.equal(unknown.statusCode, 401);
    assert.deepEqual(unknown.json(), { status: 401, error: 'Invalid API key' });
  });

  it('rejects a revoked key at once', async () => {
    const issued = await context.services.organizations.createApiKey(organizationId, 'to revoke');
    const ok = await app.inject({ method: 'GET', url: '/payments', headers: { 'cv-api-key': issued.apiKey } });
    assert.equal(ok.statusCode, 200);
    await context.services.organizations.revokeApiKey(organizationId, issued.apiKeyId);
    const revoked = await app.inject({ method: 'GET', url: '/payments', headers: { 'cv-api-key': issued.apiKey } });
    assert.equal(revoked.statusCode, 401);
    assert.deepEqual(revoked.json(), { status: 401, error: 'Invalid API key' });
  });

  it('records when a key was last used', async () => {
    const { rows } = await context.db.query<{ last_used_at: Date | null }>(
      'select last_used_at from api_keys where key_hash = $1',
      [hashApiKey(apiKey)],
    );
    assert.ok(rows[0]?.last_used_at instanceof Date);
  });

  it('rate-limits repeated failures from one address with 429 and Retry-After', async () => {
    const limited = Fastify({ logger: false });
    registerErrorHandling(limited);
    registerAuthentication(limited, {
      organizations: context.services.organizations,
      limiter: new AuthFailureLimiter(3, 60_000),
      adminToken: undefined,
    });
    limited.get('/payments', { config: { auth: 'apiKey', envelope: 'payments' } }, async () => ({ ok: true }));
    await limited.ready();
    const statuses: number[] = [];
    for (let attempt = 0; attempt < 5; attempt++) {
      const response = await limited.inject({ method: 'GET', url: '/payments', headers: { 'cv-api-key': 'wrong' } });
      statuses.push(response.statusCode);
      if (response.statusCode === 429) {
        assert.ok(Number(response.headers['retry-after']) > 0);
        assert.equal(response.json().success, false);
      }
    }
    assert.deepEqual(statuses, [401, 401, 401, 429, 429]);
    // Even the right key waits out the window: the limit is on the address, not on the key tried.
    const blocked = await limited.inject({ method: 'GET', url: '/payments', headers: { 'cv-api-key': apiKey } });
    assert.equal(blocked.statusCode, 429);
    await limited.close();
  });
});

describe('a failed-authentication limiter that cannot answer (Redis down)', () => {
  it('lets a valid key through, whether the limiter throws or its answer fails, and still counts as 401 a bad one', async () => {
    const context = await createTestContext();
    const { apiKey } = await context.organization();
    const failing: FailedAuthenticationLimiter[] = [
      {
        retryAfterSeconds: () => Promise.reject(new Error('redis down')),
        recordFailure: () => Promise.reject(new Error('redis down')),
      },
      {
        retryAfterSeconds: () => {
          throw new Error('redis down');
        },
        recordFailure: () => {
          throw new Error('redis down');
        },
      },
      // A limiter that answers later, as the Redis one does, and lets everyone try.
      { retryAfterSeconds: async () => 0, recordFailure: async () => undefined },
    ];
    try {
      for (const limiter of failing) {
        const app = Fastify({ logger: false });
        registerErrorHandling(app);
        registerAuthentication(app, { organizations: context.services.organizations, limiter, adminToken: undefined });
        app.get('/intake', { config: { auth: 'apiKey', envelope: 'intake' } }, async () => ({ ok: true }));
        await app.ready();
        const good = await app.inject({ method: 'GET', url: '/intake', headers: { 'cv-api-key': apiKey } });
        assert.equal(good.statusCode, 200);
        const bad = await app.inject({ method: 'GET', url: '/intake', headers: { 'cv-api-key': 'c360_nope' } });
        assert.equal(bad.statusCode, 401);
        await app.close();
      }
    } finally {
      await context.close();
    }
  });
});

describe('AuthFailureLimiter', () => {
  it('opens again when the window ends', () => {
    const limiter = new AuthFailureLimiter(2, 1_000);
    limiter.recordFailure('a', 0);
    limiter.recordFailure('a', 10);
    assert.equal(limiter.retryAfterSeconds('a', 20), 1);
    assert.equal(limiter.retryAfterSeconds('b', 20), 0);
    assert.equal(limiter.retryAfterSeconds('a', 1_000), 0);
  });
});
