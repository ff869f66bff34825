import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { NmiGateway } from '../../src/modules/payments/gateways/nmi.ts';
import { SimulatedGateway } from '../../src/modules/payments/gateways/simulated.ts';
import { StripeGateway, stripeHostOptions } from '../../src/modules/payments/gateways/stripe.ts';
import {
  GatewayRequestError,
  GatewayUnavailableError,
  WebhookSignatureError,
} from '../../src/modules/payments/gateways/types.ts';
import type { Database } from '../../src/db/database.ts';
import { freshDatabase } from '../support/database.ts';
import {
  DECLINED_PAYMENT_METHOD,
  FAKE_STRIPE_SECRET_KEY,
  FAKE_STRIPE_WEBHOOK_SECRET,
  startFakeStripe,
  type FakeStripeServer,
} from '../fakes/stripe-server.ts';
import { FAKE_GATEWAY_TIMEOUT_MS } from '../fakes/gateway-timeout.ts';
import { FAKE_NMI_SECURITY_KEY, startFakeNmi, type FakeNmiServer } from '../fakes/nmi-server.ts';

describe('Stripe gateway (official SDK against the local fake)', () => {
  let fake: FakeStripeServer;
  let gateway: StripeGateway;

  const gatewayWithTimeout = (timeoutMs: number) =>
    new StripeGateway({
      secretKey: FAKE_STRIPE_SECRET_KEY,
      webhookSecret: FAKE_STRIPE_WEBHOOK_SECRET,
      apiUrl: fake.url,
      timeoutMs,
      maxNetworkRetries: 0,
    });

  before(async () => {
    fake = await startFakeStripe();
    gateway = gatewayWithTimeout(Number(FAKE_GATEWAY_TIMEOUT_MS));
  });
  after(() => fake.stop());

  it('maps STRIPE_API_URL to the SDK host, port and protocol', () => {
    assert.deepEqual(stripeHostOptions('http://127.0.0.1:12111'), {
      host: '127.0.0.1',
      port: '12111',
      protocol: 'http',
    });
    assert.deepEqual(stripeHostOptions('https://api.example.test'), {
      host: 'api.example.test',
      port: 443,
      protocol: 'https',
    });
    assert.deepEqual(stripeHostOptions(undefined), {});
  });

  it('creates a SetupIntent for a new customer and reads it back once confirmed', async () => {
    const setup = await gateway.createSetupIntent({ idempotencyKey: 'setup-1', metadata: { organization: 'o1' } });
    assert.match(setup.id, /^seti_/);
    assert.match(setup.clientSecret ?? '', /^seti_.+_secret_.+/);
    assert.equal(setup.status, 'pending');
    assert.ok(setup.customerId?.startsWith('cus_'));
    fake.confirmSetupIntent(setup.id);
    const confirmed = await gateway.retrieveSetupIntent(setup.id);
    assert.equal(confirmed?.status, 'succeeded');
    assert.ok(confirmed?.paymentMethodId?.startsWith('pm_card_visa'));
    assert.equal(await gateway.retrieveSetupIntent('seti_missing'), null);
  });

  it('holds, partially captures and refunds, with idempotency keys on every mutation', async () => {
    const held = await gateway.authorize({
      idempotencyKey: 'hold-1',
      amountCents: 10_000,
      currency: 'usd',
      captureLater: true,
      source: { savedMethod: { gateway: 'stripe', customerId: 'cus_1', paymentMethodId: 'pm_card_visa' } },
      description: 'hold',
      metadata: {},
    });
    assert.equal(held.status, 'authorized');
    assert.equal(held.amountCapturableCents, 10_000);
    assert.ok(held.captureBefore instanceof Date && held.captureBefore.getTime() > Date.now());
    const captured = await gateway.capture({ idempotencyKey: 'capture-1', reference: held.id, amountCents: 6_000 });
    assert.equal(captured.status, 'succeeded');
    assert.equal(captured.amountReceivedCents, 6_000);
    // The same key again is a replay at Stripe, not a second capture.
    const replay = await gateway.capture({ idempotencyKey: 'capture-1', reference: held.id, amountCents: 6_000 });
    assert.equal(replay.amountReceivedCents, 6_000);
    assert.equal(fake.count('POST', `/v1/payment_intents/${held.id}/capture`, { includeReplays: false }), 1);
    const refund = await gateway.refund({ idempotencyKey: 'refund-1', reference: held.id, amountCents: 1_000 });
    assert.equal(refund.status, 'succeeded');
    assert.ok(fake.calls.filter((call) => call.method === 'POST').every((call) => call.idempotencyKey));
  });

  it('finds a refund by the key in its metadata, and sends a refund first sent without it as it was', async () => {
    const held = await gateway.authorize({
      idempotencyKey: 'hold-find-refund',
      amountCents: 5_000,
      currency: 'usd',
      captureLater: false,
      source: { savedMethod: { gateway: 'stripe', customerId: 'cus_1', paymentMethodId: 'pm_card_visa' } },
      description: 'charge',
      metadata: {},
    });
    assert.equal(held.status, 'succeeded');
    const made = await gateway.refund({ idempotencyKey: 'refund-found', reference: held.id, amountCents: 700 });
    await gateway.refund({ idempotencyKey: 'refund-other', reference: held.id, amountCents: 300 });
    assert.deepEqual(await gateway.findRefund({ idempotencyKey: 'refund-found', reference: held.id }), made);
    assert.equal(await gateway.findRefund({ idempotencyKey: 'refund-never-sent', reference: held.id }), null);

    // Sent before refunds carried their key: its retry matches the first request, which Stripe replays.
    const old = { idempotencyKey: 'refund-unmarked', reference: held.id, amountCents: 200, findable: false };
    const first = await gateway.refund(old);
    assert.deepEqual(fake.refunds.get(first.id)!.metadata, {});
    assert.deepEqual(await gateway.refund(old), first);
    // The same key with other parameters (or twice at once): Stripe's idempotency_error is no refusal.
    await assert.rejects(gateway.refund({ ...old, findable: true }), GatewayUnavailableError);
  });

  it('reports a declined card as a failed result, not an exception', async () => {
    const declined = await gateway.authorize({
      idempotencyKey: 'hold-declined',
      amountCents: 5_000,
      currency: 'usd',
      captureLater: true,
      source: { savedMethod: { gateway: 'stripe', customerId: 'cus_1', paymentMethodId: DECLINED_PAYMENT_METHOD } },
      description: null,
      metadata: {},
    });
    assert.equal(declined.status, 'failed');
    assert.match(declined.failureMessage ?? '', /declined/);
  });

  it('turns a 5xx, a slow reply or a lost one into GatewayUnavailableError, and a bad request into GatewayRequestError', async () => {
    fake.failNext({ pathPrefix: '/v1/payment_intents', status: 503 });
    await assert.rejects(
      gateway.createPaymentIntent({
        idempotencyKey: 'pi-503',
        amountCents: 4_500,
        currency: 'usd',
        paymentMethodTypes: undefined,
        metadata: {},
      }),
      GatewayUnavailableError,
    );
    // Never answered: the gateway's own timeout ends the call, however long the machine takes to get there.
    fake.stallNext({ pathPrefix: '/v1/payment_intents' });
    await assert.rejects(
      gatewayWithTimeout(300).createPaymentIntent({
        idempotencyKey: 'pi-stalled',
        amountCents: 4_500,
        currency: 'usd',
        paymentMethodTypes: undefined,
        metadata: {},
      }),
      GatewayUnavailableError,
    );
    // Made by Stripe, its answer lost on the way.
    fake.loseNextAnswer({ pathPrefix: '/v1/payment_intents' });
    await assert.rejects(
      gateway.createPaymentIntent({
        idempotencyKey: 'pi-slow',
        amountCents: 4_500,
        currency: 'usd',
        paymentMethodTypes: undefined,
        metadata: {},
      }),
      GatewayUnavailableError,
    );
    // Retrying the lost one with its key replays what the fake created: one PaymentIntent.
    const before = fake.paymentIntents.size;
    const retried = await gateway.createPaymentIntent({
      idempotencyKey: 'pi-slow',
      amountCents: 4_500,
      currency: 'usd',
      paymentMethodTypes: undefined,
      metadata: {},
    });
    assert.equal(fake.paymentIntents.size, before);
    assert.ok(fake.paymentIntents.has(retried.id));
    await assert.rejects(
      gateway.capture({ idempotencyKey: 'bad-capture', reference: retried.id }),
      GatewayRequestError,
    );
  });

  it('verifies webhook signatures on the raw body', () => {
    const intent = fake.paymentIntents.values().next().value!;
    const { payload, signature } = fake.webhook('payment_intent.succeeded', intent);
    const event = gateway.parseWebhook(Buffer.from(payload), signature);
    assert.equal(event.update?.kind, 'payment');
    assert.throws(() => gateway.parseWebhook(Buffer.from(payload + ' '), signature), WebhookSignatureError);
    assert.throws(() => gateway.parseWebhook(Buffer.from(payload), undefined), WebhookSignatureError);
  });
});

