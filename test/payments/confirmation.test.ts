import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { ADMIN_TOKEN } from '../support/app.ts';
import { Receiver } from '../outbound-webhooks/support.ts';
import { createCase, paymentsTestContext, post, type TestContext } from './support.ts';

// POST /api/v1/customer-payment-confirmation (reference section 2.12): a payment taken elsewhere, recorded on
// the case with its case event in one transaction, idempotent by key, and nothing written for a bad request.

const URL = '/api/v1/customer-payment-confirmation';
const STATUSES = ['PAID', 'UNPAID', 'CANCELED', 'IN_DISPUTE', 'LOST_DISPUTE', 'REFUND', 'ERROR'];
const CONFLICT = {
  status: 409,
  success: false,
  code: 'IDEMPOTENCY_ERROR',
  description: 'A record with the provided idempotencyKey already exists for this organization.',
};

describe('payment confirmation', () => {
  let context: TestContext;
  let apiKey: string;
  let caseId: string;

  /** The reference's example values. */
  const example = (extra: Record<string, unknown> = {}) => ({
    caseId,
    email: 'patient@example.com',
    phoneNumber: '+15555550123',
    decisionId: 'decision-1',
    amount: 50,
    description: 'Payment for Compounded Semaglutide',
    paymentDate: '2026-01-15',
    status: 'PAID',
    validUntil: '2026-02-15',
    ...extra,
  });

  const counts = async () => {
    const payments = await context.db.query<{ n: number }>(
      "select count(*)::int as n from case_payments where source = 'confirmation'",
    );
    const events = await context.db.query<{ n: number }>(
      "select count(*)::int as n from case_events where type in ('case.payment_added', 'case.payment_completed')",
    );
    return { payments: payments.rows[0]!.n, events: events.rows[0]!.n };
  };

  const detailPayments = async (key = apiKey, onCase = caseId) => {
    const response = await context.app.inject({
      method: 'GET',
      url: `/api/v1/customer-case-detail?caseId=${onCase}`,
      headers: { 'cv-api-key': key },
    });
    assert.equal(response.statusCode, 200, response.body);
    return (response.json() as { caseDetail: { payments: Record<string, unknown>[] } }).caseDetail.payments;
  };

  before(async () => {
    context = await paymentsTestContext();
    ({ apiKey } = await context.organization());
    const created = await createCase(context, apiKey);
    assert.equal(created.status, 200, JSON.stringify(created.body));
    caseId = created.caseId;
  });
  after(async () => {
    await context.close();
  });

  it('records the reference example: 200 {"status":200,"success":true}, in the case detail, with its event', async () => {
    const before = await counts();
    const answer = await post(context, URL, apiKey, example({ description: 'Example payment' }));
    assert.equal(answer.status, 200, JSON.stringify(answer.body));
    assert.deepEqual(answer.body, { status: 200, success: true });
    const { rows } = await context.db.query<Record<string, unknown>>(
      `select id, amount_cents, status, gateway, amount_captured_cents, decision_id,
              to_char(payment_date, 'YYYY-MM-DD') as payment_date, to_char(valid_until, 'YYYY-MM-DD') as valid_until
         from case_payments where case_id = $1 and description = 'Example payment'`,
      [caseId],
    );
    assert.equal(rows.length, 1);
    const row = rows[0]!;
    assert.deepEqual(
      [row.amount_cents, row.status, row.gateway, row.amount_captured_cents, row.decision_id],
      [5000, 'PAID', null, 5000, 'decision-1'],
    );
    assert.deepEqual([row.payment_date, row.valid_until], ['2026-01-15', '2026-02-15']);
    const shown = (await detailPayments()).find((payment) => payment.id === row.id);
    assert.deepEqual(
      { amount: shown?.amount, status: shown?.status, description: shown?.description },
      { amount: 50, status: 'PAID', description: 'Example payment' },
    );
    const events = await context.db.query<{ type: string }>(
      "select type from case_events where case_id = $1 and after ->> 'paymentId' = $2",
      [caseId, row.id],
    );
    assert.deepEqual(
      events.rows.map((event) => event.type),
      ['case.payment_completed'],
    );
    assert.deepEqual(await counts(), { payments: before.payments + 1, events: before.events + 1 });
  });

  it('records every documented status, PAID as PAYMENT_COMPLETED and the others as PAYMENT_ADDED', async () => {
    for (const status of STATUSES) {
      const description = `status ${status}`;
      const answer = await post(context, URL, apiKey, example({ status: status.toLowerCase(), description }));
      assert.equal(answer.status, 200, `${status}: ${JSON.stringify(answer.body)}`);
      const { rows } = await context.db.query<{ id: string; status: string; amount_refunded_cents: number }>(
        'select id, status, amount_refunded_cents from case_payments where case_id = $1 and description = $2',
        [caseId, description],
      );
      assert.equal(rows.length, 1, status);
      assert.equal(rows[0]!.status, status);
      assert.equal(rows[0]!.amount_refunded_cents, status === 'REFUND' ? 5000 : 0);
      const events = await context.db.query<{ type: string }>(
        "select type from case_events where after ->> 'paymentId' = $1",
        [rows[0]!.id],
      );
      assert.deepEqual(
        events.rows.map((event) => event.type),
        [status === 'PAID' ? 'case.payment_completed' : 'case.payment_added'],
      );
    }
  });

  it('refuses bad input with a 400 in the payments envelope and writes nothing', async () => {
    const cases: [Record<string, unknown> | unknown, string][] = [
      [[1, 2], 'Request body must be a JSON object'],
      [example({ caseId: undefined }), 'caseId is required'],
      [example({ caseId: 'not-a-uuid' }), 'Case ID must be a valid UUID'],
      [example({ amount: undefined }), 'amount is required'],
      [example({ amount: -5 }), 'Amount must be a positive number'],
      [example({ amount: 0 }), 'Amount must be a positive number'],
      [example({ amount: 1.234 }), 'Amount must have at most two decimal places'],
      [example({ status: undefined }), 'status is required'],
      [example({ status: 'SETTLED' }), `Status must be one of ${STATUSES.join(', ')}`],
      [example({ paymentDate: undefined }), 'paymentDate is required'],
      [example({ paymentDate: '2026-02-30' }), 'paymentDate must be a date in the format YYYY-MM-DD'],
      [example({ paymentDate: '15/01/2026' }), 'paymentDate must be a date in the format YYYY-MM-DD'],
      [example({ validUntil: undefined }), 'validUntil is required'],
      [example({ validUntil: 20260215 }), 'validUntil must be a date in the format YYYY-MM-DD'],
      [example({ validUntil: '2026-01-14' }), 'validUntil must not be before paymentDate'],
      [example({ description: 7 }), 'description must be a string'],
      [example({ email: ['a'] }), 'email must be a string'],
      [example({ idempotencyKey: '' }), 'Idempotency key must be a non-empty string of at most 255 characters'],
      [example({ idempotencyKey: 'key\ud800' }), 'idempotencyKey must be valid Unicode text'],
      [example({ decisionId: 'decision\ud800' }), 'decisionId must be valid Unicode text'],
    ];
    const before = await counts();
    for (const [body, message] of cases) {
      const answer = await post(context, URL, apiKey, body);
      assert.equal(answer.status, 400, `${message}: ${JSON.stringify(answer.body)}`);
      assert.deepEqual(answer.body, { success: false, message });
    }
    const missing = await post(context, URL, apiKey, example({ caseId: randomUUID() }));
    assert.equal(missing.status, 404);
    assert.deepEqual(missing.body, { success: false, message: 'Case not found' });
    const noKey = await post(context, URL, null, example());
    assert.deepEqual([noKey.status, noKey.body], [401, { status: 401, error: 'Invalid API key' }]);
    assert.deepEqual(await counts(), before);
  });

  it('answers a retry with the same idempotencyKey as the first, and another request with that key 409', async () => {
    const idempotencyKey = `confirm-${randomUUID()}`;
    const before = await counts();
    const first = await post(context, URL, apiKey, example({ idempotencyKey }));
    const retry = await post(context, URL, apiKey, example({ idempotencyKey }));
    assert.deepEqual([first.status, first.body], [200, { status: 200, success: true }]);
    assert.deepEqual([retry.status, retry.body], [200, { status: 200, success: true }]);
    const other = await post(context, URL, apiKey, example({ idempotencyKey, amount: 51 }));
    assert.deepEqual([other.status, other.body], [409, CONFLICT]);
    assert.deepEqual(await counts(), { payments: before.payments + 1, events: before.events + 1 });

    // A case payment's key is taken for a confirmation too: one namespace per organization.
    const paymentKey = `payment-${randomUUID()}`;
    const payment = await post(context, `/api/v1/cases/${caseId}/payments`, apiKey, {
      amount: 50,
      idempotencyKey: paymentKey,
    });
    assert.equal(payment.status, 200, JSON.stringify(payment.body));
    const reused = await post(context, URL, apiKey, example({ idempotencyKey: paymentKey }));
    assert.deepEqual([reused.status, reused.body], [409, CONFLICT]);
  });

  it('records one payment for identical concurrent requests', async () => {
    const idempotencyKey = `race-${randomUUID()}`;
    const before = await counts();
    const answers = await Promise.all(
      Array.from({ length: 6 }, () => post(context, URL, apiKey, example({ idempotencyKey }))),
    );
    for (const answer of answers) assert.deepEqual([answer.status, answer.body], [200, { status: 200, success: true }]);
    const { rows } = await context.db.query('select id from case_payments where idempotency_key = $1', [
      idempotencyKey,
    ]);
    assert.equal(rows.length, 1);
    assert.deepEqual(await counts(), { payments: before.payments + 1, events: before.events + 1 });
  });

  it("answers another organization's case exactly as a missing one, and writes nothing", async () => {
    const other = await context.organization();
    const before = await counts();
    const foreign = await post(context, URL, other.apiKey, example());
    const missing = await post(context, URL, other.apiKey, example({ caseId: randomUUID() }));
    assert.deepEqual([foreign.status, foreign.body], [missing.status, missing.body]);
    assert.deepEqual([foreign.status, foreign.body], [404, { success: false, message: 'Case not found' }]);
    assert.deepEqual(await counts(), before);

    // Keys are per organization: the other organization may use a key this one used, on its own case.
    const idempotencyKey = `shared-${randomUUID()}`;
    assert.equal((await post(context, URL, apiKey, example({ idempotencyKey }))).status, 200);
    const ownCase = (await createCase(context, other.apiKey)).caseId;
    const theirs = await post(context, URL, other.apiKey, example({ caseId: ownCase, idempotencyKey }));
    assert.deepEqual([theirs.status, theirs.body], [200, { status: 200, success: true }]);
    assert.equal((await detailPayments(other.apiKey, ownCase)).length, 1);
  });
});

