import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { startFakeStripe, type FakeStripeServer } from '../fakes/stripe-server.ts';
import {
  assertOneStripeHold,
  paymentsTestContext,
  post,
  saveMethodForCase,
  stripeHoldLeftPending,
  type TestContext,
} from '../payments/support.ts';

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
    // Stripe places the hold but its answer is lost: the record stays PENDING.
    const { apiKey, organizationId, caseId, url, body } = await stripeHoldLeftPending(context, fake, {
      customerId: 'cus_first',
      amount: 30,
      idempotencyKey: 'resume-after-new-card',
    });
    await saveMethodForCase(context, organizationId, caseId, {
      gateway: 'nmi',
      customerId: '1234567890',
      paymentMethodId: null,
    });

    const retry = await post(context, url, apiKey, body);
    assert.equal(retry.status, 200, JSON.stringify(retry.body));
    const paymentId = (retry.body.data as { result: { paymentId: string } }).result.paymentId;
    await assertOneStripeHold(context, fake, paymentId);
  });
});