describe('NMI gateway (Direct Post against the local fake transact.php)', () => {
  let fake: FakeNmiServer;
  let gateway: NmiGateway;

  before(async () => {
    fake = await startFakeNmi();
    gateway = new NmiGateway({
      securityKey: FAKE_NMI_SECURITY_KEY,
      apiUrl: fake.url,
      timeoutMs: Number(FAKE_GATEWAY_TIMEOUT_MS),
    });
  });
  after(() => fake.stop());

  it('authorizes with a token, saves it in the vault, captures part and voids another hold', async () => {
    const held = await gateway.authorize({
      idempotencyKey: 'nmi-hold-1',
      amountCents: 4_500,
      currency: 'usd',
      captureLater: true,
      source: { token: 'tok-ok', saveForLater: true },
      description: 'Consultation',
      metadata: {},
    });
    assert.equal(held.status, 'authorized');
    assert.ok(held.saved?.customerId);
    const call = fake.calls.at(-1)!;
    assert.equal(call.type, 'auth');
    assert.equal(call.amount, '45.00');
    assert.equal(call.orderid, 'nmi-hold-1');
    const captured = await gateway.capture({ idempotencyKey: 'nmi-capture-1', reference: held.id, amountCents: 3_000 });
    assert.equal(captured.status, 'succeeded');
    assert.equal(fake.calls.at(-1)!.amount, '30.00');

    const second = await gateway.authorize({
      idempotencyKey: 'nmi-hold-2',
      amountCents: 1_000,
      currency: 'usd',
      captureLater: true,
      source: { savedMethod: held.saved! },
      description: null,
      metadata: {},
    });
    assert.equal(second.status, 'authorized');
    assert.equal((await gateway.cancel({ idempotencyKey: 'nmi-void-2', reference: second.id })).status, 'canceled');
  });

  it('reports a decline (response=2) as failed and an outage as GatewayUnavailableError', async () => {
    const declined = await gateway.authorize({
      idempotencyKey: 'nmi-sale-declined',
      amountCents: 4_500,
      currency: 'usd',
      captureLater: false,
      source: { token: 'tok-decline', saveForLater: false },
      description: null,
      metadata: {},
    });
    assert.equal(declined.status, 'failed');
    assert.equal(declined.failureMessage, 'DECLINE');
    fake.failNext();
    await assert.rejects(
      gateway.authorize({
        idempotencyKey: 'nmi-sale-down',
        amountCents: 4_500,
        currency: 'usd',
        captureLater: false,
        source: { token: 'tok-ok', saveForLater: false },
        description: null,
        metadata: {},
      }),
      GatewayUnavailableError,
    );
  });
});

