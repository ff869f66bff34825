import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { Tenant } from '../../src/http/gate.ts';
import { isUniqueViolation } from '../../src/db/database.ts';
import { CaseReadService } from '../../src/modules/cases/lifecycle/read-service.ts';
import { newShortId, SHORT_ID_INDEX, SHORT_ID_PATTERN } from '../../src/modules/cases/lifecycle/short-id.ts';
import { CaseRepository } from '../../src/modules/cases/repository.ts';
import { DatabaseFileStorage } from '../../src/modules/files/storage.ts';
import { count, formTitleExample, intakeTestContext, minimalBody, postIntake, type TestContext } from './support.ts';

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;
const PDF = Buffer.from('%PDF-1.4 a small test document');

interface Answer {
  status: number;
  body: Record<string, unknown>;
}

describe('case reads: customer-case-detail, customer-latest-case-id, cases', () => {
  let context: TestContext;
  let apiKey: string;
  let organizationId: string;
  let other: { apiKey: string; organizationId: string };
  let otherCaseId: string;

  before(async () => {
    context = await intakeTestContext();
    ({ apiKey, organizationId } = await context.organization());
    other = await context.organization();
    const intake = await postIntake(context, other.apiKey, minimalBody({ email: 'other.org@example.com' }));
    assert.equal(intake.status, 200);
    otherCaseId = intake.body.data!.caseId!;
  });
  after(() => context.close());

  const get = async (url: string, key: string | null = apiKey): Promise<Answer> => {
    const response = await context.app.inject({
      method: 'GET',
      url,
      headers: key === null ? {} : { 'cv-api-key': key },
    });
    return { status: response.statusCode, body: response.json() };
  };

  const intake = async (body: Record<string, unknown>): Promise<string> => {
    const answer = await postIntake(context, apiKey, body);
    assert.equal(answer.status, 200, JSON.stringify(answer.body));
    return answer.body.data!.caseId!;
  };

  /** Rows a read must never add (it writes audit events only). */
  const writes = async () => ({
    cases: await count(context, 'cases', organizationId),
    events: await count(context, 'case_events', organizationId),
    comments: await count(context, 'case_comments', organizationId),
  });

  describe('GET /api/v1/customer-latest-case-id', () => {
    it("answers the page's 200 with the customer's latest case", async () => {
      await intake(minimalBody({ email: 'latest@example.com', formTitle: 'Latest 1' }));
      const latest = await intake(minimalBody({ email: 'Latest@Example.com', formTitle: 'Latest 2' }));
      const answer = await get('/api/v1/customer-latest-case-id?email=latest%40example.com');
      assert.deepEqual(answer, { status: 200, body: { status: 200, success: true, case: { id: latest } } });
    });

    it("answers the page's error bodies", async () => {
      assert.deepEqual(await get('/api/v1/customer-latest-case-id'), {
        status: 400,
        body: { error: 'Email id not provided!' },
      });
      assert.deepEqual(await get('/api/v1/customer-latest-case-id?email=a%40example.com', null), {
        status: 401,
        body: { error: 'Secret key not provided!' },
      });
      assert.deepEqual(await get('/api/v1/customer-latest-case-id?email=a%40example.com', 'c360_not_a_key'), {
        status: 401,
        body: { error: 'Organization with [CV-Api-Key-Hash] not found!' },
      });
      const unknown = await get('/api/v1/customer-latest-case-id?email=nobody%40example.com');
      assert.deepEqual(unknown, { status: 404, body: { error: 'No Case found for provided email!' } });
      // Another organization's customer is no customer of this one.
      assert.deepEqual(await get('/api/v1/customer-latest-case-id?email=other.org%40example.com'), unknown);
    });
  });

  describe('GET /api/v1/customer-case-detail', () => {
    it("serves the Case Create page's example as a case detail, PHI answers decrypted and the read audited", async () => {
      const example = formTitleExample();
      const questions = example.questions as Record<string, unknown>[];
      questions.push({
        question: 'Current medications',
        type: 'TEXT',
        required: false,
        answer: 'Metformin',
        phi: true,
      });
      const caseId = await intake({ ...example, idempotencyKey: `detail-${randomUUID()}` });

      const answer = await get(`/api/v1/customer-case-detail?caseId=${caseId}`);
      assert.equal(answer.status, 200, JSON.stringify(answer.body));
      assert.equal(answer.body.status, 200);
      assert.equal(answer.body.success, true);
      const detail = answer.body.caseDetail as Record<string, unknown>;
      assert.equal(detail.id, caseId);
      assert.equal(detail.organizationId, organizationId);
      assert.equal(detail.status, 'OPEN');
      assert.match(String(detail.shortId), SHORT_ID_PATTERN);
      assert.equal(detail.isArchived, false);
      assert.equal(detail.isEscalated, false);
      assert.equal(detail.archiveReason, null);
      assert.equal(detail.closedAt, null);
      assert.deepEqual(detail.submitter, {
        id: (detail.submitter as { id: string }).id,
        email: 'john.doe@example.com',
        firstName: 'John',
        lastName: 'Doe',
        dob: '1990-01-15',
        gender: 'MALE',
        phoneNumber: '+1234567890',
      });
      const [response] = detail.responses as {
        form: { name: string };
        responses: { question: { text: string; isPHI: boolean; index: number }; answer: unknown; text: string }[];
      }[];
      assert.equal(response!.form.name, 'Patient Intake Form');
      assert.deepEqual(
        response!.responses.map((item) => [item.question.text, item.text, item.question.isPHI]),
        [
          ['What is your current weight?', '150 lbs', false],
          ['Do you have any allergies?', 'true', false],
          ['Select your preferred visit type', 'Video Call', false],
          ['When did your symptoms start?', 'January 1, 2024 - indefinite', false],
          ['Select your dietary preferences', 'Weight-loss Supplements, Dieting', false],
          ['Current medications', 'Metformin', true],
        ],
      );
      assert.deepEqual(detail.decisions, []);
      assert.deepEqual(detail.comments, []);
      assert.deepEqual(detail.payments, []);
      assert.ok(!('orders' in detail) && !('calendarEvents' in detail) && !('caseProducts' in detail));

      // The intake wrote the case's first event, with no PHI in it.
      const { rows: events } = await context.db.query<{ type: string; actor_kind: string; after: unknown }>(
        'select type, actor_kind, after from case_events where organization_id = $1 and case_id = $2',
        [organizationId, caseId],
      );
      assert.deepEqual(events, [
        {
          type: 'case.created',
          actor_kind: 'api_key',
          after: { status: 'OPEN', shortId: detail.shortId, isArchived: false },
        },
      ]);

      await context.services.audit.flush();
      const { rows: audits } = await context.db.query<{ action: string; api_key_id: string; outcome: string }>(
        `select action, api_key_id, outcome from audit_events where organization_id = $1 and resource_id = $2
          and action = 'case.read'`,
        [organizationId, caseId],
      );
      assert.equal(audits.length, 1);
      assert.equal(audits[0]!.outcome, 'success');
      assert.ok(audits[0]!.api_key_id);
    });

    it('finds the latest case by email and adds the asked-for empty lists', async () => {
      await intake(minimalBody({ email: 'detail.email@example.com', formTitle: 'Email 1' }));
      const latest = await intake(minimalBody({ email: 'detail.email@example.com', formTitle: 'Email 2' }));
      const answer = await get(
        '/api/v1/customer-case-detail?email=detail.email%40example.com&includeOrders=true&includeCalendarEvents=true&includeCaseProducts=true',
      );
      assert.equal(answer.status, 200);
      const detail = answer.body.caseDetail as Record<string, unknown>;
      assert.equal(detail.id, latest);
      assert.deepEqual([detail.orders, detail.calendarEvents, detail.caseProducts], [[], [], []]);
    });

    it("answers another organization's case, an unknown case and a malformed id alike", async () => {
      const unknown = await get(`/api/v1/customer-case-detail?caseId=${randomUUID()}`);
      assert.deepEqual(unknown, { status: 404, body: { status: 404, success: false, error: 'Case not found' } });
      assert.deepEqual(await get(`/api/v1/customer-case-detail?caseId=${otherCaseId}`), unknown);
      assert.deepEqual(await get('/api/v1/customer-case-detail?caseId=not-a-uuid'), unknown);
      const noEmail = await get('/api/v1/customer-case-detail?email=other.org%40example.com');
      assert.deepEqual(noEmail, {
        status: 404,
        body: { status: 404, success: false, error: 'No Case found for provided email!' },
      });
      assert.deepEqual(await get('/api/v1/customer-case-detail?email=nobody%40example.com'), noEmail);
      // Both: the case must be that customer's.
      const own = await intake(minimalBody({ email: 'both@example.com', formTitle: 'Both' }));
      assert.equal((await get(`/api/v1/customer-case-detail?caseId=${own}&email=BOTH%40example.com`)).status, 200);
      assert.deepEqual(await get(`/api/v1/customer-case-detail?caseId=${own}&email=nobody%40example.com`), unknown);
    });

    it('refuses bad input with a 400 in its envelope', async () => {
      const before = await writes();
      assert.deepEqual(await get('/api/v1/customer-case-detail'), {
        status: 400,
        body: { status: 400, success: false, error: "The 'caseId' or 'email' param is required" },
      });
      const caseId = randomUUID();
      const badFormat = await get(
        `/api/v1/customer-case-detail?caseId=${caseId}&includeAttachments=true&documentFormat=pdf`,
      );
      assert.deepEqual(badFormat, {
        status: 400,
        body: { status: 400, success: false, error: "documentFormat must be 'base64' or 'url'" },
      });
      const badFlag = await get(`/api/v1/customer-case-detail?caseId=${caseId}&includeOrders=yes`);
      assert.equal(badFlag.status, 400);
      assert.equal(badFlag.body.success, false);
      assert.match(String(badFlag.body.error), /includeOrders/);
      assert.deepEqual(await get(`/api/v1/customer-case-detail?caseId=${caseId}`, null), {
        status: 401,
        body: { status: 401, success: false, error: 'Secret key not provided!' },
      });
      assert.deepEqual(await get(`/api/v1/customer-case-detail?caseId=${caseId}`, 'c360_not_a_key'), {
        status: 401,
        body: { status: 401, success: false, error: 'Invalid API key' },
      });
      assert.deepEqual(await writes(), before);
    });
  });

  describe('attachments', () => {
    let caseId: string;
    let fileId: string;

    before(async () => {
      caseId = await intake(
        minimalBody({
          email: 'files@example.com',
          formTitle: 'Files form',
          questions: [
            { question: 'What is your current weight?', type: 'TEXT', required: true, answer: '150 lbs' },
            {
              question: 'Lab results',
              type: 'FILE',
              required: false,
              phi: true,
              answer: [{ name: 'labs.pdf', contentType: 'application/pdf', data: PDF.toString('base64') }],
            },
          ],
        }),
      );
    });

    it('leaves attachments out unless asked, then gives their base64 content', async () => {
      const without = await get(`/api/v1/customer-case-detail?caseId=${caseId}`);
      assert.deepEqual((without.body.caseDetail as { attachments: unknown[] }).attachments, []);
      const answer = await get(`/api/v1/customer-case-detail?caseId=${caseId}&includeAttachments=true`);
      const [attachment] = (answer.body.caseDetail as { attachments: Record<string, unknown>[] }).attachments;
      assert.ok(attachment);
      assert.match(String(attachment.id), UUID);
      fileId = String(attachment.id);
      assert.deepEqual(
        { ...attachment, id: '', createdAt: '' },
        {
          id: '',
          fileName: 'labs.pdf',
          contentType: 'application/pdf',
          size: PDF.length,
          isPHI: true,
          isRestricted: false,
          isDeleted: false,
          createdAt: '',
          uploadedBy: null,
          content: PDF.toString('base64'),
        },
      );
    });

    it('gives a signed URL bound to the file, which this server serves until it expires', async () => {
      const answer = await get(
        `/api/v1/customer-case-detail?caseId=${caseId}&includeAttachments=true&documentFormat=url`,
      );
      const [attachment] = (answer.body.caseDetail as { attachments: { url: string; content?: string }[] }).attachments;
      assert.ok(attachment && !('content' in attachment));
      const url = new URL(attachment.url);
      assert.equal(url.pathname, `/api/v1/case-files/${fileId}`);
      const download = await context.app.inject({ method: 'GET', url: `${url.pathname}${url.search}` });
      assert.equal(download.statusCode, 200);
      assert.equal(download.headers['content-type'], 'application/pdf');
      assert.deepEqual(download.rawPayload, PDF);

      const refused = { status: 403, success: false, error: 'This download link is invalid or has expired' };
      const tampered = async (change: (params: URLSearchParams) => string) => {
        const params = new URLSearchParams(url.search);
        const path = change(params);
        const response = await context.app.inject({ method: 'GET', url: `${path}?${params}` });
        return { status: response.statusCode, body: response.json() as unknown };
      };
      const expected = { status: 403, body: refused };
      // Another file under the same signature, a later expiry, a changed signature, another organization.
      assert.deepEqual(await tampered(() => `/api/v1/case-files/${randomUUID()}`), expected);
      assert.deepEqual(
        await tampered((params) => {
          params.set('expires', String(Number(params.get('expires')) + 3600));
          return url.pathname;
        }),
        expected,
      );
      assert.deepEqual(
        await tampered((params) => {
          const signature = params.get('signature')!;
          params.set('signature', `${signature.slice(0, -2)}${signature.endsWith('AA') ? 'BB' : 'AA'}`);
          return url.pathname;
        }),
        expected,
      );
      assert.deepEqual(
        await tampered((params) => {
          params.set('organizationId', other.organizationId);
          return url.pathname;
        }),
        expected,
      );
      assert.deepEqual(
        await tampered((params) => {
          params.delete('signature');
          return url.pathname;
        }),
        expected,
      );
    });

    it('stops serving a link after 15 minutes', async () => {
      let now = Date.now();
      const reads = new CaseReadService({
        db: context.db,
        cipher: context.services.phiCipher,
        fileStorage: new DatabaseFileStorage(context.services.phiCipher),
        now: () => now,
      });
      const { rows } = await context.db.query<{ id: string }>('select id from api_keys where organization_id = $1', [
        organizationId,
      ]);
      const path = await reads.signer.url({ organizationId, apiKeyId: rows[0]!.id, fileId });
      const params = new URLSearchParams(path.split('?')[1]);
      const link = {
        organizationId,
        apiKeyId: rows[0]!.id,
        fileId,
        expires: Number(params.get('expires')),
      };
      now += 14 * 60 * 1000;
      assert.ok(await reads.download(link, params.get('signature')!));
      now += 2 * 60 * 1000;
      assert.equal(await reads.download(link, params.get('signature')!), null);
    });
  });

  describe('GET /api/v1/cases', () => {
    let listKey: string;
    let listOrganization: string;
    let created: string[];
    const start = new Date(Date.now() - 24 * 60 * 60 * 1000).toISOString();
    const end = new Date(Date.now() + 24 * 60 * 60 * 1000).toISOString();
    const range = `startTime=${encodeURIComponent(start)}&endTime=${encodeURIComponent(end)}`;

    before(async () => {
      ({ apiKey: listKey, organizationId: listOrganization } = await context.organization());
      created = [];
      for (const index of [1, 2, 3]) {
        const answer = await postIntake(
          context,
          listKey,
          minimalBody({ email: `list${index}@example.com`, status: index === 2 ? 'ABANDONED' : 'OPEN' }),
        );
        assert.equal(answer.status, 200);
        created.push(answer.body.data!.caseId!);
      }
    });

    it('pages forward through the range, oldest first, with cursors that are case ids', async () => {
      const first = await get(`/api/v1/cases?${range}&recordsPerPage=2`, listKey);
      assert.equal(first.status, 200, JSON.stringify(first.body));
      assert.equal(first.body.status, 200);
      assert.equal(first.body.success, true);
      const firstIds = (first.body.cases as { id: string }[]).map((item) => item.id);
      assert.deepEqual(firstIds, created.slice(0, 2));
      assert.deepEqual(first.body.pageInfo, {
        cursor: { start: created[0], end: created[1] },
        hasNextPage: true,
        hasPreviousPage: false,
      });

      // A case created meanwhile goes to the end of the list: the next page is not disturbed.
      const late = await postIntake(context, listKey, minimalBody({ email: 'list4@example.com' }));
      const second = await get(`/api/v1/cases?${range}&recordsPerPage=2&after=${created[1]}`, listKey);
      assert.deepEqual(
        (second.body.cases as { id: string }[]).map((item) => item.id),
        [created[2], late.body.data!.caseId],
      );
      assert.deepEqual(second.body.pageInfo, {
        cursor: { start: created[2], end: late.body.data!.caseId },
        hasNextPage: false,
        hasPreviousPage: true,
      });
    });

    it('filters by status (comma-separated, any case)', async () => {
      const answer = await get(`/api/v1/cases?${range}&status=abandoned,ASSIGNED`, listKey);
      assert.deepEqual(
        (answer.body.cases as { id: string; status: string }[]).map((item) => [item.id, item.status]),
        [[created[1], 'ABANDONED']],
      );
    });

    it('answers an empty page after the last case, and an empty range', async () => {
      const page = await get(`/api/v1/cases?${range}`, listKey);
      const last = (page.body.pageInfo as { cursor: { end: string } }).cursor.end;
      const after = await get(`/api/v1/cases?${range}&after=${last}`, listKey);
      assert.deepEqual(after.body, {
        status: 200,
        success: true,
        cases: [],
        pageInfo: { cursor: { start: null, end: null }, hasNextPage: false, hasPreviousPage: true },
      });
      const past = await get('/api/v1/cases?startTime=2020-01-01T00:00:00Z&endTime=2020-02-01T00:00:00Z', listKey);
      assert.deepEqual(past.body, {
        status: 200,
        success: true,
        cases: [],
        pageInfo: { cursor: { start: null, end: null }, hasNextPage: false, hasPreviousPage: false },
      });
    });

    it("refuses a forged cursor and another organization's case as a cursor alike", async () => {
      const forged = await get(`/api/v1/cases?${range}&after=${randomUUID()}`, listKey);
      const refused = {
        status: 400,
        body: { status: 400, success: false, error: "The 'after' cursor is not a case of this list" },
      };
      assert.deepEqual(forged, refused);
      assert.deepEqual(await get(`/api/v1/cases?${range}&after=${otherCaseId}`, listKey), refused);
      assert.deepEqual(await get(`/api/v1/cases?${range}&after=garbage`, listKey), refused);
    });

    it('refuses bad input with a documented 400 and writes nothing', async () => {
      const before = await writes();
      const error = async (query: string) => {
        const answer = await get(`/api/v1/cases?${query}`, listKey);
        assert.equal(answer.status, 400, `${query}: ${JSON.stringify(answer.body)}`);
        assert.equal(answer.body.status, 400);
        assert.equal(answer.body.success, false);
        return answer.body.error;
      };
      assert.equal(await error(`endTime=${encodeURIComponent(end)}`), "The 'startTime' param is required");
      assert.equal(await error(`startTime=${encodeURIComponent(start)}`), "The 'endTime' param is required");
      assert.equal(
        await error(`startTime=yesterday&endTime=${encodeURIComponent(end)}`),
        'startTime must be an ISO 8601 date-time, e.g. 2024-01-01T00:00:00Z',
      );
      assert.equal(
        await error('startTime=2024-02-30T00:00:00Z&endTime=2024-03-05T00:00:00Z'),
        'startTime must be an ISO 8601 date-time, e.g. 2024-01-01T00:00:00Z',
      );
      assert.equal(
        await error('startTime=2024-03-01T00:00:00Z&endTime=2024-03-01T00:00:00Z'),
        'endTime must be later than startTime',
      );
      assert.equal(
        await error('startTime=2024-01-01T00:00:00Z&endTime=2024-03-02T00:00:00Z'),
        'The range from startTime to endTime must not exceed 60 days',
      );
      assert.equal(
        await error(`${range}&status=OPEN,CLOSED`),
        "Invalid status 'CLOSED': use OPEN, ASSIGNED, IN_PROGRESS, APPROVED, REJECTED, NO_DECISION, ABANDONED",
      );
      for (const size of ['0', '101', '-1', '2.5', 'ten']) {
        assert.equal(await error(`${range}&recordsPerPage=${size}`), 'recordsPerPage must be an integer from 1 to 100');
      }
      assert.equal(
        await error(`${range}&includeAttachments=true`),
        "The 'documentFormat' param is required when includeAttachments is true",
      );
      assert.deepEqual(await writes(), before);
    });

    it('accepts exactly 60 days and pages of 100', async () => {
      const answer = await get(
        '/api/v1/cases?startTime=2024-01-01T00:00:00Z&endTime=2024-03-01T00:00:00Z&recordsPerPage=100',
        listKey,
      );
      assert.equal(answer.status, 200);
    });

    it('serves pages in a fixed number of queries, whatever their size', async () => {
      const statements: string[] = [];
      const original = context.db.query.bind(context.db);
      const counting = new CaseReadService({
        db: Object.assign(Object.create(context.db) as typeof context.db, {
          query: (text: string, params?: unknown[]) => {
            statements.push(text);
            return original(text, params);
          },
        }),
        cipher: context.services.phiCipher,
        fileStorage: new DatabaseFileStorage(context.services.phiCipher),
      });
      const reader = {
        tenant: Tenant.forOperator(listOrganization, 'test'),
        apiKeyId: randomUUID(),
        baseUrl: 'http://localhost',
      };
      const request = {
        startTime: new Date(start),
        endTime: new Date(end),
        statuses: undefined,
        after: undefined,
      };
      const options = {
        includeAttachments: true,
        documentFormat: 'base64' as const,
        includeOrders: false,
        includeCalendarEvents: false,
        includeCaseProducts: false,
      };
      const one = await counting.list(reader, { ...request, recordsPerPage: 1 }, options);
      const oneCount = statements.length;
      statements.length = 0;
      const all = await counting.list(reader, { ...request, recordsPerPage: 100 }, options);
      assert.equal(one.cases.length, 1);
      assert.ok(all.cases.length >= 4);
      assert.equal(statements.length, oneCount);
    });
  });

  describe('short ids', () => {
    it('are unique per organization: a repeated one writes nothing and names its index', async () => {
      const { rows } = await context.db.query<{ short_id: string; id: string }>(
        'select short_id, id from cases where organization_id = $1 limit 1',
        [organizationId],
      );
      const { rows: forms } = await context.db.query<{ id: string }>(
        'select id from forms where organization_id = $1 limit 1',
        [organizationId],
      );
      const { rows: keys } = await context.db.query<{ id: string }>(
        'select id from api_keys where organization_id = $1',
        [organizationId],
      );
      const row = {
        newPatientId: randomUUID(),
        patient: { email: 'short.id@example.com', firstName: 'A', lastName: 'B' },
        caseId: randomUUID(),
        shortId: rows[0]!.short_id,
        apiKeyId: keys[0]!.id,
        status: 'OPEN' as const,
        payment: { promoCodes: [] },
        formResponseId: randomUUID(),
        formId: forms[0]!.id,
        answers: [],
      };
      const before = await writes();
      await assert.rejects(
        new CaseRepository(context.db, Tenant.forOperator(organizationId, 'test')).insertIntake(row),
        (error: unknown) => isUniqueViolation(error, SHORT_ID_INDEX),
      );
      assert.deepEqual(await writes(), before);
      // The same short id in another organization is no conflict.
      const { rows: otherForms } = await context.db.query<{ id: string }>(
        'select id from forms where organization_id = $1 limit 1',
        [other.organizationId],
      );
      const { rows: otherKeys } = await context.db.query<{ id: string }>(
        'select id from api_keys where organization_id = $1',
        [other.organizationId],
      );
      const written = await new CaseRepository(
        context.db,
        Tenant.forOperator(other.organizationId, 'test'),
      ).insertIntake({
        ...row,
        formId: otherForms[0]!.id,
        apiKeyId: otherKeys[0]!.id,
      });
      assert.ok(written && 'patientId' in written);
    });

    it('have the published form', () => {
      for (let index = 0; index < 1000; index += 1) assert.match(newShortId(), SHORT_ID_PATTERN);
    });
  });
});
