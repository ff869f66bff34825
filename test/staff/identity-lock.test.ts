import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { StaffScope } from '../../src/http/gate.ts';
import { StaffCaseQueue } from '../../src/modules/staff/case-queue.ts';
import type { TestContext } from '../support/app.ts';
import { until } from '../support/until.ts';
import { createStaff, intakeCase, staffCaseContext } from './support.ts';

/**
 * The partner's UPDATE_PROFILE locks name, date of birth and gender once a case of the patient is assigned. An
 * assignment in flight holds the patient row (for key share, with the case's own lock): an UPDATE_PROFILE that
 * meets it waits for its commit and is then refused, so no identity change lands after an assignment.
 */
describe('the identity lock of UPDATE_PROFILE against a staff assignment in flight', () => {
  let context: TestContext;
  let org: { organizationId: string; apiKey: string };
  let support: { staffId: string };
  let provider: { staffId: string };

  before(async () => {
    context = await staffCaseContext();
    org = await context.organization('Identity lock');
    const organizationIds = [org.organizationId];
    support = await createStaff(context.app, 'SUPPORT', { organizationIds });
    provider = await createStaff(context.app, 'PROVIDER', { organizationIds, licensedStates: ['DC'] });
  });
  after(() => context.close());

  const lockWaiters = async () => {
    const { rows } = await context.db.query<{ count: number }>(
      `select count(*)::int as count from pg_stat_activity
        where datname = current_database() and wait_event_type = 'Lock'`,
    );
    return rows[0]!.count;
  };

  it('an UPDATE_PROFILE meeting an uncommitted assignment waits for it, then is refused', async () => {
    const email = 'identity.lock@example.com';
    const caseId = await intakeCase(context.app, org.apiKey, { email, state: 'DC' });
    const scope = new StaffScope('a test session', support.staffId, 'SUPPORT', [org.organizationId], []);
    let profile: Promise<{ statusCode: number; body: string }> | undefined;
    await context.db.transaction(async (tx) => {
      // The assignment's own read and lock (StaffCaseActions.act), then its change, not yet committed.
      const state = await new StaffCaseQueue(tx, scope).state(caseId, tx);
      assert.equal(state?.status, 'OPEN');
      await tx.query(
        `update cases set status = 'ASSIGNED', assignee_staff_id = $2, assigned_at = now(), version = version + 1
          where id = $1`,
        [caseId, provider.staffId],
      );
      profile = context.app.inject({
        method: 'POST',
        url: '/api/v1/users',
        headers: { 'cv-api-key': org.apiKey },
        payload: { action: 'UPDATE_PROFILE', data: { email, firstName: 'Changed' } },
      });
      if (process.env.TEST_DATABASE_URL) {
        // PostgreSQL: the request is on another connection; it must be waiting for the patient row's lock.
        await until(async () => (await lockWaiters()) > 0, 20_000, 'UPDATE_PROFILE waiting for the assignment');
      }
      // PGlite has one connection: the request's statements run after this transaction, as they would here.
    });
    const answer = await profile!;
    assert.equal(answer.statusCode, 400, answer.body);
    assert.match(JSON.parse(answer.body).message, /firstName can't be changed once a case is assigned/);
    const { rows } = await context.db.query<{ first_name: string }>(
      'select first_name from patients where organization_id = $1 and email = $2',
      [org.organizationId, email],
    );
    assert.notEqual(rows[0]!.first_name, 'Changed');
  });
});
