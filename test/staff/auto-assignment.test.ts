import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { Tenant } from '../../src/http/gate.ts';
import { AutoAssigner, AutoAssignmentSettingsRepository } from '../../src/modules/staff/auto-assignment.ts';
import { OrganizationService } from '../../src/modules/organizations/service.ts';
import { StaffRepository } from '../../src/modules/staff/repository.ts';
import { minimalBody } from '../cases/support.ts';
import { ADMIN_TOKEN, type TestContext } from '../support/app.ts';
import { startTwoServers, type TwoServers } from '../support/two-servers.ts';
import {
  createStaff,
  intakeCase,
  partnerCase,
  staffAct,
  staffCaseContext,
  staffMember,
  type SignedIn,
} from './support.ts';

const admin = { authorization: `Bearer ${ADMIN_TOKEN}` };

/** Staff ids in the order the rotation first takes them (never assigned: by id). */
const byId = (ids: string[]) => [...ids].sort();

describe('auto-assignment: settings, the rotation, the cap, and a manual assignment winning', () => {
  let context: TestContext;
  let org: { organizationId: string; apiKey: string };
  let otherOrg: { organizationId: string; apiKey: string };
  let first: SignedIn;
  let second: SignedIn;
  let newYork: { staffId: string };
  let support: SignedIn;

  const settingsUrl = (organizationId: string) => `/admin/v1/organizations/${organizationId}/auto-assignment`;
  const setSettings = async (payload: Record<string, unknown>) => {
    const response = await context.app.inject({
      method: 'PATCH',
      url: settingsUrl(org.organizationId),
      headers: admin,
      payload,
    });
    assert.equal(response.statusCode, 200, response.body);
    return response.json();
  };
  const caseRow = async (caseId: string) => {
    const { rows } = await context.db.query<{ status: string; assignee_staff_id: string | null }>(
      'select status, assignee_staff_id from cases where id = $1',
      [caseId],
    );
    return rows[0]!;
  };
  const events = async (caseId: string) => {
    const { rows } = await context.db.query<{ type: string; actor_kind: string; after: Record<string, unknown> }>(
      'select type, actor_kind, after from case_events where case_id = $1 order by seq',
      [caseId],
    );
    return rows;
  };
  let emails = 0;
  const intake = (state: string, organization = org) =>
    intakeCase(context.app, organization.apiKey, { email: `auto${++emails}@example.com`, state });

  before(async () => {
    context = await staffCaseContext();
    org = await context.organization('Auto Clinic');
    otherOrg = await context.organization('Other Clinic');
    const organizationIds = [org.organizationId];
    const provider = { organizationIds, title: 'MD', npi: '1234567890', licensedStates: ['DC'] };
    first = await staffMember(context.app, 'PROVIDER', provider);
    second = await staffMember(context.app, 'PROVIDER', provider);
    newYork = await createStaff(context.app, 'PROVIDER', { ...provider, licensedStates: ['NY'] });
    // Never in the rotation: disabled, of another organization, or not a provider.
    const disabled = await createStaff(context.app, 'PROVIDER', provider);
    const disable = await context.app.inject({
      method: 'POST',
      url: `/admin/v1/staff/${disabled.staffId}/disable`,
      headers: admin,
    });
    assert.equal(disable.statusCode, 200, disable.body);
    await createStaff(context.app, 'PROVIDER', { ...provider, organizationIds: [otherOrg.organizationId] });
    support = await staffMember(context.app, 'SUPPORT', { organizationIds });
  });
  after(() => context.close());

  it('is off by default: a new case stays OPEN and unassigned', async () => {
    const response = await context.app.inject({ url: settingsUrl(org.organizationId), headers: admin });
    assert.equal(response.statusCode, 200, response.body);
    assert.deepEqual(response.json(), { organizationId: org.organizationId, enabled: false, maxOpenCases: 10 });
    const caseId = await intake('DC');
    assert.deepEqual(await caseRow(caseId), { status: 'OPEN', assignee_staff_id: null });
  });

  it('refuses bad settings with a 400 and changes nothing; an unknown organization is 404', async () => {
    for (const payload of [{ maxOpenCases: 0 }, { maxOpenCases: 2.5 }, { enabled: 'yes' }, { other: true }]) {
      const response = await context.app.inject({
        method: 'PATCH',
        url: settingsUrl(org.organizationId),
        headers: admin,
        payload,
      });
      assert.equal(response.statusCode, 400, `${JSON.stringify(payload)}: ${response.body}`);
      assert.equal(response.json().success, false);
    }
    const unknown = await context.app.inject({
      url: settingsUrl('00000000-0000-4000-8000-000000000000'),
      headers: admin,
    });
    assert.equal(unknown.statusCode, 404, unknown.body);
    const unauthenticated = await context.app.inject({ url: settingsUrl(org.organizationId) });
    assert.equal(unauthenticated.statusCode, 401);
    const { rows } = await context.db.query('select 1 from organization_auto_assignment');
    assert.equal(rows.length, 0);
  });

  it('assigns new OPEN cases in turn to the licensed providers, up to the cap each', async () => {
    assert.deepEqual(await setSettings({ enabled: true, maxOpenCases: 2 }), {
      organizationId: org.organizationId,
      enabled: true,
      maxOpenCases: 2,
    });
    const order = byId([first.staffId, second.staffId]);
    const cases = [];
    for (let index = 0; index < 5; index += 1) cases.push(await intake('DC'));
    const assignees = [];
    for (const caseId of cases) assignees.push((await caseRow(caseId)).assignee_staff_id);
    assert.deepEqual(assignees, [order[0], order[1], order[0], order[1], null]);
    assert.equal((await caseRow(cases[0]!)).status, 'ASSIGNED');
    assert.equal((await caseRow(cases[4]!)).status, 'OPEN');

    // The assignment is the server's, with its events, and the partner sees it as any assignment.
    const recorded = await events(cases[0]!);
    assert.deepEqual(
      recorded.map((event) => [event.type, event.actor_kind]),
      [
        ['case.created', 'api_key'],
        ['case.assignee_added', 'system'],
        ['case.status_changed', 'system'],
      ],
    );
    assert.equal(recorded[1]!.after.assigneeId, order[0]);
    const partner = await partnerCase(context.app, org.apiKey, cases[0]!);
    assert.equal(partner.status, 'ASSIGNED');
    assert.equal(partner.assignedTo.id, order[0]);
    assert.equal(partner.assignedBy, null);

    // A patient in another state goes to the provider licensed there; nobody is licensed in TX.
    const newYorkCase = await intake('NY');
    assert.equal((await caseRow(newYorkCase)).assignee_staff_id, newYork.staffId);
    const texasCase = await intake('TX');
    assert.deepEqual(await caseRow(texasCase), { status: 'OPEN', assignee_staff_id: null });

    // Another organization's setting is its own: still off.
    const elsewhere = await intake('DC', otherOrg);
    assert.equal((await caseRow(elsewhere)).assignee_staff_id, null);
  });

  it('gives a provider the next case once a case of theirs is decided, archived or taken off them', async () => {
    const { rows } = await context.db.query<{ id: string }>(
      `select id from cases where organization_id = $1 and assignee_staff_id = $2 order by created_at, id`,
      [org.organizationId, first.staffId],
    );
    const [decided] = rows;
    const start = await staffAct(context.app, first, decided!.id, 'start-review');
    assert.equal(start.statusCode, 200, start.body);
    const decision = await staffAct(context.app, first, decided!.id, 'decisions', {
      isApproved: true,
      medInfo: [{ medicine: 'Semaglutide' }],
    });
    assert.equal(decision.statusCode, 200, decision.body);
    // One free place: the next case is the first provider's, though the rotation would say the second's turn
    // is older, because the second is at the cap.
    const next = await intake('DC');
    assert.equal((await caseRow(next)).assignee_staff_id, first.staffId);
    const full = await intake('DC');
    assert.equal((await caseRow(full)).assignee_staff_id, null);
  });

  it('assigns an ABANDONED case when the partner sets it to OPEN; never one staff unassigned', async () => {
    await setSettings({ maxOpenCases: 100 });
    // An intake with status ABANDONED waits; OPEN through CHANGE_CASE_STATUS assigns it.
    const body = minimalBody({
      email: `abandoned${++emails}@example.com`,
      status: 'ABANDONED',
      shippingAddress: { addressLine1: '1 Main St', city: 'Town', state: 'NY', country: 'US', postalCode: '10001' },
    });
    const created = await context.app.inject({
      method: 'POST',
      url: '/api/v1/dynamic-case',
      headers: { 'cv-api-key': org.apiKey },
      payload: body,
    });
    assert.equal(created.statusCode, 200, created.body);
    const caseId = created.json().data.caseId as string;
    assert.deepEqual(await caseRow(caseId), { status: 'ABANDONED', assignee_staff_id: null });
    const opened = await context.app.inject({
      method: 'POST',
      url: `/api/v1/cases/${caseId}`,
      headers: { 'cv-api-key': org.apiKey },
      payload: { action: 'CHANGE_CASE_STATUS', status: 'OPEN' },
    });
    assert.equal(opened.statusCode, 200, opened.body);
    assert.deepEqual(await caseRow(caseId), { status: 'ASSIGNED', assignee_staff_id: newYork.staffId });

    // Staff taking the assignee off puts the case in the queue, where it stays (staff chose that).
    const unassigned = await staffAct(context.app, support, caseId, 'unassign');
    assert.equal(unassigned.statusCode, 200, unassigned.body);
    assert.deepEqual(await caseRow(caseId), { status: 'OPEN', assignee_staff_id: null });
  });

  it('leaves a case staff assigned first as it is: a manual assignment wins', async () => {
    await setSettings({ enabled: false });
    const caseId = await intake('DC');
    const assigned = await staffAct(context.app, support, caseId, 'assign', { assigneeId: second.staffId });
    assert.equal(assigned.statusCode, 200, assigned.body);
    await setSettings({ enabled: true });
    const before = await events(caseId);
    // The auto-assignment of this case arriving late (another process) finds it assigned and does nothing.
    const tenant = Tenant.forOperator(org.organizationId, 'test: a late auto-assignment');
    assert.equal(await new AutoAssigner(context.db).caseOpened(tenant, caseId), null);
    assert.deepEqual(await caseRow(caseId), { status: 'ASSIGNED', assignee_staff_id: second.staffId });
    assert.equal((await events(caseId)).length, before.length);
  });
});

