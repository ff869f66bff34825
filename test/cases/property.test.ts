import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import fc from 'fast-check';
import { questionTypeNames } from '../../src/modules/cases/question-types/registry.ts';
import { assertProperty } from '../support/seed.ts';
import { formForIdExample, formTitleExample, intakeTestContext, postIntake, type TestContext } from './support.ts';

/** Every answer other than a success has the documented body of its status. */
function assertDocumentedEnvelope(status: number, body: Record<string, unknown>): void {
  assert.ok(status < 500, `status ${status}: ${JSON.stringify(body)}`);
  if (status === 200) {
    assert.equal(body.success, true);
    assert.equal(typeof (body.data as Record<string, unknown>).caseId, 'string');
    return;
  }
  if (status === 409) {
    assert.deepEqual(Object.keys(body).sort(), ['code', 'description', 'status', 'success']);
    return;
  }
  assert.ok([400, 404, 413].includes(status), `unexpected status ${status}`);
  assert.deepEqual(Object.keys(body).sort(), ['error', 'success']);
  assert.equal(body.success, false);
  assert.equal(typeof body.error, 'string');
  if (status === 400) {
    assert.match(
      body.error as string,
      /^(Validation failed: .+: .+|Question '.*' with questionId: \S+: Answer is required)$/s,
    );
  }
}

const RUNS = 150;

/** Values a client might put anywhere, including ones databases choke on. */
const nasty = fc.oneof(
  fc.jsonValue({ maxDepth: 3 }),
  fc.constantFrom(
    '',
    ' ',
    '\u0000',
    'null',
    'true',
    '[]',
    '{}',
    '-1',
    '1e309',
    'x'.repeat(3000),
    '\uD800',
    '2024-02-30',
  ),
  fc.string({ unit: 'binary', maxLength: 40 }),
  fc.constantFrom(...questionTypeNames),
);

describe('property: no body ever causes a 5xx, and every error has the documented envelope', () => {
  let context: TestContext;
  let apiKey: string;
  let formId: string;
  let questionIds: string[];

  before(async () => {
    context = await intakeTestContext();
    ({ apiKey } = await context.organization());
    const setup = await postIntake(context, apiKey, formForIdExample('Property Form'));
    assert.equal(setup.status, 200);
    const response = await context.app.inject({
      method: 'GET',
      url: '/api/v1/forms?title=Property%20Form',
      headers: { 'cv-api-key': apiKey },
    });
    const form = response.json().data.forms[0];
    formId = form.id;
    questionIds = form.questions.map((question: { questionId: string }) => question.questionId);
  });
  after(() => context.close());

  it('random JSON bodies', async () => {
    await assertProperty(
      'property: random JSON bodies',
      fc.asyncProperty(fc.jsonValue({ maxDepth: 4 }), async (body) => {
        const { status, body: answer } = await postIntake(context, apiKey, body);
        assertDocumentedEnvelope(status, answer);
        assert.notEqual(status, 200);
      }),
      { numRuns: RUNS },
    );
  });

  it('the form-title example with random fields replaced, removed or added', async () => {
    const keys = Object.keys(formTitleExample());
    const mutation = fc.record({
      key: fc.oneof(fc.constantFrom(...keys, 'formId', 'paymentAmount', 'promoCode', 'password'), fc.string()),
      value: fc.option(nasty, { nil: undefined }),
      questionIndex: fc.nat(6),
      questionKey: fc.constantFrom('question', 'type', 'required', 'answer', 'options', 'phi', 'hint', 'questionId'),
      questionValue: fc.option(nasty, { nil: undefined }),
    });
    await assertProperty(
      'property: the form-title example mutated',
      fc.asyncProperty(fc.array(mutation, { minLength: 1, maxLength: 4 }), async (mutations) => {
        const body = formTitleExample();
        delete body.idempotencyKey;
        const questions = body.questions as Record<string, unknown>[];
        for (const change of mutations) {
          if (change.value === undefined) delete body[change.key];
          else body[change.key] = change.value;
          const question = questions[change.questionIndex];
          if (question && Array.isArray(body.questions)) {
            if (change.questionValue === undefined) delete question[change.questionKey];
            else question[change.questionKey] = change.questionValue;
          }
        }
        const { status, body: answer } = await postIntake(context, apiKey, body);
        assertDocumentedEnvelope(status, answer);
      }),
      { numRuns: RUNS },
    );
  });

  it('form-id mode with random answers and question ids', async () => {
    await assertProperty(
      'property: form-id mode',
      fc.asyncProperty(
        fc.array(
          fc.record({
            questionId: fc.oneof(fc.constantFrom(...questionIds), fc.uuid(), nasty),
            answer: fc.option(nasty, { nil: undefined }),
          }),
          { minLength: 1, maxLength: 6 },
        ),
        async (questions) => {
          const { status, body } = await postIntake(context, apiKey, {
            firstName: 'Jane',
            lastName: 'Smith',
            email: 'jane.smith@example.com',
            formId,
            questions,
          });
          assertDocumentedEnvelope(status, body);
        },
      ),
      { numRuns: RUNS },
    );
  });

  it('form-title mode with random question types, options and answers', async () => {
    const question = fc.record(
      {
        question: fc.oneof(fc.constantFrom('What is your current weight?', 'Goal weight', 'Other'), fc.string()),
        type: fc.oneof(fc.constantFrom(...questionTypeNames), fc.string()),
        required: fc.boolean(),
        phi: fc.boolean(),
        options: fc.array(fc.oneof(fc.constantFrom('A', 'B', 'C'), fc.string({ maxLength: 5 })), { maxLength: 4 }),
        answer: nasty,
      },
      { requiredKeys: ['question', 'type', 'required'] },
    );
    await assertProperty(
      'property: form-title mode random questions',
      fc.asyncProperty(
        fc.array(question, { minLength: 1, maxLength: 5 }),
        fc.string({ maxLength: 12 }),
        async (questions, title) => {
          const { status, body } = await postIntake(context, apiKey, {
            firstName: 'John',
            lastName: 'Doe',
            email: 'john.doe@example.com',
            formTitle: `Random ${title}`,
            questions,
          });
          assertDocumentedEnvelope(status, body);
        },
      ),
      { numRuns: RUNS },
    );
  });
});
