/**
 * The case list's page statement keeps one plan for every request in a large organization: PostgreSQL plans a
 * prepared statement for its values five times, then keeps its generic plan only when that plan's estimate is no
 * dearer. The page's `limit $6` alone made the generic plan's estimate a tenth of the organization's cases, so
 * PostgreSQL planned the page again at every request (docs/performance.md). PostgreSQL only (its plan cache; CI
 * runs it in both passes): a session of its own counts the plans of the named statement it prepares.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import pg from 'pg';
import { intakeWithTwoPhi, UNIQUE } from '../../bench/lib/bodies.ts';
import { seedCaseClones } from '../../bench/lib/seed-series.ts';
import type { Queryable } from '../../src/db/database.ts';
import { Tenant } from '../../src/http/gate.ts';
import { CaseReadRepository } from '../../src/modules/cases/lifecycle/read-repository.ts';
import { createTestContext, type TestContext } from '../support/app.ts';

const DAY = 86_400_000;
/** Seeded cases; the planner is then told the organization holds STATISTICS_CASES. */
const CASES = 5000;
/**
 * What the planner believes the table holds: a large organization's statistics without writing it (seeding a
 * million cases takes minutes). PostgreSQL scales a table's row estimate by its current size, so raising
 * `reltuples` raises the estimate in proportion.
 */
const STATISTICS_CASES = 1_000_000;

describe('the case list page at scale (PostgreSQL)', () => {
  let context: TestContext;
  let organizationId: string;

  before(async () => {
    context = await createTestContext({ RATE_LIMIT_PER_KEY: '0', RATE_LIMIT_PER_ADDRESS: '0' }, undefined, {
      postgres: true,
    });
    const created = await context.organization('List plan test');
    organizationId = created.organizationId;
    const intake = await context.app.inject({
      method: 'POST',
      url: '/api/v1/dynamic-case',
      headers: { 'cv-api-key': created.apiKey, 'content-type': 'application/json' },
      payload: intakeWithTwoPhi('List plan form').split(UNIQUE).join('template'),
    });
    assert.equal(intake.statusCode, 200, intake.body);
    const templateCaseId = intake.json<{ data: { caseId: string } }>().data.caseId;
    const now = Date.now();
    await seedCaseClones(context.db, {
      templateCaseId,
      count: CASES,
      from: new Date(now - 50 * DAY),
      to: new Date(now - DAY),
    });
    await context.db.query(`analyze cases`);
    await context.db.query(`update pg_class set reltuples = $1 where oid = 'cases'::regclass`, [STATISTICS_CASES]);
  });
  after(async () => {
    await context?.close();
  });

  it('runs the page on its generic plan after the first five executions', async () => {
    // The statement and values the repository sends for a first page of 20.
    let sent: { text: string; values: unknown[] } | undefined;
    const capture = {
      query: (text: string, values: unknown[]) => {
        sent = { text, values };
        return Promise.resolve({ rows: [] });
      },
    } as unknown as Queryable;
    const now = Date.now();
    await new CaseReadRepository(capture, Tenant.forOperator(organizationId, 'a test')).listPage(
      { startTime: new Date(now - 59 * DAY), endTime: new Date(now), statuses: undefined, after: undefined, limit: 21 },
      { internalNotes: false, files: false },
    );
    assert.ok(sent);

    const client = new pg.Client({ connectionString: context.url });
    await client.connect();
    try {
      for (let execution = 0; execution < 10; execution++) {
        const page: pg.QueryResult = await client.query({ name: 'list_page', text: sent.text, values: sent.values });
        assert.equal(page.rows.length, 21);
      }
      const { rows } = await client.query<{ generic_plans: string; custom_plans: string }>(
        `select generic_plans, custom_plans from pg_prepared_statements where name = 'list_page'`,
      );
      assert.deepEqual(rows, [{ generic_plans: '5', custom_plans: '5' }]);
    } finally {
      await client.end();
    }
  });
});
