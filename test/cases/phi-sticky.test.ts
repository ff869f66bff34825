import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import {
  appWithPaymentProcessor,
  intakeTestContext,
  minimalBody,
  postIntake,
  weightQuestion,
  type TestContext,
} from './support.ts';

/**
 * A question's `phi` flag is sticky (docs/api/intake.md, "PHI"): once a question of a form has been PHI, every
 * later answer to it is stored encrypted, whatever a later request says about `phi`. Issue 16, defect 12: an
 * answer sent with `phi` omitted after one sent with `phi: true` was stored in plaintext.
 */
describe('PHI is sticky per question', () => {
  let context: TestContext;
  let apiKey: string;
  let organizationId: string;

  before(async () => {
    context = await intakeTestContext();
    ({ apiKey, organizationId } = await context.organization());
  });
  after(() => context.close());

  const diagnosis = (answer: string, phi?: boolean) => ({
    question: 'Any diagnosis we should know about?',
    type: 'TEXT',
    required: false,
    answer,
    ...(phi === undefined ? {} : { phi }),
  });

  /** The stored form of the answer to the diagnosis question of a form response. */
  async function storedDiagnosis(formResponseId: string): Promise<{ value: unknown; encrypted: boolean }> {
    const { rows } = await context.db.query<{ value: unknown; encrypted_value: string | null }>(
      `select a.value, a.encrypted_value from answers a join questions q on q.id = a.question_id
        where a.organization_id = $1 and a.form_response_id = $2 and q.question = 'Any diagnosis we should know about?'`,
      [organizationId, formResponseId],
    );
    assert.equal(rows.length, 1);
    return { value: rows[0]!.value, encrypted: rows[0]!.encrypted_value !== null };
  }

  async function intake(title: string, question: Record<string, unknown>, email: string): Promise<string> {
    const { status, body } = await postIntake(
      context,
      apiKey,
      minimalBody({ email, formTitle: title, questions: [weightQuestion, question] }),
    );
    assert.equal(status, 200, JSON.stringify(body));
    return body.data!.formResponseId!;
  }

  async function listedPhi(title: string): Promise<boolean> {
    const response = await context.app.inject({
      method: 'GET',
      url: `/api/v1/forms?title=${encodeURIComponent(title)}`,
      headers: { 'cv-api-key': apiKey },
    });
    const form = response.json().data.forms[0] as { questions: { question: string; phi: boolean }[] };
    return form.questions.find((question) => question.question.startsWith('Any diagnosis'))!.phi;
  }

  it('phi true, then omitted, then false, then true: every answer after the first PHI one is encrypted', async () => {
    const title = 'Sticky PHI form';
    const plain = await intake(title, diagnosis('none yet'), 'a@example.com');
    assert.deepEqual(await storedDiagnosis(plain), { value: 'none yet', encrypted: false }, 'not PHI yet');
    for (const [index, phi] of [true, undefined, false, true, undefined].entries()) {
      const formResponseId = await intake(title, diagnosis(`type 2 diabetes ${index}`, phi), `p${index}@example.com`);
      assert.deepEqual(await storedDiagnosis(formResponseId), { value: null, encrypted: true }, `phi: ${phi}`);
      assert.equal(await listedPhi(title), true, `the forms API lists the question as PHI after phi: ${phi}`);
    }
  });

  it('form-id mode answers a once-PHI question encrypted', async () => {
    const title = 'Sticky PHI by id';
    await intake(title, diagnosis('asthma', true), 'id1@example.com');
    await intake(title, diagnosis('asthma', false), 'id2@example.com');
    const forms = await context.app.inject({
      method: 'GET',
      url: `/api/v1/forms?title=${encodeURIComponent(title)}`,
      headers: { 'cv-api-key': apiKey },
    });
    const form = forms.json().data.forms[0] as { id: string; questions: { questionId: string; question: string }[] };
    const question = form.questions.find((item) => item.question.startsWith('Any diagnosis'))!;
    const weight = form.questions.find((item) => item.question === weightQuestion.question)!;
    const { status, body } = await postIntake(context, apiKey, {
      firstName: 'Ada',
      lastName: 'Lovelace',
      email: 'id3@example.com',
      formId: form.id,
      questions: [
        { questionId: weight.questionId, answer: '170' },
        { questionId: question.questionId, answer: 'asthma, mild' },
      ],
    });
    assert.equal(status, 200, JSON.stringify(body));
    assert.deepEqual(await storedDiagnosis(body.data!.formResponseId!), { value: null, encrypted: true });
  });

  it('a PHI question retired and sent again without phi stays PHI', async () => {
    const title = 'Sticky PHI after retirement';
    await intake(title, diagnosis('migraine', true), 'r1@example.com');
    // A request without the question retires it ...
    const { status } = await postIntake(
      context,
      apiKey,
      minimalBody({ email: 'r2@example.com', formTitle: title, questions: [weightQuestion] }),
    );
    assert.equal(status, 200);
    // ... and one that sends it again, phi omitted, adds it back: as PHI.
    const formResponseId = await intake(title, diagnosis('migraine, weekly'), 'r3@example.com');
    assert.deepEqual(await storedDiagnosis(formResponseId), { value: null, encrypted: true });
    assert.equal(await listedPhi(title), true);
  });

  it('an intake planned before the question became PHI, written after, is encrypted', async () => {
    const title = 'Sticky PHI race';
    await intake(title, diagnosis('none'), 'race0@example.com');
    // The payment seam runs between the intake's plan (the form read: not PHI) and its write; another intake
    // makes the question PHI there, as a concurrent request would.
    const app = await appWithPaymentProcessor(context, {
      prepare: async () => {
        await intake(title, diagnosis('hypertension', true), 'race1@example.com');
        return { charge: 'recorded' };
      },
      record: async () => ({}),
    });
    try {
      const response = await app.inject({
        method: 'POST',
        url: '/api/v1/dynamic-case',
        headers: { 'cv-api-key': apiKey },
        payload: minimalBody({
          email: 'race2@example.com',
          formTitle: title,
          paymentAmount: 10,
          questions: [weightQuestion, diagnosis('hypertension, treated')],
        }),
      });
      assert.equal(response.statusCode, 200, response.body);
      assert.deepEqual(await storedDiagnosis(response.json().data.formResponseId), { value: null, encrypted: true });
    } finally {
      await app.close();
    }
  });

  it('the non-PHI answers of the same intake stay readable', async () => {
    const title = 'Sticky PHI neighbours';
    const formResponseId = await intake(title, diagnosis('eczema', true), 'n1@example.com');
    const { rows } = await context.db.query<{ value: unknown }>(
      `select a.value from answers a join questions q on q.id = a.question_id
        where a.form_response_id = $1 and q.question = $2`,
      [formResponseId, weightQuestion.question],
    );
    assert.deepEqual(rows, [{ value: '180' }]);
  });
});
