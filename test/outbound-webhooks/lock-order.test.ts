/**
 * Workers in several processes record outcomes in one statement each, and their batches often share endpoints:
 * each statement locks the endpoints it changes in the order of their ids, so two of them never wait on each
 * other in a cycle (a deadlock). PostgreSQL only (PGlite has one connection), on either pass of the suite.
 */
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import type { Database } from '../../src/db/database.ts';
import { Tenant } from '../../src/http/gate.ts';
import { WebhookQueue, WebhookRepository, type AttemptOutcome } from '../../src/modules/outbound-webhooks/repository.ts';
import { freshDatabase } from '../support/database.ts';

describe('the lock order of recorded webhook outcomes (PostgreSQL)', () => {
  let db: Database;
  let drop: () => Promise<void>;

  before(async () => {
    ({ db, drop } = await freshDatabase({ postgres: true }));
  });
  after(() => drop());

  const lockWaiters = async () => {
    const { rows } = await db.query<{ count: number }>(
      `select count(*)::int as count from pg_stat_activity
        where datname = current_database() and wait_event_type = 'Lock' and query like 'with outcome as%'`,
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
      const deadline = Date.now() + 20_000;
      while ((await lockWaiters()) === 0) {
        assert.ok(Date.now() < deadline, 'the recording statement did not wait for the first endpoint');
        await new Promise((resolve) => setTimeout(resolve, 20));
      }
      // ... holding nothing else meanwhile: the other worker takes the second endpoint without waiting.
      await tx.query('select id from webhook_endpoints where id = $1 for update nowait', [high]);
    });
    assert.deepEqual(await recording, new Set());
    const { rows } = await db.query<{ id: string; failing_since: Date | null }>(
      'select id, failing_since from webhook_endpoints where organization_id = $1',
      [organizationId],
    );
    assert.equal(rows.length, 2);
    assert.ok(rows.every((row) => row.failing_since !== null), 'both endpoints start failing');
  });
});
