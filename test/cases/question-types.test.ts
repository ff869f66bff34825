import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { questionTypeNames } from '../../src/modules/cases/question-types/registry.ts';
import { intakeTestContext, minimalBody, postIntake, weightQuestion, type TestContext } from './support.ts';

const PDF = Buffer.from('%PDF-1.4\n1 0 obj\n<<>>\nendobj\n').toString('base64');

/** One question per type, as form-title mode defines it. */
const definitions: Record<string, Record<string, unknown>> = {
  TEXT: { question: 'Describe your symptoms', type: 'TEXT' },
  BOOLEAN: { question: 'Do you smoke?', type: 'BOOLEAN' },
  DATE: { question: 'Date of last visit', type: 'DATE' },
  DATERANGE: { question: 'When did your symptoms start?', type: 'DATERANGE' },
  SINGLESELECT: { question: 'Preferred contact', type: 'SINGLESELECT', options: ['Email', 'Phone'] },
  MULTISELECT: { question: 'Diet', type: 'MULTISELECT', options: ['Dieting', 'Exercise', 'Supplements'] },
  FILE: { question: 'Lab results', type: 'FILE' },
  WIDGET_USER_ID_DOCUMENT: { question: 'Photo ID', type: 'WIDGET_USER_ID_DOCUMENT' },
  WIDGET_BMI: { question: 'BMI', type: 'WIDGET_BMI' },
  WIDGET_STATE_PICKER: { question: 'State of residence', type: 'WIDGET_STATE_PICKER' },
  WIDGET_VISIT_TYPE: { question: 'Visit type', type: 'WIDGET_VISIT_TYPE' },
  STATEMENT: { question: 'By continuing you agree to the terms.', type: 'STATEMENT' },
};

type Mode = 'formTitle' | 'formId';
interface Accepted {
  type: string;
  modes: Mode[];
  answer: unknown;
  stored: unknown;
}
interface Rejected {
  type: string;
  modes: Mode[];
  answer: unknown;
  error: string;
}

const both: Mode[] = ['formTitle', 'formId'];

const accepted: Accepted[] = [
  { type: 'TEXT', modes: both, answer: 'Any text response', stored: 'Any text response' },
  { type: 'TEXT', modes: both, answer: 150, stored: '150' },
  { type: 'BOOLEAN', modes: both, answer: 'true', stored: true },
  { type: 'BOOLEAN', modes: both, answer: 'false', stored: false },
  { type: 'BOOLEAN', modes: both, answer: true, stored: true },
  { type: 'DATE', modes: both, answer: '2024-01-15', stored: '2024-01-15' },
  {
    type: 'DATERANGE',
    modes: ['formTitle'],
    answer: 'August 10, 2021 - indefinite',
    stored: { startDate: '2021-08-10', endDate: null, text: 'August 10, 2021 - indefinite' },
  },
  {
    type: 'DATERANGE',
    modes: ['formTitle'],
    answer: 'Jan 5, 2024 - March 1, 2024',
    stored: { startDate: '2024-01-05', endDate: '2024-03-01', text: 'Jan 5, 2024 - March 1, 2024' },
  },
  {
    type: 'DATERANGE',
    modes: both,
    answer: { startDate: '2025-08-05', endDate: '2025-08-25' },
    stored: { startDate: '2025-08-05', endDate: '2025-08-25' },
  },
  {
    type: 'DATERANGE',
    modes: ['formId'],
    answer: { startDate: '2025-08-05', endDate: null },
    stored: { startDate: '2025-08-05', endDate: null },
  },
  { type: 'SINGLESELECT', modes: both, answer: 'Phone', stored: 'Phone' },
  { type: 'MULTISELECT', modes: both, answer: '["Dieting", "Exercise"]', stored: ['Dieting', 'Exercise'] },
  { type: 'MULTISELECT', modes: both, answer: ['Supplements'], stored: ['Supplements'] },
  {
    type: 'WIDGET_BMI',
    modes: ['formTitle'],
    answer: '{"height":70,"weight":150,"bmi":21.5}',
    stored: { height: 70, weight: 150, bmi: 21.5 },
  },
  {
    type: 'WIDGET_BMI',
    modes: ['formId'],
    answer: { height: '70', weight: 150, bmi: 21.5 },
    stored: { height: 70, weight: 150, bmi: 21.5 },
  },
  { type: 'WIDGET_STATE_PICKER', modes: ['formTitle'], answer: 'California', stored: 'CA' },
  { type: 'WIDGET_STATE_PICKER', modes: ['formTitle'], answer: 'new york', stored: 'NY' },
  { type: 'WIDGET_STATE_PICKER', modes: both, answer: 'CA', stored: 'CA' },
  { type: 'WIDGET_VISIT_TYPE', modes: both, answer: 'SYNC_VIDEO', stored: 'SYNC_VIDEO' },
  { type: 'WIDGET_VISIT_TYPE', modes: both, answer: 'order_form', stored: 'ORDER_FORM' },
  {
    type: 'FILE',
    modes: both,
    answer: [{ name: 'document.pdf', data: 'https://example.com/document.pdf' }],
    stored: [{ name: 'document.pdf', contentType: 'application/pdf', url: 'https://example.com/document.pdf' }],
  },
  {
    type: 'WIDGET_USER_ID_DOCUMENT',
    modes: both,
    answer: [{ name: 'license.pdf', data: PDF, contentType: 'application/pdf' }],
    stored: [{ name: 'license.pdf', contentType: 'application/pdf', size: Buffer.from(PDF, 'base64').length }],
  },
];

