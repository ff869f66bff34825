import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { ADMIN_TOKEN, createTestContext, type TestContext } from '../support/app.ts';

describe('GET /api/v1/organization/bundles', () => {
  let context: TestContext;
  let apiKey: string;
  let organizationId: string;
  let otherKey: string;
  let bundleId: string;
  const admin = { authorization: `Bearer ${ADMIN_TOKEN}` };
  const get = (url: string, key: string | null = apiKey) =>
    context.app.inject({ method: 'GET', url, headers: key ? { 'cv-api-key': key } : {} });

  before(async () => {
    context = await createTestContext();
    ({ apiKey, organizationId } = await context.organization());
    ({ apiKey: otherKey } = await context.organization());
    const created = await context.app.inject({
      method: 'POST',
      url: `/admin/v1/organizations/${organizationId}/bundles`,
      headers: admin,
      payload: {
        name: 'Weight Loss Program',
        imageUrl: 'https://example.com/bundle.png',
        description: 'Program description',
        price: 99.99,
        initialDiscount: '10',
      },
    });
    assert.equal(created.statusCode, 201, created.body);
    bundleId = created.json().bundle.id;
    const hidden = await context.app.inject({
      method: 'POST',
      url: `/admin/v1/organizations/${organizationId}/bundles`,
      headers: admin,
      payload: { name: 'Hidden', price: '5', isVisible: false },
    });
    assert.equal(hidden.statusCode, 201);
    const product = await context.app.inject({
      method: 'POST',
      url: `/admin/v1/organizations/${organizationId}/products`,
      headers: admin,
      payload: { name: 'Semaglutide', price: '249.5', productBundleId: bundleId },
    });
    assert.equal(product.statusCode, 201, product.body);
  });
  after(() => context.close());

  it('lists bundles with prices as strings, filtered by isVisible', async () => {
    const response = await get('/api/v1/organization/bundles');
    assert.equal(response.statusCode, 200);
    const body = response.json();
    assert.equal(body.status, 200);
    assert.equal(body.success, true);
    assert.equal(body.message, 'Products return successfully');
    assert.equal(body.data.length, 2);
    assert.deepEqual(body.data[0], {
      id: bundleId,
      name: 'Weight Loss Program',
      imageUrl: 'https://example.com/bundle.png',
      description: 'Program description',
      price: '99.99',
      priceUnit: 'USD',
      initialDiscount: '10.00',
      isSoldOut: false,
      isVisible: true,
    });
    assert.deepEqual(
      (await get('/api/v1/organization/bundles?isVisible=true')).json().data.map((b: { name: string }) => b.name),
      ['Weight Loss Program'],
    );
    assert.deepEqual(
      (await get('/api/v1/organization/bundles?isVisible=false')).json().data.map((b: { name: string }) => b.name),
      ['Hidden'],
    );
    const bad = await get('/api/v1/organization/bundles?isVisible=maybe');
    assert.equal(bad.statusCode, 400);
    assert.equal(bad.json().message, 'Invalid request parameters');
  });

  it('shows one bundle with its products, and 404 for an unknown or foreign bundle', async () => {
    const response = await get(`/api/v1/organization/bundles/${bundleId}?includeIntakeForm=true`);
    assert.equal(response.statusCode, 200);
    const { data } = response.json();
    assert.equal(data.price, '99.99');
    assert.equal(data.products.length, 1);
    assert.equal(data.products[0].name, 'Semaglutide');
    assert.equal(data.products[0].price, '249.50');
    const foreign = await get(`/api/v1/organization/bundles/${bundleId}`, otherKey);
    assert.equal(foreign.statusCode, 404);
    assert.deepEqual(foreign.json(), {
      status: 404,
      success: false,
      message: 'Product bundle not found',
      error: 'Product bundle not found',
    });
    const malformed = await get('/api/v1/organization/bundles/nope');
    assert.equal(malformed.statusCode, 400);
    assert.equal(malformed.json().success, false);
  });

  it('answers a missing or invalid key with 400, as the reference documents for this family', async () => {
    for (const key of [null, 'c360_wrong']) {
      const response = await get('/api/v1/organization/bundles', key);
      assert.equal(response.statusCode, 400);
      assert.deepEqual(response.json(), {
        status: 400,
        success: false,
        message: 'Invalid request parameters',
        error: 'Invalid API key',
      });
    }
  });

  it('lets an operator change a bundle and rejects bad prices', async () => {
    const patched = await context.app.inject({
      method: 'PATCH',
      url: `/admin/v1/organizations/${organizationId}/bundles/${bundleId}`,
      headers: admin,
      payload: { isSoldOut: true, price: '89.00' },
    });
    assert.equal(patched.statusCode, 200);
    assert.equal(patched.json().bundle.price, '89.00');
    assert.equal(patched.json().bundle.isSoldOut, true);
    const bad = await context.app.inject({
      method: 'POST',
      url: `/admin/v1/organizations/${organizationId}/bundles`,
      headers: admin,
      payload: { name: 'Bad', price: '1.234' },
    });
    assert.equal(bad.statusCode, 400);
  });
});
