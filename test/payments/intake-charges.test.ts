import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { after, before, describe, it } from 'node:test';
import { buildApp } from '../../src/app.ts';
import { loadConfig } from '../../src/config.ts';
import type { Database, Queryable } from '../../src/db/database.ts';
import { Tenant } from '../../src/http/gate.ts';
import { PaymentRepository, PaymentsAcrossOrganizations } from '../../src/modules/payments/repository.ts';
import { createServices } from '../../src/services.ts';
import { startFakeNmi, type FakeNmiServer } from '../fakes/nmi-server.ts';
import { ADMIN_TOKEN, type TestContext } from '../support/app.ts';
import { freshDatabase } from '../support/database.ts';
import { chargeWithoutCase, createCase, lapseIntakeCharge, paymentRow, paymentsTestContext } from './support.ts';

// An intake with an nmiPaymentToken charges the card before its case exists (issue 16, defects 2, 3 and 6). The
// charge's record (gateway_intents, keyed by the intake's idempotencyKey and token) is worked on by one request
// at a time, refuses a retry with other payment fields, and is undone when its intake fails.

/** The documented 409 of the intake, saying that another request with the key is still at work. */
const IN_PROGRESS = {
  status: 409,
  success: false,
  code: 'IDEMPOTENCY_ERROR',
  description: 'A request with this idempotencyKey is being processed; retry shortly.',
};

const LOOK_UP_CHARGE = 'where organization_id = $1 and request_key = $2';

/**
 * The database, with statements whose text contains `held` waiting while `hold()` is in force, until
 * `release()`: a way to line requests up at one step, on PGlite (one connection) as on PostgreSQL. `arrived`
 * counts the statements sent (held or not) whose text contains a given part.
 */
function withHeldStatements(db: Database, held: string) {
  let gate: Promise<void> | undefined;
  let open = () => {};
  const arrived: string[] = [];
  const counted = async <T>(text: string, run: () => Promise<T>) => {
    arrived.push(text);
    if (gate && text.includes(held)) await gate;
    return run();
  };
  const wrap = (connection: Queryable): Queryable => ({
    query: (text, params) => counted(text, () => connection.query(text, params)),
    exec: (script) => connection.exec(script),
  });
  const wrapped: Database = {
    ...wrap(db),
    engine: db.engine,
    inMemory: db.inMemory,
    transaction: (work) => db.transaction((tx) => work(wrap(tx))),
    close: () => db.close(),
  };
  return {
    db: wrapped,
    hold: () => (gate = new Promise<void>((resolve) => (open = resolve))),
    release: () => {
      gate = undefined;
      open();
    },
    arrived: (part: string) => arrived.filter((text) => text.includes(part)).length,
  };
}

async function contextOn(db: Database, drop: () => Promise<void>, nmi: FakeNmiServer): Promise<TestContext> {
  const config = loadConfig({
    ADMIN_TOKEN,
    LOG_LEVEL: 'silent',
    RATE_LIMIT_PER_KEY: '0',
    RATE_LIMIT_PER_ADDRESS: '0',
    ...nmi.environment(),
  });
  const services = createServices(db, config);
  const app = await buildApp({ config, db, services, logger: false });
  await app.ready();
  return {
    app,
    db,
    services,
    config,
    organization: (name) => services.organizations.createOrganization(name ?? 'Organization'),
    async close() {
      await app.close();
      await drop();
    },
  };
}

const sales = (nmi: FakeNmiServer, token: string) =>
  nmi.calls.filter((call) => call.type === 'sale' && call.payment_token === token).length;

