import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { ADMIN_TOKEN, createTestContext, type TestContext } from '../support/app.ts';
import { Tenant } from '../../src/http/gate.ts';

describe('GET /api/v1/promo-codes', () => {
  let context: TestContext;
  let apiKey: string;
  let organizationId: string;
  let otherKey: string;
  let otherOrganizationId: string;
  let bundleId: string;
  let otherBundleId: string;
  const admin = { authorization: `Bearer ${ADMIN_TOKEN}` };

  const createCode = async (body: Record<string, unknown>) => {
    const response = await context.app.inject({
      method: 'POST',
      url: '/admin/v1/promo-codes',
      headers: admin,
      payload: body,
    });
    assert.equal(response.statusCode, 201, response.body);
    return response.json().promoCode as { id: string };
  };
  const lookup = (query: string, key = apiKey) =>
    context.app.inject({ method: 'GET', url: `/api/v1/promo-codes${query}`, headers: { 'cv-api-key': key } });

  before(async () => {
    context = await createTestContext();
    ({ apiKey, organizationId } = await context.organization());
    ({ apiKey: otherKey, organizationId: otherOrganizationId } = await context.organization());
    bundleId = (
      await context.services.products.createBundle(Tenant.forOperator(organizationId, 'test'), {
        name: 'Weight loss',
        priceCents: 9_999,
      })
    ).id;
    otherBundleId = (
      await context.services.products.createBundle(Tenant.forOperator(otherOrganizationId, 'test'), {
        name: 'Other',
        priceCents: 100,
      })
    ).id;
    await createCode({ organizationId, code: 'SAVE10', percentDiscount: 10 });
    await createCode({ organizationId, code: 'FLAT100', flatDiscount: 100 });
    await createCode({ organizationId: null, code: 'GLOBAL5', flatDiscount: '5.50' });
    await createCode({ organizationId, code: 'BUNDLE15', percentDiscount: 15, productBundleId: bundleId });
    await createCode({ organizationId, code: 'OLD', percentDiscount: 20, expiresAt: '2020-01-01T00:00:00Z' });
    await createCode({ organizationId, code: 'ONCE', percentDiscount: 20, maxRedemptions: 1 });
    await createCode({ organizationId: otherOrganizationId, code: 'THEIRS', percentDiscount: 50 });
  });
  after(() => context.close());

  it('answers a percent code and a flat code, exactly one of them, case-insensitively', async () => {
    const percent = await lookup('?code=save10');
    assert.equal(percent.statusCode, 200);
    assert.deepEqual(percent.json(), { success: true, data: [{ percentDiscount: 10 }] });
    const flat = await lookup('?code=FLAT100');
    assert.deepEqual(flat.json(), { success: true, data: [{ flatDiscount: 100 }] });
  });

  it('accepts global codes for every organization', async () => {
    assert.deepEqual((await lookup('?code=global5')).json(), { success: true, data: [{ flatDiscount: 5.5 }] });
    assert.deepEqual((await lookup('?code=GLOBAL5', otherKey)).json(), {
      success: true,
      data: [{ flatDiscount: 5.5 }],
    });
  });

  it('answers data: [] for an unknown, expired, used-up or foreign code', async () => {
    for (const code of ['NOPE', 'OLD', 'THEIRS']) {
      const response = await lookup(`?code=${code}`);
      assert.equal(response.statusCode, 200);
      assert.deepEqual(response.json(), { success: true, data: [] }, code);
    }
    const once = (await context.services.promoCodes.list(organizationId)).find((row) => row.code === 'ONCE')!;
    assert.deepEqual((await lookup('?code=ONCE')).json().data, [{ percentDiscount: 20 }]);
    assert.equal(await context.services.promoCodes.redeem(context.db, once.id), true);
    assert.equal(await context.services.promoCodes.redeem(context.db, once.id), false);
    assert.deepEqual((await lookup('?code=ONCE')).json(), { success: true, data: [] });
  });

  it('applies a bundle-scoped code only to its bundle, and no code to a foreign bundle', async () => {
    assert.deepEqual((await lookup(`?code=BUNDLE15&product_bundle_id=${bundleId}`)).json().data, [
      { percentDiscount: 15 },
    ]);
    assert.deepEqual((await lookup('?code=BUNDLE15')).json().data, []);
    assert.deepEqual((await lookup(`?code=SAVE10&product_bundle_id=${bundleId}`)).json().data, [
      { percentDiscount: 10 },
    ]);
    assert.deepEqual((await lookup(`?code=SAVE10&product_bundle_id=${otherBundleId}`)).json().data, []);
  });

  it('answers 400 without a code or with a malformed bundle id, and 401 without a key', async () => {
    for (const query of ['', '?code=', '?code=%20%20']) {
      const response = await lookup(query);
      assert.equal(response.statusCode, 400);
      assert.deepEqual(response.json(), { success: false, message: 'Promo code is required' });
    }
    const badBundle = await lookup('?code=SAVE10&product_bundle_id=not-a-uuid');
    assert.equal(badBundle.statusCode, 400);
    assert.deepEqual(badBundle.json(), { success: false, message: 'Invalid product bundle ID' });
    const unauthorized = await context.app.inject({ method: 'GET', url: '/api/v1/promo-codes?code=SAVE10' });
    assert.equal(unauthorized.statusCode, 401);
    assert.deepEqual(unauthorized.json(), { status: 401, error: 'Invalid API key' });
  });

  it('is managed through the admin API: validation, duplicates, listing and disabling', async () => {
    const both = await context.app.inject({
      method: 'POST',
      url: '/admin/v1/promo-codes',
      headers: admin,
      payload: { organizationId, code: 'BOTH', percentDiscount: 10, flatDiscount: 5 },
    });
    assert.equal(both.statusCode, 400);
    const duplicate = await context.app.inject({
      method: 'POST',
      url: '/admin/v1/promo-codes',
      headers: admin,
      payload: { organizationId, code: 'save10', percentDiscount: 5 },
    });
    assert.equal(duplicate.statusCode, 409);
    const tooMuch = await context.app.inject({
      method: 'POST',
      url: '/admin/v1/promo-codes',
      headers: admin,
      payload: { organizationId, code: 'MORE', percentDiscount: 120 },
    });
    assert.equal(tooMuch.statusCode, 400);
    const list = await context.app.inject({
      method: 'GET',
      url: `/admin/v1/promo-codes?organizationId=${organizationId}`,
      headers: admin,
    });
    const codes = list.json().promoCodes.map((code: { code: string }) => code.code);
    assert.ok(codes.includes('SAVE10') && codes.includes('GLOBAL5') && !codes.includes('THEIRS'));
    const save10 = list.json().promoCodes.find((code: { code: string }) => code.code === 'SAVE10');
    const disabled = await context.app.inject({
      method: 'DELETE',
      url: `/admin/v1/promo-codes/${save10.id}`,
      headers: admin,
    });
    assert.equal(disabled.statusCode, 200);
    assert.ok(disabled.json().promoCode.disabledAt);
    assert.deepEqual((await lookup('?code=SAVE10')).json().data, []);
  });
});
