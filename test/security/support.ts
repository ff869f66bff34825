import assert from 'node:assert/strict';
import { randomBytes, randomUUID } from 'node:crypto';
import diagnostics from 'node:diagnostics_channel';
import type { FastifyInstance, FastifySchema, RouteOptions } from 'fastify';
import type { FastifyContextConfig } from 'fastify';
import { PaymentRepository } from '../../src/modules/payments/repository.ts';
import { ADMIN_TOKEN, createTestContext, type TestContext } from '../support/app.ts';
import { Tenant } from '../../src/http/gate.ts';
import { enqueueWebhookEvent } from '../../src/modules/outbound-webhooks/events.ts';
import { WebhookRepository } from '../../src/modules/outbound-webhooks/repository.ts';

/**
 * The security suites' shared ground: the app's registered route table (captured with an onRoute hook
 * on the very Fastify instance buildApp creates, through Fastify's `fastify.initialization` diagnostics
 * channel), resource factories keyed by route param name, and helpers to call any route.
 */

export { ADMIN_TOKEN };

/** One PHI key per test process, so no test writes a key file into DATA_DIR (PostgreSQL runs). */
export const PHI_ENCRYPTION_KEY = randomBytes(32).toString('hex');

export interface RegisteredRoute {
  method: string;
  url: string;
  config: FastifyContextConfig;
  schema: FastifySchema | undefined;
  /** Path params, in order: `/api/v1/cases/:caseId/payments/:paymentId` -> ['caseId', 'paymentId']. */
  params: string[];
}

export interface RouteTableContext extends TestContext {
  routes: RegisteredRoute[];
}

/** The test app (rate limits off unless given) and every route it registered, HEAD duplicates left out. */
export async function contextWithRouteTable(environment: Record<string, string> = {}): Promise<RouteTableContext> {
  const { built: context, routes } = await withRouteTable(() =>
    createTestContext({
      RATE_LIMIT_PER_KEY: '0',
      RATE_LIMIT_PER_ADDRESS: '0',
      AUTH_FAILURE_LIMIT: '100000',
      PHI_ENCRYPTION_KEY,
      ...environment,
    }),
  );
  return Object.assign(context, { routes });
}

/** Whatever `build` builds, and every route of the apps it builds (HEAD duplicates left out). */
export async function withRouteTable<T>(build: () => Promise<T>): Promise<{ built: T; routes: RegisteredRoute[] }> {
  const routes: RegisteredRoute[] = [];
  const onInit = (message: unknown) => {
    const { fastify } = message as { fastify: FastifyInstance };
    fastify.addHook('onRoute', (route: RouteOptions) => {
      for (const method of [route.method].flat()) {
        if (method === 'HEAD') continue;
        routes.push({
          method,
          url: route.url,
          config: (route.config ?? {}) as FastifyContextConfig,
          schema: route.schema,
          params: [...route.url.matchAll(/:([A-Za-z0-9_]+)/g)].map((match) => match[1]!),
        });
      }
    });
  };
  diagnostics.subscribe('fastify.initialization', onInit);
  let built: T;
  try {
    built = await build();
  } finally {
    diagnostics.unsubscribe('fastify.initialization', onInit);
  }
  assert.ok(routes.length > 10, 'the route table was captured');
  return { built, routes };
}

/** The registered route that answers `method url` (a path with values in place of its params). */
export function routeFor(routes: RegisteredRoute[], method: string, url: string): RegisteredRoute | undefined {
  const path = url.split('?')[0]!;
  return routes.find(
    (route) => route.method === method && new RegExp(`^${route.url.replace(/:[A-Za-z0-9_]+/g, '[^/]+')}$`).test(path),
  );
}

/** API routes a client calls with an organization's key. */
export function organizationRoutes(routes: RegisteredRoute[]): RegisteredRoute[] {
  return routes.filter(
    (route) =>
      route.config.auth === 'apiKey' || route.config.auth === 'bodyKey' || route.config.auth === 'headerOrBodyKey',
  );
}

export const routeName = (route: Pick<RegisteredRoute, 'method' | 'url'>) => `${route.method} ${route.url}`;

