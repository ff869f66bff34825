import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { DECLINED_PAYMENT_METHOD, startFakeStripe, type FakeStripeServer } from '../fakes/stripe-server.ts';
import { createCase, paymentRow, paymentsTestContext, post, saveMethodForCase, type TestContext } from './support.ts';

const SEED_CONFLICT_BODY = {
  status: 409,
  success: false,
  code: 'IDEMPOTENCY_ERROR',
  description: 'A record with the provided idempotencyKey already exists for this organization.',
};

describe('POST /api/v1/cases/:caseId/payments (seed 000) on Stripe (fake)', () => {
  let fake: FakeStripeServer;
  let context: TestContext;
  let apiKey: string;
  let organizationId: string;
  let otherKey: string;
  let caseId: string;
  const url = () => `/api/v1/cases/${caseId}/payments`;

  before(async () => {
    fake = await startFakeStripe();
    context = await paymentsTestContext(fake.environment());
    ({ apiKey, organizationId } = await context.organization());
    ({ apiKey: otherKey } = await context.organization());
    const created = await createCase(context, apiKey);
    assert.equal(created.status, 200, JSON.stringify(created.body));
    caseId = created.caseId;
  });
  after(async () => {
    await context.close();
    await fake.stop();
  });

  it('creates an UNPAID record without preauthorize, answering the seed body', async () => {
    const response = await post(context, url(), apiKey, { amount: 100, description: 'Creating unpaid case payment' });
    assert.equal(response.status, 200);
    assert.equal(response.body.success, true);
    assert.equal(response.body.message, 'Case payment created successfully');
    const { result } = response.body.data as { result: Record<string, unknown> };
    assert.deepEqual(Object.keys(result).sort(), ['amount', 'createdAt', 'description', 'paymentId', 'status']);
    assert.equal(result.status, 'UNPAID');
    assert.equal(result.amount, 100);
    assert.equal(result.description, 'Creating unpaid case payment');
    assert.match(String(result.paymentId), /^[0-9a-f-]{36}$/);
    assert.equal(new Date(String(result.createdAt)).toISOString(), result.createdAt);
    assert.equal(fake.count('POST', '/v1/payment_intents'), 0, 'no gateway call without preauthorize');
    const row = await paymentRow(context, String(result.paymentId));
    assert.equal(row.amount_cents, 10000);
  });

  it('records a given status and keeps cents exact; description may be absent (null)', async () => {
    const response = await post(context, url(), apiKey, { amount: 19.99, status: 'paid' });
    assert.equal(response.status, 200);
    const { result } = response.body.data as { result: Record<string, unknown> };
    assert.equal(result.status, 'PAID');
    assert.equal(result.amount, 19.99);
    assert.equal(result.description, null);
  });

  it('takes the amount as a decimal string too, as the intake takes paymentAmount', async () => {
    const response = await post(context, url(), apiKey, { amount: '19.99', status: 'paid' });
    assert.equal(response.status, 200, JSON.stringify(response.body));
    const { result } = response.body.data as { result: Record<string, unknown> };
    assert.equal(result.amount, 19.99);
    const row = await paymentRow(context, String(result.paymentId));
    assert.equal(row.amount_cents, 1999);
  });

  it('answers 400 with a message naming the field', async () => {
    const cases: [unknown, string][] = [
      [{ amount: 0 }, 'Amount must be a positive number'],
      [{ amount: -1 }, 'Amount must be a positive number'],
      [{ amount: 'ten' }, 'Amount must be a positive number'],
      [{ amount: '' }, 'Amount must be a positive number'],
      [{ amount: '-1' }, 'Amount must be a positive number'],
      [{ amount: '0.00' }, 'Amount must be a positive number'],
      [{ amount: '1e3' }, 'Amount must be a positive number'],
      [{ amount: '1.001' }, 'Amount must have at most two decimal places'],
      [{ description: 'no amount' }, 'Amount must be a positive number'],
      [{ amount: 1.001 }, 'Amount must have at most two decimal places'],
      [{ amount: 10, productId: 'abc' }, 'Product ID must be a valid UUID'],
      [
        { amount: 10, status: 'SETTLED' },
        'Status must be one of PAID, UNPAID, CANCELED, IN_DISPUTE, LOST_DISPUTE, REFUND, ERROR',
      ],
      [{ amount: 10, preauthorize: 'yes' }, 'Preauthorize must be a boolean'],
      [{ amount: 10, description: 42 }, 'Description must be a string'],
      [{ amount: 10, idempotencyKey: '' }, 'Idempotency key must be a non-empty string of at most 255 characters'],
      [{ amount: 10, productId: randomUUID() }, 'Product not found'],
      [[1, 2], 'Request body must be a JSON object'],
    ];
    for (const [body, message] of cases) {
      const response = await post(context, url(), apiKey, body);
      assert.equal(response.status, 400, JSON.stringify(body));
      assert.deepEqual(response.body, { success: false, message }, JSON.stringify(body));
    }
    const badCase = await post(context, '/api/v1/cases/not-a-uuid/payments', apiKey, { amount: 10 });
    assert.equal(badCase.status, 400);
    assert.deepEqual(badCase.body, { success: false, message: 'Case ID must be a valid UUID' });
    const malformed = await context.app.inject({
      method: 'POST',
      url: url(),
      headers: { 'cv-api-key': apiKey, 'content-type': 'application/json' },
      payload: '{"amount":',
    });
    assert.equal(malformed.statusCode, 400);
    assert.equal(malformed.json().success, false);
  });

  it('answers 401 without a valid key and 404 for a missing or foreign case', async () => {
    const unauthorized = await post(context, url(), null, { amount: 10 });
    assert.equal(unauthorized.status, 401);
    assert.deepEqual(unauthorized.body, { status: 401, error: 'Invalid API key' });
    for (const [key, target] of [
      [apiKey, `/api/v1/cases/${randomUUID()}/payments`],
      [otherKey, url()],
    ] as const) {
      const response = await post(context, target, key, { amount: 10 });
      assert.equal(response.status, 404);
      assert.deepEqual(response.body, { success: false, message: 'Case not found' });
    }
  });

  it('answers the documented 409 for a reused idempotencyKey, per organization', async () => {
    const body = { amount: 25, idempotencyKey: 'case-payment-unique-key-001' };
    const first = await post(context, url(), apiKey, body);
    assert.equal(first.status, 200);
    const second = await post(context, url(), apiKey, body);
    assert.equal(second.status, 409);
    assert.deepEqual(second.body, SEED_CONFLICT_BODY);
    const otherCase = await createCase(context, otherKey);
    const elsewhere = await post(context, `/api/v1/cases/${otherCase.caseId}/payments`, otherKey, body);
    assert.equal(elsewhere.status, 200, 'the same key in another organization is a different key');
    const { rows } = await context.db.query<{ count: number }>(
      'select count(*)::int as count from case_payments where idempotency_key = $1',
      [body.idempotencyKey],
    );
    assert.equal(rows[0]?.count, 2);
  });

  it('writes one PAYMENT_ADDED case event with the payment; refused and repeated requests write none', async () => {
    const addedEvents = async () =>
      (
        await context.db.query<{ payment_id: string; status: string; actor_kind: string }>(
          `select after ->> 'paymentId' as payment_id, after ->> 'status' as status, actor_kind from case_events
            where case_id = $1 and type = 'case.payment_added' order by seq`,
          [caseId],
        )
      ).rows;
    const before = (await addedEvents()).length;
    const body = { amount: 12.5, idempotencyKey: `event-${randomUUID()}` };
    const created = await post(context, url(), apiKey, body);
    assert.equal(created.status, 200, JSON.stringify(created.body));
    const { paymentId } = (created.body.data as { result: { paymentId: string } }).result;
    assert.equal((await post(context, url(), apiKey, body)).status, 409);
    assert.equal((await post(context, url(), apiKey, { amount: -1 })).status, 400);
    const events = await addedEvents();
    assert.equal(events.length, before + 1);
    assert.deepEqual(events.at(-1), { payment_id: paymentId, status: 'UNPAID', actor_kind: 'api_key' });
  });

  it('needs a saved payment method to preauthorize', async () => {
    const response = await post(context, url(), apiKey, { amount: 100, preauthorize: true });
    assert.equal(response.status, 400);
    assert.match(String(response.body.message), /no saved payment method/);
  });

  describe('holds', () => {
    let holdCaseId: string;
    const holdUrl = () => `/api/v1/cases/${holdCaseId}/payments`;

    before(async () => {
      holdCaseId = (await createCase(context, apiKey)).caseId;
      await saveMethodForCase(context, organizationId, holdCaseId, {
        gateway: 'stripe',
        customerId: 'cus_test',
        paymentMethodId: 'pm_card_visa',
      });
    });

    it('places a hold (capture_method=manual) and records capture_before; captures part of it', async () => {
      const created = await post(context, holdUrl(), apiKey, {
        amount: 100.0,
        status: 'UNPAID',
        preauthorize: true,
        description: 'Creating preauthorized payment for DEMO',
      });
      assert.equal(created.status, 200, JSON.stringify(created.body));
      const { result } = created.body.data as { result: { paymentId: string; status: string; amount: number } };
      assert.equal(result.status, 'UNPAID', 'held, not yet collected');
      assert.equal(result.amount, 100);
      const row = await paymentRow(context, result.paymentId);
      assert.equal(row.hold_status, 'HELD');
      assert.ok(row.capture_before instanceof Date);
      const intent = fake.paymentIntents.get(String(row.gateway_reference))!;
      assert.equal(intent.capture_method, 'manual');
      assert.equal(intent.amount, 10000);
      assert.equal(intent.status, 'requires_capture');
      assert.equal(intent.customer, 'cus_test');

      const detail = await context.app.inject({
        method: 'GET',
        url: `${holdUrl()}/${result.paymentId}`,
        headers: { 'cv-api-key': apiKey },
      });
      assert.equal(detail.json().data.result.holdStatus, 'HELD');
      assert.ok(detail.json().data.result.captureBefore);

      const tooMuch = await post(context, `${holdUrl()}/${result.paymentId}/capture`, apiKey, { amount: 150 });
      assert.equal(tooMuch.status, 400);
      assert.deepEqual(tooMuch.body, { success: false, message: 'Amount must not exceed the held amount (100.00)' });

      const captured = await post(context, `${holdUrl()}/${result.paymentId}/capture`, apiKey, { amount: 60 });
      assert.equal(captured.status, 200, JSON.stringify(captured.body));
      assert.equal(captured.body.message, 'Case payment captured successfully');
      const capturedResult = (captured.body.data as { result: Record<string, unknown> }).result;
      assert.equal(capturedResult.status, 'PAID');
      assert.equal(capturedResult.holdStatus, 'CAPTURED');
      assert.equal(capturedResult.amountCaptured, 60);
      assert.equal(intent.amount_received, 6000);
      assert.equal(intent.status, 'succeeded');

      // A repeated capture answers the same and calls Stripe no more.
      const capturesBefore = fake.count('POST', `/v1/payment_intents/${intent.id}/capture`);
      const again = await post(context, `${holdUrl()}/${result.paymentId}/capture`, apiKey, { amount: 60 });
      assert.equal(again.status, 200);
      assert.equal(fake.count('POST', `/v1/payment_intents/${intent.id}/capture`), capturesBefore);
      const release = await post(context, `${holdUrl()}/${result.paymentId}/cancel`, apiKey);
      assert.equal(release.status, 409);
      assert.equal(release.body.success, false);
    });

    it('captures all of a hold when no amount is given', async () => {
      const created = await post(context, holdUrl(), apiKey, { amount: 42.5, preauthorize: true });
      const { paymentId } = (created.body.data as { result: { paymentId: string } }).result;
      const captured = await post(context, `${holdUrl()}/${paymentId}/capture`, apiKey);
      assert.equal(captured.status, 200);
      assert.equal((captured.body.data as { result: { amountCaptured: number } }).result.amountCaptured, 42.5);
    });

    it('releases a hold, and a second release answers the same', async () => {
      const created = await post(context, holdUrl(), apiKey, { amount: 30, preauthorize: true });
      const { paymentId } = (created.body.data as { result: { paymentId: string } }).result;
      const released = await post(context, `${holdUrl()}/${paymentId}/cancel`, apiKey);
      assert.equal(released.status, 200);
      assert.equal(released.body.message, 'Case payment canceled successfully');
      const result = (released.body.data as { result: Record<string, unknown> }).result;
      assert.equal(result.status, 'CANCELED');
      assert.equal(result.holdStatus, 'RELEASED');
      const row = await paymentRow(context, paymentId);
      assert.equal(fake.paymentIntents.get(String(row.gateway_reference))!.status, 'canceled');
      const again = await post(context, `${holdUrl()}/${paymentId}/cancel`, apiKey);
      assert.equal(again.status, 200);
      const capture = await post(context, `${holdUrl()}/${paymentId}/capture`, apiKey);
      assert.equal(capture.status, 409);
    });

    it('answers 402 for a declined card and records the payment as ERROR', async () => {
      const declinedCase = (await createCase(context, apiKey)).caseId;
      await saveMethodForCase(context, organizationId, declinedCase, {
        gateway: 'stripe',
        customerId: 'cus_test',
        paymentMethodId: DECLINED_PAYMENT_METHOD,
      });
      const response = await post(context, `/api/v1/cases/${declinedCase}/payments`, apiKey, {
        amount: 80,
        preauthorize: true,
        idempotencyKey: 'declined-hold',
      });
      assert.equal(response.status, 402);
      assert.deepEqual(response.body, {
        success: false,
        message: 'Payment authorization was declined: Your card was declined.',
      });
      const { rows } = await context.db.query<{ status: string; hold_status: string }>(
        'select status, hold_status from case_payments where idempotency_key = $1',
        ['declined-hold'],
      );
      assert.deepEqual(rows[0], { status: 'ERROR', hold_status: 'FAILED' });
    });

    it('after a gateway timeout, a retry with the same idempotencyKey holds the card once', async () => {
      const body = { amount: 55, preauthorize: true, idempotencyKey: 'slow-hold-1' };
      const intentsBefore = fake.paymentIntents.size;
      fake.loseNextAnswer({ method: 'POST', pathPrefix: '/v1/payment_intents' });
      const first = await post(context, holdUrl(), apiKey, body);
      assert.equal(first.status, 503, JSON.stringify(first.body));
      assert.match(String(first.body.message), /Retry with the same idempotencyKey/);
      const pending = await context.db.query<{ hold_status: string }>(
        'select hold_status from case_payments where idempotency_key = $1',
        ['slow-hold-1'],
      );
      assert.equal(pending.rows[0]?.hold_status, 'PENDING');

      const retry = await post(context, holdUrl(), apiKey, body);
      assert.equal(retry.status, 200, JSON.stringify(retry.body));
      assert.equal(fake.paymentIntents.size, intentsBefore + 1, 'one PaymentIntent at Stripe');
      const keys = fake.calls.filter((call) => call.method === 'POST' && call.path === '/v1/payment_intents').slice(-2);
      assert.equal(keys[0]!.idempotencyKey, keys[1]!.idempotencyKey);
      assert.equal(keys[1]!.replayed, true);

      const third = await post(context, holdUrl(), apiKey, body);
      assert.equal(third.status, 409, 'settled: the key is used');
      assert.deepEqual(third.body, SEED_CONFLICT_BODY);
    });

    it('a hold on a saved method whose gateway is not configured: 503 in the route’s schema (it was a 500)', async () => {
      const nmiCase = (await createCase(context, apiKey)).caseId;
      await saveMethodForCase(context, organizationId, nmiCase, {
        gateway: 'nmi',
        customerId: '1234567',
        paymentMethodId: null,
      });
      const response = await post(context, `/api/v1/cases/${nmiCase}/payments`, apiKey, {
        amount: 20,
        preauthorize: true,
      });
      assert.equal(response.status, 503, JSON.stringify(response.body));
      assert.deepEqual(response.body, {
        success: false,
        message: 'The nmi gateway that holds this payment is not configured on this server',
      });
    });

    it('hides another organization’s payment', async () => {
      const created = await post(context, holdUrl(), apiKey, { amount: 10 });
      const { paymentId } = (created.body.data as { result: { paymentId: string } }).result;
      const foreign = await post(context, `${holdUrl()}/${paymentId}/capture`, otherKey);
      assert.equal(foreign.status, 404);
      assert.deepEqual(foreign.body, { success: false, message: 'Case not found' });
      const wrongCase = await post(context, `${url()}/${paymentId}/cancel`, apiKey);
      assert.equal(wrongCase.status, 404);
      assert.deepEqual(wrongCase.body, { success: false, message: 'Payment not found' });
      const unpaid = await post(context, `${holdUrl()}/${paymentId}/capture`, apiKey);
      assert.equal(unpaid.status, 409);
      assert.deepEqual(unpaid.body, {
        success: false,
        message: 'Payment cannot be captured: it was not preauthorized (holdStatus NONE)',
      });
    });
  });
});
