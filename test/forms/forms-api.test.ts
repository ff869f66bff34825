import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { intakeTestContext, minimalBody, postIntake, type TestContext } from '../cases/support.ts';

describe('forms API', () => {
  let context: TestContext;
  let apiKey: string;

  before(async () => {
    context = await intakeTestContext();
    ({ apiKey } = await context.organization());
  });
  after(() => context.close());

  const get = (url: string, key = apiKey) => context.app.inject({ method: 'GET', url, headers: { 'cv-api-key': key } });

  it("lists the organization's forms with their questions, and gets one by id", async () => {
    const created = await postIntake(
      context,
      apiKey,
      minimalBody({
        formTitle: 'Weight Program',
        formDescription: 'Intake for the weight program',
        questions: [
          {
            question: 'What is your current weight?',
            type: 'TEXT',
            required: true,
            phi: true,
            hint: 'In pounds',
            placeholder: 'e.g., 150 lbs',
            answer: '150',
          },
          { question: 'Pick one', type: 'singleselect', required: false, options: ['A', 'B'] },
        ],
      }),
    );
    assert.equal(created.status, 200);

    const list = await get('/api/v1/forms');
    assert.equal(list.statusCode, 200);
    const { success, data } = list.json();
    assert.equal(success, true);
    assert.equal(data.forms.length, 1);
    const form = data.forms[0];
    assert.equal(form.title, 'Weight Program');
    assert.equal(form.description, 'Intake for the weight program');
    assert.ok(!Number.isNaN(Date.parse(form.createdAt)));
    assert.deepEqual(
      form.questions.map(({ questionId: _id, ...question }: Record<string, unknown>) => question),
      [
        {
          question: 'What is your current weight?',
          type: 'TEXT',
          required: true,
          phi: true,
          hint: 'In pounds',
          placeholder: 'e.g., 150 lbs',
          options: [],
        },
        {
          question: 'Pick one',
          type: 'SINGLESELECT',
          required: false,
          phi: false,
          hint: null,
          placeholder: null,
          options: ['A', 'B'],
        },
      ],
    );

    const one = await get(`/api/v1/forms/${form.id}`);
    assert.equal(one.statusCode, 200);
    assert.deepEqual(one.json(), { success: true, data: { form } });
  });

  it("hides another organization's forms: empty list, 404 by id", async () => {
    const stranger = await context.organization();
    const mine = (await get('/api/v1/forms')).json().data.forms[0];
    assert.deepEqual((await get('/api/v1/forms', stranger.apiKey)).json(), {
      success: true,
      data: { forms: [], nextCursor: null },
    });
    const foreign = await get(`/api/v1/forms/${mine.id}`, stranger.apiKey);
    assert.equal(foreign.statusCode, 404);
    assert.deepEqual(foreign.json(), { success: false, error: 'Form not found' });
    const malformed = await get('/api/v1/forms/not-a-uuid');
    assert.equal(malformed.statusCode, 400);
    assert.deepEqual(malformed.json(), { success: false, error: 'Validation failed: formId: Must be a UUID' });
    const anonymous = await context.app.inject({ method: 'GET', url: '/api/v1/forms' });
    assert.deepEqual(anonymous.json(), { status: 401, error: 'Invalid request' });
  });

  it('pages with limit and cursor, oldest first', async () => {
    const organization = await context.organization();
    for (const title of ['Page A', 'Page B', 'Page C']) {
      const { status } = await postIntake(context, organization.apiKey, minimalBody({ formTitle: title }));
      assert.equal(status, 200);
    }
    const first = (await get('/api/v1/forms?limit=2', organization.apiKey)).json().data;
    assert.deepEqual(
      first.forms.map((form: { title: string }) => form.title),
      ['Page A', 'Page B'],
    );
    assert.equal(typeof first.nextCursor, 'string');
    const second = (await get(`/api/v1/forms?limit=2&cursor=${first.nextCursor}`, organization.apiKey)).json().data;
    assert.deepEqual(
      second.forms.map((form: { title: string }) => form.title),
      ['Page C'],
    );
    assert.equal(second.nextCursor, null);
    const badCursor = await get('/api/v1/forms?cursor=bm90LWEtY3Vyc29y', organization.apiKey);
    assert.equal(badCursor.statusCode, 400);
    assert.deepEqual(badCursor.json(), { success: false, error: 'Invalid cursor' });
    const tooMany = await get('/api/v1/forms?limit=101', organization.apiKey);
    assert.equal(tooMany.statusCode, 400);
    assert.equal(tooMany.json().success, false);
  });

  it('leaves an unchanged form untouched and rewrites it only when the request changes it', async () => {
    const body = (email: string, hint?: string) =>
      minimalBody({
        email,
        formTitle: 'Stable Form',
        questions: [{ question: 'What is your current weight?', type: 'TEXT', required: true, hint, answer: '150' }],
      });
    const updatedAt = async () => {
      const { rows } = await context.db.query<{ updated_at: string }>(
        "select q.updated_at::text as updated_at from questions q join forms f on f.id = q.form_id where f.title = 'Stable Form'",
      );
      return rows.map((row) => row.updated_at);
    };
    assert.equal((await postIntake(context, apiKey, body('s1@example.com'))).status, 200);
    const initial = await updatedAt();
    assert.equal((await postIntake(context, apiKey, body('s2@example.com'))).status, 200);
    assert.deepEqual(await updatedAt(), initial, 'an identical definition writes nothing');
    assert.equal((await postIntake(context, apiKey, body('s3@example.com', 'In pounds'))).status, 200);
    const changed = await updatedAt();
    assert.equal(changed.length, 1);
    assert.notDeepEqual(changed, initial);
    const form = (await get('/api/v1/forms?title=Stable%20Form')).json().data.forms[0];
    assert.equal(form.questions[0].hint, 'In pounds');
  });

  it('filters by exact title', async () => {
    await postIntake(context, apiKey, minimalBody({ formTitle: 'Second Form', email: 'second@example.com' }));
    const filtered = (await get('/api/v1/forms?title=Second%20Form')).json().data.forms;
    assert.deepEqual(
      filtered.map((form: { title: string }) => form.title),
      ['Second Form'],
    );
  });

  it('evolves a reused form: same text and type keep their id, new ones are added, missing ones retired', async () => {
    const title = 'Evolving Form';
    const weight = { question: 'What is your current weight?', type: 'TEXT', required: true, answer: '150' };
    await postIntake(
      context,
      apiKey,
      minimalBody({
        formTitle: title,
        email: 'v1@example.com',
        questions: [weight, { question: 'Old question', type: 'TEXT', required: false }],
      }),
    );
    const before = (await get(`/api/v1/forms?title=${encodeURIComponent(title)}`)).json().data.forms[0];
    const second = await postIntake(
      context,
      apiKey,
      minimalBody({
        formTitle: title,
        email: 'v2@example.com',
        questions: [
          { question: 'New question', type: 'BOOLEAN', required: true, answer: 'true' },
          { ...weight, required: false, hint: 'Pounds' },
        ],
      }),
    );
    assert.equal(second.status, 200);
    const afterwards = (await get(`/api/v1/forms/${before.id}`)).json().data.form;
    assert.deepEqual(
      afterwards.questions.map((question: { question: string; required: boolean; hint: string | null }) => [
        question.question,
        question.required,
        question.hint,
      ]),
      [
        ['New question', true, null],
        ['What is your current weight?', false, 'Pounds'],
      ],
    );
    assert.equal(afterwards.questions[1].questionId, before.questions[0].questionId);

    // A retired question is no longer accepted in form-id mode; its earlier answers remain.
    const retiredId = before.questions[1].questionId;
    const byId = await postIntake(context, apiKey, {
      ...minimalBody({ formTitle: undefined, formId: before.id, email: 'v3@example.com' }),
      questions: [
        { questionId: afterwards.questions[0].questionId, answer: 'false' },
        { questionId: afterwards.questions[1].questionId, answer: '160' },
        { questionId: retiredId, answer: 'x' },
      ],
    });
    assert.equal(byId.status, 400);
    assert.equal(byId.body.error, 'Validation failed: questions.2.questionId: Question not found in this form');
  });
});
