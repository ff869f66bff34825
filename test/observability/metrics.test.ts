import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { createServer } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { buildApp } from '../../src/app.ts';
import { loadConfig } from '../../src/config.ts';
import { observeDatabase, statementSummary } from '../../src/observability/database.ts';
import { observeGateways } from '../../src/observability/gateways.ts';
import { startObservability } from '../../src/observability/index.ts';
import { formTitleExample, intakeTestContext, type TestContext } from '../cases/support.ts';

const METRICS_TOKEN = 'metrics-token-0123456789abcdef';

async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  await new Promise((resolve) => server.close(resolve));
  return port;
}

/** The samples of one metric as `{labels, value}`, from the Prometheus text format. */
function samples(text: string, name: string): { labels: Record<string, string>; value: number }[] {
  return text
    .split('\n')
    .filter((line) => line.startsWith(`${name}{`) || line.startsWith(`${name} `))
    .map((line) => {
      const match = /^[^{ ]+(?:\{(.*)\})? (\S+)$/.exec(line)!;
      const labels = Object.fromEntries(
        [...(match[1] ?? '').matchAll(/(\w+)="((?:[^"\\]|\\.)*)"/g)].map((pair) => [pair[1]!, pair[2]!]),
      );
      return { labels, value: Number(match[2]) };
    });
}

function sample(text: string, name: string, labels: Record<string, string>): number | undefined {
  return samples(text, name).find((candidate) =>
    Object.entries(labels).every(([key, value]) => candidate.labels[key] === value),
  )?.value;
}

describe('GET /metrics without METRICS_TOKEN or METRICS_PORT', () => {
  let context: TestContext;
  before(async () => (context = await intakeTestContext()));
  after(() => context.close());

  it('is not found, with or without a bearer token', async () => {
    for (const headers of [{}, { authorization: `Bearer ${METRICS_TOKEN}` }]) {
      const response = await context.app.inject({ method: 'GET', url: '/metrics', headers });
      assert.equal(response.statusCode, 404);
    }
  });

  it('measures nothing: no metrics, no tracer, the database and gateways left as they are', async () => {
    const observability = await startObservability(context.config.observability);
    assert.equal(observability.metrics, undefined);
    assert.equal(observability.tracer, undefined);
    assert.equal(observeDatabase(context.db, observability), context.db);
    assert.equal(observeGateways(context.services.gateways, observability), context.services.gateways);
  });
});

