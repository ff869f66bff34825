/**
 * Migration 0140 on a database with cases from before it: each case gets a short id of the published form,
 * unique within its organization, and the intake then writes cases beside them. The database is first taken
 * back to its state before 0140, then migrated again.
 */
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import type { Database } from '../../src/db/database.ts';
import { migrate } from '../../src/db/migrate.ts';
import { OrganizationService } from '../../src/modules/organizations/service.ts';
import { freshDatabase } from '../support/database.ts';

/** What 0140 does, undone (cascade: later migrations' foreign keys to its tables go with them). */
const BEFORE_0140 = `
  drop table case_attachments, case_comments, case_decisions, case_events cascade;
  drop index files_organization_form_response_idx, cases_organization_created_idx,
    cases_organization_patient_created_idx;
  alter table cases drop constraint cases_status_check;
  alter table cases add constraint cases_status_check check (status in ('OPEN', 'ABANDONED'));
  alter table cases drop column short_id, drop column title, drop column type, drop column is_archived,
    drop column archive_reason, drop column archive_note, drop column closed_at, drop column closed_by,
    drop column assigned_at, drop column in_progress_at, drop column is_escalated, drop column version;
  drop function new_case_short_id();
  delete from schema_migrations where name = '0140_case_lifecycle';
`;

const CASES = 300;

describe(`migration 0140 on existing cases (${process.env.TEST_DATABASE_URL ? 'PostgreSQL' : 'PGlite'})`, () => {
  let db: Database;
  let drop: () => Promise<void>;
  const organizations: string[] = [];

  before(async () => {
    ({ db, drop } = await freshDatabase());
    for (const name of ['Migrated A', 'Migrated B']) {
      organizations.push((await new OrganizationService(db).createOrganization(name)).organizationId);
    }
    await db.exec(BEFORE_0140);
    for (const organizationId of organizations) {
      const patientId = randomUUID();
      await db.query(
        `insert into patients (id, organization_id, email, first_name, last_name) values ($1, $2, $3, 'A', 'B')`,
        [patientId, organizationId, `${patientId}@example.com`],
      );
      await db.query(
        `insert into cases (id, organization_id, patient_id, status)
           select gen_random_uuid(), $1, $2, case when i % 2 = 0 then 'OPEN' else 'ABANDONED' end
             from generate_series(1, ${CASES}) as i`,
        [organizationId, patientId],
      );
    }
  });
  after(() => drop());

  it('gives every existing case a short id, unique within its organization, and keeps its status', async () => {
    assert.deepEqual(await migrate(db), ['0140_case_lifecycle']);
    const { rows } = await db.query<{
      organization_id: string;
      short_id: string;
      status: string;
      is_archived: boolean;
    }>('select organization_id, short_id, status, is_archived from cases');
    assert.equal(rows.length, CASES * organizations.length);
    for (const row of rows) assert.match(row.short_id, /^[A-Z]{3}-[A-Z]{5}$/);
    for (const organizationId of organizations) {
      const ids = rows.filter((row) => row.organization_id === organizationId).map((row) => row.short_id);
      assert.equal(new Set(ids).size, CASES);
    }
    assert.equal(rows.filter((row) => row.status === 'ABANDONED').length, CASES);
    assert.ok(rows.every((row) => !row.is_archived));
  });

  it('gives a case written without one a short id by default', async () => {
    const { rows: patients } = await db.query<{ id: string }>('select id from patients where organization_id = $1', [
      organizations[0],
    ]);
    const { rows } = await db.query<{ short_id: string }>(
      'insert into cases (id, organization_id, patient_id) values ($1, $2, $3) returning short_id',
      [randomUUID(), organizations[0], patients[0]!.id],
    );
    assert.match(rows[0]!.short_id, /^[A-Z]{3}-[A-Z]{5}$/);
  });
});
