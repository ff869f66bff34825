import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, before, beforeEach, describe, it } from 'node:test';
import { verifyWebhook } from '../../packages/client/src/webhooks.ts';
import type { Database } from '../../src/db/database.ts';
import { Tenant } from '../../src/http/gate.ts';
import { enqueueWebhookEvent, type WebhookEvent } from '../../src/modules/outbound-webhooks/events.ts';
import { WebhookQueue, type AttemptOutcome } from '../../src/modules/outbound-webhooks/repository.ts';
import { ADMIN_TOKEN, createTestContext, type TestContext } from '../support/app.ts';
import { deliverUntil, Receiver, testWorker, verifyCvSignature } from './support.ts';
import { until } from '../support/until.ts';

const admin = { authorization: `Bearer ${ADMIN_TOKEN}` };

describe('outbound webhook delivery', () => {
  let context: TestContext;
  let receiver: Receiver;
  let organizationId: string;

  const addEndpoint = async (body: Record<string, unknown>) => {
    const response = await context.app.inject({
      method: 'POST',
      url: `/admin/v1/organizations/${organizationId}/webhooks`,
      headers: admin,
      payload: body,
    });
    assert.equal(response.statusCode, 201, response.body);
    return response.json() as { webhookId: string; secret: string };
  };
  const enqueue = (event: WebhookEvent, caseId: string | null, eventId = randomUUID()) =>
    context.db.transaction((tx) =>
      enqueueWebhookEvent(tx, Tenant.forOperator(organizationId, 'test'), { caseId, event, eventId }),
    );
  const deliveries = async (webhookId: string) => {
    const response = await context.app.inject({
      method: 'GET',
      url: `/admin/v1/organizations/${organizationId}/webhooks/${webhookId}/deliveries`,
      headers: admin,
    });
    assert.equal(response.statusCode, 200, response.body);
    return (response.json() as { deliveries: DeliveryJson[] }).deliveries;
  };
  const statusOf = async (webhookId: string) => (await deliveries(webhookId)).map((delivery) => delivery.status);

  before(async () => {
    context = await createTestContext({ WEBHOOK_ALLOW_PRIVATE_NETWORKS: 'true' });
    receiver = await new Receiver().start();
  });
  after(async () => {
    await receiver.close();
    await context.close();
  });
  beforeEach(async () => {
    // Each test with an organization of its own: no endpoint sees another test's events.
    ({ organizationId } = await context.organization());
    receiver.received.length = 0;
    receiver.handler = (_request, response) => void response.end('ok');
  });

  it('sends a committed event once, signed with both schemes on the exact bytes', async () => {
    const { webhookId, secret } = await addEndpoint({ url: receiver.url() });
    const caseId = randomUUID();
    const eventId = randomUUID();
    assert.equal(await enqueue('CREATE_CASE', caseId, eventId), 1);
    const worker = testWorker(context.db, context.services.phiCipher);
    await worker.drain();

    assert.equal(receiver.received.length, 1);
    const [received] = receiver.received;
    assert.deepEqual(JSON.parse(received!.body.toString('utf8')), {
      event: 'CREATE_CASE',
      payload: { case: { id: caseId, organizationId } },
    });
    assert.equal(received!.headers['content-type'], 'application/json');
    assert.ok(verifyCvSignature(received!.body, received!.headers['x-cv-signature'], secret));
    assert.ok(!verifyCvSignature(received!.body, received!.headers['x-cv-signature'], `${secret}x`));
    assert.equal(received!.headers['webhook-id'], eventId);
    const verified = await verifyWebhook(received!.body, received!.headers, secret);
    assert.equal(verified.scheme, 'standard-webhooks');
    assert.equal(verified.id, eventId);
    const cv = await verifyWebhook(received!.body, received!.headers, secret, { scheme: 'x-cv-signature' });
    assert.equal(cv.scheme, 'x-cv-signature');

    const [delivery] = await deliveries(webhookId);
    assert.equal(delivery!.status, 'delivered');
    assert.equal(delivery!.eventId, eventId);
    assert.equal(delivery!.attempts.length, 1);
    assert.equal(delivery!.attempts[0]!.responseStatus, 200);
    assert.equal(delivery!.attempts[0]!.responseBody, 'ok');
    await worker.drain();
    assert.equal(receiver.received.length, 1, 'a delivered event is not sent again');
  });

  it('publishes nothing for a change that rolled back', async () => {
    const { webhookId } = await addEndpoint({ url: receiver.url() });
    await assert.rejects(
      context.db.transaction(async (tx) => {
        await enqueueWebhookEvent(tx, Tenant.forOperator(organizationId, 'test'), {
          caseId: randomUUID(),
          event: 'CREATE_CASE',
          eventId: randomUUID(),
        });
        throw new Error('the change failed');
      }),
      /the change failed/,
    );
    await testWorker(context.db, context.services.phiCipher).drain();
    assert.equal(receiver.received.length, 0);
    assert.deepEqual(await deliveries(webhookId), []);
  });

  it('sends only the events an endpoint subscribes to, each event id once', async () => {
    const all = await addEndpoint({ url: receiver.url('/all') });
    const some = await addEndpoint({ url: receiver.url('/some'), events: ['ADD_CASE_DECISION'] });
    const eventId = randomUUID();
    assert.equal(await enqueue('CREATE_CASE', randomUUID(), eventId), 1);
    assert.equal(await enqueue('CREATE_CASE', randomUUID(), eventId), 0, 'the same event id is queued once');
    assert.equal(await enqueue('ADD_CASE_DECISION', randomUUID()), 2);
    await testWorker(context.db, context.services.phiCipher).drain();
    assert.deepEqual(receiver.received.map((entry) => entry.path).sort(), ['/all', '/all', '/some']);
    assert.equal((await deliveries(all.webhookId)).length, 2);
    assert.deepEqual(
      (await deliveries(some.webhookId)).map((delivery) => delivery.event),
      ['ADD_CASE_DECISION'],
    );
  });

  it('retries a 500 with the same bytes and webhook-id until a 2xx', async () => {
    const { webhookId } = await addEndpoint({ url: receiver.url() });
    let calls = 0;
    receiver.handler = (_request, response) => {
      calls++;
      response.statusCode = calls === 1 ? 500 : 204;
      response.end(calls === 1 ? 'try later' : undefined);
    };
    await enqueue('CHANGE_CASE_STATUS', randomUUID());
    const worker = testWorker(context.db, context.services.phiCipher);
    await deliverUntil(worker, async () => (await statusOf(webhookId))[0] === 'delivered');
    assert.equal(receiver.received.length, 2);
    assert.deepEqual(receiver.received[0]!.body, receiver.received[1]!.body);
    assert.equal(receiver.received[0]!.headers['webhook-id'], receiver.received[1]!.headers['webhook-id']);
    const [delivery] = await deliveries(webhookId);
    assert.deepEqual(
      delivery!.attempts.map((attempt) => [attempt.outcome, attempt.responseStatus, attempt.responseBody]),
      [
        ['failed', 500, 'try later'],
        ['delivered', 204, ''],
      ],
    );
  });

  it('gives up on a receiver that does not answer within the time limit, and retries later', async () => {
    const { webhookId } = await addEndpoint({ url: receiver.url() });
    receiver.handler = () => undefined; // never answers
    await enqueue('CREATE_CASE', randomUUID());
    await testWorker(context.db, context.services.phiCipher, {
      timeoutMs: 200,
      firstRetryDelaySeconds: 3600,
    }).drain();
    const [delivery] = await deliveries(webhookId);
    assert.equal(delivery!.status, 'pending');
    assert.equal(delivery!.attempts.length, 1);
    assert.equal(delivery!.attempts[0]!.outcome, 'failed');
    assert.match(delivery!.attempts[0]!.error ?? '', /no answer within 0.2 s/);
    assert.ok(Date.parse(delivery!.nextAttemptAt!) > Date.now() + 60_000, 'the next attempt waits (backoff)');
  });

  it('records a reset connection as a failed attempt', async () => {
    const { webhookId } = await addEndpoint({ url: receiver.url() });
    receiver.handler = (request) => request.socket.destroy();
    await enqueue('CREATE_CASE', randomUUID());
    await testWorker(context.db, context.services.phiCipher, { firstRetryDelaySeconds: 3600 }).drain();
    const [delivery] = await deliveries(webhookId);
    assert.equal(delivery!.attempts[0]!.outcome, 'failed');
    assert.equal(delivery!.attempts[0]!.responseStatus, null);
    assert.match(delivery!.attempts[0]!.error ?? '', /ECONNRESET|socket hang up/);
  });

  it('does not follow a redirect', async () => {
    const { webhookId } = await addEndpoint({ url: receiver.url('/moved') });
    receiver.handler = (request, response) => {
      if (request.url === '/moved') {
        response.writeHead(307, { location: receiver.url('/elsewhere') });
        response.end();
      } else response.end('ok');
    };
    await enqueue('CREATE_CASE', randomUUID());
    await testWorker(context.db, context.services.phiCipher, { firstRetryDelaySeconds: 3600 }).drain();
    assert.deepEqual(
      receiver.received.map((entry) => entry.path),
      ['/moved'],
    );
    const [delivery] = await deliveries(webhookId);
    assert.equal(delivery!.status, 'pending');
    assert.equal(delivery!.attempts[0]!.responseStatus, 307);
    assert.match(delivery!.attempts[0]!.error ?? '', /redirect not followed/);
  });

  it('reads a huge response only up to 1 KB', async () => {
    const { webhookId } = await addEndpoint({ url: receiver.url() });
    let sent = 0;
    receiver.handler = (_request, response) => {
      response.writeHead(200, { 'content-type': 'text/plain' });
      const chunk = Buffer.alloc(64 * 1024, 'x');
      // Up to 100 MB, for as long as the sender reads.
      const pump = () => {
        while (sent < 100 * 1024 * 1024 && !response.destroyed) {
          sent += chunk.length;
          if (!response.write(chunk)) return void response.once('drain', pump);
        }
        response.end();
      };
      response.on('error', () => undefined);
      pump();
    };
    await enqueue('CREATE_CASE', randomUUID());
    await testWorker(context.db, context.services.phiCipher).drain();
    const [delivery] = await deliveries(webhookId);
    assert.equal(delivery!.status, 'delivered');
    assert.equal(delivery!.attempts[0]!.responseBody, 'x'.repeat(1024));
    assert.ok(sent < 100 * 1024 * 1024, 'the rest of the body is not read');
  });

  it('lets a receiver that trickles its answer hold a send no longer than the time limit', async () => {
    const { webhookId } = await addEndpoint({ url: receiver.url() });
    const trickles = new Set<NodeJS.Timeout>();
    receiver.handler = (_request, response) => {
      // The head at once, then a byte every 50 ms: the 1 KB the sender reads would take 51 s.
      response.writeHead(500, { 'content-type': 'text/plain' });
      const trickle = setInterval(() => response.write('x'), 50);
      trickles.add(trickle);
      response.on('close', () => clearInterval(trickle));
    };
    await enqueue('CREATE_CASE', randomUUID());
    await testWorker(context.db, context.services.phiCipher, {
      timeoutMs: 300,
      firstRetryDelaySeconds: 3600,
    }).drain();
    for (const trickle of trickles) clearInterval(trickle);
    const [delivery] = await deliveries(webhookId);
    assert.equal(delivery!.status, 'pending');
    assert.equal(delivery!.attempts.length, 1);
    assert.equal(delivery!.attempts[0]!.outcome, 'failed');
    // Ended by the time limit, not by the size limit: less than 1 KB of the answer was read.
    assert.ok((delivery!.attempts[0]!.responseBody ?? '').length < 1024);
  });

  it('keeps the events of one case in order while other cases go on', async () => {
    const { webhookId } = await addEndpoint({ url: receiver.url() });
    const caseA = randomUUID();
    const caseB = randomUUID();
    let failuresLeft = 2;
    receiver.handler = (_request, response, received) => {
      const body = JSON.parse(received.body.toString('utf8')) as { event: string; payload: { case: { id: string } } };
      if (body.payload.case.id === caseA && body.event === 'CREATE_CASE' && failuresLeft-- > 0) {
        response.statusCode = 503;
      }
      response.end();
    };
    await enqueue('CREATE_CASE', caseA);
    await enqueue('ADD_CASE_COMMENT', caseA);
    await enqueue('CHANGE_CASE_STATUS', caseA);
    await enqueue('CREATE_CASE', caseB);
    await enqueue('ADD_CASE_COMMENT', caseB);
    // A first round with an hour's backoff: case A's first event fails once and waits.
    await testWorker(context.db, context.services.phiCipher, { firstRetryDelaySeconds: 3600 }).drain();
    // Case A's first event failed: its later events wait; case B's went on.
    const firstRound = receiver
      .events()
      .map((entry) => `${entry.payload.case!.id === caseA ? 'A' : 'B'}:${entry.event}`);
    const queued = await context.db.query<Record<string, unknown>>(
      `select d.case_id = $2 as is_a, d.event, d.status, d.attempts, d.locked_until, d.last_error,
              array(select a.outcome || ' ' || coalesce(a.error, '') from webhook_delivery_attempts a
                     where a.delivery_id = d.id order by a.attempted_at) as tries
         from webhook_deliveries d where d.endpoint_id = $1 order by d.sequence`,
      [webhookId, caseA],
    );
    assert.deepEqual(
      firstRound.filter((entry) => entry.startsWith('B')),
      ['B:CREATE_CASE', 'B:ADD_CASE_COMMENT'],
      JSON.stringify(queued.rows),
    );
    assert.deepEqual(
      firstRound.filter((entry) => entry.startsWith('A')),
      ['A:CREATE_CASE'],
    );
    await context.db.query('update webhook_deliveries set next_attempt_at = now() where endpoint_id = $1', [webhookId]);
    const worker = testWorker(context.db, context.services.phiCipher);
    await deliverUntil(worker, async () => (await statusOf(webhookId)).every((status) => status === 'delivered'));
    const delivered = receiver.received
      .map((entry) => JSON.parse(entry.body.toString('utf8')) as { event: string; payload: { case: { id: string } } })
      .filter((entry) => entry.payload.case.id === caseA)
      .map((entry) => entry.event);
    assert.deepEqual(delivered, [
      'CREATE_CASE',
      'CREATE_CASE',
      'CREATE_CASE',
      'ADD_CASE_COMMENT',
      'CHANGE_CASE_STATUS',
    ]);
  });

  it('drains the next event of a case whose send ended while a claim was under way', async () => {
    await addEndpoint({ url: receiver.url() });
    const caseA = randomUUID();
    const caseB = randomUUID();
    let heldB: (response: { end(): void }) => void = () => undefined;
    const responseB = new Promise<{ end(): void }>((resolve) => (heldB = resolve));
    receiver.handler = (_request, response, received) => {
      const body = JSON.parse(received.body.toString('utf8')) as { event: string; payload: { case: { id: string } } };
      if (body.payload.case.id === caseB && body.event === 'CREATE_CASE') heldB(response);
      else response.end();
    };
    await enqueue('CREATE_CASE', caseA);
    await enqueue('CREATE_CASE', caseB);
    await enqueue('ADD_CASE_COMMENT', caseB);
    // The second claim (while B's first send is held) reads the queue, then B's send is answered and recorded
    // before the claim's answer reaches the worker.
    let claims = 0;
    let recorded: () => void = () => undefined;
    const db: Database = Object.create(context.db);
    db.query = async <Row>(text: string, params?: readonly unknown[]) => {
      const result = await context.db.query<Row>(text, params);
      if (text.startsWith('with outcome as')) recorded();
      if (text.startsWith('with due as') && ++claims === 2) {
        const done = new Promise<void>((resolve) => (recorded = resolve));
        (await responseB).end();
        await done;
        await new Promise((resolve) => setImmediate(resolve));
      }
      return result;
    };
    await testWorker(db, context.services.phiCipher).drain();
    assert.ok(claims >= 3, `claims: ${claims}`);
    assert.deepEqual(
      receiver
        .events()
        .map((entry) => `${entry.payload.case!.id === caseA ? 'A' : 'B'}:${entry.event}`)
        .sort(),
      ['A:CREATE_CASE', 'B:ADD_CASE_COMMENT', 'B:CREATE_CASE'],
    );
  });

  it('never sends one delivery twice with workers side by side (separate connections on PostgreSQL)', async () => {
    const { webhookId } = await addEndpoint({ url: receiver.url() });
    const cases = Array.from({ length: 8 }, () => randomUUID());
    const events: WebhookEvent[] = ['CREATE_CASE', 'ADD_CASE_COMMENT', 'CHANGE_CASE_STATUS'];
    for (const event of events) for (const caseId of cases) await enqueue(event, caseId);
    // On PostgreSQL each claim runs on a pooled connection of its own, as claims from several processes do.
    const workers = [1, 2, 3].map(() => testWorker(context.db, context.services.phiCipher, { concurrency: 4 }));
    await Promise.all(workers.map((worker) => worker.drain()));
    const ids = receiver.received.map((entry) => entry.headers['webhook-id']);
    assert.equal(ids.length, cases.length * events.length);
    assert.equal(new Set(ids).size, ids.length, 'each event received once');
    for (const caseId of cases) {
      const order = receiver
        .events()
        .filter((entry) => entry.payload.case!.id === caseId)
        .map((entry) => entry.event);
      assert.deepEqual(order, events);
    }
    assert.ok((await statusOf(webhookId)).every((status) => status === 'delivered'));
  });

  it('refuses to send to a private address without WEBHOOK_ALLOW_PRIVATE_NETWORKS (checked at every send)', async () => {
    const { webhookId } = await addEndpoint({ url: receiver.url() });
    await enqueue('CREATE_CASE', randomUUID());
    await testWorker(context.db, context.services.phiCipher, {
      allowPrivateNetworks: false,
      firstRetryDelaySeconds: 3600,
    }).drain();
    assert.equal(receiver.received.length, 0);
    const [delivery] = await deliveries(webhookId);
    assert.match(delivery!.attempts[0]!.error ?? '', /must be https/);
  });

  it('gives way while the server is busy: one claim per interval, the rest once the load falls', async () => {
    const { webhookId } = await addEndpoint({ url: receiver.url() });
    for (let index = 0; index < 3; index += 1) await enqueue('CREATE_CASE', randomUUID());
    let busy = true;
    let asked = 0;
    const worker = testWorker(context.db, context.services.phiCipher, {
      concurrency: 1,
      pollIntervalMs: 5,
      busy: () => {
        asked += 1;
        return busy;
      },
      busyClaimIntervalMs: 3_600_000,
    });
    worker.start();
    try {
      // The first claim is not held back: a busy server still delivers, an interval apart. Each wait is for the
      // recorded outcome, not the receipt: a worker stopped between the two records its send as failed.
      await until(async () => (await statusOf(webhookId)).includes('delivered'));
      const askedThen = asked;
      await until(() => asked >= askedThen + 20);
      assert.equal(receiver.received.length, 1, 'no second claim within the interval while the server is busy');
      assert.deepEqual((await statusOf(webhookId)).sort(), ['delivered', 'pending', 'pending']);
      busy = false;
      await until(async () => (await statusOf(webhookId)).every((status) => status === 'delivered'));
    } finally {
      await worker.stop();
    }
    assert.equal(receiver.received.length, 3, 'each event sent once');
    assert.deepEqual(await statusOf(webhookId), ['delivered', 'delivered', 'delivered']);
  });

  it('keeps an event failing for 3 days as failed; redelivers failed ones since a time, and one on demand', async () => {
    const { webhookId } = await addEndpoint({ url: receiver.url() });
    receiver.handler = (_request, response) => {
      response.statusCode = 500;
      response.end();
    };
    await enqueue('CREATE_CASE', randomUUID());
    await context.db.query(
      "update webhook_deliveries set created_at = now() - interval '3 days' where endpoint_id = $1",
      [webhookId],
    );
    const worker = testWorker(context.db, context.services.phiCipher);
    await worker.drain();
    const [failed] = await deliveries(webhookId);
    assert.equal(failed!.status, 'failed');
    assert.equal(failed!.nextAttemptAt, null);

    receiver.handler = (_request, response) => void response.end('ok');
    const redeliver = await context.app.inject({
      method: 'POST',
      url: `/admin/v1/organizations/${organizationId}/webhooks/${webhookId}/redeliver-failed`,
      headers: admin,
      payload: { since: new Date(Date.now() - 4 * 86_400_000).toISOString() },
    });
    assert.equal(redeliver.statusCode, 200, redeliver.body);
    assert.deepEqual(redeliver.json(), { redelivered: 1 });
    await worker.drain();
    assert.equal((await deliveries(webhookId))[0]!.status, 'delivered');

    const again = await context.app.inject({
      method: 'POST',
      url: `/admin/v1/organizations/${organizationId}/webhooks/${webhookId}/deliveries/${failed!.deliveryId}/redeliver`,
      headers: admin,
    });
    assert.equal(again.statusCode, 200, again.body);
    await worker.drain();
    assert.equal(receiver.received.length, 3);
    assert.equal(receiver.received[2]!.headers['webhook-id'], receiver.received[1]!.headers['webhook-id']);
    assert.deepEqual(receiver.received[2]!.body, receiver.received[1]!.body);
  });

  it('disables an endpoint that has failed for a day, with the reason, and sends nothing more to it', async () => {
    const { webhookId } = await addEndpoint({ url: receiver.url() });
    receiver.handler = (_request, response) => {
      response.statusCode = 502;
      response.end();
    };
    await enqueue('CREATE_CASE', randomUUID());
    const worker = testWorker(context.db, context.services.phiCipher, { firstRetryDelaySeconds: 3600 });
    await worker.drain();
    await context.db.query("update webhook_endpoints set failing_since = now() - interval '25 hours' where id = $1", [
      webhookId,
    ]);
    await context.db.query('update webhook_deliveries set next_attempt_at = now() where endpoint_id = $1', [webhookId]);
    await worker.drain();
    const endpoint = (
      await context.app.inject({
        method: 'GET',
        url: `/admin/v1/organizations/${organizationId}/webhooks/${webhookId}`,
        headers: admin,
      })
    ).json();
    assert.equal(endpoint.enabled, false);
    assert.match(endpoint.disabledReason, /failing every delivery since .*; last error: HTTP 502/);
    const sent = receiver.received.length;
    await enqueue('CREATE_CASE', randomUUID());
    await worker.drain();
    assert.equal(receiver.received.length, sent, 'nothing is sent to a disabled endpoint');
  });

  it('records many outcomes in one statement, each endpoint’s failing streak as if one after another', async () => {
    const recovering = await addEndpoint({ url: receiver.url('/recovering') });
    const relapsing = await addEndpoint({ url: receiver.url('/relapsing') });
    const failing = await addEndpoint({ url: receiver.url('/failing') });
    for (let index = 0; index < 2; index++) await enqueue('CREATE_CASE', randomUUID());
    const ids = async (webhookId: string) =>
      (
        await context.db.query<{ id: string }>(
          'select id from webhook_deliveries where endpoint_id = $1 order by sequence',
          [webhookId],
        )
      ).rows.map((row) => row.id);
    const [r1, r2] = await ids(recovering.webhookId);
    const [s1, s2] = await ids(relapsing.webhookId);
    const [f1, f2] = await ids(failing.webhookId);
    await context.db.query(
      "update webhook_endpoints set failing_since = now() - interval '25 hours' where id = any($1::uuid[])",
      [[recovering.webhookId, relapsing.webhookId, failing.webhookId]],
    );
    const outcome = (endpointId: string, deliveryId: string, delivered: boolean, retryInSeconds: number | null) =>
      ({
        deliveryId,
        endpointId,
        delivered,
        durationMs: 5,
        responseStatus: delivered ? 200 : 502,
        responseBody: delivered ? 'ok' : null,
        error: delivered ? null : `HTTP 502 (${deliveryId})`,
        retryInSeconds,
      }) satisfies AttemptOutcome;
    const disabled = await new WebhookQueue(context.db).recordOutcomes(
      [
        outcome(recovering.webhookId, r1!, false, 60),
        outcome(relapsing.webhookId, s1!, true, null),
        outcome(failing.webhookId, f1!, false, 60),
        outcome(recovering.webhookId, r2!, true, null),
        outcome(relapsing.webhookId, s2!, false, null),
        outcome(failing.webhookId, f2!, false, 60),
      ],
      24 * 3600,
    );
    assert.deepEqual([...disabled], [failing.webhookId], 'only the endpoint failing every delivery for a day');
    const endpoints = await context.db.query<{
      id: string;
      failing_since: Date | null;
      disabled_reason: string | null;
    }>('select id, failing_since, disabled_reason from webhook_endpoints where id = any($1::uuid[])', [
      [recovering.webhookId, relapsing.webhookId, failing.webhookId],
    ]);
    const byId = new Map(endpoints.rows.map((row) => [row.id, row]));
    assert.equal(byId.get(recovering.webhookId)!.failing_since, null, 'its last attempt succeeded');
    const relapsed = byId.get(relapsing.webhookId)!;
    assert.ok(relapsed.failing_since!.getTime() > Date.now() - 3600_000, 'a new streak, started by this batch');
    assert.equal(relapsed.disabled_reason, null);
    assert.match(byId.get(failing.webhookId)!.disabled_reason!, new RegExp(`last error: HTTP 502 \\(${f2}\\)`));
    assert.deepEqual(await statusOf(recovering.webhookId), ['delivered', 'pending']);
    assert.deepEqual(await statusOf(relapsing.webhookId), ['failed', 'delivered']);
    const attempts = (await deliveries(failing.webhookId)).flatMap((delivery) => delivery.attempts);
    assert.deepEqual(
      attempts.map((attempt) => [attempt.outcome, attempt.responseStatus, attempt.error]),
      [
        ['failed', 502, `HTTP 502 (${f2})`],
        ['failed', 502, `HTTP 502 (${f1})`],
      ],
    );
  });
});

interface DeliveryJson {
  deliveryId: string;
  event: string;
  eventId: string;
  status: 'pending' | 'delivered' | 'failed';
  nextAttemptAt: string | null;
  attempts: {
    outcome: 'delivered' | 'failed';
    responseStatus: number | null;
    responseBody: string | null;
    error: string | null;
  }[];
}
