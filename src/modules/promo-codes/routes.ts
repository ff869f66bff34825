import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { ApiError } from '../../http/api-error.ts';
import type { ProductService } from '../products/service.ts';
import type { PromoCodeService } from './service.ts';
import { errorResponses } from '../../http/envelopes.ts';
import { PARAMETER_DESCRIPTIONS } from '../../http/parameters.ts';

/** GET /api/v1/promo-codes (the Promo Code Validation endpoint): a valid code answers its one discount, anything else data: []. */
export function promoCodeRoutes(promoCodes: PromoCodeService, products: ProductService): FastifyPluginAsyncZod {
  return async (app) => {
    app.get(
      '/api/v1/promo-codes',
      {
        config: { auth: 'apiKey', envelope: 'payments' },
        schema: {
          tags: ['payments'],
          summary: 'Validate a promo code (global or this organization’s), optionally for a product bundle',
          description:
            "Step 1 of the Case Create page's payment workflow: check a code the customer typed before computing the amount of the PaymentIntent. A code that applies answers `success: true` with it in `data` (its `percentDiscount`, or `flatDiscount` in dollars); an unknown, expired, disabled or used-up code, or one for another bundle, answers `success: true` with `data: []`. A missing `code` is a 400.",
          security: [{ apiKey: [] }],
          // Checked by hand so the documented messages come out exactly.
          querystring: z.object({
            code: z
              .union([z.string(), z.array(z.string())])
              .optional()
              .describe('The promo code to check (required)'),
            product_bundle_id: z
              .union([z.string(), z.array(z.string())])
              .optional()
              .describe(`${PARAMETER_DESCRIPTIONS.bundleId}: the bundle the code must apply to (required)`),
          }),
          response: {
            200: z.object({
              success: z.literal(true),
              data: z.array(
                z.union([z.object({ percentDiscount: z.number() }), z.object({ flatDiscount: z.number() })]),
              ),
            }),
            ...errorResponses('payments', [400, 401]),
          },
        },
      },
      async (request) => {
        const first = (value: string | string[] | undefined) => (Array.isArray(value) ? value[0] : value);
        const code = first(request.query.code)?.trim();
        const bundleId = first(request.query.product_bundle_id)?.trim() || undefined;
        if (!code) throw new ApiError(400, 'Promo code is required');
        if (bundleId && !z.uuid().safeParse(bundleId).success) throw new ApiError(400, 'Invalid product bundle ID');
        const { tenant } = request.scope;
        // Another organization's bundle does not exist here, so no code applies to it.
        if (bundleId && !(await products.findBundle(tenant, bundleId))) {
          return { success: true as const, data: [] };
        }
        const result = await promoCodes.evaluate(tenant, code, bundleId);
        return { success: true as const, data: result.ok ? [result.discount] : [] };
      },
    );
  };
}
