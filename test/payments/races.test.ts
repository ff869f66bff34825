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
    const body = intakeBody({ nmiChargeNow: true, nmiPaymentToken: token, paymentAmount: 45, idempotencyKey });
    const answers = await servers.race(PARALLEL, () => ({ method: 'POST', url: '/api/v1/dynamic-case', apiKey, body }));
    console.log(`${PARALLEL} same-key NMI intakes: ${JSON.stringify(byStatus(answers))}`);
    assert.deepEqual(byStatus(answers), { 200: 1, 409: PARALLEL - 1 });
    for (const refused of answers.filter((answer) => answer.status === 409)) {
      assert.equal(refused.json.code, 'IDEMPOTENCY_ERROR', refused.text);
    }
    const sales = nmi.calls.filter((call) => call.type === 'sale' && call.payment_token === token);
    assert.equal(sales.length, 1, 'NMI was asked for one sale');
    assert.deepEqual(
      nmi.transactionsFor(sales[0]!.orderid!).map((transaction) => transaction.state),
      ['settled'],
      'the case keeps its sale: no refused intake voided it',
    );
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
      body: intakeBody({ nmiChargeNow: true, nmiPaymentToken: tokens[index], paymentAmount: 90, promoCode: code }),
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

  describe('captures and releases of one hold (defect 4)', () => {
    /** A case whose patient saved a card on each gateway: Stripe (a confirmed SetupIntent) or NMI (its vault). */
    const cases: Record<'stripe' | 'nmi', string> = { stripe: '', nmi: '' };
    before(async () => {
      const setup = await servers.send(0, { method: 'POST', url: '/api/v1/payments/setup', apiKey, body: {} });
      const setupIntentId = secretId(setup.json.paymentSecret);
      stripe.confirmSetupIntent(setupIntentId);
      for (const [gateway, fields] of [
        ['stripe', { stripeSetupId: setupIntentId }],
        ['nmi', { nmiChargeNow: true, nmiPaymentToken: `tok-holds-${randomUUID().slice(0, 8)}`, paymentAmount: 1 }],
      ] as const) {
        const created = await servers.send(1, {
          method: 'POST',
          url: '/api/v1/dynamic-case',
          apiKey,
          body: intakeBody(fields),
        });
        assert.equal(created.status, 200, created.text);
        cases[gateway] = created.json.data.caseId;
      }
    });

    const hold = async (gateway: 'stripe' | 'nmi', dollars: number) => {
      const held = await servers.send(0, {
        method: 'POST',
        url: `/api/v1/cases/${cases[gateway]}/payments`,
        apiKey,
        body: { amount: dollars, preauthorize: true },
      });
      assert.equal(held.status, 200, held.text);
      return `/api/v1/cases/${cases[gateway]}/payments/${held.json.data.result.paymentId as string}`;
    };

    /** The hold as the gateway has it, in our terms, and as our row has it. */
    const states = async (url: string) => {
      const { rows } = await servers.db.query<{
        hold_status: string;
        amount_captured_cents: number;
        gateway: string;
        gateway_reference: string;
      }>('select hold_status, amount_captured_cents, gateway, gateway_reference from case_payments where id = $1', [
        url.split('/').at(-1),
      ]);
      const row = rows[0]!;
      let atGateway: { holdStatus: string; capturedCents: number };
      if (row.gateway === 'stripe') {
        const intent = stripe.paymentIntents.get(row.gateway_reference)!;
        const holdStatus = { requires_capture: 'HELD', succeeded: 'CAPTURED', canceled: 'RELEASED' }[
          String(intent.status) as 'succeeded'
        ];
        atGateway = { holdStatus, capturedCents: Number(intent.amount_received) };
      } else {
        const transaction = nmi.transactions.get(row.gateway_reference)!;
        const holdStatus = { authorized: 'HELD', settled: 'CAPTURED', voided: 'RELEASED' }[transaction.state];
        atGateway = { holdStatus, capturedCents: transaction.capturedCents };
      }
      return { row: { holdStatus: row.hold_status, capturedCents: row.amount_captured_cents }, atGateway };
    };

    for (const gateway of ['stripe', 'nmi'] as const) {
      it(`${gateway}: a capture and a cancel at once, 10 times: one 200, one 409 naming the state; the gateway agrees`, async () => {
        for (let round = 0; round < 10; round += 1) {
          const url = await hold(gateway, 30);
          const [capture, cancel] = await Promise.all([
            servers.send(round % 2, { method: 'POST', url: `${url}/capture`, apiKey, body: {} }),
            servers.send((round + 1) % 2, { method: 'POST', url: `${url}/cancel`, apiKey, body: {} }),
          ]);
          const { row, atGateway } = await states(url);
          assert.deepEqual(row, atGateway, `round ${round}`);
          const [won, lost] = capture.status === 200 ? [capture, cancel] : [cancel, capture];
          assert.deepEqual([won.status, lost.status], [200, 409], `round ${round}: ${capture.text} ${cancel.text}`);
          assert.equal(won.json.data.result.holdStatus, row.holdStatus);
          assert.match(
            lost.json.message,
            /^Payment cannot be (captured|canceled): .* \(holdStatus (HELD|CAPTURED|RELEASED)\)$/,
          );
        }
      });

      it(`${gateway}: partial captures of $10 and $90 at once: one 200, one 409; the gateway agrees`, async () => {
        const url = await hold(gateway, 100);
        const answers = await Promise.all(
          [10, 90].map((amount, index) =>
            servers.send(index, { method: 'POST', url: `${url}/capture`, apiKey, body: { amount } }),
          ),
        );
        assert.deepEqual(answers.map((answer) => answer.status).sort(), [200, 409], answers.map((a) => a.text).join());
        const { row, atGateway } = await states(url);
        assert.deepEqual(row, atGateway);
        const won = answers.find((answer) => answer.status === 200)!;
        assert.equal(won.json.data.result.amountCaptured * 100, row.capturedCents);
      });

      it(`${gateway}: ${PARALLEL} partial captures of $13, $14 or $15 at once: every 200 tells what the row and the gateway hold`, async () => {
        const url = await hold(gateway, 100);
        const answers = await servers.race(PARALLEL, (index) => ({
          method: 'POST',
          url: `${url}/capture`,
          apiKey,
          body: { amount: 13 + (index % 3) },
        }));
        const { row, atGateway } = await states(url);
        assert.deepEqual(row, { holdStatus: 'CAPTURED', capturedCents: atGateway.capturedCents });
        assert.deepEqual(atGateway.holdStatus, 'CAPTURED');
        const told = new Set(
          answers.filter((a) => a.status === 200).map((a) => a.json.data.result.amountCaptured * 100),
        );
        assert.deepEqual([...told], [row.capturedCents], JSON.stringify(byStatus(answers)));
        assert.deepEqual(
          answers.filter((answer) => answer.status !== 200 && answer.status !== 409),
          [],
        );
        console.log(
          `${gateway}: ${PARALLEL} partial captures: ${JSON.stringify(byStatus(answers))}, $${row.capturedCents / 100} captured`,
        );
      });
    }
  });

  it("kept every answer in its route's response schema (no 5xx, no FST_ERR_RESPONSE_SERIALIZATION)", () => {
    assert.deepEqual(servers.brokenAnswers(), []);
  });
});
