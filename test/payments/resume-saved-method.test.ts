import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { startFakeStripe, type FakeStripeServer } from '../fakes/stripe-server.ts';
import { createCase, paymentsTestContext, post, saveMethodForCase, type TestContext } from './support.ts';

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
    const { apiKey, organizationId } = await context.organization();
    const created = await createCase(context, apiKey);
    assert.equal(created.status, 200, JSON.stringify(created.body));
    await saveMethodForCase(context, organizationId, created.caseId, {
      gateway: 'stripe',
      customerId: 'cus_first',
      paymentMethodId: 'pm_card_visa',
    });
    const url = `/api/v1/cases/${created.caseId}/payments`;
    const body = { amount: 30, preauthorize: true, idempotencyKey: 'resume-concurrent-method' };

    fake.loseNextAnswer({ method: 'POST', pathPrefix: '/v1/payment_intents' });
    const first = await post(context, url, apiKey, body);
    assert.equal(first.status, 503, JSON.stringify(first.body));
    const { rows: pending } = await context.db.query<{ id: string; created_at: Date; saved_method_id: string }>(
      'select id, created_at, saved_method_id from case_payments where idempotency_key = $1',
      ['resume-concurrent-method'],
    );
    const row = pending[0]!;
    assert.ok(row.saved_method_id, 'the row names the method it was placed with');

    // A concurrent intake's NMI method: committed after the hold read the methods, dated before its row.
    const { rows: cases } = await context.db.query<{ patient_id: string }>(
      'select patient_id from cases where id = $1',
      [created.caseId],
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
    const held = [...fake.paymentIntents.values()].filter(
      (intent) => (intent.metadata as Record<string, string>).care360_case_payment_id === row.id,
    );
    assert.equal(held.length, 1, 'one hold at Stripe');
    const { rows } = await context.db.query<{ hold_status: string; gateway: string; gateway_reference: string }>(
      'select hold_status, gateway, gateway_reference from case_payments where id = $1',
      [row.id],
    );
    assert.deepEqual(rows[0], { hold_status: 'HELD', gateway: 'stripe', gateway_reference: held[0]!.id });
  });

  it('does not place a Stripe hold again once its key is older than Stripe replays it', async () => {
    const { apiKey, organizationId } = await context.organization();
    const created = await createCase(context, apiKey);
    assert.equal(created.status, 200, JSON.stringify(created.body));
    await saveMethodForCase(context, organizationId, created.caseId, {
      gateway: 'stripe',
      customerId: 'cus_day_late',
      paymentMethodId: 'pm_card_visa',
    });
    const url = `/api/v1/cases/${created.caseId}/payments`;
    const body = { amount: 25, preauthorize: true, idempotencyKey: 'resume-a-day-late' };
    fake.loseNextAnswer({ method: 'POST', pathPrefix: '/v1/payment_intents' });
    const first = await post(context, url, apiKey, body);
    assert.equal(first.status, 503, JSON.stringify(first.body));
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
});