/** The resources an organization owns, by the route param (or query field) that names them. */
export interface OrganizationFixture {
  organizationId: string;
  apiKey: string;
  apiKeyId: string;
  email: string;
  /** Route param name -> this organization's id for it. */
  ids: Record<string, string>;
  /** Query fields naming a resource by something other than a UUID (promo code text). */
  query: Record<string, string>;
  /** Every identifier and datum of this organization that must never reach another one. */
  secrets: string[];
}

/**
 * Creates one organization with one resource of every kind a route can name: a case (intake, with a
 * PHI answer), its form and questions, a held payment (fake Stripe), a product bundle with a product,
 * a promo code. A route param this does not know makes the calling test fail: add the resource here.
 */
export async function createOrganizationFixture(context: TestContext, label: string): Promise<OrganizationFixture> {
  const { organizationId, apiKey, apiKeyId } = await context.services.organizations.createOrganization(
    `Organization ${label} ${randomUUID().slice(0, 6)}`,
  );
  const email = `patient-${label.toLowerCase()}-${randomUUID().slice(0, 8)}@example.com`;
  const phiAnswer = `phi-answer-${label}-${randomUUID()}`;
  const formTitle = `Intake form of ${label} ${randomUUID().slice(0, 8)}`;
  const intake = await inject(context.app, 'POST', '/api/v1/dynamic-case', apiKey, {
    firstName: `First${label}`,
    lastName: `Last${label}`,
    email,
    formTitle,
    idempotencyKey: `fixture-${label}-${randomUUID()}`,
    questions: [
      { question: 'What is your current weight?', type: 'TEXT', required: true, answer: '150 lbs' },
      { question: 'Any medical conditions?', type: 'TEXT', required: false, answer: phiAnswer, phi: true },
    ],
  });
  assert.equal(intake.status, 200, `fixture intake: ${intake.text}`);
  const { caseId, formResponseId } = (intake.json as { data: { caseId: string; formResponseId: string } }).data;

  const payments = new PaymentRepository(context.db, Tenant.forOperator(organizationId, 'a test fixture'));
  const found = await payments.findCase(caseId);
  assert.ok(found);
  await payments.saveMethod({
    id: randomUUID(),
    patientId: found.patient_id,
    saved: {
      gateway: 'stripe',
      customerId: `cus_${label}${randomUUID().slice(0, 8)}`,
      paymentMethodId: 'pm_card_visa',
    },
    sourceReference: null,
  });
  const hold = await inject(context.app, 'POST', `/api/v1/cases/${caseId}/payments`, apiKey, {
    amount: 25,
    preauthorize: true,
    description: `Hold of ${label}`,
  });
  assert.equal(hold.status, 200, `fixture hold: ${hold.text}`);
  const paymentId = (hold.json as { data: { result: { paymentId: string } } }).data.result.paymentId;

  const bundle = await context.services.products.createBundle(Tenant.forOperator(organizationId, 'test'), {
    name: `Bundle of ${label}`,
    priceCents: 9900,
  });
  const product = await context.services.products.createProduct(Tenant.forOperator(organizationId, 'test'), {
    name: `Product of ${label}`,
    priceCents: 4900,
    productBundleId: bundle.id,
  });
  const code = `SECRET${label}${randomBytes(3).toString('hex').toUpperCase()}`;
  const promo = await context.services.promoCodes.create({ organizationId, code, percentDiscount: 15 });

  // A webhook endpoint (an https URL no test sends to: no worker runs here) and one delivery queued for it.
  const webhook = await new WebhookRepository(context.db, Tenant.forOperator(organizationId, 'test')).createEndpoint({
    url: `https://hooks-${label.toLowerCase()}.example.com/care360`,
    secretSealed: await context.services.phiCipher.encryptText(`whsec_${randomBytes(32).toString('base64')}`),
    events: null,
    documentFormat: 'BASE64',
    sendFullCaseData: false,
  });
  await enqueueWebhookEvent(context.db, Tenant.forOperator(organizationId, 'test'), {
    caseId,
    event: 'CREATE_CASE',
    eventId: randomUUID(),
  });
  const { rows: deliveries } = await context.db.query<{ id: string }>(
    'select id from webhook_deliveries where endpoint_id = $1',
    [webhook.id],
  );

  // A partner's comment and a decision, for the staff routes that name one of them.
  const comment = await inject(context.app, 'POST', `/api/v1/cases/${caseId}`, apiKey, {
    action: 'ADD_COMMUNICATION',
    communication: { text: `Comment of ${label}` },
  });
  assert.equal(comment.status, 200, `fixture comment: ${comment.text}`);
  const { rows: comments } = await context.db.query<{ id: string }>('select id from case_comments where case_id = $1', [
    caseId,
  ]);
  const decisionId = randomUUID();
  await context.db.query(
    `insert into case_decisions (id, organization_id, case_id, is_approved) values ($1, $2, $3, false)`,
    [decisionId, organizationId, caseId],
  );

  const { rows: forms } = await context.db.query<{ form_id: string }>(
    'select form_id from form_responses where id = $1',
    [formResponseId],
  );
  const formId = forms[0]!.form_id;
  const { rows: questions } = await context.db.query<{ id: string }>(
    'select id from questions where form_id = $1 order by position',
    [formId],
  );
  const { rows: patients } = await context.db.query<{ id: string }>(
    'select patient_id as id from cases where id = $1',
    [caseId],
  );
  const ids: Record<string, string> = {
    caseId,
    paymentId,
    formId,
    questionId: questions[0]!.id,
    bundleId: bundle.id,
    productId: product.id,
    promoCodeId: promo.id,
    webhookId: webhook.id,
    deliveryId: deliveries[0]!.id,
    commentId: comments[0]!.id,
    decisionId,
    formResponseId,
    patientId: patients[0]!.id,
  };
  return {
    organizationId,
    apiKey,
    apiKeyId,
    email,
    ids,
    query: { code, product_bundle_id: bundle.id, title: formTitle, caseId, email, after: caseId },
    secrets: [
      organizationId,
      apiKeyId,
      ...Object.values(ids),
      ...questions.map((question) => question.id),
      email,
      `First${label}`,
      phiAnswer,
      formTitle,
      `Comment of ${label}`,
      `Bundle of ${label}`,
      `Product of ${label}`,
      `Hold of ${label}`,
      code,
    ],
  };
}

