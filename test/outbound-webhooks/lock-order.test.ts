/**
 * The locks of the webhook queue. Workers in several processes record outcomes in one statement each, and their
 * batches often share endpoints: each statement locks the endpoints it changes in the order of their ids, so two
 * of them never wait on each other in a cycle (a deadlock). And one case's deliveries are sent in the order of their
 * `sequence`, the claim holding a delivery back only while an earlier one of its case is pending *and visible*: a
 * transaction that writes a case event keeps every later event of that case from taking its sequence until it
 * commits, or a later event could commit first and be sent before the earlier one (found by the crash suite: two
 * payments of an approved case settled at once, PAYMENT_COMPLETED out of order). PostgreSQL only (PGlite has one
 * connection), on either pass of the suite.
 */
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import type { Database } from '../../src/db/database.ts';
import { Tenant } from '../../src/http/gate.ts';
import { recordCaseEvent, type CaseEventInput } from '../../src/modules/cases/lifecycle/events.ts';
import {
  WebhookQueue,
  WebhookRepository,
  type AttemptOutcome,
} from '../../src/modules/outbound-webhooks/repository.ts';
import { freshDatabase } from '../support/database.ts';
import { until } from '../support/until.ts';

describe('the locks of the webhook queue (PostgreSQL)', () => {
  let db: Database;
  let drop: () => Promise<void>;

  before(async () => {
    ({ db, drop } = await freshDatabase({ postgres: true }));
  });
  after(() => drop());

  /** Statements waiting for a lock whose text starts with `start`. */
  const lockWaiters = async (start: string) => {
    const { rows } = await db.query<{ count: number }>(
      `select count(*)::int as count from pg_stat_activity
        where datname = current_database() and wait_event_type = 'Lock' and starts_with(query, $1)`,
      [start],
    );
    return rows[0]!.count;
  };

  it('takes the endpoints in the order of their ids, so a worker holding the first never meets a cycle', async () => {
    const organizationId = randomUUID();
    await db.query('insert into organizations (id, name) values ($1, $2)', [organizationId, 'Lock order']);
    const repository = new WebhookRepository(db, Tenant.forOperator(organizationId, 'test'));
    // The endpoint with the larger id comes first everywhere else: in the table and in the outcomes.
    const [high, low] = [`ffffffff-${randomUUID().slice(9)}`, `00000000-${randomUUID().slice(9)}`];
    for (const id of [high, low]) {
      await db.query(
        `insert into webhook_endpoints (id, organization_id, url, secret_sealed) values ($1, $2, $3, 'not used')`,
        [id, organizationId, `https://receiver.example/${id}`],
      );
    }
    await repository.enqueue({ caseId: randomUUID(), event: 'CREATE_CASE', eventId: randomUUID(), subject: {} });
    const { rows: queued } = await db.query<{ id: string; endpoint_id: string }>(
      'select id, endpoint_id from webhook_deliveries where organization_id = $1',
      [organizationId],
    );
    const failure = (endpointId: string): AttemptOutcome => ({
      deliveryId: queued.find((row) => row.endpoint_id === endpointId)!.id,
      endpointId,
      delivered: false,
      durationMs: 3,
      responseStatus: 503,
      responseBody: '',
      error: 'HTTP 503',
      retryInSeconds: 60,
    });

    let recording: Promise<Set<string>> | undefined;
    await db.transaction(async (tx) => {
      // Another worker's statement under way: it holds the first endpoint and will want the second next.
      await tx.query('select id from webhook_endpoints where id = $1 for update', [low]);
      // This worker's outcomes name the second endpoint first; its statement still waits for the first.
      recording = new WebhookQueue(db).recordOutcomes([failure(high), failure(low)], 24 * 3600);
      await until(
        async () => (await lockWaiters('with outcome as')) > 0,
        20_000,
        'the recording statement waiting for the first endpoint',
      );
      // ... holding nothing else meanwhile: the other worker takes the second endpoint without waiting.
      await tx.query('select id from webhook_endpoints where id = $1 for update nowait', [high]);
    });
    assert.deepEqual(await recording, new Set());
    const { rows } = await db.query<{ id: string; failing_since: Date | null }>(
      'select id, failing_since from webhook_endpoints where organization_id = $1',
      [organizationId],
    );
    assert.equal(rows.length, 2);
    assert.ok(
      rows.every((row) => row.failing_since !== null),
      'both endpoints start failing',
    );
  });

  it('makes a second event of a case wait until the first one’s transaction commits', async () => {
    const organizationId = randomUUID();
    const patientId = randomUUID();
    const caseId = randomUUID();
    await db.query('insert into organizations (id, name) values ($1, $2)', [organizationId, 'Event order']);
    await db.query(
      `with patient as (insert into patients (id, organization_id, email, first_name, last_name)
                        values ($1, $2, $3, 'A', 'B') returning id)
       insert into cases (id, organization_id, patient_id) select $4, $2, id from patient`,
      [patientId, organizationId, `${patientId}@example.com`, caseId],
    );
    await db.query(
      `insert into webhook_endpoints (id, organization_id, url, secret_sealed) values ($1, $2, $3, 'not used')`,
      [randomUUID(), organizationId, 'https://receiver.example/hook'],
    );
    const payment = (paymentId: string): CaseEventInput => ({
      organizationId,
      caseId,
      actor: { kind: 'system', id: null },
      type: 'case.payment_completed',
      before: { paymentId, status: 'UNPAID' },
      after: { paymentId, status: 'PAID' },
      subject: { paymentId },
    });

    let second: Promise<string> | undefined;
    let secondWritten = false;
    const first = await db.transaction(async (tx) => {
      const id = await recordCaseEvent(tx, payment(randomUUID()));
      // Another payment of the same case settles while this transaction is still open.
      second = db
        .transaction((other) => recordCaseEvent(other, payment(randomUUID())))
        .finally(() => (secondWritten = true));
      await until(
        async () => secondWritten || (await lockWaiters('select 1 from cases')) > 0,
        20_000,
        'the second event waiting for the case (or written)',
      );
      assert.equal(secondWritten, false, 'the second event was written while the first was not committed');
      return id;
    });
    const secondId = await second!;

    const { rows } = await db.query<{ event_id: string }>(
      'select event_id from webhook_deliveries where case_id = $1 order by sequence',
      [caseId],
    );
    assert.deepEqual(
      rows.map((row) => row.event_id),
      [first, secondId],
    );
    // The claim sends the first and holds the second back until the first is no longer pending.
    const claimed = await new WebhookQueue(db).claim(10, 30);
    assert.deepEqual(
      claimed.map((delivery) => delivery.event_id),
      [first],
    );
  });
});