describe('auto-assignment with two servers: concurrent intakes keep the cap and the rotation', () => {
  let servers: TwoServers;
  let apiKey: string;
  let organizationId: string;
  const providers: string[] = [];

  before(async () => {
    servers = await startTwoServers();
    ({ apiKey, organizationId } = await new OrganizationService(servers.db).createOrganization('Racing rotation'));
    const staff = new StaffRepository(servers.db);
    for (let index = 0; index < 3; index += 1) {
      const id = crypto.randomUUID();
      await servers.db.transaction((tx) =>
        staff.insert(tx, {
          id,
          email: `rotation${index}@clinic.example`,
          firstName: 'Rota',
          lastName: `Provider${index}`,
          role: 'PROVIDER',
          organizationIds: [organizationId],
          title: 'MD',
          npi: null,
          dea: null,
          licensedStates: ['DC'],
          passwordHash: null,
        }),
      );
      providers.push(id);
    }
  });
  after(() => servers.close());

  const settings = () =>
    new AutoAssignmentSettingsRepository(servers.db, Tenant.forOperator(organizationId, 'test: settings'));
  const intakes = async (count: number, round: string) => {
    const answers = await servers.race(count, (index) => ({
      method: 'POST',
      url: '/api/v1/dynamic-case',
      apiKey,
      body: minimalBody({
        email: `${round}${index}@example.com`,
        shippingAddress: { addressLine1: '1 Main St', city: 'Town', state: 'DC', country: 'US', postalCode: '20500' },
      }),
    }));
    for (const answer of answers) assert.equal(answer.status, 200, answer.text);
    assert.deepEqual(servers.brokenAnswers(), []);
  };
  const openCounts = async () => {
    const { rows } = await servers.db.query<{ assignee: string | null; count: number }>(
      `select assignee_staff_id::text as assignee, count(*)::int as count from cases
        where organization_id = $1 group by 1`,
      [organizationId],
    );
    return Object.fromEntries(rows.map((row) => [row.assignee ?? 'unassigned', row.count]));
  };

  it('nine intakes at once: three cases for each provider, one event pair per assignment', async () => {
    await settings().update({ enabled: true, maxOpenCases: 10 });
    await intakes(9, 'first');
    assert.deepEqual(await openCounts(), Object.fromEntries(providers.map((id) => [id, 3])));
    const { rows } = await servers.db.query<{ type: string; count: number }>(
      `select type, count(*)::int as count from case_events where organization_id = $1 and actor_kind = 'system'
        group by type order by type`,
      [organizationId],
    );
    assert.deepEqual(rows, [
      { type: 'case.assignee_added', count: 9 },
      { type: 'case.status_changed', count: 9 },
    ]);
  });

  it('six more at once under a cap of four: one more each, the rest wait in the queue', async () => {
    await settings().update({ maxOpenCases: 4 });
    await intakes(6, 'second');
    assert.deepEqual(await openCounts(), {
      ...Object.fromEntries(providers.map((id) => [id, 4])),
      unassigned: 3,
    });
  });
});
