/**
 * The form-definition cache of the intake: a process that has read a form plans the next intake of it
 * without reading it again, and a form changed meanwhile (by another process) is read again, never
 * written from a stale definition.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { FastifyInstance } from 'fastify';
import { recordingDatabase, type RecordedStatement } from '../../bench/lib/sql-recorder.ts';
import { buildApp } from '../../src/app.ts';
import { createServices } from '../../src/services.ts';
import { createTestContext, type TestContext } from '../support/app.ts';
import { minimalBody } from './support.ts';

const TITLE = 'Cached Form';
const OTHER_TITLE = 'Cached Form, changed elsewhere';
const original = [
  { question: 'What is your current weight?', type: 'TEXT', required: true, answer: '150 lbs' },
  { question: 'Any allergies?', type: 'BOOLEAN', required: false, answer: 'false' },
];
const changed = [
  { question: 'What is your current weight?', type: 'TEXT', required: true, answer: '151 lbs' },
  { question: 'A question the other process adds', type: 'TEXT', required: false, answer: 'x' },
];

/** Another server process on the same database: services (and so caches) of its own; its SQL is recorded. */
async function secondProcess(context: TestContext): Promise<{ app: FastifyInstance; statements: RecordedStatement[] }> {
  const { db, statements } = recordingDatabase(context.db);
  const app = await buildApp({
    config: context.config,
    db,
    services: createServices(db, context.config),
    logger: false,
  });
  await app.ready();
  return { app, statements };
}

describe('the form-definition cache of the intake', () => {
  let context: TestContext;
  let apiKey: string;
  let organizationId: string;
  let counter = 0;
  const post = async (app: FastifyInstance, questions: object[], formTitle = TITLE) => {
    counter += 1;
    const response = await app.inject({
      method: 'POST',
      url: '/api/v1/dynamic-case',
      headers: { 'cv-api-key': apiKey },
      payload: minimalBody({ email: `cache-${counter}@example.com`, formTitle, questions }),
    });
    assert.equal(response.statusCode, 200, response.body);
    return response.json<{ data: { caseId: string } }>().data.caseId;
  };

  before(async () => {
    context = await createTestContext();
    ({ apiKey, organizationId } = await context.organization());
  });
  after(async () => context.close());

  it('plans the next intake of a form it has read without reading the form again', async () => {
    const { app, statements } = await secondProcess(context);
    try {
      const readsForm = ({ text }: RecordedStatement) => /from forms f\s+left join questions/.test(text);
      await post(app, original); // creates the form
      statements.length = 0;
      await post(app, original);
      assert.ok(statements.some(readsForm), 'the next intake reads the form it created');
      statements.length = 0;
      await post(app, original);
      assert.equal(statements.filter(readsForm).length, 0, 'the one after takes it from the cache');
      assert.ok(statements.some(({ text }) => text.includes('insert into cases')));
    } finally {
      await app.close();
    }
  });

  it('reads a form again when another process changed it, and writes against its current questions', async () => {
    const { app: first } = await secondProcess(context);
    const { app: second } = await secondProcess(context);
    try {
      await post(first, original, OTHER_TITLE);
      await post(first, original, OTHER_TITLE); // the first process now holds the form in its cache
      await post(second, changed, OTHER_TITLE); // the second redefines it: the first's cached definition is stale
      // The first's cache matches this request; the database does not.
      const caseId = await post(first, original, OTHER_TITLE);
      const { rows } = await context.db.query<{ question: string; retired: boolean }>(
        `select q.question, q.retired_at is not null as retired
           from cases c
           join form_responses r on r.case_id = c.id
           join answers a on a.form_response_id = r.id
           join questions q on q.id = a.question_id
          where c.organization_id = $1 and c.id = $2
          order by q.position`,
        [organizationId, caseId],
      );
      assert.deepEqual(rows, [
        { question: 'What is your current weight?', retired: false },
        { question: 'Any allergies?', retired: false },
      ]);
      const current = await context.db.query<{ question: string }>(
        `select q.question from questions q join forms f on f.id = q.form_id
          where f.organization_id = $1 and f.title = $2 and q.retired_at is null order by q.position`,
        [organizationId, OTHER_TITLE],
      );
      assert.deepEqual(
        current.rows.map((row) => row.question),
        original.map((question) => question.question),
        'the form is the one the last intake defined',
      );
    } finally {
      await first.close();
      await second.close();
    }
  });

  it('redefines a cached form whose options changed, even to as many options', async () => {
    const title = 'Cached Form with options';
    const select = (options: string[]) => [
      original[0]!,
      { question: 'Preferred visit type', type: 'SINGLESELECT', required: true, options, answer: 'Video' },
    ];
    const storedOptions = async () => {
      const { rows } = await context.db.query<{ options: string[] }>(
        `select q.options from questions q join forms f on f.id = q.form_id
          where f.organization_id = $1 and f.title = $2 and q.retired_at is null and q.type = 'SINGLESELECT'`,
        [organizationId, title],
      );
      return rows.map((row) => row.options);
    };
    await post(context.app, select(['Video', 'Phone', 'In person']), title);
    await post(context.app, select(['Video', 'Phone', 'In person']), title); // now cached
    await post(context.app, select(['Video', 'Phone', 'At home']), title);
    assert.deepEqual(await storedOptions(), [['Video', 'Phone', 'At home']]);
    await post(context.app, select(['Phone', 'Video', 'At home']), title);
    assert.deepEqual(await storedOptions(), [['Phone', 'Video', 'At home']], 'their order is part of the form');
  });
});
