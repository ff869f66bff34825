import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { Database, Queryable } from '../../src/db/database.ts';
import { Tenant } from '../../src/http/gate.ts';
import { RefundService } from '../../src/modules/payments/refunds.ts';
import { startFakeNmi, type FakeNmiServer } from '../fakes/nmi-server.ts';
import { startFakeStripe, type FakeStripeServer } from '../fakes/stripe-server.ts';
import { until } from '../support/until.ts';
import { createCase, nmiPaidCase, paymentsTestContext, post, saveMethodForCase, type TestContext } from './support.ts';

// POST /api/v1/cases/:caseId/payments/:paymentId/refund on Stripe and NMI (the local fakes): recorded first,
// never more than was collected, never twice, with its case event in the same transaction.

interface Result {
  paymentId: string;
  status: string;
  amount: number;
  amountCaptured: number;
  amountRefunded: number;
}

describe('refunds of case payments', () => {
  let stripe: FakeStripeServer;
  let nmi: FakeNmiServer;
  let context: TestContext;
  let apiKey: string;
  let organizationId: string;
  let caseId: string;

  const refund = async (paymentId: string, body?: Record<string, unknown>, onCase = caseId) =>
    post(context, `/api/v1/cases/${onCase}/payments/${paymentId}/refund`, apiKey, body);

  const result = (body: Record<string, unknown>) => (body.data as { result: Result }).result;

  /** A Stripe payment held for `amount` dollars and captured whole. */
  const paid = async (amount: number) => {
    const held = await post(context, `/api/v1/cases/${caseId}/payments`, apiKey, { amount, preauthorize: true });
    assert.equal(held.status, 200, JSON.stringify(held.body));
    const { paymentId } = result(held.body);
    const captured = await post(context, `/api/v1/cases/${caseId}/payments/${paymentId}/capture`, apiKey);
    assert.equal(captured.status, 200, JSON.stringify(captured.body));
    return paymentId;
  };

  const refundEvents = async (paymentId: string) =>
    (
      await context.db.query<{ n: number }>(
        `select count(*)::int as n from case_events where type = 'case.payment_refunded' and after ->> 'paymentId' = $1`,
        [paymentId],
      )
    ).rows[0]!.n;

  const refundRows = async (paymentId: string) =>
    (
      await context.db.query<{ status: string; amount_cents: number; gateway_reference: string | null }>(
        'select status, amount_cents, gateway_reference from case_payment_refunds where case_payment_id = $1 order by created_at',
        [paymentId],
      )
    ).rows;

  before(async () => {
    stripe = await startFakeStripe();
    nmi = await startFakeNmi();
    context = await paymentsTestContext({ ...stripe.environment(), ...nmi.environment() });
    ({ apiKey, organizationId } = await context.organization());
    caseId = (await createCase(context, apiKey)).caseId;
    await saveMethodForCase(context, organizationId, caseId, {
      gateway: 'stripe',
      customerId: 'cus_refunds',
      paymentMethodId: 'pm_card_visa',
    });
  });
  after(async () => {
    await context.close();
    await stripe.stop();
    await nmi.stop();
  });

  it('refunds part, then the rest, of a Stripe payment; then there is nothing left', async () => {
    const paymentId = await paid(100);
    const refundsBefore = stripe.count('POST', '/v1/refunds');
    const part = await refund(paymentId, { amount: '30.25' });
    assert.equal(part.status, 200, JSON.stringify(part.body));
    assert.equal(part.body.message, 'Case payment refunded successfully');
    assert.equal(result(part.body).status, 'REFUND');
    assert.equal(result(part.body).amountRefunded, 30.25);

    const rest = await refund(paymentId);
    assert.equal(rest.status, 200, JSON.stringify(rest.body));
    assert.equal(result(rest.body).amountRefunded, 100);
    assert.equal(stripe.count('POST', '/v1/refunds') - refundsBefore, 2);
    const [first, second] = await refundRows(paymentId);
    assert.deepEqual(
      [first!.status, first!.amount_cents, second!.status, second!.amount_cents],
      ['succeeded', 3025, 'succeeded', 6975],
    );
    assert.match(first!.gateway_reference!, /^re_/);
    assert.equal(await refundEvents(paymentId), 2);

    const none = await refund(paymentId, { amount: 1 });
    assert.equal(none.status, 409);
    assert.deepEqual(none.body, { success: false, message: 'Payment cannot be refunded: nothing is left to refund' });

    // The case detail's payment shows it.
    const detail = await context.app.inject({
      method: 'GET',
      url: `/api/v1/cases/${caseId}/payments/${paymentId}`,
      headers: { 'cv-api-key': apiKey },
    });
    assert.equal(detail.json().data.result.amountRefunded, 100);
    assert.equal(detail.json().data.result.status, 'REFUND');
  });

  it('refuses more than is left, bad amounts and keys, unpaid and unknown payments, and writes nothing', async () => {
    const paymentId = await paid(20);
    const over = await refund(paymentId, { amount: 20.01 });
    assert.equal(over.status, 400);
    assert.deepEqual(over.body, {
      success: false,
      message: 'Amount must not exceed the refundable amount (20.00)',
    });
    for (const body of [{ amount: 'ten' }, { amount: -1 }, { amount: 0.001 }, { idempotencyKey: 7 }, [1]]) {
      const response = await refund(paymentId, body as Record<string, unknown>);
      assert.equal(response.status, 400, JSON.stringify(body));
      assert.equal(response.body.success, false);
    }
    const unpaid = await post(context, `/api/v1/cases/${caseId}/payments`, apiKey, { amount: 5 });
    const notTaken = await refund(result(unpaid.body).paymentId);
    assert.equal(notTaken.status, 409);
    assert.deepEqual(notTaken.body, {
      success: false,
      message: 'Payment cannot be refunded: it was not taken through a payment gateway',
    });
    const unknown = await refund('00000000-0000-4000-8000-000000000000');
    assert.equal(unknown.status, 404);
    assert.deepEqual(await refundRows(paymentId), []);
    assert.equal(await refundEvents(paymentId), 0);
  });

  it('a refund whose answer came too late is resumed by its retry, and Stripe refunds once', async () => {
    const paymentId = await paid(50);
    const before = stripe.refunds.size;
    stripe.loseNextAnswer({ method: 'POST', pathPrefix: '/v1/refunds' });
    const late = await refund(paymentId, { amount: 20, idempotencyKey: 'refund-late' });
    assert.equal(late.status, 503, JSON.stringify(late.body));
    assert.deepEqual(
      (await refundRows(paymentId)).map((row) => row.status),
      ['pending'],
    );
    // Another refund meanwhile cannot take the pending amount as well.
    const other = await refund(paymentId, { amount: 31 });
    assert.equal(other.status, 400);
    // A retry that finds Stripe down (its look-up of the refund first) holds the refund only while it calls: the
    // next retry may come at once.
    stripe.failNext({
      pathPrefix: '/v1/refunds',
      status: 500,
      times: context.config.payments.stripeMaxNetworkRetries + 1,
    });
    const down = await refund(paymentId, { amount: 20, idempotencyKey: 'refund-late' });
    assert.equal(down.status, 503, JSON.stringify(down.body));

    const retried = await refund(paymentId, { amount: 20, idempotencyKey: 'refund-late' });
    assert.equal(retried.status, 200, JSON.stringify(retried.body));
    assert.equal(result(retried.body).amountRefunded, 20);
    const again = await refund(paymentId, { amount: 20, idempotencyKey: 'refund-late' });
    assert.equal(again.status, 200);
    assert.equal(result(again.body).amountRefunded, 20);
    assert.equal(stripe.refunds.size - before, 1, 'one refund at Stripe');
    assert.equal(await refundEvents(paymentId), 1);

    const otherAmount = await refund(paymentId, { amount: 5, idempotencyKey: 'refund-late' });
    assert.equal(otherAmount.status, 409);
  });

  it('a refund retried after Stripe forgot its key is found by its metadata, and not made again', async () => {
    const paymentId = await paid(40);
    const before = stripe.refunds.size;
    stripe.loseNextAnswer({ method: 'POST', pathPrefix: '/v1/refunds' });
    const late = await refund(paymentId, { amount: 15, idempotencyKey: 'refund-next-day' });
    assert.equal(late.status, 503, JSON.stringify(late.body));
    const [pending] = (
      await context.db.query<{ id: string }>('select id from case_payment_refunds where case_payment_id = $1', [
        paymentId,
      ])
    ).rows;
    stripe.forgetIdempotencyKeys(pending!.id);

    const retried = await refund(paymentId, { amount: 15, idempotencyKey: 'refund-next-day' });
    assert.equal(retried.status, 200, JSON.stringify(retried.body));
    assert.equal(result(retried.body).amountRefunded, 15);
    assert.equal(stripe.refunds.size - before, 1, 'one refund at Stripe');
    assert.deepEqual(
      (await refundRows(paymentId)).map((row) => row.status),
      ['succeeded'],
    );
    assert.equal(await refundEvents(paymentId), 1);
  });

  it('an unmarked Stripe refund left pending for a day is not sent again', async () => {
    const paymentId = await paid(30);
    const everyAttempt = context.config.payments.stripeMaxNetworkRetries + 1; // the SDK retries a 500
    stripe.failNext({ method: 'POST', pathPrefix: '/v1/refunds', status: 500, times: everyAttempt });
    const down = await refund(paymentId, { amount: 12, idempotencyKey: 'refund-unmarked' });
    assert.equal(down.status, 503, JSON.stringify(down.body));
    // Sent before refunds carried their key, 25 hours ago: Stripe no longer replays the key.
    await context.db.query(
      `update case_payment_refunds set findable_by_key = false, created_at = now() - interval '25 hours'
        where case_payment_id = $1`,
      [paymentId],
    );
    const sent = stripe.count('POST', '/v1/refunds');

    const retried = await refund(paymentId, { amount: 12, idempotencyKey: 'refund-unmarked' });
    assert.equal(retried.status, 409, JSON.stringify(retried.body));
    assert.match(String(retried.body.message), /more than a day ago.*not sent again/);
    assert.equal(stripe.count('POST', '/v1/refunds'), sent, 'nothing sent to Stripe');
    assert.deepEqual(
      (await refundRows(paymentId)).map((row) => row.status),
      ['pending'],
    );

    // The same refund 22 hours old is still within Stripe's replay: its retry sends it.
    await context.db.query(
      `update case_payment_refunds set created_at = now() - interval '22 hours' where case_payment_id = $1`,
      [paymentId],
    );
    const resumed = await refund(paymentId, { amount: 12, idempotencyKey: 'refund-unmarked' });
    assert.equal(resumed.status, 200, JSON.stringify(resumed.body));
    assert.equal(result(resumed.body).amountRefunded, 12);
    assert.equal(await refundEvents(paymentId), 1);
  });

  it('an operator settles the refunds Stripe no longer replays: one made, one never made', async () => {
    const paymentId = await paid(30);
    const everyAttempt = context.config.payments.stripeMaxNetworkRetries + 1; // the SDK retries a 500
    for (const [amount, idempotencyKey] of [
      [12, 'operator-made'],
      [8, 'operator-never-made'],
    ] as const) {
      stripe.failNext({ method: 'POST', pathPrefix: '/v1/refunds', status: 500, times: everyAttempt });
      const down = await refund(paymentId, { amount, idempotencyKey });
      assert.equal(down.status, 503, JSON.stringify(down.body));
    }
    await context.db.query(
      `update case_payment_refunds set findable_by_key = false, created_at = now() - interval '25 hours'
        where case_payment_id = $1`,
      [paymentId],
    );
    const ids = (
      await context.db.query<{ id: string }>(
        'select id from case_payment_refunds where case_payment_id = $1 order by amount_cents desc',
        [paymentId],
      )
    ).rows.map((row) => row.id);
    const [made, neverMade] = ids as [string, string];
    const listed = async () =>
      (await context.services.refunds.leftToOperator()).map((row) => row.id).filter((id) => ids.includes(id));
    assert.deepEqual((await listed()).sort(), [...ids].sort(), 'both are listed for the operator');
    const tenant = Tenant.forOperator(organizationId, 'the test is the operator');
    const sent = stripe.count('POST', '/v1/refunds');

    const settled = await context.services.refunds.settleByOperator(tenant, made, {
      made: true,
      gatewayReference: 're_seen_in_dashboard',
    });
    assert.equal(settled.status, 'succeeded');
    assert.equal(settled.gateway_reference, 're_seen_in_dashboard');
    const failed = await context.services.refunds.settleByOperator(tenant, neverMade, { made: false });
    assert.equal(failed.status, 'failed');
    assert.match(String(failed.failure_message), /never made: an operator found no refund for it at Stripe/);
    assert.equal(stripe.count('POST', '/v1/refunds'), sent, 'nothing sent to Stripe');
    assert.deepEqual(await listed(), [], 'settled, no longer listed');

    // The made one is refunded on the payment with one event; the never-made one's amount is refundable again.
    assert.equal(await refundEvents(paymentId), 1);
    const actor = await context.db.query<{ actor_kind: string }>(
      `select actor_kind from case_events where type = 'case.payment_refunded' and after ->> 'paymentId' = $1`,
      [paymentId],
    );
    assert.equal(actor.rows[0]!.actor_kind, 'operator');
    const retried = await refund(paymentId, { amount: 12, idempotencyKey: 'operator-made' });
    assert.equal(result(retried.body).amountRefunded, 12, 'a retry answers the settled refund');
    const rest = await refund(paymentId, { amount: 18, idempotencyKey: 'operator-rest' });
    assert.equal(rest.status, 200, JSON.stringify(rest.body));
    assert.equal(result(rest.body).amountRefunded, 30);

    // Settled once: again, another organization's refund, or no such refund, changes nothing.
    await assert.rejects(context.services.refunds.settleByOperator(tenant, made, { made: false }), {
      statusCode: 409,
      message: 'The refund is already succeeded: nothing changed',
    });
    const other = Tenant.forOperator((await context.organization()).organizationId, 'another organization');
    for (const [who, id] of [
      [other, neverMade],
      [tenant, 'not-a-refund'],
    ] as const) {
      await assert.rejects(context.services.refunds.settleByOperator(who, id, { made: false }), { statusCode: 404 });
    }
    assert.deepEqual((await refundRows(paymentId)).map((row) => row.status).sort(), [
      'failed',
      'succeeded',
      'succeeded',
    ]);
  });

  it('the sweep settles Stripe refunds left pending: made, never received, or failed at the bank', async () => {
    const paymentId = await paid(60);
    const everyAttempt = context.config.payments.stripeMaxNetworkRetries + 1; // the SDK retries a 500
    const leavePending = async (amount: number, lose: () => void) => {
      lose();
      const response = await refund(paymentId, { amount, idempotencyKey: `stripe-sweep-${paymentId}-${amount}` });
      assert.equal(response.status, 503, JSON.stringify(response.body));
    };
    await leavePending(10, () => stripe.loseNextAnswer({ method: 'POST', pathPrefix: '/v1/refunds' }));
    // Made, its answer lost, then failed at the bank.
    const refundsBefore = new Set(stripe.refunds.keys());
    await leavePending(7, () => stripe.loseNextAnswer({ method: 'POST', pathPrefix: '/v1/refunds' }));
    stripe.failRefund([...stripe.refunds.keys()].find((id) => !refundsBefore.has(id))!);
    await leavePending(5, () =>
      stripe.failNext({ method: 'POST', pathPrefix: '/v1/refunds', status: 500, times: everyAttempt }),
    );
    // Sent before refunds carried their key: the sweep cannot tell whether Stripe made it, and leaves it alone.
    await leavePending(3, () =>
      stripe.failNext({ method: 'POST', pathPrefix: '/v1/refunds', status: 500, times: everyAttempt }),
    );
    await context.db.query(
      'update case_payment_refunds set findable_by_key = false where amount_cents = 300 and case_payment_id = $1',
      [paymentId],
    );
    const rows = async () =>
      (
        await context.db.query<{ id: string; amount_cents: number; status: string; gateway_reference: string | null }>(
          'select id, amount_cents, status, gateway_reference from case_payment_refunds where case_payment_id = $1 order by amount_cents',
          [paymentId],
        )
      ).rows;
    assert.deepEqual(
      (await rows()).map((row) => row.status),
      ['pending', 'pending', 'pending', 'pending'],
    );
    const sweep = context.services.paymentSweep;
    assert.equal((await sweep.runOnce()).refundsSettled, 0, 'younger than the sweep: left for a retry');
    await context.db.query(
      `update case_payment_refunds set created_at = now() - interval '1 hour', claimed_until = null
        where case_payment_id = $1`,
      [paymentId],
    );
    const sent = stripe.count('POST', '/v1/refunds');
    const [first, second] = await Promise.all([sweep.runOnce(), sweep.runOnce()]);
    assert.deepEqual(
      [first!.refundsSettled + second!.refundsSettled, first!.refundsFailed + second!.refundsFailed],
      [1, 2],
    );
    assert.equal(stripe.count('POST', '/v1/refunds'), sent, 'the sweep sends nothing');
    const [three, five, seven, ten] = await rows();
    const made = [...stripe.refunds.values()].filter((made) => made.payment_intent && made.amount === 1000);
    assert.equal(ten!.status, 'succeeded');
    assert.ok(made.some((refund) => refund.id === ten!.gateway_reference));
    assert.equal(five!.status, 'failed');
    assert.equal(seven!.status, 'failed');
    assert.equal(three!.status, 'pending');
    const payment = await context.db.query<{ status: string; amount_refunded_cents: number }>(
      'select status, amount_refunded_cents from case_payments where id = $1',
      [paymentId],
    );
    assert.deepEqual(payment.rows[0], { status: 'REFUND', amount_refunded_cents: 1000 });
    assert.equal(await refundEvents(paymentId), 1);

    // The settled refund's retry answers what was recorded; the failed one's says it was never made.
    const retried = await refund(paymentId, { amount: 10, idempotencyKey: `stripe-sweep-${paymentId}-10` });
    assert.equal(retried.status, 200, JSON.stringify(retried.body));
    assert.equal(result(retried.body).amountRefunded, 10);
    const never = await refund(paymentId, { amount: 5, idempotencyKey: `stripe-sweep-${paymentId}-5` });
    assert.deepEqual(
      [never.status, never.body.message],
      [409, 'Payment cannot be refunded: The refund was never made: Stripe has no refund for it'],
    );
    const failed = await refund(paymentId, { amount: 7, idempotencyKey: `stripe-sweep-${paymentId}-7` });
    assert.deepEqual(
      [failed.status, failed.body.message],
      [409, 'Payment cannot be refunded: The refund failed at Stripe'],
    );
    const again = await sweep.runOnce();
    assert.deepEqual([again.refundsSettled, again.refundsFailed], [0, 0]);
  });

  it('a refund Stripe refuses is recorded failed and changes nothing', async () => {
    const paymentId = await paid(15);
    stripe.failNext({ method: 'POST', pathPrefix: '/v1/refunds', status: 400 });
    const refused = await refund(paymentId, { idempotencyKey: 'refused' });
    assert.equal(refused.status, 409, JSON.stringify(refused.body));
    assert.deepEqual(
      (await refundRows(paymentId)).map((row) => row.status),
      ['failed'],
    );
    assert.equal(await refundEvents(paymentId), 0);
    const next = await refund(paymentId);
    assert.equal(next.status, 200, JSON.stringify(next.body));
    assert.equal(result(next.body).amountRefunded, 15);
  });

  it('concurrent refunds of the whole amount: one refunds, the others are refused', async () => {
    const paymentId = await paid(40);
    const responses = await Promise.all(
      Array.from({ length: 6 }, (_, index) => refund(paymentId, { idempotencyKey: `race-${index}` })),
    );
    const statuses = responses.map((response) => response.status).sort();
    assert.deepEqual(statuses, [200, 409, 409, 409, 409, 409], JSON.stringify(responses.map((r) => r.body)));
    const rows = await refundRows(paymentId);
    assert.deepEqual(
      rows.map((row) => [row.status, row.amount_cents]),
      [['succeeded', 4000]],
    );
    assert.equal(await refundEvents(paymentId), 1);
  });

  it('refunds an NMI sale, in part, with NMI', async () => {
    const created = await nmiPaidCase(context, apiKey, 'tok-refund', 45);
    const response = await refund(created.paymentId, { amount: 12.5 }, created.caseId);
    assert.equal(response.status, 200, JSON.stringify(response.body));
    assert.equal(result(response.body).amountRefunded, 12.5);
    const call = nmi.calls.at(-1)!;
    assert.equal(call.type, 'refund');
    assert.equal(call.amount, '12.50');
    const [row] = await refundRows(created.paymentId);
    assert.equal(row!.status, 'succeeded');
    assert.ok(row!.gateway_reference);
  });

  it('records an NMI refund whose recording lost its database connection, on a new one, once', async () => {
    const created = await nmiPaidCase(context, apiKey, 'tok-refund-lost', 30);
    // The backend is terminated at the statement that settles the refund record (as pg_terminate_backend does
    // under the crash suite): that transaction rolls back after NMI has refunded.
    let lost = 0;
    const losing: Database = {
      ...context.db,
      transaction: (work) =>
        context.db.transaction((tx) =>
          work({
            query: (text: string, values?: unknown[]) => {
              if (lost === 0 && text.includes("set status = 'succeeded'")) {
                lost += 1;
                throw Object.assign(new Error('terminating connection due to administrator command'), {
                  code: '57P01',
                });
              }
              return tx.query(text, values);
            },
          } as Queryable),
        ),
    };
    const refunds = new RefundService(losing, context.services.gatewayDirectory, context.config.payments);
    const nmiRefunds = () => nmi.calls.filter((call) => call.type === 'refund').length;
    const refundsBefore = nmiRefunds();
    const refunded = await refunds.refund(
      Tenant.forOperator(organizationId, 'a test'),
      created.caseId,
      created.paymentId,
      { amountCents: 1000, idempotencyKey: null },
      { kind: 'api_key', id: null },
    );
    assert.equal(lost, 1);
    assert.equal(nmiRefunds() - refundsBefore, 1);
    assert.deepEqual([refunded.status, refunded.amount_refunded_cents], ['REFUND', 1000]);
    assert.deepEqual(
      (await refundRows(created.paymentId)).map((row) => [row.status, row.amount_cents]),
      [['succeeded', 1000]],
    );
    assert.equal(await refundEvents(created.paymentId), 1);
  });

  /** An NMI sale of `amount` dollars, and a first attempt at refunding $10 of it that answered 503. */
  const nmiRefundLeftPending = async (token: string, lose: 'answer' | 'request') => {
    const created = await nmiPaidCase(context, apiKey, token, 40);
    const body = { amount: 10, idempotencyKey: `nmi-refund-${token}` };
    if (lose === 'answer') nmi.loseNextAnswer();
    else nmi.failNext(1, 'refund');
    const first = await refund(created.paymentId, body, created.caseId);
    assert.equal(first.status, 503, JSON.stringify(first.body));
    assert.deepEqual(
      (await refundRows(created.paymentId)).map((row) => row.status),
      ['pending'],
    );
    const orderId = `care360:case-payment-refund:${(await refundIds(created.paymentId))[0]}:refund`;
    return { ...created, body, orderId };
  };
  const refundIds = async (paymentId: string) =>
    (
      await context.db.query<{ id: string }>('select id from case_payment_refunds where case_payment_id = $1', [
        paymentId,
      ])
    ).rows.map((row) => row.id);
  /** The first attempt's claim has lapsed: it can no longer reach NMI. */
  const lapse = (paymentId: string) =>
    context.db.query(
      "update case_payment_refunds set claimed_until = now() - interval '1 second' where case_payment_id = $1",
      [paymentId],
    );
  const nmiRefundsFor = (orderId: string) => [...nmi.refunds.values()].filter((made) => made.orderId === orderId);

  it('resumes an NMI refund whose answer was lost from what NMI made, without refunding again', async () => {
    const { caseId, paymentId, body, orderId } = await nmiRefundLeftPending('tok-refund-resume', 'answer');
    assert.equal(nmiRefundsFor(orderId).length, 1, 'NMI made the refund');

    // While the first attempt may still reach NMI, its retry waits.
    const early = await refund(paymentId, body, caseId);
    assert.equal(early.status, 409, JSON.stringify(early.body));
    assert.match(String(early.body.message), /being processed; retry shortly/);

    await lapse(paymentId);
    const callsBefore = nmi.count('refund');
    const resumed = await refund(paymentId, body, caseId);
    assert.equal(resumed.status, 200, JSON.stringify(resumed.body));
    assert.equal(result(resumed.body).amountRefunded, 10);
    assert.equal(nmi.count('refund'), callsBefore, 'not sent again');
    assert.equal(nmi.queries.at(-1)!.order_id, orderId, 'asked the Query API by the refund’s orderid');
    assert.deepEqual(
      (await refundRows(paymentId)).map((row) => [row.status, row.amount_cents, row.gateway_reference]),
      [['succeeded', 1000, nmiRefundsFor(orderId)[0]!.id]],
    );
    assert.equal(await refundEvents(paymentId), 1);

    // A later retry answers the payment as it is.
    const again = await refund(paymentId, body, caseId);
    assert.equal(again.status, 200, JSON.stringify(again.body));
    assert.equal(result(again.body).amountRefunded, 10);
    assert.equal(nmiRefundsFor(orderId).length, 1);
    assert.equal(await refundEvents(paymentId), 1);
  });

  it('sends an NMI refund again when NMI never received the first attempt', async () => {
    const { caseId, paymentId, body, orderId } = await nmiRefundLeftPending('tok-refund-resend', 'request');
    assert.equal(nmiRefundsFor(orderId).length, 0, 'NMI made nothing');
    await lapse(paymentId);
    const resumed = await refund(paymentId, body, caseId);
    assert.equal(resumed.status, 200, JSON.stringify(resumed.body));
    assert.equal(result(resumed.body).amountRefunded, 10);
    assert.equal(nmiRefundsFor(orderId).length, 1);
    assert.deepEqual(
      (await refundRows(paymentId)).map((row) => [row.status, row.gateway_reference]),
      [['succeeded', nmiRefundsFor(orderId)[0]!.id]],
    );
    assert.equal(await refundEvents(paymentId), 1);
  });

  it('answers a twin of an NMI refund in flight 409, and NMI refunds once', async () => {
    const created = await nmiPaidCase(context, apiKey, 'tok-refund-twin', 40);
    const body = { amount: 15, idempotencyKey: 'nmi-refund-twin' };
    const release = nmi.holdNextAnswer();
    const callsBefore = nmi.count('refund');
    const first = refund(created.paymentId, body, created.caseId);
    await until(() => nmi.count('refund') > callsBefore);
    const twin = await refund(created.paymentId, body, created.caseId);
    assert.equal(twin.status, 409, JSON.stringify(twin.body));
    assert.match(String(twin.body.message), /being processed/);
    release();
    const answered = await first;
    assert.equal(answered.status, 200, JSON.stringify(answered.body));
    assert.equal(nmi.count('refund'), callsBefore + 1);
    assert.equal(result(answered.body).amountRefunded, 15);
  });

  it("records refunds made in Stripe's dashboard from charge.refunded, once, beside the API's own", async () => {
    const deliver = async (delivery: { payload: string; signature: string }) => {
      const response = await context.app.inject({
        method: 'POST',
        url: '/webhooks/stripe',
        headers: { 'content-type': 'application/json', 'stripe-signature': delivery.signature },
        payload: delivery.payload,
      });
      assert.equal(response.statusCode, 200, response.body);
      return response.json().outcome as string;
    };
    const paymentId = await paid(100);
    const row = await context.db.query<{ gateway_reference: string }>(
      'select gateway_reference from case_payments where id = $1',
      [paymentId],
    );
    const charge = stripe.charges.get(
      String(stripe.paymentIntents.get(row.rows[0]!.gateway_reference)!.latest_charge),
    )!;

    // An API refund reported back by Stripe: already recorded.
    assert.equal((await refund(paymentId, { amount: 30 })).status, 200);
    assert.equal(charge.amount_refunded, 3000);
    assert.equal(await deliver(stripe.webhook('charge.refunded', charge)), 'unchanged');
    assert.equal((await refundRows(paymentId)).length, 1);

    // $20 more refunded in the dashboard: a webhook refund row, the payment's total and its event.
    charge.amount_refunded = 5000;
    const dashboard = stripe.webhook('charge.refunded', charge);
    assert.equal(await deliver(dashboard), 'applied');
    const rows = await refundRows(paymentId);
    assert.deepEqual(
      rows.map((refundRow) => [refundRow.status, refundRow.amount_cents]),
      [
        ['succeeded', 3000],
        ['succeeded', 2000],
      ],
    );
    const source = await context.db.query<{ source: string }>(
      'select source from case_payment_refunds where case_payment_id = $1 order by created_at',
      [paymentId],
    );
    assert.deepEqual(
      source.rows.map((refundRow) => refundRow.source),
      ['api', 'webhook'],
    );
    assert.equal(await refundEvents(paymentId), 2);

    // Redelivered, reported again by another event, or an older event arriving late: nothing more.
    assert.equal(await deliver(dashboard), 'duplicate');
    assert.equal(await deliver(stripe.webhook('charge.refunded', charge)), 'unchanged');
    assert.equal(await deliver(stripe.webhook('charge.refunded', { ...charge, amount_refunded: 3000 })), 'unchanged');
    assert.equal((await refundRows(paymentId)).length, 2);
    assert.equal(await refundEvents(paymentId), 2);
    const shown = await context.app.inject({
      url: `/api/v1/cases/${caseId}/payments/${paymentId}`,
      headers: { 'cv-api-key': apiKey },
    });
    assert.equal(shown.json().data.result.amountRefunded, 50);
    assert.equal(shown.json().data.result.status, 'REFUND');
    // What is left to refund through the API counts the dashboard's refund.
    const over = await refund(paymentId, { amount: 50.01 });
    assert.equal(over.status, 400);
  });
});
