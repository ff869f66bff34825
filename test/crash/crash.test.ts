import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { formatReport, runCrashConsistency } from './crash-run.ts';

// The short run of `npm run test:crash`: two SIGKILLs under traffic. On PostgreSQL when
// TEST_DATABASE_URL is set; otherwise on the embedded database (PGlite in a DATA_DIR), which is what
// `npm start` runs with no configuration, so both engines are crashed in CI.
describe('crash consistency (SIGKILL under intake and payment traffic)', () => {
  const databaseUrl = process.env.TEST_DATABASE_URL;

  it(`survives 2 SIGKILLs on ${databaseUrl ? 'PostgreSQL' : 'PGlite'}: acknowledged cases kept whole, no orphans, no double holds, captures, approval charges, refunds or NMI charges, Stripe and NMI agree, every committed event delivered in order`, async () => {
    const report = await runCrashConsistency({
      kills: 2,
      clients: 4,
      trafficMs: [1000, 2500],
      // One intake in three charges an NMI token; retries look the orderid up first (docs/reliability.md).
      nmiCharges: true,
      // A webhook endpoint: the kills land while events are delivered; every committed one must arrive.
      webhooks: true,
      // Staff decisions: the approval job charges, captures and releases under the kills; clients refund.
      decisions: true,
      ...(databaseUrl ? { databaseUrl } : {}),
    });
    console.log(formatReport(report));
    assert.deepEqual(report.violations, []);
    assert.equal(report.kills, 2);
    assert.ok(report.casesAcknowledged > 0, 'cases were created between the crashes');
    assert.ok(report.holdsAcknowledged > 0, 'holds were placed between the crashes');
    assert.ok(report.stripeIntentsChecked > 0, 'Stripe charges and holds were compared with the records');
    assert.ok(report.webhookEventsChecked >= report.casesAcknowledged, 'each case sent at least its CREATE_CASE');
  });
});
