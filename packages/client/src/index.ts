import createClient, { type Client } from 'openapi-fetch';
import { Care360Error, errorFromResponse } from './errors.ts';
import type { operations, paths } from './generated/openapi.ts';

export * from './errors.ts';
export { verifyWebhook, WebhookVerificationError, type VerifiedWebhook } from './webhooks.ts';
export type { operations, paths } from './generated/openapi.ts';

type JsonBody<Operation> = Operation extends { requestBody?: { content: { 'application/json': infer Body } } }
  ? Body
  : never;
type Success<Operation, Status extends number = 200> = Operation extends {
  responses: { [S in Status]: { content: { 'application/json': infer Body } } };
}
  ? Body
  : never;

/** The body of the Case Create endpoint (`POST /api/v1/dynamic-case`), from the OpenAPI document. */
export type CaseCreateBody = JsonBody<operations['postDynamicCase']>;
/** What the Case Create endpoint answers, with the idempotencyKey it was sent with. */
export type CaseCreated = Success<operations['postDynamicCase']>['data'] & { idempotencyKey: string };
export type Form = Success<operations['getFormsByFormId']>['data']['form'];
export type FormList = Success<operations['getForms']>['data'];
export type PromoCodeDiscount = Success<operations['getPromoCodes']>['data'][number];
export type PaymentConfig = Success<operations['getPaymentsConfig']>['data'];
export type CasePayment = Success<operations['postCasesByCaseIdPayments']>['data']['result'];
export type CasePaymentDetail = Success<operations['getCasesByCaseIdPaymentsByPaymentId']>['data']['result'];

/** The body of `POST /api/v1/payments/intent`: `amount` in cents (4500 for $45.00). */
export interface PaymentIntentInput {
  amount: number;
  paymentMethodTypes?: string[];
  metadata?: { email?: string; phone?: string };
}

/** The body of `POST /api/v1/cases/:caseId/payments`: `amount` in dollars. */
export interface CasePaymentInput {
  amount: number;
  description?: string;
  productId?: string;
  status?: 'PAID' | 'UNPAID' | 'CANCELED' | 'IN_DISPUTE' | 'LOST_DISPUTE' | 'REFUND' | 'ERROR';
  preauthorize?: boolean;
  idempotencyKey?: string;
}

export interface Care360ClientOptions {
  /** Where care360 listens, e.g. `https://care360.example.com` (no trailing path). */
  baseUrl: string;
  /** The organization's secret API key (`cv-api-key`). Server side only: never ship it to a browser. */
  apiKey: string;
  /** A fetch of your own (tests, proxies, timeouts); the global fetch otherwise. */
  fetch?: typeof globalThis.fetch;
}

/** A new idempotency key: a random UUID, as the Case Create and Case Payments endpoints take. */
export function idempotencyKey(): string {
  return globalThis.crypto.randomUUID();
}

/**
 * The answer of one call through the typed client: its data, or the envelope's error thrown as a `Care360Error`
 * (a network failure too, with status 0).
 */
async function unwrap<Data>(
  call: Promise<{ data?: Data; error?: unknown; response: Response }>,
): Promise<{ data: Data; response: Response }> {
  let result: { data?: Data; error?: unknown; response: Response };
  try {
    result = await call;
  } catch (cause) {
    throw new Care360Error(`care360 could not be reached: ${(cause as Error)?.message ?? cause}`, { status: 0, cause });
  }
  if (!result.response.ok || result.data === undefined) {
    throw errorFromResponse(result.response.status, result.error, result.response.headers);
  }
  return { data: result.data, response: result.response };
}

