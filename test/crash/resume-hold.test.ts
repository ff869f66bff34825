import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { startFakeStripe, type FakeStripeServer } from '../fakes/stripe-server.ts';
import { createCase, paymentsTestContext, post, saveMethodForCase, type TestContext } from '../payments/support.ts';

// Found by `npm run test:crash`: a hold whose first attempt's outcome is unknown (a crash, a timeout)
// is resumed by a retry with the same idempotencyKey. If the patient saved another card in the
// meantime (here on NMI), the retry must still use the card of the first attempt: that is the hold
// Stripe placed under the gateway key, and no record would name it otherwise.
describe('resuming a pending hold after the patient saved another payment method', () => {
  let fake: FakeStripeServer;
  let context: TestContext;

  before(async () => {
    fake = await startFakeStripe();
    context = await paymentsTestContext(fake.environment());
  });
  after(async () => {
    await context.close();
    await fake.stop();
  });

  it('places the hold once, on the first card, and records it', async () => {
    const { apiKey, organizationId } = await context.organization();
    const created = await createCase(context, apiKey);
    assert.equal(created.status, 200, JSON.stringify(created.body));
    await saveMethodForCase(context, organizationId, created.caseId, {
      gateway: 'stripe',
      customerId: 'cus_first',
      paymentMethodId: 'pm_card_visa',
    });
    const url = `/api/v1/cases/${created.caseId}/payments`;
    const body = { amount: 30, preauthorize: true, idempotencyKey: 'resume-after-new-card' };

    // Stripe places the hold but its answer is lost: the record stays PENDING.
    fake.loseNextAnswer({ method: 'POST', pathPrefix: '/v1/payment_intents' });
    const first = await post(context, url, apiKey, body);
    assert.equal(first.status, 503, JSON.stringify(first.body));
    await saveMethodForCase(context, organizationId, created.caseId, {
      gateway: 'nmi',
      customerId: '1234567890',
      paymentMethodId: null,
    });

    const retry = await post(context, url, apiKey, body);
    assert.equal(retry.status, 200, JSON.stringify(retry.body));
    const paymentId = (retry.body.data as { result: { paymentId: string } }).result.paymentId;
    const held = [...fake.paymentIntents.values()].filter(
      (intent) => (intent.metadata as Record<string, string>).care360_case_payment_id === paymentId,
    );
    assert.equal(held.length, 1, 'one hold at Stripe');
    const { rows } = await context.db.query<{ hold_status: string; gateway: string; gateway_reference: string }>(
      'select hold_status, gateway, gateway_reference from case_payments where id = $1',
      [paymentId],
    );
    assert.deepEqual(rows[0], { hold_status: 'HELD', gateway: 'stripe', gateway_reference: held[0]!.id });
  });
});
