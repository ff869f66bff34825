import type { FastifyInstance } from 'fastify';
import swagger from '@fastify/swagger';
import swaggerUi from '@fastify/swagger-ui';
import { jsonSchemaTransform } from 'fastify-type-provider-zod';

/**
 * OpenAPI 3.1 generated from the route schemas, at /openapi.json, and Swagger UI at /docs.
 * Swagger UI's assets ship inside the npm package and are served by this process: no CDN, so the
 * reference works offline and in air-gapped deployments.
 */
export async function registerOpenApi(app: FastifyInstance, version: string): Promise<void> {
  await app.register(swagger, {
    openapi: {
      openapi: '3.1.0',
      info: {
        title: 'care360 API',
        version,
        description:
          'A self-hostable implementation of the Care360 telehealth partner API. Authenticate with your ' +
          "organization's secret key in the `cv-api-key` header. The API is server to server: never send " +
          'the key from a browser. Decisions where the published documentation is silent: docs/api.md.',
      },
      components: {
        securitySchemes: {
          apiKey: { type: 'apiKey', in: 'header', name: 'cv-api-key' },
          adminToken: { type: 'http', scheme: 'bearer', description: 'ADMIN_TOKEN of the server' },
        },
      },
      tags: [
        { name: 'cases', description: 'Patient intake cases' },
        { name: 'forms', description: 'Forms and their questions' },
        { name: 'payments', description: 'Payments, holds, setup and payment intents' },
        { name: 'admin', description: 'Operator API, enabled by ADMIN_TOKEN' },
        { name: 'operations', description: 'Health and readiness' },
      ],
    },
    transform: jsonSchemaTransform,
  });

  // In a scope of its own: Swagger UI's Content-Security-Policy hook then runs on its pages only, not on every
  // API answer (those get a policy of their own, app.ts).
  await app.register(async (docs) => {
    await docs.register(swaggerUi, {
      routePrefix: '/docs',
      staticCSP: true,
      uiConfig: { persistAuthorization: true, tryItOutEnabled: true, validatorUrl: null, displayRequestDuration: true },
    });
  });

  app.get('/openapi.json', { schema: { hide: true } }, async () => app.swagger());
}
