import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import {
  Care360BundleError,
  Care360Error,
  Care360IdempotencyError,
  Care360IntakeError,
  Care360PaymentsError,
  Care360UnauthorizedError,
  createCare360Client,
  errorFromResponse,
  type CaseCreateBody,
  type Care360Client,
} from '../src/index.ts';
import { startCare360, type Care360Server } from './support.ts';

/** The Case Create page's form-title example (with its idempotencyKey left for the client to make). */
function caseCreateExample(email = 'john.doe@example.com'): CaseCreateBody {
  return {
    firstName: 'John',
    lastName: 'Doe',
    email,
    dob: '1990-01-15',
    gender: 'male',
    phoneNumber: '+1234567890',
    status: 'OPEN',
    formTitle: 'Patient Intake Form',
    formDescription: 'Initial patient information collection',
    shippingAddress: {
      addressLine1: '1600 Pennsylvania Avenue NW',
      addressLine2: '',
      city: 'Washington',
      state: 'DC',
      country: 'US',
      postalCode: '20500',
    },
    questions: [
      { question: 'What is your current weight?', type: 'TEXT', required: true, answer: '150 lbs', phi: false },
      { question: 'Do you have any allergies?', type: 'BOOLEAN', required: true, answer: 'true' },
      {
        question: 'Select your preferred visit type',
        type: 'SINGLESELECT',
        required: false,
        options: ['Video Call', 'Phone Call', 'In Person'],
        answer: 'Video Call',
      },
    ],
  };
}

