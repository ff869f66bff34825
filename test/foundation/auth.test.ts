import assert from 'node:assert/strict';
import { after, before, beforeEach, describe, it } from 'node:test';
import Fastify, { type FastifyInstance, type FastifyRequest } from 'fastify';
import { AuthFailureLimiter, registerAuthentication, type FailedAuthenticationLimiter } from '../../src/http/gate.ts';
import { registerErrorHandling } from '../../src/http/error-handler.ts';
import { hashApiKey } from '../../src/modules/organizations/api-keys.ts';
import { createTestContext, type TestContext } from '../support/app.ts';

// The authentication mechanism on two probe routes, one per documented 401 envelope.
/** Who the gate says is calling, as a body to compare. */
const callerOf = (request: FastifyRequest) => ({
  organizationId: request.scope.tenant.organizationId,
  apiKeyId: request.scope.apiKeyId,
});

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
    app.get('/intake', { config: { auth: 'apiKey', envelope: 'intake' } }, async (request) => callerOf(request));
    app.get('/payments', { config: { auth: 'apiKey', envelope: 'payments' } }, async (request) => callerOf(request));
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
    await limited.close();
  });
});

describe('a valid key is never refused because of failures it did not make', () => {
  let context: TestContext;
  let app: FastifyInstance;
  const ADMIN = 'operator-admin-token';
  // An address of its own for each test: the limiter's windows outlive a test.
  let agency = '';
  let addresses = 0;
  beforeEach(() => {
    agency = `203.0.113.${++addresses}`;
  });

  before(async () => {
    context = await createTestContext();
    app = Fastify({ logger: false });
    registerErrorHandling(app);
    registerAuthentication(app, {
      organizations: context.services.organizations,
      limiter: new AuthFailureLimiter(3, 60_000),
      adminToken: ADMIN,
    });
    app.get('/payments', { config: { auth: 'apiKey', envelope: 'payments' } }, async (request) => callerOf(request));
    app.post('/initiatePayment', { config: { auth: 'bodyKey', envelope: 'payments' } }, async (request) => ({
      organizationId: request.scope.tenant.organizationId,
    }));
    app.get('/admin', { config: { auth: 'admin' } }, async () => ({ ok: true }));
    await app.ready();
  });
  after(async () => {
    await app.close();
    await context.close();
  });

  const fromAgency = (url: string, headers: Record<string, string>) =>
    app.inject({ method: 'GET', url, remoteAddress: agency, headers });

  it('serves the clinics whose keys are valid while one stale key has the address limited', async () => {
    const clinicA = await context.organization();
    const clinicB = await context.organization();
    const { apiKey: stale, apiKeyId } = await context.services.organizations.createApiKey(clinicA.organizationId, null);
    await context.services.organizations.revokeApiKey(clinicA.organizationId, apiKeyId);
    const statuses: number[] = [];
    for (let attempt = 0; attempt < 5; attempt++) {
      statuses.push((await fromAgency('/payments', { 'cv-api-key': stale })).statusCode);
    }
    assert.deepEqual(statuses, [401, 401, 401, 429, 429], 'the stale key is limited');
    for (const clinic of [clinicA, clinicB]) {
      const served = await fromAgency('/payments', { 'cv-api-key': clinic.apiKey });
      assert.equal(served.statusCode, 200);
      assert.equal(served.json().organizationId, clinic.organizationId);
    }
    // The key in the body of the legacy route too.
    const legacy = await app.inject({
      method: 'POST',
      url: '/initiatePayment',
      remoteAddress: agency,
      payload: { key: clinicB.apiKey },
    });
    assert.equal(legacy.statusCode, 200);
    assert.equal(legacy.json().organizationId, clinicB.organizationId);
    // So is the operator: API key failures do not count against the admin token.
    assert.equal((await fromAgency('/admin', { authorization: `Bearer ${ADMIN}` })).statusCode, 200);
  });

  it('still stops guessing: from a limited address a wrong key gets 429 whatever its form', async () => {
    for (let attempt = 0; attempt < 3; attempt++) {
      assert.equal((await fromAgency('/payments', { 'cv-api-key': `c360_guess${attempt}` })).statusCode, 401);
    }
    const guesses = ['c360_' + 'A'.repeat(43), 'c360_short', 'not-even-a-key', ''];
    for (const guess of guesses) {
      const refused = await fromAgency('/payments', guess ? { 'cv-api-key': guess } : {});
      assert.equal(refused.statusCode, 429, `guess "${guess}"`);
      assert.ok(Number(refused.headers['retry-after']) > 0);
      assert.deepEqual(refused.json(), {
        success: false,
        message: 'Too many failed authentication attempts; try again later',
      });
    }
    const body = await app.inject({
      method: 'POST',
      url: '/initiatePayment',
      remoteAddress: agency,
      payload: { key: 'c360_' + 'B'.repeat(43) },
    });
    assert.equal(body.statusCode, 429);
    // An operator-chosen key (not of the generated form) is not checked from a limited address: it could be short.
    const bootstrap = 'short-operator-key';
    await context.services.organizations.ensureBootstrapKey(bootstrap);
    assert.equal((await fromAgency('/payments', { 'cv-api-key': bootstrap })).statusCode, 429);
    assert.equal(
      (await app.inject({ method: 'GET', url: '/payments', headers: { 'cv-api-key': bootstrap } })).statusCode,
      200,
      'elsewhere it is served',
    );
  });

  it('limits the admin token by its own failures', async () => {
    const from = (token: string) =>
      app.inject({
        method: 'GET',
        url: '/admin',
        remoteAddress: '198.51.100.20',
        headers: { authorization: `Bearer ${token}` },
      });
    const statuses: number[] = [];
    for (let attempt = 0; attempt < 4; attempt++) statuses.push((await from(`guess-${attempt}`)).statusCode);
    assert.deepEqual(statuses, [401, 401, 401, 429]);
    // Guesses at the operator's secret stop even the right one until the window ends.
    assert.equal((await from(ADMIN)).statusCode, 429);
    const { apiKey } = await context.organization();
    const keyed = await app.inject({
      method: 'GET',
      url: '/payments',
      remoteAddress: '198.51.100.20',
      headers: { 'cv-api-key': apiKey },
    });
    assert.equal(keyed.statusCode, 200, 'admin token failures do not limit API keys');
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
  it('opens again when the window ends, and counts each kind of secret apart', () => {
    const limiter = new AuthFailureLimiter(2, 1_000);
    limiter.recordFailure('a', 'apiKey', 0);
    limiter.recordFailure('a', 'apiKey', 10);
    assert.equal(limiter.retryAfterSeconds('a', 'apiKey', 20), 1);
    assert.equal(limiter.retryAfterSeconds('a', 'admin', 20), 0);
    assert.equal(limiter.retryAfterSeconds('b', 'apiKey', 20), 0);
    assert.equal(limiter.retryAfterSeconds('a', 'apiKey', 1_000), 0);
  });
});
