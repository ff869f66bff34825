import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { POSTGRES_TEST_URL } from '../support/database.ts';
import { formatReport, runCrashConsistency } from './crash-run.ts';

// The short run of `npm run test:crash -- --terminate-backends N`: every database backend of a real server
// process terminated four times under intake and payment traffic. Before the server listened for errors on
// the clients it checks out for transactions, the first or second round ended the process (an unhandled
// 'error' event of a pg Client). PostgreSQL only (PGlite has no backends), on either pass of the suite.
describe('backend terminations under traffic (PostgreSQL)', () => {
  it('keeps the server running through 4 rounds of pg_terminate_backend, with the crash invariants', async () => {
    const report = await runCrashConsistency({
      kills: 0,
      terminations: 4,
      clients: 6,
      trafficMs: [500, 1200],
      nmiCharges: true,
      databaseUrl: POSTGRES_TEST_URL,
    });
    console.log(formatReport(report));
    assert.deepEqual(report.violations, []);
    assert.equal(report.serverExits, 0);
    assert.equal(report.terminations, 4);
    assert.ok(report.backendsTerminated >= 4, 'backends were terminated');
    assert.ok(report.casesAcknowledged > 0 && report.holdsAcknowledged > 0, 'traffic went on between the rounds');
  });
});
