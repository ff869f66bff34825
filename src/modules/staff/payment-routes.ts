import type { FastifyRequest } from 'fastify';
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import type { Database } from '../../db/database.ts';
import { ApiError } from '../../http/api-error.ts';
import { errorResponses } from '../../http/envelopes.ts';
import type { Tenant } from '../../http/gate.ts';
import { textParam } from '../../http/parameters.ts';
import { isUuid } from '../../uuid.ts';
import { paymentCaptureBody, paymentRefundBody } from '../payments/body-schemas.ts';
import type { CaseEventActor } from '../cases/lifecycle/events.ts';
import type { RefundService } from '../payments/refunds.ts';
import type { CasePaymentRow } from '../payments/repository.ts';
import { detail, detailJson } from '../payments/routes.ts';
import type { PaymentService } from '../payments/service.ts';
import { CASE_NOT_FOUND } from './case-actions.ts';
import { StaffCaseQueue } from './case-queue.ts';

const security = [{ staffSession: [] }];
const params = z.object({ caseId: textParam('caseId', 100), paymentId: textParam('paymentId', 100) });
const response = {
  200: z.object({ success: z.literal(true), payment: detail }),
  ...errorResponses('standard', [400, 401, 403, 404, 409, 502, 503]),
};

/**
 * A case's payments worked by the clinic (docs/api/staff.md): capture, release and refund through the services the
 * partner routes call (`/api/v1/cases/:caseId/payments/:paymentId/...`), so the money rules stay in one place:
 * claims, idempotency keys, no transaction across a gateway call. Only the case's visibility is the staff API's.
 */
export function staffPaymentRoutes(deps: {
  db: Database;
  payments: PaymentService;
  refunds: RefundService;
}): FastifyPluginAsyncZod {
  /** The tenant of a case the member sees (404 otherwise), and the two ids as the payment services take them. */
  const target = async (request: FastifyRequest, raw: { caseId: string; paymentId: string }) => {
    const staff = request.staff!;
    const state = isUuid(raw.caseId) ? await new StaffCaseQueue(deps.db, staff).state(raw.caseId) : null;
    const tenant: Tenant | null = state ? staff.tenantFor(state.organization_id) : null;
    if (!state || !tenant) throw new ApiError(404, CASE_NOT_FOUND);
    request.auditOrganizationId = state.organization_id;
    if (!isUuid(raw.paymentId)) throw new ApiError(404, 'Payment not found');
    return { tenant, caseId: state.id, paymentId: raw.paymentId.toLowerCase() };
  };
  /** The member acting: each change's case event names them. */
  const actorOf = (request: FastifyRequest): CaseEventActor => ({ kind: 'staff', id: request.staff!.staffId });
  const answer = (row: CasePaymentRow) => ({ success: true as const, payment: detailJson(row) });
  const config = (action: string) => ({
    auth: 'staff' as const,
    staffPermission: 'cases.payments' as const,
    envelope: 'standard' as const,
    audit: { action, resourceType: 'payment' },
  });

  return async (app) => {
    app.post(
      '/staff/v1/cases/:caseId/payments/:paymentId/capture',
      {
        config: config('payment.capture'),
        schema: {
          tags: ['staff'],
          summary: 'Capture a held payment of the case: all of the hold, or `amount` dollars of it',
          description:
            'The partner route’s capture (same rules, same idempotency): only a HELD payment, else 409 with the ' +
            'state found; an amount above the hold is 400; 503 when the provider is unavailable (retry). ADMIN and ' +
            'SUPPORT.',
          security,
          params,
          body: paymentCaptureBody.optional(),
          response,
        },
      },
      async (request) => {
        const { tenant, caseId, paymentId } = await target(request, request.params);
        return answer(
          await deps.payments.capture(tenant, caseId, paymentId, request.body?.amountCents, actorOf(request)),
        );
      },
    );

    app.post(
      '/staff/v1/cases/:caseId/payments/:paymentId/release',
      {
        config: config('payment.release'),
        schema: {
          tags: ['staff'],
          summary: 'Release a held payment of the case (or cancel an unpaid one without a hold)',
          description:
            'The partner route’s cancel: a HELD payment is released (holdStatus RELEASED, status CANCELED); a ' +
            'repeat answers the payment as it is; a captured, pending or failed hold is 409. ADMIN and SUPPORT.',
          security,
          params,
          response,
        },
      },
      async (request) => {
        const { tenant, caseId, paymentId } = await target(request, request.params);
        return answer(await deps.payments.release(tenant, caseId, paymentId, actorOf(request)));
      },
    );

    app.post(
      '/staff/v1/cases/:caseId/payments/:paymentId/refund',
      {
        config: config('payment.refund'),
        schema: {
          tags: ['staff'],
          summary: 'Refund a paid payment of the case: all that is left of it, or `amount` dollars',
          description:
            'The partner route’s refund, recorded as the member’s act (the case event names them). A retry with the ' +
            'same idempotencyKey never refunds twice; a payment not paid through a gateway is 409. ADMIN and SUPPORT.',
          security,
          params,
          body: paymentRefundBody.optional(),
          response,
        },
      },
      async (request) => {
        const { tenant, caseId, paymentId } = await target(request, request.params);
        const input = request.body ?? { amountCents: undefined, idempotencyKey: null };
        return answer(await deps.refunds.refund(tenant, caseId, paymentId, input, actorOf(request)));
      },
    );
  };
}
