import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { Tenant } from '../../src/http/gate.ts';
import { ApprovalChargeJob } from '../../src/modules/payments/approval-charges.ts';
import type { FakeNmiServer } from '../fakes/nmi-server.ts';
import { DECLINED_PAYMENT_METHOD, type FakeStripeServer } from '../fakes/stripe-server.ts';
import { bearer, staffMember, type SignedIn } from '../staff/support.ts';
import { ADMIN_TOKEN } from '../support/app.ts';
import { decisionBed, DC, secretId, type DecisionBed } from './decision-bed.ts';
import { createCase, paymentRow, post, saveMethodForCase, type TestContext } from './support.ts';

// Charge on approval (docs/api/payments.md#charge-on-approval): a staff decision that approves a case charges
// its owed payments with the patient's saved method (Stripe SetupIntent card, NMI vault), or captures a hold,
// once, through the job's claimed records, on the Stripe-compatible and NMI fakes with the real clients.

describe('charge on approval', () => {
  let stripe: FakeStripeServer;
  let nmi: FakeNmiServer;
  let context: TestContext;
  let apiKey: string;
  let organizationId: string;
  let support: SignedIn;
  let provider: SignedIn;
  let job: ApprovalChargeJob;
  let bed: DecisionBed;

  const act: DecisionBed['act'] = (...args) => bed.act(...args);
  const decide = (caseId: string, isApproved: boolean) => bed.assignAndDecide(caseId, { isApproved });
  const newCase = async (extra: Record<string, unknown> = {}) => {
    const created = await createCase(context, apiKey, { shippingAddress: DC, ...extra });
    assert.equal(created.status, 200, JSON.stringify(created.body));
    return created;
  };
  /** A new case whose patient saved the Stripe card `paymentMethodId` of the customer `customerId`. */
  const caseWithStripeCard = async (customerId: string, paymentMethodId = 'pm_card_visa') => {
    const created = await newCase();
    await saveMethodForCase(context, organizationId, created.caseId, {
      gateway: 'stripe',
      customerId,
      paymentMethodId,
    });
    return created;
  };
  /** An owed payment recorded through the API (UNPAID, no hold). */
  const owed = async (caseId: string, amount: number, extra: Record<string, unknown> = {}) => {
    const created = await post(context, `/api/v1/cases/${caseId}/payments`, apiKey, { amount, ...extra });
    assert.equal(created.status, 200, JSON.stringify(created.body));
    return (created.body.data as { result: { paymentId: string } }).result.paymentId;
  };
  const events = async (paymentId: string) =>
    (
      await context.db.query<{ type: string; after: Record<string, unknown> }>(
        `select type, after from case_events where after ->> 'paymentId' = $1 and type in ('case.payment_completed', 'case.payment_failed')
          order by seq`,
        [paymentId],
      )
    ).rows;
  const charge = async (paymentId: string) =>
    (
      await context.db.query<{ status: string; attempts: number; last_error: string | null }>(
        'select status, attempts, last_error from payment_approval_charges where case_payment_id = $1',
        [paymentId],
      )
    ).rows;
  const lapse = () => bed.lapse();
  const stripeCharges = (paymentId: string) =>
    stripe.calls.filter(
      (call) => call.idempotencyKey === `care360:case-payment:${paymentId}:approval-charge` && !call.replayed,
    ).length;

  before(async () => {
    bed = await decisionBed();
    ({ stripe, nmi, context, apiKey, organizationId, support, provider, job } = bed);
  });
  after(() => bed.close());

  it('charges the SetupIntent card of the Case Create flow once the case is approved, once', async () => {
    const setup = await post(context, '/api/v1/payments/setup', apiKey);
    const setupIntentId = secretId(setup.body.paymentSecret);
    stripe.confirmSetupIntent(setupIntentId);
    const created = await newCase({ stripeSetupId: setupIntentId, paymentAmount: 600 });
    const paymentId = created.paymentId!;

    await job.runOnce();
    assert.equal(stripeCharges(paymentId), 0, 'nothing is charged before a decision');
    assert.equal((await paymentRow(context, paymentId)).status, 'UNPAID');

    await decide(created.caseId, true);
    assert.equal(await job.runOnce(), 1);
    const row = await paymentRow(context, paymentId);
    assert.equal(row.status, 'PAID');
    assert.equal(row.amount_captured_cents, 60000);
    assert.match(String(row.gateway_reference), /^pi_/);
    assert.equal(stripe.paymentIntents.get(String(row.gateway_reference))?.amount_received, 60000);
    assert.equal(stripeCharges(paymentId), 1);
    assert.deepEqual(
      (await events(paymentId)).map((event) => [event.type, event.after.status, event.after.chargedOn]),
      [['case.payment_completed', 'PAID', 'approval']],
    );
    assert.equal((await charge(paymentId))[0]!.status, 'succeeded');

    // Later passes, and a second job as another process would run it, charge nothing more.
    await lapse();
    assert.equal(await job.runOnce(), 0);
    assert.equal(await new ApprovalChargeJob(context.db, context.services.gatewayDirectory).runOnce(), 0);
    assert.equal(stripeCharges(paymentId), 1);
    assert.equal((await events(paymentId)).length, 1);

    // The partner sees it paid.
    const shown = await context.app.inject({
      url: `/api/v1/cases/${created.caseId}/payments/${paymentId}`,
      headers: { 'cv-api-key': apiKey },
    });
    assert.equal(shown.statusCode, 200, shown.body);
    assert.equal(shown.json().data.result.status, 'PAID');
  });

  it('charges the NMI vault card saved by nmiPaymentToken, with a sale on the vault id', async () => {
    const created = await newCase({ nmiPaymentToken: 'tok-approval-1', paymentAmount: 45 });
    const salesBefore = nmi.count('sale');
    await decide(created.caseId, true);
    await job.runOnce();
    assert.equal(nmi.count('sale'), salesBefore + 1);
    const sale = nmi.calls.at(-1)!;
    assert.equal(sale.type, 'sale');
    assert.ok(sale.customer_vault_id, 'charged through the vault');
    assert.equal(sale.orderid, `care360:case-payment:${created.paymentId}:approval-charge`);
    const row = await paymentRow(context, created.paymentId!);
    assert.equal(row.status, 'PAID');
    assert.equal(row.gateway, 'nmi');
    assert.equal(row.amount_captured_cents, 4500);
    assert.equal((await events(created.paymentId!)).length, 1);
  });

  it('captures a hold placed with preauthorize, as the capture route does', async () => {
    const created = await caseWithStripeCard('cus_approval');
    const paymentId = await owed(created.caseId, 80, { preauthorize: true });
    assert.equal((await paymentRow(context, paymentId)).hold_status, 'HELD');
    await decide(created.caseId, true);
    await job.runOnce();
    const row = await paymentRow(context, paymentId);
    assert.equal(row.hold_status, 'CAPTURED');
    assert.equal(row.status, 'PAID');
    assert.equal(row.amount_captured_cents, 8000);
    assert.equal(row.hold_operation, null);
    assert.equal(stripe.count('POST', `/v1/payment_intents/${row.gateway_reference}/capture`), 1);
    // The capture route answers the same capture, not a second one.
    const again = await post(context, `/api/v1/cases/${created.caseId}/payments/${paymentId}/capture`, apiKey);
    assert.equal(again.status, 200, JSON.stringify(again.body));
    assert.equal(stripe.count('POST', `/v1/payment_intents/${row.gateway_reference}/capture`), 1);
  });

  it('records a declined card as ERROR with its reason and event, and never retries it', async () => {
    const created = await caseWithStripeCard('cus_declined', DECLINED_PAYMENT_METHOD);
    const paymentId = await owed(created.caseId, 25);
    await decide(created.caseId, true);
    await job.runOnce();
    const row = await paymentRow(context, paymentId);
    assert.equal(row.status, 'ERROR');
    assert.match(String(row.failure_message), /declined/i);
    const [recorded] = await charge(paymentId);
    assert.equal(recorded!.status, 'failed');
    assert.deepEqual(
      (await events(paymentId)).map((event) => [event.type, event.after.status]),
      [['case.payment_failed', 'ERROR']],
    );
    await lapse();
    assert.equal(await job.runOnce(), 0);
    assert.equal(stripeCharges(paymentId), 1);
  });

  it('charges nothing for an approval deleted before the job saw it', async () => {
    const created = await caseWithStripeCard('cus_deleted_approval');
    const paymentId = await owed(created.caseId, 40);
    await act(support, created.caseId, 'assign', { assigneeId: provider.staffId });
    const decided = await context.app.inject({
      method: 'POST',
      url: `/staff/v1/cases/${created.caseId}/decisions`,
      headers: bearer(provider),
      payload: { isApproved: true },
    });
    assert.equal(decided.statusCode, 200, decided.body);
    const deleted = await context.app.inject({
      method: 'DELETE',
      url: `/staff/v1/cases/${created.caseId}/decisions/${decided.json().decisionId}`,
      headers: bearer(provider),
    });
    assert.equal(deleted.statusCode, 200, deleted.body);

    await job.runOnce();
    assert.equal((await paymentRow(context, paymentId)).status, 'UNPAID');
    assert.equal(stripeCharges(paymentId), 0);
    assert.deepEqual(await charge(paymentId), []);
  });

  it('charges nothing on a rejection, without a saved method, or when the organization turned it off', async () => {
    const rejected = await caseWithStripeCard('cus_rejected');
    const rejectedPayment = await owed(rejected.caseId, 30);
    await decide(rejected.caseId, false);

    const noMethod = await newCase();
    const noMethodPayment = await owed(noMethod.caseId, 30);
    await decide(noMethod.caseId, true);

    const { organizationId: otherOrganization, apiKey: otherKey } = await context.organization('Explicit capture');
    const settingsUrl = `/admin/v1/organizations/${otherOrganization}/payment-settings`;
    const admin = { authorization: `Bearer ${ADMIN_TOKEN}` };
    const defaults = await context.app.inject({ url: settingsUrl, headers: admin });
    assert.deepEqual(defaults.json(), {
      organizationId: otherOrganization,
      chargeOnApproval: true,
      releaseOnRejection: true,
    });
    const turnedOff = await context.app.inject({
      method: 'PATCH',
      url: settingsUrl,
      headers: admin,
      payload: { chargeOnApproval: false },
    });
    assert.equal(turnedOff.statusCode, 200, turnedOff.body);
    assert.deepEqual(turnedOff.json(), {
      organizationId: otherOrganization,
      chargeOnApproval: false,
      releaseOnRejection: true,
    });
    const refused = await context.app.inject({
      method: 'PATCH',
      url: settingsUrl,
      headers: admin,
      payload: { chargeOnApproval: 'no' },
    });
    assert.equal(refused.statusCode, 400, refused.body);
    const unknown = await context.app.inject({
      url: '/admin/v1/organizations/00000000-0000-4000-8000-000000000000/payment-settings',
      headers: admin,
    });
    assert.equal(unknown.statusCode, 404, unknown.body);
    const [previousKey, previousOrganization] = [apiKey, organizationId];
    [apiKey, organizationId] = [otherKey, otherOrganization];
    const provider2 = await staffMember(context.app, 'PROVIDER', {
      organizationIds: [otherOrganization],
      licensedStates: ['DC'],
    });
    const support2 = await staffMember(context.app, 'SUPPORT', { organizationIds: [otherOrganization] });
    const off = await newCase();
    await saveMethodForCase(context, otherOrganization, off.caseId, {
      gateway: 'stripe',
      customerId: 'cus_off',
      paymentMethodId: 'pm_card_visa',
    });
    const offPayment = await owed(off.caseId, 30);
    [apiKey, organizationId] = [previousKey, previousOrganization];
    await act(support2, off.caseId, 'assign', { assigneeId: provider2.staffId });
    await act(provider2, off.caseId, 'decisions', { isApproved: true });

    await job.runOnce();
    for (const paymentId of [rejectedPayment, noMethodPayment, offPayment]) {
      assert.equal((await paymentRow(context, paymentId)).status, 'UNPAID');
      assert.equal(stripeCharges(paymentId), 0);
      assert.deepEqual(await events(paymentId), []);
    }
    assert.deepEqual(await charge(rejectedPayment), []);
    assert.deepEqual(await charge(offPayment), []);
    assert.equal((await charge(noMethodPayment))[0]!.status, 'skipped');
  });

  it('a Stripe answer that comes after the client gave up is resumed with the same key: one charge, one record', async () => {
    const created = await caseWithStripeCard('cus_slow');
    const paymentId = await owed(created.caseId, 55);
    await decide(created.caseId, true);
    stripe.loseNextAnswer({ method: 'POST', pathPrefix: '/v1/payment_intents' });
    await job.runOnce();
    assert.equal((await paymentRow(context, paymentId)).status, 'UNPAID', 'unknown outcome: nothing recorded');
    assert.equal((await charge(paymentId))[0]!.status, 'pending');
    assert.equal(stripeCharges(paymentId), 1, 'Stripe made the charge');

    // A retry waits for its delay; then two workers race for it.
    assert.equal(await job.runOnce(), 0);
    await lapse();
    const other = new ApprovalChargeJob(context.db, context.services.gatewayDirectory);
    await Promise.all([job.runOnce(), other.runOnce()]);
    const row = await paymentRow(context, paymentId);
    assert.equal(row.status, 'PAID');
    assert.equal(stripeCharges(paymentId), 1, 'the retry replays the key');
    assert.equal(
      [...stripe.paymentIntents.values()].filter(
        (intent) => (intent.metadata as Record<string, string>).care360_case_payment_id === paymentId,
      ).length,
      1,
    );
    assert.equal((await events(paymentId)).length, 1);
    assert.equal((await charge(paymentId))[0]!.attempts, 2);
  });

  it('a Stripe charge whose outcome is unknown for a day is left to an operator, not sent again', async () => {
    const owedAfterLostAnswer = async (customerId: string) => {
      const created = await caseWithStripeCard(customerId);
      const paymentId = await owed(created.caseId, 35);
      await decide(created.caseId, true);
      stripe.loseNextAnswer({ method: 'POST', pathPrefix: '/v1/payment_intents' });
      await job.runOnce();
      assert.equal((await charge(paymentId))[0]!.status, 'pending');
      assert.equal(stripeCharges(paymentId), 1, 'Stripe made the charge');
      return paymentId;
    };
    const sentAgo = (paymentId: string, hours: number) =>
      context.db.query(
        `update payment_approval_charges set first_sent_at = now() - make_interval(hours => $2)
          where case_payment_id = $1`,
        [paymentId, hours],
      );
    const late = await owedAfterLostAnswer('cus_day_late');
    const recent = await owedAfterLostAnswer('cus_hour_late');
    const recorded = await owedAfterLostAnswer('cus_webhook');
    // A day later Stripe has pruned the first and third keys: sent again, each would be a new charge.
    await sentAgo(late, 25);
    await sentAgo(recent, 22);
    await sentAgo(recorded, 25);
    stripe.forgetIdempotencyKeys(late);
    stripe.forgetIdempotencyKeys(recorded);
    // The third one's charge was recorded meanwhile, as Stripe's webhook records it.
    await context.db.query(`update case_payments set status = 'PAID' where id = $1`, [recorded]);
    await lapse();
    await job.runOnce();

    assert.equal(stripeCharges(late), 1, 'not sent again');
    const [row] = await charge(late);
    assert.equal(row!.status, 'failed');
    assert.match(row!.last_error!, /more than a day ago.*not sent again/);
    assert.equal((await paymentRow(context, late)).status, 'UNPAID', 'nothing recorded as taken or declined');
    assert.deepEqual(await events(late), []);
    // Nothing starts it again on its own: the next passes leave it as it is.
    await lapse();
    await job.runOnce();
    assert.equal((await charge(late))[0]!.status, 'failed');
    assert.equal(stripeCharges(late), 1);

    assert.equal(stripeCharges(recorded), 1, 'not sent again');
    assert.equal((await charge(recorded))[0]!.status, 'skipped');

    // 22 hours after its first send the retry is still sent (Stripe replays keys a day).
    assert.equal((await paymentRow(context, recent)).status, 'PAID');
    assert.equal(stripeCharges(recent), 1, 'the retry replays the key');
    assert.equal((await charge(recent))[0]!.status, 'succeeded');
  });

  it('an operator who finds no charge at Stripe has a charge left to them made anew, once', async () => {
    const created = await caseWithStripeCard('cus_charge_again');
    const paymentId = await owed(created.caseId, 45);
    await decide(created.caseId, true);
    // Stripe never receives it (every attempt of the SDK fails), and a day goes by.
    const everyAttempt = context.config.payments.stripeMaxNetworkRetries + 1;
    stripe.failNext({ method: 'POST', pathPrefix: '/v1/payment_intents', status: 500, times: everyAttempt });
    await job.runOnce();
    await context.db.query(
      `update payment_approval_charges set first_sent_at = now() - interval '25 hours' where case_payment_id = $1`,
      [paymentId],
    );
    await lapse();
    await job.runOnce();
    assert.match((await charge(paymentId))[0]!.last_error!, /more than a day ago/);
    const tenant = Tenant.forOperator(organizationId, 'the test is the operator');
    const roundTwo = () =>
      stripe.calls.filter(
        (call) => call.idempotencyKey === `care360:case-payment:${paymentId}:approval-charge-round-2` && !call.replayed,
      ).length;

    const listed = async () =>
      (await job.leftToOperator()).filter((row) => row.case_payment_id === paymentId).map((row) => row.status);
    assert.deepEqual(await listed(), ['failed'], 'listed for the operator');

    // Charged again at the next pass, under a key of its own; a second request of the operator changes nothing.
    assert.equal((await job.chargeAgain(tenant, paymentId)).paymentId, paymentId);
    assert.deepEqual(await listed(), []);
    await assert.rejects(job.chargeAgain(tenant, paymentId), { statusCode: 409 });
    await job.runOnce();
    assert.equal((await paymentRow(context, paymentId)).status, 'PAID');
    assert.equal(roundTwo(), 1);
    assert.deepEqual(
      (await events(paymentId)).map((event) => event.type),
      ['case.payment_completed'],
    );
    assert.equal((await charge(paymentId))[0]!.status, 'succeeded');
    // Only such a charge: not one that succeeded, not another organization's, not an unknown payment.
    const other = Tenant.forOperator((await context.organization()).organizationId, 'another organization');
    for (const [who, id] of [
      [tenant, paymentId],
      [other, paymentId],
      [tenant, 'not-a-payment'],
    ] as const) {
      await assert.rejects(job.chargeAgain(who, id), { statusCode: 409 });
    }
    assert.equal(roundTwo(), 1);
  });

  it('an NMI sale whose answer was lost is found by its orderid, not sold again', async () => {
    const created = await newCase({ nmiPaymentToken: 'tok-approval-slow', paymentAmount: 20 });
    await decide(created.caseId, true);
    const orderId = `care360:case-payment:${created.paymentId}:approval-charge`;
    nmi.loseNextAnswer();
    await job.runOnce();
    assert.equal((await paymentRow(context, created.paymentId!)).status, 'UNPAID');
    assert.equal(nmi.transactionsFor(orderId).length, 1, 'NMI made the sale');
    await lapse();
    await job.runOnce();
    assert.equal(nmi.transactionsFor(orderId).length, 1);
    const row = await paymentRow(context, created.paymentId!);
    assert.equal(row.status, 'PAID');
    assert.equal(row.gateway_reference, nmi.transactionsFor(orderId)[0]!.id);
    assert.equal((await events(created.paymentId!)).length, 1);
  });
});
