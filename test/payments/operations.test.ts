import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { startFakeNmi, type FakeNmiServer } from '../fakes/nmi-server.ts';
import { ADMIN_TOKEN } from '../support/app.ts';
import {
  chargeWithoutCase,
  createCase,
  lapseIntakeCharge,
  paymentsTestContext,
  post,
  saveMethodForCase,
  type TestContext,
} from './support.ts';

describe('operator views: open holds and orphaned intake charges', () => {
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

  it('lists open holds with their expiry for the admin, and not released ones', async () => {
    const { caseId } = await createCase(context, apiKey);
    await saveMethodForCase(context, organizationId, caseId, {
      gateway: 'simulated',
      customerId: 'cus_sim1',
      paymentMethodId: 'pm_sim1',
    });
    const kept = await post(context, `/api/v1/cases/${caseId}/payments`, apiKey, { amount: 12, preauthorize: true });
    const released = await post(context, `/api/v1/cases/${caseId}/payments`, apiKey, {
      amount: 13,
      preauthorize: true,
    });
    const keptId = (kept.body.data as { result: { paymentId: string } }).result.paymentId;
    const releasedId = (released.body.data as { result: { paymentId: string } }).result.paymentId;
    assert.equal((await post(context, `/api/v1/cases/${caseId}/payments/${releasedId}/cancel`, apiKey)).status, 200);

    const list = async (query: string) => {
      const response = await context.app.inject({
        method: 'GET',
        url: `/admin/v1/payments/holds${query}`,
        headers: { authorization: `Bearer ${ADMIN_TOKEN}` },
      });
      assert.equal(response.statusCode, 200);
      return response.json().holds as { paymentId: string; amount: number; captureBefore: string }[];
    };
    const holds = await list('');
    assert.deepEqual(
      holds.map((hold) => hold.paymentId),
      [keptId],
    );
    assert.equal(holds[0]!.amount, 12);
    assert.ok(new Date(holds[0]!.captureBefore).getTime() > Date.now());
    assert.deepEqual(await list('?withinHours=1'), [], 'a simulated hold lasts 7 days');
    assert.equal((await list('?withinHours=200')).length, 1);
    const unauthorized = await context.app.inject({ method: 'GET', url: '/admin/v1/payments/holds' });
    assert.equal(unauthorized.statusCode, 401);
  });

  it('finds an NMI charge whose intake never committed, and refunds it once', async () => {
    // An intake charged the card, then its process died before the case was written (simulated here by a prepare
    // without record, an hour ago: its claim on the charge has lapsed).
    await chargeWithoutCase(context, organizationId, 'orphan-intake', 2500);
    await lapseIntakeCharge(context, 'orphan-intake');
    const found = await context.services.payments.orphanCharges(15, false);
    assert.equal(found.length, 1);
    assert.equal(found[0]!.amountCents, 2500);
    assert.equal(found[0]!.outcome, 'found');
    const refunded = await context.services.payments.orphanCharges(15, true);
    assert.equal(refunded[0]!.outcome, 'refunded');
    assert.equal(nmi.count('refund'), 1);
    assert.deepEqual(await context.services.payments.orphanCharges(15, true), []);
  });
});
