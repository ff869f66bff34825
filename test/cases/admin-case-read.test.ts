import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { ADMIN_TOKEN } from '../support/app.ts';
import { intakeTestContext, minimalBody, postIntake, type TestContext } from './support.ts';

describe('GET /admin/v1/organizations/:organizationId/cases/:caseId', () => {
  let context: TestContext;
  let apiKey: string;
  let organizationId: string;
  let caseId: string;

  before(async () => {
    context = await intakeTestContext();
    ({ apiKey, organizationId } = await context.organization());
    const intake = await postIntake(context, apiKey, minimalBody());
    assert.equal(intake.status, 200);
    caseId = intake.body.data!.caseId!;
  });
  after(() => context.close());

  const get = (url: string, token: string | null = ADMIN_TOKEN) =>
    context.app.inject({ method: 'GET', url, headers: token ? { authorization: `Bearer ${token}` } : {} });

  it('reads a case by id and by short id, audited; another organization and no token are refused', async () => {
    const byId = await get(`/admin/v1/organizations/${organizationId}/cases/${caseId}`);
    assert.equal(byId.statusCode, 200, byId.body);
    const detail = byId.json().case as { id: string; shortId: string };
    assert.equal(detail.id, caseId);
    assert.ok(byId.body.includes('150 lbs'));
    const byShortId = await get(`/admin/v1/organizations/${organizationId}/cases/${detail.shortId.toLowerCase()}`);
    assert.equal(byShortId.statusCode, 200, byShortId.body);
    assert.equal((byShortId.json().case as { id: string }).id, caseId);

    const other = await context.organization();
    const elsewhere = await get(`/admin/v1/organizations/${other.organizationId}/cases/${caseId}`);
    assert.equal(elsewhere.statusCode, 404);
    const noToken = await get(`/admin/v1/organizations/${organizationId}/cases/${caseId}`, null);
    assert.equal(noToken.statusCode, 401);

    await context.services.audit.flush();
    const { rows } = await context.db.query<{ n: number }>(
      `select count(*)::int as n from audit_events
        where action = 'case.read' and resource_id = $1 and api_key_id is null`,
      [caseId],
    );
    assert.equal(rows[0]!.n, 2);
  });
});
