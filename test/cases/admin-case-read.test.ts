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

describe('GET /admin/v1/organizations/:organizationId/cases', () => {
  let context: TestContext;
  let organizationId: string;
  let caseIds: string[];
  let other: { apiKey: string; organizationId: string };
  let otherCaseId: string;

  before(async () => {
    context = await intakeTestContext();
    const organization = await context.organization();
    organizationId = organization.organizationId;
    caseIds = [];
    // One after another, so creation order is the list's order.
    for (const email of ['a@example.com', 'b@example.com', 'c@example.com']) {
      const intake = await postIntake(context, organization.apiKey, minimalBody({ email }));
      assert.equal(intake.status, 200, JSON.stringify(intake.body));
      caseIds.push(intake.body.data!.caseId!);
    }
    other = await context.organization();
    const intake = await postIntake(context, other.apiKey, minimalBody());
    otherCaseId = intake.body.data!.caseId!;
  });
  after(() => context.close());

  const list = (organization: string, query = '', token: string | null = ADMIN_TOKEN) =>
    context.app.inject({
      method: 'GET',
      url: `/admin/v1/organizations/${organization}/cases${query}`,
      headers: token ? { authorization: `Bearer ${token}` } : {},
    });
  const readsOf = async (caseId: string) => {
    await context.services.audit.flush();
    const { rows } = await context.db.query<{ n: number }>(
      `select count(*)::int as n from audit_events
        where action = 'case.read' and resource_id = $1 and api_key_id is null`,
      [caseId],
    );
    return rows[0]!.n;
  };

  it('pages through the cases oldest first with nextCursor, each case shown audited', async () => {
    const first = await list(organizationId, '?limit=2');
    assert.equal(first.statusCode, 200, first.body);
    const firstPage = first.json() as { cases: { id: string; submitter: { email: string } }[]; nextCursor: string };
    assert.deepEqual(
      firstPage.cases.map((listed) => listed.id),
      caseIds.slice(0, 2),
    );
    assert.equal(firstPage.cases[0]!.submitter.email, 'a@example.com');
    assert.ok(first.body.includes('150 lbs'), 'answers decrypted');
    assert.equal(typeof firstPage.nextCursor, 'string');

    const second = await list(organizationId, `?limit=2&cursor=${firstPage.nextCursor}`);
    assert.equal(second.statusCode, 200, second.body);
    assert.deepEqual(
      (second.json() as { cases: { id: string }[] }).cases.map((listed) => listed.id),
      caseIds.slice(2),
    );
    assert.equal(second.json().nextCursor, null);

    assert.equal(await readsOf(caseIds[0]!), 1);
    assert.equal(await readsOf(caseIds[2]!), 1);
    assert.equal(await readsOf(otherCaseId), 0, "another organization's case is not read");
  });

  it('filters by status and range; bad input is a 400 in the standard envelope', async () => {
    const open = await list(organizationId, '?status=open,ASSIGNED');
    assert.equal(open.statusCode, 200, open.body);
    assert.equal((open.json() as { cases: unknown[] }).cases.length, 3);
    const abandoned = await list(organizationId, '?status=ABANDONED');
    assert.deepEqual(abandoned.json(), { cases: [], nextCursor: null });
    const future = await list(organizationId, '?startTime=2099-01-01T00:00:00Z&endTime=2099-02-01T00:00:00Z');
    assert.deepEqual(future.json(), { cases: [], nextCursor: null });

    for (const [query, message] of [
      ['?status=CLOSED', /Invalid status 'CLOSED'/],
      ['?startTime=2024-01-01T00:00:00Z&endTime=2024-03-02T00:00:00Z', /must not exceed 60 days/],
      ['?startTime=2024-01-02T00:00:00Z&endTime=2024-01-01T00:00:00Z', /endTime must be later/],
      ['?endTime=yesterday', /endTime/],
      ['?limit=101', /limit/],
      ['?cursor=not-a-cursor', /Invalid cursor/],
    ] as const) {
      const refused = await list(organizationId, query);
      assert.equal(refused.statusCode, 400, query);
      const body = refused.json() as { status: number; success: boolean; error: string };
      assert.equal(body.status, 400);
      assert.equal(body.success, false);
      assert.match(body.error, message, query);
    }
  });

  it("refuses another organization's case as a cursor, an unknown organization and a missing token", async () => {
    const foreignCursor = Buffer.from(JSON.stringify({ id: otherCaseId })).toString('base64url');
    const foreign = await list(organizationId, `?cursor=${foreignCursor}`);
    assert.equal(foreign.statusCode, 400, foreign.body);
    assert.equal(await readsOf(otherCaseId), 0);

    const unknown = await list('00000000-0000-4000-8000-000000000000');
    assert.equal(unknown.statusCode, 404);
    assert.equal(unknown.json().error, 'Organization not found');
    assert.equal((await list('not-a-uuid')).statusCode, 400);
    assert.equal((await list(organizationId, '', null)).statusCode, 401);
  });
});
