import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { startFakeNmi, type FakeNmiServer } from '../fakes/nmi-server.ts';
import { DECLINED_PAYMENT_METHOD, startFakeStripe, type FakeStripeServer } from '../fakes/stripe-server.ts';
import {
  createCase,
  paymentRow,
  paymentsTestContext,
  post,
  saveMethodForCase,
  type TestContext,
} from '../payments/support.ts';

// POST /api/v1/users with UPDATE_PAYMENT_INFO (the Update User Payment page): a confirmed SetupIntent or an NMI token
// becomes the patient's saved card, used by the next hold or charge; bad input writes nothing.

const secretId = (secret: unknown) => String(secret).split('_secret_')[0]!;
const ADDRESS = {
  addressLine1: '1 ABC St',
  addressLine2: '',
  city: 'NYC',
  state: 'NY',
  country: 'US',
  postalCode: '10101',
};

describe('POST /api/v1/users: UPDATE_PAYMENT_INFO', () => {
  let stripe: FakeStripeServer;
  let nmi: FakeNmiServer;
  let context: TestContext;
  let apiKey: string;
  let otherKey: string;
  let organizationId: string;

  const methods = async (caseId: string) =>
    (
      await context.db.query<{ gateway: string; customer_id: string | null; payment_method_id: string | null }>(
        `select m.gateway, m.customer_id, m.payment_method_id from patient_payment_methods m
           join cases c on c.patient_id = m.patient_id where c.id = $1 order by m.created_at, m.id`,
        [caseId],
      )
    ).rows;
  const confirmedSetup = async (key = apiKey) => {
    const setup = await post(context, '/api/v1/payments/setup', key);
    const id = secretId(setup.body.paymentSecret);
    stripe.confirmSetupIntent(id, 'pm_card_mastercard');
    return id;
  };

  before(async () => {
    stripe = await startFakeStripe();
    nmi = await startFakeNmi();
    context = await paymentsTestContext({ ...stripe.environment(), ...nmi.environment() });
    ({ apiKey, organizationId } = await context.organization());
    ({ apiKey: otherKey } = await context.organization());
  });
  after(async () => {
    await context.close();
    await stripe.stop();
    await nmi.stop();
  });

  it('replaces a declined card with a confirmed SetupIntent, as the page sends it; the next hold uses it', async () => {
    const email = `replace-${Date.now()}@example.com`;
    const { caseId } = await createCase(context, apiKey, {}, email);
    await saveMethodForCase(context, organizationId, caseId, {
      gateway: 'stripe',
      customerId: 'cus_declined',
      paymentMethodId: DECLINED_PAYMENT_METHOD,
    });
    const declined = await post(context, `/api/v1/cases/${caseId}/payments`, apiKey, {
      amount: 20,
      preauthorize: true,
    });
    assert.equal(declined.status, 402, JSON.stringify(declined.body));

    const setupIntentId = await confirmedSetup();
    const updated = await post(context, '/api/v1/users', apiKey, {
      action: 'UPDATE_PAYMENT_INFO',
      email: email.toUpperCase(),
      data: { stripeSetupId: setupIntentId, nmiPaymentToken: '', shippingAddress: ADDRESS },
    });
    assert.equal(updated.status, 200, JSON.stringify(updated.body));
    assert.deepEqual(updated.body, { status: 200, success: true, data: { code: 'PAYMENT_SETUP_UPDATED' } });
    const saved = await methods(caseId);
    assert.equal(saved.length, 2);
    assert.match(String(saved[1]!.payment_method_id), /^pm_card_mastercard/);
    const patient = await context.db.query<{ shipping_address: Record<string, unknown> }>(
      'select p.shipping_address from patients p join cases c on c.patient_id = p.id where c.id = $1',
      [caseId],
    );
    assert.equal(patient.rows[0]!.shipping_address.addressLine1, '1 ABC St');
    assert.equal(patient.rows[0]!.shipping_address.state, 'NY');

    const held = await post(context, `/api/v1/cases/${caseId}/payments`, apiKey, { amount: 20, preauthorize: true });
    assert.equal(held.status, 200, JSON.stringify(held.body));
    const { paymentId } = (held.body.data as { result: { paymentId: string } }).result;
    const row = await paymentRow(context, paymentId);
    assert.equal(row.hold_status, 'HELD');
    assert.equal(stripe.paymentIntents.get(String(row.gateway_reference))!.payment_method, saved[1]!.payment_method_id);
  });

  it('saves an NMI token in the Customer Vault (email inside data), charging nothing', async () => {
    const email = `vault-${Date.now()}@example.com`;
    const { caseId } = await createCase(context, apiKey, {}, email);
    const [sales, auths, adds] = [nmi.count('sale'), nmi.count('auth'), nmi.vaultAdds];
    const updated = await post(context, '/api/v1/users', apiKey, {
      action: 'UPDATE_PAYMENT_INFO',
      data: { email, nmiPaymentToken: 'tok-replacement-1' },
    });
    assert.equal(updated.status, 200, JSON.stringify(updated.body));
    assert.equal(nmi.vaultAdds, adds + 1);
    assert.deepEqual([nmi.count('sale'), nmi.count('auth')], [sales, auths]);
    const [saved] = await methods(caseId);
    assert.equal(saved!.gateway, 'nmi');
    assert.ok(nmi.vault.has(saved!.customer_id!));
  });

  it('refuses bad input, unknown users and foreign or unconfirmed SetupIntents with a 400, writing nothing', async () => {
    const email = `refused-${Date.now()}@example.com`;
    const { caseId } = await createCase(context, apiKey, {}, email);
    const unconfirmed = secretId((await post(context, '/api/v1/payments/setup', apiKey)).body.paymentSecret);
    const foreign = await confirmedSetup(otherKey);
    const exactlyOne = 'Validation failed: data.stripeSetupId: Send exactly one of stripeSetupId or nmiPaymentToken';
    const cases: [Record<string, unknown>, string][] = [
      [{ email, data: { stripeSetupId: 'seti_1', nmiPaymentToken: 'tok-1' } }, exactlyOne],
      [{ email, data: { stripeSetupId: '', nmiPaymentToken: '' } }, exactlyOne],
      [{ email }, exactlyOne],
      [{ data: { stripeSetupId: unconfirmed } }, 'Validation failed: email: Required'],
      [{ email: 'nobody@example.com', data: { stripeSetupId: unconfirmed } }, 'User does not exist'],
      [
        { email, data: { stripeSetupId: unconfirmed } },
        'Validation failed: stripeSetupId: The SetupIntent has not succeeded (status: pending); confirm it with Stripe.js first',
      ],
      [
        { email, data: { stripeSetupId: foreign } },
        'Validation failed: stripeSetupId: Does not match a SetupIntent created for this organization',
      ],
      [
        { email, data: { nmiPaymentToken: 'tok-1', shippingAddress: { ...ADDRESS, state: 'Nowhere' } } },
        'Validation failed: data.shippingAddress.state: Must be a 2-letter US state code, e.g. "DC"',
      ],
    ];
    for (const [body, message] of cases) {
      const response = await post(context, '/api/v1/users', apiKey, { action: 'UPDATE_PAYMENT_INFO', ...body });
      assert.equal(response.status, 400, JSON.stringify(body));
      assert.deepEqual(response.body, { status: 400, success: false, message }, JSON.stringify(body));
    }
    // Another organization's key does not find the patient.
    const stranger = await post(context, '/api/v1/users', otherKey, {
      action: 'UPDATE_PAYMENT_INFO',
      email,
      data: { stripeSetupId: foreign },
    });
    assert.deepEqual(stranger.body, { status: 400, success: false, message: 'User does not exist' });
    assert.deepEqual(await methods(caseId), []);
  });
});
