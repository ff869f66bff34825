import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { NmiGateway, nmiQueryUrl, parseNmiQueryResponse } from '../../src/modules/payments/gateways/nmi.ts';
import { FAKE_GATEWAY_TIMEOUT_MS } from '../fakes/gateway-timeout.ts';
import { FAKE_NMI_SECURITY_KEY, startFakeNmi, type FakeNmiServer } from '../fakes/nmi-server.ts';
import { createCase, paymentRow, paymentsTestContext, post, type TestContext } from './support.ts';

// NMI has no idempotency key: ours travels as `orderid`. A sale or hold whose first attempt NMI approved
// but whose answer never reached our record (timeout; a crash does the same) must not be sent again: the
// retry asks NMI's Query API for that orderid and records the transaction it finds.

describe('NMI retries after an approved answer was lost: the Query API, not a second charge', () => {
  let nmi: FakeNmiServer;
  let context: TestContext;
  let apiKey: string;

  before(async () => {
    nmi = await startFakeNmi();
    context = await paymentsTestContext(nmi.environment());
    ({ apiKey } = await context.organization());
  });
  after(async () => {
    await context.close();
    await nmi.stop();
  });

  it('an intake sale approved by NMI but not recorded: the retry records that sale, and NMI charged once', async () => {
    const body = {
      nmiChargeNow: true,
      nmiPaymentToken: 'tok-lost-answer',
      paymentAmount: 20,
      idempotencyKey: 'nmi-lost-sale',
    };
    const [salesBefore, queriesBefore] = [nmi.count('sale'), nmi.queries.length];
    nmi.loseNextAnswer();
    const first = await createCase(context, apiKey, body);
    assert.equal(first.status, 503, JSON.stringify(first.body));
    assert.equal(nmi.count('sale'), salesBefore + 1, 'the first attempt reached NMI');
    const orderId = nmi.calls.filter((call) => call.type === 'sale').at(-1)!.orderid!;
    assert.match(orderId, /^care360:intake-charge:[0-9a-f-]{36}:sale$/, 'the orderid names our record');
    const [approved] = nmi.transactionsFor(orderId);
    assert.ok(approved, 'NMI approved and recorded the first attempt');

    const retried = await createCase(context, apiKey, body);
    assert.equal(retried.status, 200, JSON.stringify(retried.body));
    assert.equal(nmi.count('sale'), salesBefore + 1, 'no second sale');
    assert.equal(nmi.queries.length, queriesBefore + 1, 'the retry asked the Query API once');
    assert.equal(nmi.queries.at(-1)!.order_id, orderId);
    assert.equal(nmi.transactionsFor(orderId).length, 1);

    const row = await paymentRow(context, retried.paymentId!);
    assert.equal(row.status, 'PAID');
    assert.equal(row.gateway, 'nmi');
    assert.equal(row.gateway_reference, approved.id, 'the case is paid by the first attempt’s sale');
    const { rows } = await context.db.query<{ gateway_intent_id: string; case_id: string }>(
      `select gateway_intent_id, case_id from gateway_intents where id = $1`,
      [/^care360:intake-charge:([0-9a-f-]{36}):sale$/.exec(orderId)![1]],
    );
    assert.deepEqual(rows[0], { gateway_intent_id: approved.id, case_id: retried.caseId });

    // The card the lost sale saved in NMI's vault is the patient's, for later holds.
    const held = await post(context, `/api/v1/cases/${retried.caseId}/payments`, apiKey, {
      amount: 15,
      preauthorize: true,
    });
    assert.equal(held.status, 200, JSON.stringify(held.body));
    assert.equal(nmi.calls.at(-1)!.type, 'auth');
    assert.equal(nmi.calls.at(-1)!.customer_vault_id, approved.vaultId);
  });

  it('an NMI auth hold approved but not recorded: the retry records that hold (HELD), NMI held once', async () => {
    const created = await createCase(context, apiKey, {
      nmiChargeNow: true,
      nmiPaymentToken: 'tok-for-holds',
      paymentAmount: 10,
      idempotencyKey: 'nmi-hold-case',
    });
    assert.equal(created.status, 200, JSON.stringify(created.body));
    const url = `/api/v1/cases/${created.caseId}/payments`;
    const body = { amount: 30, preauthorize: true, idempotencyKey: 'nmi-lost-hold' };
    const [authsBefore, queriesBefore] = [nmi.count('auth'), nmi.queries.length];
    nmi.loseNextAnswer();
    const first = await post(context, url, apiKey, body);
    assert.equal(first.status, 503, JSON.stringify(first.body));
    assert.equal(nmi.count('auth'), authsBefore + 1);
    const { rows } = await context.db.query<{ id: string; hold_status: string }>(
      'select id, hold_status from case_payments where idempotency_key = $1',
      ['nmi-lost-hold'],
    );
    assert.equal(rows[0]?.hold_status, 'PENDING', 'the timeout leaves a pending record');
    const orderId = `care360:case-payment:${rows[0].id}:hold`;
    assert.equal(nmi.calls.at(-1)!.orderid, orderId, 'the orderid names the payment record');
    const [approved] = nmi.transactionsFor(orderId);
    assert.ok(approved);

    const retried = await post(context, url, apiKey, body);
    assert.equal(retried.status, 200, JSON.stringify(retried.body));
    assert.equal(nmi.count('auth'), authsBefore + 1, 'no second hold');
    assert.equal(nmi.queries.length, queriesBefore + 1);
    assert.equal(nmi.transactionsFor(orderId).length, 1);
    const row = await paymentRow(context, rows[0].id);
    assert.equal(row.hold_status, 'HELD');
    assert.equal(row.gateway_reference, approved.id);

    // The recorded hold is the real one: capturing it captures NMI's transaction.
    const captured = await post(context, `${url}/${rows[0].id}/capture`, apiKey, {});
    assert.equal(captured.status, 200, JSON.stringify(captured.body));
    assert.equal(nmi.calls.at(-1)!.transactionid, approved.id);
    assert.equal(approved.state, 'settled');

    const again = await post(context, url, apiKey, body);
    assert.equal(again.status, 409, 'a settled key is a conflict, not a third look-up');
    assert.equal(nmi.count('auth'), authsBefore + 1);
  });

  it('a retry when NMI has no transaction for the orderid charges once', async () => {
    const body = {
      nmiChargeNow: true,
      nmiPaymentToken: 'tok-never-reached',
      paymentAmount: 12,
      idempotencyKey: 'nmi-not-reached',
    };
    const [salesBefore, queriesBefore] = [nmi.count('sale'), nmi.queries.length];
    nmi.failNext(); // a 503 before NMI processed anything
    const first = await createCase(context, apiKey, body);
    assert.equal(first.status, 503, JSON.stringify(first.body));
    const orderId = nmi.calls.at(-1)!.orderid!;
    assert.equal(nmi.transactionsFor(orderId).length, 0);

    const retried = await createCase(context, apiKey, body);
    assert.equal(retried.status, 200, JSON.stringify(retried.body));
    assert.equal(nmi.queries.length, queriesBefore + 1, 'looked up first');
    assert.equal(nmi.count('sale'), salesBefore + 2, 'the 503 attempt and the retry');
    const sales = nmi.transactionsFor(orderId);
    assert.equal(sales.length, 1, 'one sale at NMI');
    assert.equal((await paymentRow(context, retried.paymentId!)).gateway_reference, sales[0]!.id);
  });

  it('a hold retried when NMI has none holds once; a Query API outage sends nothing and leaves it pending', async () => {
    const created = await createCase(context, apiKey, {
      nmiChargeNow: true,
      nmiPaymentToken: 'tok-for-holds-2',
      paymentAmount: 10,
      idempotencyKey: 'nmi-hold-case-2',
    });
    assert.equal(created.status, 200, JSON.stringify(created.body));
    const url = `/api/v1/cases/${created.caseId}/payments`;
    const body = { amount: 40, preauthorize: true, idempotencyKey: 'nmi-hold-not-reached' };
    const authsBefore = nmi.count('auth');
    nmi.failNext(2); // the hold, then the retry's look-up
    assert.equal((await post(context, url, apiKey, body)).status, 503);
    const unknown = await post(context, url, apiKey, body);
    assert.equal(unknown.status, 503, 'whether NMI holds it is unknown: nothing is sent');
    assert.equal(nmi.count('auth'), authsBefore + 1, 'only the first attempt');
    const { rows } = await context.db.query<{ id: string; hold_status: string }>(
      'select id, hold_status from case_payments where idempotency_key = $1',
      ['nmi-hold-not-reached'],
    );
    assert.equal(rows[0]?.hold_status, 'PENDING');

    const settled = await post(context, url, apiKey, body);
    assert.equal(settled.status, 200, JSON.stringify(settled.body));
    assert.equal(nmi.count('auth'), authsBefore + 2);
    const holds = nmi.transactionsFor(`care360:case-payment:${rows[0].id}:hold`);
    assert.equal(holds.length, 1, 'one hold at NMI');
    assert.equal((await paymentRow(context, rows[0].id)).gateway_reference, holds[0]!.id);
  });
});

