import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { FAKE_NMI_SECURITY_KEY, startFakeNmi, type FakeNmiServer } from '../fakes/nmi-server.ts';
import { FAKE_STRIPE_SECRET_KEY, startFakeStripe, type FakeStripeServer } from '../fakes/stripe-server.ts';
import { ADMIN_TOKEN } from '../support/app.ts';
import { createCase, paymentRow, paymentsTestContext, post, saveMethodForCase, type TestContext } from './support.ts';

// "NMI as a gateway with either our payment processor or your own": an organization's own Stripe and NMI
// accounts, set by the operator, sealed like PHI, never answered, used for that organization's payments only.

const OWN = {
  stripeSecretKey: 'sk_test_own_clinic_account_7Q2x',
  stripeWebhookSecret: 'whsec_own_clinic_w9Zk',
  stripePublishableKey: 'pk_test_own_clinic_account_P4b1',
  nmiSecurityKey: 'own-clinic-nmi-security-key-Ab12',
  nmiTokenizationKey: 'own-clinic-collect-js-key-Zz90',
};
const SERVER_PUBLISHABLE = 'pk_test_server_account_0000';
const SERVER_TOKENIZATION = 'server-collect-js-key-1111';

describe("an organization's own gateway accounts", () => {
  let stripe: FakeStripeServer;
  let nmi: FakeNmiServer;
  let context: TestContext;
  let shared: { apiKey: string; organizationId: string };
  let own: { apiKey: string; organizationId: string };

  const credentials = (organizationId: string, method: 'GET' | 'PATCH', payload?: Record<string, unknown>) =>
    context.app.inject({
      method,
      url: `/admin/v1/organizations/${organizationId}/payment-gateways`,
      headers: { authorization: `Bearer ${ADMIN_TOKEN}` },
      ...(payload ? { payload } : {}),
    });

  const storedRows = async (organizationId: string) =>
    (
      await context.db.query<{ name: string; secret_sealed: string }>(
        'select name, secret_sealed from organization_gateway_credentials where organization_id = $1 order by name',
        [organizationId],
      )
    ).rows;

  const deliver = async (url: string, delivery: { payload: string; signature: string }) => {
    const response = await context.app.inject({
      method: 'POST',
      url,
      headers: { 'content-type': 'application/json', 'stripe-signature': delivery.signature },
      payload: delivery.payload,
    });
    return { status: response.statusCode, body: response.json() };
  };

  before(async () => {
    stripe = await startFakeStripe();
    nmi = await startFakeNmi();
    stripe.secretKeys.add(OWN.stripeSecretKey);
    nmi.securityKeys.add(OWN.nmiSecurityKey);
    context = await paymentsTestContext({
      ...stripe.environment(),
      ...nmi.environment(),
      STRIPE_PUBLISHABLE_KEY: SERVER_PUBLISHABLE,
      NMI_TOKENIZATION_KEY: SERVER_TOKENIZATION,
    });
    shared = await context.organization();
    own = await context.organization();
  });
  after(async () => {
    await context.close();
    await stripe.stop();
    await nmi.stop();
  });

  it('are set through the admin API, sealed, and answered only as set with their last four characters', async () => {
    const empty = await credentials(own.organizationId, 'GET');
    assert.equal(empty.statusCode, 200, empty.body);
    assert.deepEqual(empty.json().credentials.stripeSecretKey, { set: false });

    const set = await credentials(own.organizationId, 'PATCH', OWN);
    assert.equal(set.statusCode, 200, set.body);
    const view = set.json().credentials;
    for (const [name, value] of Object.entries(OWN)) {
      assert.equal(view[name].set, true, name);
      assert.equal(view[name].last4, value.slice(-4), name);
      assert.ok(!set.body.includes(value), `${name} is never answered`);
    }
    const read = await credentials(own.organizationId, 'GET');
    for (const value of Object.values(OWN)) assert.ok(!read.body.includes(value));
    assert.deepEqual(read.json().credentials, view);

    const rows = await storedRows(own.organizationId);
    assert.equal(rows.length, 5);
    for (const row of rows) {
      const plaintext = OWN[row.name as keyof typeof OWN];
      assert.ok(!row.secret_sealed.includes(plaintext), `${row.name} is sealed`);
      assert.equal(await context.services.phiCipher.decryptText(row.secret_sealed), plaintext);
    }
    assert.deepEqual(await storedRows(shared.organizationId), []);
  });

  it('refuses bad credentials with a 400 and writes nothing', async () => {
    const before = await storedRows(own.organizationId);
    const refusals: [Record<string, unknown>, RegExp][] = [
      [{ stripeSecretKey: 'pk_test_looks_publishable' }, /stripeSecretKey/],
      [{ stripePublishableKey: 'sk_test_a_secret_key_here' }, /stripePublishableKey/],
      [{ stripeWebhookSecret: 'not-a-secret' }, /stripeWebhookSecret/],
      [{ nmiSecurityKey: 'short' }, /nmiSecurityKey/],
      [{ nmiSecurityKey: 42 }, /nmiSecurityKey/],
      [{ unknownKey: 'x' }, /unknownKey|Unrecognized/i],
      [{}, /at least one/],
      // An account's own key may not go while the keys that belong to it stay.
      [
        { stripeSecretKey: null },
        /stripeWebhookSecret needs stripeSecretKey|stripePublishableKey needs stripeSecretKey/,
      ],
    ];
    for (const [body, message] of refusals) {
      const response = await credentials(own.organizationId, 'PATCH', body);
      assert.equal(response.statusCode, 400, `${JSON.stringify(body)}: ${response.body}`);
      assert.match(response.json().error, message);
    }
    assert.deepEqual(await storedRows(own.organizationId), before);

    const publishableAlone = await credentials(shared.organizationId, 'PATCH', {
      stripePublishableKey: 'pk_test_without_account',
    });
    assert.equal(publishableAlone.statusCode, 400);
    assert.equal(
      publishableAlone.json().error,
      'stripePublishableKey needs stripeSecretKey: set both, or remove stripePublishableKey',
    );
    assert.deepEqual(await storedRows(shared.organizationId), []);

    const unknown = await credentials('00000000-0000-4000-8000-000000000000', 'PATCH', {
      nmiSecurityKey: 'some-nmi-security-key',
    });
    assert.equal(unknown.statusCode, 404);
  });

  it('GET /api/v1/payments/config answers the organization its own publishable keys, else the server’s', async () => {
    const config = async (apiKey: string) =>
      (
        await context.app.inject({ method: 'GET', url: '/api/v1/payments/config', headers: { 'cv-api-key': apiKey } })
      ).json();
    assert.deepEqual((await config(own.apiKey)).data, {
      stripe: { mode: 'test', publishableKey: OWN.stripePublishableKey, testCardElement: null },
      nmi: { tokenizationKey: OWN.nmiTokenizationKey },
    });
    assert.deepEqual((await config(shared.apiKey)).data, {
      stripe: { mode: 'test', publishableKey: SERVER_PUBLISHABLE, testCardElement: null },
      nmi: { tokenizationKey: SERVER_TOKENIZATION },
    });
  });

  it("takes each organization's payments through its own account, or the server's", async () => {
    for (const [organization, secretKey] of [
      [own, OWN.stripeSecretKey],
      [shared, FAKE_STRIPE_SECRET_KEY],
    ] as const) {
      const setup = await post(context, '/api/v1/payments/setup', organization.apiKey, {});
      assert.equal(setup.status, 200, JSON.stringify(setup.body));
      const call = stripe.calls.filter((entry) => entry.path === '/v1/setup_intents').at(-1)!;
      assert.equal(call.secretKey, secretKey);
    }
    for (const [organization, securityKey] of [
      [own, OWN.nmiSecurityKey],
      [shared, FAKE_NMI_SECURITY_KEY],
    ] as const) {
      const created = await createCase(context, organization.apiKey, {
        nmiPaymentToken: 'tok-own-account',
        nmiChargeNow: true,
        paymentAmount: 20,
      });
      assert.equal(created.status, 200, JSON.stringify(created.body));
      const sale = nmi.calls.filter((call) => call.type === 'sale').at(-1)!;
      assert.equal(sale.security_key, securityKey);
    }
  });

  it("verifies an organization's Stripe events with its own webhook secret, at its own URL, for its payments only", async () => {
    const ownCase = (await createCase(context, own.apiKey)).caseId;
    await saveMethodForCase(context, own.organizationId, ownCase, {
      gateway: 'stripe',
      customerId: 'cus_own',
      paymentMethodId: 'pm_card_visa',
    });
    const held = await post(context, `/api/v1/cases/${ownCase}/payments`, own.apiKey, {
      amount: 30,
      preauthorize: true,
    });
    assert.equal(held.status, 200, JSON.stringify(held.body));
    const { paymentId } = (held.body.data as { result: { paymentId: string } }).result;
    const row = await paymentRow(context, paymentId);
    assert.equal(
      stripe.calls.filter((call) => call.path === '/v1/payment_intents').at(-1)!.secretKey,
      OWN.stripeSecretKey,
    );
    const intent = stripe.paymentIntents.get(String(row.gateway_reference))!;
    intent.status = 'succeeded';
    intent.amount_received = 3000;
    intent.amount_capturable = 0;

    // Signed with the server's secret: refused at the organization's URL.
    const serverSigned = stripe.webhook('payment_intent.succeeded', intent);
    const wrong = await deliver(`/webhooks/stripe/${own.organizationId}`, serverSigned);
    assert.equal(wrong.status, 400);
    // At the server's URL it verifies, but the server's account does not serve this organization: ignored.
    const elsewhere = await deliver('/webhooks/stripe', serverSigned);
    assert.deepEqual(elsewhere, { status: 200, body: { received: true, outcome: 'ignored' } });
    assert.equal((await paymentRow(context, paymentId)).status, 'UNPAID');

    const ownSigned = stripe.webhook('payment_intent.succeeded', intent, { secret: OWN.stripeWebhookSecret });
    assert.equal((await deliver('/webhooks/stripe', ownSigned)).status, 400, "the server's secret does not verify it");
    const applied = await deliver(`/webhooks/stripe/${own.organizationId}`, ownSigned);
    assert.deepEqual(applied, { status: 200, body: { received: true, outcome: 'applied' } });
    assert.equal((await paymentRow(context, paymentId)).status, 'PAID');

    // An organization without its own Stripe account has no URL of its own.
    const none = await deliver(`/webhooks/stripe/${shared.organizationId}`, ownSigned);
    assert.equal(none.status, 400);
    assert.equal(
      none.body.message,
      'This organization has no Stripe account of its own: its events arrive at /webhooks/stripe',
    );
  });

  it("removing an account's key returns the organization to the server's account", async () => {
    const removed = await credentials(own.organizationId, 'PATCH', {
      nmiSecurityKey: null,
      nmiTokenizationKey: null,
    });
    assert.equal(removed.statusCode, 200, removed.body);
    assert.deepEqual(removed.json().credentials.nmiSecurityKey, { set: false });
    const created = await createCase(context, own.apiKey, {
      nmiPaymentToken: 'tok-back-to-server',
      nmiChargeNow: true,
      paymentAmount: 5,
    });
    assert.equal(created.status, 200, JSON.stringify(created.body));
    assert.equal(nmi.calls.filter((call) => call.type === 'sale').at(-1)!.security_key, FAKE_NMI_SECURITY_KEY);
  });
});
