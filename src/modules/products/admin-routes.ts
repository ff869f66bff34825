import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { ADMIN_SECURITY, organizationOfAdminPath } from '../../http/admin.ts';
import { optionalDollarsToCents } from '../../money.ts';
import { bundleJson, productJson } from './views.ts';
import type { ProductService } from './service.ts';
import { errorResponses } from '../../http/envelopes.ts';
import { bundleIdParam, organizationPathParams } from '../../http/parameters.ts';

const routeConfig = { auth: 'admin', envelope: 'standard' } as const;
const security = ADMIN_SECURITY;
const money = z.union([z.number().nonnegative(), z.string()]).describe('Dollars: 99.99 or "99.99"');

const bundleBody = z.object({
  name: z.string().trim().min(1).max(200),
  description: z.string().max(5000).nullable().optional(),
  imageUrl: z.url().nullable().optional(),
  price: money,
  priceUnit: z.string().trim().length(3).optional(),
  initialDiscount: money.optional(),
  isSoldOut: z.boolean().optional(),
  isVisible: z.boolean().optional(),
});

const bundleResponse = z.object({
  bundle: z.object({
    id: z.uuid(),
    name: z.string(),
    imageUrl: z.string().nullable(),
    description: z.string().nullable(),
    price: z.string(),
    priceUnit: z.string(),
    initialDiscount: z.string(),
    isSoldOut: z.boolean(),
    isVisible: z.boolean(),
  }),
});

const productResponse = z.object({
  id: z.uuid(),
  name: z.string(),
  description: z.string().nullable(),
  price: z.string(),
  priceUnit: z.string(),
  productBundleId: z.uuid().nullable(),
});

const organizationParams = organizationPathParams;

/** Operator management of product bundles and products under /admin/v1. */
export function adminProductRoutes(products: ProductService): FastifyPluginAsyncZod {
  return async (app) => {
    app.post(
      '/organizations/:organizationId/bundles',
      {
        config: routeConfig,
        schema: {
          tags: ['admin'],
          summary: 'Create a product bundle',
          description:
            "A bundle with its price, shown by the storefront's product bundle endpoints; a promo code can be limited to it.",
          security,
          params: organizationParams,
          body: bundleBody,
          response: { 201: bundleResponse, ...errorResponses('standard', [400, 401, 403, 404]) },
        },
      },
      async (request, reply) => {
        const body = request.body;
        const bundle = await products.createBundle(organizationOfAdminPath(request.params.organizationId), {
          name: body.name,
          description: body.description ?? null,
          imageUrl: body.imageUrl ?? null,
          priceCents: optionalDollarsToCents(body.price, 'price')!,
          priceUnit: body.priceUnit?.toUpperCase(),
          initialDiscountCents: optionalDollarsToCents(body.initialDiscount, 'initialDiscount'),
          isSoldOut: body.isSoldOut,
          isVisible: body.isVisible,
        });
        return reply.code(201).send({ bundle: bundleJson(bundle) });
      },
    );

    app.patch(
      '/organizations/:organizationId/bundles/:bundleId',
      {
        config: routeConfig,
        schema: {
          tags: ['admin'],
          summary: 'Change a product bundle (price, visibility, sold out, ...)',
          description: 'Changes only the fields sent.',
          security,
          params: organizationParams.extend({ bundleId: bundleIdParam }),
          body: bundleBody.partial(),
          response: { 200: bundleResponse, ...errorResponses('standard', [400, 401, 403, 404]) },
        },
      },
      async (request) => {
        const body = request.body;
        const bundle = await products.updateBundle(
          organizationOfAdminPath(request.params.organizationId),
          request.params.bundleId,
          {
            name: body.name,
            description: body.description,
            imageUrl: body.imageUrl,
            priceCents: optionalDollarsToCents(body.price, 'price'),
            priceUnit: body.priceUnit?.toUpperCase(),
            initialDiscountCents: optionalDollarsToCents(body.initialDiscount, 'initialDiscount'),
            isSoldOut: body.isSoldOut,
            isVisible: body.isVisible,
          },
        );
        return { bundle: bundleJson(bundle) };
      },
    );

    app.get(
      '/organizations/:organizationId/bundles',
      {
        config: routeConfig,
        schema: {
          tags: ['admin'],
          summary: "List an organization's product bundles",
          description: 'Every bundle of the organization, hidden ones included.',
          security,
          params: organizationParams,
          response: {
            200: z.object({ bundles: z.array(bundleResponse.shape.bundle) }),
            ...errorResponses('standard', [401, 403]),
          },
        },
      },
      async (request) => ({
        bundles: (await products.listBundles(organizationOfAdminPath(request.params.organizationId))).map(bundleJson),
      }),
    );

    app.post(
      '/organizations/:organizationId/products',
      {
        config: routeConfig,
        schema: {
          tags: ['admin'],
          summary: 'Create a product, optionally in a bundle',
          description: 'A product of the organization, added to a bundle when `productBundleId` is sent.',
          security,
          params: organizationParams,
          body: z.object({
            name: z.string().trim().min(1).max(200),
            description: z.string().max(5000).nullable().optional(),
            price: money.optional(),
            priceUnit: z.string().trim().length(3).optional(),
            productBundleId: z.uuid().nullable().optional(),
          }),
          response: {
            201: z.object({ product: productResponse }),
            ...errorResponses('standard', [400, 401, 403, 404]),
          },
        },
      },
      async (request, reply) => {
        const body = request.body;
        const product = await products.createProduct(organizationOfAdminPath(request.params.organizationId), {
          name: body.name,
          description: body.description ?? null,
          priceCents: optionalDollarsToCents(body.price, 'price'),
          priceUnit: body.priceUnit?.toUpperCase(),
          productBundleId: body.productBundleId ?? null,
        });
        return reply
          .code(201)
          .send({ product: { ...productJson(product), productBundleId: product.product_bundle_id } });
      },
    );

    app.get(
      '/organizations/:organizationId/products',
      {
        config: routeConfig,
        schema: {
          tags: ['admin'],
          summary: "List an organization's products",
          description: 'Every product of the organization.',
          security,
          params: organizationParams,
          response: {
            200: z.object({ products: z.array(productResponse) }),
            ...errorResponses('standard', [401, 403]),
          },
        },
      },
      async (request) => ({
        products: (await products.listProducts(organizationOfAdminPath(request.params.organizationId))).map((row) => ({
          ...productJson(row),
          productBundleId: row.product_bundle_id,
        })),
      }),
    );
  };
}
