import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { ADMIN_TOKEN, createTestContext, type TestContext } from '../support/app.ts';

const admin = { authorization: `Bearer ${ADMIN_TOKEN}` };

describe('admin API', () => {
  let context: TestContext;
  before(async () => {
    context = await createTestContext();
  });
  after(() => context.close());

  it('creates an organization with a key that authenticates, storing only its hash', async () => {
    const response = await context.app.inject({
      method: 'POST',
      url: '/admin/v1/organizations',
      headers: admin,
      payload: { name: 'Acme Weight Loss' },
    });
    assert.equal(response.statusCode, 201);
    const { organizationId, apiKey } = response.json();
    assert.match(organizationId, /^[0-9a-f-]{36}$/);
    assert.match(apiKey, /^c360_[A-Za-z0-9_-]{43}$/);
    assert.deepEqual(
      await context.services.organizations.authenticate(apiKey).then((p) => p?.organizationId),
      organizationId,
    );

    const { rows } = await context.db.query('select * from api_keys');
    const dump = JSON.stringify(rows);
    assert.ok(!dump.includes(apiKey), 'the plaintext key is not in the database');
    assert.ok(!dump.includes(apiKey.slice(5, 30)), 'nor any long part of it');
  });

  it('lists organizations', async () => {
    await context.services.organizations.createOrganization('Listed Clinic');
    const response = await context.app.inject({ method: 'GET', url: '/admin/v1/organizations', headers: admin });
    assert.equal(response.statusCode, 200);
    const listed = response.json().organizations.find((o: { name: string }) => o.name === 'Listed Clinic');
    assert.equal(listed.activeApiKeys, 1);
  });

  it('creates, lists and revokes API keys; a revoked key stops authenticating', async () => {
    const { organizationId } = await context.organization();
    const created = await context.app.inject({
      method: 'POST',
      url: `/admin/v1/organizations/${organizationId}/api-keys`,
      headers: admin,
      payload: { label: 'storefront' },
    });
    assert.equal(created.statusCode, 201);
    const { apiKeyId, apiKey } = created.json();
    assert.ok(await context.services.organizations.authenticate(apiKey));

    const listed = await context.app.inject({
      method: 'GET',
      url: `/admin/v1/organizations/${organizationId}/api-keys`,
      headers: admin,
    });
    const keys = listed.json().apiKeys;
    assert.equal(keys.length, 2);
    assert.ok(
      keys.every((key: Record<string, unknown>) => !('apiKey' in key) && !JSON.stringify(key).includes(apiKey)),
    );
    assert.equal(keys.find((key: { id: string }) => key.id === apiKeyId).label, 'storefront');

    const revoked = await context.app.inject({
      method: 'DELETE',
      url: `/admin/v1/organizations/${organizationId}/api-keys/${apiKeyId}`,
      headers: admin,
    });
    assert.equal(revoked.statusCode, 200);
    assert.ok(revoked.json().apiKey.revokedAt);
    assert.equal(await context.services.organizations.authenticate(apiKey), null);
  });

  it("cannot revoke another organization's key", async () => {
    const first = await context.organization();
    const second = await context.organization();
    const response = await context.app.inject({
      method: 'DELETE',
      url: `/admin/v1/organizations/${second.organizationId}/api-keys/${first.apiKeyId}`,
      headers: admin,
    });
    assert.equal(response.statusCode, 404);
    assert.ok(await context.services.organizations.authenticate(first.apiKey));
  });

  it('renames an organization (audited); a bad name is 400 and an unknown one 404, changing nothing', async () => {
    const { organizationId } = await context.organization('Old Name Clinic');
    const rename = (id: string, payload: unknown, headers: Record<string, string> = admin) =>
      context.app.inject({ method: 'PATCH', url: `/admin/v1/organizations/${id}`, headers, payload: payload as object });
    const renamed = await rename(organizationId, { name: '  New Name Clinic ' });
    assert.equal(renamed.statusCode, 200, renamed.body);
    assert.equal(renamed.json().organization.id, organizationId);
    assert.equal(renamed.json().organization.name, 'New Name Clinic');
    assert.equal(renamed.json().organization.activeApiKeys, 1);
    for (const payload of [{ name: '   ' }, { name: 'x'.repeat(201) }, {}, { name: 7 }]) {
      const refused = await rename(organizationId, payload);
      assert.equal(refused.statusCode, 400, JSON.stringify(payload));
      assert.equal(refused.json().success, false);
    }
    const unknown = await rename('00000000-0000-4000-8000-000000000000', { name: 'Nobody' });
    assert.equal(unknown.statusCode, 404);
    assert.deepEqual(unknown.json(), { status: 404, success: false, error: 'Organization not found' });
    assert.equal((await rename(organizationId, { name: 'Intruder' }, {})).statusCode, 401);
    const { rows } = await context.db.query<{ name: string }>('select name from organizations where id = $1', [
      organizationId,
    ]);
    assert.deepEqual(rows, [{ name: 'New Name Clinic' }], 'the refused calls changed nothing');
    await context.services.audit.flush();
    const events = await context.db.query<{ organization_id: string | null; status_code: number }>(
      `select organization_id, status_code from audit_events
        where action = 'organization.rename' and resource_id = $1 order by status_code`,
      [organizationId],
    );
    assert.deepEqual(
      events.rows.map((event) => [event.status_code, event.organization_id]),
      [[200, organizationId], ...Array(4).fill([400, null]), [401, null]],
      'each call on the organization audited, the renaming with its organization',
    );
  });

  it('requires the admin token', async () => {
    for (const headers of [{}, { authorization: 'Bearer wrong' }, { authorization: ADMIN_TOKEN }]) {
      const response = await context.app.inject({ method: 'GET', url: '/admin/v1/organizations', headers });
      assert.equal(response.statusCode, 401);
      assert.equal(response.json().success, false);
    }
  });

  it('validates its input with a 400', async () => {
    const response = await context.app.inject({
      method: 'POST',
      url: '/admin/v1/organizations',
      headers: admin,
      payload: { name: '' },
    });
    assert.equal(response.statusCode, 400);
    assert.match(response.json().error, /^Validation failed: name: /);
  });

  it('is not mounted without ADMIN_TOKEN', async () => {
    const bare = await createTestContext({ ADMIN_TOKEN: '' });
    try {
      const response = await bare.app.inject({ method: 'GET', url: '/admin/v1/organizations', headers: admin });
      assert.equal(response.statusCode, 404);
    } finally {
      await bare.close();
    }
  });
});

