import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { cardProblem, luhnValid, TEST_CARDS } from '../../src/modules/payments/test-card/cards.ts';
import { createCase, paymentsTestContext, post, type TestContext } from './support.ts';

const good = { number: '4242 4242 4242 4242', expiry: '12 / 40', cvc: '123' };
const card = (number: string) => ({ ...good, number });

describe("the simulated gateway's test card element", () => {
  let context: TestContext;
  let apiKey: string;
  before(async () => {
    context = await paymentsTestContext();
    ({ apiKey } = await context.organization());
  });
  after(() => context.close());

  const confirm = (body: Record<string, unknown>) => post(context, '/payments/test-card/confirm', null, body);
  const setupSecret = async () => String((await post(context, '/api/v1/payments/setup', apiKey)).body.paymentSecret);
  const intentSecret = async (amount: number) =>
    String(
      (
        (await post(context, '/api/v1/payments/intent', apiKey, { amount })).body.data as {
          paymentIntentSecret: string;
        }
      ).paymentIntentSecret,
    );

  it('declines a SetupIntent with a declined card, so the intake refuses it; a good card then confirms it', async () => {
    const clientSecret = await setupSecret();
    const setupIntentId = clientSecret.split('_secret_')[0]!;

    const declined = await confirm({ clientSecret, card: card('4000000000000002') });
    assert.equal(declined.status, 402);
    assert.deepEqual(declined.body, {
      error: {
        type: 'card_error',
        code: 'card_declined',
        decline_code: 'generic_decline',
        message: 'Your card was declined.',
        setup_intent: {
          id: setupIntentId,
          object: 'setup_intent',
          status: 'requires_payment_method',
          payment_method: (declined.body.error as { setup_intent: { payment_method: string } }).setup_intent
            .payment_method,
        },
      },
    });
    const refused = await createCase(context, apiKey, { stripeSetupId: setupIntentId, paymentAmount: 600 });
    assert.equal(refused.status, 400);
    assert.match(String(refused.body.error), /stripeSetupId: The SetupIntent has not succeeded/);

    const confirmed = await confirm({ clientSecret, card: good });
    assert.equal(confirmed.status, 200);
    const setupIntent = confirmed.body.setupIntent as { id: string; status: string; payment_method: string };
    assert.equal(setupIntent.id, setupIntentId);
    assert.equal(setupIntent.status, 'succeeded');
    assert.match(setupIntent.payment_method, /^pm_sim/);

    const created = await createCase(context, apiKey, { stripeSetupId: setupIntentId, paymentAmount: 600 });
    assert.equal(created.status, 200, JSON.stringify(created.body));

    const again = await confirm({ clientSecret, card: good });
    assert.equal(again.status, 400);
    assert.deepEqual(again.body, {
      error: {
        type: 'invalid_request_error',
        code: 'setup_intent_unexpected_state',
        message: 'This SetupIntent was already used to create a case.',
      },
    });
  });

  it('asks for authentication with the 3D Secure card; a failed one is declined, a completed one pays', async () => {
    const clientSecret = await intentSecret(5000);
    const paymentIntentId = clientSecret.split('_secret_')[0]!;
    const threeDSecure = card('4000 0025 0000 3155');

    const challenge = await confirm({ clientSecret, card: threeDSecure });
    assert.equal(challenge.status, 200);
    assert.equal(challenge.body.requiresAction, true);
    assert.equal((challenge.body.paymentIntent as { status: string }).status, 'requires_action');
    const pending = await createCase(context, apiKey, { stripePaymentId: paymentIntentId, paymentAmount: 50 });
    assert.equal(pending.status, 400, 'an unauthenticated payment is not taken');

    const failed = await confirm({ clientSecret, card: threeDSecure, authentication: 'fail' });
    assert.equal(failed.status, 402);
    assert.equal((failed.body.error as { code: string }).code, 'payment_intent_authentication_failure');

    const completed = await confirm({ clientSecret, card: threeDSecure, authentication: 'complete' });
    assert.equal(completed.status, 200);
    assert.deepEqual(completed.body.paymentIntent, {
      id: paymentIntentId,
      object: 'payment_intent',
      status: 'succeeded',
      amount: 5000,
      currency: 'usd',
      payment_method: (completed.body.paymentIntent as { payment_method: string }).payment_method,
    });
    const paid = await createCase(context, apiKey, { stripePaymentId: paymentIntentId, paymentAmount: 50 });
    assert.equal(paid.status, 200, JSON.stringify(paid.body));
    const { rows } = await context.db.query<{ status: string; amount_cents: number }>(
      'select status, amount_cents from case_payments where case_id = $1',
      [paid.caseId],
    );
    assert.deepEqual(rows, [{ status: 'PAID', amount_cents: 5000 }]);
  });

  it("answers Stripe's errors for insufficient funds, an expired card and card details that are wrong", async () => {
    const clientSecret = await intentSecret(1000);
    const funds = await confirm({ clientSecret, card: card('4000000000009995') });
    assert.equal(funds.status, 402);
    assert.equal((funds.body.error as { decline_code: string }).decline_code, 'insufficient_funds');
    const expired = await confirm({ clientSecret, card: card('4000000000000069') });
    assert.equal((expired.body.error as { code: string }).code, 'expired_card');

    for (const [details, code] of [
      [card('4242 4242 4242 4241'), 'incorrect_number'],
      [{ ...good, expiry: '13 / 40' }, 'invalid_expiry_month'],
      [{ ...good, expiry: '01 / 20' }, 'invalid_expiry_year'],
      [{ ...good, cvc: '1' }, 'incomplete_cvc'],
    ] as const) {
      const response = await confirm({ clientSecret, card: details });
      assert.equal(response.status, 400, code);
      assert.equal((response.body.error as { type: string; code: string }).code, code);
    }
  });

  it('knows no client secret but the one of an intent it made', async () => {
    const clientSecret = await setupSecret();
    for (const wrong of [`${clientSecret}x`, 'seti_simnothing_secret_x', 'x']) {
      const response = await confirm({ clientSecret: wrong, card: good });
      assert.equal(response.status, 404, wrong);
      assert.equal((response.body.error as { code: string }).code, 'resource_missing');
    }
  });

  it("checks numbers as card networks do, and lists Stripe's test cards", () => {
    for (const number of Object.keys(TEST_CARDS)) assert.ok(luhnValid(number), number);
    assert.equal(luhnValid('4242424242424241'), false);
    const now = new Date('2026-06-15T00:00:00Z');
    assert.equal(cardProblem({ number: '4242424242424242', expiry: '06/26', cvc: '123' }, now), null);
    assert.equal(
      cardProblem({ number: '4242424242424242', expiry: '05/2026', cvc: '123' }, now)?.code,
      'invalid_expiry_year',
    );
  });
});