const rejected: Rejected[] = [
  { type: 'TEXT', modes: both, answer: { text: 'x' }, error: 'Must be a string' },
  { type: 'BOOLEAN', modes: both, answer: 'yes', error: 'Must be a JSON boolean ("true" or "false")' },
  { type: 'DATE', modes: both, answer: '01/15/2024', error: 'Must be a date in YYYY-MM-DD format' },
  { type: 'DATE', modes: both, answer: '2023-02-29', error: 'Must be a date in YYYY-MM-DD format' },
  { type: 'DATERANGE', modes: ['formTitle'], answer: 'sometime last year', error: 'Must be a date range such as' },
  {
    type: 'DATERANGE',
    modes: ['formId'],
    answer: 'August 10, 2021 - indefinite',
    error: 'Must be an object {"startDate":"YYYY-MM-DD","endDate":"YYYY-MM-DD"|null}',
  },
  {
    type: 'DATERANGE',
    modes: both,
    answer: { startDate: '2025-08-25', endDate: '2025-08-05' },
    error: 'questions.1.answer.endDate: endDate must be greater than startDate',
  },
  {
    type: 'DATERANGE',
    modes: ['formTitle'],
    answer: 'March 1, 2024 - January 1, 2024',
    error: 'endDate must be greater than startDate',
  },
  { type: 'DATERANGE', modes: ['formId'], answer: { startDate: '2025-13-01' }, error: 'questions.1.answer.startDate' },
  { type: 'SINGLESELECT', modes: both, answer: 'Fax', error: "'Fax' is not one of the provided options" },
  {
    type: 'MULTISELECT',
    modes: both,
    answer: '["Dieting", "Fasting"]',
    error: "'Fasting' is not one of the provided options",
  },
  { type: 'MULTISELECT', modes: both, answer: 'Dieting', error: 'Must be a JSON array of strings' },
  {
    type: 'WIDGET_BMI',
    modes: both,
    answer: '{"height":70,"weight":-1,"bmi":21.5}',
    error: 'questions.1.answer.weight: Must be a positive number',
  },
  {
    type: 'WIDGET_BMI',
    modes: both,
    answer: { height: 70, weight: 150 },
    error: 'questions.1.answer.bmi: Must be a positive number',
  },
  { type: 'WIDGET_BMI', modes: both, answer: 'tall', error: 'Must be an object with height, weight and bmi' },
  {
    type: 'WIDGET_STATE_PICKER',
    modes: ['formId'],
    answer: 'California',
    error: 'Must be a 2-character US state code',
  },
  { type: 'WIDGET_STATE_PICKER', modes: both, answer: 'XX', error: 'Must be a' },
  {
    type: 'WIDGET_VISIT_TYPE',
    modes: both,
    answer: 'IN_PERSON',
    error: 'Must be one of: NO_SHOW, ASYNC_TEXT_EMAIL, SYNC_VIDEO, SYNC_PHONE, ORDER_FORM',
  },
  { type: 'FILE', modes: both, answer: 'document.pdf', error: 'Must be an array of file objects with name and data' },
  { type: 'FILE', modes: both, answer: [{ name: 'a.pdf' }], error: 'questions.1.answer.0.data: Required' },
  { type: 'FILE', modes: both, answer: [{ data: PDF }], error: 'questions.1.answer.0.name: Required' },
  {
    type: 'FILE',
    modes: both,
    answer: [{ name: 'a.bin', data: 'not base64!' }],
    error: 'Must be valid base64 content or an http(s) URL',
  },
  {
    type: 'FILE',
    modes: both,
    answer: [{ name: 'a.pdf', data: 'ftp://example.com/a.pdf' }],
    error: 'Must be base64 content or an http(s) URL',
  },
  {
    type: 'WIDGET_USER_ID_DOCUMENT',
    modes: both,
    answer: [{ name: 'license.jpg', data: PDF, contentType: 'image/jpeg' }],
    error: 'Content is not a valid image/jpeg file',
  },
];

