import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { startFakeStripe, type FakeStripeServer } from '../fakes/stripe-server.ts';
import { paymentsTestContext, post, type TestContext } from './support.ts';

describe('POST /api/v1/payments/setup, /api/v1/payments/intent and /initiatePayment on Stripe (fake)', () => {
  let fake: FakeStripeServer;
  let context: TestContext;
  let apiKey: string;
  let organizationId: string;

  before(async () => {
    fake = await startFakeStripe();
    context = await paymentsTestContext(fake.environment());
    ({ apiKey, organizationId } = await context.organization());
  });
  after(async () => {
    await context.close();
    await fake.stop();
  });

  it('creates a SetupIntent for a body-less POST and answers its client secret', async () => {
    const response = await post(context, '/api/v1/payments/setup', apiKey);
    assert.equal(response.status, 200);
    assert.deepEqual(Object.keys(response.body).sort(), ['paymentSecret', 'success']);
    assert.equal(response.body.success, true);
    const secret = String(response.body.paymentSecret);
    assert.match(secret, /^seti_.+_secret_.+$/);
    const setupIntentId = secret.split('_secret_')[0]!;
    const intent = fake.setupIntents.get(setupIntentId)!;
    assert.equal((intent.metadata as Record<string, string>).care360_organization_id, organizationId);
    assert.ok(fake.customers.has(String(intent.customer)), 'attached to a customer for later off-session use');
  });

  it('passes metadata email and phone to the SetupIntent', async () => {
    const response = await post(context, '/api/v1/payments/setup', apiKey, {
      metadata: { email: 'testemail@example.com', phone: '+1404567890' },
    });
    assert.equal(response.status, 200);
    const intent = fake.setupIntents.get(String(response.body.paymentSecret).split('_secret_')[0]!)!;
    assert.equal((intent.metadata as Record<string, string>).email, 'testemail@example.com');
  });

  it('creates a PaymentIntent for the seed example: 4500 cents is $45.00', async () => {
    const response = await post(context, '/api/v1/payments/intent', apiKey, {
      amount: 4500,
      paymentMethodTypes: ['card', 'klarna'],
      metadata: { email: 'testemail@example.com', phone: '+1404567890' },
    });
    assert.equal(response.status, 200);
    assert.equal(response.body.status, 200);
    assert.equal(response.body.success, true);
    assert.equal(response.body.message, 'payment Intent initiated successfully');
    const secret = (response.body.data as { paymentIntentSecret: string }).paymentIntentSecret;
    assert.match(secret, /^pi_.+_secret_.+$/);
    const intent = fake.paymentIntents.get(secret.split('_secret_')[0]!)!;
    assert.equal(intent.amount, 4500);
    assert.equal(intent.currency, 'usd');
    assert.deepEqual(intent.payment_method_types, ['card', 'klarna']);
  });

  it('rejects bad intent amounts and types with the payments envelope', async () => {
    const cases: [unknown, string][] = [
      [{}, 'Amount must be a positive number'],
      [{ amount: -5 }, 'Amount must be a positive number'],
      [{ amount: '4500' }, 'Amount must be a positive number'],
      [{ amount: 45.5 }, 'Amount must be a whole number of cents (e.g. 4500 for $45.00)'],
      [{ amount: 49 }, 'Amount must be at least 50 cents'],
      [
        { amount: 4500, paymentMethodTypes: 'card' },
        'Payment method types must be an array of Stripe payment method types, e.g. ["card", "klarna"]',
      ],
      [{ amount: 4500, metadata: 'x' }, 'Metadata must be an object'],
    ];
    for (const [body, message] of cases) {
      const response = await post(context, '/api/v1/payments/intent', apiKey, body);
      assert.equal(response.status, 400, JSON.stringify(body));
      assert.deepEqual(response.body, { success: false, message });
    }
  });

  it('answers 401 in the payments envelope without a valid key', async () => {
    for (const url of ['/api/v1/payments/setup', '/api/v1/payments/intent']) {
      const response = await post(context, url, 'c360_invalid', { amount: 4500 });
      assert.equal(response.status, 401);
      assert.deepEqual(response.body, { status: 401, error: 'Invalid API key' });
    }
  });

  it('answers 503 (not 500) when Stripe fails, and never leaks the error', async () => {
    fake.failNext({ pathPrefix: '/v1/setup_intents', status: 500 });
    const response = await post(context, '/api/v1/payments/setup', apiKey);
    assert.equal(response.status, 503);
    assert.deepEqual(response.body, { success: false, message: 'The payment provider is unavailable; please retry' });
  });

  it('serves the deprecated initiatePayment with the key in the body', async () => {
    const response = await post(context, '/initiatePayment', null, { key: apiKey, amount: 0.5 });
    assert.equal(response.status, 200);
    assert.equal(response.body.success, true);
    assert.match(String(response.body.paymentSecret), /^seti_.+_secret_.+$/);
    for (const body of [{ amount: 0.5 }, { key: 'c360_wrong' }, { key: 42 }]) {
      const rejected = await post(context, '/initiatePayment', null, body);
      assert.equal(rejected.status, 401, JSON.stringify(body));
      assert.deepEqual(rejected.body, { status: 401, error: 'Invalid API key' });
    }
  });
});

describe('payments on the simulated gateway (no STRIPE_SECRET_KEY)', () => {
  let context: TestContext;
  let apiKey: string;

  before(async () => {
    context = await paymentsTestContext();
    ({ apiKey } = await context.organization());
  });
  after(() => context.close());

  it('answers Stripe-shaped secrets and keeps the intents in the database', async () => {
    assert.equal(context.services.gateways.simulated, true);
    const setup = await post(context, '/api/v1/payments/setup', apiKey);
    assert.match(String(setup.body.paymentSecret), /^seti_[A-Za-z0-9]+_secret_[A-Za-z0-9]+$/);
    const intent = await post(context, '/api/v1/payments/intent', apiKey, { amount: 4500 });
    const secret = (intent.body.data as { paymentIntentSecret: string }).paymentIntentSecret;
    assert.match(secret, /^pi_[A-Za-z0-9]+_secret_[A-Za-z0-9]+$/);
    const { rows } = await context.db.query<{ amount_cents: number }>(
      'select amount_cents from simulated_gateway_objects where id = $1',
      [secret.split('_secret_')[0]],
    );
    assert.equal(rows[0]?.amount_cents, 4500);
  });
});
