import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { ApiError } from '../../http/api-error.ts';
import { isUuid } from '../../uuid.ts';
import { centsToDollars } from '../../money.ts';
import type { CasePaymentRow } from './repository.ts';
import type { PaymentService } from './service.ts';
import type { RefundService } from './refunds.ts';
import type { PaymentConfirmationService } from './confirmation.ts';
import { errorResponses } from '../../http/envelopes.ts';
import { textParam } from '../../http/parameters.ts';
import {
  casePaymentCreateBody,
  paymentCaptureBody,
  paymentConfirmationBody,
  paymentIntentBody,
  paymentRefundBody,
  paymentSetupBody,
} from './body-schemas.ts';

const routeConfig = { auth: 'apiKey', envelope: 'payments' } as const;
const security = [{ apiKey: [] }];

export const result = z.object({
  paymentId: z.uuid(),
  status: z.string(),
  amount: z.number().describe('Dollars'),
  description: z.string().nullable(),
  createdAt: z.string(),
});

export const detail = result.extend({
  preauthorized: z.boolean(),
  holdStatus: z
    .enum(['NONE', 'PENDING', 'HELD', 'CAPTURED', 'RELEASED', 'FAILED'])
    .describe('NONE when not preauthorized'),
  amountCaptured: z.number().describe('Dollars collected so far'),
  amountRefunded: z.number(),
  captureBefore: z.string().nullable().describe('When the hold expires (Stripe capture_before)'),
  capturedAt: z.string().nullable(),
  releasedAt: z.string().nullable(),
  productId: z.string().nullable(),
});

function resultJson(row: CasePaymentRow): z.infer<typeof result> {
  return {
    paymentId: row.id,
    status: row.status,
    amount: centsToDollars(row.amount_cents),
    description: row.description,
    createdAt: row.created_at.toISOString(),
  };
}

export function detailJson(row: CasePaymentRow): z.infer<typeof detail> {
  return {
    ...resultJson(row),
    preauthorized: row.hold_status !== 'NONE',
    holdStatus: row.hold_status,
    amountCaptured: centsToDollars(row.amount_captured_cents),
    amountRefunded: centsToDollars(row.amount_refunded_cents),
    captureBefore: row.capture_before?.toISOString() ?? null,
    capturedAt: row.captured_at?.toISOString() ?? null,
    releasedAt: row.released_at?.toISOString() ?? null,
    productId: row.product_id,
  };
}

const anyBody = z.unknown().describe('Ignored: the payment to release is named by the path');

function caseIdOf(params: { caseId: string }): string {
  if (!isUuid(params.caseId)) throw new ApiError(400, 'Case ID must be a valid UUID');
  return params.caseId.toLowerCase();
}

function paymentIdOf(params: { paymentId: string }): string {
  if (!isUuid(params.paymentId)) throw new ApiError(400, 'Payment ID must be a valid UUID');
  return params.paymentId.toLowerCase();
}

