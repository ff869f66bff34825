import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { Tenant } from '../../src/http/gate.ts';
import { IntakePaymentsProcessor } from '../../src/modules/payments/intake-processor.ts';
import { PaymentRepository } from '../../src/modules/payments/repository.ts';
import type { SavedPaymentMethod } from '../../src/modules/payments/gateways/types.ts';
import type { FakeStripeServer } from '../fakes/stripe-server.ts';
import { createTestContext, type TestContext } from '../support/app.ts';

export type { TestContext };

/** The app without request rate limits (these tests send many requests from one address). */
export function paymentsTestContext(environment: Record<string, string> = {}): Promise<TestContext> {
  return createTestContext({ RATE_LIMIT_PER_KEY: '0', RATE_LIMIT_PER_ADDRESS: '0', ...environment });
}

export async function post(
  context: TestContext,
  url: string,
  apiKey: string | null,
  body?: unknown,
): Promise<{ status: number; body: Record<string, unknown> & { data?: unknown } }> {
  const response = await context.app.inject({
    method: 'POST',
    url,
    headers: {
      ...(apiKey ? { 'cv-api-key': apiKey } : {}),
      ...(body === undefined ? {} : { 'content-type': 'application/json' }),
    },
    ...(body === undefined ? {} : { payload: JSON.stringify(body) }),
  });
  return { status: response.statusCode, body: response.json() };
}

/** A case created through POST /api/v1/dynamic-case; `extra` adds payment fields. */
export async function createCase(
  context: TestContext,
  apiKey: string,
  extra: Record<string, unknown> = {},
  email = `patient-${randomUUID().slice(0, 8)}@example.com`,
): Promise<{ status: number; body: Record<string, unknown>; caseId: string; paymentId?: string }> {
  const result = await post(context, '/api/v1/dynamic-case', apiKey, {
    firstName: 'Ada',
    lastName: 'Lovelace',
    email,
    formTitle: 'Payments test form',
    questions: [{ question: 'What is your current weight?', type: 'TEXT', required: true, answer: '150 lbs' }],
    ...extra,
  });
  const data = (result.body.data ?? {}) as { caseId?: string; paymentId?: string };
  return { status: result.status, body: result.body, caseId: data.caseId ?? '', paymentId: data.paymentId };
}

/** A case paid by an NMI sale of `amount` dollars at intake (the NMI fake charges any token without "decline"). */
export async function nmiPaidCase(
  context: TestContext,
  apiKey: string,
  token: string,
  amount: number,
): Promise<{ caseId: string; paymentId: string }> {
  const created = await createCase(context, apiKey, {
    nmiPaymentToken: token,
    nmiChargeNow: true,
    paymentAmount: amount,
  });
  assert.equal(created.status, 200, JSON.stringify(created.body));
  assert.ok(created.paymentId, 'the intake recorded its payment');
  return { caseId: created.caseId, paymentId: created.paymentId };
}

/**
 * An NMI sale of `amountCents` made by an intake (idempotencyKey `key`) whose case was never written: the intake's
 * prepare alone, as if its process died before the case. `lapseIntakeCharge` then dates it.
 */
export async function chargeWithoutCase(
  context: TestContext,
  organizationId: string,
  key: string,
  amountCents: number,
): Promise<void> {
  const processor = new IntakePaymentsProcessor(
    context.db,
    context.services.gatewayDirectory,
    context.services.products,
    context.services.promoCodes,
    context.config.payments,
  );
  const prepared = await processor.prepare({
    tenant: Tenant.forOperator(organizationId, 'test'),
    idempotencyKey: key,
    payment: { amountCents, nmiChargeNow: true, nmiPaymentToken: `tok-${key}`, promoCodes: [] },
    patientEmail: `${key}@example.com`,
  });
  assert.ok(prepared, 'the intake charged the card');
}

/** The charge of the intake with idempotencyKey `key` was made an hour ago, and its intake's claim lapsed then. */
export async function lapseIntakeCharge(context: TestContext, key: string): Promise<string> {
  const { rows } = await context.db.query<{ id: string }>(
    `update gateway_intents set created_at = now() - interval '1 hour', claimed_until = now() - interval '1 hour'
      where request_key like $1 returning id`,
    [`intake:${key}:%`],
  );
  assert.equal(rows.length, 1);
  return rows[0]!.id;
}

/** Gives a case's patient a saved payment method, as an intake with stripeSetupId would. */
export async function saveMethodForCase(
  context: TestContext,
  organizationId: string,
  caseId: string,
  saved: SavedPaymentMethod,
): Promise<void> {
  const repository = new PaymentRepository(context.db, Tenant.forOperator(organizationId, 'a test fixture'));
  const found = await repository.findCase(caseId);
  assert.ok(found, 'case exists');
  await repository.saveMethod({
    id: randomUUID(),
    patientId: found.patient_id,
    saved,
    sourceReference: null,
  });
}

export async function paymentRow(context: TestContext, paymentId: string): Promise<Record<string, unknown>> {
  const { rows } = await context.db.query('select * from case_payments where id = $1', [paymentId]);
  assert.ok(rows[0], 'payment row exists');
  return rows[0];
}

/**
 * A hold of `amount` dollars that Stripe placed and whose answer was lost, so its record is PENDING (503): on a new
 * case of a new organization, whose patient saved the Stripe card of `customerId`. Answers what its retry sends.
 */
export async function stripeHoldLeftPending(
  context: TestContext,
  stripe: FakeStripeServer,
  options: { customerId: string; amount: number; idempotencyKey: string },
): Promise<{ apiKey: string; organizationId: string; caseId: string; url: string; body: Record<string, unknown> }> {
  const { apiKey, organizationId } = await context.organization();
  const created = await createCase(context, apiKey);
  assert.equal(created.status, 200, JSON.stringify(created.body));
  await saveMethodForCase(context, organizationId, created.caseId, {
    gateway: 'stripe',
    customerId: options.customerId,
    paymentMethodId: 'pm_card_visa',
  });
  const url = `/api/v1/cases/${created.caseId}/payments`;
  const body = { amount: options.amount, preauthorize: true, idempotencyKey: options.idempotencyKey };
  stripe.loseNextAnswer({ method: 'POST', pathPrefix: '/v1/payment_intents' });
  const first = await post(context, url, apiKey, body);
  assert.equal(first.status, 503, JSON.stringify(first.body));
  return { apiKey, organizationId, caseId: created.caseId, url, body };
}

/** The payment is HELD, on the one Stripe PaymentIntent that names it. */
export async function assertOneStripeHold(
  context: TestContext,
  stripe: FakeStripeServer,
  paymentId: string,
): Promise<void> {
  const held = [...stripe.paymentIntents.values()].filter(
    (intent) => (intent.metadata as Record<string, string>).care360_case_payment_id === paymentId,
  );
  assert.equal(held.length, 1, 'one hold at Stripe');
  const { rows } = await context.db.query<{ hold_status: string; gateway: string; gateway_reference: string }>(
    'select hold_status, gateway, gateway_reference from case_payments where id = $1',
    [paymentId],
  );
  assert.deepEqual(rows[0], { hold_status: 'HELD', gateway: 'stripe', gateway_reference: held[0]!.id });
}