describe('NMI capture and void whose answer was lost: the retry records what NMI did, not a 409', () => {
  let nmi: FakeNmiServer;
  let context: TestContext;
  let apiKey: string;

  before(async () => {
    nmi = await startFakeNmi();
    context = await paymentsTestContext(nmi.environment());
    ({ apiKey } = await context.organization());
  });
  after(async () => {
    await context.close();
    await nmi.stop();
  });

  /** A case paid by an NMI token (its card saved in NMI's vault), and an NMI hold of `amount` on it. */
  const nmiHold = async (name: string, amount: number) => {
    const created = await createCase(context, apiKey, {
      nmiChargeNow: true,
      nmiPaymentToken: `tok-${name}`,
      paymentAmount: 10,
      idempotencyKey: `nmi-${name}-case`,
    });
    assert.equal(created.status, 200, JSON.stringify(created.body));
    const url = `/api/v1/cases/${created.caseId}/payments`;
    const held = await post(context, url, apiKey, { amount, preauthorize: true });
    assert.equal(held.status, 200, JSON.stringify(held.body));
    const paymentId = (held.body as { data: { result: { paymentId: string } } }).data.result.paymentId;
    return { url: `${url}/${paymentId}`, paymentId };
  };

  for (const [operation, type] of [
    ['capture', 'capture'],
    ['cancel', 'void'],
  ] as const) {
    it(`${operation}: approved by NMI, its record lost; the retry answers 200 and records it, NMI did it once`, async () => {
      const { url, paymentId } = await nmiHold(`lost-${operation}`, 30);
      const body = operation === 'capture' ? { amount: 12.5 } : {};
      const before = nmi.count(type);
      nmi.loseNextAnswer(); // NMI does it, its answer is lost: 503, record still HELD
      const first = await post(context, `${url}/${operation}`, apiKey, body);
      assert.equal(first.status, 503, JSON.stringify(first.body));
      assert.equal((await paymentRow(context, paymentId)).hold_status, 'HELD');

      const retried = await post(context, `${url}/${operation}`, apiKey, body);
      assert.equal(retried.status, 200, JSON.stringify(retried.body));
      const row = await paymentRow(context, paymentId);
      if (operation === 'capture') {
        assert.equal(row.hold_status, 'CAPTURED');
        assert.equal(row.amount_captured_cents, 1250);
      } else {
        assert.equal(row.hold_status, 'RELEASED');
      }
      assert.equal(nmi.count(type), before + 2, 'the lost call and the refused retry');
      const [transaction] = [...nmi.transactions.values()].filter((item) => item.id === row.gateway_reference);
      assert.equal(transaction?.state, operation === 'capture' ? 'settled' : 'voided');
    });
  }
});

