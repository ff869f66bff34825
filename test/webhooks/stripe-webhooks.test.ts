import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { startFakeStripe, type FakeStripeServer } from '../fakes/stripe-server.ts';
import {
  createCase,
  paymentRow,
  paymentsTestContext,
  post,
  saveMethodForCase,
  type TestContext,
} from '../payments/support.ts';

describe('POST /webhooks/stripe', () => {
  let fake: FakeStripeServer;
  let context: TestContext;
  let apiKey: string;
  let organizationId: string;
  let caseId: string;

  const deliver = async (delivery: { payload: string; signature: string }) => {
    const response = await context.app.inject({
      method: 'POST',
      url: '/webhooks/stripe',
      headers: { 'content-type': 'application/json', 'stripe-signature': delivery.signature },
      payload: delivery.payload,
    });
    return { status: response.statusCode, body: response.json() };
  };

  /** A preauthorized case payment: its row id and its PaymentIntent at the fake. */
  const hold = async (amount = 100) => {
    const created = await post(context, `/api/v1/cases/${caseId}/payments`, apiKey, { amount, preauthorize: true });
    assert.equal(created.status, 200, JSON.stringify(created.body));
    const { paymentId } = (created.body.data as { result: { paymentId: string } }).result;
    const row = await paymentRow(context, paymentId);
    return { paymentId, intentId: String(row.gateway_reference) };
  };

  before(async () => {
    fake = await startFakeStripe();
    context = await paymentsTestContext(fake.environment());
    ({ apiKey, organizationId } = await context.organization());
    caseId = (await createCase(context, apiKey)).caseId;
    await saveMethodForCase(context, organizationId, caseId, {
      gateway: 'stripe',
      customerId: 'cus_webhooks',
      paymentMethodId: 'pm_card_visa',
    });
  });
  after(async () => {
    await context.close();
    await fake.stop();
  });

  it('rejects a bad signature, a tampered body and a missing header with 400', async () => {
    const { paymentId, intentId } = await hold();
    const good = fake.webhook('payment_intent.succeeded', fake.paymentIntents.get(intentId)!);
    const wrongSecret = fake.webhook('payment_intent.succeeded', fake.paymentIntents.get(intentId)!, {
      secret: 'whsec_other',
    });
    for (const delivery of [
      wrongSecret,
      { payload: good.payload.replace('"livemode":false', '"livemode":true'), signature: good.signature },
      { payload: good.payload, signature: '' },
    ]) {
      const response = await deliver(delivery);
      assert.equal(response.status, 400);
      assert.equal(response.body.success, false);
    }
    assert.equal((await paymentRow(context, paymentId)).status, 'UNPAID', 'nothing applied');
  });

  it('marks a captured payment PAID once, deduplicating a redelivered event', async () => {
    const { paymentId, intentId } = await hold(70);
    const intent = fake.paymentIntents.get(intentId)!;
    // Captured outside our API (e.g. in the Stripe dashboard): the webhook tells us.
    intent.status = 'succeeded';
    intent.amount_received = 7000;
    intent.amount_capturable = 0;
    const delivery = fake.webhook('payment_intent.succeeded', intent);
    const first = await deliver(delivery);
    assert.deepEqual(first, { status: 200, body: { received: true, outcome: 'applied' } });
    const row = await paymentRow(context, paymentId);
    assert.equal(row.status, 'PAID');
    assert.equal(row.hold_status, 'CAPTURED');
    assert.equal(row.amount_captured_cents, 7000);
    const again = await deliver(delivery);
    assert.deepEqual(again, { status: 200, body: { received: true, outcome: 'duplicate' } });
  });

  it('follows a payment through refund and disputes: REFUND, IN_DISPUTE, LOST_DISPUTE', async () => {
    const { paymentId, intentId } = await hold(50);
    const captured = await post(context, `/api/v1/cases/${caseId}/payments/${paymentId}/capture`, apiKey);
    assert.equal(captured.status, 200);
    const intent = fake.paymentIntents.get(intentId)!;
    const charge = fake.charges.get(String(intent.latest_charge))!;

    const disputed = await deliver(fake.webhook('charge.dispute.created', fake.dispute(intentId)));
    assert.equal(disputed.body.outcome, 'applied');
    assert.equal((await paymentRow(context, paymentId)).status, 'IN_DISPUTE');
    await deliver(fake.webhook('charge.dispute.closed', fake.dispute(intentId, 'lost')));
    assert.equal((await paymentRow(context, paymentId)).status, 'LOST_DISPUTE');

    const { paymentId: refundedId, intentId: refundedIntent } = await hold(40);
    await post(context, `/api/v1/cases/${caseId}/payments/${refundedId}/capture`, apiKey);
    const refundCharge = fake.charges.get(String(fake.paymentIntents.get(refundedIntent)!.latest_charge))!;
    refundCharge.amount_refunded = 1000;
    const refunded = await deliver(fake.webhook('charge.refunded', refundCharge));
    assert.equal(refunded.body.outcome, 'applied');
    const row = await paymentRow(context, refundedId);
    assert.equal(row.status, 'REFUND');
    assert.equal(row.amount_refunded_cents, 1000);
    assert.ok(charge);
  });

  it('records a release done at Stripe (CANCELED) and a failure (ERROR), never moving a settled payment back', async () => {
    const { paymentId, intentId } = await hold(30);
    const intent = fake.paymentIntents.get(intentId)!;
    intent.status = 'canceled';
    await deliver(fake.webhook('payment_intent.canceled', intent));
    let row = await paymentRow(context, paymentId);
    assert.equal(row.status, 'CANCELED');
    assert.equal(row.hold_status, 'RELEASED');
    // A late failure event does not turn a canceled payment into an error.
    const late = await deliver(fake.webhook('payment_intent.payment_failed', intent));
    assert.equal(late.body.outcome, 'unchanged');
    row = await paymentRow(context, paymentId);
    assert.equal(row.status, 'CANCELED');
  });

  it('settles a hold left pending by a gateway timeout', async () => {
    fake.failNext({ method: 'POST', pathPrefix: '/v1/payment_intents', status: 503 });
    const created = await post(context, `/api/v1/cases/${caseId}/payments`, apiKey, {
      amount: 20,
      preauthorize: true,
      idempotencyKey: 'webhook-settles',
    });
    assert.equal(created.status, 503);
    const { rows } = await context.db.query<{ id: string }>('select id from case_payments where idempotency_key = $1', [
      'webhook-settles',
    ]);
    const paymentId = rows[0]!.id;
    // Stripe did create the hold after all; the event names our record in its metadata.
    const intent = {
      id: 'pi_settledbywebhook',
      object: 'payment_intent',
      amount: 2000,
      amount_capturable: 2000,
      amount_received: 0,
      currency: 'usd',
      status: 'requires_capture',
      capture_method: 'manual',
      client_secret: null,
      customer: 'cus_webhooks',
      payment_method: 'pm_card_visa',
      latest_charge: null,
      last_payment_error: null,
      metadata: { care360_case_payment_id: paymentId, care360_organization_id: organizationId },
    };
    const response = await deliver(fake.webhook('payment_intent.amount_capturable_updated', intent));
    assert.equal(response.body.outcome, 'applied');
    const row = await paymentRow(context, paymentId);
    assert.equal(row.hold_status, 'HELD');
    assert.equal(row.gateway_reference, 'pi_settledbywebhook');
  });

  it('acknowledges and ignores events that are not ours', async () => {
    const foreign = fake.webhook('payment_intent.succeeded', {
      id: 'pi_notours',
      object: 'payment_intent',
      amount: 100,
      amount_capturable: 0,
      amount_received: 100,
      currency: 'usd',
      status: 'succeeded',
      metadata: {},
    });
    assert.deepEqual(await deliver(foreign), { status: 200, body: { received: true, outcome: 'ignored' } });
    const other = fake.webhook('customer.created', { id: 'cus_x', object: 'customer' });
    assert.deepEqual(await deliver(other), { status: 200, body: { received: true, outcome: 'ignored' } });
  });

  it('records a SetupIntent confirmed in the browser', async () => {
    const setup = await post(context, '/api/v1/payments/setup', apiKey);
    const setupIntentId = String(setup.body.paymentSecret).split('_secret_')[0]!;
    const intent = fake.confirmSetupIntent(setupIntentId);
    const response = await deliver(fake.webhook('setup_intent.succeeded', intent));
    assert.equal(response.body.outcome, 'applied');
    const { rows } = await context.db.query<{ status: string; payment_method_id: string }>(
      'select status, payment_method_id from gateway_intents where gateway_intent_id = $1',
      [setupIntentId],
    );
    assert.equal(rows[0]?.status, 'succeeded');
    assert.equal(rows[0]?.payment_method_id, intent.payment_method);
  });
});

describe('POST /webhooks/stripe without Stripe configured', () => {
  it('answers 400, not 500', async () => {
    const context = await paymentsTestContext();
    try {
      const response = await context.app.inject({
        method: 'POST',
        url: '/webhooks/stripe',
        headers: { 'content-type': 'application/json', 'stripe-signature': 't=1,v1=x' },
        payload: '{}',
      });
      assert.equal(response.statusCode, 400);
      assert.deepEqual(response.json(), {
        success: false,
        message: 'Stripe webhooks are not configured on this server',
      });
    } finally {
      await context.close();
    }
  });
});
