import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { Tenant } from '../../src/http/gate.ts';
import { changePayment, paymentEventOf } from '../../src/modules/payments/payment-events.ts';
import type { CasePaymentRow } from '../../src/modules/payments/repository.ts';
import { DECLINED_PAYMENT_METHOD, startFakeStripe, type FakeStripeServer } from '../fakes/stripe-server.ts';
import { deliverUntil, Receiver } from '../outbound-webhooks/support.ts';
import { ADMIN_TOKEN } from '../support/app.ts';
import { bearer, staffMember, type SignedIn } from '../staff/support.ts';
import { createCase, paymentRow, paymentsTestContext, post, saveMethodForCase, type TestContext } from './support.ts';

describe('paymentEventOf: the event of each change of a payment’s state', () => {
  const state = (status: CasePaymentRow['status'], hold_status: CasePaymentRow['hold_status']) => ({
    status,
    hold_status,
  });
  it('names one event per change of status or of a pending hold to HELD, none otherwise', () => {
    const table: [ReturnType<typeof state>, ReturnType<typeof state>, string | null][] = [
      [state('UNPAID', 'HELD'), state('PAID', 'CAPTURED'), 'case.payment_completed'],
      [state('UNPAID', 'NONE'), state('PAID', 'NONE'), 'case.payment_completed'],
      [state('UNPAID', 'HELD'), state('CANCELED', 'RELEASED'), 'case.payment_released'],
      [state('UNPAID', 'PENDING'), state('CANCELED', 'RELEASED'), 'case.payment_released'],
      [state('UNPAID', 'NONE'), state('CANCELED', 'NONE'), 'case.payment_canceled'],
      [state('UNPAID', 'PENDING'), state('ERROR', 'FAILED'), 'case.payment_failed'],
      [state('PAID', 'CAPTURED'), state('REFUND', 'CAPTURED'), 'case.payment_refunded'],
      [state('PAID', 'CAPTURED'), state('IN_DISPUTE', 'CAPTURED'), 'case.payment_disputed'],
      [state('IN_DISPUTE', 'CAPTURED'), state('LOST_DISPUTE', 'CAPTURED'), 'case.payment_dispute_lost'],
      [state('IN_DISPUTE', 'CAPTURED'), state('PAID', 'CAPTURED'), 'case.payment_dispute_won'],
      [state('UNPAID', 'PENDING'), state('UNPAID', 'HELD'), 'case.payment_held'],
      [state('UNPAID', 'HELD'), state('UNPAID', 'HELD'), null],
      [state('PAID', 'CAPTURED'), state('PAID', 'CAPTURED'), null],
      [state('UNPAID', 'PENDING'), state('UNPAID', 'PENDING'), null],
    ];
    for (const [from, to, expected] of table) {
      assert.equal(paymentEventOf(from, to), expected, `${JSON.stringify(from)} -> ${JSON.stringify(to)}`);
    }
  });
});

