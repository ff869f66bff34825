import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { Validator } from '@seriousme/openapi-schema-validator';
import { createTestContext, type TestContext } from '../support/app.ts';

describe('API reference', () => {
  let context: TestContext;
  before(async () => {
    context = await createTestContext();
  });
  after(() => context.close());

  it('serves an OpenAPI 3.1 document that validates', async () => {
    const response = await context.app.inject({ method: 'GET', url: '/openapi.json' });
    assert.equal(response.statusCode, 200);
    const document = response.json();
    assert.equal(document.openapi, '3.1.0');
    const result = await new Validator().validate(document);
    assert.equal(result.valid, true, JSON.stringify(result.errors, null, 2));
    assert.deepEqual(document.components.securitySchemes.apiKey, { type: 'apiKey', in: 'header', name: 'cv-api-key' });
    assert.ok(document.paths['/admin/v1/organizations'].post);
    assert.ok(document.paths['/health'].get);
  });

  it('serves the interactive reference and its assets from this process, with no CDN', async () => {
    const page = await context.app.inject({ method: 'GET', url: '/docs/' });
    assert.equal(page.statusCode, 200);
    assert.match(page.body, /swagger-ui/i);
    const sources = [...page.body.matchAll(/(?:src|href)="([^"]+)"/g)].map((match) => match[1] ?? '');
    assert.ok(sources.length > 0);
    for (const source of sources) {
      assert.doesNotMatch(source, /^(https?:)?\/\//, `external asset ${source}`);
      const asset = await context.app.inject({ method: 'GET', url: new URL(source, 'http://local/docs/').pathname });
      assert.equal(asset.statusCode, 200, source);
    }
  });
});
