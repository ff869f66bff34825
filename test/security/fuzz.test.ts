import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { startFakeStripe, type FakeStripeServer } from '../fakes/stripe-server.ts';
import { runFuzz } from './fuzz-engine.ts';
import {
  contextWithRouteTable,
  createOrganizationFixture,
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

  it(`${RUNS} generated and mutated requests: no 5xx, documented error envelopes, nothing stored when rejected`, async () => {
    const report = await runFuzz(context, owner, operated, { runs: RUNS });
    console.log(
      `fuzz: ${report.requests} requests (seed ${report.seed}), ${report.rejected} rejected, statuses ${JSON.stringify(report.byStatus)}, ${report.rowsChecked} rows checked`,
    );
    assert.equal(report.failure, undefined, report.failure);
    assert.equal(report.requests, RUNS);
    assert.ok(report.rejected > RUNS / 4, 'most mutations are rejected');
    assert.ok((report.byStatus['200'] ?? 0) > 0, 'some requests succeed (the valid examples)');
  });
});
