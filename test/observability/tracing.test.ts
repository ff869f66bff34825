import assert from 'node:assert/strict';
import { randomBytes, randomUUID } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import { after, before, describe, it } from 'node:test';
import { formTitleExample, intakeTestContext, type TestContext } from '../cases/support.ts';

interface ReceivedSpan {
  traceId: string;
  spanId: string;
  parentSpanId?: string;
  name: string;
  kind: number;
  attributes: Record<string, unknown>;
}

const SERVER = 2; // OTLP's SPAN_KIND_SERVER
const CLIENT = 3;

/** A local OTLP/HTTP receiver: what the exporter posts to /v1/traces, as JSON, kept as raw text and as spans. */
async function startReceiver(): Promise<{ url: string; bodies: string[]; spans: ReceivedSpan[]; server: Server }> {
  const bodies: string[] = [];
  const spans: ReceivedSpan[] = [];
  const server = createServer((request, response) => {
    let body = '';
    request.setEncoding('utf8');
    request.on('data', (chunk: string) => (body += chunk));
    request.on('end', () => {
      if (request.method !== 'POST' || request.url !== '/v1/traces') {
        response.writeHead(404).end();
        return;
      }
      assert.match(request.headers['content-type'] ?? '', /application\/json/);
      bodies.push(body);
      const payload = JSON.parse(body) as {
        resourceSpans: { scopeSpans: { spans: (Omit<ReceivedSpan, 'attributes'> & { attributes?: unknown[] })[] }[] }[];
      };
      for (const resource of payload.resourceSpans) {
        for (const scope of resource.scopeSpans) {
          for (const span of scope.spans) {
            const attributes = Object.fromEntries(
              ((span.attributes ?? []) as { key: string; value: Record<string, unknown> }[]).map((attribute) => [
                attribute.key,
                Object.values(attribute.value)[0],
              ]),
            );
            spans.push({ ...span, attributes });
          }
        }
      }
      response.writeHead(200, { 'content-type': 'application/json' }).end('{}');
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  return { url: `http://127.0.0.1:${port}`, bodies, spans, server };
}

describe('traces to an OTLP receiver (OTEL_EXPORTER_OTLP_ENDPOINT)', () => {
  let receiver: Awaited<ReturnType<typeof startReceiver>>;
  let context: TestContext;
  const traceId = randomBytes(16).toString('hex');
  const callerSpanId = randomBytes(8).toString('hex');
  const requestId = `trace-test-${randomBytes(4).toString('hex')}`;
  const email = `tracing-${randomUUID()}@example.com`;
  const phiAnswer = `phi-${randomUUID()}`;
  let apiKey: string;

  before(async () => {
    receiver = await startReceiver();
    context = await intakeTestContext({ OTEL_EXPORTER_OTLP_ENDPOINT: receiver.url });
    ({ apiKey } = await context.organization());
    const body = formTitleExample();
    body.email = email;
    (body.questions as Record<string, unknown>[]).push({
      question: 'Medical history',
      type: 'TEXT',
      required: true,
      phi: true,
      answer: phiAnswer,
    });
    // A body of several hundred KB arrives in many reads, the last ones outside the request's context.
    (body.questions as Record<string, unknown>[]).push({
      question: 'Upload your documents',
      type: 'FILE',
      required: false,
      answer: [
        { name: 'scan.bin', data: randomBytes(400_000).toString('base64'), contentType: 'application/octet-stream' },
      ],
    });
    // Over a socket, as a client sends it: the body is read from the connection's events, outside the context
    // the request's span was opened in (inject hands the body over at once and would hide that).
    const address = await context.app.listen({ port: 0, host: '127.0.0.1' });
    const intake = await fetch(`${address}/api/v1/dynamic-case`, {
      method: 'POST',
      headers: {
        'cv-api-key': apiKey,
        'content-type': 'application/json',
        traceparent: `00-${traceId}-${callerSpanId}-01`,
        'x-request-id': requestId,
      },
      body: JSON.stringify(body),
    });
    assert.equal(intake.status, 200, await intake.text());
    const setup = await context.app.inject({
      method: 'POST',
      url: '/api/v1/payments/setup',
      headers: { 'cv-api-key': apiKey },
      payload: {},
    });
    assert.equal(setup.statusCode, 200, setup.body);
    await context.close(); // flushes the batch of spans to the receiver
  });
  after(() => new Promise((resolve) => receiver.server.close(resolve)));

  const serverSpan = (name: string) => {
    const found = receiver.spans.filter((span) => span.name === name && span.kind === SERVER);
    assert.equal(found.length, 1, `one ${name} span in ${receiver.spans.map((span) => span.name).join(', ')}`);
    return found[0]!;
  };

  it('sends a server span per request, continuing the caller trace, with the route and the request id', () => {
    const span = serverSpan('POST /api/v1/dynamic-case');
    assert.equal(span.traceId, traceId);
    assert.equal(span.parentSpanId, callerSpanId);
    assert.equal(span.attributes['http.route'], '/api/v1/dynamic-case');
    assert.equal(span.attributes['http.request.method'], 'POST');
    assert.equal(span.attributes['care360.request_id'], requestId);
    assert.equal(Number(span.attributes['http.response.status_code']), 200);
  });

  it('sends a span per SQL statement under the request, named by its summary', () => {
    const request = serverSpan('POST /api/v1/dynamic-case');
    const inTrace = receiver.spans.filter((span) => span.traceId === traceId);
    const named = (name: string) => inTrace.filter((span) => span.name === name);
    // The key look-up (authentication, an onRequest hook) and the transaction run under the request's span;
    // the intake's write (a statement with CTEs) under the transaction's.
    const keyLookup = named('select api_keys');
    assert.equal(keyLookup.length, 1, inTrace.map((span) => span.name).join(', '));
    assert.equal(keyLookup[0]!.parentSpanId, request.spanId);
    assert.equal(keyLookup[0]!.kind, CLIENT);
    assert.equal(keyLookup[0]!.attributes['db.system.name'], 'postgresql');
    const transaction = named('transaction');
    assert.equal(transaction.length, 1);
    assert.equal(transaction[0]!.parentSpanId, request.spanId);
    const write = named('with');
    assert.equal(write.length, 1);
    assert.equal(write[0]!.parentSpanId, transaction[0]!.spanId);
    assert.match(String(write[0]!.attributes['db.statement.name']), /^care360_[0-9a-f]{16}$/);
    assert.ok(named('insert questions').every((span) => span.parentSpanId === transaction[0]!.spanId));
  });

  it('sends a span per payment gateway call, under its request', () => {
    const request = serverSpan('POST /api/v1/payments/setup');
    const gateway = receiver.spans.find((span) => span.name === 'payment simulated createSetupIntent');
    assert.ok(gateway, receiver.spans.map((span) => span.name).join(', '));
    assert.equal(gateway.kind, CLIENT);
    assert.equal(gateway.traceId, request.traceId);
    assert.equal(gateway.parentSpanId, request.spanId);
    assert.equal(gateway.attributes['care360.outcome'], 'ok');
  });

  it('sends no parameter, PHI, email or key', () => {
    const everything = receiver.bodies.join('\n');
    for (const secret of [phiAnswer, email, apiKey, 'Medical history']) {
      assert.ok(!everything.includes(secret), `the spans hold ${secret}`);
    }
  });
});
