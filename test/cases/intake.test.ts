import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { FastifyInstance } from 'fastify';
import { verifyPassword } from '../../src/crypto/password.ts';
import { shapeOnlyPaymentProcessor } from '../../src/modules/cases/intake/payments.ts';
import {
  appWithPaymentProcessor,
  SEED_CONFLICT_BODY,
  count,
  curlExample,
  formForIdExample,
  formIdExample,
  formTitleExample,
  intakeTestContext,
  minimalBody,
  postIntake,
  type TestContext,
} from './support.ts';

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

describe('POST /api/v1/dynamic-case', () => {
  let context: TestContext;
  let apiKey: string;
  let organizationId: string;

  before(async () => {
    context = await intakeTestContext();
    ({ apiKey, organizationId } = await context.organization());
  });
  after(() => context.close());

  const post = (body: unknown, key = apiKey) => postIntake(context, key, body);

  async function formOf(title: string, key = apiKey) {
    const response = await context.app.inject({
      method: 'GET',
      url: `/api/v1/forms?title=${encodeURIComponent(title)}`,
      headers: { 'cv-api-key': key },
    });
    return response.json().data.forms[0] as { id: string; questions: { questionId: string; question: string }[] };
  }

  describe('the seed examples', () => {
    it('accepts the form-title example verbatim with the documented success body', async () => {
      const { status, body } = await post(formTitleExample());
      assert.equal(status, 200);
      assert.deepEqual(Object.keys(body), ['success', 'data']);
      assert.equal(body.success, true);
      assert.deepEqual(Object.keys(body.data!).sort(), ['caseId', 'formResponseId']);
      assert.match(body.data!.caseId!, UUID);
      assert.match(body.data!.formResponseId!, UUID);
      const { rows } = await context.db.query<{ status: string; idempotency_key: string }>(
        'select status, idempotency_key from cases where id = $1 and organization_id = $2',
        [body.data!.caseId, organizationId],
      );
      assert.deepEqual(rows, [{ status: 'OPEN', idempotency_key: 'unique-case-key-123' }]);
    });

    it('accepts the cURL example verbatim (in an organization that has not used its key)', async () => {
      const other = await context.organization();
      const { status, body } = await post(curlExample(), other.apiKey);
      assert.equal(status, 200, JSON.stringify(body));
      assert.equal(body.success, true);
    });

    it('accepts the form-id example with the ids of an existing form', async () => {
      const setup = await post(formForIdExample());
      assert.equal(setup.status, 200, JSON.stringify(setup.body));
      const form = await formOf('Returning Patient Form');
      const { status, body } = await post(
        formIdExample(
          form.id,
          form.questions.map((question) => question.questionId),
        ),
      );
      assert.equal(status, 200, JSON.stringify(body));
      const { rows } = await context.db.query<{ question_type: string; value: unknown }>(
        `select a.question_type, a.value from answers a join questions q on q.id = a.question_id
          where a.form_response_id = $1 and a.organization_id = $2 order by q.position`,
        [body.data!.formResponseId, organizationId],
      );
      assert.deepEqual(rows, [
        { question_type: 'TEXT', value: '140 lbs' },
        { question_type: 'BOOLEAN', value: false },
        { question_type: 'WIDGET_VISIT_TYPE', value: 'SYNC_VIDEO' },
        { question_type: 'DATERANGE', value: { startDate: '2025-08-05', endDate: null } },
        { question_type: 'MULTISELECT', value: ['Weight-loss Supplements', 'Dieting'] },
      ]);
    });
  });

  describe('core fields', () => {
    const rejected: [string, Record<string, unknown>, string][] = [
      ['email', { email: 'not-an-email' }, 'Validation failed: email: Invalid email address'],
      ['NUL character', { lastName: 'Doe\u0000' }, 'Validation failed: lastName: Must not contain NUL characters'],
      [
        'lone surrogate in an answer',
        { questions: [{ question: 'What is your current weight?', type: 'TEXT', required: true, answer: '\ud800' }] },
        'Validation failed: questions.0.answer: Must be valid Unicode text',
      ],
      [
        'NUL character in a nested field',
        {
          shippingAddress: {
            addressLine1: '1 Main St',
            city: 'Wash\u0000ington',
            state: 'DC',
            country: 'US',
            postalCode: '20500',
          },
        },
        'Validation failed: shippingAddress.city: Must not contain NUL characters',
      ],
      [
        'lone surrogate in an option',
        {
          questions: [
            {
              question: 'Select your preferred visit type',
              type: 'SINGLESELECT',
              required: true,
              options: ['Video Call', 'Phone \udc00Call'],
              answer: 'Video Call',
            },
          ],
        },
        'Validation failed: questions.0.options.1: Must be valid Unicode text',
      ],
      ['missing email', { email: undefined }, 'Validation failed: email: Required'],
      ['firstName', { firstName: '' }, 'Validation failed: firstName: Must not be empty'],
      ['lastName', { lastName: 42 }, 'Validation failed: lastName: Must be a string'],
      ['questions empty', { questions: [] }, 'Validation failed: questions: At least one question is required'],
      ['questions missing', { questions: undefined }, 'Validation failed: questions: Required'],
      [
        'dob format',
        { dob: '15/01/1990' },
        'Validation failed: dob: Must be a real date in YYYY-MM-DD format, not in the future',
      ],
      [
        'dob not a real date',
        { dob: '1990-02-30' },
        'Validation failed: dob: Must be a real date in YYYY-MM-DD format, not in the future',
      ],
      ['gender', { gender: 'other' }, 'Validation failed: gender: Must be MALE or FEMALE'],
      [
        'phoneNumber',
        { phoneNumber: '555-1234' },
        'Validation failed: phoneNumber: Must be in E.164 format, e.g. +1234567890',
      ],
      ['status', { status: 'CLOSED' }, 'Validation failed: status: Must be OPEN or ABANDONED'],
      [
        'shippingAddress.city',
        { shippingAddress: { addressLine1: '1 Main St', state: 'NC', country: 'US', postalCode: '28105' } },
        'Validation failed: shippingAddress.city: Required',
      ],
      [
        'shippingAddress.state',
        {
          shippingAddress: {
            addressLine1: '1 Main St',
            city: 'Matthews',
            state: 'ZZ',
            country: 'US',
            postalCode: '28105',
          },
        },
        'Validation failed: shippingAddress.state: Must be a 2-letter US state code, e.g. "DC"',
      ],
      [
        'languagePreferences',
        { languagePreferences: ['en', 'not a code'] },
        'Validation failed: languagePreferences.1: Must be a language code, e.g. "en" or "es"',
      ],
      [
        'neither formTitle nor formId',
        { formTitle: undefined },
        'Validation failed: formTitle: Either formTitle or formId is required',
      ],
      ['formId not a UUID', { formTitle: undefined, formId: 'abc' }, 'Validation failed: formId: Must be a UUID'],
      [
        'paymentAmount',
        { paymentAmount: -5 },
        'Validation failed: paymentAmount: Must be a positive amount in dollars with at most two decimals (at most 1000000)',
      ],
      [
        'stripePaymentId secret',
        { stripePaymentId: 'pi_3SG0o8_secret_abc' },
        'Validation failed: stripePaymentId: Must be a Stripe PaymentIntent id (pi_...), not its client secret',
      ],
      [
        'stripeSetupId',
        { stripeSetupId: 'pi_123' },
        'Validation failed: stripeSetupId: Must be a Stripe SetupIntent id (seti_...)',
      ],
      ['productBundleId', { productBundleId: 'bundle-1' }, 'Validation failed: productBundleId: Must be a UUID'],
    ];
    for (const [name, overrides, message] of rejected) {
      it(`rejects a bad ${name} with the documented 400 envelope`, async () => {
        const { status, body } = await post(minimalBody(overrides));
        assert.equal(status, 400);
        assert.deepEqual(body, { success: false, error: message });
      });
    }

    it('accepts gender and status in any case, and ABANDONED', async () => {
      const { status, body } = await post(
        minimalBody({ email: 'case@example.com', gender: 'FeMale', status: 'abandoned' }),
      );
      assert.equal(status, 200, JSON.stringify(body));
      const { rows } = await context.db.query<{ status: string; gender: string }>(
        'select c.status, p.gender from cases c join patients p on p.id = c.patient_id where c.id = $1',
        [body.data!.caseId],
      );
      assert.deepEqual(rows, [{ status: 'ABANDONED', gender: 'FEMALE' }]);
    });

    it('rejects a body that is not JSON or not an object in the same envelope', async () => {
      const malformed = await context.app.inject({
        method: 'POST',
        url: '/api/v1/dynamic-case',
        headers: { 'cv-api-key': apiKey, 'content-type': 'application/json' },
        payload: '{"firstName": ',
      });
      assert.equal(malformed.statusCode, 400);
      assert.equal(malformed.json().success, false);
      const array = await post([1, 2]);
      assert.deepEqual(array.body, { success: false, error: 'Validation failed: body: Must be a JSON object' });
    });

    it('answers a missing or wrong key with the documented 401', async () => {
      const response = await context.app.inject({
        method: 'POST',
        url: '/api/v1/dynamic-case',
        payload: minimalBody(),
      });
      assert.equal(response.statusCode, 401);
      assert.deepEqual(response.json(), { status: 401, error: 'Invalid request' });
    });
  });

  describe('modes', () => {
    it('lets formTitle win when formId is sent too', async () => {
      const { status, body } = await post(
        minimalBody({
          formTitle: 'Title Wins',
          formId: '550e8400-e29b-41d4-a716-446655440000',
          email: 'both@example.com',
        }),
      );
      assert.equal(status, 200, JSON.stringify(body));
      const { rows } = await context.db.query<{ title: string }>(
        'select f.title from form_responses r join forms f on f.id = r.form_id where r.id = $1',
        [body.data!.formResponseId],
      );
      assert.deepEqual(rows, [{ title: 'Title Wins' }]);
    });

    it('reuses the form with the same title', async () => {
      const first = await post(minimalBody({ formTitle: 'Reused', email: 'r1@example.com' }));
      const second = await post(minimalBody({ formTitle: 'Reused', email: 'r2@example.com' }));
      assert.equal(first.status, 200);
      assert.equal(second.status, 200);
      const { rows } = await context.db.query<{ form_id: string }>(
        'select form_id from form_responses where id in ($1, $2)',
        [first.body.data!.formResponseId, second.body.data!.formResponseId],
      );
      assert.equal(new Set(rows.map((row) => row.form_id)).size, 1);
      assert.equal((await count(context, 'forms', organizationId)) > 0, true);
    });

    it("answers an unknown form id, or another organization's form, with 404 and no leak", async () => {
      await post(formForIdExample('Private Form'));
      const form = await formOf('Private Form');
      const stranger = await context.organization();
      for (const [key, formId] of [
        [stranger.apiKey, form.id],
        [apiKey, '550e8400-e29b-41d4-a716-446655440000'],
      ] as const) {
        const { status, body } = await post(
          formIdExample(
            formId,
            form.questions.map((question) => question.questionId),
          ),
          key,
        );
        assert.equal(status, 404);
        assert.deepEqual(body, { success: false, error: 'Form not found' });
      }
    });

    it('rejects a question id that is not in the form', async () => {
      await post(formForIdExample('Form A'));
      const form = await formOf('Form A');
      const body = formIdExample(
        form.id,
        form.questions.map((question) => question.questionId),
      );
      (body.questions as { questionId: string }[])[1]!.questionId = '550e8400-e29b-41d4-a716-446655440002';
      const response = await post({ ...body, idempotencyKey: undefined });
      assert.equal(response.status, 400);
      assert.deepEqual(response.body, {
        success: false,
        error: 'Validation failed: questions.1.questionId: Question not found in this form',
      });
    });
  });

  describe('required answers', () => {
    it('rejects a required question without an answer in form-title mode, with the documented message', async () => {
      const { status, body } = await post(
        minimalBody({
          formTitle: 'Required Form',
          questions: [
            { question: 'What is your current weight?', type: 'TEXT', required: true, answer: '150' },
            { question: 'What is your age?', type: 'TEXT', required: true, answer: '  ' },
          ],
        }),
      );
      assert.equal(status, 400);
      assert.match(body.error!, /^Question 'What is your age\?' with questionId: [0-9a-f-]{36}: Answer is required$/);
      assert.deepEqual(Object.keys(body), ['success', 'error']);
    });

    it('names the stored question id in form-id mode, also for a required question left out', async () => {
      await post(formForIdExample('Required By Id'));
      const form = await formOf('Required By Id');
      const [weight, allergies] = form.questions;
      const missing = await post({
        ...minimalBody({ formTitle: undefined, formId: form.id }),
        questions: [{ questionId: weight!.questionId, answer: '150' }],
      });
      assert.equal(missing.status, 400);
      assert.equal(
        missing.body.error,
        `Question 'Do you have any allergies?' with questionId: ${allergies!.questionId}: Answer is required`,
      );
      const nullAnswer = await post({
        ...minimalBody({ formTitle: undefined, formId: form.id }),
        questions: [{ questionId: weight!.questionId, answer: null }],
      });
      assert.equal(
        nullAnswer.body.error,
        `Question 'What is your current weight?' with questionId: ${weight!.questionId}: Answer is required`,
      );
    });

    it('accepts an optional question without an answer and stores no answer for it', async () => {
      const { status, body } = await post(
        minimalBody({
          email: 'optional@example.com',
          formTitle: 'Optional Form',
          questions: [
            { question: 'What is your current weight?', type: 'TEXT', required: true, answer: '150' },
            { question: 'Anything else?', type: 'TEXT', required: false },
          ],
        }),
      );
      assert.equal(status, 200);
      const { rows } = await context.db.query<{ count: number }>(
        'select count(*)::int as count from answers where form_response_id = $1',
        [body.data!.formResponseId],
      );
      assert.equal(rows[0]!.count, 1);
    });
  });

  describe('the weight rule', () => {
    const message =
      'Validation failed: questions: At least one question must be about weight (its text must contain "weigh" and neither "goal" nor "initiative")';
    for (const text of ['What is your goal weight?', 'Weight loss initiative?', 'What is your height?']) {
      it(`rejects a request whose only candidate is "${text}"`, async () => {
        const { status, body } = await post(
          minimalBody({ questions: [{ question: text, type: 'TEXT', required: false, answer: 'x' }] }),
        );
        assert.equal(status, 400);
        assert.deepEqual(body, { success: false, error: message });
      });
    }
    it('accepts "weigh" in any case, e.g. "How much do you WEIGH?"', async () => {
      const { status } = await post(
        minimalBody({
          email: 'weigh@example.com',
          questions: [{ question: 'How much do you WEIGH?', type: 'TEXT', required: false, answer: '1' }],
        }),
      );
      assert.equal(status, 200);
    });
  });

  describe('idempotency', () => {
    it('answers a repeated key with the documented 409 body and creates nothing more', async () => {
      const body = minimalBody({ email: 'idem@example.com', idempotencyKey: 'idem-1' });
      const first = await post(body);
      assert.equal(first.status, 200);
      const cases = await count(context, 'cases', organizationId);
      const patients = await count(context, 'patients', organizationId);
      const repeat = await post({ ...body, email: 'someone-else@example.com' });
      assert.equal(repeat.status, 409);
      assert.deepEqual(repeat.body, SEED_CONFLICT_BODY);
      assert.equal(await count(context, 'cases', organizationId), cases);
      assert.equal(await count(context, 'patients', organizationId), patients);
    });

    it('changes nothing on a repeat: not the patient it names, not the form it redefines', async () => {
      // No payment fields: no look-up before the write; the write itself meets the key and rolls back whole.
      const body = minimalBody({ email: 'repeat@example.com', firstName: 'First', idempotencyKey: 'idem-2' });
      assert.equal((await post(body)).status, 200);
      const questions = await count(context, 'questions', organizationId);
      const repeat = await post({
        ...body,
        firstName: 'Changed',
        questions: [
          ...(body.questions as object[]),
          { question: 'A question the repeat adds', type: 'TEXT', required: false, answer: 'x' },
        ],
      });
      assert.equal(repeat.status, 409);
      assert.deepEqual(repeat.body, SEED_CONFLICT_BODY);
      const { rows } = await context.db.query<{ first_name: string; cases: number }>(
        `select first_name, (select count(*)::int from cases where cases.patient_id = patients.id) as cases
           from patients where organization_id = $1 and email = 'repeat@example.com'`,
        [organizationId],
      );
      assert.deepEqual(rows, [{ first_name: 'First', cases: 1 }]);
      assert.equal(await count(context, 'questions', organizationId), questions, 'the form was not changed');
    });

    it('scopes keys per organization', async () => {
      const other = await context.organization();
      const body = minimalBody({ email: 'scoped@example.com', idempotencyKey: 'shared-key' });
      assert.equal((await post(body)).status, 200);
      assert.equal((await post(body, other.apiKey)).status, 200);
    });

    it('does not use up the key of a request that fails validation', async () => {
      const body = minimalBody({ email: 'later@example.com', idempotencyKey: 'retry-after-fix' });
      const invalid = await post({ ...body, phoneNumber: 'nope' });
      assert.equal(invalid.status, 400);
      const fixed = await post(body);
      assert.equal(fixed.status, 200);
    });
  });

  describe('patients', () => {
    it('keeps one patient per email (any case) and updates the profile as documented', async () => {
      const first = await post(
        minimalBody({
          email: 'Grace@Example.com',
          firstName: 'Grace',
          phoneNumber: '+15550000001',
          dob: '1950-12-09',
          password: 'first password',
          languagePreferences: ['en'],
        }),
      );
      const second = await post(
        minimalBody({
          email: 'grace@example.com',
          firstName: 'Grace B.',
          phoneNumber: '+15550000002',
          password: 'second password',
        }),
      );
      assert.equal(first.status, 200);
      assert.equal(second.status, 200);
      const { rows } = await context.db.query<{
        patient_id: string;
        first_name: string;
        phone_number: string;
        dob: string;
        password_hash: string;
        language_preferences: string[];
      }>(
        `select c.patient_id, p.first_name, p.phone_number, to_char(p.dob, 'YYYY-MM-DD') as dob, p.password_hash,
                p.language_preferences
           from cases c join patients p on p.id = c.patient_id where c.id in ($1, $2)`,
        [first.body.data!.caseId, second.body.data!.caseId],
      );
      assert.equal(rows.length, 2);
      assert.equal(rows[0]!.patient_id, rows[1]!.patient_id);
      const patient = rows[0]!;
      assert.equal(patient.first_name, 'Grace B.');
      assert.equal(patient.phone_number, '+15550000002');
      assert.equal(patient.dob, '1950-12-09', 'a field not sent keeps its value');
      assert.deepEqual(patient.language_preferences, ['en']);
      assert.doesNotMatch(patient.password_hash, /password/);
      assert.match(patient.password_hash, /^scrypt\$/);
      assert.equal(await verifyPassword('first password', patient.password_hash), true, 'an existing password is kept');
      assert.equal(await verifyPassword('second password', patient.password_hash), false);
    });

    it('keeps patients of different organizations apart', async () => {
      const other = await context.organization();
      await post(minimalBody({ email: 'twice@example.com' }));
      await post(minimalBody({ email: 'twice@example.com' }), other.apiKey);
      const { rows } = await context.db.query<{ count: number }>(
        "select count(distinct organization_id)::int as count from patients where email = 'twice@example.com'",
      );
      assert.equal(rows[0]!.count, 2);
    });
  });

  describe('payment fields (shape only: the default processor, without the payments module)', () => {
    let shapeOnly: FastifyInstance;
    before(async () => {
      shapeOnly = await appWithPaymentProcessor(context, shapeOnlyPaymentProcessor);
    });
    after(() => shapeOnly.close());
    const post = (body: unknown) => postIntake({ app: shapeOnly }, apiKey, body);

    it('validates and stores them on the case', async () => {
      const { status, body } = await post(
        minimalBody({
          email: 'payer@example.com',
          paymentAmount: 600,
          paymentDescription: 'Three months',
          stripePaymentId: 'pi_3SG0o8GkkQS2eXzh0BKpSaq0',
          productBundleId: '550e8400-e29b-41d4-a716-446655440000',
          promoCodes: ['FLAT100'],
          promoCode: 'SAVE10',
        }),
      );
      assert.equal(status, 200, JSON.stringify(body));
      const { rows } = await context.db.query(
        `select payment_amount_cents, payment_description, stripe_payment_id, stripe_setup_id, product_bundle_id,
                promo_codes from cases where id = $1`,
        [body.data!.caseId],
      );
      assert.deepEqual(rows[0], {
        payment_amount_cents: 60000,
        payment_description: 'Three months',
        stripe_payment_id: 'pi_3SG0o8GkkQS2eXzh0BKpSaq0',
        stripe_setup_id: null,
        product_bundle_id: '550e8400-e29b-41d4-a716-446655440000',
        promo_codes: ['FLAT100', 'SAVE10'],
      });
    });

    it('asks the payment processor to prepare only intakes that carry a payment field', async () => {
      const prepared: unknown[] = [];
      const counting = await appWithPaymentProcessor(context, {
        prepare: async (input) => void prepared.push(input.payment),
        record: async () => ({}),
      });
      try {
        const plain = await postIntake({ app: counting }, apiKey, minimalBody({ email: 'no-payment@example.com' }));
        assert.equal(plain.status, 200);
        assert.equal(prepared.length, 0);
        for (const field of [{ promoCode: 'SAVE10' }, { paymentDescription: 'x' }, { paymentAmount: 1 }]) {
          const paying = await postIntake({ app: counting }, apiKey, minimalBody({ ...field }));
          assert.equal(paying.status, 200, JSON.stringify(field));
        }
        assert.equal(prepared.length, 3);
      } finally {
        await counting.close();
      }
    });

    it('accepts the seed payment example amount 0.5 and a setup intent', async () => {
      const { status, body } = await post(
        minimalBody({ email: 'half@example.com', paymentAmount: 0.5, stripeSetupId: 'seti_1Abc', nmiPaymentToken: '' }),
      );
      assert.equal(status, 200);
      const { rows } = await context.db.query('select payment_amount_cents, stripe_setup_id from cases where id = $1', [
        body.data!.caseId,
      ]);
      assert.deepEqual(rows[0], { payment_amount_cents: 50, stripe_setup_id: 'seti_1Abc' });
    });

    it('rejects an amount with fractions of a cent', async () => {
      const { status } = await post(minimalBody({ paymentAmount: 10.005 }));
      assert.equal(status, 400);
    });
  });
});