describe('an intake charge is worked on by one request at a time (defect 6)', () => {
  let nmi: FakeNmiServer;
  let context: TestContext;
  let held: ReturnType<typeof withHeldStatements>;
  let apiKey: string;
  let organizationId: string;

  before(async () => {
    nmi = await startFakeNmi();
    const fresh = await freshDatabase();
    held = withHeldStatements(fresh.db, LOOK_UP_CHARGE);
    held.hold();
    context = await contextOn(held.db, fresh.drop, nmi);
    ({ apiKey, organizationId } = await context.organization());
  });
  after(async () => {
    await context.close();
    await nmi.stop();
  });

  it('two same-key intakes that both find no charge: one sale and a 200, the other the documented 409', async () => {
    // Both look the charge up before either records it; the unique request key lets one in. This 409 was
    // answered as a 500 FST_ERR_RESPONSE_SERIALIZATION: its body was not the intake's 409 schema.
    const body = { nmiChargeNow: true, nmiPaymentToken: 'tok-collide', paymentAmount: 45, idempotencyKey: 'collide' };
    const answers = Promise.all([createCase(context, apiKey, body), createCase(context, apiKey, body)]);
    while (held.arrived(LOOK_UP_CHARGE) < 2) await sleep(5);
    held.release();
    const [first, second] = await answers;
    const statuses = [first.status, second.status].sort();
    assert.deepEqual(statuses, [200, 409], JSON.stringify([first.body, second.body]));
    assert.deepEqual((first.status === 409 ? first : second).body, IN_PROGRESS);
    assert.equal(sales(nmi, 'tok-collide'), 1);
  });

  it('a same-key intake while the first one charges: 409 at once, and NMI is not asked anything for it', async () => {
    const body = { nmiChargeNow: true, nmiPaymentToken: 'tok-slow', paymentAmount: 30, idempotencyKey: 'slow' };
    const answerFirstSale = nmi.holdNextAnswer(); // the first intake stays in its sale until released
    const first = createCase(context, apiKey, body);
    while (sales(nmi, 'tok-slow') === 0) await sleep(5);
    const [callsBefore, queriesBefore] = [nmi.calls.length, nmi.queries.length];
    const second = await createCase(context, apiKey, body);
    assert.deepEqual(second.body, IN_PROGRESS);
    assert.deepEqual([nmi.calls.length, nmi.queries.length], [callsBefore, queriesBefore], 'no look-up, no sale');
    answerFirstSale();
    assert.equal((await first).status, 200);
    const third = await createCase(context, apiKey, body);
    assert.equal(third.status, 409);
    assert.equal(
      third.body.description,
      'A record with the provided idempotencyKey already exists for this organization.',
    );
    assert.equal(sales(nmi, 'tok-slow'), 1);
  });

  it('a request cut short holds the charge until its claim lapses; then a retry takes over, with one sale', async () => {
    const body = { nmiChargeNow: true, nmiPaymentToken: 'tok-crashed', paymentAmount: 20, idempotencyKey: 'crashed' };
    // An attempt that charged and then died before writing its case: prepare without record or abandon.
    await chargeWithoutCase(context, organizationId, 'crashed', 2000);
    const refused = await createCase(context, apiKey, body);
    assert.deepEqual(refused.body, IN_PROGRESS, 'the claim still stands');
    await context.db.query(
      "update gateway_intents set claimed_until = now() - interval '1 second' where request_key like 'intake:crashed:%'",
    );
    const retried = await createCase(context, apiKey, body);
    assert.equal(retried.status, 200, JSON.stringify(retried.body));
    assert.equal(sales(nmi, 'tok-crashed'), 1, 'the retry took the charge the dead attempt made');
  });
});

