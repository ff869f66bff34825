import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import type { FastifyInstance } from 'fastify';
import { buildApp } from '../../src/app.ts';
import { loadConfig } from '../../src/config.ts';
import type { Database } from '../../src/db/database.ts';
import { OrganizationService } from '../../src/modules/organizations/service.ts';
import { createServices } from '../../src/services.ts';
import { freshDatabase } from '../support/database.ts';
import { startServer, type RunningServer } from '../support/server-process.ts';
import { PHI_ENCRYPTION_KEY } from './support.ts';

/**
 * Two servers on one database under parallel requests that race for the same rows: one idempotency
 * key, one new patient email, one new form title. With TEST_DATABASE_URL: two server PROCESSES on one
 * PostgreSQL schema, over real sockets. Without it: two app instances in this process on one PGlite
 * database, their requests interleaved (PGlite has one connection, so this checks the application's
 * logic under interleaving, not PostgreSQL's locks; CI runs the PostgreSQL variant too).
 */

type Send = (
  server: number,
  method: string,
  url: string,
  body?: unknown,
) => Promise<{ status: number; json: AnswerBody }>;

/** The parts of the answers these tests read. */
interface AnswerBody {
  data?: { caseId?: string };
}

/** Racing requests per check; CONCURRENCY_PARALLEL=200 for a heavier local run. */
const PARALLEL = Number(process.env.CONCURRENCY_PARALLEL ?? (process.env.TEST_DATABASE_URL ? 40 : 20));

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

describe(`two servers on one ${process.env.TEST_DATABASE_URL ? 'PostgreSQL schema (two processes)' : 'PGlite database (one process)'}`, () => {
  let db: Database;
  let drop: () => Promise<void>;
  let send: Send;
  let apiKey: string;
  let organizationId: string;
  const servers: RunningServer[] = [];
  const apps: FastifyInstance[] = [];
  const statuses: number[] = [];

  before(async () => {
    const fresh = await freshDatabase();
    db = fresh.db;
    drop = fresh.drop;
    ({ apiKey, organizationId } = await new OrganizationService(db).createOrganization('Racing organization'));
    const environment = { PHI_ENCRYPTION_KEY, RATE_LIMIT_PER_KEY: '0', RATE_LIMIT_PER_ADDRESS: '0' };
    if (fresh.url) {
      for (let index = 0; index < 2; index += 1) {
        servers.push(await startServer({ ...environment, DATABASE_URL: fresh.url, DATABASE_POOL_SIZE: '10' }));
      }
      send = async (server, method, url, body) => {
        const response = await fetch(`${servers[server]!.url}${url}`, {
          method,
          headers: { 'cv-api-key': apiKey, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
          ...(body === undefined ? {} : { body: JSON.stringify(body) }),
        });
        return { status: response.status, json: (await response.json()) as AnswerBody };
      };
    } else {
      const config = loadConfig({ ...environment, LOG_LEVEL: 'silent' });
      for (let index = 0; index < 2; index += 1) {
        const app = await buildApp({ config, db, services: createServices(db, config), logger: false });
        await app.ready();
        apps.push(app);
      }
      send = async (server, method, url, body) => {
        const response = await apps[server]!.inject({
          method: method as 'POST',
          url,
          headers: { 'cv-api-key': apiKey, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
          ...(body === undefined ? {} : { payload: JSON.stringify(body) }),
        });
        return { status: response.statusCode, json: response.json<AnswerBody>() };
      };
    }
  });
  after(async () => {
    for (const server of servers) await server.stop();
    for (const app of apps) await app.close();
    await drop();
  });

  /** The same request, PARALLEL times, alternating between the two servers. */
  const race = async (method: string, url: string, body: (index: number) => unknown) => {
    const results = await Promise.all(
      Array.from({ length: PARALLEL }, (_, index) => send(index % 2, method, url, body(index))),
    );
    statuses.push(...results.map((result) => result.status));
    return results;
  };

  const count = async (sql: string, params: unknown[]) =>
    (await db.query<{ n: number }>(`select count(*)::int as n from (${sql}) x`, params)).rows[0]!.n;

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
    const caseIds = new Set(results.map((result) => result.json.data?.caseId));
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
    const created = await send(
      0,
      'POST',
      '/api/v1/dynamic-case',
      intakeBody({ email: 'payer@example.com', formTitle: 'Pay' }),
    );
    assert.equal(created.status, 200);
    const caseId = created.json.data!.caseId!;
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
});
