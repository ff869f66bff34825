import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { ApprovalChargeJob } from '../../src/modules/payments/approval-charges.ts';
import { PaymentSweepJob } from '../../src/modules/payments/sweep.ts';
import { startFakeNmi, type FakeNmiServer } from '../fakes/nmi-server.ts';
import { bearer, staffMember, type SignedIn } from '../staff/support.ts';
import {
  chargeWithoutCase,
  createCase,
  lapseIntakeCharge,
  nmiPaidCase,
  paymentRow,
  paymentsTestContext,
  post,
  saveMethodForCase,
  type TestContext,
} from './support.ts';

// The NMI sweep (docs/operations.md#the-nmi-sweep): NMI holds left PENDING by a timed-out creation are settled
// from NMI's Query API (query.php on the fake, as NMI documents it), and intake charges whose case was never
// written are refunded, once; on the NMI fake with the server's own client.

const DC = { addressLine1: '1 Main St', city: 'Washington', state: 'DC', country: 'US', postalCode: '20500' };

describe('the NMI sweep', () => {
  let nmi: FakeNmiServer;
  let context: TestContext;
  let apiKey: string;
  let organizationId: string;
  let sweep: PaymentSweepJob;

  /** A case whose patient has an NMI vault card, and a hold on it whose creation answered 503. */
  const pendingHold = async (lose: 'answer' | 'request') => {
    const created = await createCase(context, apiKey, { shippingAddress: DC });
    assert.equal(created.status, 200, JSON.stringify(created.body));
    const vault = `vault-${randomUUID().slice(0, 8)}`;
    nmi.vault.add(vault);
    await saveMethodForCase(context, organizationId, created.caseId, {
      gateway: 'nmi',
      customerId: vault,
      paymentMethodId: null,
    });
    if (lose === 'answer') nmi.loseNextAnswer();
    else nmi.failNext(1, 'auth');
    const hold = await post(context, `/api/v1/cases/${created.caseId}/payments`, apiKey, {
      amount: 30,
      preauthorize: true,
      idempotencyKey: `sweep-${randomUUID()}`,
    });
    assert.equal(hold.status, 503, JSON.stringify(hold.body));
    const { rows } = await context.db.query<{ id: string; hold_status: string }>(
      'select id, hold_status from case_payments where case_id = $1',
      [created.caseId],
    );
    assert.equal(rows[0]!.hold_status, 'PENDING');
    return { caseId: created.caseId, paymentId: rows[0]!.id };
  };
  /** The hold's creation timed out long enough ago for the sweep to take it. */
  const age = (paymentId: string) =>
    context.db.query("update case_payments set created_at = now() - interval '1 hour' where id = $1", [paymentId]);
  const failedEvents = async (paymentId: string) =>
    (
      await context.db.query<{ after: Record<string, unknown> }>(
        `select after from case_events where type = 'case.payment_failed' and after ->> 'paymentId' = $1`,
        [paymentId],
      )
    ).rows;

  before(async () => {
    nmi = await startFakeNmi();
    context = await paymentsTestContext(nmi.environment());
    ({ apiKey, organizationId } = await context.organization());
    sweep = new PaymentSweepJob(
      context.db,
      context.services.gatewayDirectory,
      context.services.payments,
      context.services.refunds,
    );
  });
  after(async () => {
    await context.close();
    await nmi.stop();
  });

  it('records a hold NMI placed as HELD, and a rejection then voids it', async () => {
    const { caseId, paymentId } = await pendingHold('answer');
    const orderId = `care360:case-payment:${paymentId}:hold`;
    assert.equal(nmi.transactionsFor(orderId).length, 1, 'NMI placed the hold');

    // Younger than the sweep's age: left for a retry of the request.
    assert.equal((await sweep.runOnce()).holdsSettled, 0);
    assert.equal((await paymentRow(context, paymentId)).hold_status, 'PENDING');

    await age(paymentId);
    const queriesBefore = nmi.queries.length;
    const report = await sweep.runOnce();
    assert.equal(report.holdsSettled, 1);
    assert.equal(nmi.queries.at(-1)!.order_id, orderId, 'asked the Query API by the hold’s orderid');
    assert.ok(nmi.queries.length > queriesBefore);
    const row = await paymentRow(context, paymentId);
    assert.equal(row.hold_status, 'HELD');
    assert.equal(row.status, 'UNPAID');
    assert.equal(row.gateway_reference, nmi.transactionsFor(orderId)[0]!.id);
    assert.equal(nmi.transactionsFor(orderId).length, 1, 'nothing placed again');

    // A second pass, as another process would run it, changes nothing.
    assert.deepEqual(await sweep.runOnce(), {
      holdsSettled: 0,
      holdsFailed: 0,
      orphansRefunded: 0,
      refundsSettled: 0,
      refundsFailed: 0,
    });

    // Now a hold like any other: a rejection voids it.
    const support: SignedIn = await staffMember(context.app, 'SUPPORT', { organizationIds: [organizationId] });
    const provider: SignedIn = await staffMember(context.app, 'PROVIDER', {
      organizationIds: [organizationId],
      licensedStates: ['DC'],
    });
    for (const [member, action, payload] of [
      [support, 'assign', { assigneeId: provider.staffId }],
      [provider, 'decisions', { isApproved: false }],
    ] as const) {
      const response = await context.app.inject({
        method: 'POST',
        url: `/staff/v1/cases/${caseId}/${action}`,
        headers: bearer(member),
        payload,
      });
      assert.equal(response.statusCode, 200, response.body);
    }
    await new ApprovalChargeJob(context.db, context.services.gatewayDirectory).runOnce();
    assert.equal((await paymentRow(context, paymentId)).hold_status, 'RELEASED');
    assert.equal(nmi.transactions.get(String(row.gateway_reference))?.state, 'voided');
  });

  it('records a hold NMI never placed as FAILED, with its case event; an unanswered query waits', async () => {
    const { paymentId } = await pendingHold('request');
    const orderId = `care360:case-payment:${paymentId}:hold`;
    assert.equal(nmi.transactionsFor(orderId).length, 0);
    await age(paymentId);

    nmi.failNext(1, 'query');
    assert.equal((await sweep.runOnce()).holdsFailed, 0, 'NMI did not answer: unknown');
    assert.equal((await paymentRow(context, paymentId)).hold_status, 'PENDING');

    const report = await sweep.runOnce();
    assert.equal(report.holdsFailed, 1);
    const row = await paymentRow(context, paymentId);
    assert.equal(row.hold_status, 'FAILED');
    assert.equal(row.status, 'ERROR');
    assert.match(String(row.failure_message), /never placed/);
    assert.deepEqual(
      (await failedEvents(paymentId)).map((event) => [event.after.holdStatus, event.after.settledBy]),
      [['FAILED', 'nmi-sweep']],
    );
    assert.equal(nmi.transactionsFor(orderId).length, 0, 'nothing placed by the sweep');
    assert.equal((await sweep.runOnce()).holdsFailed, 0);
    assert.equal((await failedEvents(paymentId)).length, 1);
  });

  it('settles refunds left pending: the one NMI made as succeeded, the one it never made as failed', async () => {
    const created = await nmiPaidCase(context, apiKey, 'tok-sweep-refunds', 50);
    const { paymentId } = created;
    const leavePending = async (amount: number, lose: () => void) => {
      lose();
      const response = await post(context, `/api/v1/cases/${created.caseId}/payments/${paymentId}/refund`, apiKey, {
        amount,
        idempotencyKey: `sweep-refund-${amount}`,
      });
      assert.equal(response.status, 503, JSON.stringify(response.body));
    };
    await leavePending(10, () => nmi.loseNextAnswer()); // made at NMI, its answer lost
    await leavePending(5, () => nmi.failNext(1, 'refund')); // never reached NMI
    const refunds = async () =>
      (
        await context.db.query<{ id: string; amount_cents: number; status: string; gateway_reference: string }>(
          'select id, amount_cents, status, gateway_reference from case_payment_refunds where case_payment_id = $1 order by amount_cents',
          [paymentId],
        )
      ).rows;
    assert.deepEqual(
      (await refunds()).map((refund) => refund.status),
      ['pending', 'pending'],
    );

    // Younger than the sweep's age, and still claimed by their attempts: left for a retry.
    assert.equal((await sweep.runOnce()).refundsSettled, 0);
    await context.db.query(
      `update case_payment_refunds set created_at = now() - interval '1 hour', claimed_until = null
        where case_payment_id = $1`,
      [paymentId],
    );
    const callsBefore = nmi.count('refund');
    const [first, second] = await Promise.all([sweep.runOnce(), sweep.runOnce()]);
    assert.equal(first!.refundsSettled + second!.refundsSettled, 1);
    assert.equal(first!.refundsFailed + second!.refundsFailed, 1);
    assert.equal(nmi.count('refund'), callsBefore, 'the sweep sends nothing');
    const [five, ten] = await refunds();
    const made = [...nmi.refunds.values()].filter((refund) => refund.orderId?.includes(ten!.id));
    assert.deepEqual([ten!.status, ten!.gateway_reference], ['succeeded', made[0]!.id]);
    assert.equal(five!.status, 'failed');
    const payment = await paymentRow(context, paymentId);
    assert.deepEqual([payment.status, payment.amount_refunded_cents], ['REFUND', 1000]);

    // The failed one's amount is refundable again, by a new request.
    const rest = await post(context, `/api/v1/cases/${created.caseId}/payments/${paymentId}/refund`, apiKey, {});
    assert.equal(rest.status, 200, JSON.stringify(rest.body));
    assert.equal((await paymentRow(context, paymentId)).amount_refunded_cents, 5000);
    const again = await sweep.runOnce();
    assert.deepEqual([again.refundsSettled, again.refundsFailed], [0, 0]);
  });

  it('refunds an intake charge whose case was never written, once, as the operator command did', async () => {
    const key = `sweep-orphan-${randomUUID()}`;
    await chargeWithoutCase(context, organizationId, key, 2500);
    assert.equal((await sweep.runOnce()).orphansRefunded, 0, 'a young charge may still be taken by a retry');
    const chargeId = await lapseIntakeCharge(context, key);
    const refundsBefore = nmi.count('refund');
    const [first, second] = await Promise.all([sweep.runOnce(), sweep.runOnce()]);
    assert.equal(first!.orphansRefunded + second!.orphansRefunded, 1);
    assert.equal(nmi.count('refund'), refundsBefore + 1);
    const { rows } = await context.db.query<{ status: string }>('select status from gateway_intents where id = $1', [
      chargeId,
    ]);
    assert.deepEqual(
      rows.map((row) => row.status),
      ['refunded'],
    );
    assert.equal((await sweep.runOnce()).orphansRefunded, 0);
  });

  it("finds an orphan's refund whose answer was lost at NMI on the next pass, and does not refund again", async () => {
    const key = `sweep-orphan-lost-${randomUUID()}`;
    await chargeWithoutCase(context, organizationId, key, 1800);
    const chargeId = await lapseIntakeCharge(context, key);
    const refundsBefore = nmi.refunds.size;
    nmi.loseNextAnswer();
    assert.equal((await sweep.runOnce()).orphansRefunded, 0, 'the refund was made, its answer lost');
    assert.equal(nmi.refunds.size, refundsBefore + 1);

    assert.equal((await sweep.runOnce()).orphansRefunded, 1);
    assert.equal(nmi.refunds.size, refundsBefore + 1, 'one refund at NMI');
    const { rows } = await context.db.query<{ status: string }>('select status from gateway_intents where id = $1', [
      chargeId,
    ]);
    assert.deepEqual(
      rows.map((row) => row.status),
      ['refunded'],
    );
  });
});
