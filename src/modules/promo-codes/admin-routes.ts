import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { ADMIN_SECURITY } from '../../http/admin.ts';
import { z } from 'zod';
import { optionalDollarsToCents } from '../../money.ts';
import type { PromoCodeService } from './service.ts';
import { promoJson, promoView } from './views.ts';
import { errorResponses } from '../../http/envelopes.ts';
import { promoCodeIdParam } from '../../http/parameters.ts';

const routeConfig = { auth: 'admin', envelope: 'standard' } as const;
const security = ADMIN_SECURITY;

/** Operator management of promo codes under /admin/v1. */
export function adminPromoCodeRoutes(promoCodes: PromoCodeService): FastifyPluginAsyncZod {
  return async (app) => {
    app.post(
      '/promo-codes',
      {
        config: routeConfig,
        schema: {
          tags: ['admin'],
          summary: 'Create a promo code (an organization’s, or global when organizationId is null)',
          description:
            'A percent or a flat (dollars) discount, optionally for one product bundle, with an expiry and a limit of uses. A code is unique within its organization (or among the global codes), whatever its letter case.',
          security,
          body: z.object({
            organizationId: z.uuid().nullable(),
            code: z.string().trim().min(1).max(64),
            percentDiscount: z.number().optional(),
            flatDiscount: z.union([z.number(), z.string()]).optional().describe('Dollars'),
            productBundleId: z.uuid().nullable().optional(),
            expiresAt: z.iso.datetime({ offset: true }).nullable().optional(),
            maxRedemptions: z.number().int().positive().nullable().optional(),
          }),
          response: {
            201: z.object({ promoCode: promoView }),
            ...errorResponses('standard', [400, 401, 403, 404, 409]),
          },
        },
      },
      async (request, reply) => {
        const body = request.body;
        const flatDiscountCents = optionalDollarsToCents(body.flatDiscount, 'flatDiscount');
        const row = await promoCodes.create({
          organizationId: body.organizationId,
          code: body.code,
          percentDiscount: body.percentDiscount,
          flatDiscountCents,
          productBundleId: body.productBundleId ?? null,
          expiresAt: body.expiresAt ? new Date(body.expiresAt) : null,
          maxRedemptions: body.maxRedemptions ?? null,
        });
        return reply.code(201).send({ promoCode: promoJson(row) });
      },
    );

    app.get(
      '/promo-codes',
      {
        config: routeConfig,
        schema: {
          tags: ['admin'],
          summary: 'List promo codes (an organization’s and the global ones, or all)',
          description: 'Every promo code with its uses and limit, disabled ones included.',
          security,
          querystring: z.object({
            organizationId: z.uuid().optional().describe("Only this organization's promo codes (its id, a UUID)"),
          }),
          response: {
            200: z.object({ promoCodes: z.array(promoView) }),
            ...errorResponses('standard', [400, 401, 403]),
          },
        },
      },
      async (request) => ({
        promoCodes: (await promoCodes.list(request.query.organizationId ?? null)).map(promoJson),
      }),
    );

    app.delete(
      '/promo-codes/:promoCodeId',
      {
        config: routeConfig,
        schema: {
          tags: ['admin'],
          summary: 'Disable a promo code (kept for the payments that used it)',
          description: 'The code stops validating at once; the payments that used it keep their record of it.',
          security,
          params: z.object({ promoCodeId: promoCodeIdParam }),
          response: { 200: z.object({ promoCode: promoView }), ...errorResponses('standard', [401, 403, 404]) },
        },
      },
      async (request) => ({ promoCode: promoJson(await promoCodes.disable(request.params.promoCodeId)) }),
    );
  };
}
