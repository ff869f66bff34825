import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { ADMIN_TOKEN, type TestContext } from '../support/app.ts';
import { bearer, intakeCase, partnerCase, staffAct, staffCaseContext, staffMember, type SignedIn } from './support.ts';

describe('the staff queue, the case read and the case actions', () => {
  let context: TestContext;
  let orgA: { organizationId: string; apiKey: string };
  let orgB: { organizationId: string; apiKey: string };
  let caseDC: string;
  let caseNY: string;
  let caseB: string;
  let supportA: SignedIn;
  let supportB: SignedIn;
  let adminAll: SignedIn;
  let providerDC: SignedIn;
  let providerNY: SignedIn;

  const intake = (org: { apiKey: string }, email: string, state: string, lastName: string) =>
    intakeCase(context.app, org.apiKey, { email, state, lastName, phoneNumber: '+12025550123' });

  before(async () => {
    context = await staffCaseContext();
    orgA = await context.organization('Clinic A');
    orgB = await context.organization('Clinic B');
    caseDC = await intake(orgA, 'grace@example.com', 'DC', 'Hopper');
    caseNY = await intake(orgA, 'alan@example.com', 'NY', 'Turing');
    caseB = await intake(orgB, 'edsger@example.com', 'DC', 'Dijkstra');
    const provider = (states: string[]) => ({
      organizationIds: [orgA.organizationId],
      title: 'MD',
      npi: '1234567890',
      dea: 'AB1234567',
      licensedStates: states,
    });
    supportA = await staffMember(context.app, 'SUPPORT', { organizationIds: [orgA.organizationId] });
    supportB = await staffMember(context.app, 'SUPPORT', { organizationIds: [orgB.organizationId] });
    adminAll = await staffMember(context.app, 'ADMIN');
    providerDC = await staffMember(context.app, 'PROVIDER', provider(['DC']));
    providerNY = await staffMember(context.app, 'PROVIDER', provider(['NY']));
  });
  after(() => context.close());

  const get = (member: SignedIn, url: string) => context.app.inject({ url, headers: bearer(member) });
  const act = (member: SignedIn, caseId: string, action: string, payload: Record<string, unknown> = {}) =>
    staffAct(context.app, member, caseId, action, payload);
  const queueIds = async (member: SignedIn, query = '') => {
    const response = await get(member, `/staff/v1/cases${query}`);
    assert.equal(response.statusCode, 200, response.body);
    return (response.json().cases as { id: string }[]).map((item) => item.id);
  };
  const partnerView = (caseId: string) => partnerCase(context.app, orgA.apiKey, caseId);

  it('shows each role the cases it may see', async () => {
    assert.deepEqual(await queueIds(supportA), [caseDC, caseNY]);
    assert.deepEqual(await queueIds(supportB), [caseB]);
    assert.deepEqual(await queueIds(adminAll), [caseDC, caseNY, caseB]);
    assert.deepEqual(await queueIds(providerDC), [caseDC], 'unassigned cases of the states they are licensed in');
    assert.deepEqual(await queueIds(providerNY), [caseNY]);
  });

  it('filters, searches, pages by cursor and counts per status', async () => {
    const response = await get(supportA, '/staff/v1/cases?limit=1');
    const first = response.json();
    assert.deepEqual(first.counts, { OPEN: 2 });
    assert.deepEqual(first.countsCapped, { OPEN: false }, 'exact below the cap');
    assert.equal(first.cases.length, 1);
    assert.equal(first.cases[0].patient.lastName, 'Hopper');
    assert.equal(first.cases[0].patient.state, 'DC');
    assert.deepEqual(await queueIds(supportA, `?limit=1&after=${first.nextCursor}`), [caseNY]);
    const shortId = first.cases[0].shortId as string;
    assert.deepEqual(await queueIds(supportA, `?search=${shortId.toLowerCase()}`), [caseDC]);
    assert.deepEqual(await queueIds(supportA, '?search=ALAN@example.com'), [caseNY]);
    assert.deepEqual(await queueIds(supportA, '?search=turi'), [caseNY]);
    assert.deepEqual(await queueIds(supportA, '?search=100%25'), []);
    assert.deepEqual(await queueIds(supportA, '?state=ny'), [caseNY]);
    assert.deepEqual(await queueIds(supportA, '?status=APPROVED'), []);
    assert.deepEqual(await queueIds(adminAll, `?organizationId=${orgB.organizationId}`), [caseB]);
    assert.deepEqual(await queueIds(supportA, '?archived=true'), []);
    assert.deepEqual(await queueIds(supportA, '?createdFrom=2999-01-01T00:00:00Z'), []);
    for (const query of ['?status=DONE', `?after=${caseB}`, '?after=nope', '?limit=0', '?unassigned=yes']) {
      const refused = await get(supportA, `/staff/v1/cases${query}`);
      assert.equal(refused.statusCode, 400, `${query}: ${refused.body}`);
    }
  });

  it("filters by one of the member's organizations; another one is 404 in the standard envelope", async () => {
    const supportAB = await staffMember(context.app, 'SUPPORT', {
      organizationIds: [orgA.organizationId, orgB.organizationId],
    });
    assert.deepEqual(await queueIds(supportAB), [caseDC, caseNY, caseB]);
    assert.deepEqual(await queueIds(supportAB, `?organizationId=${orgA.organizationId}`), [caseDC, caseNY]);
    const onlyB = (await get(supportAB, `/staff/v1/cases?organizationId=${orgB.organizationId}`)).json();
    assert.deepEqual(onlyB.counts, { OPEN: 1 }, 'the counts follow the organization filter');
    const names = await get(supportAB, '/staff/v1/organizations');
    assert.equal(names.statusCode, 200, names.body);
    assert.deepEqual(names.json().organizations, [
      { id: orgA.organizationId, name: 'Clinic A' },
      { id: orgB.organizationId, name: 'Clinic B' },
    ]);
    assert.deepEqual(
      (await get(supportA, '/staff/v1/organizations')).json().organizations.map((item: { id: string }) => item.id),
      [orgA.organizationId],
    );
    const everyName = (await get(adminAll, '/staff/v1/organizations')).json().organizations as { id: string }[];
    assert.ok(everyName.some((item) => item.id === orgB.organizationId), 'a member of every organization sees all');
    const unknown = '00000000-0000-4000-8000-000000000000';
    for (const [member, organizationId] of [
      [supportA, orgB.organizationId],
      [adminAll, unknown],
    ] as const) {
      const refused = await get(member, `/staff/v1/cases?organizationId=${organizationId}`);
      assert.equal(refused.statusCode, 404, refused.body);
      assert.deepEqual(refused.json(), { status: 404, success: false, error: 'Organization not found' });
    }
    assert.equal((await get(supportA, '/staff/v1/cases?organizationId=nope')).statusCode, 400);
  });

  it('reads a case through the serializer, PHI decrypted, audited with the staff id', async () => {
    const response = await get(supportA, `/staff/v1/cases/${caseDC}`);
    assert.equal(response.statusCode, 200, response.body);
    const body = response.json();
    assert.equal(body.caseDetail.id, caseDC);
    assert.equal(body.caseDetail.submitter.email, 'grace@example.com');
    assert.equal(body.assigneeId, null);
    assert.equal((await get(supportB, `/staff/v1/cases/${caseDC}`)).statusCode, 404, 'another organization');
    assert.equal((await get(providerNY, `/staff/v1/cases/${caseDC}`)).statusCode, 404, 'not licensed there');
    assert.equal((await get(supportA, '/staff/v1/cases/not-a-case')).statusCode, 404);
    await context.services.audit.flush();
    const audit = await context.app.inject({
      url: `/admin/v1/audit-events?staffId=${supportA.staffId}&action=case.read&resourceId=${caseDC}`,
      headers: { authorization: `Bearer ${ADMIN_TOKEN}` },
    });
    const events = audit.json().auditEvents as { organizationId: string; staffId: string; outcome: string }[];
    assert.ok(events.some((event) => event.organizationId === orgA.organizationId && event.outcome === 'success'));
    assert.ok(events.every((event) => event.staffId === supportA.staffId));
  });

  it('walks a case from OPEN to APPROVED, each step a case event the partner API agrees with', async () => {
    const endpoint = await context.app.inject({
      method: 'POST',
      url: `/admin/v1/organizations/${orgA.organizationId}/webhooks`,
      headers: { authorization: `Bearer ${ADMIN_TOKEN}` },
      payload: { url: 'http://127.0.0.1:9/care360', events: ['ADD_CASE_ASSIGNEE', 'ADD_CASE_DECISION'] },
    });
    assert.equal(endpoint.statusCode, 201, endpoint.body);
    const assigned = await act(supportA, caseDC, 'assign', { assigneeId: providerDC.staffId });
    assert.equal(assigned.statusCode, 200, assigned.body);
    assert.equal(assigned.json().case.status, 'ASSIGNED');
    assert.equal((await partnerView(caseDC)).status, 'ASSIGNED');
    // The provider now sees it as assigned to them; the other provider does not.
    assert.deepEqual(await queueIds(providerDC, `?assigneeId=${providerDC.staffId}`), [caseDC]);
    assert.deepEqual(await queueIds(providerNY), [caseNY]);

    const support = await act(supportA, caseDC, 'decisions', { isApproved: true });
    assert.equal(support.statusCode, 403, 'SUPPORT never decides');
    const stranger = await act(providerNY, caseDC, 'decisions', { isApproved: true });
    assert.equal(stranger.statusCode, 409);
    assert.equal(stranger.json().found.assigneeId, providerDC.staffId);

    const review = await act(providerDC, caseDC, 'start-review');
    assert.equal(review.statusCode, 200, review.body);
    assert.equal((await partnerView(caseDC)).status, 'IN_PROGRESS');

    const stale = await act(providerDC, caseDC, 'decisions', { isApproved: true, expectedVersion: 1 });
    assert.equal(stale.statusCode, 409);
    assert.equal(stale.json().found.status, 'IN_PROGRESS');

    const medInfo = [{ medicine: 'Semaglutide', dosage: '0.25 mg', refillCount: 2, dosingFrequency: 'weekly' }];
    const decided = await act(providerDC, caseDC, 'decisions', {
      isApproved: true,
      decisionText: 'Approved for treatment',
      visitType: 'ASYNC_TEXT_EMAIL',
      medInfo,
    });
    assert.equal(decided.statusCode, 200, decided.body);
    assert.equal(decided.json().case.status, 'APPROVED');
    const shown = await partnerView(caseDC);
    assert.equal(shown.status, 'APPROVED');
    const [decision] = shown.decisions;
    assert.equal(decision.isApproved, true);
    assert.equal(decision.medInfo[0].medicine, 'Semaglutide');
    assert.equal(decision.addedBy.npi, '1234567890');
    assert.equal(decision.addedBy.dea, 'AB1234567');
    assert.equal(decision.addedBy.title, 'MD');

    const again = await act(providerDC, caseDC, 'decisions', { isApproved: false });
    assert.equal(again.statusCode, 409);
    assert.equal(again.json().found.status, 'APPROVED');

    const { rows } = await context.db.query<{ type: string; actor_kind: string; actor_id: string }>(
      `select type, actor_kind, actor_id from case_events where case_id = $1 and actor_kind = 'staff' order by seq`,
      [caseDC],
    );
    assert.deepEqual(
      rows.map((row) => row.type),
      [
        'case.assignee_added',
        'case.status_changed',
        'case.status_changed',
        'case.decision_added',
        'case.status_changed',
      ],
    );
    assert.equal(rows[0]!.actor_id, supportA.staffId);
    assert.equal(rows[3]!.actor_id, providerDC.staffId);
    // Each subscribed event reached the partner's webhook queue in its transaction.
    const deliveries = await context.db.query<{ event: string; subject: Record<string, string> }>(
      'select event, subject from webhook_deliveries where case_id = $1 order by sequence',
      [caseDC],
    );
    assert.deepEqual(
      deliveries.rows.map((row) => row.event),
      ['ADD_CASE_ASSIGNEE', 'ADD_CASE_DECISION'],
    );
    assert.equal(deliveries.rows[0]!.subject.assigneeId, providerDC.staffId);
    assert.equal(deliveries.rows[1]!.subject.decisionId, decision.id);
    await context.services.audit.flush();
    const audit = await context.app.inject({
      url: `/admin/v1/audit-events?staffId=${providerDC.staffId}&action=case.decide`,
      headers: { authorization: `Bearer ${ADMIN_TOKEN}` },
    });
    const decideEvents = audit.json().auditEvents as { organizationId: string; resourceId: string; outcome: string }[];
    assert.ok(
      decideEvents.some(
        (event) =>
          event.organizationId === orgA.organizationId && event.resourceId === caseDC && event.outcome === 'success',
      ),
    );

    // Archived as COMPLETE, reopened, archived again: the partner API shows each, and each is a case event.
    const archived = await act(supportA, caseDC, 'archive', { archiveReason: 'COMPLETE', archiveNote: 'Shipped' });
    assert.equal(archived.statusCode, 200, archived.body);
    let partner = await partnerView(caseDC);
    assert.equal(partner.isArchived, true);
    assert.equal(partner.archiveReason, 'COMPLETE');
    assert.equal(partner.status, 'APPROVED');
    assert.equal((await act(supportA, caseDC, 'archive', { archiveReason: 'COMPLETE' })).statusCode, 409);
    assert.equal((await act(supportA, caseDC, 'archive', { archiveReason: 'LOST' })).statusCode, 400);
    assert.equal((await act(supportA, caseDC, 'reopen')).statusCode, 200);
    assert.equal((await partnerView(caseDC)).isArchived, false);
    assert.equal((await act(supportA, caseDC, 'reopen')).statusCode, 409);
    assert.equal((await act(providerDC, caseDC, 'archive', { archiveReason: 'COMPLETE' })).statusCode, 200);
    partner = await partnerView(caseDC);
    assert.equal(partner.isArchived, true);
    const archiveEvents = await context.db.query<{ type: string }>(
      `select type from case_events where case_id = $1 and type in ('case.archived', 'case.reopened') order by seq`,
      [caseDC],
    );
    assert.deepEqual(
      archiveEvents.rows.map((row) => row.type),
      ['case.archived', 'case.reopened', 'case.archived'],
    );
  });

  it("refuses a decision by a provider not licensed in the patient's state, and bad decisions, writing nothing", async () => {
    const assigned = await act(adminAll, caseNY, 'assign', { assigneeId: providerDC.staffId });
    assert.equal(assigned.statusCode, 200, assigned.body);
    const before = await context.db.query('select id from case_decisions where case_id = $1', [caseNY]);
    assert.equal((await act(providerDC, caseNY, 'decisions', { isApproved: true })).statusCode, 403);
    assert.equal(
      (await act(providerDC, caseNY, 'decisions', { isApproved: true, isNoDecision: true })).statusCode,
      400,
    );
    assert.equal((await act(providerDC, caseNY, 'decisions', { medInfo: [{ dosage: '1' }] })).statusCode, 400);
    assert.equal((await act(providerDC, caseNY, 'decisions', { visitType: 'TELEPATHY' })).statusCode, 400);
    const afterRows = await context.db.query('select id from case_decisions where case_id = $1', [caseNY]);
    assert.equal(afterRows.rows.length, before.rows.length);
    // A provider assigns only themselves; an assignee must work for the case's organization.
    assert.equal((await act(providerNY, caseNY, 'assign', { assigneeId: providerDC.staffId })).statusCode, 403);
    assert.equal((await act(supportA, caseNY, 'assign', { assigneeId: supportB.staffId })).statusCode, 400);
    assert.equal((await act(supportB, caseNY, 'assign', { assigneeId: supportB.staffId })).statusCode, 404);
    const unassigned = await act(supportA, caseNY, 'unassign');
    assert.equal(unassigned.statusCode, 200, unassigned.body);
    assert.equal(unassigned.json().case.status, 'OPEN');
    assert.equal((await act(supportA, caseNY, 'unassign')).statusCode, 409);
  });

  it('two decisions at once: one wins, the other gets 409 with the state the winner left', async () => {
    const caseId = await intake(orgA, 'race@example.com', 'DC', 'Race');
    assert.equal((await act(supportA, caseId, 'assign', { assigneeId: providerDC.staffId })).statusCode, 200);
    const answers = await Promise.all([
      act(providerDC, caseId, 'decisions', { isApproved: true }),
      act(providerDC, caseId, 'decisions', { isApproved: false, decisionText: 'Not eligible' }),
    ]);
    const statuses = answers.map((response) => response.statusCode).sort();
    assert.deepEqual(statuses, [200, 409]);
    const winner = answers.find((response) => response.statusCode === 200)!.json().case;
    const loser = answers.find((response) => response.statusCode === 409)!.json();
    assert.equal(loser.found.status, winner.status);
    assert.equal((await partnerView(caseId)).status, winner.status);
    const { rows } = await context.db.query('select id from case_decisions where case_id = $1', [caseId]);
    assert.equal(rows.length, 1);
  });

  it('assign and unassign at once end in a state one of them produced', async () => {
    const caseId = await intake(orgA, 'race2@example.com', 'DC', 'Race');
    assert.equal((await act(supportA, caseId, 'assign', { assigneeId: providerDC.staffId })).statusCode, 200);
    const [reassign, unassign] = await Promise.all([
      act(adminAll, caseId, 'assign', { assigneeId: supportA.staffId }),
      act(supportA, caseId, 'unassign'),
    ]);
    assert.equal(reassign.statusCode, 200, reassign.body);
    const final = (await get(supportA, `/staff/v1/cases/${caseId}`)).json();
    const produced = [reassign.json().case, ...(unassign.statusCode === 200 ? [unassign.json().case] : [])];
    assert.ok(produced.some((state) => state.version === final.version && state.assigneeId === final.assigneeId));
    if (unassign.statusCode === 409) assert.ok(unassign.json().found);
  });
});
