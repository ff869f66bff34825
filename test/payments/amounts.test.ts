import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import fc from 'fast-check';
import { centsToDecimalString, centsToDollars, dollarsToCents, MAX_AMOUNT_CENTS } from '../../src/money.ts';
import { startFakeNmi, type FakeNmiServer } from '../fakes/nmi-server.ts';
import { ADMIN_TOKEN } from '../support/app.ts';
import { createCase, paymentRow, paymentsTestContext, post, type TestContext } from './support.ts';

// Issue 16, defect 5: amounts that round to 0 cents. `{"amount":5e-324}` on a case payment was a 500 (a CHECK
// violation), `capture {"amount":1e-9}` captured all of a $30 hold, and an intake with `paymentAmount: 5e-324`
// stored 0 cents and, with an NMI token, charged nothing. Every amount is now read as whole cents (src/money.ts).

/** Amounts that are not whole cents of at least one cent, as JSON numbers. */
const NOT_WHOLE_CENTS = [5e-324, 1e-9, 1e-7, 0.001, 0.004, 0.1 + 0.2, 19.999, 1.005];

describe('dollarsToCents: decimal text, never floating-point arithmetic', () => {
  it('reads numbers and strings with at most two decimals exactly, and nothing else', () => {
    const accepted: [number | string, number][] = [
      [0, 0],
      [-0, 0],
      [0.01, 1],
      [0.5, 50],
      [19.99, 1999],
      [45.1, 4510],
      [600, 60000],
      [1_000_000, 100_000_000],
      ['19.99', 1999],
      [' 12.50 ', 1250],
      ['12.340', 1234],
      ['007', 700],
      [21_474_836.47, 2_147_483_647],
    ];
    for (const [value, cents] of accepted) assert.equal(dollarsToCents(value), cents, `${String(value)}`);
    const refused: (number | string)[] = [
      ...NOT_WHOLE_CENTS,
      -0.01,
      -1,
      NaN,
      Infinity,
      1e21,
      21_474_836.48,
      '',
      ' ',
      '1e3',
      '1.2.3',
      '-5',
      '+5',
      '.5',
      '5.',
      '12.345',
      '0x10',
      '9'.repeat(400),
    ];
    for (const value of refused) assert.equal(dollarsToCents(value), null, `${String(value)}`);
  });

  it('gives back every whole-cent amount from its dollar number and its decimal string', () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: MAX_AMOUNT_CENTS }), (cents) => {
        assert.equal(dollarsToCents(centsToDollars(cents)), cents);
        assert.equal(dollarsToCents(centsToDecimalString(cents)), cents);
      }),
      { numRuns: 2000 },
    );
  });
});

describe('every route refuses an amount below one cent or not in whole cents, with its documented 400', () => {
  let nmi: FakeNmiServer;
  let context: TestContext;
  let apiKey: string;
  let organizationId: string;
  let caseId: string;

  before(async () => {
    nmi = await startFakeNmi();
    // No Stripe key: holds go through the simulated gateway (Stripe's minimum), intakes' tokens to NMI.
    context = await paymentsTestContext(nmi.environment());
    ({ apiKey, organizationId } = await context.organization());
    const setup = await post(context, '/api/v1/payments/setup', apiKey);
    const created = await createCase(context, apiKey, {
      stripeSetupId: String(setup.body.paymentSecret).split('_secret_')[0],
    });
    assert.equal(created.status, 200, JSON.stringify(created.body));
    caseId = created.caseId;
  });
  after(async () => {
    await context.close();
    await nmi.stop();
  });

  const paymentCount = async () =>
    (
      await context.db.query<{ n: number }>('select count(*)::int as n from case_payments where organization_id = $1', [
        organizationId,
      ])
    ).rows[0]!.n;

  it('POST /api/v1/cases/:caseId/payments: 400 "at most two decimal places", nothing written', async () => {
    const before = await paymentCount();
    for (const amount of NOT_WHOLE_CENTS) {
      const response = await post(context, `/api/v1/cases/${caseId}/payments`, apiKey, { amount });
      assert.equal(response.status, 400, `${amount}: ${JSON.stringify(response.body)}`);
      assert.deepEqual(response.body, { success: false, message: 'Amount must have at most two decimal places' });
    }
    const tooSmallHold = await post(context, `/api/v1/cases/${caseId}/payments`, apiKey, {
      amount: 0.49,
      preauthorize: true,
    });
    assert.deepEqual(tooSmallHold.body, { success: false, message: 'Amount must be at least 0.50 to preauthorize' });
    assert.equal(await paymentCount(), before);
  });

  it('capture: 400 for 1e-9 and below the gateway minimum; the hold stays HELD, then captures 0.50', async () => {
    const held = await post(context, `/api/v1/cases/${caseId}/payments`, apiKey, { amount: 30, preauthorize: true });
    assert.equal(held.status, 200, JSON.stringify(held.body));
    const { paymentId } = (held.body.data as { result: { paymentId: string } }).result;
    const capture = (body: unknown) =>
      post(context, `/api/v1/cases/${caseId}/payments/${paymentId}/capture`, apiKey, body);
    for (const amount of NOT_WHOLE_CENTS) {
      const response = await capture({ amount });
      assert.equal(response.status, 400, `${amount}: ${JSON.stringify(response.body)}`);
      assert.deepEqual(response.body, { success: false, message: 'Amount must have at most two decimal places' });
    }
    const belowMinimum = await capture({ amount: 0.49 });
    assert.deepEqual(belowMinimum.body, { success: false, message: 'Amount must be at least 0.50 to capture' });
    const row = await paymentRow(context, paymentId);
    assert.equal(row.hold_status, 'HELD');
    assert.equal(row.amount_captured_cents, 0);

    const captured = await capture({ amount: 0.5 });
    assert.equal(captured.status, 200, JSON.stringify(captured.body));
    assert.equal((captured.body.data as { result: { amountCaptured: number } }).result.amountCaptured, 0.5);
  });

  it('POST /api/v1/dynamic-case: paymentAmount 5e-324 is a 400; no case, nothing charged', async () => {
    const cases = async () =>
      (
        await context.db.query<{ n: number }>('select count(*)::int as n from cases where organization_id = $1', [
          organizationId,
        ])
      ).rows[0]!.n;
    const before = await cases();
    for (const paymentAmount of [...NOT_WHOLE_CENTS, '0.001', '0.00', 0]) {
      for (const extra of [{}, { nmiPaymentToken: 'tok-tiny' }]) {
        const response = await createCase(context, apiKey, { paymentAmount, ...extra });
        assert.equal(response.status, 400, `${paymentAmount}: ${JSON.stringify(response.body)}`);
        assert.deepEqual(response.body, {
          success: false,
          error:
            'Validation failed: paymentAmount: Must be a positive amount in dollars with at most two decimals (at most 1000000)',
        });
      }
    }
    assert.equal(await cases(), before);
    assert.equal(nmi.calls.length, 0, 'NMI was never called');
  });

  it('admin promo codes: a flatDiscount of 5e-324 is a 400', async () => {
    const response = await context.app.inject({
      method: 'POST',
      url: '/admin/v1/promo-codes',
      headers: { authorization: `Bearer ${ADMIN_TOKEN}` },
      payload: { organizationId, code: 'TINY', flatDiscount: 5e-324 },
    });
    assert.equal(response.statusCode, 400, response.body);
    assert.match(response.json<{ error: string }>().error, /flatDiscount must be an amount in dollars/);
  });
});
