import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { OrganizationService } from '../../src/modules/organizations/service.ts';
import { startTwoServers, usesPostgres, type RaceAnswer, type TwoServers } from '../support/two-servers.ts';

/**
 * Two servers on one database under parallel requests that race for the same rows: one idempotency
 * key, one new patient email, one new form title. With TEST_DATABASE_URL: two server PROCESSES on one
 * PostgreSQL schema, over real sockets. Without it: two app instances in this process on one PGlite
 * database, their requests interleaved (test/support/two-servers.ts). Every answer must keep its route's
 * response schema.
 */

/** Racing requests per check; CONCURRENCY_PARALLEL=200 for a heavier local run. */
const PARALLEL = Number(process.env.CONCURRENCY_PARALLEL ?? (usesPostgres ? 40 : 20));

function intakeBody(overrides: Record<string, unknown>): Record<string, unknown> {
  return {
    firstName: 'Race',
    lastName: 'Condition',
    questions: [
      { question: 'What is your current weight?', type: 'TEXT', required: true, answer: '170 lbs' },
      { question: 'Allergies', type: 'TEXT', required: false, phi: true, answer: 'none' },
    ],
    ...overrides,
  };
}

describe(`two servers on one ${usesPostgres ? 'PostgreSQL schema (two processes)' : 'PGlite database (one process)'}`, () => {
  let servers: TwoServers;
  let apiKey: string;
  let organizationId: string;
  const statuses: number[] = [];

  before(async () => {
    servers = await startTwoServers();
    ({ apiKey, organizationId } = await new OrganizationService(servers.db).createOrganization('Racing organization'));
  });
  after(() => servers.close());

  /** The same request, PARALLEL times, alternating between the two servers. */
  const race = async (method: 'POST', url: string, body: (index: number) => unknown): Promise<RaceAnswer[]> => {
    const results = await servers.race(PARALLEL, (index) => ({ method, url, apiKey, body: body(index) }));
    statuses.push(...results.map((result) => result.status));
    return results;
  };

  const count = async (sql: string, params: unknown[]) =>
    (await servers.db.query<{ n: number }>(`select count(*)::int as n from (${sql}) x`, params)).rows[0]!.n;

  it(`${PARALLEL} intakes with one idempotencyKey: exactly one case, the others 409`, async () => {
    const key = `race-${randomUUID()}`;
    const results = await race('POST', '/api/v1/dynamic-case', () =>
      intakeBody({ idempotencyKey: key, email: 'first.racer@example.com', formTitle: 'Race form one' }),
    );
    const statusCounts = results.reduce<Record<number, number>>(
      (counts, result) => ({ ...counts, [result.status]: (counts[result.status] ?? 0) + 1 }),
      {},
    );
    assert.deepEqual(statusCounts, { 200: 1, 409: PARALLEL - 1 });
    assert.equal(
      await count('select 1 from cases where organization_id = $1 and idempotency_key = $2', [organizationId, key]),
      1,
    );
    assert.equal(await count('select 1 from form_responses where organization_id = $1', [organizationId]), 1);
  });

  it(`${PARALLEL} intakes (distinct keys) for one new patient email and one new form title: one patient, one form`, async () => {
    const email = `new.patient.${randomUUID().slice(0, 8)}@example.com`;
    const title = `Race form ${randomUUID()}`;
    const results = await race('POST', '/api/v1/dynamic-case', (index) =>
      intakeBody({ idempotencyKey: `distinct-${index}-${randomUUID()}`, email, formTitle: title }),
    );
    assert.deepEqual(
      results.filter((result) => result.status !== 200),
      [],
    );
    assert.equal(
      await count('select 1 from patients where organization_id = $1 and email = $2', [organizationId, email]),
      1,
    );
    assert.equal(
      await count('select 1 from forms where organization_id = $1 and title = $2', [organizationId, title]),
      1,
    );
    const caseIds = new Set(results.map((result) => result.json.data?.caseId as string));
    assert.equal(caseIds.size, PARALLEL);
    // One current question per text and type: the racing intakes did not duplicate the form's questions.
    assert.equal(
      await count(
        `select q.form_id from questions q join forms f on f.id = q.form_id
          where f.title = $1 and q.retired_at is null group by q.form_id, q.question, q.type having count(*) > 1`,
        [title],
      ),
      0,
    );
    assert.equal(
      await count(
        `select 1 from questions q join forms f on f.id = q.form_id where f.title = $1 and q.retired_at is null`,
        [title],
      ),
      2,
    );
  });

  it(`${PARALLEL} case payments with one idempotencyKey: exactly one payment, the others 409`, async () => {
    const created = await servers.send(0, {
      method: 'POST',
      url: '/api/v1/dynamic-case',
      apiKey,
      body: intakeBody({ email: 'payer@example.com', formTitle: 'Pay' }),
    });
    assert.equal(created.status, 200);
    const caseId: string = created.json.data.caseId;
    const key = `pay-${randomUUID()}`;
    const results = await race('POST', `/api/v1/cases/${caseId}/payments`, () => ({ amount: 42, idempotencyKey: key }));
    assert.equal(
      results.filter((result) => result.status === 200).length,
      1,
      JSON.stringify(results.map((r) => r.status)),
    );
    assert.equal(results.filter((result) => result.status === 409).length, PARALLEL - 1);
    assert.equal(await count('select 1 from case_payments where case_id = $1', [caseId]), 1);
  });

  it('answered every racing request without a 5xx (no deadlock, no unique violation escaping)', () => {
    assert.ok(statuses.length >= PARALLEL * 3);
    assert.deepEqual(
      statuses.filter((status) => status >= 500),
      [],
    );
  });

  it("kept every answer in its route's response schema", () => {
    assert.deepEqual(servers.brokenAnswers(), []);
  });
});
