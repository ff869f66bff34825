import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { isPublicAddress } from '../../src/modules/outbound-webhooks/address-safety.ts';
import { Tenant } from '../../src/http/gate.ts';
import { enqueueWebhookEvent } from '../../src/modules/outbound-webhooks/events.ts';
import { ADMIN_TOKEN, createTestContext, type TestContext } from '../support/app.ts';
import { Receiver, testWorker, verifyCvSignature } from './support.ts';

const admin = { authorization: `Bearer ${ADMIN_TOKEN}` };

describe('webhook endpoints (admin API)', () => {
  let context: TestContext;
  let organizationId: string;
  let otherOrganizationId: string;
  const base = () => `/admin/v1/organizations/${organizationId}/webhooks`;
  const call = (method: 'GET' | 'POST' | 'PATCH' | 'DELETE', url: string, payload?: Record<string, unknown>) =>
    context.app.inject({ method, url, headers: admin, ...(payload ? { payload } : {}) });

  before(async () => {
    context = await createTestContext({ WEBHOOK_ALLOW_PRIVATE_NETWORKS: 'true' });
    ({ organizationId } = await context.organization());
    ({ organizationId: otherOrganizationId } = await context.organization());
  });
  after(() => context.close());

  it('creates an endpoint (201), answers a made secret once, and never lists a secret', async () => {
    const created = await call('POST', base(), { url: 'http://127.0.0.1:1/hook' });
    assert.equal(created.statusCode, 201, created.body);
    const body = created.json();
    assert.match(body.secret, /^whsec_[A-Za-z0-9+/]{43}=$/);
    assert.equal(body.events, null, 'no list: every event');
    assert.equal(body.documentFormat, 'BASE64');
    assert.equal(body.sendFullCaseData, false);
    assert.equal(body.enabled, true);

    const given = await call('POST', base(), {
      url: 'http://127.0.0.1:1/other',
      secret: 'a partner chosen secret',
      events: ['ADD_CASE_DECISION', 'CREATE_CASE'],
      documentFormat: 'URL',
      sendFullCaseData: true,
    });
    assert.equal(given.statusCode, 201, given.body);
    assert.equal(given.json().secret, undefined, 'a secret the partner gave is not echoed');
    assert.deepEqual(given.json().events, ['ADD_CASE_DECISION', 'CREATE_CASE']);

    const list = await call('GET', base());
    assert.equal(list.statusCode, 200);
    const webhooks = list.json().webhooks as Record<string, unknown>[];
    assert.deepEqual(
      webhooks.map((webhook) => webhook.webhookId),
      [body.webhookId, given.json().webhookId],
    );
    assert.ok(!list.body.includes('whsec_') && !list.body.includes('partner chosen'));

    // Stored sealed under the PHI key ring, never as given.
    const { rows } = await context.db.query<{ secret_sealed: string }>(
      'select secret_sealed from webhook_endpoints where organization_id = $1',
      [organizationId],
    );
    for (const row of rows) {
      assert.match(row.secret_sealed, /^v2\./);
      assert.ok(!row.secret_sealed.includes('partner') && !row.secret_sealed.includes('whsec_'));
    }
  });

  it('refuses bad input with 400 and writes nothing', async () => {
    const before = (await call('GET', base())).json().webhooks.length;
    for (const payload of [
      {},
      { url: 'not a url' },
      { url: 'ftp://127.0.0.1/hook' },
      { url: 'http://user:pass@127.0.0.1/hook' },
      { url: 'http://127.0.0.1/hook', events: ['NOT_AN_EVENT'] },
      { url: 'http://127.0.0.1/hook', events: [] },
      { url: 'http://127.0.0.1/hook', documentFormat: 'PDF' },
      { url: 'http://127.0.0.1/hook', secret: 'short' },
      { url: 'http://127.0.0.1/hook', secret: 'whsec_not base64!' },
    ]) {
      const response = await call('POST', base(), payload);
      assert.equal(response.statusCode, 400, `${JSON.stringify(payload)}: ${response.body}`);
      assert.equal(response.json().success, false);
      assert.equal(typeof response.json().error, 'string');
    }
    assert.equal((await call('GET', base())).json().webhooks.length, before);
  });

  it("answers 404 for an unknown organization and for another organization's endpoint", async () => {
    const missing = await call('POST', `/admin/v1/organizations/${randomUUID()}/webhooks`, {
      url: 'http://127.0.0.1/',
    });
    assert.equal(missing.statusCode, 404);
    assert.deepEqual(missing.json(), { status: 404, success: false, error: 'Organization not found' });
    const { webhookId } = (await call('POST', base(), { url: 'http://127.0.0.1:1/mine' })).json();
    const foreign = `/admin/v1/organizations/${otherOrganizationId}/webhooks/${webhookId}`;
    assert.equal((await call('GET', foreign)).statusCode, 404);
    assert.equal((await call('PATCH', foreign, { enabled: false })).statusCode, 404);
    assert.equal((await call('DELETE', foreign)).statusCode, 404);
    assert.equal((await call('POST', `${foreign}/rotate-secret`)).statusCode, 404);
    assert.equal((await call('GET', `${foreign}/deliveries`)).statusCode, 404);
    assert.equal((await call('GET', `${base()}/${webhookId}`)).json().enabled, true);
  });

  it('updates, disables, enables and deletes an endpoint', async () => {
    const { webhookId } = (await call('POST', base(), { url: 'http://127.0.0.1:1/a' })).json();
    const url = `${base()}/${webhookId}`;
    const updated = await call('PATCH', url, { url: 'http://127.0.0.1:1/b', events: ['CREATE_CASE'] });
    assert.equal(updated.statusCode, 200, updated.body);
    assert.equal(updated.json().url, 'http://127.0.0.1:1/b');
    assert.deepEqual(updated.json().events, ['CREATE_CASE']);
    assert.equal((await call('PATCH', url, { events: null })).json().events, null);

    const disabled = (await call('PATCH', url, { enabled: false })).json();
    assert.equal(disabled.enabled, false);
    assert.equal(disabled.disabledReason, 'Disabled by an operator');
    const enqueued = await context.db.transaction((tx) =>
      enqueueWebhookEvent(tx, Tenant.forOperator(organizationId, 'test'), {
        caseId: randomUUID(),
        event: 'CREATE_CASE',
        eventId: randomUUID(),
      }),
    );
    const enabledCount = (await call('GET', base())).json().webhooks.filter((w: { enabled: boolean }) => w.enabled);
    assert.equal(enqueued, enabledCount.length, 'a disabled endpoint is not queued for');
    // Nothing listens at these URLs: the deliveries would only be retried by the later tests' workers.
    await context.db.query('delete from webhook_deliveries where organization_id = $1', [organizationId]);
    const enabled = (await call('PATCH', url, { enabled: true })).json();
    assert.equal(enabled.enabled, true);
    assert.equal(enabled.disabledReason, null);

    const deleted = await call('DELETE', url);
    assert.deepEqual(deleted.json(), { webhookId, deleted: true });
    assert.equal((await call('GET', url)).statusCode, 404);
  });

  it('rotates the secret: later deliveries are signed with the new one', async () => {
    const receiver = await new Receiver().start();
    try {
      const { organizationId: own } = await context.organization();
      const created = (await call('POST', `/admin/v1/organizations/${own}/webhooks`, { url: receiver.url() })).json();
      const rotated = await call('POST', `/admin/v1/organizations/${own}/webhooks/${created.webhookId}/rotate-secret`);
      assert.equal(rotated.statusCode, 200, rotated.body);
      const secret = rotated.json().secret as string;
      assert.notEqual(secret, created.secret);
      await context.db.transaction((tx) =>
        enqueueWebhookEvent(tx, Tenant.forOperator(own, 'test'), {
          caseId: randomUUID(),
          event: 'CREATE_CASE',
          eventId: randomUUID(),
        }),
      );
      await testWorker(context.db, context.services.phiCipher).drain();
      const [received] = receiver.received;
      assert.ok(verifyCvSignature(received!.body, received!.headers['x-cv-signature'], secret));
      assert.ok(!verifyCvSignature(received!.body, received!.headers['x-cv-signature'], created.secret));
    } finally {
      await receiver.close();
    }
  });
});

