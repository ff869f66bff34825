import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { Browser, Page } from 'playwright-core';
import { startStorefront, type RunningStorefront } from '../../examples/storefront/server.ts';
import { ADMIN_TOKEN, createTestContext, type TestContext } from '../support/app.ts';
import { launchChromium, newPage, screenshot, watchPage } from './support.ts';

/** A 1x1 PNG: the ID photo (care360 checks that a file's bytes are of its content type). */
const PNG = Buffer.from(
  'iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQDwAEhQGAhKmMIQAAAABJRU5ErkJggg==',
  'base64',
);
const PDF = Buffer.from('%PDF-1.4\n1 0 obj << >> endobj\ntrailer << >>\n%%EOF\n');

const QUESTION_TYPES = [
  'STATEMENT',
  'TEXT',
  'WIDGET_BMI',
  'BOOLEAN',
  'DATE',
  'DATERANGE',
  'SINGLESELECT',
  'MULTISELECT',
  'WIDGET_STATE_PICKER',
  'WIDGET_VISIT_TYPE',
  'WIDGET_USER_ID_DOCUMENT',
  'FILE',
];

/** Fills the patient, the address and one answer of every question type, as a patient would. */
async function fillIntake(page: Page, email: string): Promise<void> {
  const form = page.locator('#intake');
  await form.locator('[name=firstName]').fill('Ada');
  await form.locator('[name=lastName]').fill('Lovelace');
  await form.locator('[name=email]').fill(email);
  await form.locator('[name=phoneNumber]').fill('+14045551234');
  await form.locator('[name=dob]').fill('1985-05-20');
  await form.locator('[name=gender]').selectOption('FEMALE');
  await form.locator('[name=addressLine1]').fill('1600 Pennsylvania Avenue NW');
  await form.locator('[name=city]').fill('Washington');
  await form.locator('[name=shippingState]').selectOption('DC');
  await form.locator('[name=postalCode]').fill('20500');
  const question = (type: string) => page.locator(`.question[data-type="${type}"]`);
  await question('TEXT').locator('input').fill('180 lbs');
  await question('WIDGET_BMI').getByLabel('Height (inches)').fill('70');
  await question('WIDGET_BMI').getByLabel('Weight (pounds)').fill('180');
  await question('BOOLEAN').getByLabel('No').check();
  await question('DATE').locator('input').fill('2026-01-10');
  await question('DATERANGE').getByLabel('From').fill('2025-03-01');
  await question('SINGLESELECT').getByLabel('Active most days').check();
  await question('MULTISELECT').getByLabel('Dieting').check();
  await question('MULTISELECT').getByLabel('Exercise').check();
  await question('WIDGET_STATE_PICKER').locator('select').selectOption('CA');
  await question('WIDGET_VISIT_TYPE').getByLabel('Video call').check();
  await question('WIDGET_USER_ID_DOCUMENT')
    .locator('input')
    .setInputFiles({ name: 'license.png', mimeType: 'image/png', buffer: PNG });
  await question('FILE').locator('input').setInputFiles({ name: 'labs.pdf', mimeType: 'application/pdf', buffer: PDF });
}

async function applyPromoCode(page: Page, code: string): Promise<string> {
  await page.locator('[name=promoCode]').fill(code);
  await page.getByRole('button', { name: 'Apply' }).click();
  await page.getByText(`${code} applied`).waitFor();
  return page.locator('#total').innerText();
}

async function enterCard(page: Page, number: string): Promise<void> {
  await page.getByLabel('Card number').fill(number);
  await page.getByLabel('Expiration (MM / YY)').fill('12 / 34');
  await page.getByLabel('CVC').fill('123');
}