describe('@care360/client against a running care360', () => {
  let care360: Care360Server;
  let client: Care360Client;
  let organizationId: string;

  before(async () => {
    care360 = await startCare360();
    const organization = await care360.organization();
    organizationId = organization.organizationId;
    client = createCare360Client({ baseUrl: care360.url, apiKey: organization.apiKey });
  });
  after(() => care360?.stop());

  it('creates a case with an idempotency key it made, and refuses the same key again with the typed 409', async () => {
    const created = await client.createCase(caseCreateExample());
    assert.match(created.caseId, /^[0-9a-f-]{36}$/);
    assert.match(created.formResponseId, /^[0-9a-f-]{36}$/);
    assert.match(created.idempotencyKey, /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);

    const another = await client.createCase(caseCreateExample());
    assert.notEqual(another.idempotencyKey, created.idempotencyKey, 'each call gets a key of its own');
    assert.notEqual(another.caseId, created.caseId);

    const repeated = await client
      .createCase({ ...caseCreateExample(), idempotencyKey: created.idempotencyKey })
      .then(() => assert.fail('a used key must be refused'))
      .catch((error: unknown) => error);
    assert.ok(repeated instanceof Care360IdempotencyError);
    assert.equal(repeated.status, 409);
    assert.deepEqual(repeated.body, {
      status: 409,
      success: false,
      code: 'IDEMPOTENCY_ERROR',
      description: 'A record with the provided idempotencyKey already exists for this organization.',
    });
    assert.equal(repeated.retryable, false);
    assert.match(String(repeated.requestId), /.+/);
  });

  it('lists the forms a case made, and reads one with its questions', async () => {
    const forms = await client.listForms({ title: 'Patient Intake Form' });
    assert.equal(forms.forms.length, 1);
    const form = await client.getForm(forms.forms[0]!.id);
    assert.equal(form.title, 'Patient Intake Form');
    assert.deepEqual(
      form.questions.map((question) => question.type),
      ['TEXT', 'BOOLEAN', 'SINGLESELECT'],
    );
  });

  it('answers the intake envelope as Care360IntakeError, with the documented message', async () => {
    const error = await client.createCase({ ...caseCreateExample('not-an-email') }).catch((caught: unknown) => caught);
    assert.ok(error instanceof Care360IntakeError);
    assert.equal(error.status, 400);
    assert.equal(error.message, 'Validation failed: email: Invalid email address');
    assert.deepEqual(error.body, { success: false, error: 'Validation failed: email: Invalid email address' });
  });

  it('takes the payment steps: publishable keys, SetupIntent, PaymentIntent, promo codes', async () => {
    const config = await client.getPaymentConfig();
    assert.deepEqual(config.stripe, {
      mode: 'simulated',
      publishableKey: null,
      testCardElement: '/payments/test-card.js',
    });

    assert.match(await client.createSetupIntent(), /^seti_.+_secret_.+$/);
    assert.match(await client.createSetupIntent({ email: 'john.doe@example.com' }), /^seti_.+_secret_.+$/);
    assert.match(
      await client.createPaymentIntent({ amount: 50000, paymentMethodTypes: ['card'] }),
      /^pi_.+_secret_.+$/,
    );

    assert.equal(await client.validatePromoCode('FLAT100'), null, 'an unknown code is no discount');
    const created = await care360.admin('POST', '/admin/v1/promo-codes', {
      organizationId,
      code: 'FLAT100',
      flatDiscount: 100,
    });
    assert.equal(created.status, 201);
    assert.deepEqual(await client.validatePromoCode('flat100'), { flatDiscount: 100 });

    const refused = await client.createPaymentIntent({ amount: 10 }).catch((error: unknown) => error);
    assert.ok(refused instanceof Care360PaymentsError);
    assert.equal(refused.message, 'Amount must be at least 50 cents');
    assert.equal(refused.declined, false);
  });

  it('creates a case with a SetupIntent, then a case payment with a key it made, and reads and cancels it', async () => {
    const setupIntentId = (await client.createSetupIntent()).split('_secret_')[0]!;
    const created = await client.createCase({
      ...caseCreateExample('jane@example.com'),
      stripeSetupId: setupIntentId,
      paymentAmount: 600,
    });
    assert.match(String(created.paymentId), /^[0-9a-f-]{36}$/);

    const payment = await client.createCasePayment(created.caseId, { amount: 100, description: 'Follow-up visit' });
    assert.equal(payment.amount, 100);
    assert.equal(payment.status, 'UNPAID');
    assert.match(payment.idempotencyKey, /^[0-9a-f-]{36}$/);
    const read = await client.getCasePayment(created.caseId, payment.paymentId);
    assert.equal(read.holdStatus, 'NONE');
    const canceled = await client.cancelCasePayment(created.caseId, payment.paymentId);
    assert.equal(canceled.status, 'CANCELED');

    const again = await client
      .createCasePayment(created.caseId, { amount: 100, idempotencyKey: payment.idempotencyKey })
      .catch((error: unknown) => error);
    assert.ok(again instanceof Care360IdempotencyError);
  });

  it('answers a wrong key as Care360UnauthorizedError, and no answer as a retryable Care360Error', async () => {
    const wrong = createCare360Client({ baseUrl: care360.url, apiKey: 'c360_not_a_key' });
    const error = await wrong.listForms().catch((caught: unknown) => caught);
    assert.ok(error instanceof Care360UnauthorizedError);
    assert.deepEqual(error.body, { status: 401, error: 'Invalid request' });

    const nowhere = createCare360Client({ baseUrl: 'http://127.0.0.1:9', apiKey: 'c360_x' });
    const unreachable = await nowhere.getPaymentConfig().catch((caught: unknown) => caught);
    assert.ok(unreachable instanceof Care360Error);
    assert.equal(unreachable.status, 0);
    assert.equal(unreachable.retryable, true);
  });

  it('reads every envelope through the typed client of all operations (client.api)', async () => {
    const { data, error, response } = await client.api.GET('/api/v1/organization/bundles/{bundleId}', {
      params: { path: { bundleId: '00000000-0000-4000-8000-000000000000' } },
    });
    assert.equal(data, undefined);
    const typed = errorFromResponse(response.status, error, response.headers);
    assert.ok(typed instanceof Care360BundleError);
    assert.equal(typed.status, 404);
    assert.equal(typed.body.error, 'Product bundle not found');
  });
});
