/** The benchmark harness's own logic (no load, no timing): replay templating, percentiles, body templates. */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { casePayment, fileQuestion, intakeByTitle, UNIQUE } from '../../bench/lib/bodies.ts';
import { planOf, render, type Fresh } from '../../bench/lib/replay.ts';
import { isExplainable, type RecordedStatement } from '../../bench/lib/sql-recorder.ts';
import { fasterRun, median, summarizeLatencies } from '../../bench/lib/stats.ts';
import type { DatabaseCeilingResult } from '../../bench/ceilings/database.ts';
import type { BenchResults, Measurement } from '../../bench/lib/results.ts';
import { lifecycleSections } from '../../bench/report.ts';

const ORGANIZATION = '11111111-1111-4111-8111-111111111111';
const NEW_CASE = '22222222-2222-4222-8222-222222222222';
const NEW_ANSWER = '33333333-3333-4333-8333-333333333333';
const UNIQUE_TOKEN = 'recabc123';

const recorded: RecordedStatement[] = [
  {
    text: 'select 1 from cases where organization_id = $1 and idempotency_key = $2',
    params: [ORGANIZATION, `bench-${UNIQUE_TOKEN}`],
    transaction: null,
  },
  { text: 'insert into cases (id, organization_id) values ($1, $2)', params: [NEW_CASE, ORGANIZATION], transaction: 1 },
  {
    text: 'insert into answers (id, case_id, n) values ($1, $2, $3)',
    params: [[NEW_ANSWER], JSON.stringify([NEW_CASE.toUpperCase()]), 7],
    transaction: 1,
  },
  { text: 'insert into audit_events (id) values ($1)', params: [NEW_ANSWER], transaction: null },
];

const fresh = (unique: string): Fresh => ({ unique, uuids: new Map(), values: new Map() });

test('a replay keeps existing ids and constants, and renews fresh ids and the unique token consistently', () => {
  const segments = planOf(recorded, new Set([ORGANIZATION]), UNIQUE_TOKEN);
  assert.deepEqual(
    segments.map((segment) => [segment.transaction, segment.steps.length]),
    [
      [false, 1],
      [true, 2],
      [false, 1],
    ],
  );
  const first = fresh('one');
  const [lookup] = segments[0]!.steps.map((step) => render(step, first));
  assert.deepEqual(lookup, [ORGANIZATION, 'bench-one']);
  const [insertCase, insertAnswer] = segments[1]!.steps.map((step) => render(step, first));
  const caseId = insertCase![0] as string;
  assert.notEqual(caseId, NEW_CASE);
  assert.equal(insertCase![1], ORGANIZATION);
  const answerIds = insertAnswer![0] as string[];
  assert.notEqual(answerIds[0], NEW_ANSWER, 'ids inside array parameters are renewed');
  assert.deepEqual(
    JSON.parse(insertAnswer![1] as string),
    [caseId],
    'the same fresh id everywhere in one replay (any case)',
  );
  assert.equal(insertAnswer![2], 7);
  assert.deepEqual(render(segments[2]!.steps[0]!, first), [answerIds[0]]);

  const second = fresh('two');
  const [secondCase] = segments[1]!.steps.map((step) => render(step, second));
  assert.notEqual(secondCase![0], caseId, 'each replay has new ids');
});

test('a replay draws a new value for every recorded fresh value, the same one everywhere in that replay', () => {
  const shortId = 'ADA-TOSXM';
  const statements: RecordedStatement[] = [
    {
      text: 'insert into cases (id, organization_id, short_id) values ($1, $2, $3)',
      params: [NEW_CASE, ORGANIZATION, shortId],
      transaction: null,
    },
    {
      text: 'insert into case_events (case_id, after) values ($1, $2)',
      params: [NEW_CASE, JSON.stringify({ status: 'OPEN', shortId })],
      transaction: null,
    },
  ];
  let drawn = 0;
  const draw = () => `NEW-${String.fromCharCode(65 + drawn++).repeat(5)}`;
  const [segment] = planOf(statements, new Set([ORGANIZATION]), UNIQUE_TOKEN, new Map([[shortId, draw]]));
  const first = fresh('one');
  const [insertCase, insertEvent] = segment!.steps.map((step) => render(step, first));
  assert.equal(insertCase![2], 'NEW-AAAAA');
  assert.equal((JSON.parse(insertEvent![1] as string) as { shortId: string }).shortId, 'NEW-AAAAA');
  const second = fresh('two');
  const [secondCase] = segment!.steps.map((step) => render(step, second));
  assert.equal(secondCase![2], 'NEW-BBBBB', 'each replay draws its own');
  assert.equal(drawn, 2);
});