describe('a same-key intake that read the charge before its case was written leaves it to that case', () => {
  let nmi: FakeNmiServer;
  let context: TestContext;
  let held: ReturnType<typeof withHeldStatements>;
  let apiKey: string;
  let organizationId: string;
  /** The claim of a charge record that an earlier request made (a new record is claimed by its insert). */
  const CLAIM = 'update gateway_intents set claimed_until = now() +';

  before(async () => {
    nmi = await startFakeNmi();
    const fresh = await freshDatabase();
    held = withHeldStatements(fresh.db, CLAIM);
    context = await contextOn(held.db, fresh.drop, nmi);
    ({ apiKey, organizationId } = await context.organization());
  });
  after(async () => {
    await context.close();
    await nmi.stop();
  });

  it('its claim comes after that case: the documented 409, and the case keeps its sale (one, not voided)', async () => {
    // On PostgreSQL its claim waits on the row the first intake's transaction attaches, and runs once that
    // commits; here it is held until then. Taking the charge on what it read voided the first case's sale.
    const body = { nmiChargeNow: true, nmiPaymentToken: 'tok-stale', paymentAmount: 45, idempotencyKey: 'stale' };
    const answerSale = nmi.holdNextAnswer();
    const first = createCase(context, apiKey, body);
    while (sales(nmi, 'tok-stale') === 0) await sleep(5);
    held.hold();
    const second = createCase(context, apiKey, body);
    while (held.arrived(CLAIM) === 0) await sleep(5); // it has found the charge, with no case yet
    answerSale();
    const written = await first;
    assert.equal(written.status, 200, JSON.stringify(written.body));
    const callsBefore = nmi.calls.length;
    held.release();
    assert.deepEqual((await second).body, IN_PROGRESS);
    assert.equal(nmi.calls.length, callsBefore, 'NMI is not asked anything for it');
    const sale = nmi.calls.find((call) => call.type === 'sale' && call.payment_token === 'tok-stale')!;
    assert.deepEqual(
      nmi.transactionsFor(sale.orderid!).map((transaction) => transaction.state),
      ['settled'],
    );
    const { rows } = await context.db.query<{ case_id: string; status: string }>(
      `select case_id, status from gateway_intents ${LOOK_UP_CHARGE}`,
      [organizationId, `intake:stale:${createHash('sha256').update('tok-stale').digest('hex').slice(0, 32)}`],
    );
    assert.deepEqual(rows, [{ case_id: written.caseId, status: 'succeeded' }]);
  });

  it('the orphans command does not refund a charge that a retried intake attached after it was listed', async () => {
    await chargeWithoutCase(context, organizationId, 'listed', 1500);
    const recordId = await lapseIntakeCharge(context, 'listed');
    const acrossOrganizations = new PaymentsAcrossOrganizations(context.db);
    assert.deepEqual(
      (await acrossOrganizations.listOrphanCharges(0)).map((orphan) => orphan.id),
      [recordId],
    );
    const retried = await createCase(context, apiKey, {
      nmiChargeNow: true,
      nmiPaymentToken: 'tok-listed',
      paymentAmount: 15,
      idempotencyKey: 'listed',
    });
    assert.equal(retried.status, 200, JSON.stringify(retried.body));
    assert.equal(await acrossOrganizations.claimIntent(recordId, 60_000), null);
    const payments = new PaymentRepository(context.db, Tenant.forOperator(organizationId, 'test'));
    assert.equal(await payments.claimIntent(recordId, 60_000), null, 'nor may a retried intake claim it again');
  });
});