export interface Answer {
  status: number;
  text: string;
  json: unknown;
  headers: Record<string, string | string[] | number | undefined>;
}

/** Calls a route with an organization's key (in the header, or in the body for `auth: 'bodyKey'`). */
export async function inject(
  app: FastifyInstance,
  method: string,
  url: string,
  apiKey: string | null,
  body?: unknown,
  options: { bodyKey?: boolean } = {},
): Promise<Answer> {
  const payload =
    options.bodyKey && apiKey ? { ...((body as Record<string, unknown> | undefined) ?? {}), key: apiKey } : body;
  const response = await app.inject({
    method: method as 'GET',
    url,
    headers: {
      ...(apiKey && !options.bodyKey ? { 'cv-api-key': apiKey } : {}),
      ...(payload === undefined ? {} : { 'content-type': 'application/json' }),
    },
    ...(payload === undefined ? {} : { payload: JSON.stringify(payload) }),
  });
  let json: unknown;
  try {
    json = response.json();
  } catch {
    json = undefined;
  }
  return { status: response.statusCode, text: response.body, json, headers: response.headers };
}

/** `/api/v1/cases/:caseId` with `{caseId: 'x'}` -> `/api/v1/cases/x`. */
export function fillPath(url: string, values: Record<string, string>): string {
  return url.replace(/:([A-Za-z0-9_]+)/g, (_, name: string) => {
    const value = values[name];
    assert.ok(value !== undefined, `no value for :${name} in ${url}`);
    return encodeURIComponent(value);
  });
}

/** Every UUID replaced by a placeholder: two answers that differ only in ids compare equal. */
export function withoutIds(text: string): string {
  return text.replace(/[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}/gi, '<id>');
}

/**
 * A body that the route accepts from the resource's owner (so that a refusal to anyone else is about
 * the resource, not the body). A POST route missing here fails the isolation test's owner check.
 */