describe('GET /metrics with METRICS_TOKEN', () => {
  let context: TestContext;
  let apiKey: string;
  let organizationId: string;
  const email = `metrics-${randomUUID()}@example.com`;
  const phiAnswer = `phi-${randomUUID()}`;
  const idempotencyKey = `metrics-${randomUUID()}`;
  let caseId: string;
  const unknownCaseId = randomUUID();
  const unmatchedSegment = `nothing-${randomUUID()}`;

  before(async () => {
    context = await intakeTestContext({ METRICS_TOKEN });
    ({ apiKey, organizationId } = await context.organization());
    const body = formTitleExample();
    body.email = email;
    body.idempotencyKey = idempotencyKey;
    (body.questions as Record<string, unknown>[]).push({
      question: 'Medical history',
      type: 'TEXT',
      required: true,
      phi: true,
      answer: phiAnswer,
    });
    const intake = await context.app.inject({
      method: 'POST',
      url: '/api/v1/dynamic-case',
      headers: { 'cv-api-key': apiKey },
      payload: body,
    });
    assert.equal(intake.statusCode, 200, intake.body);
    caseId = intake.json().data.caseId;
    const setup = await context.app.inject({
      method: 'POST',
      url: '/api/v1/payments/setup',
      headers: { 'cv-api-key': apiKey },
      payload: {},
    });
    assert.equal(setup.statusCode, 200, setup.body);
    const foreign = await context.app.inject({
      method: 'POST',
      url: `/api/v1/cases/${unknownCaseId}/payments`,
      headers: { 'cv-api-key': apiKey },
      payload: { amount: 10 },
    });
    assert.equal(foreign.statusCode, 404, foreign.body);
    const unmatched = await context.app.inject({ method: 'GET', url: `/api/v1/${unmatchedSegment}?q=1` });
    assert.equal(unmatched.statusCode, 404);
    await context.services.audit.flush();
  });
  after(() => context.close());

  const scrape = () =>
    context.app.inject({ method: 'GET', url: '/metrics', headers: { authorization: `Bearer ${METRICS_TOKEN}` } });

  it('answers 401 without the token or with another one', async () => {
    for (const headers of [
      {},
      { authorization: `Bearer ${METRICS_TOKEN}x` },
      { authorization: `Basic ${METRICS_TOKEN}` },
      { authorization: 'Bearer ' },
    ]) {
      const response = await context.app.inject({ method: 'GET', url: '/metrics', headers });
      assert.equal(response.statusCode, 401, JSON.stringify(headers));
      assert.deepEqual(response.json(), { status: 401, success: false, error: 'Unauthorized' });
    }
  });

  it('serves the Prometheus text format to the bearer of the token', async () => {
    const response = await scrape();
    assert.equal(response.statusCode, 200);
    assert.match(response.headers['content-type'] as string, /^text\/plain; version=0\.0\.4/);
    assert.match(response.body, /# TYPE care360_http_request_duration_seconds histogram/);
  });

  it('counts requests by route template, method and status, never by URL', async () => {
    const text = (await scrape()).body;
    const count = 'care360_http_request_duration_seconds_count';
    assert.equal(sample(text, count, { method: 'POST', route: '/api/v1/dynamic-case', status_code: '200' }), 1);
    assert.equal(sample(text, count, { method: 'POST', route: '/api/v1/payments/setup', status_code: '200' }), 1);
    assert.equal(
      sample(text, count, { method: 'POST', route: '/api/v1/cases/:caseId/payments', status_code: '404' }),
      1,
    );
    assert.equal(sample(text, count, { method: 'GET', route: 'unmatched', status_code: '404' }), 1);
    const buckets = samples(text, 'care360_http_request_duration_seconds_bucket').filter(
      (one) => one.labels.route === '/api/v1/dynamic-case',
    );
    assert.ok(buckets.length >= 10, 'a latency histogram with its buckets');
    assert.equal(buckets.find((one) => one.labels.le === '+Inf')?.value, 1);
  });

  it('measures SQL statements by summary, payment gateway calls, the audit backlog and the process', async () => {
    const text = (await scrape()).body;
    const statements = samples(text, 'care360_db_query_duration_seconds_count').map((one) => one.labels.statement);
    assert.ok(statements.includes('insert audit_events'), statements.join(', '));
    assert.ok(statements.includes('insert gateway_intents'), statements.join(', '));
    assert.ok(
      (sample(text, 'care360_db_query_duration_seconds_count', { statement: 'insert audit_events', outcome: 'ok' }) ??
        0) >= 1,
    );
    assert.equal(
      sample(text, 'care360_payment_gateway_request_duration_seconds_count', {
        gateway: 'simulated',
        operation: 'createSetupIntent',
        outcome: 'ok',
      }),
      1,
    );
    assert.equal(sample(text, 'care360_audit_backlog_events', {}), 0);
    assert.ok((sample(text, 'process_resident_memory_bytes', {}) ?? 0) > 0);
    assert.ok(sample(text, 'nodejs_eventloop_lag_p99_seconds', {}) !== undefined);
    if (context.db.engine === 'postgres') {
      assert.equal(sample(text, 'care360_db_pool_connections', { state: 'max' }), 20);
      assert.ok((sample(text, 'care360_db_pool_connections', { state: 'open' }) ?? 0) >= 1);
    }
  });

  it('carries no id, key, email, PHI or URL in any label', async () => {
    const text = (await scrape()).body;
    for (const secret of [apiKey, organizationId, caseId, unknownCaseId, email, phiAnswer, idempotencyKey]) {
      assert.ok(!text.includes(secret), `the exposition holds ${secret}`);
    }
    assert.ok(!text.includes(unmatchedSegment));
    assert.ok(!text.includes('q=1'));
    assert.ok(!/[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}/.test(text), 'no uuid at all');
  });
});

describe('METRICS_PORT', () => {
  let context: TestContext;
  let port: number;
  before(async () => {
    port = await freePort();
    context = await intakeTestContext({ METRICS_PORT: String(port) });
  });
  after(() => context.close());

  it('serves GET /metrics on 127.0.0.1 without a token, and nothing else', async () => {
    const response = await fetch(`http://127.0.0.1:${port}/metrics`);
    assert.equal(response.status, 200);
    assert.match(await response.text(), /care360_http_request_duration_seconds/);
    assert.equal((await fetch(`http://127.0.0.1:${port}/`)).status, 404);
    assert.equal((await fetch(`http://127.0.0.1:${port}/metrics`, { method: 'POST' })).status, 404);
  });

  it('leaves /metrics on the main port closed when no METRICS_TOKEN is set', async () => {
    const response = await context.app.inject({ method: 'GET', url: '/metrics' });
    assert.equal(response.statusCode, 404);
  });

  it('stops the start when its port is taken', async () => {
    const config = loadConfig({ METRICS_PORT: String(port), LOG_LEVEL: 'silent' });
    const observability = await startObservability(config.observability);
    const app = await buildApp({ config, db: context.db, observability, logger: false });
    await assert.rejects(async () => app.ready(), /EADDRINUSE/);
    await app.close();
  });

  it('closes with the app', async () => {
    const other = await freePort();
    const second = await intakeTestContext({ METRICS_PORT: String(other) });
    assert.equal((await fetch(`http://127.0.0.1:${other}/metrics`)).status, 200);
    await second.close();
    await assert.rejects(fetch(`http://127.0.0.1:${other}/metrics`));
  });
});

describe('statementSummary', () => {
  it('names the operation and first table, never a value', () => {
    assert.equal(statementSummary('insert into audit_events (id) values ($1)'), 'insert audit_events');
    assert.equal(statementSummary('  UPDATE case_payments SET status = $1'), 'update case_payments');
    assert.equal(statementSummary('delete from schema_migrations where name = $1'), 'delete schema_migrations');
    assert.equal(statementSummary('select id from forms f join questions q on true'), 'select forms');
    assert.equal(statementSummary('with p as (insert into patients ...) select 1'), 'with');
    assert.equal(statementSummary("select 'secret@example.com'"), 'select');
    assert.equal(statementSummary('select 1'), 'select');
  });
});
