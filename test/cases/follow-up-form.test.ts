import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { count, intakeTestContext, minimalBody, postIntake, type TestContext } from './support.ts';

const PDF = Buffer.from('%PDF-1.4 a follow-up document');

interface Answer {
  status: number;
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  body: any;
}

describe('POST /api/v1/customer-dynamic-case-form (Patient Add Form to Case)', () => {
  let context: TestContext;
  let apiKey: string;
  let organizationId: string;
  let otherCaseId: string;

  before(async () => {
    context = await intakeTestContext();
    ({ apiKey, organizationId } = await context.organization());
    const other = await context.organization();
    const intake = await postIntake(context, other.apiKey, minimalBody({ email: 'other.org@example.com' }));
    otherCaseId = intake.body.data!.caseId!;
  });
  after(() => context.close());

  const post = async (body: unknown, key: string | null = apiKey): Promise<Answer> => {
    const response = await context.app.inject({
      method: 'POST',
      url: '/api/v1/customer-dynamic-case-form',
      headers: { 'content-type': 'application/json', ...(key === null ? {} : { 'cv-api-key': key }) },
      payload: JSON.stringify(body),
    });
    return { status: response.statusCode, body: response.json() };
  };

  const newCase = async (): Promise<string> => {
    const answer = await postIntake(context, apiKey, minimalBody({ email: `${randomUUID()}@example.com` }));
    assert.equal(answer.status, 200, JSON.stringify(answer.body));
    return answer.body.data!.caseId!;
  };

  const detail = async (caseId: string): Promise<Answer['body']> => {
    const response = await context.app.inject({
      method: 'GET',
      url: `/api/v1/customer-case-detail?caseId=${caseId}&includeAttachments=true`,
      headers: { 'cv-api-key': apiKey },
    });
    assert.equal(response.statusCode, 200, response.body);
    return response.json().caseDetail;
  };

  const writes = async () => ({
    responses: await count(context, 'form_responses', organizationId),
    answers: await count(context, 'answers', organizationId),
    events: await count(context, 'case_events', organizationId),
    forms: await count(context, 'forms', organizationId),
  });

  it("answers the page's 200 and shows the answers in the case detail (lowercase types, PHI sealed)", async () => {
    const caseId = await newCase();
    const answer = await post({
      caseId,
      formTitle: 'Monthly check-in',
      formDescription: 'How the treatment is going',
      questions: [
        { questionId: 'weight', question: 'What is your current weight?', type: 'text', answer: '172 lbs' },
        { questionId: 'mood', question: 'How do you feel?', type: 'text', answer: 'Tired', phi: true },
        {
          questionId: 'effects',
          question: 'Any side effects?',
          type: 'multiselect',
          options: ['Nausea', 'Headache', 'None'],
          answer: ['Nausea', 'Headache'],
        },
        {
          questionId: 'labs',
          question: 'Upload your lab results',
          type: 'file',
          answer: [{ name: 'labs.pdf', data: PDF.toString('base64') }],
        },
      ],
    });
    assert.equal(answer.status, 200, JSON.stringify(answer.body));
    assert.deepEqual(Object.keys(answer.body), ['status', 'success', 'data']);
    assert.equal(answer.body.success, true);
    assert.equal(answer.body.data.caseId, caseId);
    const { formResponseId } = answer.body.data;

    const shown = await detail(caseId);
    assert.equal(shown.responses.length, 2);
    const followUp = shown.responses.find((response: { id: string }) => response.id === formResponseId);
    assert.equal(followUp.form.name, 'Monthly check-in');
    assert.deepEqual(
      followUp.responses.map((item: { question: { type: string }; text: string }) => [item.question.type, item.text]),
      [
        ['TEXT', '172 lbs'],
        ['TEXT', 'Tired'],
        ['MULTISELECT', 'Nausea, Headache'],
        ['FILE', 'labs.pdf'],
      ],
    );
    assert.equal(followUp.responses[1].question.isPHI, true);
    const sealed = await context.db.query<{ value: unknown; encrypted_value: string | null }>(
      `select a.value, a.encrypted_value from answers a join questions q on q.id = a.question_id
        where a.form_response_id = $1 and q.question = 'How do you feel?'`,
      [formResponseId],
    );
    assert.equal(sealed.rows[0]!.value, null);
    assert.ok(sealed.rows[0]!.encrypted_value);
    const events = await context.db.query<{ type: string; after: unknown }>(
      'select type, after from case_events where case_id = $1 order by seq',
      [caseId],
    );
    assert.deepEqual(events.rows.at(-1)!.type, 'case.form_response_added');
  });

  it('takes the key in the body, and a questionId of the stored form for question and type', async () => {
    const caseId = await newCase();
    const first = await post(
      {
        key: apiKey,
        caseId,
        formTitle: 'Score form',
        questions: [{ questionId: 'score', question: 'Your score', type: 'TEXT', answer: '40' }],
      },
      null,
    );
    assert.equal(first.status, 200, JSON.stringify(first.body));
    const stored = (await detail(caseId)).responses.find(
      (response: { id: string }) => response.id === first.body.data.formResponseId,
    );
    const questionId = stored.responses[0].question.id;
    // The page's own example sends only questionId and answer (a number).
    const second = await post({ caseId, formTitle: 'Score form', questions: [{ questionId, answer: 42 }] });
    assert.equal(second.status, 200, JSON.stringify(second.body));
    const again = (await detail(caseId)).responses.find(
      (response: { id: string }) => response.id === second.body.data.formResponseId,
    );
    assert.equal(again.responses[0].text, '42');
  });

  it("answers the page's 400 messages verbatim and writes nothing", async () => {
    const caseId = await newCase();
    const start = await writes();
    const question = { questionId: 'q1', question: 'What is your current weight?', type: 'text', answer: '150' };
    const refusals: [unknown, string | null, string][] = [
      [{ caseId, formTitle: 'F', questions: [question] }, null, 'Secret key not provided!'],
      [{ formTitle: 'F', questions: [question] }, apiKey, "The 'caseId' param is required"],
      [{ caseId, questions: [question] }, apiKey, "The 'formTitle' param is required"],
      [{ caseId, formTitle: 'F' }, apiKey, "The 'questions' param is required"],
      [{ caseId, formTitle: 'F', questions: [] }, apiKey, "The 'questions' param is required"],
      [
        { caseId, formTitle: 'F', questions: [{ ...question, questionId: undefined }] },
        apiKey,
        "The 'questions[0].questionId' field is required",
      ],
      [
        { caseId, formTitle: 'F', questions: [{ ...question, answer: undefined }] },
        apiKey,
        "The 'questions[0].answer' field is required",
      ],
      [
        { caseId, formTitle: 'F', questions: [{ questionId: 'x', answer: '1' }] },
        apiKey,
        "The 'questions[0].question' field is required",
      ],
      [{ caseId: otherCaseId, formTitle: 'F', questions: [question] }, apiKey, 'Provided case is not valid'],
      [{ caseId: randomUUID(), formTitle: 'F', questions: [question] }, apiKey, 'Provided case is not valid'],
      [{ caseId: 'nope', formTitle: 'F', questions: [question] }, apiKey, 'Provided case is not valid'],
      [{ caseId, formTitle: 'F', questions: [{ ...question, answer: '' }] }, apiKey, "Case Form can't be Submitted."],
    ];
    for (const [body, key, error] of refusals) {
      assert.deepEqual(await post(body, key), { status: 400, body: { status: 400, success: false, error } }, error);
    }
    assert.deepEqual(await writes(), start);
  });
});