describe('payment confirmation as a webhook', () => {
  let context: TestContext;
  let receiver: Receiver;

  before(async () => {
    context = await paymentsTestContext({ WEBHOOK_ALLOW_PRIVATE_NETWORKS: 'true', PUBLIC_URL: 'https://care.test/' });
    receiver = await new Receiver().start();
  });
  after(async () => {
    await context.services.webhookDelivery.stop();
    await receiver.close();
    await context.close();
  });

  it('sends PAYMENT_COMPLETED for PAID and PAYMENT_ADDED otherwise, with the payment as payload.payment', async () => {
    const { apiKey, organizationId } = await context.organization();
    const caseId = (await createCase(context, apiKey)).caseId;
    const endpoint = await context.app.inject({
      method: 'POST',
      url: `/admin/v1/organizations/${organizationId}/webhooks`,
      headers: { authorization: `Bearer ${ADMIN_TOKEN}` },
      payload: { url: receiver.url() },
    });
    assert.equal(endpoint.statusCode, 201, endpoint.body);
    const body = { caseId, amount: 50, paymentDate: '2026-01-15', validUntil: '2026-02-15' };
    assert.equal((await post(context, URL, apiKey, { ...body, status: 'PAID', description: 'paid' })).status, 200);
    assert.equal((await post(context, URL, apiKey, { ...body, status: 'UNPAID', description: 'unpaid' })).status, 200);
    await context.services.webhookDelivery.drain();
    const sent = receiver
      .events()
      .filter((entry) => entry.event.startsWith('PAYMENT_'))
      .map((entry) => {
        const payment = entry.payload.payment as { status: string; description: string; amount: number };
        return [entry.event, payment.status, payment.description, payment.amount];
      });
    assert.deepEqual(sent, [
      ['PAYMENT_COMPLETED', 'PAID', 'paid', 50],
      ['PAYMENT_ADDED', 'UNPAID', 'unpaid', 50],
    ]);
  });
});