export function paymentRoutes(
  payments: PaymentService,
  refunds: RefundService,
  confirmations: PaymentConfirmationService,
): FastifyPluginAsyncZod {
  return async (app) => {
    app.post(
      '/api/v1/payments/setup',
      {
        config: routeConfig,
        schema: {
          tags: ['payments'],
          summary: 'Create a Stripe SetupIntent; its client secret goes to Stripe Elements',
          description:
            'Call it before creating a case that saves the patient’s card: confirm the returned paymentSecret with ' +
            'Stripe Elements, then send the SetupIntent id as stripeSetupId to POST /api/v1/dynamic-case. Optional ' +
            'body `{"metadata": {"email"?, "phone"?}}`; 503 when the payment provider is unavailable.',
          security,
          body: paymentSetupBody.optional(),
          response: {
            200: z.object({ success: z.literal(true), paymentSecret: z.string() }),
            ...errorResponses('payments', [400, 401, 500, 503]),
          },
        },
      },
      async (request) => {
        const paymentSecret = await payments.createSetupIntent(request.scope.tenant, request.body?.metadata ?? {});
        return { success: true as const, paymentSecret };
      },
    );

    app.post(
      '/api/v1/payments/intent',
      {
        config: routeConfig,
        schema: {
          tags: ['payments'],
          summary: 'Create a Stripe PaymentIntent for an amount in cents (4500 = $45.00)',
          description:
            'For immediate payment: send the final amount (promo discount already applied) as whole cents, at least ' +
            '50; optional paymentMethodTypes (e.g. ["card", "klarna"]) and metadata. Confirm data.paymentIntentSecret ' +
            'with Stripe Elements, then send the PaymentIntent id as stripePaymentId when creating the case.',
          security,
          body: paymentIntentBody,
          response: {
            200: z.object({
              status: z.literal(200),
              success: z.literal(true),
              message: z.string(),
              data: z.object({ paymentIntentSecret: z.string() }),
            }),
            ...errorResponses('payments', [400, 401, 503]),
          },
        },
      },
      async (request) => {
        const paymentIntentSecret = await payments.createPaymentIntent(request.scope.tenant, request.body);
        return {
          status: 200 as const,
          success: true as const,
          message: 'payment Intent initiated successfully',
          data: { paymentIntentSecret },
        };
      },
    );

    app.post(
      '/initiatePayment',
      {
        config: { auth: 'bodyKey', envelope: 'payments' },
        schema: {
          tags: ['payments'],
          summary: 'Deprecated: POST /api/v1/payments/setup with the API key in the body as `key`',
          description:
            'Answers as POST /api/v1/payments/setup (a SetupIntent’s paymentSecret); any `amount` sent is ' +
            'ignored. Call it from your server, never the browser, since the body carries the API key.',
          deprecated: true,
          body: z
            .object({
              key: z.string({ error: 'key must be a string' }).describe('Your cv-api-key'),
              amount: z.unknown().optional().describe('Ignored'),
            })
            .loose(),
          response: {
            200: z.object({ success: z.literal(true), paymentSecret: z.string() }),
            ...errorResponses('payments', [400, 401, 503]),
          },
        },
      },
      async (request) => {
        const paymentSecret = await payments.createSetupIntent(request.scope.tenant, {});
        return { success: true as const, paymentSecret };
      },
    );

    app.post(
      '/api/v1/cases/:caseId/payments',
      {
        config: {
          ...routeConfig,
          audit: { action: 'payment.create', resourceType: 'payment', resourceIdParam: 'caseId' },
        },
        schema: {
          tags: ['payments'],
          summary: 'Create a case payment; preauthorize: true places a hold on the patient’s saved card',
          description:
            'Body: amount in dollars, and optional description, productId, status (UNPAID by default), idempotencyKey ' +
            'and preauthorize. A hold needs a payment method saved by the case’s intake (stripeSetupId or ' +
            'nmiPaymentToken), else 400; a declined hold is 402. A reused idempotencyKey is 409, except the same ' +
            'request retried after a 503 left its hold pending: that resumes the hold, placed once.',
          security,
          params: z.object({ caseId: textParam('caseId') }),
          body: casePaymentCreateBody,
          response: {
            200: z.object({
              success: z.literal(true),
              message: z.string(),
              data: z.object({ result }),
            }),
            ...errorResponses('payments', [400, 401, 402, 404, 409, 503], { idempotencyConflict: true }),
          },
        },
      },
      async (request) => {
        const caseId = caseIdOf(request.params);
        const row = await payments.createCasePayment(request.scope.tenant, caseId, request.body, {
          kind: 'api_key',
          id: request.scope.apiKeyId,
        });
        request.auditResourceId = row.id;
        return {
          success: true as const,
          message: 'Case payment created successfully',
          data: { result: resultJson(row) },
        };
      },
    );

    const detailResponse = {
      200: z.object({ success: z.literal(true), message: z.string(), data: z.object({ result: detail }) }),
      ...errorResponses('payments', [400, 401, 404, 409, 502, 503]),
    };
    const paymentParams = z.object({ caseId: textParam('caseId'), paymentId: textParam('paymentId') });

    app.get(
      '/api/v1/cases/:caseId/payments/:paymentId',
      {
        config: { ...routeConfig, audit: { action: 'payment.read', resourceType: 'payment' } },
        schema: {
          tags: ['payments'],
          summary: 'A case payment and its hold',
          description:
            'The payment with its holdStatus, amountCaptured, amountRefunded and captureBefore (when the hold ' +
            'expires); read it before a capture or cancel. 404 when the case or the payment is not found.',
          security,
          params: paymentParams,
          response: detailResponse,
        },
      },
      async (request) => {
        const row = await payments.getPayment(
          request.scope.tenant,
          caseIdOf(request.params),
          paymentIdOf(request.params),
        );
        return {
          success: true as const,
          message: 'Case payment retrieved successfully',
          data: { result: detailJson(row) },
        };
      },
    );

    app.post(
      '/api/v1/cases/:caseId/payments/:paymentId/capture',
      {
        config: { ...routeConfig, audit: { action: 'payment.capture', resourceType: 'payment' } },
        schema: {
          tags: ['payments'],
          summary: 'Capture a preauthorized payment: all of the hold, or `amount` dollars of it (the rest is released)',
          description:
            'Only a HELD payment: any other holdStatus is 409 with the state found, and an amount above the hold is ' +
            '400. A repeat of the same capture answers the payment as it is; 503 when the provider is ' +
            'unavailable (retry).',
          security,
          params: paymentParams,
          body: paymentCaptureBody.optional(),
          response: detailResponse,
        },
      },
      async (request) => {
        const caseId = caseIdOf(request.params);
        const paymentId = paymentIdOf(request.params);
        const row = await payments.capture(request.scope.tenant, caseId, paymentId, request.body?.amountCents, {
          kind: 'api_key',
          id: request.scope.apiKeyId,
        });
        return {
          success: true as const,
          message: 'Case payment captured successfully',
          data: { result: detailJson(row) },
        };
      },
    );

    app.post(
      '/api/v1/cases/:caseId/payments/:paymentId/cancel',
      {
        config: { ...routeConfig, audit: { action: 'payment.release', resourceType: 'payment' } },
        schema: {
          tags: ['payments'],
          summary: 'Release a hold (or cancel an unpaid payment that has none)',
          description:
            'Releases a HELD payment (holdStatus RELEASED, status CANCELED); a payment without a hold is canceled ' +
            'only while UNPAID. A repeat answers the payment as it is; a captured, pending or failed hold is 409.',
          security,
          params: paymentParams,
          body: anyBody.optional(),
          response: detailResponse,
        },
      },
      async (request) => {
        const row = await payments.release(
          request.scope.tenant,
          caseIdOf(request.params),
          paymentIdOf(request.params),
          { kind: 'api_key', id: request.scope.apiKeyId },
        );
        return {
          success: true as const,
          message: 'Case payment canceled successfully',
          data: { result: detailJson(row) },
        };
      },
    );

    app.post(
      '/api/v1/cases/:caseId/payments/:paymentId/refund',
      {
        config: { ...routeConfig, audit: { action: 'payment.refund', resourceType: 'payment' } },
        schema: {
          tags: ['payments'],
          summary: 'Refund a paid payment: all that is left of it, or `amount` dollars',
          description:
            'Body optional: `{"amount"?: dollars, "idempotencyKey"?: string}`. A retry with the same idempotencyKey ' +
            'never refunds twice.',
          security,
          params: paymentParams,
          body: paymentRefundBody.optional(),
          response: detailResponse,
        },
      },
      async (request) => {
        const row = await refunds.refund(
          request.scope.tenant,
          caseIdOf(request.params),
          paymentIdOf(request.params),
          request.body ?? { amountCents: undefined, idempotencyKey: null },
          { kind: 'api_key', id: request.scope.apiKeyId },
        );
        return {
          success: true as const,
          message: 'Case payment refunded successfully',
          data: { result: detailJson(row) },
        };
      },
    );

    app.post(
      '/api/v1/customer-payment-confirmation',
      {
        config: { ...routeConfig, audit: { action: 'payment.confirm', resourceType: 'case' } },
        schema: {
          tags: ['payments'],
          summary: 'Record a payment taken outside this server on a case (no money moves)',
          description:
            'Body: `caseId`, `amount` (dollars), `status` (PAID, UNPAID, CANCELED, IN_DISPUTE, LOST_DISPUTE, REFUND, ' +
            'ERROR), `paymentDate` and `validUntil` (YYYY-MM-DD) required; `description`, `decisionId`, `email`, ' +
            "`phoneNumber`, `idempotencyKey` optional. The payment appears in the case detail's payments with a " +
            'PAYMENT_COMPLETED (PAID) or PAYMENT_ADDED case event. A retry with the same idempotencyKey answers 200 ' +
            'and records nothing more; another request with that key answers 409. See docs/api/payments.md.',
          security,
          body: paymentConfirmationBody,
          response: {
            200: z.object({ status: z.literal(200), success: z.literal(true) }),
            ...errorResponses('payments', [400, 401, 404, 409], { idempotencyConflict: true }),
          },
        },
      },
      async (request) => {
        const input = request.body;
        // The audit event names the case the body names, the one id the caller sent and can match it by.
        request.auditResourceId = input.caseId;
        await confirmations.confirm(request.scope.tenant, input, { kind: 'api_key', id: request.scope.apiKeyId });
        return { status: 200 as const, success: true as const };
      },
    );
  };
}
