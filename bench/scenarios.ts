import { call, expectOk, NotAvailable } from './lib/api.ts';
import { casePayment, fileQuestion, intakeByFormId, intakeByTitle, intakeWithTwoPhi, UNIQUE } from './lib/bodies.ts';

/** What one scenario sends, as the load generator needs it (serializable). */
export interface RequestSpec {
  method: 'GET' | 'POST';
  path: string;
  headers: Record<string, string>;
  body?: string;
}

export interface SetupContext {
  url: string;
  apiKey: string;
  adminToken: string;
  organizationId: string;
}

export interface Scenario {
  id: string;
  label: string;
  /** The database ceiling measured beside this scenario (bench/ceilings/database.ts), when it has its own. */
  ceiling?: 'case-detail';
  /** Prepares what the scenario needs (forms, cases, codes); throws NotAvailable when the endpoint is missing. */
  setup(context: SetupContext): Promise<RequestSpec>;
}

const FILE_BYTES = 200 * 1024;

let setupCounter = 0;
/** A body template made concrete for a one-off set-up request. */
const once = (template: string) => template.split(UNIQUE).join(`setup-${Date.now()}-${++setupCounter}`);

export function apiHeaders(context: Pick<SetupContext, 'apiKey'>): Record<string, string> {
  return { 'cv-api-key': context.apiKey };
}

/** One intake by form title; returns its caseId. Also how the form of form-id mode is created. */
export async function createCase(
  context: Pick<SetupContext, 'url' | 'apiKey'>,
  formTitle: string,
  extra: object = {},
  template = intakeByTitle(formTitle),
): Promise<string> {
  const body = { ...(JSON.parse(once(template)) as object), ...extra };
  const response = await call(context.url, 'POST', '/api/v1/dynamic-case', {
    headers: apiHeaders(context),
    body: JSON.stringify(body),
  });
  expectOk(response, 'POST /api/v1/dynamic-case');
  return (response.body as { data: { caseId: string } }).data.caseId;
}

/** Intake by form title with the benchmark's six questions, in the organization of `context.apiKey`. */
export const intakeRequest = (context: SetupContext, formTitle: string) => intakeBy(context, intakeByTitle(formTitle));

async function intakeBy(context: SetupContext, body: string): Promise<RequestSpec> {
  // One request first: it creates or reuses the form, and shows the endpoint answers 2xx before load starts.
  const response = await call(context.url, 'POST', '/api/v1/dynamic-case', {
    headers: apiHeaders(context),
    body: once(body),
  });
  expectOk(response, 'POST /api/v1/dynamic-case');
  return { method: 'POST', path: '/api/v1/dynamic-case', headers: apiHeaders(context), body };
}

/** A saved (simulated) card for a case's patient: a SetupIntent passed to the intake as stripeSetupId. */
async function stripeSetupId(context: SetupContext): Promise<string> {
  const response = await call(context.url, 'POST', '/api/v1/payments/setup', {
    headers: apiHeaders(context),
    body: '{}',
  });
  expectOk(response, 'POST /api/v1/payments/setup');
  const secret = (response.body as { paymentSecret?: string }).paymentSecret ?? '';
  return secret.split('_secret_')[0]!;
}

async function casePayments(context: SetupContext, preauthorize: boolean): Promise<RequestSpec> {
  // Preauthorizing needs a saved payment method: the case is created with a stripeSetupId, as the API says.
  const extra = preauthorize ? { stripeSetupId: await stripeSetupId(context), paymentAmount: 100 } : {};
  const caseId = await createCase(context, 'Bench payments intake', extra);
  const path = `/api/v1/cases/${caseId}/payments`;
  const body = casePayment(preauthorize);
  const response = await call(context.url, 'POST', path, { headers: apiHeaders(context), body: once(body) });
  expectOk(response, `POST /api/v1/cases/:caseId/payments${preauthorize ? ' (preauthorize)' : ''}`);
  return { method: 'POST', path, headers: apiHeaders(context), body };
}

