import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { OrganizationService } from '../../src/modules/organizations/service.ts';
import { startTwoServers, usesPostgres, type TwoServers } from '../support/two-servers.ts';
import { count, intakeTestContext, minimalBody, postIntake, type TestContext } from './support.ts';

const PDF = Buffer.from('%PDF-1.4 a comment attachment');
const FILE_MAX_BYTES = 4096;

interface Answer {
  status: number;
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  body: any;
}

describe('POST /api/v1/cases/:caseId: CHANGE_CASE_STATUS and ADD_COMMUNICATION', () => {
  let context: TestContext;
  let apiKey: string;
  let organizationId: string;
  let other: { apiKey: string; organizationId: string };
  let otherCaseId: string;

  before(async () => {
    context = await intakeTestContext({ FILE_MAX_BYTES: String(FILE_MAX_BYTES) });
    ({ apiKey, organizationId } = await context.organization());
    other = await context.organization();
    const intake = await postIntake(context, other.apiKey, minimalBody({ email: 'other.org@example.com' }));
    assert.equal(intake.status, 200);
    otherCaseId = intake.body.data!.caseId!;
  });
  after(() => context.close());

  const post = async (caseId: string, body: unknown, key: string | null = apiKey): Promise<Answer> => {
    const response = await context.app.inject({
      method: 'POST',
      url: `/api/v1/cases/${caseId}`,
      headers: { 'content-type': 'application/json', ...(key === null ? {} : { 'cv-api-key': key }) },
      payload: JSON.stringify(body),
    });
    return { status: response.statusCode, body: response.json() };
  };

  const detail = async (caseId: string, query = ''): Promise<Answer['body']> => {
    const response = await context.app.inject({
      method: 'GET',
      url: `/api/v1/customer-case-detail?caseId=${caseId}${query}`,
      headers: { 'cv-api-key': apiKey },
    });
    assert.equal(response.statusCode, 200, response.body);
    return response.json().caseDetail;
  };

  const newCase = async (overrides: Record<string, unknown> = {}): Promise<string> => {
    const answer = await postIntake(
      context,
      apiKey,
      minimalBody({ email: `${randomUUID()}@example.com`, ...overrides }),
    );
    assert.equal(answer.status, 200, JSON.stringify(answer.body));
    return answer.body.data!.caseId!;
  };

  const eventsOf = async (caseId: string) =>
    (
      await context.db.query<{ type: string; before: unknown; after: unknown; actor_kind: string }>(
        'select type, before, after, actor_kind from case_events where case_id = $1 order by seq',
        [caseId],
      )
    ).rows;

  const writes = async () => ({
    events: await count(context, 'case_events', organizationId),
    comments: await count(context, 'case_comments', organizationId),
    attachments: await count(context, 'case_attachments', organizationId),
    contents: await count(context, 'file_contents', organizationId),
  });

  describe('CHANGE_CASE_STATUS', () => {
    it("answers the page's OPEN example with its 200", async () => {
      const caseId = await newCase();
      const answer = await post(caseId, { action: 'CHANGE_CASE_STATUS', status: 'OPEN' });
      assert.deepEqual(answer, {
        status: 200,
        body: { status: 200, success: true, message: 'Case opened successfully' },
      });
      // Already open: nothing changes, nothing is recorded beyond the creation.
      assert.deepEqual(
        (await eventsOf(caseId)).map((event) => event.type),
        ['case.created'],
      );
    });

    it('CLOSE archives with the reason as the note; REOPEN unarchives; each records one event', async () => {
      const caseId = await newCase();
      const closed = await post(caseId, { action: 'CHANGE_CASE_STATUS', status: 'CLOSE', reason: 'Patient cancelled' });
      assert.deepEqual(closed, {
        status: 200,
        body: { status: 200, success: true, message: 'Case closed successfully' },
      });
      const afterClose = await detail(caseId);
      assert.equal(afterClose.isArchived, true);
      assert.equal(afterClose.archiveNote, 'Patient cancelled');
      assert.equal(afterClose.status, 'OPEN');
      assert.ok(afterClose.closedAt);

      assert.deepEqual(await post(caseId, { action: 'CHANGE_CASE_STATUS', status: 'CLOSE' }), {
        status: 400,
        body: { status: 400, success: false, error: 'Case is already closed' },
      });
      assert.deepEqual(await post(caseId, { action: 'CHANGE_CASE_STATUS', status: 'OPEN' }), {
        status: 400,
        body: { status: 400, success: false, error: 'Case is closed: reopen it (status REOPEN) first' },
      });

      const reopened = await post(caseId, { action: 'CHANGE_CASE_STATUS', status: 'reopen' });
      assert.deepEqual(reopened, {
        status: 200,
        body: { status: 200, success: true, message: 'Case reopened successfully' },
      });
      const afterReopen = await detail(caseId);
      assert.equal(afterReopen.isArchived, false);
      assert.equal(afterReopen.archiveNote, null);
      assert.equal(afterReopen.archiveReason, null);
      assert.equal(afterReopen.closedAt, afterClose.closedAt, 'closedAt stays set after a reopen');

      assert.deepEqual(await post(caseId, { action: 'CHANGE_CASE_STATUS', status: 'REOPEN' }), {
        status: 400,
        body: { status: 400, success: false, error: 'Case is not closed: only a closed case can be reopened' },
      });
      const events = await eventsOf(caseId);
      assert.deepEqual(
        events.map((event) => event.type),
        ['case.created', 'case.archived', 'case.reopened'],
      );
      assert.deepEqual(events[1]!.before, { status: 'OPEN', isArchived: false });
      assert.equal(events[1]!.actor_kind, 'api_key');
      assert.ok(!JSON.stringify(events).includes('Patient cancelled'), 'events hold no free text');
    });

    it('OPEN on an ABANDONED case opens it', async () => {
      const caseId = await newCase({ status: 'ABANDONED' });
      const answer = await post(caseId, { action: 'CHANGE_CASE_STATUS', status: 'OPEN' });
      assert.equal(answer.status, 200);
      assert.equal((await detail(caseId)).status, 'OPEN');
      const events = await eventsOf(caseId);
      assert.deepEqual(events.at(-1), {
        type: 'case.status_changed',
        before: { status: 'ABANDONED', isArchived: false },
        after: { status: 'OPEN', isArchived: false },
        actor_kind: 'api_key',
      });
    });

    it("another organization's case answers 401, exactly as an unknown or malformed id does", async () => {
      const body = { action: 'CHANGE_CASE_STATUS', status: 'CLOSE' };
      const expected = {
        status: 401,
        body: { status: 401, success: false, error: 'Case not found or not accessible with this API key' },
      };
      const before = await count(context, 'case_events', other.organizationId);
      assert.deepEqual(await post(otherCaseId, body), expected);
      assert.deepEqual(await post(randomUUID(), body), expected);
      assert.deepEqual(await post('not-a-case', body), expected);
      assert.deepEqual(
        await post(otherCaseId, { action: 'ADD_COMMUNICATION', communication: { text: 'hi' } }),
        expected,
      );
      assert.equal(await count(context, 'case_events', other.organizationId), before);
      assert.equal((await post(otherCaseId, body, other.apiKey)).status, 200);
    });

    it('refuses a missing or unknown action, a missing or unknown status, and a missing key', async () => {
      const caseId = await newCase();
      const start = await writes();
      const cases: [unknown, string][] = [
        [{ status: 'OPEN' }, "The 'action' param is required"],
        [{ action: 'ESCALATE' }, "Invalid action 'ESCALATE': use CHANGE_CASE_STATUS, ADD_COMMUNICATION"],
        [{ action: 'CHANGE_CASE_STATUS' }, "The 'status' param is required"],
        [{ action: 'CHANGE_CASE_STATUS', status: 'CLOSED' }, "Invalid status 'CLOSED': use OPEN, CLOSE, REOPEN"],
        [
          { action: 'CHANGE_CASE_STATUS', status: 7 },
          'Validation failed: status: Invalid input: expected string, received number',
        ],
        [
          { action: 'CHANGE_CASE_STATUS', status: 'CLOSE', reason: 'a\u0000b' },
          'Validation failed: reason: Must not contain NUL characters',
        ],
        [{ action: 'ADD_COMMUNICATION' }, "The 'communication' param is required"],
      ];
      for (const [body, error] of cases) {
        assert.deepEqual(
          await post(caseId, body),
          { status: 400, body: { status: 400, success: false, error } },
          error,
        );
      }
      assert.deepEqual(await post(caseId, { action: 'CHANGE_CASE_STATUS', status: 'OPEN' }, null), {
        status: 401,
        body: { status: 401, success: false, error: 'Secret key not provided!' },
      });
      assert.deepEqual(await writes(), start);
    });
  });

  describe('ADD_COMMUNICATION', () => {
    it('adds a sealed comment with a sealed attachment, shown in the case detail', async () => {
      const caseId = await newCase();
      const answer = await post(caseId, {
        action: 'ADD_COMMUNICATION',
        communication: {
          text: 'Patient reports mild nausea.',
          isRestricted: true,
          webhookNotify: false,
          author: { email: 'Nurse@Example.com', firstName: 'Nora', lastName: 'Nurse' },
          attachments: [{ fileName: 'labs.pdf', content: PDF.toString('base64'), isPHI: true }],
        },
      });
      assert.equal(answer.status, 200, JSON.stringify(answer.body));
      assert.equal(answer.body.message, 'Communication added successfully');
      const { commentId, attachments } = answer.body.data;
      assert.deepEqual(
        attachments.map((file: { fileName: string }) => file.fileName),
        ['labs.pdf'],
      );

      const shown = await detail(caseId, '&includeAttachments=true');
      assert.equal(shown.comments.length, 1);
      const [comment] = shown.comments;
      assert.equal(comment.id, commentId);
      assert.equal(comment.text, 'Patient reports mild nausea.');
      assert.equal(comment.isRestricted, true);
      assert.deepEqual(comment.author, { email: 'nurse@example.com', firstName: 'Nora', lastName: 'Nurse' });
      assert.equal(comment.attachments.length, 1);
      assert.equal(comment.attachments[0].isPHI, true);
      assert.equal(comment.attachments[0].contentType, 'application/pdf');
      assert.equal(Buffer.from(comment.attachments[0].content, 'base64').toString(), PDF.toString());
      // Without includeAttachments the comment is there, its files are not.
      assert.deepEqual((await detail(caseId)).comments[0].attachments, []);

      // Sealed at rest: neither the text nor the bytes are stored as sent.
      const stored = await context.db.query<{ encrypted_text: string }>(
        'select encrypted_text from case_comments where id = $1',
        [commentId],
      );
      assert.ok(!stored.rows[0]!.encrypted_text.includes('nausea'));
      const contents = await context.db.query<{ content: Uint8Array }>(
        'select content from file_contents where storage_key = $1',
        [`db:${attachments[0].id}`],
      );
      assert.ok(!Buffer.from(contents.rows[0]!.content).includes(Buffer.from('%PDF')));

      const events = await eventsOf(caseId);
      assert.deepEqual(events.at(-1), {
        type: 'case.comment_added',
        before: null,
        after: { commentId, isRestricted: true, webhookNotify: false, attachmentIds: [attachments[0].id] },
        actor_kind: 'api_key',
      });
    });

    it('refuses a NUL in a comment, a huge or bad attachment, a closed case: 400, nothing written', async () => {
      const caseId = await newCase();
      const closedCase = await newCase();
      assert.equal((await post(closedCase, { action: 'CHANGE_CASE_STATUS', status: 'CLOSE' })).status, 200);
      const start = await writes();
      const huge = Buffer.concat([Buffer.from('%PDF-'), Buffer.alloc(FILE_MAX_BYTES)]).toString('base64');
      const refusals: [string, unknown, string][] = [
        [
          caseId,
          { text: 'before\u0000after' },
          'Validation failed: communication.text: Must not contain NUL characters',
        ],
        [caseId, { text: '   ' }, 'Validation failed: communication.text: Required'],
        [
          caseId,
          { text: 'hi', author: { email: 'not an email' } },
          'Validation failed: communication.author.email: Invalid email',
        ],
        [
          caseId,
          { text: 'hi', attachments: [{ fileName: 'big.pdf', content: huge }] },
          `Validation failed: communication.attachments: File 'big.pdf' is larger than the limit of ${FILE_MAX_BYTES} bytes`,
        ],
        [
          caseId,
          { text: 'hi', attachments: [{ fileName: 'fake.pdf', content: Buffer.from('not a pdf').toString('base64') }] },
          'Validation failed: communication.attachments.0.content: Content is not a valid application/pdf file',
        ],
        [
          caseId,
          { text: 'hi', attachments: [{ fileName: 'x.pdf', content: 'https://example.com/x.pdf' }] },
          'Validation failed: communication.attachments.0.content: Must be base64 content',
        ],
        [closedCase, { text: 'hi' }, 'Case is closed: reopen it (status REOPEN) first'],
      ];
      for (const [target, communication, error] of refusals) {
        assert.deepEqual(
          await post(target, { action: 'ADD_COMMUNICATION', communication }),
          { status: 400, body: { status: 400, success: false, error } },
          error,
        );
      }
      assert.deepEqual(await writes(), start);
    });
  });
});