describe('a retry with the same idempotencyKey but other payment fields is refused (defect 2)', () => {
  let nmi: FakeNmiServer;
  let context: TestContext;
  let apiKey: string;
  let organizationId: string;

  before(async () => {
    nmi = await startFakeNmi();
    context = await paymentsTestContext(nmi.environment());
    ({ apiKey, organizationId } = await context.organization());
  });
  after(async () => {
    await context.close();
    await nmi.stop();
  });

  const OTHER_FIELDS = {
    status: 409,
    success: false,
    code: 'IDEMPOTENCY_ERROR',
    description:
      'This idempotencyKey was used with other payment fields; send them unchanged, or use a new idempotencyKey.',
  };

  it('a $50 charge left without a case: a retry for $1,000 is a 409, the same retry takes the $50 charge', async () => {
    // The first attempt charged $50 and died before its case was written; its claim has lapsed.
    await chargeWithoutCase(context, organizationId, 'fifty', 5000);
    await context.db.query("update gateway_intents set claimed_until = null where request_key like 'intake:fifty:%'");

    for (const changed of [{ paymentAmount: 1000 }, { paymentAmount: 50, paymentDescription: 'Other' }]) {
      const retried = await createCase(context, apiKey, {
        nmiChargeNow: true,
        nmiPaymentToken: 'tok-fifty',
        idempotencyKey: 'fifty',
        ...changed,
      });
      assert.deepEqual(retried.body, OTHER_FIELDS, JSON.stringify(changed));
    }
    assert.equal(sales(nmi, 'tok-fifty'), 1);
    const same = await createCase(context, apiKey, {
      nmiChargeNow: true,
      nmiPaymentToken: 'tok-fifty',
      paymentAmount: 50,
      idempotencyKey: 'fifty',
    });
    assert.equal(same.status, 200, JSON.stringify(same.body));
    const row = await paymentRow(context, same.paymentId!);
    assert.deepEqual([row.status, row.amount_cents, row.original_amount_cents], ['PAID', 5000, 5000]);
    assert.equal(sales(nmi, 'tok-fifty'), 1);
  });

  it('a charge whose outcome is unknown: a retry for another amount is a 409, not matched to it at NMI', async () => {
    nmi.loseNextAnswer(); // the outcome is unknown to us
    const body = { nmiChargeNow: true, nmiPaymentToken: 'tok-unknown', paymentAmount: 50, idempotencyKey: 'unknown' };
    assert.equal((await createCase(context, apiKey, body)).status, 503);
    const queries = nmi.queries.length;
    const other = await createCase(context, apiKey, { ...body, paymentAmount: 1000 });
    assert.deepEqual(other.body, OTHER_FIELDS);
    assert.equal(nmi.queries.length, queries, 'NMI was not asked for the first attempt’s orderid');
    const same = await createCase(context, apiKey, body);
    assert.equal(same.status, 200, JSON.stringify(same.body));
    assert.equal((await paymentRow(context, same.paymentId!)).amount_cents, 5000);
    assert.equal(sales(nmi, 'tok-unknown'), 1);
  });
});

