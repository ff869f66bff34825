import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { brotliDecompressSync, gunzipSync } from 'node:zlib';
import { buildConsole } from '../../scripts/build.ts';
import { createTestContext, type TestContext } from '../support/app.ts';
import { staffMember } from '../staff/support.ts';

/** The policy's directives by name. */
function directives(policy: string): Map<string, string[]> {
  return new Map(
    policy.split(';').map((part) => {
      const [name, ...values] = part.trim().split(/\s+/);
      return [name!, values];
    }),
  );
}

describe('the web console at /console', () => {
  let context: TestContext;
  before(async () => {
    await buildConsole();
    context = await createTestContext({ RATE_LIMIT_PER_KEY: '0', RATE_LIMIT_PER_ADDRESS: '0' });
  });
  after(() => context.close());

  for (const url of ['/console', '/console/', '/console/cases/00000000-0000-4000-8000-000000000000']) {
    it(`serves the page at ${url} under a policy without inline scripts, never stored`, async () => {
      const response = await context.app.inject({ method: 'GET', url });
      assert.equal(response.statusCode, 200);
      assert.match(String(response.headers['content-type']), /^text\/html/);
      assert.equal(response.headers['cache-control'], 'no-store');
      assert.equal(response.headers['x-content-type-options'], 'nosniff');
      const policy = directives(String(response.headers['content-security-policy']));
      assert.deepEqual(policy.get('default-src'), ["'none'"]);
      assert.deepEqual(policy.get('script-src'), ["'self'"], 'scripts from this server only: no inline, no eval');
      assert.deepEqual(policy.get('connect-src'), ["'self'"]);
      assert.deepEqual(policy.get('frame-ancestors'), ["'none'"]);
      assert.deepEqual(policy.get('frame-src'), ['blob:'], 'only PDFs the page fetched itself are framed');
      const nonce = /<meta name="csp-style-nonce" content="([^"]+)">/.exec(response.body)?.[1];
      assert.ok(nonce, 'the page hands its style nonce to the component library');
      assert.deepEqual(policy.get('style-src'), ["'self'", `'nonce-${nonce}'`]);
      assert.doesNotMatch(response.body, /<script(?![^>]*\bsrc=)[^>]*>/, 'no inline script');
      assert.match(response.body, /<script type="module" src="\/console\/assets\/app\.js"><\/script>/);
    });
  }

  it('gives each page a fresh style nonce', async () => {
    const [first, second] = await Promise.all([1, 2].map(() => context.app.inject({ method: 'GET', url: '/console' })));
    assert.notEqual(first!.headers['content-security-policy'], second!.headers['content-security-policy']);
  });

  it('serves the bundle from this server, and 404 for any other asset', async () => {
    const script = await context.app.inject({ method: 'GET', url: '/console/assets/app.js' });
    assert.equal(script.statusCode, 200);
    assert.match(String(script.headers['content-type']), /^text\/javascript/);
    assert.ok(script.body.length > 10_000);
    assert.doesNotMatch(script.body, /https?:\/\/(cdn|unpkg|fonts)\./, 'nothing loaded from a CDN');
    const style = await context.app.inject({ method: 'GET', url: '/console/assets/app.css' });
    assert.equal(style.statusCode, 200);
    assert.match(String(style.headers['content-type']), /^text\/css/);
    for (const url of ['/console/assets/other.js', '/console/assets/..%2F..%2Fpackage.json']) {
      const missing = await context.app.inject({ method: 'GET', url });
      assert.equal(missing.statusCode, 404, url);
    }
  });

  it('sends the bundle compressed as the browser accepts it, from the files the build wrote', async () => {
    const plain = await context.app.inject({ method: 'GET', url: '/console/assets/app.js' });
    assert.equal(plain.headers['content-encoding'], undefined);
    assert.equal(plain.headers.vary, 'accept-encoding');
    const cases: [string, string | undefined, (body: Buffer) => Buffer][] = [
      ['gzip, deflate, br, zstd', 'br', (body) => brotliDecompressSync(body)],
      ['gzip', 'gzip', (body) => gunzipSync(body)],
      ['br;q=0, gzip', 'gzip', (body) => gunzipSync(body)],
      ['identity', undefined, (body) => body],
    ];
    for (const [accept, encoding, decode] of cases) {
      const response = await context.app.inject({
        method: 'GET',
        url: '/console/assets/app.js',
        headers: { 'accept-encoding': accept },
      });
      assert.equal(response.statusCode, 200, accept);
      assert.equal(response.headers['content-encoding'], encoding, accept);
      assert.ok(decode(response.rawPayload).equals(plain.rawPayload), `${accept}: the same script`);
      if (encoding) assert.ok(response.rawPayload.length < plain.rawPayload.length / 2, `${accept}: smaller`);
    }
  });

  it('keeps the API answers the console reads out of the browser cache', async () => {
    const member = await staffMember(context.app, 'SUPPORT');
    for (const url of ['/staff/v1/me', '/staff/v1/cases']) {
      const response = await context.app.inject({ method: 'GET', url, headers: { cookie: member.cookie } });
      assert.equal(response.statusCode, 200, response.body);
      assert.equal(response.headers['cache-control'], 'no-store', url);
    }
  });
});
