/**
 * Migration 0080 on a database that the race of issue 16 (defect 1) left with one PaymentIntent recorded as PAID on
 * several cases: the earliest record keeps it, the later ones become ERROR records that no longer name it, and the
 * unique index then holds. The database is first taken back to its state before 0080, then migrated again.
 */
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import type { Database } from '../../src/db/database.ts';
import { isUniqueViolation } from '../../src/db/database.ts';
import { migrate } from '../../src/db/migrate.ts';
import { OrganizationService } from '../../src/modules/organizations/service.ts';
import { freshDatabase } from '../support/database.ts';

/** What 0080 does, undone. */
const BEFORE_0080 = `
  drop index case_payments_gateway_reference_unique;
  create index case_payments_gateway_reference_idx on case_payments (gateway, gateway_reference);
  alter table gateway_intents drop column claimed_until, drop column request_fingerprint,
    drop column reserved_promo_code_ids;
  alter table case_payments drop column hold_operation, drop column hold_operation_cents,
    drop column hold_operation_until;
  delete from schema_migrations where name = '0080_payments_integrity';
`;

describe(`migration 0080 on payments recorded twice (${process.env.TEST_DATABASE_URL ? 'PostgreSQL' : 'PGlite'})`, () => {
  let db: Database;
  let drop: () => Promise<void>;
  let organizationId: string;

  before(async () => {
    ({ db, drop } = await freshDatabase());
    ({ organizationId } = await new OrganizationService(db).createOrganization('Migrated'));
    await db.exec(BEFORE_0080);
  });
  after(() => drop());

  /** A case of a new patient, and a payment of it. */
  const payment = async (reference: string | null, createdAt: string, gateway = 'stripe') => {
    const [patientId, caseId, paymentId] = [randomUUID(), randomUUID(), randomUUID()];
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
      `insert into case_payments (id, organization_id, case_id, amount_cents, status, source, gateway,
         gateway_reference, created_at)
       values ($1, $2, $3, 4500, 'PAID', 'intake', $4, $5, $6)`,
      [paymentId, organizationId, caseId, gateway, reference, createdAt],
    );
    return paymentId;
  };

  it('keeps the earliest record of each payment, marks the later ones ERROR, and makes the reference unique', async () => {
    const first = await payment('pi_twice', '2026-01-01T10:00:00Z');
    const second = await payment('pi_twice', '2026-01-01T10:00:01Z');
    const third = await payment('pi_twice', '2026-01-01T10:00:02Z');
    const other = await payment('pi_once', '2026-01-01T10:00:00Z');
    const sameIdOtherGateway = await payment('pi_twice', '2026-01-01T09:00:00Z', 'simulated');
    const none = await payment(null, '2026-01-01T10:00:00Z');

    assert.deepEqual(await migrate(db), ['0080_payments_integrity']);

    const { rows } = await db.query<{
      id: string;
      status: string;
      gateway_reference: string | null;
      failure_message: string | null;
    }>('select id, status, gateway_reference, failure_message from case_payments where organization_id = $1', [
      organizationId,
    ]);
    const byId = new Map(rows.map((row) => [row.id, row]));
    for (const kept of [first, other, sameIdOtherGateway, none]) {
      assert.equal(byId.get(kept)!.status, 'PAID');
      assert.equal(byId.get(kept)!.failure_message, null);
    }
    assert.equal(byId.get(first)!.gateway_reference, 'pi_twice');
    for (const later of [second, third]) {
      assert.deepEqual(byId.get(later), {
        id: later,
        status: 'ERROR',
        gateway_reference: null,
        failure_message: `Recorded again for pi_twice, which payment ${first} records: no money was taken for this record`,
      });
    }

    await assert.rejects(payment('pi_twice', '2026-01-02T00:00:00Z'), (error) =>
      isUniqueViolation(error, 'case_payments_gateway_reference_unique'),
    );
  });
});