describe('bootstrap', () => {
  it('makes sure exactly one organization holds the bootstrap key, across restarts', async () => {
    const context = await createTestContext();
    try {
      const first = await context.services.organizations.ensureBootstrapKey('k');
      const again = await context.services.organizations.ensureBootstrapKey('k');
      assert.equal(first.created, true);
      assert.equal(again.created, false);
      assert.equal(again.organizationId, first.organizationId);
      assert.equal((await context.services.organizations.authenticate('k'))?.organizationId, first.organizationId);
      const { rows } = await context.db.query<{ key_prefix: string }>('select key_prefix from api_keys');
      assert.deepEqual(
        rows.map((row) => row.key_prefix),
        ['(custom)'],
      );
      // Concurrent start-ups of several processes race on the unique hash and agree on one organization.
      const raced = await Promise.all([1, 2, 3].map(() => context.services.organizations.ensureBootstrapKey('k2')));
      assert.equal(new Set(raced.map((r) => r.organizationId)).size, 1);
    } finally {
      await context.close();
    }
  });

  it('creates a demo organization only on an empty database', async () => {
    const context = await createTestContext();
    try {
      const demo = await context.services.organizations.createDemoOrganizationIfEmpty();
      assert.ok(demo);
      assert.ok(await context.services.organizations.authenticate(demo.apiKey));
      assert.equal(await context.services.organizations.createDemoOrganizationIfEmpty(), null);
    } finally {
      await context.close();
    }
  });
});
