import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { Tenant } from '../../src/http/gate.ts';
import { startFakeStripe, type FakeStripeServer } from '../fakes/stripe-server.ts';
import { assertOneStripeHold, paymentsTestContext, post, stripeHoldLeftPending, type TestContext } from './support.ts';

// A retry of a hold left PENDING (its first attempt's answer lost) through POST /api/v1/cases/:caseId/payments.
describe('resuming a pending hold', () => {
  let fake: FakeStripeServer;
  let context: TestContext;

  before(async () => {
    fake = await startFakeStripe();
    context = await paymentsTestContext(fake.environment());
  });
  after(async () => {
    await context.close();
    await fake.stop();
  });

  // Found by `npm run test:crash` once NMI charges were back on: five patients shared by concurrent clients,
  // some saving Stripe cards and some NMI vault entries. A hold read the patient's latest method (Stripe)
  // while a concurrent intake was saving an NMI one; that row's created_at is its transaction's start, so it
  // can be earlier than the hold's row although it was committed later. The retry of the hold (first attempt
  // lost in a crash) took "the latest method as of the row's creation", found the NMI one, answered 409 and
  // left the record PENDING while Stripe held the card. The row now names the method it was placed with.
  it('uses the method the first attempt used, even if another one predates the row: one hold', async () => {
    const { apiKey, organizationId, caseId, url, body } = await stripeHoldLeftPending(context, fake, {
      customerId: 'cus_first',
      amount: 30,
      idempotencyKey: 'resume-concurrent-method',
    });
    const { rows: pending } = await context.db.query<{ id: string; created_at: Date; saved_method_id: string }>(
      'select id, created_at, saved_method_id from case_payments where idempotency_key = $1',
      ['resume-concurrent-method'],
    );
    const row = pending[0]!;
    assert.ok(row.saved_method_id, 'the row names the method it was placed with');

    // A concurrent intake's NMI method: committed after the hold read the methods, dated before its row.
    const { rows: cases } = await context.db.query<{ patient_id: string }>(
      'select patient_id from cases where id = $1',
      [caseId],
    );
    await context.db.query(
      `update patient_payment_methods set created_at = $2::timestamptz - interval '1 second' where id = $1`,
      [row.saved_method_id, row.created_at],
    );
    await context.db.query(
      `insert into patient_payment_methods (id, organization_id, patient_id, gateway, customer_id, created_at)
       values ($1, $2, $3, 'nmi', '1234567890', $4::timestamptz - interval '1 millisecond')`,
      [randomUUID(), organizationId, cases[0]!.patient_id, row.created_at],
    );

    const retry = await post(context, url, apiKey, body);
    assert.equal(retry.status, 200, JSON.stringify(retry.body));
    await assertOneStripeHold(context, fake, row.id);
  });

  it('does not place a Stripe hold again once its key is older than Stripe replays it', async () => {
    const { apiKey, url, body } = await stripeHoldLeftPending(context, fake, {
      customerId: 'cus_day_late',
      amount: 25,
      idempotencyKey: 'resume-a-day-late',
    });
    const { rows } = await context.db.query<{ id: string }>(
      `update case_payments set created_at = now() - interval '25 hours' where idempotency_key = $1 returning id`,
      ['resume-a-day-late'],
    );
    const paymentId = rows[0]!.id;
    fake.forgetIdempotencyKeys(paymentId);
    const sent = fake.count('POST', '/v1/payment_intents');

    const retry = await post(context, url, apiKey, body);
    assert.equal(retry.status, 409, JSON.stringify(retry.body));
    assert.match(JSON.stringify(retry.body), /more than a day ago.*not placed again/);
    assert.equal(fake.count('POST', '/v1/payment_intents'), sent, 'nothing sent to Stripe');
    const { rows: after } = await context.db.query<{ hold_status: string }>(
      'select hold_status from case_payments where id = $1',
      [paymentId],
    );
    assert.equal(after[0]!.hold_status, 'PENDING');
  });

  it('an operator records a Stripe hold never placed, once its key is outlived, with its event', async () => {
    const { organizationId } = await stripeHoldLeftPending(context, fake, {
      customerId: 'cus_never_placed',
      amount: 15,
      idempotencyKey: 'settle-hold-never-placed',
    });
    const { rows } = await context.db.query<{ id: string }>('select id from case_payments where idempotency_key = $1', [
      'settle-hold-never-placed',
    ]);
    const paymentId = rows[0]!.id;
    const tenant = Tenant.forOperator(organizationId, 'the test is the operator');
    const operator = { kind: 'operator' as const, id: null };
    const settle = (who = tenant, id = paymentId) => context.services.payments.settleHoldNeverPlaced(who, id, operator);
    const listed = async () =>
      (await context.services.payments.holdsLeftToOperator()).some((row) => row.id === paymentId);
    // While a retry may still place it, the operator's word is not taken.
    await assert.rejects(settle(), { statusCode: 409, message: /Only a Stripe hold still PENDING a day after/ });
    assert.equal(await listed(), false);

    await context.db.query(`update case_payments set created_at = now() - interval '25 hours' where id = $1`, [
      paymentId,
    ]);
    assert.equal(await listed(), true, 'listed for the operator once a day old');
    const sent = fake.count('POST', '/v1/payment_intents');
    const settled = await settle();
    assert.equal(settled.hold_status, 'FAILED');
    assert.equal(settled.status, 'ERROR');
    assert.match(String(settled.failure_message), /never placed: an operator found no PaymentIntent/);
    assert.equal(fake.count('POST', '/v1/payment_intents'), sent, 'nothing sent to Stripe');
    const events = await context.db.query<{ type: string; actor_kind: string }>(
      `select type, actor_kind from case_events where after ->> 'paymentId' = $1 and type = 'case.payment_failed'`,
      [paymentId],
    );
    assert.deepEqual(events.rows, [{ type: 'case.payment_failed', actor_kind: 'operator' }]);

    assert.equal(await listed(), false);
    // Once; not for another organization or an unknown payment.
    await assert.rejects(settle(), { statusCode: 409 });
    const other = Tenant.forOperator((await context.organization()).organizationId, 'another organization');
    await assert.rejects(settle(other), { statusCode: 404 });
    await assert.rejects(settle(tenant, randomUUID()), { statusCode: 404 });
    await assert.rejects(settle(tenant, 'not-a-payment'), { statusCode: 404 });
  });
});
