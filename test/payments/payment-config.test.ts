import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { ConfigError, loadConfig } from '../../src/config.ts';
import { createTestContext, type TestContext } from '../support/app.ts';

async function readConfig(context: TestContext, apiKey: string | null) {
  const response = await context.app.inject({
    method: 'GET',
    url: '/api/v1/payments/config',
    headers: apiKey ? { 'cv-api-key': apiKey } : {},
  });
  return { status: response.statusCode, body: response.json() };
}

describe('GET /api/v1/payments/config', () => {
  describe('with the simulated gateway', () => {
    let context: TestContext;
    before(async () => {
      context = await createTestContext();
    });
    after(() => context.close());

    it("answers the simulated mode and the test card element's path", async () => {
      const { apiKey } = await context.organization();
      const { status, body } = await readConfig(context, apiKey);
      assert.equal(status, 200);
      assert.deepEqual(body, {
        success: true,
        data: {
          stripe: { mode: 'simulated', publishableKey: null, testCardElement: '/payments/test-card.js' },
          nmi: { tokenizationKey: null },
        },
      });
      const script = await context.app.inject({ method: 'GET', url: body.data.stripe.testCardElement });
      assert.equal(script.statusCode, 200);
      assert.match(String(script.headers['content-type']), /^text\/javascript/);
      assert.match(script.body, /window\.Care360TestCard = /);
    });

    it('asks for the key, in the payments envelope', async () => {
      assert.deepEqual(await readConfig(context, null), {
        status: 401,
        body: { status: 401, error: 'Invalid API key' },
      });
      assert.deepEqual(await readConfig(context, 'c360_wrong'), {
        status: 401,
        body: { status: 401, error: 'Invalid API key' },
      });
    });
  });

  describe('with Stripe and NMI configured', () => {
    let context: TestContext;
    before(async () => {
      context = await createTestContext({
        STRIPE_SECRET_KEY: 'sk_test_config',
        STRIPE_PUBLISHABLE_KEY: 'pk_test_51Config',
        NMI_SECURITY_KEY: 'nmi-security-key',
        NMI_TOKENIZATION_KEY: '9742U4-z2K5kp-a2s5uN-37z9W2',
      });
    });
    after(() => context.close());

    it('answers the publishable keys, and serves no test card element', async () => {
      const { apiKey } = await context.organization();
      const { status, body } = await readConfig(context, apiKey);
      assert.equal(status, 200);
      assert.deepEqual(body.data, {
        stripe: { mode: 'test', publishableKey: 'pk_test_51Config', testCardElement: null },
        nmi: { tokenizationKey: '9742U4-z2K5kp-a2s5uN-37z9W2' },
      });
      const script = await context.app.inject({ method: 'GET', url: '/payments/test-card.js' });
      assert.equal(script.statusCode, 404);
    });

    it('never answers a secret key', async () => {
      const { apiKey } = await context.organization();
      const { body } = await readConfig(context, apiKey);
      assert.doesNotMatch(JSON.stringify(body), /sk_test_config|nmi-security-key/);
    });
  });

  it('says live for a live secret key', async () => {
    const context = await createTestContext({
      STRIPE_SECRET_KEY: 'sk_live_config',
      STRIPE_PUBLISHABLE_KEY: 'pk_live_1',
    });
    try {
      const { apiKey } = await context.organization();
      const { body } = await readConfig(context, apiKey);
      assert.equal(body.data.stripe.mode, 'live');
      assert.equal(body.data.stripe.publishableKey, 'pk_live_1');
    } finally {
      await context.close();
    }
  });

  it('refuses to start with a secret key where the publishable key goes', () => {
    assert.throws(
      () => loadConfig({ STRIPE_PUBLISHABLE_KEY: 'sk_live_oops' }),
      (error: unknown) =>
        error instanceof ConfigError && /STRIPE_PUBLISHABLE_KEY: must be a Stripe publishable key/.test(error.message),
    );
  });
});
