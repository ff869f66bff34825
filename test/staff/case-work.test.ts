import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { ADMIN_TOKEN, type TestContext } from '../support/app.ts';
import { bearer, intakeCase, partnerCase, staffAct, staffCaseContext, staffMember, type SignedIn } from './support.ts';

/**
 * The staff work on a case beyond assign and decide: comments and internal notes, their deletion, escalation,
 * deleting a decision, and the partner case's assignee fields. Each change is a case event in its transaction;
 * what the partner may not see never reaches its reads or its webhook queue.
 */
describe('staff comments, internal notes, escalation and deleted decisions', () => {
  let context: TestContext;
  let org: { organizationId: string; apiKey: string };
  let support: SignedIn;
  let otherSupport: SignedIn;
  let admin: SignedIn;
  let provider: SignedIn;

  const intake = (email: string) => intakeCase(context.app, org.apiKey, { email, state: 'DC' });

  before(async () => {
    context = await staffCaseContext();
    org = await context.organization('Clinic Work');
    const endpoint = await context.app.inject({
      method: 'POST',
      url: `/admin/v1/organizations/${org.organizationId}/webhooks`,
      headers: { authorization: `Bearer ${ADMIN_TOKEN}` },
      payload: {
        url: 'http://127.0.0.1:9/care360',
        events: [
          'ADD_CASE_COMMENT',
          'DELETE_CASE_COMMENT',
          'ESCALATE_CASE',
          'DEESCALATE_CASE',
          'DECISION_DELETED',
          'CHANGE_CASE_STATUS',
        ],
      },
    });
    assert.equal(endpoint.statusCode, 201, endpoint.body);
    const organizationIds = [org.organizationId];
    support = await staffMember(context.app, 'SUPPORT', { organizationIds });
    otherSupport = await staffMember(context.app, 'SUPPORT', { organizationIds });
    admin = await staffMember(context.app, 'ADMIN', { organizationIds });
    provider = await staffMember(context.app, 'PROVIDER', {
      organizationIds,
      title: 'MD',
      npi: '1234567890',
      licensedStates: ['DC'],
    });
  });
  after(() => context.close());

  const act = (member: SignedIn, caseId: string, action: string, payload: Record<string, unknown> = {}) =>
    staffAct(context.app, member, caseId, action, payload);
  const remove = (member: SignedIn, path: string) =>
    context.app.inject({ method: 'DELETE', url: `/staff/v1/cases/${path}`, headers: bearer(member) });
  const partnerView = (caseId: string) => partnerCase(context.app, org.apiKey, caseId);
  const staffView = async (member: SignedIn, caseId: string) => {
    const response = await context.app.inject({ url: `/staff/v1/cases/${caseId}`, headers: bearer(member) });
    assert.equal(response.statusCode, 200, response.body);
    return response.json().caseDetail;
  };
  const events = async (caseId: string) =>
    (
      await context.db.query<{ type: string; actor_id: string }>(
        `select type, actor_id from case_events where case_id = $1 and actor_kind = 'staff' order by seq`,
        [caseId],
      )
    ).rows;
  const deliveries = async (caseId: string) =>
    (
      await context.db.query<{ event: string; subject: Record<string, string> }>(
        'select event, subject from webhook_deliveries where case_id = $1 order by sequence',
        [caseId],
      )
    ).rows;

  it('adds a comment the partner sees and an internal note it never sees nor receives', async () => {
    const caseId = await intake('notes@example.com');
    const comment = await act(support, caseId, 'comments', { text: 'Please send a photo ID' });
    assert.equal(comment.statusCode, 200, comment.body);
    const { commentId } = comment.json();
    const note = await act(provider, caseId, 'comments', { text: 'BMI borderline, check labs', isRestricted: true });
    assert.equal(note.statusCode, 200, note.body);
    const noteId = note.json().commentId;

    const partner = await partnerView(caseId);
    assert.deepEqual(
      partner.comments.map((item: { id: string }) => item.id),
      [commentId],
    );
    assert.equal(partner.comments[0].text, 'Please send a photo ID');
    assert.equal(partner.comments[0].isRestricted, false);
    assert.equal(partner.comments[0].author.id, support.staffId);
    assert.equal(partner.comments[0].author.role, 'SUPPORT');
    assert.ok(!JSON.stringify(partner).includes('BMI borderline'));

    const staff = await staffView(support, caseId);
    const byId = new Map(staff.comments.map((item: { id: string }) => [item.id, item]));
    assert.equal((byId.get(noteId) as { text: string; isRestricted: boolean }).text, 'BMI borderline, check labs');
    assert.equal((byId.get(noteId) as { isRestricted: boolean }).isRestricted, true);
    assert.equal((byId.get(noteId) as { author: { npi: string } }).author.npi, '1234567890');

    // The text is sealed at rest, like a partner's comment.
    const stored = await context.db.query<{ encrypted_text: string }>(
      'select encrypted_text from case_comments where id = $1',
      [noteId],
    );
    assert.ok(!stored.rows[0]!.encrypted_text.includes('BMI'));

    assert.deepEqual(
      (await events(caseId)).map((row) => row.type),
      ['case.comment_added', 'case.comment_added'],
    );
    const queued = await deliveries(caseId);
    assert.deepEqual(
      queued.map((row) => [row.event, row.subject.commentId]),
      [['ADD_CASE_COMMENT', commentId]],
      'the internal note is sent to no webhook',
    );
  });

  it('deletes a comment (its author or an ADMIN), never a partner comment, writing DELETE_CASE_COMMENT', async () => {
    const caseId = await intake('delete-comments@example.com');
    const partnerComment = await context.app.inject({
      method: 'POST',
      url: `/api/v1/cases/${caseId}`,
      headers: { 'cv-api-key': org.apiKey },
      payload: { action: 'ADD_COMMUNICATION', communication: { text: 'From the storefront' } },
    });
    assert.equal(partnerComment.statusCode, 200, partnerComment.body);
    const partnerCommentId = (await partnerView(caseId)).comments[0].id as string;
    const mine = (await act(support, caseId, 'comments', { text: 'Called the patient' })).json().commentId as string;
    const note = (await act(support, caseId, 'comments', { text: 'Internal', isRestricted: true })).json()
      .commentId as string;

    assert.equal((await remove(support, `${caseId}/comments/${partnerCommentId}`)).statusCode, 403);
    assert.equal((await remove(otherSupport, `${caseId}/comments/${mine}`)).statusCode, 403, 'not its author');
    assert.equal((await remove(support, `${caseId}/comments/${randomUUID()}`)).statusCode, 404);
    assert.equal((await remove(support, `${caseId}/comments/not-an-id`)).statusCode, 404);

    const deleted = await remove(support, `${caseId}/comments/${mine}`);
    assert.equal(deleted.statusCode, 200, deleted.body);
    assert.equal((await remove(support, `${caseId}/comments/${mine}`)).statusCode, 404, 'already deleted');
    const byAdmin = await remove(admin, `${caseId}/comments/${note}`);
    assert.equal(byAdmin.statusCode, 200, byAdmin.body);

    assert.deepEqual(
      (await partnerView(caseId)).comments.map((item: { id: string }) => item.id),
      [partnerCommentId],
    );
    assert.deepEqual(
      (await staffView(support, caseId)).comments.map((item: { id: string }) => item.id),
      [partnerCommentId],
    );
    const staffEvents = await events(caseId);
    assert.deepEqual(
      staffEvents.map((row) => row.type),
      ['case.comment_added', 'case.comment_added', 'case.comment_deleted', 'case.comment_deleted'],
    );
    assert.equal(staffEvents[3]!.actor_id, admin.staffId);
    const queued = (await deliveries(caseId)).filter((row) => row.event === 'DELETE_CASE_COMMENT');
    assert.deepEqual(
      queued.map((row) => row.subject.commentId),
      [mine],
      "only the partner-visible comment's deletion is sent",
    );
  });

  it('escalates and de-escalates, 409 when the flag is already so; the queue filters on it', async () => {
    const caseId = await intake('escalate@example.com');
    const escalated = await act(support, caseId, 'escalate');
    assert.equal(escalated.statusCode, 200, escalated.body);
    assert.equal(escalated.json().case.isEscalated, true);
    assert.equal((await partnerView(caseId)).isEscalated, true);
    const again = await act(support, caseId, 'escalate');
    assert.equal(again.statusCode, 409);
    assert.equal(again.json().found.isEscalated, true);
    const queue = await context.app.inject({ url: '/staff/v1/cases?escalated=true', headers: bearer(support) });
    assert.deepEqual(
      queue.json().cases.map((item: { id: string }) => item.id),
      [caseId],
    );
    // A PROVIDER escalates only the cases assigned to them.
    assert.equal((await act(provider, caseId, 'deescalate')).statusCode, 409);
    const stale = await act(support, caseId, 'deescalate', { expectedVersion: 1 });
    assert.equal(stale.statusCode, 409);
    const off = await act(support, caseId, 'deescalate');
    assert.equal(off.statusCode, 200, off.body);
    assert.equal((await partnerView(caseId)).isEscalated, false);
    assert.equal((await act(support, caseId, 'deescalate')).statusCode, 409);
    assert.deepEqual(
      (await events(caseId)).map((row) => row.type),
      ['case.escalated', 'case.deescalated'],
    );
    assert.deepEqual(
      (await deliveries(caseId)).map((row) => row.event),
      ['ESCALATE_CASE', 'DEESCALATE_CASE'],
    );
  });

  it('shows the assignee on the partner case, and deletes a decision back to IN_PROGRESS', async () => {
    const caseId = await intake('decision-delete@example.com');
    let partner = await partnerView(caseId);
    assert.equal(partner.assignedTo, null);
    assert.deepEqual(partner.assignees, []);
    assert.equal((await act(support, caseId, 'assign', { assigneeId: provider.staffId })).statusCode, 200);
    partner = await partnerView(caseId);
    const name = { id: provider.staffId, firstName: 'Sam', lastName: partner.assignedTo.lastName };
    assert.match(name.lastName, /^Staff\d+$/);
    assert.deepEqual(partner.assignedTo, name);
    assert.equal(partner.assignedBy.id, support.staffId);
    assert.deepEqual(partner.assignees, [{ assignee: name }]);

    const decided = await act(provider, caseId, 'decisions', { isApproved: true, medInfo: [{ medicine: 'Drug' }] });
    assert.equal(decided.statusCode, 200, decided.body);
    const { decisionId } = decided.json();
    assert.equal((await partnerView(caseId)).decisions[0].id, decisionId);

    assert.equal((await remove(support, `${caseId}/decisions/${decisionId}`)).statusCode, 403, 'SUPPORT never');
    assert.equal((await remove(provider, `${caseId}/decisions/${randomUUID()}`)).statusCode, 404);
    const deleted = await remove(provider, `${caseId}/decisions/${decisionId}`);
    assert.equal(deleted.statusCode, 200, deleted.body);
    assert.equal(deleted.json().case.status, 'IN_PROGRESS');
    assert.equal(deleted.json().case.assigneeId, provider.staffId);
    partner = await partnerView(caseId);
    assert.equal(partner.status, 'IN_PROGRESS');
    assert.deepEqual(partner.decisions, []);
    assert.equal((await remove(provider, `${caseId}/decisions/${decisionId}`)).statusCode, 404, 'already deleted');
    const kept = await context.db.query<{ deleted_by: string }>(
      'select deleted_by from case_decisions where id = $1 and deleted_at is not null',
      [decisionId],
    );
    assert.equal(kept.rows[0]!.deleted_by, provider.staffId, 'kept, marked deleted');

    // Decided again; a decision of an archived case stays.
    const redecided = await act(provider, caseId, 'decisions', { isApproved: false, decisionText: 'Not eligible' });
    assert.equal(redecided.statusCode, 200, redecided.body);
    assert.equal((await act(support, caseId, 'archive', { archiveReason: 'INELIGIBLE' })).statusCode, 200);
    const archived = await remove(provider, `${caseId}/decisions/${redecided.json().decisionId}`);
    assert.equal(archived.statusCode, 409);
    assert.equal(archived.json().found.status, 'REJECTED');

    const staffEvents = (await events(caseId)).map((row) => row.type);
    assert.deepEqual(staffEvents.slice(2, 7), [
      'case.decision_added',
      'case.status_changed',
      'case.decision_deleted',
      'case.status_changed',
      'case.decision_added',
    ]);
    const queued = (await deliveries(caseId)).filter((row) => row.event === 'DECISION_DELETED');
    assert.deepEqual(
      queued.map((row) => row.subject.decisionId),
      [decisionId],
    );

    // Unassigned: the partner case names nobody.
    const other = await intake('unassign-name@example.com');
    assert.equal((await act(support, other, 'assign', { assigneeId: support.staffId })).statusCode, 200);
    assert.equal((await act(support, other, 'unassign')).statusCode, 200);
    partner = await partnerView(other);
    assert.equal(partner.assignedTo, null);
    assert.equal(partner.assignedBy, null);
    assert.deepEqual(partner.assignees, []);
  });

  it("a partner's CHANGE_CASE_STATUS OPEN of an assigned case removes the staff assignee with its event", async () => {
    const caseId = await intake('partner-open@example.com');
    assert.equal((await act(support, caseId, 'assign', { assigneeId: provider.staffId })).statusCode, 200);
    const opened = await context.app.inject({
      method: 'POST',
      url: `/api/v1/cases/${caseId}`,
      headers: { 'cv-api-key': org.apiKey },
      payload: { action: 'CHANGE_CASE_STATUS', status: 'OPEN' },
    });
    assert.equal(opened.statusCode, 200, opened.body);
    const partner = await partnerView(caseId);
    assert.equal(partner.status, 'OPEN');
    assert.equal(partner.assignedTo, null);
    assert.deepEqual(partner.assignees, []);
    const staff = await context.app.inject({ url: `/staff/v1/cases/${caseId}`, headers: bearer(support) });
    assert.equal(staff.json().assigneeId, null);
    const { rows } = await context.db.query<{ type: string; actor_kind: string }>(
      `select type, actor_kind from case_events where case_id = $1 and actor_kind = 'api_key' and type <> 'case.created'
        order by seq`,
      [caseId],
    );
    assert.deepEqual(
      rows.map((row) => row.type),
      ['case.assignee_removed', 'case.status_changed'],
    );
  });

  it('refuses bad comment bodies and comments on an archived case, writing nothing', async () => {
    const caseId = await intake('bad-comments@example.com');
    for (const payload of [
      {},
      { text: '' },
      { text: 'a\u0000b' },
      { text: 'x', isRestricted: 'yes' },
      { text: 'x', y: 1 },
    ]) {
      const refused = await act(support, caseId, 'comments', payload);
      assert.equal(refused.statusCode, 400, `${JSON.stringify(payload)}: ${refused.body}`);
    }
    assert.equal((await act(support, caseId, 'archive', { archiveReason: 'COMPLETE' })).statusCode, 200);
    const archived = await act(support, caseId, 'comments', { text: 'Too late' });
    assert.equal(archived.statusCode, 409);
    assert.equal(archived.json().found.isArchived, true);
    const { rows } = await context.db.query('select id from case_comments where case_id = $1', [caseId]);
    assert.equal(rows.length, 0);
  });
});
