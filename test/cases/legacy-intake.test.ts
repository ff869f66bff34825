import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { count, intakeTestContext, type TestContext } from './support.ts';

interface Answer {
  status: number;
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  body: any;
}

const PDF = Buffer.from('%PDF-1.4 lab results').toString('base64');

/** The legacy page's example body (2.38), with a brand-new email and a lastName containing "Test". */
function legacyExample(key: string, email: string): Record<string, unknown> {
  return {
    key,
    firstName: 'Jane',
    lastName: 'Test',
    email,
    phoneNumber: '+12025550123',
    dob: '2000-01-31',
    gender: 'FEMALE',
    paymentDescription: 'Weight loss program',
    paymentAmount: 0.5,
    shippingAddress: {
      addressLine1: '1 Main St',
      addressLine2: '',
      city: 'Washington',
      state: 'DC',
      country: 'US',
      postalCode: '20001',
    },
    formTitle: 'Weight Loss Intake',
    formDescription: 'Intake form',
    promoCodes: [{ Promo: 'Lose10' }],
    questions: [
      { question: 'What is your gender?', answer: 'Female', options: ['Male', 'Female'], type: 'SINGLESELECT' },
      { question: 'What is your date of birth?', answer: '2000-01-31', required: true, type: 'DATE' },
      { question: 'What is your current weight?', answer: '180 lbs', phi: true, type: 'TEXT' },
      {
        question: 'Which symptoms do you have?',
        type: 'MULTISELECT',
        answer: ['Fatigue', 'Headache'],
        options: ['Fatigue', 'Headache', 'Nausea'],
      },
      { question: 'Upload your lab results', type: 'FILE', answer: [{ name: 'labs.pdf', data: PDF }] },
    ],
  };
}

describe('POST /handleDynamicCustomerForm (legacy intake)', () => {
  let context: TestContext;
  let apiKey: string;
  let organizationId: string;

  before(async () => {
    context = await intakeTestContext();
    ({ apiKey, organizationId } = await context.organization());
    await context.services.promoCodes.create({ organizationId, code: 'Lose10', percentDiscount: 10 });
  });
  after(() => context.close());

  const post = async (body: unknown): Promise<Answer> => {
    const response = await context.app.inject({
      method: 'POST',
      url: '/handleDynamicCustomerForm',
      headers: { 'content-type': 'application/json' },
      payload: JSON.stringify(body),
    });
    return { status: response.statusCode, body: response.json() };
  };

  it("takes the page's example with the key in the body: the same case as the Case Create endpoint", async () => {
    const answer = await post(legacyExample(apiKey, 'jane.test.1@example.com'));
    assert.equal(answer.status, 200, JSON.stringify(answer.body));
    assert.equal(answer.body.success, true);
    const { caseId } = answer.body.data;
    const { rows } = await context.db.query(
      `select status, payment_amount_cents, payment_description, promo_codes from cases where id = $1`,
      [caseId],
    );
    assert.deepEqual(rows[0], {
      status: 'OPEN',
      payment_amount_cents: 50,
      payment_description: 'Weight loss program',
      promo_codes: ['Lose10'],
    });

    // Read back through the case detail: the answers, the PHI one sealed at rest, and the file.
    const detail = await context.app.inject({
      method: 'GET',
      url: `/api/v1/customer-case-detail?caseId=${caseId}`,
      headers: { 'cv-api-key': apiKey },
    });
    assert.equal(detail.statusCode, 200, detail.body);
    const text = detail.body;
    for (const expected of ['Female', '2000-01-31', '180 lbs', 'Fatigue', 'labs.pdf']) {
      assert.ok(text.includes(expected), expected);
    }
    const sealed = await context.db.query<{ n: number }>(
      `select count(*)::int as n from answers a join form_responses r on r.id = a.form_response_id
        where r.case_id = $1 and a.encrypted_value is not null and a.value is null`,
      [caseId],
    );
    assert.equal(sealed.rows[0]!.n, 1, 'the PHI answer is sealed');
    const events = await context.db.query<{ type: string }>('select type from case_events where case_id = $1', [
      caseId,
    ]);
    assert.deepEqual(
      events.rows.map((row) => row.type),
      ['case.created'],
    );
  });

  it('takes the bare {"Promo"} object of one revision of the page', async () => {
    const body = { ...legacyExample(apiKey, 'jane.test.2@example.com'), promoCodes: { Promo: 'Lose10' } };
    const answer = await post(body);
    assert.equal(answer.status, 200, JSON.stringify(answer.body));
    const { rows } = await context.db.query('select promo_codes from cases where id = $1', [answer.body.data.caseId]);
    assert.deepEqual(rows[0], { promo_codes: ['Lose10'] });
  });

  it('refuses a missing or wrong key and bad input in the intake envelope, writing nothing', async () => {
    const before = await count(context, 'cases', organizationId);
    const { key: _key, ...noKey } = legacyExample(apiKey, 'jane.test.3@example.com');
    const missing = await post(noKey);
    assert.equal(missing.status, 401, JSON.stringify(missing.body));
    const wrong = await post(legacyExample('c360_not_a_key', 'jane.test.3@example.com'));
    assert.equal(wrong.status, 401, JSON.stringify(wrong.body));
    const badPromo = await post({ ...legacyExample(apiKey, 'jane.test.3@example.com'), promoCodes: [{ Code: 'X' }] });
    assert.equal(badPromo.status, 400, JSON.stringify(badPromo.body));
    const badEmail = await post({ ...legacyExample(apiKey, 'jane.test.3@example.com'), email: 'nope' });
    assert.deepEqual(badEmail, {
      status: 400,
      body: { success: false, error: 'Validation failed: email: Invalid email address' },
    });
    const badAmount = await post({ ...legacyExample(apiKey, 'jane.test.3@example.com'), paymentAmount: -1 });
    assert.equal(badAmount.status, 400);
    assert.match(badAmount.body.error, /^Validation failed: paymentAmount: /);
    assert.equal(await count(context, 'cases', organizationId), before);
  });
});
