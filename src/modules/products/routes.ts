import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { ApiError } from '../../http/api-error.ts';
import { errorResponses } from '../../http/envelopes.ts';
import type { ProductService } from './service.ts';
import { bundleJson, bundleView, productJson, productView } from './views.ts';
import { textParam } from '../../http/parameters.ts';

/** The Product Bundles List and Product Bundle Detail endpoints answer errors in their own family. */
const routeConfig = { auth: 'apiKey', envelope: 'bundles' } as const;
const security = [{ apiKey: [] }];

export function bundleRoutes(products: ProductService): FastifyPluginAsyncZod {
  return async (app) => {
    app.get(
      '/api/v1/organization/bundles',
      {
        config: routeConfig,
        schema: {
          tags: ['products'],
          summary: "List the organization's product bundles",
          description:
            'The product bundles a storefront offers, with their prices, visibility and sold-out state; `isVisible` keeps the visible or the hidden ones.',
          security,
          querystring: z.object({
            isVisible: z.enum(['true', 'false']).optional().describe('Only visible (true) or hidden (false) bundles'),
          }),
          response: {
            200: z.object({
              status: z.literal(200),
              success: z.literal(true),
              message: z.string(),
              data: z.array(bundleView),
            }),
            ...errorResponses('bundles', [400, 500]),
          },
        },
      },
      async (request) => {
        const { isVisible } = request.query;
        const rows = await products.listBundles(
          request.scope.tenant,
          isVisible === undefined ? undefined : isVisible === 'true',
        );
        return {
          status: 200 as const,
          success: true as const,
          message: 'Products return successfully',
          data: rows.map(bundleJson),
        };
      },
    );

    app.get(
      '/api/v1/organization/bundles/:bundleId',
      {
        config: routeConfig,
        schema: {
          tags: ['products'],
          summary: 'One product bundle with its products',
          description:
            "A product bundle of the organization with its products. Another organization's bundle answers 404.",
          security,
          params: z.object({ bundleId: textParam('bundleId') }),
          querystring: z.object({
            includeIntakeForm: z
              .enum(['true', 'false'])
              .optional()
              .describe('Accepted; bundles carry no intake form here'),
          }),
          response: {
            200: z.object({
              status: z.literal(200),
              success: z.literal(true),
              message: z.string(),
              data: bundleView.extend({ products: z.array(productView) }),
            }),
            ...errorResponses('bundles', [400, 404, 500]),
          },
        },
      },
      async (request) => {
        const { bundleId } = request.params;
        if (!z.uuid().safeParse(bundleId).success) throw new ApiError(400, 'bundleId must be a UUID');
        const { tenant } = request.scope;
        const bundle = await products.findBundle(tenant, bundleId);
        if (!bundle) throw new ApiError(404, 'Product bundle not found');
        const items = await products.listProducts(tenant, bundle.id);
        return {
          status: 200 as const,
          success: true as const,
          message: 'Product bundle returned successfully',
          data: { ...bundleJson(bundle), products: items.map(productJson) },
        };
      },
    );
  };
}
