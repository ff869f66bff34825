import { createHash } from 'node:crypto';
import { STATUS_CODES } from 'node:http';
import type { FastifyInstance } from 'fastify';
import swagger from '@fastify/swagger';
import scalar from '@scalar/fastify-api-reference';
import { jsonSchemaTransform, jsonSchemaTransformObject } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { errorResponses, type EnvelopeName } from './envelopes.ts';
import { addPublishedExamples } from './openapi-examples.ts';
import { registerComponentSchemas } from './openapi-components.ts';

const DESCRIPTION = `A self-hostable implementation of the Care360 telehealth partner API: a storefront sends patient
**cases** (patient details, a questionnaire with typed answers, a payment through Stripe or NMI) and follows them.

## Authentication

Send your organization's secret key in the \`cv-api-key\` header. The key is a server secret: a browser must never
hold it. An intake page in a browser talks to a relay on the storefront's own server, which adds the key (the
\`@care360/client/relay\` handler of the \`packages/client\` package does this).

In this reference, enter the key once under **Authentication**; it is kept in this browser's local storage.

## Errors

Each endpoint family answers errors in the envelope of its published page: the case endpoints
\`{"success": false, "error": "..."}\`, the payment endpoints \`{"success": false, "message": "..."}\`, an
unknown key \`{"status": 401, "error": "..."}\`, a reused \`idempotencyKey\` \`409 {"code": "IDEMPOTENCY_ERROR"}\`.

## Where the published pages are silent

The decisions this server made are written in the care360 source, \`docs/api/README.md\` (one page per area).`;

/** The tags operations carry (route schemas), in reading order; `x-tagGroups` puts the storefront's first. */
const TAGS = [
  {
    name: 'cases',
    description: 'Create patient cases (the Case Create endpoint) and read them: the case detail, the case list',
  },
  { name: 'forms', description: 'The forms a case answers, with their questions' },
  { name: 'users', description: 'The users (patients) of the organization: check-user' },
  {
    name: 'payments',
    description: 'Promo codes, SetupIntents and PaymentIntents for the intake, case payments and their holds',
  },
  { name: 'products', description: 'Product bundles of the organization' },
  { name: 'webhooks', description: 'Events this server receives from payment gateways' },
  { name: 'admin', description: 'Operator API, enabled by ADMIN_TOKEN' },
  { name: 'operations', description: 'Health and readiness' },
  { name: 'staff', description: "The clinic's staff API: sign-in, the case queue, assignment and decisions" },
];
const TAG_GROUPS = [
  { name: 'Storefront API (cv-api-key)', tags: ['cases', 'forms', 'users', 'payments', 'products'] },
  { name: 'Server', tags: ['webhooks', 'operations'] },
  { name: 'Clinic staff (staff session)', tags: ['staff'] },
  { name: 'Operators (ADMIN_TOKEN)', tags: ['admin'] },
];

/**
 * An operationId from the method and path, for routes that do not name one: `POST /api/v1/dynamic-case` ->
 * `postDynamicCase`, `GET /api/v1/cases/:caseId/payments/:paymentId` -> `getCasesByCaseIdPaymentsByPaymentId`.
 * The `/api` prefix and version segments are dropped; `/admin/v1/...` keeps `admin`.
 */
export function operationIdFor(method: string, url: string): string {
  const words = url
    .split('/')
    .filter((segment) => segment !== '' && segment !== 'api' && !/^v\d+$/.test(segment))
    .map((segment) =>
      segment.startsWith(':') || segment.startsWith('{') ? `by-${segment.replace(/[:{}]/g, '')}` : segment,
    )
    .flatMap((segment) => segment.split(/[-_.]/))
    .filter(Boolean);
  const pascal = words.map((word) => word.charAt(0).toUpperCase() + word.slice(1)).join('');
  return `${method.toLowerCase()}${pascal}`;
}

type TransformInput = Parameters<typeof jsonSchemaTransform>[0];

/** What transform() tells finishDocument() of a route whose body may be absent (@fastify/swagger copies x- keys). */
const OPTIONAL_BODY = 'x-care360-optional-body';

/**
 * The error statuses the server answers on a route whatever its handler does, each in the route's envelope
 * (src/http/error-handler.ts): the 429 of the rate limits (src/http/rate-limit.ts); on a route that takes a JSON
 * body, 413 (over BODY_LIMIT_BYTES) and 415 (not application/json), which Fastify's body parser raises; the 503 of
 * the request time limit (src/http/time-limit.ts) and of a database that does not answer. A status the route
 * declares itself keeps the route's schema (the readiness probe's 503 is its own report).
 */