export const scenarios: Scenario[] = [
  {
    id: 'intake-title',
    label: 'POST /api/v1/dynamic-case by form title (6 questions)',
    setup: (context) => intakeBy(context, intakeByTitle('Bench intake by title')),
  },
  {
    id: 'intake-form-id',
    label: 'POST /api/v1/dynamic-case by form id (6 answers)',
    async setup(context) {
      await createCase(context, 'Bench intake by form id');
      const forms = await call(
        context.url,
        'GET',
        `/api/v1/forms?title=${encodeURIComponent('Bench intake by form id')}`,
        {
          headers: apiHeaders(context),
        },
      );
      expectOk(forms, 'GET /api/v1/forms');
      const formId = (forms.body as { data: { forms: { id: string }[] } }).data.forms[0]?.id;
      if (!formId) throw new Error('the form created by the first intake is not listed');
      const form = await call(context.url, 'GET', `/api/v1/forms/${formId}`, { headers: apiHeaders(context) });
      expectOk(form, 'GET /api/v1/forms/:formId');
      const { questions } = (form.body as { data: { form: { questions: { questionId: string; question: string }[] } } })
        .data.form;
      return intakeBy(context, intakeByFormId(formId, questions));
    },
  },
  {
    id: 'intake-file',
    label: 'POST /api/v1/dynamic-case by form title + a 200 KB base64 FILE',
    setup: (context) => intakeBy(context, intakeByTitle('Bench intake with a file', [fileQuestion(FILE_BYTES)])),
  },
  {
    id: 'payment',
    label: 'POST /api/v1/cases/:caseId/payments',
    setup: (context) => casePayments(context, false),
  },
  {
    id: 'payment-preauthorize',
    label: 'POST /api/v1/cases/:caseId/payments, preauthorize (simulated gateway)',
    setup: (context) => casePayments(context, true),
  },
  {
    id: 'case-detail',
    label: 'GET /api/v1/customer-case-detail?caseId=… (6 answers, 2 PHI)',
    ceiling: 'case-detail',
    async setup(context) {
      const title = 'Bench case detail';
      const caseId = await createCase(context, title, {}, intakeWithTwoPhi(title));
      const path = `/api/v1/customer-case-detail?caseId=${caseId}`;
      const probe = await call(context.url, 'GET', path, { headers: apiHeaders(context) });
      expectOk(probe, 'GET /api/v1/customer-case-detail');
      const answers = (probe.body as { caseDetail?: { responses?: { responses?: unknown[] }[] } }).caseDetail
        ?.responses?.[0]?.responses;
      if (answers?.length !== 6) throw new Error(`not a case of 6 answers: ${probe.text.slice(0, 300)}`);
      return { method: 'GET', path, headers: apiHeaders(context) };
    },
  },
  {
    id: 'promo-code',
    label: 'GET /api/v1/promo-codes?code=…',
    async setup(context) {
      const code = `BENCH${Date.now().toString(36).toUpperCase()}`;
      const created = await call(context.url, 'POST', '/admin/v1/promo-codes', {
        headers: { authorization: `Bearer ${context.adminToken}` },
        body: JSON.stringify({ organizationId: context.organizationId, code, percentDiscount: 10 }),
      });
      expectOk(created, 'POST /admin/v1/promo-codes');
      const path = `/api/v1/promo-codes?code=${code}`;
      const probe = await call(context.url, 'GET', path, { headers: apiHeaders(context) });
      expectOk(probe, 'GET /api/v1/promo-codes');
      const data = (probe.body as { data?: unknown[] }).data;
      if (!Array.isArray(data) || data.length !== 1) throw new Error(`the code was not found: ${probe.text}`);
      return { method: 'GET', path, headers: apiHeaders(context) };
    },
  },
];

/**
 * GET /api/v1/cases, a page of 20 real cases (6 answers, 2 PHI each) of the last day: for `npm run bench:ab`
 * (`--scenario=case-list`). `npm run bench` measures the list with seeded cases instead (bench/run.ts).
 */
export const caseListPage: Scenario = {
  id: 'case-list',
  label: 'GET /api/v1/cases, a page of 20 cases (6 answers, 2 PHI each)',
  async setup(context) {
    const title = 'Bench case list page';
    for (let index = 0; index < 20; index += 1) await createCase(context, title, {}, intakeWithTwoPhi(title));
    const now = Date.now();
    const path =
      `/api/v1/cases?startTime=${new Date(now - 86_400_000).toISOString()}` +
      `&endTime=${new Date(now + 86_400_000).toISOString()}&recordsPerPage=20`;
    const probe = await call(context.url, 'GET', path, { headers: apiHeaders(context) });
    expectOk(probe, 'GET /api/v1/cases');
    const cases = (probe.body as { cases?: unknown[] }).cases;
    if (!Array.isArray(cases) || cases.length !== 20) throw new Error(`not a page of 20: ${probe.text.slice(0, 300)}`);
    return { method: 'GET', path, headers: apiHeaders(context) };
  },
};

export { NotAvailable };
