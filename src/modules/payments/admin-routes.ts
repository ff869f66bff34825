import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import type { PaymentService } from './service.ts';
import { errorResponses } from '../../http/envelopes.ts';

/** Operator views of payments under /admin/v1. */
export function adminPaymentRoutes(payments: PaymentService): FastifyPluginAsyncZod {
  return async (app) => {
    app.get(
      '/payments/holds',
      {
        config: { auth: 'admin', envelope: 'standard' },
        schema: {
          tags: ['admin'],
          summary: 'Open holds (preauthorized, not captured or released), soonest expiry first',
          security: [{ adminToken: [] }],
          querystring: z.object({
            withinHours: z.coerce
              .number()
              .int()
              .positive()
              .max(24 * 90)
              .optional()
              .describe('Only holds expiring within this many hours'),
          }),
          response: {
            200: z.object({
              holds: z.array(
                z.object({
                  paymentId: z.uuid(),
                  organizationId: z.uuid(),
                  caseId: z.uuid(),
                  gateway: z.string().nullable(),
                  amount: z.number().describe('Dollars'),
                  captureBefore: z.string().nullable(),
                  createdAt: z.string(),
                }),
              ),
            }),
            ...errorResponses('standard', [400, 401]),
          },
        },
      },
      async (request) => ({
        holds: (await payments.listHolds(request.query.withinHours ?? null)).map((row) => ({
          paymentId: row.id,
          organizationId: row.organization_id,
          caseId: row.case_id,
          gateway: row.gateway,
          amount: row.amount_cents / 100,
          captureBefore: row.capture_before?.toISOString() ?? null,
          createdAt: row.created_at.toISOString(),
        })),
      }),
    );
  };
}