function frameworkStatuses(input: TransformInput): number[] {
  const config = input.route.config as { rateLimit?: false } | undefined;
  const takesBody = (input.schema as { body?: unknown } | undefined)?.body !== undefined;
  return [...(config?.rateLimit === false ? [] : [429]), ...(takesBody ? [413, 415] : []), 503];
}

/**
 * The route schemas (zod) as JSON Schema, plus what every operation must carry and a route may not say itself: an
 * operationId, `security: []` on routes that take no key header (so the document says they are public), and the
 * error statuses of frameworkStatuses().
 */
function transform(input: TransformInput): ReturnType<typeof jsonSchemaTransform> {
  const config = input.route.config as { auth?: string; envelope?: EnvelopeName } | undefined;
  const response = (input.schema as { response?: Record<string, unknown> } | undefined)?.response;
  const added = response ? frameworkStatuses(input).filter((status) => !(String(status) in response)) : [];
  const result = jsonSchemaTransform(
    added.length > 0
      ? {
          ...input,
          schema: {
            ...input.schema,
            response: { ...response, ...errorResponses(config?.envelope ?? 'standard', added) },
          },
        }
      : input,
  );
  const schema = { ...(result.schema as Record<string, unknown>) };
  const method = Array.isArray(input.route.method) ? String(input.route.method[0]) : String(input.route.method);
  schema.operationId ??= operationIdFor(method, result.url);
  const auth = config?.auth;
  if (schema.security === undefined && auth !== 'apiKey' && auth !== 'admin') schema.security = [];
  // @fastify/swagger marks every request body required; a body the route declares `.optional()` is not.
  if ((input.route.schema as { body?: unknown } | undefined)?.body instanceof z.ZodOptional) {
    schema[OPTIONAL_BODY] = true;
  }
  return { ...result, schema };
}

/** What the statuses of frameworkStatuses() mean, wherever a route does not describe them itself. */
const STATUS_DESCRIPTIONS: Record<string, string> = {
  '413': 'Payload Too Large: the body (or a file it carries) is over the server limit',
  '415': 'Unsupported Media Type: a body must be sent as application/json',
  '429': 'Too Many Requests: a rate limit; retry after the seconds of its Retry-After header',
  '503':
    'Service Unavailable: the request outlived the time limit (the connection is closed after it), or the database ' +
    '(on a payment endpoint, the payment provider) is unavailable; retry, with the same idempotency key if any',
};

/**
 * What the whole document gets once built: the tag groups, the published examples, and a response description
 * where a route gives none (STATUS_DESCRIPTIONS or the HTTP reason phrase instead of @fastify/swagger's "Default
 * Response").
 */
function finishDocument(document: object): Record<string, unknown> {
  const paths = (
    document as {
      paths?: Record<
        string,
        Record<
          string,
          {
            responses?: Record<string, { description?: string }>;
            requestBody?: { required?: boolean };
            [OPTIONAL_BODY]?: boolean;
          }
        >
      >;
    }
  ).paths;
  for (const operation of Object.values(paths ?? {}).flatMap((item) => Object.values(item))) {
    for (const [status, response] of Object.entries(operation.responses ?? {})) {
      if (response.description === 'Default Response') {
        response.description = STATUS_DESCRIPTIONS[status] ?? STATUS_CODES[status] ?? status;
      }
    }
    if (operation[OPTIONAL_BODY]) {
      delete operation[OPTIONAL_BODY];
      if (operation.requestBody) operation.requestBody.required = false;
    }
  }
  return addPublishedExamples(withoutUnusedComponents({ ...document, 'x-tagGroups': TAG_GROUPS }));
}

const REF = /"#\/components\/schemas\/([^"]+)"/g;

/**
 * The document without the component schemas no operation reaches: each named schema is emitted both as read and
 * as written (`Name` and `NameInput`), and a route uses one of them.
 */
function withoutUnusedComponents(document: Record<string, unknown>): Record<string, unknown> {
  const components = document.components as { schemas?: Record<string, unknown> } | undefined;
  const schemas = components?.schemas;
  if (!schemas) return document;
  const used = new Set<string>();
  let pending = [...JSON.stringify(document.paths).matchAll(REF)].map((match) => match[1]!);
  while (pending.length > 0) {
    const name = pending.pop()!;
    if (used.has(name)) continue;
    used.add(name);
    pending = pending.concat([...JSON.stringify(schemas[name] ?? {}).matchAll(REF)].map((match) => match[1]!));
  }
  const kept = Object.fromEntries(Object.entries(schemas).filter(([name]) => used.has(name)));
  return { ...document, components: { ...components, schemas: kept } };
}