export interface Care360Client {
  /**
   * The typed client of every operation (openapi-fetch over the generated `paths`), for what the helpers below do
   * not cover: `client.api.GET('/api/v1/organization/bundles', {})`.
   */
  api: Client<paths>;
  /** `POST /api/v1/dynamic-case`. An `idempotencyKey` is made when the body has none; it is returned. */
  createCase(body: CaseCreateBody): Promise<CaseCreated>;
  /** `GET /api/v1/forms`: the organization's forms with their questions, a page at a time. */
  listForms(query?: { title?: string; limit?: number; cursor?: string }): Promise<FormList>;
  /** `GET /api/v1/forms/:formId` */
  getForm(formId: string): Promise<Form>;
  /**
   * `GET /api/v1/promo-codes`: the code's discount, or null when it is unknown, expired, used up or not for this
   * bundle (the endpoint answers an empty list then).
   */
  validatePromoCode(code: string, productBundleId?: string): Promise<PromoCodeDiscount | null>;
  /** `GET /api/v1/payments/config`: the publishable keys for Stripe.js and NMI Collect.js. */
  getPaymentConfig(): Promise<PaymentConfig>;
  /** `POST /api/v1/payments/setup`: a SetupIntent's client secret (`seti_..._secret_...`) for Stripe Elements. */
  createSetupIntent(metadata?: { email?: string; phone?: string }): Promise<string>;
  /** `POST /api/v1/payments/intent`: a PaymentIntent's client secret, for `amount` cents. */
  createPaymentIntent(input: PaymentIntentInput): Promise<string>;
  /** `POST /api/v1/cases/:caseId/payments`, with an idempotencyKey made when none is given (returned). */
  createCasePayment(caseId: string, input: CasePaymentInput): Promise<CasePayment & { idempotencyKey: string }>;
  /** `GET /api/v1/cases/:caseId/payments/:paymentId` */
  getCasePayment(caseId: string, paymentId: string): Promise<CasePaymentDetail>;
  /** `POST .../capture`: all of a hold, or `amount` dollars of it. */
  captureCasePayment(caseId: string, paymentId: string, amount?: number): Promise<CasePaymentDetail>;
  /** `POST .../cancel`: releases a hold. */
  cancelCasePayment(caseId: string, paymentId: string): Promise<CasePaymentDetail>;
}

/**
 * A client for a care360 server, holding the organization's API key: for a storefront's server (never a browser;
 * a browser talks to the relay, `@care360/client/relay`). Each helper answers the success body's data and throws
 * the error envelope as a typed `Care360Error`.
 */
export function createCare360Client(options: Care360ClientOptions): Care360Client {
  if (!options.apiKey) throw new TypeError('createCare360Client: apiKey is required');
  const api = createClient<paths>({
    baseUrl: options.baseUrl.replace(/\/+$/, ''),
    headers: { 'cv-api-key': options.apiKey },
    ...(options.fetch ? { fetch: options.fetch } : {}),
  });

  return {
    api,
    async createCase(body) {
      const key = body.idempotencyKey ?? idempotencyKey();
      const { data } = await unwrap(api.POST('/api/v1/dynamic-case', { body: { ...body, idempotencyKey: key } }));
      return { ...data.data, idempotencyKey: key };
    },
    async listForms(query = {}) {
      return (await unwrap(api.GET('/api/v1/forms', { params: { query } }))).data.data;
    },
    async getForm(formId) {
      return (await unwrap(api.GET('/api/v1/forms/{formId}', { params: { path: { formId } } }))).data.data.form;
    },
    async validatePromoCode(code, productBundleId) {
      const query = { code, ...(productBundleId ? { product_bundle_id: productBundleId } : {}) };
      const { data } = await unwrap(api.GET('/api/v1/promo-codes', { params: { query } }));
      return data.data[0] ?? null;
    },
    async getPaymentConfig() {
      return (await unwrap(api.GET('/api/v1/payments/config', {}))).data.data;
    },
    async createSetupIntent(metadata) {
      const body = metadata ? { metadata } : undefined;
      return (await unwrap(api.POST('/api/v1/payments/setup', { body }))).data.paymentSecret;
    },
    async createPaymentIntent(input) {
      return (await unwrap(api.POST('/api/v1/payments/intent', { body: input }))).data.data.paymentIntentSecret;
    },
    async createCasePayment(caseId, input) {
      const key = input.idempotencyKey ?? idempotencyKey();
      const { data } = await unwrap(
        api.POST('/api/v1/cases/{caseId}/payments', {
          params: { path: { caseId } },
          body: { ...input, idempotencyKey: key },
        }),
      );
      return { ...data.data.result, idempotencyKey: key };
    },
    async getCasePayment(caseId, paymentId) {
      const path = { caseId, paymentId };
      const { data } = await unwrap(api.GET('/api/v1/cases/{caseId}/payments/{paymentId}', { params: { path } }));
      return data.data.result;
    },
    async captureCasePayment(caseId, paymentId, amount) {
      const path = { caseId, paymentId };
      const body = amount === undefined ? undefined : { amount };
      const { data } = await unwrap(
        api.POST('/api/v1/cases/{caseId}/payments/{paymentId}/capture', { params: { path }, body }),
      );
      return data.data.result;
    },
    async cancelCasePayment(caseId, paymentId) {
      const path = { caseId, paymentId };
      const { data } = await unwrap(
        api.POST('/api/v1/cases/{caseId}/payments/{paymentId}/cancel', { params: { path }, body: undefined }),
      );
      return data.data.result;
    },
  };
}