test('latency percentiles are nearest-rank', () => {
  const latencies = Array.from({ length: 1000 }, (_, index) => index + 1);
  assert.deepEqual(summarizeLatencies(latencies), { p50: 500, p99: 990, p99_9: 999, mean: 500.5, max: 1000 });
  assert.deepEqual(summarizeLatencies([]), { p50: 0, p99: 0, p99_9: 0, mean: 0, max: 0 });
  assert.equal(median([3, 1, 2]), 2);
  assert.equal(median([4, 1, 2, 3]), 2.5);
});

test('request bodies carry the unique token in the email and the idempotency key, and a real PDF', () => {
  const intake = JSON.parse(
    intakeByTitle('Form', [fileQuestion(1024)])
      .split(UNIQUE)
      .join('x1'),
  ) as {
    email: string;
    idempotencyKey: string;
    questions: { type: string; answer: unknown }[];
  };
  assert.equal(intake.email, 'bench-x1@example.com');
  assert.equal(intake.idempotencyKey, 'bench-x1');
  assert.equal(intake.questions.length, 7);
  const file = intake.questions.find((question) => question.type === 'FILE')!.answer as { data: string }[];
  const content = Buffer.from(file[0]!.data, 'base64');
  assert.equal(content.length, 1024);
  assert.equal(content.subarray(0, 5).toString('latin1'), '%PDF-');
  assert.ok(casePayment(true).includes(UNIQUE));
  assert.ok(isExplainable(' select id from cases'));
  assert.ok(!isExplainable('select 1'));
  assert.ok(!isExplainable('begin'));
});

test('a ceiling measured twice is the faster run, with both rates; a failed run counts only when both failed', () => {
  const run = (requestsPerSecond: number) => ({ available: true as const, requestsPerSecond, note: requestsPerSecond });
  const failed = (reason: string) => ({ available: false as const, reason });
  assert.deepEqual(fasterRun(run(600), run(900)), { ...run(900), runsPerSecond: [600, 900] });
  assert.deepEqual(fasterRun(run(900), run(600)), { ...run(900), runsPerSecond: [900, 600] });
  assert.deepEqual(fasterRun(failed('down'), run(700)), run(700));
  assert.deepEqual(fasterRun(run(700), failed('down')), run(700));
  assert.deepEqual(fasterRun(failed('first'), failed('second')), failed('first'));
});

test('the report sets each read against its own ceiling and the intake with a webhook against the one without', () => {
  const measurement = (okPerSecond: number, p99: number, targetRate?: number) =>
    ({
      okPerSecond,
      latencyMs: { p50: 1, p99, p99_9: p99, mean: 1, max: p99 },
      ...(targetRate ? { targetRate } : {}),
    }) as Measurement;
  const ceiling = (requestsPerSecond: number) =>
    ({
      available: true,
      requestsPerSecond,
      latencyMs: { p50: 1, p99: 5, p99_9: 6, mean: 1, max: 7 },
    }) as DatabaseCeilingResult;
  const results = {
    options: { connections: 16 },
    engines: [
      {
        engine: 'postgres',
        scenarios: [
          {
            id: 'case-detail',
            label: 'detail',
            status: 'ok',
            concurrency: measurement(700, 20),
            databaseCeiling: ceiling(1000),
          },
          {
            id: 'case-list-20',
            label: 'list 20',
            status: 'ok',
            existingCases: 20,
            concurrency: measurement(300, 30),
            databaseCeiling: ceiling(400),
          },
          {
            id: 'case-list-1000020',
            label: 'list 1M',
            status: 'ok',
            existingCases: 1_000_020,
            concurrency: measurement(290, 40),
            databaseCeiling: ceiling(390),
          },
          {
            id: 'intake-webhook',
            label: 'webhook',
            status: 'ok',
            concurrency: measurement(900, 30),
            rate: measurement(500, 30, 500),
            webhooks: {
              deliveries: 9000,
              deliveriesPerSecond: 880,
              overallDeliveriesPerSecond: 870,
              drainSeconds: 0.4,
              intakeWithoutEndpointPerSecond: 1000,
              rateLagMs: { p50: 150, p99: 400, max: 500, count: 5000 },
            },
          },
        ],
      },
    ],
  } as unknown as BenchResults;
  const text = lifecycleSections(results).join('\n');
  assert.match(text, /PostgreSQL case detail ≥ 60% of its ceiling: 70%, met; p99 < 25 ms: 20 ms, met/);
  assert.match(text, /from 20 to 1,000,020 cases: 30 → 40 ms \(\+33%\), not met/);
  assert.match(
    text,
    /lag p99 < 1 s at half the intake's maximum: 400 ms, met; the intake loses at most 15% with the endpoint: 10%, met/,
  );
  assert.match(text, /\| PostgreSQL \| 1000 \| 900 \| -10% \| 880 \| 0.4 s \| 150 \| 400 \| 500 \|/);
});
