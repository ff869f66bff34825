/**
 * The case list's page statement keeps one plan for every request in a large organization: PostgreSQL plans a
 * prepared statement for its values five times, then keeps its generic plan only when that plan's estimate is no
 * dearer. The page's `limit $6` alone made the generic plan's estimate a tenth of the organization's cases, so
 * PostgreSQL planned the page again at every request (docs/performance.md). PostgreSQL only (its plan cache; CI
 * runs it in both passes): a session of its own counts the plans of the named statement it prepares.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { FastifyInstance } from 'fastify';
import pg from 'pg';
import { intakeWithTwoPhi, UNIQUE } from '../../bench/lib/bodies.ts';
import { seedCaseClones } from '../../bench/lib/seed-series.ts';
import { buildApp } from '../../src/app.ts';
import { loadConfig } from '../../src/config.ts';
import type { Database, Queryable } from '../../src/db/database.ts';
import { Tenant } from '../../src/http/gate.ts';
import { CaseReadRepository } from '../../src/modules/cases/lifecycle/read-repository.ts';
import { ADMIN_TOKEN } from '../support/app.ts';
import { freshDatabase } from '../support/database.ts';

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
  let database: { db: Database; url?: string; drop: () => Promise<void> };
  let app: FastifyInstance;
  let organizationId: string;

  before(async () => {
    database = await freshDatabase({ postgres: true });
    const config = loadConfig({
      ADMIN_TOKEN,
      LOG_LEVEL: 'silent',
      RATE_LIMIT_PER_KEY: '0',
      RATE_LIMIT_PER_ADDRESS: '0',
      PHI_ENCRYPTION_KEY: 'c'.repeat(64),
    });
    app = await buildApp({ config, db: database.db, logger: false });
    await app.ready();
    const created = await app.inject({
      method: 'POST',
      url: '/admin/v1/organizations',
      headers: { authorization: `Bearer ${ADMIN_TOKEN}` },
      payload: { name: 'List plan test' },
    });
    assert.equal(created.statusCode, 201, created.body);
    const { apiKey } = created.json<{ apiKey: string }>();
    organizationId = created.json<{ organizationId: string }>().organizationId;
    const intake = await app.inject({
      method: 'POST',
      url: '/api/v1/dynamic-case',
      headers: { 'cv-api-key': apiKey, 'content-type': 'application/json' },
      payload: intakeWithTwoPhi('List plan form').split(UNIQUE).join('template'),
    });
    assert.equal(intake.statusCode, 200, intake.body);
    const templateCaseId = intake.json<{ data: { caseId: string } }>().data.caseId;
    const now = Date.now();
    await seedCaseClones(database.db, {
      templateCaseId,
      count: CASES,
      from: new Date(now - 50 * DAY),
      to: new Date(now - DAY),
    });
    await database.db.query(`analyze cases`);
    await database.db.query(`update pg_class set reltuples = $1 where oid = 'cases'::regclass`, [STATISTICS_CASES]);
  });
  after(async () => {
    await app?.close();
    await database?.drop();
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

    const client = new pg.Client({ connectionString: database.url });
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