describe('webhook URL safety without WEBHOOK_ALLOW_PRIVATE_NETWORKS', () => {
  let context: TestContext;
  let organizationId: string;
  before(async () => {
    context = await createTestContext();
    ({ organizationId } = await context.organization());
  });
  after(() => context.close());

  it('accepts only https URLs of public addresses', async () => {
    for (const [url, message] of [
      ['http://203.0.114.10/hook', 'url must be https'],
      ['https://127.0.0.1/hook', 'url must be a public address'],
      ['https://10.1.2.3/hook', 'url must be a public address'],
      ['https://169.254.169.254/latest', 'url must be a public address'],
      ['https://[::1]/hook', 'url must be a public address'],
      ['https://[::ffff:127.0.0.1]/hook', 'url must be a public address'],
      ['https://localhost/hook', 'url must be a public address'],
    ] as const) {
      const response = await context.app.inject({
        method: 'POST',
        url: `/admin/v1/organizations/${organizationId}/webhooks`,
        headers: admin,
        payload: { url },
      });
      assert.equal(response.statusCode, 400, url);
      assert.equal(response.json().error, message, url);
    }
    const { rows } = await context.db.query('select 1 from webhook_endpoints where organization_id = $1', [
      organizationId,
    ]);
    assert.equal(rows.length, 0);
  });

  it('tells public addresses from the rest', () => {
    for (const address of ['8.8.8.8', '1.1.1.1', '2606:4700:4700::1111', '::ffff:8.8.8.8']) {
      assert.equal(isPublicAddress(address), true, address);
    }
    for (const address of [
      '127.0.0.1',
      '10.0.0.1',
      '172.16.5.4',
      '192.168.1.1',
      '169.254.169.254',
      '100.64.0.1',
      '0.0.0.0',
      '224.0.0.1',
      '::1',
      '::',
      'fe80::1',
      'fd00::1',
      '::ffff:10.0.0.1',
      '::ffff:7f00:1',
      'not an address',
    ]) {
      assert.equal(isPublicAddress(address), false, address);
    }
  });
});