describe('Simulated gateway', () => {
  let db: Database;
  let drop: () => Promise<void>;
  let gateway: SimulatedGateway;

  before(async () => {
    ({ db, drop } = await freshDatabase());
    gateway = new SimulatedGateway(db);
  });
  after(() => drop());

  it('shapes ids like Stripe, keeps state in the database and replays an idempotency key', async () => {
    const setup = await gateway.createSetupIntent({ idempotencyKey: 'sim-setup-1', metadata: {} });
    assert.match(setup.clientSecret ?? '', /^seti_[A-Za-z0-9]+_secret_[A-Za-z0-9]+$/);
    assert.equal(setup.status, 'succeeded');
    const again = await gateway.createSetupIntent({ idempotencyKey: 'sim-setup-1', metadata: {} });
    assert.equal(again.id, setup.id);
    const intent = await gateway.createPaymentIntent({
      idempotencyKey: 'sim-pi-1',
      amountCents: 4_500,
      currency: 'usd',
      paymentMethodTypes: ['card'],
      metadata: {},
    });
    assert.match(intent.clientSecret ?? '', /^pi_[A-Za-z0-9]+_secret_[A-Za-z0-9]+$/);
    assert.equal((await gateway.retrievePayment(intent.id))?.amountCents, 4_500);
    const held = await gateway.authorize({
      idempotencyKey: 'sim-hold-1',
      amountCents: 2_000,
      currency: 'usd',
      captureLater: true,
      source: {
        savedMethod: { gateway: 'simulated', customerId: setup.customerId, paymentMethodId: setup.paymentMethodId },
      },
      description: null,
      metadata: {},
    });
    assert.equal(held.status, 'authorized');
    assert.ok(held.captureBefore);
    const captured = await gateway.capture({ idempotencyKey: 'sim-capture-1', reference: held.id, amountCents: 1_500 });
    assert.equal(captured.amountReceivedCents, 1_500);
    await assert.rejects(gateway.cancel({ idempotencyKey: 'sim-cancel-1', reference: held.id }), GatewayRequestError);
  });
});

describe('the fake Stripe server through the SDK directly', () => {
  let fake: FakeStripeServer;

  before(async () => {
    fake = await startFakeStripe();
  });
  after(() => fake.stop());

  it('confirms SetupIntents and PaymentIntents over HTTP, as Stripe.js would', async () => {
    const { default: Stripe } = await import('stripe');
    const client = new Stripe(FAKE_STRIPE_SECRET_KEY, {
      ...stripeHostOptions(fake.url),
      maxNetworkRetries: 0,
      telemetry: false,
    });
    const setup = await client.setupIntents.create({ usage: 'off_session' });
    const confirmedSetup = await client.setupIntents.confirm(setup.id, { payment_method: 'pm_card_visa' });
    assert.equal(confirmedSetup.status, 'succeeded');
    const intent = await client.paymentIntents.create({ amount: 4500, currency: 'usd', capture_method: 'manual' });
    assert.equal(intent.status, 'requires_payment_method');
    const held = await client.paymentIntents.confirm(intent.id, { payment_method: 'pm_card_visa' });
    assert.equal(held.status, 'requires_capture');
    await assert.rejects(
      client.paymentIntents.confirm((await client.paymentIntents.create({ amount: 4500, currency: 'usd' })).id, {
        payment_method: DECLINED_PAYMENT_METHOD,
      }),
      (error: { type?: string; code?: string }) => error.type === 'StripeCardError' && error.code === 'card_declined',
    );
  });
});
