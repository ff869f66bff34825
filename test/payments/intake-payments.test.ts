import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { startFakeNmi, type FakeNmiServer } from '../fakes/nmi-server.ts';
import { startFakeStripe, type FakeStripeServer } from '../fakes/stripe-server.ts';
import { ADMIN_TOKEN } from '../support/app.ts';
import { createCase, paymentRow, paymentsTestContext, post, type TestContext } from './support.ts';
import { Tenant } from '../../src/http/gate.ts';

const secretId = (secret: unknown) => String(secret).split('_secret_')[0]!;

async function countCases(context: TestContext, organizationId: string): Promise<number> {
  const { rows } = await context.db.query<{ count: number }>(
    'select count(*)::int as count from cases where organization_id = $1',
    [organizationId],
  );
  return rows[0]!.count;
}

describe('intake payment fields on Stripe (fake) and NMI (fake)', () => {
  let stripe: FakeStripeServer;
  let nmi: FakeNmiServer;
  let context: TestContext;
  let apiKey: string;
  let organizationId: string;
  let otherKey: string;
  let bundleId: string;

  before(async () => {
    stripe = await startFakeStripe();
    nmi = await startFakeNmi();
    context = await paymentsTestContext({ ...stripe.environment(), ...nmi.environment() });
    ({ apiKey, organizationId } = await context.organization());
    ({ apiKey: otherKey } = await context.organization());
    bundleId = (
      await context.services.products.createBundle(Tenant.forOperator(organizationId, 'test'), {
        name: 'GLP-1',
        priceCents: 60000,
      })
    ).id;
    for (const body of [
      { organizationId, code: 'FLAT100', flatDiscount: 100 },
      { organizationId, code: 'SAVE10', percentDiscount: 10 },
      { organizationId, code: 'ONCE', percentDiscount: 50, maxRedemptions: 1 },
    ]) {
      const response = await context.app.inject({
        method: 'POST',
        url: '/admin/v1/promo-codes',
        headers: { authorization: `Bearer ${ADMIN_TOKEN}` },
        payload: body,
      });
      assert.equal(response.statusCode, 201);
    }
  });
  after(async () => {
    await context.close();
    await stripe.stop();
    await nmi.stop();
  });

  it('stripeSetupId: saves the confirmed card, and a later preauthorized payment holds it', async () => {
    const setup = await post(context, '/api/v1/payments/setup', apiKey);
    const setupIntentId = secretId(setup.body.paymentSecret);
    const unconfirmed = await createCase(context, apiKey, { stripeSetupId: setupIntentId, paymentAmount: 600 });
    assert.equal(unconfirmed.status, 400);
    assert.deepEqual(unconfirmed.body, {
      success: false,
      error:
        'Validation failed: stripeSetupId: The SetupIntent has not succeeded (status: pending); confirm it with Stripe.js first',
    });

    const intent = stripe.confirmSetupIntent(setupIntentId);
    const created = await createCase(context, apiKey, {
      stripeSetupId: setupIntentId,
      paymentAmount: 600,
      paymentDescription: 'Three months',
      productBundleId: bundleId,
      promoCodes: ['FLAT100'],
    });
    assert.equal(created.status, 200, JSON.stringify(created.body));
    assert.ok(created.paymentId);
    const owed = await paymentRow(context, created.paymentId);
    assert.equal(owed.status, 'UNPAID');
    assert.equal(owed.amount_cents, 50000);
    assert.equal(owed.original_amount_cents, 60000);
    assert.equal(owed.discount_cents, 10000);

    const held = await post(context, `/api/v1/cases/${created.caseId}/payments`, apiKey, {
      amount: 500,
      preauthorize: true,
    });
    assert.equal(held.status, 200, JSON.stringify(held.body));
    const { paymentId } = (held.body.data as { result: { paymentId: string } }).result;
    const hold = stripe.paymentIntents.get(String((await paymentRow(context, paymentId)).gateway_reference))!;
    assert.equal(hold.payment_method, intent.payment_method);
    assert.equal(hold.customer, intent.customer);
    assert.equal(hold.capture_method, 'manual');
    const captured = await post(context, `/api/v1/cases/${created.caseId}/payments/${paymentId}/capture`, apiKey);
    assert.equal(captured.status, 200);
  });

  it('stripeSetupId: an unknown or foreign SetupIntent is a 400 and creates no case', async () => {
    const foreignSetup = await post(context, '/api/v1/payments/setup', otherKey);
    const foreignId = secretId(foreignSetup.body.paymentSecret);
    stripe.confirmSetupIntent(foreignId);
    const before = await countCases(context, organizationId);
    for (const id of [foreignId, 'seti_1Abc']) {
      const response = await createCase(context, apiKey, { stripeSetupId: id, paymentAmount: 10 });
      assert.equal(response.status, 400);
      assert.deepEqual(response.body, {
        success: false,
        error: 'Validation failed: stripeSetupId: Does not match a SetupIntent created for this organization',
      });
    }
    assert.equal(await countCases(context, organizationId), before);
  });

  it("stripePaymentId: the Case Create page's discount flow verbatim, $600 paid as a $500 PaymentIntent", async () => {
    // The page: "use paymentAmount as 500" for the intent, "pass the original (non-discounted) paymentAmount as
    // 600 along with the stripePaymentId" for the case, and no promo field.
    const intentResponse = await post(context, '/api/v1/payments/intent', apiKey, { amount: 50000 });
    const paymentIntentId = secretId((intentResponse.body.data as { paymentIntentSecret: string }).paymentIntentSecret);
    const notPaid = await createCase(context, apiKey, { stripePaymentId: paymentIntentId, paymentAmount: 600 });
    assert.equal(notPaid.status, 400);
    assert.match(String(notPaid.body.error), /has not succeeded \(status: pending\)/);

    stripe.confirmPaymentIntent(paymentIntentId);
    const before = await countCases(context, organizationId);
    const tooLittle = await createCase(context, apiKey, { stripePaymentId: paymentIntentId, paymentAmount: 499.99 });
    assert.equal(tooLittle.status, 400);
    assert.deepEqual(tooLittle.body, {
      success: false,
      error: 'Validation failed: paymentAmount: It is 499.99, but the PaymentIntent is for more: 500.00',
    });
    assert.equal(await countCases(context, organizationId), before);

    const created = await createCase(context, apiKey, {
      stripePaymentId: paymentIntentId,
      paymentAmount: 600,
      paymentDescription: 'Description of what the patient purchased',
      productBundleId: bundleId,
    });
    assert.equal(created.status, 200, JSON.stringify(created.body));
    const row = await paymentRow(context, created.paymentId!);
    assert.equal(row.status, 'PAID');
    assert.equal(row.gateway_reference, paymentIntentId);
    assert.equal(row.amount_cents, 50000);
    assert.equal(row.original_amount_cents, 60000);
    assert.equal(row.discount_cents, 10000);
    assert.equal(row.promo_code_id, null);
  });

  it('stripePaymentId: $600 less FLAT100 sent with the case must match the PaymentIntent exactly', async () => {
    const intentResponse = await post(context, '/api/v1/payments/intent', apiKey, { amount: 45000 });
    const paymentIntentId = secretId((intentResponse.body.data as { paymentIntentSecret: string }).paymentIntentSecret);
    stripe.confirmPaymentIntent(paymentIntentId);
    const mismatch = await createCase(context, apiKey, {
      stripePaymentId: paymentIntentId,
      paymentAmount: 600,
      promoCodes: ['FLAT100'],
    });
    assert.equal(mismatch.status, 400);
    assert.deepEqual(mismatch.body, {
      success: false,
      error: 'Validation failed: paymentAmount: Less discounts it is 500.00, but the PaymentIntent is for 450.00',
    });

    const exact = await post(context, '/api/v1/payments/intent', apiKey, { amount: 50000 });
    const exactId = secretId((exact.body.data as { paymentIntentSecret: string }).paymentIntentSecret);
    stripe.confirmPaymentIntent(exactId);
    const created = await createCase(context, apiKey, {
      stripePaymentId: exactId,
      paymentAmount: 600,
      promoCode: 'flat100',
      paymentDescription: 'Description of what the patient purchased',
      productBundleId: bundleId,
    });
    assert.equal(created.status, 200, JSON.stringify(created.body));
    const row = await paymentRow(context, created.paymentId!);
    assert.equal(row.status, 'PAID');
    assert.equal(row.amount_cents, 50000);
    assert.equal(row.original_amount_cents, 60000);
    assert.equal(row.discount_cents, 10000);
    assert.equal(row.product_bundle_id, bundleId);

    const reused = await createCase(context, apiKey, {
      stripePaymentId: exactId,
      paymentAmount: 600,
      promoCode: 'FLAT100',
    });
    assert.equal(reused.status, 400);
    assert.match(String(reused.body.error), /already recorded for another case/);
  });

  it('stripePaymentId: the seed case example, paymentAmount 0.5 with a 50-cent PaymentIntent', async () => {
    const intentResponse = await post(context, '/api/v1/payments/intent', apiKey, { amount: 50 });
    const paymentIntentId = secretId((intentResponse.body.data as { paymentIntentSecret: string }).paymentIntentSecret);
    stripe.confirmPaymentIntent(paymentIntentId);
    const created = await createCase(context, apiKey, {
      paymentDescription: 'Description of what the patient purchased',
      paymentAmount: 0.5,
      stripePaymentId: paymentIntentId,
      productBundleId: bundleId,
    });
    assert.equal(created.status, 200, JSON.stringify(created.body));
    assert.equal((await paymentRow(context, created.paymentId!)).amount_cents, 50);
  });

  it('stripePaymentId: a percent code, an unknown code, a used-up code and a foreign intent', async () => {
    const intentResponse = await post(context, '/api/v1/payments/intent', apiKey, { amount: 4500 });
    const paymentIntentId = secretId((intentResponse.body.data as { paymentIntentSecret: string }).paymentIntentSecret);
    stripe.confirmPaymentIntent(paymentIntentId);
    const unknownCode = await createCase(context, apiKey, {
      stripePaymentId: paymentIntentId,
      paymentAmount: 50,
      promoCode: 'NOPE',
    });
    assert.equal(unknownCode.status, 400);
    assert.deepEqual(unknownCode.body, {
      success: false,
      error: "Validation failed: promoCodes: 'NOPE' is not a valid promo code",
    });
    const foreign = await createCase(context, otherKey, { stripePaymentId: paymentIntentId, paymentAmount: 45 });
    assert.equal(foreign.status, 400);
    const created = await createCase(context, apiKey, {
      stripePaymentId: paymentIntentId,
      paymentAmount: 50,
      promoCode: 'SAVE10',
    });
    assert.equal(created.status, 200, JSON.stringify(created.body));

    const once = await post(context, '/api/v1/payments/intent', apiKey, { amount: 1000 });
    const onceId = secretId((once.body.data as { paymentIntentSecret: string }).paymentIntentSecret);
    stripe.confirmPaymentIntent(onceId);
    assert.equal(
      (await createCase(context, apiKey, { stripePaymentId: onceId, paymentAmount: 20, promoCode: 'ONCE' })).status,
      200,
    );
    const lookup = await context.app.inject({
      method: 'GET',
      url: '/api/v1/promo-codes?code=ONCE',
      headers: { 'cv-api-key': apiKey },
    });
    assert.deepEqual(lookup.json(), { success: true, data: [] }, 'redeemed once: used up');
  });

  it('nmiPaymentToken with nmiChargeNow: a sale for the amount less discounts, the card kept in the vault for later holds', async () => {
    const created = await createCase(context, apiKey, {
      nmiChargeNow: true,
      nmiPaymentToken: 'tok-visa-1',
      paymentAmount: 45,
      promoCode: 'SAVE10',
      idempotencyKey: 'nmi-intake-1',
    });
    assert.equal(created.status, 200, JSON.stringify(created.body));
    const sale = nmi.calls.filter((call) => call.type === 'sale').at(-1)!;
    assert.equal(sale.amount, '40.50');
    assert.equal(sale.customer_vault, 'add_customer');
    const row = await paymentRow(context, created.paymentId!);
    assert.equal(row.status, 'PAID');
    assert.equal(row.gateway, 'nmi');

    const held = await post(context, `/api/v1/cases/${created.caseId}/payments`, apiKey, {
      amount: 30,
      preauthorize: true,
    });
    assert.equal(held.status, 200, JSON.stringify(held.body));
    const auth = nmi.calls.at(-1)!;
    assert.equal(auth.type, 'auth');
    assert.ok(auth.customer_vault_id);
    const { paymentId } = (held.body.data as { result: { paymentId: string } }).result;
    const captured = await post(context, `/api/v1/cases/${created.caseId}/payments/${paymentId}/capture`, apiKey, {
      amount: 25,
    });
    assert.equal(captured.status, 200);
    assert.equal(nmi.calls.at(-1)!.type, 'capture');
    assert.equal(nmi.calls.at(-1)!.amount, '25.00');

    const repeat = await createCase(context, apiKey, {
      nmiChargeNow: true,
      nmiPaymentToken: 'tok-visa-1',
      paymentAmount: 45,
      idempotencyKey: 'nmi-intake-1',
    });
    assert.equal(repeat.status, 409);
    assert.equal(nmi.count('sale'), 1, 'one sale');
  });

  it('nmiPaymentToken without nmiChargeNow: the card is saved in the vault, nothing is charged, the amount is owed', async () => {
    const charged = () => nmi.count('sale') + nmi.count('auth');
    const chargesBefore = charged();
    const addsBefore = nmi.vaultAdds;
    const created = await createCase(context, apiKey, {
      nmiPaymentToken: 'tok-saved-1',
      paymentAmount: 45,
      promoCode: 'SAVE10',
      idempotencyKey: 'nmi-vault-1',
    });
    assert.equal(created.status, 200, JSON.stringify(created.body));
    assert.equal(charged(), chargesBefore, 'no sale and no auth');
    assert.equal(nmi.vaultAdds, addsBefore + 1);
    const add = nmi.calls.at(-1)!;
    assert.equal(add.customer_vault, 'add_customer');
    assert.equal(add.type, undefined);
    assert.equal(add.payment_token, 'tok-saved-1');
    const row = await paymentRow(context, created.paymentId!);
    assert.equal(row.status, 'UNPAID');
    assert.equal(row.gateway, 'nmi');
    assert.equal(row.amount_cents, 4050);
    assert.equal(row.hold_status, 'NONE');
    assert.equal(row.gateway_reference, null);
    const { rows } = await context.db.query<{ gateway: string; customer_id: string }>(
      `select m.gateway, m.customer_id from patient_payment_methods m join cases c on c.patient_id = m.patient_id
        where c.id = $1`,
      [created.caseId],
    );
    assert.equal(rows.length, 1);
    assert.equal(rows[0]!.gateway, 'nmi');
    assert.ok(nmi.vault.has(rows[0]!.customer_id), 'the vault entry NMI answered');

    // The saved card is held later with its vault id, as a SetupIntent's card is.
    const held = await post(context, `/api/v1/cases/${created.caseId}/payments`, apiKey, {
      amount: 40.5,
      preauthorize: true,
    });
    assert.equal(held.status, 200, JSON.stringify(held.body));
    const auth = nmi.calls.at(-1)!;
    assert.equal(auth.type, 'auth');
    assert.equal(auth.customer_vault_id, rows[0]!.customer_id);
    assert.equal(auth.payment_token, undefined);
  });

  it('nmiPaymentToken without nmiChargeNow and without paymentAmount saves the card and records no payment', async () => {
    const created = await createCase(context, apiKey, { nmiPaymentToken: 'tok-saved-2' });
    assert.equal(created.status, 200, JSON.stringify(created.body));
    assert.equal(created.paymentId, undefined);
    const { rows } = await context.db.query<{ n: number }>(
      `select count(*)::int as n from case_payments where case_id = $1`,
      [created.caseId],
    );
    assert.equal(rows[0]!.n, 0);
  });

  it('nmiPaymentToken to save: a declined card is a 402, an outage a 503, and neither creates a case', async () => {
    const before = await countCases(context, organizationId);
    const declined = await createCase(context, apiKey, { nmiPaymentToken: 'tok-decline-vault', paymentAmount: 45 });
    assert.equal(declined.status, 402);
    assert.deepEqual(declined.body, { success: false, error: 'Payment was declined: DECLINE' });
    nmi.failNext();
    const down = await createCase(context, apiKey, { nmiPaymentToken: 'tok-vault-down', paymentAmount: 45 });
    assert.equal(down.status, 503);
    assert.equal(await countCases(context, organizationId), before);
  });

  it('nmiChargeNow: only true or false, and only with an nmiPaymentToken', async () => {
    const before = await countCases(context, organizationId);
    const calls = nmi.calls.length;
    const alone = await createCase(context, apiKey, { nmiChargeNow: true, paymentAmount: 10 });
    assert.equal(alone.status, 400);
    assert.deepEqual(alone.body, {
      success: false,
      error: 'Validation failed: nmiChargeNow: Only with nmiPaymentToken',
    });
    const text = await createCase(context, apiKey, {
      nmiChargeNow: 'yes',
      nmiPaymentToken: 'tok-x',
      paymentAmount: 10,
    });
    assert.equal(text.status, 400);
    assert.deepEqual(text.body, { success: false, error: 'Validation failed: nmiChargeNow: Must be true or false' });
    assert.equal(nmi.calls.length, calls, 'NMI was not called');
    assert.equal(await countCases(context, organizationId), before);
  });

  it('nmiPaymentToken with nmiChargeNow: a declined card is a 402 and creates no case; an outage is a 503 that a retry settles once', async () => {
    const before = await countCases(context, organizationId);
    const declined = await createCase(context, apiKey, {
      nmiChargeNow: true,
      nmiPaymentToken: 'tok-decline',
      paymentAmount: 45,
    });
    assert.equal(declined.status, 402);
    assert.deepEqual(declined.body, { success: false, error: 'Payment was declined: DECLINE' });
    assert.equal(await countCases(context, organizationId), before);

    const salesBefore = nmi.count('sale');
    nmi.failNext();
    const body = { nmiChargeNow: true, nmiPaymentToken: 'tok-visa-2', paymentAmount: 12, idempotencyKey: 'nmi-outage' };
    const down = await createCase(context, apiKey, body);
    assert.equal(down.status, 503);
    assert.equal(await countCases(context, organizationId), before);
    const retried = await createCase(context, apiKey, body);
    assert.equal(retried.status, 200, JSON.stringify(retried.body));
    assert.equal(nmi.count('sale'), salesBefore + 2, 'the failed attempt reached no processor; one sale succeeded');
    const orderIds = nmi.calls
      .filter((call) => call.type === 'sale')
      .slice(-2)
      .map((call) => call.orderid);
    assert.equal(orderIds[0], orderIds[1], 'the retry carries the same order id');
  });
});

