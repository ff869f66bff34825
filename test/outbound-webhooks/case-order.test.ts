/**
 * One case's webhook deliveries are sent in the order of their `sequence`, and the claim holds a delivery back
 * only while an earlier one of its case is pending *and visible*. So a transaction that writes a case event must
 * keep every later event of that case from taking its sequence until it commits: otherwise a later event can
 * commit first and be sent before the earlier one (found by the crash suite: two payments of an approved case
 * settled at once, PAYMENT_COMPLETED out of order). PostgreSQL only (PGlite has one connection), on either pass.
 */
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import type { Database } from '../../src/db/database.ts';
import { recordCaseEvent, type CaseEventInput } from '../../src/modules/cases/lifecycle/events.ts';
import { WebhookQueue } from '../../src/modules/outbound-webhooks/repository.ts';
import { freshDatabase } from '../support/database.ts';

describe('the order of one case’s webhook events across transactions (PostgreSQL)', () => {
  let db: Database;
  let drop: () => Promise<void>;

  before(async () => {
    ({ db, drop } = await freshDatabase({ postgres: true }));
  });
  after(() => drop());

  const waitingForTheCase = async () => {
    const { rows } = await db.query<{ count: number }>(
      `select count(*)::int as count from pg_stat_activity
        where datname = current_database() and wait_event_type = 'Lock' and query like 'select 1 from cases%'`,
    );
    return rows[0]!.count;
  };

  it('makes a second event of a case wait until the first one’s transaction commits', async () => {
    const organizationId = randomUUID();
    const patientId = randomUUID();
    const caseId = randomUUID();
    await db.query('insert into organizations (id, name) values ($1, $2)', [organizationId, 'Event order']);
    await db.query(
      `insert into patients (id, organization_id, email, first_name, last_name) values ($1, $2, $3, 'A', 'B')`,
      [patientId, organizationId, `${patientId}@example.com`],
    );
    await db.query('insert into cases (id, organization_id, patient_id) values ($1, $2, $3)', [
      caseId,
      organizationId,
      patientId,
    ]);
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
      const deadline = Date.now() + 20_000;
      while (!secondWritten && (await waitingForTheCase()) === 0) {
        assert.ok(Date.now() < deadline, 'the second event neither waited for the case nor was written');
        await new Promise((resolve) => setTimeout(resolve, 20));
      }
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