/** Each path that changes a payment, through the real routes, the fake Stripe and the delivery worker. */
describe('payment state changes write their case event and webhook, once', () => {
  let fake: FakeStripeServer;
  let context: TestContext;
  let apiKey: string;
  let organizationId: string;
  let caseId: string;
  let member: SignedIn;
  let receiver: Receiver;

  const paymentsUrl = () => `/api/v1/cases/${caseId}/payments`;
  /** The payment's case events, oldest first, with their actor. */
  const events = async (paymentId: string) =>
    (
      await context.db.query<{ type: string; actor_kind: string; actor_id: string | null }>(
        `select type, actor_kind, actor_id from case_events where after ->> 'paymentId' = $1 order by seq`,
        [paymentId],
      )
    ).rows;
  const types = async (paymentId: string) => (await events(paymentId)).map((event) => event.type);
  /** The webhook deliveries queued for the payment, oldest first. */
  const deliveries = async (paymentId: string) =>
    (
      await context.db.query<{ event: string }>(
        `select d.event from webhook_deliveries d join case_events e on e.id = d.event_id
          where d.subject ->> 'paymentId' = $1 order by e.seq`,
        [paymentId],
      )
    ).rows.map((row) => row.event);
  const hold = async (amount: number) => {
    const created = await post(context, paymentsUrl(), apiKey, { amount, preauthorize: true });
    assert.equal(created.status, 200, JSON.stringify(created.body));
    const { paymentId } = (created.body.data as { result: { paymentId: string } }).result;
    return { paymentId, intentId: String((await paymentRow(context, paymentId)).gateway_reference) };
  };
  const act = (paymentId: string, action: string, body?: unknown) =>
    post(context, `${paymentsUrl()}/${paymentId}/${action}`, apiKey, body);
  const staffAct = (paymentId: string, action: string) =>
    context.app.inject({
      method: 'POST',
      url: `/staff/v1/cases/${caseId}/payments/${paymentId}/${action}`,
      headers: bearer(member),
    });
  const stripeEvent = async (delivery: { payload: string; signature: string }) => {
    const response = await context.app.inject({
      method: 'POST',
      url: '/webhooks/stripe',
      headers: { 'content-type': 'application/json', 'stripe-signature': delivery.signature },
      payload: delivery.payload,
    });
    assert.equal(response.statusCode, 200, response.body);
    return response.json().outcome as string;
  };

  before(async () => {
    fake = await startFakeStripe();
    context = await paymentsTestContext(fake.environment({ WEBHOOK_ALLOW_PRIVATE_NETWORKS: 'true' }));
    ({ apiKey, organizationId } = await context.organization());
    caseId = (await createCase(context, apiKey)).caseId;
    await saveMethodForCase(context, organizationId, caseId, {
      gateway: 'stripe',
      customerId: 'cus_events',
      paymentMethodId: 'pm_card_visa',
    });
    member = await staffMember(context.app, 'SUPPORT', { organizationIds: [organizationId] });
    receiver = await new Receiver().start();
    const endpoint = await context.app.inject({
      method: 'POST',
      url: `/admin/v1/organizations/${organizationId}/webhooks`,
      headers: { authorization: `Bearer ${ADMIN_TOKEN}` },
      payload: { url: receiver.url(), events: ['PAYMENT_ADDED', 'PAYMENT_COMPLETED'] },
    });
    assert.equal(endpoint.statusCode, 201, endpoint.body);
  });
  after(async () => {
    await receiver.close();
    await context.close();
    await fake.stop();
  });

  it('a partner capture: added, held, completed, each once; a repeat and a refused cancel write nothing', async () => {
    const { paymentId } = await hold(25);
    assert.equal((await act(paymentId, 'capture')).status, 200);
    assert.equal((await act(paymentId, 'capture')).status, 200, 'a repeat answers the same');
    assert.equal((await act(paymentId, 'cancel')).status, 409);
    assert.deepEqual(await types(paymentId), ['case.payment_added', 'case.payment_held', 'case.payment_completed']);
    assert.deepEqual((await events(paymentId)).at(-1), {
      type: 'case.payment_completed',
      actor_kind: 'api_key',
      actor_id: (await events(paymentId))[0]!.actor_id,
    });
    // The hold placed is recorded, not sent: PAYMENT_ADDED, then PAYMENT_COMPLETED.
    assert.deepEqual(await deliveries(paymentId), ['PAYMENT_ADDED', 'PAYMENT_COMPLETED']);
  });

  it('a partner cancel: a hold released, a payment without one canceled; repeats and refusals write nothing', async () => {
    const { paymentId } = await hold(26);
    assert.equal((await act(paymentId, 'cancel')).status, 200);
    assert.equal((await act(paymentId, 'cancel')).status, 200);
    assert.equal((await act(paymentId, 'capture')).status, 409);
    assert.deepEqual(await types(paymentId), ['case.payment_added', 'case.payment_held', 'case.payment_released']);
    assert.deepEqual(await deliveries(paymentId), ['PAYMENT_ADDED', 'PAYMENT_COMPLETED']);

    const unpaid = await post(context, paymentsUrl(), apiKey, { amount: 27 });
    const unpaidId = (unpaid.body.data as { result: { paymentId: string } }).result.paymentId;
    assert.equal((await act(unpaidId, 'cancel')).status, 200);
    assert.equal((await act(unpaidId, 'cancel')).status, 200);
    assert.deepEqual(await types(unpaidId), ['case.payment_added', 'case.payment_canceled']);
  });

  it('staff capture, release and refund: one event each, naming the member', async () => {
    const captured = await hold(28);
    assert.equal((await staffAct(captured.paymentId, 'capture')).statusCode, 200);
    assert.equal((await staffAct(captured.paymentId, 'refund')).statusCode, 200);
    const released = await hold(29);
    assert.equal((await staffAct(released.paymentId, 'release')).statusCode, 200);
    assert.equal((await staffAct(released.paymentId, 'release')).statusCode, 200);
    const byMember = async (paymentId: string) =>
      (await events(paymentId)).filter((event) => event.actor_kind === 'staff' && event.actor_id === member.staffId);
    assert.deepEqual(
      (await byMember(captured.paymentId)).map((event) => event.type),
      ['case.payment_completed', 'case.payment_refunded'],
    );
    assert.deepEqual(
      (await byMember(released.paymentId)).map((event) => event.type),
      ['case.payment_released'],
    );
    assert.deepEqual(await types(released.paymentId), [
      'case.payment_added',
      'case.payment_held',
      'case.payment_released',
    ]);
  });

  it('a declined hold writes one payment_failed (PAYMENT_COMPLETED with status ERROR)', async () => {
    const declinedCase = (await createCase(context, apiKey)).caseId;
    await saveMethodForCase(context, organizationId, declinedCase, {
      gateway: 'stripe',
      customerId: 'cus_events',
      paymentMethodId: DECLINED_PAYMENT_METHOD,
    });
    const response = await post(context, `/api/v1/cases/${declinedCase}/payments`, apiKey, {
      amount: 30,
      preauthorize: true,
      idempotencyKey: 'declined-events',
    });
    assert.equal(response.status, 402);
    const { rows } = await context.db.query<{ id: string }>('select id from case_payments where idempotency_key = $1', [
      'declined-events',
    ]);
    assert.deepEqual(await types(rows[0]!.id), ['case.payment_added', 'case.payment_failed']);
    assert.deepEqual(await deliveries(rows[0]!.id), ['PAYMENT_ADDED', 'PAYMENT_COMPLETED']);
  });

  it('a capture and a cancel at once, 5 times: the winner’s one event, the loser writes nothing', async () => {
    for (let round = 0; round < 5; round++) {
      const { paymentId } = await hold(31 + round);
      const [capture, cancel] = await Promise.all([act(paymentId, 'capture'), act(paymentId, 'cancel')]);
      assert.deepEqual([capture.status, cancel.status].sort(), [200, 409], JSON.stringify([capture, cancel]));
      const won = capture.status === 200 ? 'case.payment_completed' : 'case.payment_released';
      assert.deepEqual(await types(paymentId), ['case.payment_added', 'case.payment_held', won]);
    }
  });

  it('Stripe’s webhooks: paid, disputed and lost write one event each; a redelivery and a later capture none', async () => {
    const { paymentId, intentId } = await hold(40);
    const intent = fake.paymentIntents.get(intentId)!;
    intent.status = 'succeeded';
    intent.amount_received = 4000;
    intent.amount_capturable = 0;
    const paid = fake.webhook('payment_intent.succeeded', intent);
    assert.equal(await stripeEvent(paid), 'applied');
    assert.equal(await stripeEvent(paid), 'duplicate');
    assert.equal(await stripeEvent(fake.webhook('payment_intent.succeeded', intent)), 'unchanged');
    assert.equal((await act(paymentId, 'capture')).status, 200, 'the capture finds it captured');
    assert.deepEqual(await types(paymentId), ['case.payment_added', 'case.payment_held', 'case.payment_completed']);
    assert.equal((await events(paymentId)).at(-1)!.actor_kind, 'system');

    const disputed = await hold(41);
    assert.equal((await act(disputed.paymentId, 'capture')).status, 200);
    assert.equal(await stripeEvent(fake.webhook('charge.dispute.created', fake.dispute(disputed.intentId))), 'applied');
    assert.equal(
      await stripeEvent(fake.webhook('charge.dispute.closed', fake.dispute(disputed.intentId, 'lost'))),
      'applied',
    );
    assert.deepEqual(await types(disputed.paymentId), [
      'case.payment_added',
      'case.payment_held',
      'case.payment_completed',
      'case.payment_disputed',
      'case.payment_dispute_lost',
    ]);
  });

  it('a change whose transaction rolls back leaves neither the change, nor its event, nor its delivery', async () => {
    const { paymentId } = await hold(42);
    const tenant = Tenant.forOperator(organizationId, 'a test of the rollback');
    const eventsBefore = await types(paymentId);
    const deliveriesBefore = await deliveries(paymentId);
    await assert.rejects(
      context.db.transaction(async (tx) => {
        const changed = await changePayment(tx, tenant, {
          payment: { id: paymentId, case_id: caseId },
          changes: { status: 'PAID', hold_status: 'CAPTURED', amount_captured_cents: 4200 },
          actor: { kind: 'system', id: null },
        });
        assert.equal(changed?.after.status, 'PAID', 'changed inside the transaction');
        throw new Error('the process dies before the commit');
      }),
      /the process dies before the commit/,
    );
    const row = await paymentRow(context, paymentId);
    assert.deepEqual([row.status, row.hold_status], ['UNPAID', 'HELD']);
    assert.deepEqual(await types(paymentId), eventsBefore);
    assert.deepEqual(await deliveries(paymentId), deliveriesBefore);
  });

  it('the receiver gets PAYMENT_COMPLETED with the payment’s new status: PAID, then REFUND', async () => {
    // A body is rendered when it is first sent: each step is delivered before the next, to see each state.
    const worker = context.services.webhookDelivery;
    const { paymentId } = await hold(43);
    const mine = () =>
      receiver
        .events()
        .filter((body) => (body.payload.payment as { id?: string } | undefined)?.id === paymentId)
        .map((body) => [body.event, (body.payload.payment as { status: string }).status]);
    await deliverUntil(worker, () => mine().length === 1);
    assert.equal((await act(paymentId, 'capture')).status, 200);
    await deliverUntil(worker, () => mine().length === 2);
    assert.equal((await act(paymentId, 'refund', { amount: 10 })).status, 200);
    await deliverUntil(worker, () => mine().length === 3);
    assert.deepEqual(mine(), [
      ['PAYMENT_ADDED', 'UNPAID'],
      ['PAYMENT_COMPLETED', 'PAID'],
      ['PAYMENT_COMPLETED', 'REFUND'],
    ]);
  });
});