describe(`case status races on two servers, ${usesPostgres ? 'PostgreSQL (two processes)' : 'PGlite (one process)'}`, () => {
  let servers: TwoServers;
  let apiKey: string;

  before(async () => {
    servers = await startTwoServers();
    ({ apiKey } = await new OrganizationService(servers.db).createOrganization('Racing clinic'));
  });
  after(() => servers.close());

  it('concurrent CLOSE, REOPEN and OPEN take turns: one event per success, the state of the last', async () => {
    const intake = await servers.send(0, {
      method: 'POST',
      url: '/api/v1/dynamic-case',
      apiKey,
      body: minimalBody({ email: 'racer@example.com', status: 'ABANDONED' }),
    });
    assert.equal(intake.status, 200, intake.text);
    const caseId: string = intake.json.data.caseId;
    const targets = ['CLOSE', 'REOPEN', 'OPEN'];
    const sent = Array.from({ length: 24 }, (_, index) => targets[index % 3]!);
    const answers = await servers.race(sent.length, (index) => ({
      method: 'POST',
      url: `/api/v1/cases/${caseId}`,
      apiKey,
      body: { action: 'CHANGE_CASE_STATUS', status: sent[index] },
    }));
    assert.deepEqual(servers.brokenAnswers(), []);
    assert.ok(
      answers.every((answer) => answer.status === 200 || answer.status === 400),
      servers.output(),
    );
    const succeeded = (target: string) =>
      answers.filter((answer, index) => answer.status === 200 && sent[index] === target).length;

    const { rows: events } = await servers.db.query<{
      type: string;
      before: { isArchived: boolean; status: string };
      after: { isArchived: boolean; status: string };
    }>(`select type, before, after from case_events where case_id = $1 and type <> 'case.created' order by seq`, [
      caseId,
    ]);
    assert.equal(events.filter((event) => event.type === 'case.archived').length, succeeded('CLOSE'));
    assert.equal(events.filter((event) => event.type === 'case.reopened').length, succeeded('REOPEN'));
    assert.ok(events.filter((event) => event.type === 'case.status_changed').length <= 1);
    // Each change starts from the state the one before it produced.
    let state = { isArchived: false, status: 'ABANDONED' };
    for (const event of events) {
      assert.deepEqual(
        { isArchived: event.before.isArchived, status: event.before.status },
        state,
        JSON.stringify(events),
      );
      state = { isArchived: event.after.isArchived, status: event.after.status };
    }
    const { rows } = await servers.db.query<{ is_archived: boolean; status: string }>(
      'select is_archived, status from cases where id = $1',
      [caseId],
    );
    assert.deepEqual({ isArchived: rows[0]!.is_archived, status: rows[0]!.status }, state);
  });
});
