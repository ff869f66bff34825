import assert from 'node:assert/strict';
import { Writable } from 'node:stream';
import { after, before, describe, it } from 'node:test';
import type { FastifyInstance } from 'fastify';
import { buildApp, loggerOptions } from '../../src/app.ts';
import { loadConfig } from '../../src/config.ts';
import type { Database } from '../../src/db/database.ts';
import { createServices } from '../../src/services.ts';
import { startFakeStripe, type FakeStripeServer } from '../fakes/stripe-server.ts';
import { freshDatabase } from '../support/database.ts';

// Issue 16, defect 7: `/api/v1/payments/setup` with `{"metadata":{"email":"\ud800"}}` answered 500, logged a
// fragment of the metadata from PostgreSQL's error, and left gateway_intents rows `creating` (also for the NUL
// case, refused with 400). The metadata is now checked first: a clear 400, nothing logged of it, nothing written.

/** Marks the metadata's text, to look for in the logs. */
const MARKER = 'metadata-marker-7';

const BAD_METADATA: [string, string][] = [
  [`{"metadata":{"email":"${MARKER}\\ud800"}}`, 'Metadata email must be valid Unicode text'],
  [`{"metadata":{"email":"\\udc00${MARKER}"}}`, 'Metadata email must be valid Unicode text'],
  [`{"metadata":{"phone":"${MARKER}\\u0000"}}`, 'Metadata phone must not contain NUL characters'],
];

for (const gateway of ['simulated', 'stripe'] as const) {
  describe(`payments/setup and payments/intent with metadata that is not text, on the ${gateway} gateway`, () => {
    let stripe: FakeStripeServer | undefined;
    let db: Database;
    let drop: () => Promise<void>;
    let app: FastifyInstance;
    let apiKey: string;
    let log = '';

    before(async () => {
      if (gateway === 'stripe') stripe = await startFakeStripe();
      ({ db, drop } = await freshDatabase());
      const config = loadConfig({
        LOG_LEVEL: 'info',
        RATE_LIMIT_PER_KEY: '0',
        RATE_LIMIT_PER_ADDRESS: '0',
        ...(stripe?.environment() ?? {}),
      });
      const services = createServices(db, config);
      const stream = new Writable({
        write(chunk, _encoding, done) {
          log += String(chunk);
          done();
        },
      });
      app = await buildApp({ config, db, services, logger: { ...(loggerOptions('info') as object), stream } });
      await app.ready();
      ({ apiKey } = await services.organizations.createOrganization('Metadata'));
    });
    after(async () => {
      await app.close();
      await drop();
      await stripe?.stop();
    });

    const intents = async () =>
      (await db.query<{ status: string }>('select status from gateway_intents order by created_at')).rows.map(
        (row) => row.status,
      );

    it('answers a clear 400, writes nothing and logs nothing of it', async () => {
      for (const url of ['/api/v1/payments/setup', '/api/v1/payments/intent']) {
        for (const [payload, message] of BAD_METADATA) {
          const body = url.endsWith('intent') ? payload.replace('{"metadata"', '{"amount":4500,"metadata"') : payload;
          const response = await app.inject({
            method: 'POST',
            url,
            headers: { 'cv-api-key': apiKey, 'content-type': 'application/json' },
            payload: body,
          });
          assert.equal(response.statusCode, 400, `${url} ${body}: ${response.body}`);
          assert.deepEqual(response.json(), { success: false, message });
        }
      }
      assert.deepEqual(await intents(), [], 'no gateway_intents row');
      assert.ok(log.includes('"statusCode":400'), 'the requests were logged');
      assert.equal(log.includes(MARKER), false, 'no fragment of the metadata in the log');
    });

    if (gateway !== 'stripe') return;
    it('a gateway failure leaves its intent record failed, not creating', async () => {
      stripe!.failNext({ pathPrefix: '/v1/setup_intents', status: 500 });
      const unavailable = await app.inject({
        method: 'POST',
        url: '/api/v1/payments/setup',
        headers: { 'cv-api-key': apiKey },
      });
      assert.equal(unavailable.statusCode, 503);
      stripe!.failNext({ pathPrefix: '/v1/payment_intents', status: 400 });
      const refused = await app.inject({
        method: 'POST',
        url: '/api/v1/payments/intent',
        headers: { 'cv-api-key': apiKey, 'content-type': 'application/json' },
        payload: { amount: 4500 },
      });
      assert.equal(refused.statusCode, 400);
      assert.deepEqual(await intents(), ['failed', 'failed']);
    });
  });
}