/** The CSP hash source of each inline script of a page (the reference's configuration is one). */
function inlineScriptHashes(html: string): string[] {
  return [...html.matchAll(/<script(?![^>]*\bsrc=)[^>]*>([\s\S]*?)<\/script>/g)].map(
    (match) =>
      `'sha256-${createHash('sha256')
        .update(match[1] ?? '')
        .digest('base64')}'`,
  );
}

/**
 * The reference's policy: everything from this origin, the configuration script by its hash. No
 * `upgrade-insecure-requests`, so it works over plain HTTP under any host name (HOST=0.0.0.0) as over HTTPS;
 * `connect-src 'self'` keeps "try it" on this server.
 */
function docsContentSecurityPolicy(scriptHashes: string[]): string {
  return [
    "default-src 'none'",
    `script-src 'self' ${scriptHashes.join(' ')}`.trim(),
    // The reference's components set style attributes at run time.
    "style-src 'self' 'unsafe-inline'",
    "img-src 'self' data: blob:",
    "font-src 'self' data:",
    "connect-src 'self'",
    "manifest-src 'self'",
    "base-uri 'none'",
    "form-action 'none'",
    "frame-ancestors 'none'",
  ].join('; ');
}

/**
 * OpenAPI 3.1 generated from the route schemas, at /openapi.json, and the Scalar API reference at /docs.
 * Scalar's browser bundle ships inside its npm package and is served by this process (no CDN, no web fonts,
 * no proxy): the reference works offline and in air-gapped deployments. Why Scalar: docs/api/README.md.
 */
export async function registerOpenApi(app: FastifyInstance, version: string): Promise<void> {
  registerComponentSchemas();
  await app.register(swagger, {
    openapi: {
      openapi: '3.1.0',
      info: {
        title: 'care360 API',
        version,
        description: DESCRIPTION,
        license: { name: 'Apache-2.0', identifier: 'Apache-2.0' },
      },
      // Relative: the server the document was read from, whatever name or scheme it was reached by.
      servers: [{ url: '/', description: 'This care360 server' }],
      components: {
        securitySchemes: {
          apiKey: {
            type: 'apiKey',
            in: 'header',
            name: 'cv-api-key',
            description: "Your organization's secret API key (server side only)",
          },
          adminToken: { type: 'http', scheme: 'bearer', description: 'ADMIN_TOKEN of the server' },
          staffSession: {
            type: 'http',
            scheme: 'bearer',
            description:
              'A staff access token from POST /staff/v1/auth/login (or its session cookie with x-csrf-token)',
          },
        },
      },
      tags: TAGS,
    },
    transform,
    // Schemas given an `id` (zod's `.meta({ id })`) become named components, referenced where used.
    transformObject: (documentObject) =>
      finishDocument('openapiObject' in documentObject ? jsonSchemaTransformObject(documentObject) : {}),
  });

  await app.register(async (docs) => {
    // The reference's own pages: a policy of their own instead of the API answers' (app.ts).
    docs.addHook('onSend', async (_request, reply, payload) => {
      const type = String(reply.getHeader('content-type') ?? '');
      const hashes = type.startsWith('text/html') && typeof payload === 'string' ? inlineScriptHashes(payload) : [];
      reply.header('content-security-policy', docsContentSecurityPolicy(hashes));
      reply.header('cache-control', 'no-cache');
      return payload;
    });
    await docs.register(scalar, {
      routePrefix: '/docs',
      configuration: {
        url: '/openapi.json',
        pageTitle: 'care360 API',
        favicon: 'data:,', // no /favicon.ico request
        title: 'care360 API',
        theme: 'default',
        withDefaultFonts: false,
        telemetry: false,
        agent: { disabled: true }, // its assistant calls Scalar's servers
        persistAuth: true,
        hideClientButton: false,
        showDeveloperTools: 'never',
        authentication: { preferredSecurityScheme: 'apiKey' },
        defaultHttpClient: { targetKey: 'shell', clientKey: 'curl' },
      },
    });
  });

  app.get('/openapi.json', { schema: { hide: true } }, async () => app.swagger());
}
