import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { OrganizationService } from '../../src/modules/organizations/service.ts';
import { PromoCodeService } from '../../src/modules/promo-codes/service.ts';
import { startFakeNmi, type FakeNmiServer } from '../fakes/nmi-server.ts';
import { startFakeStripe, type FakeStripeServer } from '../fakes/stripe-server.ts';
import { startTwoServers, usesPostgres, type RaceAnswer, type TwoServers } from '../support/two-servers.ts';

/**
 * Payments under races (issue 16, defects 1, 3, 4 and 6), on two servers sharing one database: two server
 * processes on PostgreSQL with TEST_DATABASE_URL, two app instances on one PGlite otherwise
 * (test/support/two-servers.ts). The fake Stripe and NMI servers run in this process. Every answer must keep
 * its route's response schema. RACE_PARALLEL=100 runs heavier.
 */
const PARALLEL = Number(process.env.RACE_PARALLEL ?? (usesPostgres ? 40 : 20));

const secretId = (secret: unknown) => String(secret).split('_secret_')[0]!;

const byStatus = (answers: RaceAnswer[]) =>
  answers.reduce<Record<number, number>>(
    (counts, answer) => ({ ...counts, [answer.status]: (counts[answer.status] ?? 0) + 1 }),
    {},
  );

function intakeBody(extra: Record<string, unknown>): Record<string, unknown> {
  return {
    firstName: 'Race',
    lastName: 'Payer',
    email: `payer-${randomUUID().slice(0, 8)}@example.com`,
    formTitle: 'Payment races',
    questions: [{ question: 'What is your current weight?', type: 'TEXT', required: true, answer: '170 lbs' }],
    ...extra,
  };
}

describe(`payments under races, ${usesPostgres ? 'two server processes on PostgreSQL' : 'two apps on one PGlite'}`, () => {
  let stripe: FakeStripeServer;
  let nmi: FakeNmiServer;
  let servers: TwoServers;
  let apiKey: string;
  let organizationId: string;

  before(async () => {
    stripe = await startFakeStripe();
    nmi = await startFakeNmi();
    servers = await startTwoServers({ ...stripe.environment(), ...nmi.environment() });
    ({ apiKey, organizationId } = await new OrganizationService(servers.db).createOrganization('Payment races'));
  });
  after(async () => {
    await servers.close();
    await stripe.stop();
    await nmi.stop();
  });

  const count = async (sql: string, params: unknown[]) =>
    (await servers.db.query<{ n: number }>(`select count(*)::int as n from (${sql}) x`, params)).rows[0]!.n;

  it(`${PARALLEL} parallel intakes with one PaymentIntent: one case PAID, the others refused, nothing written`, async () => {
    const intent = await servers.send(0, {
      method: 'POST',
      url: '/api/v1/payments/intent',
      apiKey,
      body: { amount: 4500 },
    });
    assert.equal(intent.status, 200, intent.text);
    const paymentIntentId = secretId(intent.json.data.paymentIntentSecret);
    stripe.confirmPaymentIntent(paymentIntentId);
    const casesBefore = await count('select 1 from cases where organization_id = $1', [organizationId]);

    const answers = await servers.race(PARALLEL, () => ({
      method: 'POST',
      url: '/api/v1/dynamic-case',
      apiKey,
      body: intakeBody({ stripePaymentId: paymentIntentId, paymentAmount: 45 }),
    }));
    console.log(`${PARALLEL} intakes with one PaymentIntent: ${JSON.stringify(byStatus(answers))}`);
    assert.deepEqual(byStatus(answers), { 200: 1, 400: PARALLEL - 1 });
    for (const refused of answers.filter((answer) => answer.status === 400)) {
      assert.deepEqual(refused.json, {
        success: false,
        error: 'Validation failed: stripePaymentId: This PaymentIntent is already recorded for another case',
      });
    }
    const paid = answers.find((answer) => answer.status === 200)!;
    const { rows } = await servers.db.query<{ case_id: string; status: string }>(
      'select case_id, status from case_payments where gateway_reference = $1',
      [paymentIntentId],
    );
    assert.deepEqual(rows, [{ case_id: paid.json.data.caseId, status: 'PAID' }]);
    assert.equal(
      await count('select 1 from cases where organization_id = $1', [organizationId]),
      casesBefore + 1,
      'the refused intakes wrote no case',
    );
  });

  it(`${PARALLEL} parallel NMI intakes with one idempotencyKey: one case, one sale, the others the documented 409`, async () => {
    const idempotencyKey = `same-key-${randomUUID()}`;
    const token = `tok-same-${randomUUID().slice(0, 8)}`;
    const body = intakeBody({ nmiPaymentToken: token, paymentAmount: 45, idempotencyKey });
    const answers = await servers.race(PARALLEL, () => ({ method: 'POST', url: '/api/v1/dynamic-case', apiKey, body }));
    console.log(`${PARALLEL} same-key NMI intakes: ${JSON.stringify(byStatus(answers))}`);
    assert.deepEqual(byStatus(answers), { 200: 1, 409: PARALLEL - 1 });
    for (const refused of answers.filter((answer) => answer.status === 409)) {
      assert.equal(refused.json.code, 'IDEMPOTENCY_ERROR', refused.text);
    }
    const sales = nmi.calls.filter((call) => call.type === 'sale' && call.payment_token === token);
    assert.equal(sales.length, 1, 'NMI was asked for one sale');
    assert.equal(
      await count('select 1 from cases where organization_id = $1 and idempotency_key = $2', [
        organizationId,
        idempotencyKey,
      ]),
      1,
    );
  });

  it(`${PARALLEL} parallel intakes with their own cards race for a one-use code: one paid, the others refused uncharged`, async () => {
    const code = `ONCE${randomUUID().slice(0, 6).toUpperCase()}`;
    await new PromoCodeService(servers.db).create({ organizationId, code, percentDiscount: 50, maxRedemptions: 1 });
    const tokens = Array.from({ length: PARALLEL }, (_, index) => `tok-${code}-${index}`);
    const answers = await servers.race(PARALLEL, (index) => ({
      method: 'POST',
      url: '/api/v1/dynamic-case',
      apiKey,
      body: intakeBody({ nmiPaymentToken: tokens[index], paymentAmount: 90, promoCode: code }),
    }));
    console.log(`${PARALLEL} intakes racing for a one-use code: ${JSON.stringify(byStatus(answers))}`);
    assert.deepEqual(byStatus(answers), { 200: 1, 400: PARALLEL - 1 });
    const charged = nmi.calls.filter((call) => call.type === 'sale' && tokens.includes(call.payment_token!));
    assert.deepEqual(
      charged.map((call) => call.amount),
      ['45.00'],
      'one card charged, with the discount',
    );
    const { rows } = await servers.db.query<{ redemption_count: number }>(
      'select redemption_count from promo_codes where code = $1',
      [code],
    );
    assert.deepEqual(rows, [{ redemption_count: 1 }]);
  });

  it("kept every answer in its route's response schema (no 5xx, no FST_ERR_RESPONSE_SERIALIZATION)", () => {
    assert.deepEqual(servers.brokenAnswers(), []);
  });
});
