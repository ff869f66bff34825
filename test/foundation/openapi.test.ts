import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { Validator } from '@seriousme/openapi-schema-validator';
import { z } from 'zod';
import { envelopes } from '../../src/http/envelopes.ts';
import { operationIdFor } from '../../src/http/openapi.ts';
import { ADMIN_TOKEN, createTestContext, type TestContext } from '../support/app.ts';

type Operation = {
  operationId?: string;
  security?: unknown[];
  requestBody?: { content: Record<string, { examples?: Record<string, { value: unknown }> }> };
  responses: Record<string, { description: string }>;
};

describe('API reference', () => {
  let context: TestContext;
  let document: {
    openapi: string;
    info: { title: string; description: string };
    servers: { url: string }[];
    paths: Record<string, Record<string, Operation>>;
    components: { securitySchemes: Record<string, unknown>; schemas: Record<string, unknown> };
    tags: { name: string }[];
  };
  before(async () => {
    context = await createTestContext();
    document = (await context.app.inject({ method: 'GET', url: '/openapi.json' })).json();
  });
  after(() => context.close());

  const operations = () =>
    Object.entries(document.paths).flatMap(([path, item]) =>
      Object.entries(item).map(([method, operation]) => ({ path, method, operation })),
    );

  it('serves an OpenAPI 3.1 document that validates', async () => {
    assert.equal(document.openapi, '3.1.0');
    const result = await new Validator().validate(document);
    assert.equal(result.valid, true, JSON.stringify(result.errors, null, 2));
    assert.deepEqual(document.components.securitySchemes.apiKey, {
      type: 'apiKey',
      in: 'header',
      name: 'cv-api-key',
      description: "Your organization's secret API key (server side only)",
    });
    assert.ok(document.paths['/admin/v1/organizations']?.post);
    assert.ok(document.paths['/health']?.get);
  });

  it('names the schemas a client types by: the case, Case Create, the forms and each error envelope', () => {
    const named = Object.keys(document.components.schemas);
    for (const name of [
      'Case',
      'CaseCreateInput',
      'CaseCreated',
      'Form',
      'IntakeError',
      'PaymentError',
      'KeyRefused',
    ]) {
      assert.ok(named.includes(name), `components.schemas.${name}`);
    }
    const body = document.paths['/api/v1/dynamic-case']?.post?.requestBody?.content['application/json'] as {
      schema: unknown;
    };
    assert.deepEqual(body.schema, { $ref: '#/components/schemas/CaseCreateInput' });
    // Every reference resolves, and every named schema is referenced.
    const text = JSON.stringify(document);
    const referenced = new Set([...text.matchAll(/"#\/components\/schemas\/([^"]+)"/g)].map((match) => match[1]));
    assert.deepEqual(
      [...referenced].filter((name) => !named.includes(name!)),
      [],
    );
    assert.deepEqual(
      named.filter((name) => !referenced.has(name)),
      [],
    );
  });

  it('names the payment, staff and webhook bodies; a body a route lets be absent is not required', () => {
    const named = Object.keys(document.components.schemas);
    for (const name of [
      'CasePaymentCreateInput',
      'PaymentIntentCreateInput',
      'PaymentConfirmationInput',
      'CasePayment',
      'CasePaymentDetail',
      'PaymentConfig',
      'StaffMember',
      'StaffQueueCase',
      'WebhookEndpoint',
      'WebhookEndpointWithSecret',
      'WebhookDelivery',
      'StaffLoginInput',
      'StaffSetPasswordInput',
      'StaffTotpRequiredInput',
      'StaffTotpEnableInput',
      'StaffCreateInput',
      'WebhookEndpointCreateInput',
      'WebhookEndpointUpdateInput',
      'WebhookSecretRotationInput',
      'WebhookRedeliveryInput',
    ]) {
      assert.ok(named.includes(name), `components.schemas.${name}`);
    }
    const bodyOf = (path: string) =>
      document.paths[path]?.post?.requestBody as unknown as {
        required: boolean;
        content: Record<string, { schema: unknown }>;
      };
    const create = bodyOf('/api/v1/cases/{caseId}/payments');
    assert.equal(create.required, true);
    assert.deepEqual(create.content['application/json']?.schema, {
      $ref: '#/components/schemas/CasePaymentCreateInput',
    });
    // Checked by hand, documented as the object it is (src/modules/payments/body-schemas.ts).
    const documented = document.components.schemas.CasePaymentCreateInput as {
      type: string;
      required: string[];
      properties: Record<string, unknown>;
    };
    assert.equal(documented.type, 'object');
    assert.deepEqual(documented.required, ['amount']);
    assert.ok(documented.properties.preauthorize && documented.properties.idempotencyKey);
    assert.equal(bodyOf('/api/v1/cases/{caseId}/payments/{paymentId}/capture').required, false);
    assert.equal(bodyOf('/api/v1/payments/setup').required, false);
    assert.equal(bodyOf('/api/v1/payments/intent').required, true);
    const rotate = bodyOf('/admin/v1/organizations/{organizationId}/webhooks/{webhookId}/rotate-secret');
    assert.equal(rotate.required, false);
    assert.deepEqual(rotate.content['application/json']?.schema, {
      $ref: '#/components/schemas/WebhookSecretRotationInput',
    });
  });

  it('names a server relative to wherever it is read from, and links no file that is not served', () => {
    assert.deepEqual(
      document.servers.map((server) => server.url),
      ['/'],
    );
    assert.equal(document.info.title, 'care360 API');
    // Markdown links in the description resolve against /docs/: only absolute ones may appear.
    const links = [...document.info.description.matchAll(/\]\(([^)]+)\)/g)].map((match) => match[1] ?? '');
    for (const link of links) assert.match(link, /^https?:\/\//, `relative link ${link}`);
    assert.match(document.info.description, /docs\/api\/README\.md/);
  });

  it('gives every operation a unique operationId, its security, and no "Default Response"', () => {
    const ids = operations().map(({ operation }) => operation.operationId);
    assert.ok(
      ids.every((id) => typeof id === 'string' && /^[a-z][A-Za-z]+$/.test(id)),
      ids.join(', '),
    );
    assert.equal(new Set(ids).size, ids.length, 'operationIds are unique');
    assert.equal(document.paths['/api/v1/dynamic-case']?.post?.operationId, 'postDynamicCase');
    const tags = new Set(document.tags.map((tag) => tag.name));
    for (const { path, method, operation } of operations()) {
      assert.ok(Array.isArray(operation.security), `${method} ${path} says its security`);
      for (const [status, response] of Object.entries(operation.responses)) {
        assert.notEqual(response.description, 'Default Response', `${method} ${path} ${status}`);
      }
      for (const tag of (operation as { tags?: string[] }).tags ?? []) assert.ok(tags.has(tag), tag);
    }
    assert.deepEqual(document.paths['/health']?.get?.security, [], 'public routes say so');
    assert.deepEqual(document.paths['/api/v1/forms']?.get?.security, [{ apiKey: [] }]);
  });

  it('describes every parameter, and a parameter name the same way on every route', () => {
    const descriptions = new Map<string, Set<string>>();
    for (const { path, method, operation } of operations()) {
      const parameters = (operation as { parameters?: { name: string; in: string; description?: string }[] })
        .parameters;
      for (const parameter of parameters ?? []) {
        assert.ok(parameter.description, `${method} ${path}: ${parameter.in} ${parameter.name}`);
        if (parameter.in === 'path') {
          const seen = descriptions.get(parameter.name) ?? new Set<string>();
          descriptions.set(parameter.name, seen.add(parameter.description));
        }
      }
    }
    // One text per path parameter, from src/http/parameters.ts (the admin case read also takes a short id).
    for (const [name, texts] of descriptions) {
      const expected = name === 'caseId' ? 2 : 1;
      assert.equal(texts.size, expected, `${name}: ${[...texts].join(' | ')}`);
    }
  });

  it('documents the signed download as a file, and its refusals in the standard envelope', async () => {
    const download = document.paths['/api/v1/case-files/{fileId}']?.get as unknown as {
      security: unknown[];
      responses: Record<string, { content: Record<string, { schema: unknown }> }>;
    };
    assert.deepEqual(download.security, []);
    assert.deepEqual(download.responses['200']?.content['*/*']?.schema, {
      type: 'string',
      format: 'binary',
      description: "The file's bytes",
    });
    for (const status of ['400', '403']) {
      assert.deepEqual(download.responses[status]?.content['application/json']?.schema, {
        $ref: '#/components/schemas/Error',
      });
    }
    const refused = await context.app.inject({ method: 'GET', url: `/api/v1/case-files/${'0'.repeat(36)}` });
    assert.equal(refused.statusCode, 403);
    assert.deepEqual(refused.json(), {
      status: 403,
      success: false,
      error: 'This download link is invalid or has expired',
    });
  });

  it("documents every operation's 429 in its envelope, as the rate limit answers it", async () => {
    for (const { path, method, operation } of operations()) {
      assert.ok(operation.responses['429'], `${method} ${path} 429`);
    }
    const limited = await createTestContext({ RATE_LIMIT_PER_ADDRESS: '1' });
    try {
      const headers = { 'cv-api-key': (await limited.organization()).apiKey };
      for (const [url, method, payload] of [
        ['/health', 'GET', undefined],
        ['/api/v1/dynamic-case', 'POST', {}],
      ] as const) {
        await limited.app.inject({ method, url, payload, headers });
        const refused = await limited.app.inject({ method, url, payload, headers });
        assert.equal(refused.statusCode, 429, url);
        const path = url as keyof typeof document.paths;
        const schema = (
          document.paths[path]?.[method.toLowerCase()]?.responses['429'] as unknown as {
            content: Record<string, { schema: { $ref: string } }>;
          }
        ).content['application/json']!.schema;
        const named = document.components.schemas[schema.$ref.split('/').pop()!] as {
          properties: Record<string, unknown>;
          required: string[];
        };
        const keys = Object.keys(refused.json() as object).sort();
        assert.deepEqual(keys, Object.keys(named.properties).sort(), url);
        for (const key of named.required) assert.ok(keys.includes(key), `${url}: ${key}`);
      }
    } finally {
      await limited.close();
    }
  });

  it('documents 413 and 415 on every operation with a body and 503 on every one, in its envelope', () => {
    for (const { path, method, operation } of operations()) {
      const statuses = operation.requestBody ? ['413', '415', '503'] : ['503'];
      for (const status of statuses) assert.ok(operation.responses[status], `${method} ${path} ${status}`);
    }
    // The readiness probe's 503 is its own report, not the time limit's envelope.
    assert.equal(document.paths['/ready']?.get?.responses['503']?.description, 'The database does not answer');
  });

  it('answers a real 413 and 415 on a route of each envelope family with the documented body', async () => {
    const limited = await createTestContext({ BODY_LIMIT_BYTES: '2048' });
    try {
      const headers = { 'cv-api-key': (await limited.organization()).apiKey, authorization: `Bearer ${ADMIN_TOKEN}` };
      const caseId = '00000000-0000-4000-8000-000000000000';
      // One route that takes a body per family (src/http/envelopes.ts); the body is refused before it is read.
      const routes = [
        ['intake', '/api/v1/dynamic-case', '/api/v1/dynamic-case'],
        ['payments', '/api/v1/payments/intent', '/api/v1/payments/intent'],
        ['caseRead', '/api/v1/cases/{caseId}', `/api/v1/cases/${caseId}`],
        ['caseForm', '/api/v1/customer-dynamic-case-form', '/api/v1/customer-dynamic-case-form'],
        ['users', '/api/v1/users', '/api/v1/users'],
        ['standard', '/admin/v1/organizations', '/admin/v1/organizations'],
      ] as const;
      for (const [family, path, url] of routes) {
        const refusals = [
          {
            status: 413,
            contentType: 'application/json',
            payload: JSON.stringify({ name: 'x'.repeat(4096) }),
            message: 'Request body is too large',
          },
          {
            status: 415,
            contentType: 'text/plain',
            payload: 'name=Acme',
            message: 'Unsupported Content-Type: send application/json',
          },
        ];
        for (const { status, contentType, payload, message } of refusals) {
          const answer = await limited.app.inject({
            method: 'POST',
            url,
            headers: { ...headers, 'content-type': contentType },
            payload,
          });
          const where = `${family} POST ${path} ${status}`;
          assert.equal(answer.statusCode, status, `${where}: ${answer.body}`);
          const documented = document.paths[path]?.post?.responses[String(status)] as unknown as {
            content: Record<string, { schema: { $ref?: string } }>;
          };
          const schema = documented.content['application/json']!.schema;
          const resolved = schema.$ref ? document.components.schemas[schema.$ref.split('/').pop()!] : schema;
          const body: unknown = answer.json();
          assert.deepEqual(body, envelopes[family].error(status, message), where);
          const parsed = z.fromJSONSchema(resolved as Parameters<typeof z.fromJSONSchema>[0]).safeParse(body);
          assert.ok(parsed.success, `${where}: ${answer.body} fails ${JSON.stringify(resolved)}`);
        }
      }
    } finally {
      await limited.close();
    }
  });

  it('derives operationIds from the method and path', () => {
    assert.equal(
      operationIdFor('GET', '/api/v1/cases/:caseId/payments/:paymentId'),
      'getCasesByCaseIdPaymentsByPaymentId',
    );
    assert.equal(
      operationIdFor('POST', '/admin/v1/organizations/{organizationId}/api-keys'),
      'postAdminOrganizationsByOrganizationIdApiKeys',
    );
    assert.equal(operationIdFor('POST', '/initiatePayment'), 'postInitiatePayment');
  });

  it('carries the Case Create page’s request example, and it creates a case as it stands', async () => {
    const examples = document.paths['/api/v1/dynamic-case']?.post?.requestBody?.content['application/json']?.examples;
    assert.ok(examples?.formTitle && examples.formId);
    const { apiKey } = await context.organization();
    const response = await context.app.inject({
      method: 'POST',
      url: '/api/v1/dynamic-case',
      headers: { 'cv-api-key': apiKey },
      payload: examples.formTitle.value as object,
    });
    assert.equal(response.statusCode, 200, response.body);
    assert.equal(response.json().success, true);
  });

  it('serves the interactive reference and its assets from this process, with no CDN', async () => {
    const page = await context.app.inject({ method: 'GET', url: '/docs/' });
    assert.equal(page.statusCode, 200);
    assert.match(page.body, /<title>care360 API<\/title>/);
    assert.match(page.body, /Scalar\.createApiReference/);
    const sources = [...page.body.matchAll(/(?:src|href)="([^"]+)"/g)].map((match) => match[1] ?? '');
    assert.ok(sources.length > 0);
    for (const source of sources) {
      assert.doesNotMatch(source, /^(https?:)?\/\//, `external asset ${source}`);
      const asset = await context.app.inject({ method: 'GET', url: new URL(source, 'http://local/docs/').pathname });
      assert.equal(asset.statusCode, 200, source);
    }
  });

  it('sends a policy that allows its own inline configuration and works over plain HTTP', async () => {
    const page = await context.app.inject({ method: 'GET', url: '/docs/' });
    const policy = String(page.headers['content-security-policy']);
    assert.doesNotMatch(policy, /upgrade-insecure-requests/);
    assert.match(policy, /connect-src 'self'/);
    const inline = [...page.body.matchAll(/<script type="text\/javascript">([\s\S]*?)<\/script>/g)];
    assert.equal(inline.length, 1);
    const hash = createHash('sha256')
      .update(inline[0]?.[1] ?? '')
      .digest('base64');
    assert.ok(policy.includes(`'sha256-${hash}'`), policy);
    assert.doesNotMatch(policy, /script-src[^;]*unsafe-inline/);
  });
});
