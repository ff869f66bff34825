import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { startFakeStripe, type FakeStripeServer } from '../fakes/stripe-server.ts';
import { replayHint } from '../support/seed.ts';
import { checkRequestAnswer, runFuzz } from './fuzz-engine.ts';
import {
  ADMIN_TOKEN,
  contextWithRouteTable,
  createOrganizationFixture,
  fillPath,
  type OrganizationFixture,
  type RouteTableContext,
} from './support.ts';

/** A bounded run for CI; `npm run fuzz -- --runs 100000` runs as many as asked (scripts/fuzz.ts). */
const RUNS = Number(process.env.FUZZ_RUNS ?? 200);

describe('fuzzing every route from its schemas', () => {
  let fake: FakeStripeServer;
  let context: RouteTableContext;
  let owner: OrganizationFixture;
  let operated: OrganizationFixture;

  before(async () => {
    fake = await startFakeStripe();
    context = await contextWithRouteTable(fake.environment({ LOG_LEVEL: 'silent' }));
    owner = await createOrganizationFixture(context, 'Fuzz');
    operated = await createOrganizationFixture(context, 'Operated');
  });
  after(async () => {
    await context.close();
    await fake.stop();
  });

  it('answers 400, not 500, to a body nested 100,000 deep inside an intake answer (found while fuzzing)', async () => {
    const deep = '['.repeat(100_000) + ']'.repeat(100_000);
    const response = await context.app.inject({
      method: 'POST',
      url: '/api/v1/dynamic-case',
      headers: { 'cv-api-key': owner.apiKey, 'content-type': 'application/json' },
      payload: `{"firstName":"A","lastName":"B","email":"a@example.com","formTitle":"Deep","questions":[{"question":"Weight","type":"TEXT","required":true,"answer":${deep}}]}`,
    });
    assert.equal(response.statusCode, 400);
    assert.deepEqual(response.json(), {
      success: false,
      error: 'Validation failed: body: Nests deeper than 64 levels',
    });
  });

  it('answers 400, not 500, to NUL characters in a promo code, an audit filter and a name (found while fuzzing)', async () => {
    const requests = [
      { method: 'GET' as const, url: '/api/v1/promo-codes?code=A%00B', headers: { 'cv-api-key': owner.apiKey } },
      {
        method: 'GET' as const,
        url: '/admin/v1/audit-events?action=%00',
        headers: { authorization: `Bearer ${ADMIN_TOKEN}` },
      },
      {
        method: 'POST' as const,
        url: '/admin/v1/organizations',
        headers: { authorization: `Bearer ${ADMIN_TOKEN}`, 'content-type': 'application/json' },
        payload: JSON.stringify({ name: 'Clinic\u0000' }),
      },
    ];
    for (const request of requests) {
      const response = await context.app.inject(request);
      assert.equal(response.statusCode, 400, `${request.url}: ${response.body}`);
      assert.match(response.body, /Text must not contain NUL characters/);
    }
  });

  it('answers a documented error to every path param that is a dot segment (found while fuzzing: caseId ".")', async () => {
    // A client resolves `.` and `..` before sending (POST /api/v1/cases/./payments goes as /api/v1/cases/payments):
    // the answer is that of the path sent, the app-wide 404 when no route has it, never a route's own 404 shape.
    let checked = 0;
    // The console's paths are pages, not the API: /console/assets/.. is the console's page, as a browser resolves it.
    const apiRoutes = context.routes.filter((item) => item.params.length > 0 && !item.url.startsWith('/console'));
    for (const route of apiRoutes) {
      const ids: Record<string, string> = {
        ...owner.ids,
        organizationId: operated.organizationId,
        apiKeyId: operated.apiKeyId,
      };
      for (const param of route.params) {
        for (const dots of ['.', '..']) {
          const url = fillPath(route.url, { ...ids, [param]: dots });
          const response = await context.app.inject({
            method: route.method as 'GET',
            url,
            headers: {
              'cv-api-key': owner.apiKey,
              authorization: `Bearer ${ADMIN_TOKEN}`,
              ...(route.method === 'GET' || route.method === 'DELETE' ? {} : { 'content-type': 'application/json' }),
            },
            ...(route.method === 'GET' || route.method === 'DELETE' ? {} : { payload: '{}' }),
          });
          const problem = checkRequestAnswer(
            context.routes,
            { method: route.method, url },
            response.statusCode,
            response.body,
          );
          assert.equal(problem, undefined, `${route.method} ${url}`);
          assert.ok(response.statusCode < 500);
          checked += 1;
        }
      }
    }
    assert.ok(checked >= 20, `${checked} requests`);
  });

  it(`${RUNS} generated and mutated requests: no 5xx, documented error envelopes, nothing stored when rejected`, async () => {
    const report = await runFuzz(context, owner, operated, { runs: RUNS });
    console.log(
      `fuzz: ${report.requests} requests (seed ${report.seed}), ${report.rejected} rejected, statuses ${JSON.stringify(report.byStatus)}, ${report.rowsChecked} rows checked`,
    );
    assert.equal(report.failure, undefined, `${report.failure} (${replayHint()})`);
    assert.equal(report.requests, RUNS);
    assert.ok(report.rejected > RUNS / 4, 'most mutations are rejected');
    assert.ok((report.byStatus['200'] ?? 0) > 0, 'some requests succeed (the valid examples)');
  });
});