export const validBodies: Record<string, unknown> = {
  'POST /api/v1/dynamic-case': {
    firstName: 'Fuzz',
    lastName: 'Patient',
    email: 'fuzz.patient@example.com',
    formTitle: 'Fuzz form',
    questions: [{ question: 'What is your current weight?', type: 'TEXT', required: true, answer: '150 lbs' }],
  },
  'POST /handleDynamicCustomerForm': {
    firstName: 'Fuzz',
    lastName: 'Test',
    email: 'fuzz.legacy@example.com',
    formTitle: 'Fuzz form',
    questions: [{ question: 'What is your current weight?', type: 'TEXT', answer: '150 lbs' }],
  },
  'POST /api/v1/payments/setup': { metadata: { email: 'someone@example.com' } },
  'POST /api/v1/payments/intent': { amount: 4500, paymentMethodTypes: ['card'] },
  'POST /initiatePayment': { amount: 10 },
  'POST /api/v1/cases/:caseId': { action: 'CHANGE_CASE_STATUS', status: 'CLOSE', reason: 'Patient cancelled' },
  'POST /api/v1/cases/:caseId/payments': { amount: 12.5, description: 'Follow-up visit' },
  'POST /api/v1/cases/:caseId/payments/:paymentId/capture': { amount: 10 },
  'POST /api/v1/cases/:caseId/payments/:paymentId/cancel': {},
  'POST /api/v1/cases/:caseId/payments/:paymentId/refund': { amount: 5 },
};

/**
 * What the owner does first so that a route accepts its request: a refund needs a payment that was taken, so
 * the fixture's held payment is captured.
 */
export async function prepareRouteFor(
  app: FastifyInstance,
  route: RegisteredRoute,
  owner: { apiKey: string; ids: Record<string, string> },
): Promise<void> {
  if (routeName(route) !== 'POST /api/v1/cases/:caseId/payments/:paymentId/refund') return;
  const url = fillPath('/api/v1/cases/:caseId/payments/:paymentId/capture', owner.ids);
  const answer = await inject(app, 'POST', url, owner.apiKey, {});
  assert.equal(answer.status, 200, answer.text);
}

/** Query parameters a route needs besides the ones naming a resource (the case list's date range). */
export const baseQueries: Record<string, () => Record<string, string>> = {
  'GET /api/v1/cases': () => ({
    startTime: new Date(Date.now() - 24 * 60 * 60 * 1000).toISOString(),
    endTime: new Date(Date.now() + 24 * 60 * 60 * 1000).toISOString(),
  }),
};

/**
 * The query string with which `owner` reads its own resource on a route without path params: its base query
 * and the owner's values of the fields that name a resource (`?caseId=`, `?email=`); empty for other routes.
 */
export function ownQueryFor(route: RegisteredRoute, owner: { query: Record<string, string> }): string {
  const querystring = route.schema?.querystring as { shape?: Record<string, unknown> } | undefined;
  const fields = Object.keys(querystring?.shape ?? {}).filter(
    (field) => field in owner.query && field !== 'after' && route.params.length === 0,
  );
  const query = new URLSearchParams({
    ...baseQueries[routeName(route)]?.(),
    ...Object.fromEntries(fields.map((field) => [field, owner.query[field]!])),
  }).toString();
  return query === '' ? '' : `?${query}`;
}

/** What a body can name a resource by: its ids, and its patient's email. */
export interface BodyTarget {
  ids: Record<string, string>;
  email: string;
}

/**
 * Bodies that name a resource (a case id, a patient's email in the body): made for the organization sending
 * them, and by the isolation test naming another organization's resource or a missing one.
 */
export const ownedBodies: Record<string, (target: BodyTarget) => unknown> = {
  'POST /api/v1/users': ({ email }) => ({ action: 'UPDATE_PROFILE', data: { email, city: 'Boston' } }),
  'POST /api/v1/customer-dynamic-case-form': ({ ids }) => ({
    caseId: ids.caseId,
    formTitle: 'Check-in form',
    questions: [{ questionId: 'weight', question: 'What is your current weight?', type: 'text', answer: '150 lbs' }],
  }),
  'POST /api/v1/customer-payment-confirmation': ({ ids }) => ({
    caseId: ids.caseId,
    amount: 50,
    description: 'Payment for Compounded Semaglutide',
    paymentDate: '2026-01-15',
    status: 'PAID',
    validUntil: '2026-02-15',
  }),
};

/** A valid body of the route; with `owner`, bodies naming a resource name the owner's (ownedBodies). */
export function bodyFor(route: RegisteredRoute, owner?: BodyTarget): unknown {
  if (route.method === 'GET' || route.method === 'DELETE') return undefined;
  const owned = ownedBodies[routeName(route)];
  if (owned && owner) return owned(owner);
  return validBodies[routeName(route)] ?? {};
}
