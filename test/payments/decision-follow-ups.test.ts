import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { ApprovalChargeJob } from '../../src/modules/payments/approval-charges.ts';
import type { FakeNmiServer } from '../fakes/nmi-server.ts';
import { DECLINED_PAYMENT_METHOD, type FakeStripeServer } from '../fakes/stripe-server.ts';
import { ADMIN_TOKEN } from '../support/app.ts';
import { decisionBed, DC, secretId, type DecisionBed } from './decision-bed.ts';
import { createCase, paymentRow, post, saveMethodForCase, type TestContext } from './support.ts';

// What follows a decision besides charge on approval (docs/api/payments.md#charge-on-approval): a rejection
// releases the case's holds once, and an approval charge the card declined is charged again, once, after
// UPDATE_PAYMENT_INFO replaces the card; on the Stripe-compatible and NMI fakes with the real clients.

describe('a rejection releases holds; a replaced card retries a declined approval charge', () => {
  let stripe: FakeStripeServer;
  let nmi: FakeNmiServer;
  let context: TestContext;
  let apiKey: string;
  let organizationId: string;
  let job: ApprovalChargeJob;
  let bed: DecisionBed;

  const decide: DecisionBed['assignAndDecide'] = (...args) => bed.assignAndDecide(...args);
  const newCase = async (email = `decided-${randomUUID().slice(0, 8)}@example.com`) => {
    const created = await createCase(context, apiKey, { shippingAddress: DC }, email);
    assert.equal(created.status, 200, JSON.stringify(created.body));
    return { ...created, email };
  };
  /** A hold placed through the API with the case's saved method. */
  const held = async (caseId: string, amount: number) => {
    const created = await post(context, `/api/v1/cases/${caseId}/payments`, apiKey, { amount, preauthorize: true });
    assert.equal(created.status, 200, JSON.stringify(created.body));
    const paymentId = (created.body.data as { result: { paymentId: string } }).result.paymentId;
    assert.equal((await paymentRow(context, paymentId)).hold_status, 'HELD');
    return paymentId;
  };
  const events = async (paymentId: string) =>
    (
      await context.db.query<{ type: string; after: Record<string, unknown> }>(
        `select type, after from case_events where after ->> 'paymentId' = $1
            and type in ('case.payment_completed', 'case.payment_failed', 'case.payment_released')
          order by seq`,
        [paymentId],
      )
    ).rows;
  const record = async (paymentId: string) =>
    (
      await context.db.query<{ operation: string; status: string; round: number; attempts: number }>(
        'select operation, status, round, attempts from payment_approval_charges where case_payment_id = $1',
        [paymentId],
      )
    ).rows;
  const lapse = () => bed.lapse();
  const otherJob = () => new ApprovalChargeJob(context.db, context.services.gatewayDirectory);

  before(async () => {
    bed = await decisionBed();
    ({ stripe, nmi, context, apiKey, organizationId, job } = bed);
  });
  after(() => bed.close());

  it('a rejection cancels a Stripe hold once, even with two jobs racing, with its case event', async () => {
    const created = await newCase();
    await saveMethodForCase(context, organizationId, created.caseId, {
      gateway: 'stripe',
      customerId: 'cus_rejected_hold',
      paymentMethodId: 'pm_card_visa',
    });
    const paymentId = await held(created.caseId, 70);
    const reference = String((await paymentRow(context, paymentId)).gateway_reference);
    await job.runOnce();
    assert.equal(stripe.count('POST', `/v1/payment_intents/${reference}/cancel`), 0, 'nothing before a decision');

    await decide(created.caseId, { isApproved: false });
    await Promise.all([job.runOnce(), otherJob().runOnce()]);
    const row = await paymentRow(context, paymentId);
    assert.equal(row.hold_status, 'RELEASED');
    assert.equal(row.status, 'CANCELED');
    assert.equal(row.hold_operation, null);
    assert.equal(stripe.paymentIntents.get(reference)?.status, 'canceled');
    assert.equal(stripe.count('POST', `/v1/payment_intents/${reference}/cancel`), 1);
    assert.deepEqual(
      (await events(paymentId)).map((event) => [event.type, event.after.holdStatus, event.after.releasedOn]),
      [['case.payment_released', 'RELEASED', 'rejection']],
    );
    assert.deepEqual(
      (await record(paymentId)).map((found) => [found.operation, found.status]),
      [['release', 'succeeded']],
    );

    // Later passes release nothing more, and the cancel route answers the same release.
    await lapse();
    assert.equal(await job.runOnce(), 0);
    const again = await post(context, `/api/v1/cases/${created.caseId}/payments/${paymentId}/cancel`, apiKey);
    assert.equal(again.status, 200, JSON.stringify(again.body));
    assert.equal(stripe.count('POST', `/v1/payment_intents/${reference}/cancel`), 1);
    assert.equal((await events(paymentId)).length, 1);
  });

  it('an NMI void whose answer was lost is found voided on the retry: one void, one record', async () => {
    const created = await newCase();
    const vault = `vault-${randomUUID().slice(0, 8)}`;
    nmi.vault.add(vault);
    await saveMethodForCase(context, organizationId, created.caseId, {
      gateway: 'nmi',
      customerId: vault,
      paymentMethodId: null,
    });
    const paymentId = await held(created.caseId, 33);
    const reference = String((await paymentRow(context, paymentId)).gateway_reference);
    await decide(created.caseId, { isApproved: false });
    const voidsBefore = nmi.count('void');
    nmi.loseNextAnswer();
    await job.runOnce();
    assert.equal((await paymentRow(context, paymentId)).hold_status, 'HELD', 'unknown outcome: nothing recorded');
    assert.equal(nmi.transactions.get(reference)?.state, 'voided', 'NMI made the void');
    assert.equal((await record(paymentId))[0]!.status, 'pending');

    await lapse();
    await Promise.all([job.runOnce(), otherJob().runOnce()]);
    const row = await paymentRow(context, paymentId);
    assert.equal(row.hold_status, 'RELEASED');
    assert.equal(row.status, 'CANCELED');
    assert.ok(nmi.count('void') - voidsBefore <= 2, 'a second void at most, which NMI refuses');
    assert.equal((await events(paymentId)).length, 1);
    assert.equal((await record(paymentId))[0]!.status, 'succeeded');
  });

  it('releases nothing on a no-decision, on an approval, or when the organization turned it off', async () => {
    const noDecision = await newCase();
    await saveMethodForCase(context, organizationId, noDecision.caseId, {
      gateway: 'stripe',
      customerId: 'cus_no_decision',
      paymentMethodId: 'pm_card_visa',
    });
    const noDecisionPayment = await held(noDecision.caseId, 40);
    await decide(noDecision.caseId, { isApproved: false, isNoDecision: true });

    const settingsUrl = `/admin/v1/organizations/${organizationId}/payment-settings`;
    const admin = { authorization: `Bearer ${ADMIN_TOKEN}` };
    const turnedOff = await context.app.inject({
      method: 'PATCH',
      url: settingsUrl,
      headers: admin,
      payload: { releaseOnRejection: false },
    });
    assert.equal(turnedOff.statusCode, 200, turnedOff.body);
    assert.deepEqual(turnedOff.json(), { organizationId, chargeOnApproval: true, releaseOnRejection: false });
    const refused = await context.app.inject({
      method: 'PATCH',
      url: settingsUrl,
      headers: admin,
      payload: { releaseOnRejection: 'yes' },
    });
    assert.equal(refused.statusCode, 400, refused.body);
    const off = await newCase();
    await saveMethodForCase(context, organizationId, off.caseId, {
      gateway: 'stripe',
      customerId: 'cus_release_off',
      paymentMethodId: 'pm_card_visa',
    });
    const offPayment = await held(off.caseId, 40);
    await decide(off.caseId, { isApproved: false });
    try {
      await job.runOnce();
    } finally {
      const restored = await context.app.inject({
        method: 'PATCH',
        url: settingsUrl,
        headers: admin,
        payload: { releaseOnRejection: true },
      });
      assert.equal(restored.statusCode, 200, restored.body);
    }
    for (const paymentId of [noDecisionPayment, offPayment]) {
      assert.equal((await paymentRow(context, paymentId)).hold_status, 'HELD');
      assert.deepEqual(await record(paymentId), []);
      assert.deepEqual(await events(paymentId), []);
    }
  });

  it('charges a declined approval charge again once the card is replaced, once', async () => {
    const created = await newCase();
    await saveMethodForCase(context, organizationId, created.caseId, {
      gateway: 'stripe',
      customerId: 'cus_declined_first',
      paymentMethodId: DECLINED_PAYMENT_METHOD,
    });
    const owed = await post(context, `/api/v1/cases/${created.caseId}/payments`, apiKey, { amount: 25 });
    assert.equal(owed.status, 200, JSON.stringify(owed.body));
    const paymentId = (owed.body.data as { result: { paymentId: string } }).result.paymentId;
    await decide(created.caseId, { isApproved: true });
    await job.runOnce();
    assert.equal((await paymentRow(context, paymentId)).status, 'ERROR');
    assert.deepEqual(
      (await record(paymentId)).map((found) => [found.status, found.round]),
      [['failed', 1]],
    );

    // The patient replaces the card, twice in a row (a double-click): one new round.
    const replace = async () => {
      const setup = await post(context, '/api/v1/payments/setup', apiKey);
      const setupIntentId = secretId(setup.body.paymentSecret);
      stripe.confirmSetupIntent(setupIntentId, 'pm_card_mastercard');
      const updated = await post(context, '/api/v1/users', apiKey, {
        action: 'UPDATE_PAYMENT_INFO',
        email: created.email,
        data: { stripeSetupId: setupIntentId, shippingAddress: DC },
      });
      assert.equal(updated.status, 200, JSON.stringify(updated.body));
    };
    await Promise.all([replace(), replace()]);
    assert.deepEqual(
      (await record(paymentId)).map((found) => [found.status, found.round]),
      [['pending', 2]],
    );
    await Promise.all([job.runOnce(), otherJob().runOnce()]);
    const row = await paymentRow(context, paymentId);
    assert.equal(row.status, 'PAID');
    assert.equal(row.amount_captured_cents, 2500);
    assert.equal(row.failure_message, null);
    const roundTwo = `care360:case-payment:${paymentId}:approval-charge-round-2`;
    assert.equal(stripe.calls.filter((call) => call.idempotencyKey === roundTwo && !call.replayed).length, 1);
    assert.equal(stripe.paymentIntents.get(String(row.gateway_reference))?.amount_received, 2500);
    assert.deepEqual(
      (await events(paymentId)).map((event) => [event.type, event.after.status, event.after.round]),
      [
        ['case.payment_failed', 'ERROR', 1],
        ['case.payment_completed', 'PAID', 2],
      ],
    );

    // A paid payment starts no round: a later card change charges nothing.
    await replace();
    await lapse();
    assert.equal(await job.runOnce(), 0);
    assert.deepEqual(
      (await record(paymentId)).map((found) => [found.status, found.round]),
      [['succeeded', 2]],
    );
  });

  it('a card replaced after a declined NMI approval charge is charged through its new vault entry', async () => {
    const created = await newCase();
    await saveMethodForCase(context, organizationId, created.caseId, {
      gateway: 'nmi',
      customerId: 'vault-unknown-declines',
      paymentMethodId: null,
    });
    const owed = await post(context, `/api/v1/cases/${created.caseId}/payments`, apiKey, { amount: 12 });
    assert.equal(owed.status, 200, JSON.stringify(owed.body));
    const paymentId = (owed.body.data as { result: { paymentId: string } }).result.paymentId;
    await decide(created.caseId, { isApproved: true });
    await job.runOnce();
    assert.equal((await paymentRow(context, paymentId)).status, 'ERROR');

    const updated = await post(context, '/api/v1/users', apiKey, {
      action: 'UPDATE_PAYMENT_INFO',
      email: created.email,
      data: { nmiPaymentToken: 'tok-replaced-card', shippingAddress: DC },
    });
    assert.equal(updated.status, 200, JSON.stringify(updated.body));
    await job.runOnce();
    const row = await paymentRow(context, paymentId);
    assert.equal(row.status, 'PAID');
    assert.equal(row.gateway, 'nmi');
    const orderId = `care360:case-payment:${paymentId}:approval-charge-round-2`;
    assert.equal(nmi.transactionsFor(orderId).length, 1);
    assert.equal(row.gateway_reference, nmi.transactionsFor(orderId)[0]!.id);
  });
});