describe('a refused intake leaves no money taken (defect 3)', () => {
  let nmi: FakeNmiServer;
  let context: TestContext;
  let held: ReturnType<typeof withHeldStatements>;
  let apiKey: string;
  let organizationId: string;
  /** Intakes whose payment description is 'fault' fail when their payment is written, after the sale. */
  const FAULT = `alter table case_payments add constraint fault_after_sale check (description is distinct from 'fault')`;

  before(async () => {
    nmi = await startFakeNmi();
    const fresh = await freshDatabase();
    held = withHeldStatements(fresh.db, 'insert into case_payments');
    context = await contextOn(held.db, fresh.drop, nmi);
    ({ apiKey, organizationId } = await context.organization());
    await context.db.query(FAULT);
  });
  after(async () => {
    await context.close();
    await nmi.stop();
  });

  const promoCode = async (code: string, maxRedemptions: number) =>
    context.services.promoCodes.create({ organizationId, code, percentDiscount: 50, maxRedemptions });
  const redemptions = async (code: string) =>
    (await context.db.query<{ n: number }>('select redemption_count as n from promo_codes where code = $1', [code]))
      .rows[0]!.n;
  const charge = async (token: string) => {
    const sale = nmi.calls.find((call) => call.type === 'sale' && call.payment_token === token);
    const transaction = [...nmi.transactions.values()].find((candidate) => candidate.orderId === sale?.orderid);
    return { sold: Boolean(sale), state: transaction?.state, refunded: transaction?.refundedCents ?? 0 };
  };

  it('10 intakes race for a one-use code, each with its own card: one 200 and one sale, the rest 400 uncharged', async () => {
    await promoCode('ONCE50', 1);
    const tokens = Array.from({ length: 10 }, (_, index) => `tok-race-${index}`);
    const answers = await Promise.all(
      tokens.map((token) =>
        createCase(context, apiKey, {
          nmiChargeNow: true,
          nmiPaymentToken: token,
          paymentAmount: 90,
          promoCode: 'ONCE50',
        }),
      ),
    );
    assert.deepEqual(answers.map((answer) => answer.status).sort(), [200, ...Array<number>(9).fill(400)]);
    for (const refused of answers.filter((answer) => answer.status === 400)) {
      assert.deepEqual(refused.body, {
        success: false,
        error: "Validation failed: promoCodes: 'ONCE50' is not a valid promo code",
      });
    }
    const sold = tokens.filter((token) =>
      nmi.calls.some((call) => call.type === 'sale' && call.payment_token === token),
    );
    assert.equal(sold.length, 1, 'only the intake that got the code was charged');
    assert.equal(nmi.calls.find((call) => call.payment_token === sold[0])!.amount, '45.00');
    assert.equal(await redemptions('ONCE50'), 1);
  });

  it('a case write that fails after the sale: the sale is voided, the code given back, and a retry charges anew', async () => {
    await promoCode('FAULT50', 1);
    const body = {
      nmiChargeNow: true,
      nmiPaymentToken: 'tok-fault',
      paymentAmount: 40,
      promoCode: 'FAULT50',
      paymentDescription: 'fault',
      idempotencyKey: 'fault-1',
    };
    const failed = await createCase(context, apiKey, body);
    assert.equal(failed.status, 500, JSON.stringify(failed.body));
    assert.deepEqual(await charge('tok-fault'), { sold: true, state: 'voided', refunded: 0 });
    assert.equal(await redemptions('FAULT50'), 0, 'the code is usable again');
    const { rows } = await context.db.query<{ status: string; request_key: string | null; case_id: string | null }>(
      "select status, request_key, case_id from gateway_intents where gateway_intent_id is not null and amount_cents = 2000 and status <> 'succeeded'",
    );
    assert.deepEqual(rows, [{ status: 'voided', request_key: null, case_id: null }]);

    const retried = await createCase(context, apiKey, { ...body, paymentDescription: 'Visit' });
    assert.equal(retried.status, 200, JSON.stringify(retried.body));
    assert.equal(await redemptions('FAULT50'), 1);
    assert.equal(nmi.calls.filter((call) => call.type === 'sale' && call.payment_token === 'tok-fault').length, 2);
  });

  it('a sale NMI has already settled is refunded instead', async () => {
    held.hold(); // the payment is written once NMI has settled the sale
    const failed = createCase(context, apiKey, {
      nmiChargeNow: true,
      nmiPaymentToken: 'tok-settled',
      paymentAmount: 25,
      paymentDescription: 'fault',
    });
    while (!(await charge('tok-settled')).sold) await sleep(5);
    nmi.settleBatch();
    held.release();
    assert.equal((await failed).status, 500);
    assert.deepEqual(await charge('tok-settled'), { sold: true, state: 'settled', refunded: 2500 });
    assert.deepEqual(
      nmi.calls.slice(-2).map((call) => call.type),
      ['void', 'refund'],
    );
  });

  it('a void NMI cannot answer: the charge stays, for the orphans command or a retry to take', async () => {
    const body = {
      nmiChargeNow: true,
      nmiPaymentToken: 'tok-unreachable',
      paymentAmount: 35,
      paymentDescription: 'fault',
      idempotencyKey: 'unreachable',
    };
    nmi.failNext(1, 'void');
    assert.equal((await createCase(context, apiKey, body)).status, 500);
    assert.deepEqual(await charge('tok-unreachable'), { sold: true, state: 'settled', refunded: 0 });
    const orphans = await context.services.payments.orphanCharges(0, false);
    assert.deepEqual(
      orphans.map((orphan) => orphan.amountCents),
      [3500],
    );
    // A retry takes the charge (its claim was let go of): here it fails again, and this time the void goes through.
    assert.equal((await createCase(context, apiKey, body)).status, 500);
    assert.equal(
      nmi.calls.filter((call) => call.type === 'sale' && call.payment_token === 'tok-unreachable').length,
      1,
    );
    assert.deepEqual(await charge('tok-unreachable'), { sold: true, state: 'voided', refunded: 0 });
    assert.deepEqual(await context.services.payments.orphanCharges(0, false), []);
  });
});
