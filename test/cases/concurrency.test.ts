import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import {
  SEED_CONFLICT_BODY,
  count,
  formTitleExample,
  intakeTestContext,
  postIntake,
  type TestContext,
} from './support.ts';

// On PostgreSQL (TEST_DATABASE_URL) the 50 requests really run concurrently over a pool; on PGlite
// they are serialized by the single connection. Either way the unique index decides.
describe('idempotency under concurrency', () => {
  let context: TestContext;
  let apiKey: string;
  let organizationId: string;

  before(async () => {
    context = await intakeTestContext();
    ({ apiKey, organizationId } = await context.organization());
  });
  after(() => context.close());

  it('50 concurrent requests with one idempotencyKey create exactly one case; 49 get the 409 body', async () => {
    const body = { ...formTitleExample(), idempotencyKey: 'concurrent-key' };
    const results = await Promise.all(Array.from({ length: 50 }, () => postIntake(context, apiKey, body)));
    const successes = results.filter((result) => result.status === 200);
    const conflicts = results.filter((result) => result.status === 409);
    assert.equal(successes.length, 1, JSON.stringify(results.filter((result) => result.status !== 409)));
    assert.equal(conflicts.length, 49);
    for (const conflict of conflicts) assert.deepEqual(conflict.body, SEED_CONFLICT_BODY);
    assert.equal(await count(context, 'cases', organizationId), 1);
    assert.equal(await count(context, 'form_responses', organizationId), 1);
    assert.equal(await count(context, 'patients', organizationId), 1);
    const { rows } = await context.db.query<{ id: string }>(
      'select id from cases where organization_id = $1 and idempotency_key = $2',
      [organizationId, 'concurrent-key'],
    );
    assert.deepEqual(rows, [{ id: successes[0]!.body.data!.caseId }]);
  });

  it('concurrent intakes for one new patient and one new form (distinct keys) all succeed, sharing both', async () => {
    const results = await Promise.all(
      Array.from({ length: 10 }, (_, index) =>
        postIntake(context, apiKey, {
          ...formTitleExample(),
          email: 'same.patient@example.com',
          formTitle: 'Concurrent Form',
          idempotencyKey: `distinct-${index}`,
        }),
      ),
    );
    assert.deepEqual(
      results.map((result) => result.status),
      Array.from({ length: 10 }, () => 200),
    );
    const { rows } = await context.db.query<{ patients: number; forms: number }>(
      `select count(distinct c.patient_id)::int as patients, count(distinct r.form_id)::int as forms
         from cases c join form_responses r on r.case_id = c.id
        where c.organization_id = $1 and c.idempotency_key like 'distinct-%'`,
      [organizationId],
    );
    assert.deepEqual(rows, [{ patients: 1, forms: 1 }]);
  });
});