describe('NmiGateway and the Query API', () => {
  let nmi: FakeNmiServer;
  let gateway: NmiGateway;

  before(async () => {
    nmi = await startFakeNmi();
    gateway = new NmiGateway({
      securityKey: FAKE_NMI_SECURITY_KEY,
      apiUrl: nmi.url,
      timeoutMs: Number(FAKE_GATEWAY_TIMEOUT_MS),
    });
  });
  after(() => nmi.stop());

  it('derives query.php from transact.php', () => {
    assert.equal(nmiQueryUrl('https://secure.nmi.com/api/transact.php'), 'https://secure.nmi.com/api/query.php');
    assert.equal(nmiQueryUrl('http://127.0.0.1:9/api/transact.php'), 'http://127.0.0.1:9/api/query.php');
  });

  it('parses transactions strictly: an empty answer, entities, actions; an error or junk throws', () => {
    assert.deepEqual(parseNmiQueryResponse('<?xml version="1.0"?>\n<nm_response></nm_response>'), []);
    assert.deepEqual(parseNmiQueryResponse('<nm_response/>'), []);
    const [transaction] = parseNmiQueryResponse(
      `<nm_response><transaction><transaction_id>42</transaction_id><order_id>a&amp;b</order_id>
       <condition>pending</condition><action><amount>30.00</amount><action_type>auth</action_type>
       <success>1</success><response_code>100</response_code></action></transaction></nm_response>`,
    );
    assert.deepEqual(transaction, {
      transactionId: '42',
      orderId: 'a&b',
      condition: 'pending',
      customerVaultId: '',
      actions: [{ actionType: 'auth', amount: '30.00', success: true, responseCode: '100' }],
    });
    assert.throws(() => parseNmiQueryResponse('<nm_response><error_response>Bad key</error_response></nm_response>'));
    assert.throws(() => parseNmiQueryResponse('<html>502 Bad Gateway</html>'));
  });

  it('authorize with resume answers the approved transaction for the orderid, without a second one', async () => {
    const input = {
      idempotencyKey: 'care360:case-payment:resume-unit:hold',
      amountCents: 2_500,
      currency: 'usd',
      captureLater: false,
      source: { token: 'tok-unit', saveForLater: true },
      description: null,
      metadata: {},
    };
    const sold = await gateway.authorize(input);
    const again = await gateway.authorize({ ...input, resume: true });
    assert.equal(again.id, sold.id);
    assert.equal(again.status, 'succeeded');
    assert.deepEqual(again.saved, sold.saved, 'the vault entry the sale saved');
    assert.equal(nmi.count('sale'), 1);

    const retrieved = await gateway.retrievePayment(sold.id);
    assert.equal(retrieved?.status, 'succeeded');
    assert.equal(retrieved?.amountReceivedCents, 2_500);
    assert.equal(await gateway.retrievePayment('999'), null);

    const fresh = await gateway.authorize({ ...input, idempotencyKey: 'never-sent', resume: true });
    assert.equal(fresh.status, 'succeeded');
    assert.equal(nmi.count('sale'), 2, 'nothing found: charged once');
  });

  it('a void sent again answers the void done; a capture of a voided hold is still refused', async () => {
    const held = await gateway.authorize({
      idempotencyKey: 'care360:case-payment:void-unit:hold',
      amountCents: 1_000,
      currency: 'usd',
      captureLater: true,
      source: { token: 'tok-void-unit', saveForLater: false },
      description: null,
      metadata: {},
    });
    const reference = { idempotencyKey: 'care360:case-payment:void-unit:release', reference: held.id };
    assert.equal((await gateway.cancel(reference)).status, 'canceled');
    assert.equal((await gateway.cancel(reference)).status, 'canceled', 'NMI refused the second void; it was done');
    await assert.rejects(
      gateway.capture({ idempotencyKey: 'care360:case-payment:void-unit:capture', reference: held.id }),
      /not capturable/,
    );
  });
});