describe('the sample storefront (examples/storefront) in a browser', () => {
  let context: TestContext;
  let storefront: RunningStorefront;
  let browser: Browser;
  let apiKey: string;

  before(async () => {
    context = await createTestContext({ RATE_LIMIT_PER_KEY: '0', RATE_LIMIT_PER_ADDRESS: '0' });
    const organization = await context.organization('Sample storefront');
    apiKey = organization.apiKey;
    const promo = await context.app.inject({
      method: 'POST',
      url: '/admin/v1/promo-codes',
      headers: { authorization: `Bearer ${ADMIN_TOKEN}` },
      payload: { organizationId: organization.organizationId, code: 'FLAT100', flatDiscount: 100 },
    });
    assert.equal(promo.statusCode, 201);
    const care360Url = await context.app.listen({ host: '127.0.0.1', port: 0 });
    storefront = await startStorefront({ care360Url, apiKey, port: 0 });
    browser = await launchChromium();
  });
  after(async () => {
    await browser?.close();
    await storefront?.close();
    await context?.close();
  });

  async function openPage(): Promise<{ page: Page; seen: ReturnType<typeof watchPage> }> {
    const page = await newPage(browser, { width: 1000, height: 2200 });
    const seen = watchPage(page, storefront.url);
    await page.goto(`${storefront.url}/`);
    await page.locator('#intake').waitFor();
    return { page, seen };
  }

  it("first intake: the storefront's form, FLAT100, a declined card, then the SetupIntent flow with a good card", async () => {
    const { page, seen } = await openPage();
    assert.equal(await page.locator('#intake').getAttribute('data-form-mode'), 'formTitle', 'no form in care360 yet');
    await fillIntake(page, 'ada@example.com');
    assert.equal(await applyPromoCode(page, 'FLAT100'), '$500.00');
    await page.getByLabel('Save my card now').check();
    await page.getByRole('button', { name: 'Continue to card details' }).click();

    await enterCard(page, '4000 0000 0000 0002');
    await page.getByRole('button', { name: 'Submit my intake' }).click();
    await page.getByText('Your card was declined.').waitFor();
    const { rows: none } = await context.db.query('select id from cases');
    assert.equal(none.length, 0, 'a declined card creates no case');

    await enterCard(page, '4242 4242 4242 4242');
    await screenshot(page, 'storefront-setup-intent-filled');
    await page.getByRole('button', { name: 'Submit my intake' }).click();
    await page.locator('#done').waitFor();
    const caseId = await page.locator('#case-id').innerText();
    await screenshot(page, 'storefront-setup-intent-done');

    const { rows } = await context.db.query<{
      payment_amount_cents: number;
      stripe_setup_id: string;
      status: string;
      amount_cents: number;
      original_amount_cents: number;
      discount_cents: number;
      code: string;
    }>(
      `select c.payment_amount_cents, c.stripe_setup_id, p.status, p.amount_cents, p.original_amount_cents,
              p.discount_cents, pc.code
         from cases c join case_payments p on p.case_id = c.id join promo_codes pc on pc.id = p.promo_code_id
        where c.id = $1`,
      [caseId],
    );
    assert.equal(rows.length, 1, 'the case and its payment');
    assert.match(rows[0]!.stripe_setup_id, /^seti_sim/);
    assert.deepEqual(
      { ...rows[0], stripe_setup_id: undefined },
      {
        payment_amount_cents: 60000,
        stripe_setup_id: undefined,
        status: 'UNPAID',
        amount_cents: 50000,
        original_amount_cents: 60000,
        discount_cents: 10000,
        code: 'FLAT100',
      },
      'the original $600, $500 to charge after the review, FLAT100 recorded',
    );
    const answers = await context.db.query<{ question_type: string }>(
      `select a.question_type from answers a join form_responses r on r.id = a.form_response_id where r.case_id = $1`,
      [caseId],
    );
    assert.deepEqual(
      answers.rows.map((row) => row.question_type).sort(),
      QUESTION_TYPES.filter((type) => type !== 'STATEMENT').sort(),
      'an answer of every type but the statement',
    );
    const files = await context.db.query('select name from files where organization_id is not null order by name');
    assert.deepEqual(
      files.rows.map((row) => (row as { name: string }).name),
      ['labs.pdf', 'license.png'],
    );
    const saved = await context.db.query('select gateway from patient_payment_methods');
    assert.equal(saved.rows.length, 1, 'the card is saved for the charge after the review');

    assert.deepEqual(seen.external, [], 'the page called nothing but its own server (the relay)');
    assert.deepEqual(
      seen.errors.filter((error) => !/status of 402/.test(error)),
      [],
      'no console error but the declined confirmation',
    );
    await page.context().close();
  });

  it('renders the form from the forms API, then pays $500 of $600 with FLAT100 (PaymentIntent) after authentication', async () => {
    const { page, seen } = await openPage();
    assert.equal(await page.locator('#intake').getAttribute('data-form-mode'), 'formId');
    const forms = await context.app.inject({
      method: 'GET',
      url: '/api/v1/forms?title=Weight%20Loss%20Intake',
      headers: { 'cv-api-key': apiKey },
    });
    const stored = forms.json().data.forms[0] as { questions: { questionId: string; type: string }[] };
    const rendered = await page.locator('#questions .question').evaluateAll((nodes) =>
      nodes.map((node) => ({
        id: (node as HTMLElement).dataset.questionId,
        type: (node as HTMLElement).dataset.type,
      })),
    );
    assert.deepEqual(
      rendered,
      stored.questions.map((question) => ({ id: question.questionId, type: question.type })),
      'every question as the forms API answers it, in order',
    );
    assert.deepEqual(
      rendered.map((question) => question.type),
      QUESTION_TYPES,
    );

    await fillIntake(page, 'grace@example.com');
    assert.equal(await applyPromoCode(page, 'FLAT100'), '$500.00');
    await page.getByLabel('Pay now').check();
    await page.getByRole('button', { name: 'Continue to card details' }).click();
    await enterCard(page, '4000 0025 0000 3155');
    await page.getByRole('button', { name: 'Submit my intake' }).click();
    await page.getByRole('button', { name: 'Complete authentication' }).click();
    await page.locator('#done').waitFor();
    const caseId = await page.locator('#case-id').innerText();
    await screenshot(page, 'storefront-payment-intent-done');

    const { rows } = await context.db.query<{ id: string; payment_amount_cents: number; stripe_payment_id: string }>(
      `select p.id, c.payment_amount_cents, c.stripe_payment_id
         from cases c join case_payments p on p.case_id = c.id where c.id = $1`,
      [caseId],
    );
    assert.equal(rows[0]?.payment_amount_cents, 60000, 'the case carries the original $600');
    const intent = await context.db.query<{ amount_cents: number; status: string }>(
      'select amount_cents, status from simulated_gateway_objects where id = $1',
      [rows[0]!.stripe_payment_id],
    );
    assert.deepEqual(intent.rows[0], { amount_cents: 50000, status: 'succeeded' }, 'the PaymentIntent is for $500');

    // The partner API shows the payment.
    const payment = await context.app.inject({
      method: 'GET',
      url: `/api/v1/cases/${caseId}/payments/${rows[0]!.id}`,
      headers: { 'cv-api-key': apiKey },
    });
    assert.equal(payment.statusCode, 200);
    const result = payment.json().data.result;
    assert.equal(result.status, 'PAID');
    assert.equal(result.amount, 500);
    assert.equal(result.amountCaptured, 500);

    // The partner API's case detail shows the case the page made: its patient, its answers and its payment.
    const detail = await context.app.inject({
      method: 'GET',
      url: `/api/v1/customer-case-detail?caseId=${caseId}`,
      headers: { 'cv-api-key': apiKey },
    });
    assert.equal(detail.statusCode, 200);
    const caseDetail = detail.json().caseDetail as {
      id: string;
      status: string;
      submitter: { email: string };
      responses: { responses: { question: { type: string } }[] }[];
      payments: { id: string; amount: number; status: string }[];
    };
    assert.equal(caseDetail.id, caseId);
    assert.equal(caseDetail.status, 'OPEN');
    assert.equal(caseDetail.submitter.email, 'grace@example.com');
    assert.deepEqual(
      caseDetail.responses.flatMap((form) => form.responses.map((answer) => answer.question.type)).sort(),
      QUESTION_TYPES.filter((type) => type !== 'STATEMENT').sort(),
      'an answer of every type but the statement',
    );
    assert.deepEqual(caseDetail.payments, [
      { ...caseDetail.payments[0], id: rows[0]!.id, amount: 500, status: 'PAID' },
    ]);

    const promo = await context.db.query<{ redemption_count: number }>(
      "select redemption_count from promo_codes where code = 'FLAT100'",
    );
    assert.equal(promo.rows[0]?.redemption_count, 2, 'each intake counted its use of the code');
    assert.deepEqual(seen.external, []);
    assert.deepEqual(seen.errors, []);
    await page.context().close();
  });

  it('says when a promo code is not valid, and charges the full price', async () => {
    const { page } = await openPage();
    await page.locator('[name=promoCode]').fill('NOSUCHCODE');
    await page.getByRole('button', { name: 'Apply' }).click();
    await page.getByText('This promo code is not valid.').waitFor();
    assert.equal(await page.locator('#total').innerText(), '$600.00');
    await page.context().close();
  });
});
