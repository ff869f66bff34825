import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, before, beforeEach, describe, it } from 'node:test';
import { Tenant } from '../../src/http/gate.ts';
import { recordCaseEvent, type CaseEventInput } from '../../src/modules/cases/lifecycle/events.ts';
import { DatabaseFileStorage } from '../../src/modules/files/storage.ts';
import { ADMIN_TOKEN } from '../support/app.ts';
import { intakeTestContext, minimalBody, postIntake, type TestContext } from '../cases/support.ts';
import { Receiver, verifyCvSignature } from './support.ts';

const admin = { authorization: `Bearer ${ADMIN_TOKEN}` };

interface Payload {
  event: string;
  payload: { case: Record<string, unknown> & { id: string }; [object: string]: unknown };
}

/** Case events through the real intake, event writer, payload renderer and worker, to a local receiver. */
describe('case events as webhooks', () => {
  let context: TestContext;
  let receiver: Receiver;
  let organizationId: string;
  let apiKey: string;

  const addEndpoint = async (body: Record<string, unknown>) => {
    const response = await context.app.inject({
      method: 'POST',
      url: `/admin/v1/organizations/${organizationId}/webhooks`,
      headers: admin,
      payload: { url: receiver.url(), ...body },
    });
    assert.equal(response.statusCode, 201, response.body);
    return response.json() as { webhookId: string; secret: string };
  };
  const createCase = async (email = 'ada@example.com') => {
    const intake = await postIntake(context, apiKey, minimalBody({ email }));
    assert.equal(intake.status, 200);
    return intake.body.data!.caseId!;
  };
  const event = (caseId: string, fields: Pick<CaseEventInput, 'type'> & Partial<CaseEventInput>): CaseEventInput => ({
    organizationId,
    caseId,
    actor: { kind: 'operator', id: 'operator-1' },
    before: null,
    after: null,
    ...fields,
  });
  const addComment = async (caseId: string, text: string, withFile?: Buffer) => {
    const commentId = randomUUID();
    await context.db.transaction(async (tx) => {
      await tx.query(
        `insert into case_comments (id, organization_id, case_id, encrypted_text, author)
         values ($1, $2, $3, $4, $5::jsonb)`,
        [
          commentId,
          organizationId,
          caseId,
          await context.services.phiCipher.encryptText(text),
          JSON.stringify({ email: 'dr@example.com' }),
        ],
      );
      if (withFile) {
        const fileId = randomUUID();
        const tenant = Tenant.forOperator(organizationId, 'test');
        const { storageKey } = await new DatabaseFileStorage(context.services.phiCipher).put(tx, {
          tenant,
          fileId,
          content: withFile,
        });
        await tx.query(
          `insert into case_attachments (id, organization_id, case_id, comment_id, file_name, content_type,
             size_bytes, sha256, storage_key, is_phi)
           values ($1, $2, $3, $4, 'lab.txt', 'text/plain', $5, 'x', $6, true)`,
          [fileId, organizationId, caseId, commentId, withFile.length, storageKey],
        );
      }
      await recordCaseEvent(tx, event(caseId, { type: 'case.comment_added', subject: { commentId } }));
    });
    return commentId;
  };
  const received = (): Payload[] => receiver.events() as unknown as Payload[];

  before(async () => {
    context = await intakeTestContext({ WEBHOOK_ALLOW_PRIVATE_NETWORKS: 'true', PUBLIC_URL: 'https://care.test/' });
    receiver = await new Receiver().start();
  });
  after(async () => {
    await context.services.webhookDelivery.stop();
    await receiver.close();
    await context.close();
  });
  beforeEach(async () => {
    ({ organizationId, apiKey } = await context.organization());
    receiver.received.length = 0;
  });

  it('sends CREATE_CASE of an intake with the basic case and its answers, signed as published', async () => {
    const { secret, webhookId } = await addEndpoint({});
    const caseId = await createCase();
    await context.services.webhookDelivery.drain();

    assert.equal(receiver.received.length, 1);
    const [raw] = receiver.received;
    assert.ok(verifyCvSignature(raw!.body, raw!.headers['x-cv-signature'], secret), 'the published Node snippet');
    const [{ event: name, payload }] = received() as [Payload];
    assert.equal(name, 'CREATE_CASE');
    assert.equal(payload.case.id, caseId);
    assert.equal(payload.case.organizationId, organizationId);
    assert.equal(payload.case.status, 'OPEN');
    assert.match(payload.case.shortId as string, /^[A-Z]{3}-[A-Z]{5}$/);
    assert.equal((payload.case.submitter as { email: string }).email, 'ada@example.com');
    const [response] = payload.case.responses as { responses: { text: string }[] }[];
    assert.equal(response!.responses[0]!.text, '150 lbs');
    assert.equal(payload.case.decisions, undefined, 'the basic case leaves out what the case gathered');

    // The webhook-id is the case event's id.
    const { rows } = await context.db.query<{ id: string }>(
      "select id from case_events where case_id = $1 and type = 'case.created'",
      [caseId],
    );
    assert.equal(raw!.headers['webhook-id'], rows[0]!.id);

    // The delivery carried PHI: it is audited, naming the endpoint.
    await context.services.audit.flush();
    const audit = await context.db.query<{ resource_id: string; request_id: string; outcome: string }>(
      "select resource_id, request_id, outcome from audit_events where organization_id = $1 and action = 'case.webhook'",
      [organizationId],
    );
    assert.equal(audit.rows.length, 1);
    assert.equal(audit.rows[0]!.resource_id, caseId);
    assert.match(audit.rows[0]!.request_id, new RegExp(`webhook ${webhookId} `));
    assert.equal(audit.rows[0]!.outcome, 'success');
  });

  it('queues nothing when no endpoint subscribes, and nothing for an event that rolled back', async () => {
    await addEndpoint({ events: ['ADD_CASE_DECISION'] });
    const caseId = await createCase();
    await assert.rejects(
      context.db.transaction(async (tx) => {
        await recordCaseEvent(
          tx,
          event(caseId, { type: 'case.decision_added', subject: { decisionId: randomUUID() } }),
        );
        throw new Error('the change failed');
      }),
      /the change failed/,
    );
    const { rows } = await context.db.query<{ count: number }>(
      'select count(*)::int as count from webhook_deliveries where organization_id = $1',
      [organizationId],
    );
    assert.equal(rows[0]!.count, 0);
  });

  it('sends a comment as payload.comment, and nothing for a comment with webhookNotify false', async () => {
    await addEndpoint({});
    const caseId = await createCase();
    const commentId = await addComment(caseId, 'Please send a photo of the rash');
    await context.db.transaction((tx) =>
      recordCaseEvent(tx, event(caseId, { type: 'case.comment_added', notify: false, subject: { commentId } })),
    );
    await context.services.webhookDelivery.drain();

    assert.deepEqual(
      received().map((entry) => entry.event),
      ['CREATE_CASE', 'ADD_CASE_COMMENT'],
      'in order, and the silent comment not at all',
    );
    const comment = received()[1]!.payload;
    assert.equal((comment.comment as { id: string; text: string }).id, commentId);
    assert.equal((comment.comment as { text: string }).text, 'Please send a photo of the rash');
    assert.equal(comment.case.responses, undefined);
  });

  it('sends each event the case model can record, with its published name and own objects', async () => {
    await addEndpoint({});
    const caseId = await createCase();
    const decisionId = randomUUID();
    await context.db.transaction(async (tx) => {
      await tx.query(
        `insert into case_decisions (id, organization_id, case_id, is_approved, decision_text, visit_type)
         values ($1, $2, $3, true, 'Approved for treatment', 'ASYNC_TEXT_EMAIL')`,
        [decisionId, organizationId, caseId],
      );
      await recordCaseEvent(tx, event(caseId, { type: 'case.decision_added', subject: { decisionId } }));
    });
    const statusChanges: CaseEventInput['type'][] = ['case.archived', 'case.reopened', 'case.escalated'];
    for (const type of statusChanges)
      await context.db.transaction((tx) => recordCaseEvent(tx, event(caseId, { type })));
    await context.db.transaction((tx) =>
      recordCaseEvent(tx, event(caseId, { type: 'case.decision_deleted', subject: { decisionId: randomUUID() } })),
    );
    await context.services.webhookDelivery.drain();

    const events = received();
    assert.deepEqual(
      events.map((entry) => entry.event),
      ['CREATE_CASE', 'ADD_CASE_DECISION', 'ARCHIVE_CASE', 'REOPEN_CASE', 'ESCALATE_CASE', 'DECISION_DELETED'],
    );
    const decision = events[1]!.payload.decision as { id: string; isApproved: boolean; visitType: string };
    assert.deepEqual([decision.id, decision.isApproved, decision.visitType], [decisionId, true, 'ASYNC_TEXT_EMAIL']);
    assert.deepEqual(Object.keys(events[5]!.payload.decision as object), ['id'], 'a deleted decision by its id');
    for (const entry of events) assert.equal(entry.payload.case.id, caseId);
  });

  it('sends the full case with attachments as signed links valid 15 minutes (documentFormat URL)', async () => {
    const { webhookId } = await addEndpoint({ sendFullCaseData: true, documentFormat: 'URL' });
    const caseId = await createCase();
    const commentId = await addComment(caseId, 'Lab results attached', Buffer.from('HbA1c 5.4%'));
    await context.services.webhookDelivery.drain();

    const [created, commented] = received();
    assert.deepEqual(created!.payload.case.decisions, [], 'the full case carries what the case gathered');
    const fullCase = commented!.payload.case as unknown as {
      comments: { id: string; attachments: { url: string }[] }[];
    };
    assert.equal(fullCase.comments[0]!.id, commentId);
    const { url } = fullCase.comments[0]!.attachments[0]!;
    assert.ok(url.startsWith('https://care.test/api/v1/case-files/'), url);
    const link = new URL(url);
    assert.equal(link.searchParams.get('apiKeyId'), webhookId, 'the link is issued to the endpoint');
    const expires = Number(link.searchParams.get('expires'));
    assert.ok(Math.abs(expires - (Date.now() / 1000 + 15 * 60)) < 120);
    const download = await context.app.inject({ method: 'GET', url: `${link.pathname}${link.search}` });
    assert.equal(download.statusCode, 200, download.body);
    assert.equal(download.body, 'HbA1c 5.4%');
  });

  it('sends attachments inline in base64 (documentFormat BASE64)', async () => {
    await addEndpoint({ documentFormat: 'BASE64' });
    const caseId = await createCase();
    await addComment(caseId, 'Lab results attached', Buffer.from('HbA1c 5.4%'));
    await context.services.webhookDelivery.drain();
    const comment = received()[1]!.payload.comment as { attachments: { content: string; isPHI: boolean }[] };
    assert.equal(Buffer.from(comment.attachments[0]!.content, 'base64').toString('utf8'), 'HbA1c 5.4%');
    assert.equal(comment.attachments[0]!.isPHI, true);
  });

  it('sends what the partner routes change: CLOSE, REOPEN, OPEN, a comment, a follow-up form', async () => {
    await addEndpoint({});
    const caseId = await createCase();
    const act = async (body: Record<string, unknown>) => {
      const response = await context.app.inject({
        method: 'POST',
        url: `/api/v1/cases/${caseId}`,
        headers: { 'cv-api-key': apiKey },
        payload: body,
      });
      assert.equal(response.statusCode, 200, response.body);
      return response.json() as { data?: { commentId: string } };
    };
    await act({ action: 'CHANGE_CASE_STATUS', status: 'CLOSE', reason: 'Patient requested cancellation' });
    await act({ action: 'CHANGE_CASE_STATUS', status: 'REOPEN' });
    const commented = await act({ action: 'ADD_COMMUNICATION', communication: { text: 'Shipping address confirmed' } });
    await act({ action: 'ADD_COMMUNICATION', communication: { text: 'Internal note', webhookNotify: false } });
    const followUp = await context.app.inject({
      method: 'POST',
      url: '/api/v1/customer-dynamic-case-form',
      headers: { 'cv-api-key': apiKey },
      payload: {
        caseId,
        formTitle: 'Monthly check-in',
        questions: [{ questionId: 'mood', question: 'How do you feel?', type: 'text', answer: 'Better' }],
      },
    });
    assert.equal(followUp.statusCode, 200, followUp.body);
    await context.services.webhookDelivery.drain();

    const events = received();
    assert.deepEqual(
      events.map((entry) => entry.event),
      ['CREATE_CASE', 'ARCHIVE_CASE', 'REOPEN_CASE', 'ADD_CASE_COMMENT', 'ADD_FORM_RESPONSE'],
      'in order; the comment sent with webhookNotify false is recorded but not sent',
    );
    const comment = events[3]!.payload.comment as { id: string; text: string };
    assert.equal(comment.id, commented.data!.commentId);
    assert.equal(comment.text, 'Shipping address confirmed');
    for (const entry of events) assert.equal(entry.payload.case.id, caseId);
    const { rows } = await context.db.query<{ type: string }>(
      'select type from case_events where case_id = $1 order by seq',
      [caseId],
    );
    assert.deepEqual(
      rows.map((row) => row.type),
      [
        'case.created',
        'case.archived',
        'case.reopened',
        'case.comment_added',
        'case.comment_added',
        'case.form_response_added',
      ],
    );
  });
});
