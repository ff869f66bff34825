import type { FastifyError, FastifyReply, FastifyRequest } from 'fastify';
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { ApiError } from '../../http/api-error.ts';
import { centsToDecimalString } from '../../money.ts';
import type { ProductBundleRow, ProductRow } from './repository.ts';
import type { ProductService } from './service.ts';

/**
 * GET /api/v1/organization/bundles and /bundles/:id (reference 2.16/2.17). This family answers every
 * error, a missing or invalid cv-api-key included, as HTTP 400/404/500 with
 * `{status, success:false, message, error}` (envelope "G" of the reference).
 */
const bundleError = z.object({ status: z.number(), success: z.literal(false), message: z.string(), error: z.string() });

const bundleView = z.object({
  id: z.uuid(),
  name: z.string(),
  imageUrl: z.string().nullable(),
  description: z.string().nullable(),
  price: z.string().describe('Decimal string, e.g. "99.99"'),
  priceUnit: z.string(),
  initialDiscount: z.string().describe('Decimal string, e.g. "10.00"'),
  isSoldOut: z.boolean(),
  isVisible: z.boolean(),
});

const productView = z.object({
  id: z.uuid(),
  name: z.string(),
  description: z.string().nullable(),
  price: z.string(),
  priceUnit: z.string(),
});

export function bundleJson(row: ProductBundleRow): z.infer<typeof bundleView> {
  return {
    id: row.id,
    name: row.name,
    imageUrl: row.image_url,
    description: row.description,
    price: centsToDecimalString(row.price_cents),
    priceUnit: row.price_unit,
    initialDiscount: centsToDecimalString(row.initial_discount_cents),
    isSoldOut: row.is_sold_out,
    isVisible: row.is_visible,
  };
}

export function productJson(row: ProductRow): z.infer<typeof productView> {
  return {
    id: row.id,
    name: row.name,
    description: row.description,
    price: centsToDecimalString(row.price_cents),
    priceUnit: row.price_unit,
  };
}

function errorBody(status: number, message: string, error: string) {
  return { status, success: false as const, message, error };
}

const routeConfig = { auth: 'apiKey', envelope: 'payments' } as const;
const security = [{ apiKey: [] }];

export function bundleRoutes(products: ProductService): FastifyPluginAsyncZod {
  return async (app) => {
    // The documented family answers an auth failure with 400, not 401.
    app.addHook('onSend', async (_request: FastifyRequest, reply: FastifyReply, payload) => {
      if (reply.statusCode !== 401) return payload;
      reply.code(400);
      return JSON.stringify(errorBody(400, 'Invalid request parameters', 'Invalid API key'));
    });
    app.setErrorHandler((error: FastifyError, request, reply) => {
      if (error instanceof ApiError && error.statusCode < 500) {
        const message = error.statusCode === 404 ? error.message : 'Invalid request parameters';
        return reply.code(error.statusCode).send(errorBody(error.statusCode, message, error.message));
      }
      if (error.validation) {
        const first = error.validation[0];
        const field = first?.instancePath.replace(/^\//, '') || error.validationContext || 'request';
        return reply
          .code(400)
          .send(errorBody(400, 'Invalid request parameters', `${field}: ${first?.message ?? 'is invalid'}`));
      }
      if (error.statusCode && error.statusCode >= 400 && error.statusCode < 500) {
        return reply
          .code(error.statusCode)
          .send(errorBody(error.statusCode, 'Invalid request parameters', error.message));
      }
      request.log.error({ err: error }, 'unhandled error');
      return reply.code(500).send(errorBody(500, 'Internal server error', 'Internal server error'));
    });

    app.get(
      '/api/v1/organization/bundles',
      {
        config: routeConfig,
        schema: {
          tags: ['products'],
          summary: "List the organization's product bundles",
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
            400: bundleError,
            500: bundleError,
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
          security,
          params: z.object({ bundleId: z.string() }),
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
            400: bundleError,
            404: bundleError,
            500: bundleError,
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
