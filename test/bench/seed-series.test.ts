/**
 * The case list benchmark's seeding (bench/lib/seed-series.ts): copies of a real case written by SQL read
 * back through the API like the case they copy (answers, PHI decrypted), with short ids of their own, inside
 * the time range asked for. Runs on the suite's engine (PGlite, or PostgreSQL with TEST_DATABASE_URL).
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { intakeWithTwoPhi, UNIQUE } from '../../bench/lib/bodies.ts';
import { seedCaseClones } from '../../bench/lib/seed-series.ts';
import { SHORT_ID_PATTERN } from '../../src/modules/cases/lifecycle/short-id.ts';
import { createTestContext, type TestContext } from '../support/app.ts';

const DAY = 86_400_000;

let context: TestContext;
let apiKey: string;

interface ListedCase {
  id: string;
  shortId: string;
  createdAt: string;
  responses: { responses: { question: { text: string; isPHI: boolean }; answer: unknown }[] }[];
}

const get = (url: string) => context.app.inject({ method: 'GET', url, headers: { 'cv-api-key': apiKey } });

before(async () => {
  context = await createTestContext({ RATE_LIMIT_PER_KEY: '0', RATE_LIMIT_PER_ADDRESS: '0' });
  apiKey = (await context.organization('Seed series test')).apiKey;
});

after(async () => {
  await context?.close();
});

test('copies of a case read back as that case, each with its own short id, within the range', async () => {
  const intake = await context.app.inject({
    method: 'POST',
    url: '/api/v1/dynamic-case',
    headers: { 'cv-api-key': apiKey, 'content-type': 'application/json' },
    payload: intakeWithTwoPhi('Seed series form').split(UNIQUE).join('template'),
  });
  assert.equal(intake.statusCode, 200, intake.body);
  const templateCaseId = intake.json<{ data: { caseId: string } }>().data.caseId;
  const template = await get(`/api/v1/customer-case-detail?caseId=${templateCaseId}`);
  assert.equal(template.statusCode, 200, template.body);
  const templateAnswers = template.json<{ caseDetail: ListedCase }>().caseDetail.responses[0]!.responses;
  assert.equal(templateAnswers.filter((answer) => answer.question.isPHI).length, 2);

  const now = Date.now();
  const from = new Date(now - 10 * DAY);
  const to = new Date(now - DAY);
  // Two chunks and a remainder: the chunks must join up (no gaps, no repeats).
  await seedCaseClones(context.db, { templateCaseId, count: 25, from, to, chunk: 10 });

  const listed: ListedCase[] = [];
  let after: string | undefined;
  const range = `startTime=${new Date(now - 20 * DAY).toISOString()}&endTime=${new Date(now + DAY).toISOString()}`;
  for (let page = 0; page < 5; page += 1) {
    const response = await get(`/api/v1/cases?${range}&recordsPerPage=10${after ? `&after=${after}` : ''}`);
    assert.equal(response.statusCode, 200, response.body);
    const body = response.json<{ cases: ListedCase[]; pageInfo: { cursor: { end: string }; hasNextPage: boolean } }>();
    listed.push(...body.cases);
    if (!body.pageInfo.hasNextPage) break;
    after = body.pageInfo.cursor.end;
  }
  assert.equal(listed.length, 26, 'the template and its 25 copies');
  assert.equal(new Set(listed.map((listedCase) => listedCase.id)).size, 26);
  const shortIds = listed.map((listedCase) => listedCase.shortId);
  assert.equal(new Set(shortIds).size, 26, 'short ids are unique');
  for (const shortId of shortIds) assert.match(shortId, SHORT_ID_PATTERN);

  const copies = listed.filter((listedCase) => listedCase.id !== templateCaseId);
  assert.equal(copies.length, 25);
  for (const copy of copies) {
    const createdAt = Date.parse(copy.createdAt);
    assert.ok(createdAt >= from.getTime() && createdAt < to.getTime(), `${copy.createdAt} is in the range`);
    const answers = copy.responses[0]!.responses;
    assert.deepEqual(
      answers.map((answer) => [answer.question.text, answer.answer]),
      templateAnswers.map((answer) => [answer.question.text, answer.answer]),
      'the same answers, PHI decrypted',
    );
  }
});
