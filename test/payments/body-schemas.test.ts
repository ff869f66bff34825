import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { createCase, paymentsTestContext, post, type TestContext } from './support.ts';

// The payment bodies are checked by their zod schemas (src/modules/payments/body-schemas.ts), the same ones the
// OpenAPI document shows: each refusal is the bare documented sentence in the payments envelope, the first field in
// the schema's order wins, and nothing is written. The messages of each field are pinned by the route's own tests.

describe('payment bodies checked by their zod schemas', () => {
  let context: TestContext;
  let apiKey: string;
  let caseId: string;

  const rows = async () =>
    (
      await context.db.query<{ payments: number; intents: number; refunds: number }>(
        `select (select count(*)::int from case_payments) as payments,
                (select count(*)::int from gateway_intents) as intents,
                (select count(*)::int from case_payment_refunds) as refunds`,
      )
    ).rows[0]!;

  before(async () => {
    context = await paymentsTestContext();
    ({ apiKey } = await context.organization());
    const created = await createCase(context, apiKey);
    assert.equal(created.status, 200, JSON.stringify(created.body));
    caseId = created.caseId;
  });
  after(() => context.close());

  it('answers the first field that fails, in the order the published messages take precedence', async () => {
    const paymentId = '00000000-0000-4000-8000-000000000000';
    const refusals: [string, unknown, string][] = [
      [`/api/v1/cases/${caseId}/payments`, { description: 5, amount: -1 }, 'Amount must be a positive number'],
      [
        `/api/v1/cases/${caseId}/payments`,
        { amount: '12.5', status: 'x', preauthorize: 1 },
        'Status must be one of PAID, UNPAID, CANCELED, IN_DISPUTE, LOST_DISPUTE, REFUND, ERROR',
      ],
      [`/api/v1/cases/${caseId}/payments`, 'twelve', 'Request body must be a JSON object'],
      [
        `/api/v1/cases/${caseId}/payments/${paymentId}/refund`,
        { amount: 'x', idempotencyKey: 5 },
        'idempotencyKey must be a non-empty string of at most 255 characters',
      ],
      [
        `/api/v1/cases/${caseId}/payments/${paymentId}/refund`,
        { amount: 0.001 },
        'Amount must have at most two decimal places',
      ],
      [`/api/v1/cases/${caseId}/payments/${paymentId}/capture`, [5], 'Request body must be a JSON object'],
      [
        `/api/v1/cases/${caseId}/payments/${paymentId}/capture`,
        { amount: 2_000_000 },
        'Amount must be at most 1000000',
      ],
      [
        '/api/v1/payments/intent',
        { amount: 45.5, paymentMethodTypes: 'card' },
        'Amount must be a whole number of cents (e.g. 4500 for $45.00)',
      ],
      ['/api/v1/payments/intent', { amount: 4500, metadata: { phone: 7 } }, 'Metadata phone must be a string'],
      ['/api/v1/payments/setup', { metadata: [] }, 'Metadata must be an object'],
      ['/api/v1/payments/setup', 'x', 'Request body must be a JSON object'],
      ['/api/v1/customer-payment-confirmation', { caseId, amount: 'lots' }, 'Amount must be a positive number'],
    ];
    const before = await rows();
    for (const [url, body, message] of refusals) {
      const answer = await post(context, url, apiKey, body);
      assert.equal(answer.status, 400, `${url} ${JSON.stringify(body)}: ${JSON.stringify(answer.body)}`);
      assert.deepEqual(answer.body, { success: false, message }, `${url} ${JSON.stringify(body)}`);
    }
    assert.deepEqual(await rows(), before, 'nothing written');
  });

  it('passes the checked values to the service: a numeric string, statuses in any case, blank text as none', async () => {
    const created = await post(context, `/api/v1/cases/${caseId}/payments`, apiKey, {
      amount: ' 19.90 ',
      status: ' paid ',
      description: '   ',
      productId: null,
      preauthorize: null,
    });
    assert.equal(created.status, 200, JSON.stringify(created.body));
    const result = (created.body.data as { result: Record<string, unknown> }).result;
    assert.equal(result.amount, 19.9);
    assert.equal(result.status, 'PAID');
    assert.equal(result.description, null);
    // A setup without a body, with null, or with an empty object: the same SetupIntent request.
    for (const body of [undefined, null, {}]) {
      const setup = await post(context, '/api/v1/payments/setup', apiKey, body);
      assert.equal(setup.status, 200, `${JSON.stringify(body)}: ${JSON.stringify(setup.body)}`);
    }
  });
});
