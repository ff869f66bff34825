import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { randomUUID } from 'node:crypto';
import { ADMIN_TOKEN, createTestContext, type TestContext } from '../support/app.ts';
import { contextWithRouteTable, type RouteTableContext } from '../security/support.ts';

// Browsers and fetch clients often send `Content-Type: application/json` with no body at all.
describe('an empty body sent as application/json', () => {
  let context: TestContext;
  let apiKey: string;
  let organizationId: string;
  before(async () => {
    context = await createTestContext();
    ({ apiKey, organizationId } = await context.organization());
  });
  after(() => context.close());

  const emptyJsonPost = (url: string, headers: Record<string, string>) =>
    context.app.inject({ method: 'POST', url, headers: { 'content-type': 'application/json', ...headers }, body: '' });

  it('is no body on POST /api/v1/payments/setup, whose body is optional: 200 with a SetupIntent secret', async () => {
    const response = await emptyJsonPost('/api/v1/payments/setup', { 'cv-api-key': apiKey });
    assert.equal(response.statusCode, 200, response.body);
    assert.equal(response.json().success, true);
    assert.match(response.json().paymentSecret, /^seti_.+_secret_.+$/);
  });

  it('is no body on an operator route whose body is optional', async () => {
    const response = await emptyJsonPost(`/admin/v1/organizations/${organizationId}/api-keys`, {
      authorization: `Bearer ${ADMIN_TOKEN}`,
    });
    assert.equal(response.statusCode, 201, response.body);
    assert.match(response.json().apiKey, /^c360_/);
  });

  it('and no body at all, without a Content-Type, is as valid there', async () => {
    const response = await context.app.inject({
      method: 'POST',
      url: `/admin/v1/organizations/${organizationId}/api-keys`,
      headers: { authorization: `Bearer ${ADMIN_TOKEN}` },
    });
    assert.equal(response.statusCode, 201, response.body);
  });

  it('is still refused where a body is required, in the route’s envelope', async () => {
    const intake = await emptyJsonPost('/api/v1/dynamic-case', { 'cv-api-key': apiKey });
    assert.equal(intake.statusCode, 400);
    assert.deepEqual(intake.json(), { success: false, error: 'Validation failed: body: Required' });

    const intent = await emptyJsonPost('/api/v1/payments/intent', { 'cv-api-key': apiKey });
    assert.equal(intent.statusCode, 400);
    assert.deepEqual(intent.json(), { success: false, message: 'Validation failed: body: Required' });
  });

  it('leaves a body of only spaces malformed', async () => {
    const response = await context.app.inject({
      method: 'POST',
      url: '/api/v1/payments/setup',
      headers: { 'content-type': 'application/json', 'cv-api-key': apiKey },
      body: '  ',
    });
    assert.equal(response.statusCode, 400);
    assert.deepEqual(response.json(), { success: false, message: 'Validation failed: body: Malformed JSON' });
  });
});

// Every route whose body is optional (or that takes none), from the app's own route table: an empty body sent
// as application/json is no body there, never a body-validation 400.
describe('every route whose body is optional, sent an empty body as application/json', () => {
  let context: RouteTableContext;
  let apiKey: string;
  before(async () => {
    context = await contextWithRouteTable();
    ({ apiKey } = await context.organization());
  });
  after(() => context.close());

  const optional = (schema: unknown) =>
    schema === undefined || (schema as { _zod?: { optin?: string } })._zod?.optin === 'optional';

  it('answers each of them without refusing the body', async () => {
    const routes = context.routes.filter(
      (route) => ['POST', 'PUT', 'PATCH', 'DELETE'].includes(route.method) && optional(route.schema?.body),
    );
    assert.ok(routes.length >= 10, `${routes.length} routes`);
    assert.ok(routes.some((route) => route.url === '/api/v1/payments/setup'));
    assert.ok(routes.some((route) => route.url.endsWith('/capture')));
    for (const route of routes) {
      const url = route.url.replace(/:[A-Za-z0-9_]+/g, () => randomUUID());
      const response = await context.app.inject({
        method: route.method as 'POST',
        url,
        headers: {
          'content-type': 'application/json',
          'cv-api-key': apiKey,
          authorization: `Bearer ${ADMIN_TOKEN}`,
        },
        body: '',
      });
      const name = `${route.method} ${route.url}: ${response.statusCode} ${response.body.slice(0, 200)}`;
      assert.notEqual(response.statusCode, 415, name);
      assert.ok(response.statusCode < 500, name);
      assert.doesNotMatch(
        response.body,
        /body: Required|Malformed JSON|FST_ERR_CTP_EMPTY_JSON_BODY|body must be/i,
        name,
      );
    }
  });
});