describe('the whole flow on the simulated gateway (no configuration)', () => {
  let context: TestContext;
  let apiKey: string;

  before(async () => {
    context = await paymentsTestContext();
    ({ apiKey } = await context.organization());
  });
  after(() => context.close());

  it('setup, intake with stripeSetupId, preauthorized case payment, capture', async () => {
    const setup = await post(context, '/api/v1/payments/setup', apiKey);
    assert.equal(setup.status, 200);
    const created = await createCase(context, apiKey, {
      stripeSetupId: secretId(setup.body.paymentSecret),
      paymentAmount: 100,
    });
    assert.equal(created.status, 200, JSON.stringify(created.body));
    const held = await post(context, `/api/v1/cases/${created.caseId}/payments`, apiKey, {
      amount: 100,
      preauthorize: true,
      description: 'Creating preauthorized payment for DEMO',
    });
    assert.equal(held.status, 200, JSON.stringify(held.body));
    const { paymentId } = (held.body.data as { result: { paymentId: string } }).result;
    const row = await paymentRow(context, paymentId);
    assert.equal(row.hold_status, 'HELD');
    assert.match(String(row.gateway_reference), /^pi_sim/);
    assert.ok(row.capture_before instanceof Date);
    const captured = await post(context, `/api/v1/cases/${created.caseId}/payments/${paymentId}/capture`, apiKey, {
      amount: 80,
    });
    assert.equal(captured.status, 200);
    const result = (captured.body.data as { result: Record<string, unknown> }).result;
    assert.equal(result.status, 'PAID');
    assert.equal(result.amountCaptured, 80);
  });

  it('simulates an NMI token too, and declines one containing "decline"', async () => {
    const paid = await createCase(context, apiKey, {
      nmiChargeNow: true,
      nmiPaymentToken: 'any-token',
      paymentAmount: 10,
    });
    assert.equal(paid.status, 200);
    const declined = await createCase(context, apiKey, {
      nmiChargeNow: true,
      nmiPaymentToken: 'please-decline',
      paymentAmount: 10,
    });
    assert.equal(declined.status, 402);
  });
});