describe('question types, in both modes', () => {
  let context: TestContext;
  let apiKey: string;
  let formId: string;
  const questionIds = new Map<string, string>();
  let counter = 0;

  before(async () => {
    context = await intakeTestContext();
    ({ apiKey } = await context.organization());
    // A form holding every type (nothing required), for form-id mode.
    const setup = await postIntake(
      context,
      apiKey,
      minimalBody({
        formTitle: 'Every Type',
        questions: [
          weightQuestion,
          ...Object.values(definitions).map((definition) => ({ ...definition, required: false })),
        ],
      }),
    );
    assert.equal(setup.status, 200, JSON.stringify(setup.body));
    const response = await context.app.inject({
      method: 'GET',
      url: '/api/v1/forms?title=Every%20Type',
      headers: { 'cv-api-key': apiKey },
    });
    const form = response.json().data.forms[0];
    formId = form.id;
    for (const question of form.questions) questionIds.set(question.question, question.questionId);
  });
  after(() => context.close());

  /** Sends one answer of `type` in `mode`, beside the weight question (so the answer is questions.1). */
  function send(type: string, mode: Mode, answer: unknown) {
    counter += 1;
    const email = `patient${counter}@example.com`;
    if (mode === 'formTitle') {
      return postIntake(
        context,
        apiKey,
        minimalBody({
          email,
          formTitle: `Type ${type}`,
          questions: [weightQuestion, { ...definitions[type], required: true, answer }],
        }),
      );
    }
    return postIntake(context, apiKey, {
      ...minimalBody({ email, formTitle: undefined, formId }),
      questions: [
        { questionId: questionIds.get(weightQuestion.question), answer: '180' },
        { questionId: questionIds.get(definitions[type]!.question as string), answer },
      ],
    });
  }

  /** The stored answer to the question under test (questions.1, the one that is not the weight question). */
  async function storedAnswer(formResponseId: string, type: string): Promise<unknown> {
    const { rows } = await context.db.query<{ value: unknown }>(
      `select a.value from answers a join questions q on q.id = a.question_id
        where a.form_response_id = $1 and a.question_type = $2 and q.question = $3`,
      [formResponseId, type, definitions[type]!.question],
    );
    return rows[0]?.value;
  }

  it('has a module for every documented type', () => {
    assert.deepEqual([...questionTypeNames].sort(), Object.keys(definitions).sort());
  });

  for (const example of accepted) {
    for (const mode of example.modes) {
      it(`${mode}: accepts ${example.type} answer ${JSON.stringify(example.answer).slice(0, 60)}`, async () => {
        const { status, body } = await send(example.type, mode, example.answer);
        assert.equal(status, 200, JSON.stringify(body));
        const stored = await storedAnswer(body.data!.formResponseId!, example.type);
        if (Array.isArray(example.stored) && Array.isArray(stored) && typeof example.stored[0] === 'object') {
          // File descriptions also carry generated ids and hashes: compare the fields we know.
          assert.equal(stored.length, example.stored.length);
          stored.forEach((entry, index) => {
            for (const [key, value] of Object.entries((example.stored as Record<string, unknown>[])[index]!)) {
              assert.deepEqual((entry as Record<string, unknown>)[key], value, key);
            }
          });
        } else {
          assert.deepEqual(stored, example.stored);
        }
      });
    }
  }

  for (const example of rejected) {
    for (const mode of example.modes) {
      it(`${mode}: rejects ${example.type} answer ${JSON.stringify(example.answer).slice(0, 60)}`, async () => {
        const { status, body } = await send(example.type, mode, example.answer);
        assert.equal(status, 400, JSON.stringify(body));
        assert.deepEqual(Object.keys(body), ['success', 'error']);
        assert.equal(body.success, false);
        assert.match(body.error!, /^Validation failed: questions\.1\.answer/);
        assert.ok(body.error!.includes(example.error), `${body.error} should include ${example.error}`);
      });
    }
  }

  it('stores no answer for a STATEMENT, even one sent with an answer, and never requires it', async () => {
    for (const mode of both) {
      const { status, body } = await send('STATEMENT', mode, '');
      assert.equal(status, 200, JSON.stringify(body));
      assert.equal(await storedAnswer(body.data!.formResponseId!, 'STATEMENT'), undefined);
    }
  });

  it('accepts a long question text (a STATEMENT paragraph) and keeps it one question when sent again', async () => {
    const paragraph = 'Déclaration — '.repeat(400);
    for (const email of ['long1@example.com', 'long2@example.com']) {
      const { status } = await postIntake(
        context,
        apiKey,
        minimalBody({
          email,
          formTitle: 'Long Statement',
          questions: [weightQuestion, { question: paragraph, type: 'STATEMENT', required: false }],
        }),
      );
      assert.equal(status, 200);
    }
    const { rows } = await context.db.query<{ count: number }>(
      `select count(*)::int as count from questions q join forms f on f.id = q.form_id
        where f.title = 'Long Statement' and q.type = 'STATEMENT'`,
    );
    assert.equal(rows[0]!.count, 1);
  });

  it('rejects an unknown type, and a select question without options', async () => {
    const unknown = await postIntake(
      context,
      apiKey,
      minimalBody({ questions: [weightQuestion, { question: 'Q', type: 'SLIDER', required: false }] }),
    );
    assert.equal(unknown.status, 400);
    assert.match(
      unknown.body.error!,
      /^Validation failed: questions\.1\.type: Unknown question type 'SLIDER'; expected one of TEXT, /,
    );
    for (const type of ['SINGLESELECT', 'MULTISELECT']) {
      const noOptions = await postIntake(
        context,
        apiKey,
        minimalBody({ questions: [weightQuestion, { question: 'Pick', type, required: false, answer: 'A' }] }),
      );
      assert.deepEqual(noOptions.body, {
        success: false,
        error: `Validation failed: questions.1.options: Required for ${type} questions`,
      });
    }
  });

  it('requires question, type and required in form-title mode', async () => {
    for (const [field, message] of [
      ['question', 'Validation failed: questions.1.question: Required'],
      ['type', 'Validation failed: questions.1.type: Required'],
      ['required', 'Validation failed: questions.1.required: Required'],
    ] as const) {
      const question: Record<string, unknown> = { question: 'Q', type: 'TEXT', required: false, answer: 'a' };
      delete question[field];
      const { body } = await postIntake(context, apiKey, minimalBody({ questions: [weightQuestion, question] }));
      assert.deepEqual(body, { success: false, error: message });
    }
  });
});
