import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { nodeHandler } from '../src/node.ts';
import { createRelay, type RelayHandler, type RelayOptions } from '../src/relay.ts';
import { startCare360, type Care360Server } from './support.ts';

const SHOP = 'https://shop.example';

/** A request as a browser on the shop's page sends it to the relay mounted at /care360. */
function browserRequest(
  path: string,
  init: { method?: string; body?: BodyInit; headers?: Record<string, string>; origin?: string | null } = {},
): Request {
  const headers = new Headers(init.headers);
  if (init.origin !== null) headers.set('origin', init.origin ?? SHOP);
  return new Request(`${SHOP}/care360${path}`, {
    method: init.method ?? 'GET',
    headers,
    body: init.body,
    ...(init.body instanceof ReadableStream ? { duplex: 'half' } : {}),
  } as RequestInit);
}

const jsonBody = (body: unknown) => ({
  method: 'POST',
  body: JSON.stringify(body),
  headers: { 'content-type': 'application/json' },
});

describe('the relay in front of a running care360', () => {
  let care360: Care360Server;
  let apiKey: string;
  /** What the relay sent to care360: each URL with whether it carried the key. */
  const sent: { url: string; key: string | null }[] = [];
  let relayWith: (options?: Partial<RelayOptions>) => RelayHandler;
  let relay: RelayHandler;

  before(async () => {
    care360 = await startCare360();
    ({ apiKey } = await care360.organization());
    relayWith = (options = {}) =>
      createRelay({
        care360Url: care360.url,
        apiKey,
        allowedOrigins: [SHOP],
        fetch: async (input, init) => {
          sent.push({ url: String(input), key: new Headers(init?.headers).get('cv-api-key') });
          return fetch(input, init);
        },
        ...options,
      });
    relay = relayWith({ rateLimit: false });
  });
  after(() => care360?.stop());

  it('passes what an intake page needs, adding the key, and answers the page with CORS for its origin', async () => {
    sent.length = 0;
    const config = await relay(browserRequest('/payments/config', { headers: { 'cv-api-key': 'c360_from_browser' } }));
    assert.equal(config.status, 200);
    assert.equal((await config.json()).data.stripe.mode, 'simulated');
    assert.equal(config.headers.get('access-control-allow-origin'), SHOP);
    assert.equal(config.headers.get('vary'), 'Origin');
    assert.equal(config.headers.get('ratelimit-limit'), null, "care360's own limits stay on the server");
    assert.deepEqual(
      sent,
      [{ url: `${care360.url}/api/v1/payments/config`, key: apiKey }],
      "the relay's key, not the browser's",
    );

    const setup = await relay(
      browserRequest('/payments/setup', { method: 'POST', headers: { 'content-type': 'application/json' } }),
    );
    assert.equal(setup.status, 200, 'a body-less POST with the JSON header');
    const clientSecret = String((await setup.json()).paymentSecret);
    assert.match(clientSecret, /^seti_/);

    const intent = await relay(browserRequest('/payments/intent', jsonBody({ amount: 50000 })));
    assert.equal(intent.status, 200);
    assert.match((await intent.json()).data.paymentIntentSecret, /^pi_/);

    const created = await relay(
      browserRequest(
        '/dynamic-case',
        jsonBody({
          firstName: 'Ada',
          lastName: 'Lovelace',
          email: 'ada@example.com',
          formTitle: 'Relay intake',
          idempotencyKey: 'relay-case-1',
          stripeSetupId: clientSecret.split('_secret_')[0],
          paymentAmount: 600,
          questions: [{ question: 'What is your current weight?', type: 'TEXT', required: true, answer: '150 lbs' }],
        }),
      ),
    );
    assert.equal(created.status, 200);
    assert.equal((await created.json()).success, true);

    const forms = await relay(browserRequest('/forms?title=Relay%20intake&secret=1'));
    const form = (await forms.json()).data.forms[0];
    assert.equal(form.title, 'Relay intake');
    assert.equal(
      sent.at(-1)?.url,
      `${care360.url}/api/v1/forms?title=Relay+intake`,
      'unknown query parameters are dropped',
    );
    const one = await relay(browserRequest(`/forms/${form.id}`));
    assert.equal((await one.json()).data.form.id, form.id);

    const promo = await relay(browserRequest('/promo-codes?code=FLAT100'));
    assert.deepEqual(await promo.json(), { success: true, data: [] });
  });

  it('passes the test card element without the key: its script, and a confirmation the intake then honours', async () => {
    sent.length = 0;
    const script = await relay(
      browserRequest('/payments/test-card.js', { origin: null, headers: { 'sec-fetch-site': 'same-origin' } }),
    );
    assert.equal(script.status, 200);
    assert.match(String(script.headers.get('content-type')), /javascript/);
    assert.match(await script.text(), /Care360TestCard/);

    const setup = await relay(browserRequest('/payments/setup', { method: 'POST' }));
    const clientSecret = String((await setup.json()).paymentSecret);
    const declined = await relay(
      browserRequest(
        '/payments/test-card/confirm',
        jsonBody({ clientSecret, card: { number: '4000000000000002', expiry: '12/40', cvc: '123' } }),
      ),
    );
    assert.equal(declined.status, 402);
    assert.equal((await declined.json()).error.decline_code, 'generic_decline');
    assert.deepEqual(
      sent.filter((entry) => entry.url.includes('test-card')).map((entry) => entry.key),
      [null, null],
      'no key goes with the test card element',
    );
  });

  it('answers only allowed origins; a same-origin request without Origin counts as its own origin', async () => {
    for (const origin of [null, 'https://evil.example', 'http://shop.example']) {
      const response = await relay(browserRequest('/payments/config', { origin }));
      assert.equal(response.status, 403, String(origin));
      assert.equal(response.headers.get('access-control-allow-origin'), null);
    }
    const sameOrigin = await relay(
      browserRequest('/payments/config', { origin: null, headers: { 'sec-fetch-site': 'same-origin' } }),
    );
    assert.equal(sameOrigin.status, 200);
    const crossSite = await relay(
      browserRequest('/payments/config', { origin: null, headers: { 'sec-fetch-site': 'cross-site' } }),
    );
    assert.equal(crossSite.status, 403);
  });

  it('exposes nothing else of the API', async () => {
    for (const [method, path] of [
      ['GET', '/organization/bundles'],
      ['POST', '/cases/9f0f2f70-f536-4b1d-8ed4-c831f4a4bcab/payments'],
      ['POST', '/initiatePayment'],
      ['GET', '/api/v1/forms'],
      ['GET', '/forms/not-a-uuid'],
      ['GET', '/../admin/v1/organizations'],
    ]) {
      const response = await relay(browserRequest(path!, { method }));
      assert.equal(response.status, 404, `${method} ${path}`);
    }
    assert.equal((await relay(new Request(`${SHOP}/elsewhere/forms`, { headers: { origin: SHOP } }))).status, 404);
    const wrongMethod = await relay(browserRequest('/dynamic-case'));
    assert.equal(wrongMethod.status, 405);
    assert.equal(wrongMethod.headers.get('allow'), 'POST');
  });

  it('answers a preflight for an allowed origin', async () => {
    const response = await relay(browserRequest('/dynamic-case', { method: 'OPTIONS' }));
    assert.equal(response.status, 204);
    assert.equal(response.headers.get('access-control-allow-origin'), SHOP);
    assert.equal(response.headers.get('access-control-allow-methods'), 'POST');
    assert.equal(response.headers.get('access-control-allow-headers'), 'content-type');
    assert.equal(
      (await relay(browserRequest('/dynamic-case', { method: 'OPTIONS', origin: 'https://evil.example' }))).status,
      403,
    );
  });

  it('limits each visitor to its own budget of requests', async () => {
    const limited = relayWith({ rateLimit: { requests: 3, windowSeconds: 60 } });
    const from = (clientAddress: string) => limited(browserRequest('/payments/config'), { clientAddress });
    for (let index = 0; index < 3; index += 1) assert.equal((await from('203.0.113.7')).status, 200);
    const refused = await from('203.0.113.7');
    assert.equal(refused.status, 429);
    assert.ok(Number(refused.headers.get('retry-after')) > 0);
    assert.equal(refused.headers.get('access-control-allow-origin'), SHOP, 'the page can read the refusal');
    assert.equal((await from('198.51.100.2')).status, 200, 'another visitor is not affected');
  });

  it('limits bodies, whatever Content-Length says, and takes JSON only', async () => {
    const small = relayWith({ rateLimit: false, maxBodyBytes: { caseCreate: 2048, other: 512 } });
    const big = JSON.stringify({ amount: 5000, metadata: { email: 'x'.repeat(600) } });
    assert.equal((await small(browserRequest('/payments/intent', jsonBody(JSON.parse(big))))).status, 413);

    const streamed = new ReadableStream<Uint8Array>({
      start(controller) {
        for (let index = 0; index < 10; index += 1) controller.enqueue(new Uint8Array(300).fill(0x20));
        controller.close();
      },
    });
    const undeclared = await small(
      browserRequest('/dynamic-case', {
        method: 'POST',
        body: streamed,
        headers: { 'content-type': 'application/json' },
      }),
    );
    assert.equal(undeclared.status, 413);
    assert.deepEqual(await undeclared.json(), { success: false, error: 'Request body is too large' });

    const text = await small(
      browserRequest('/payments/intent', {
        method: 'POST',
        body: 'amount=5000',
        headers: { 'content-type': 'text/plain' },
      }),
    );
    assert.equal(text.status, 415);
  });

  it('answers 502 when care360 cannot be reached', async () => {
    const nowhere = createRelay({
      care360Url: 'http://127.0.0.1:9',
      apiKey: 'c360_x',
      allowedOrigins: [SHOP],
      rateLimit: false,
    });
    const response = await nowhere(browserRequest('/payments/config'));
    assert.equal(response.status, 502);
    assert.deepEqual(await response.json(), { success: false, error: 'care360 is unavailable' });
  });

  it("runs on Node's http server through nodeHandler, with the socket address as the visitor", async () => {
    const limited = relayWith({ rateLimit: { requests: 2, windowSeconds: 60 } });
    const server: Server = createServer(nodeHandler(limited));
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    try {
      const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}/care360`;
      const post = () =>
        fetch(`${base}/payments/intent`, {
          method: 'POST',
          headers: { origin: SHOP, 'content-type': 'application/json' },
          body: JSON.stringify({ amount: 4500 }),
        });
      const first = await post();
      assert.equal(first.status, 200);
      assert.match((await first.json()).data.paymentIntentSecret, /^pi_/);
      assert.equal(first.headers.get('access-control-allow-origin'), SHOP);
      assert.equal((await post()).status, 200);
      assert.equal((await post()).status, 429, 'the socket address is the visitor');
    } finally {
      await new Promise((resolve) => server.close(resolve));
    }
  });
});
