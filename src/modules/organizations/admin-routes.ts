import { z } from 'zod';
import { ADMIN_SECURITY } from '../../http/admin.ts';
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import type { OrganizationService } from './service.ts';
import type { ApiKeyRow, OrganizationRow } from './repository.ts';
import { errorResponses } from '../../http/envelopes.ts';
import { apiKeyIdParam, organizationPathParams } from '../../http/parameters.ts';

const routeConfig = { auth: 'admin', envelope: 'standard' } as const;
const security = ADMIN_SECURITY;

const organizationIdParams = organizationPathParams;

/** An organization's name, for its creation, its renaming and the CLI's `org rename`. */
export const organizationNameSchema = z.string().trim().min(1).max(200);

const organizationSchema = z.object({
  id: z.uuid(),
  name: z.string(),
  createdAt: z.string(),
  activeApiKeys: z.number(),
});

function organizationView(row: OrganizationRow): z.infer<typeof organizationSchema> {
  return { id: row.id, name: row.name, createdAt: row.created_at.toISOString(), activeApiKeys: row.active_api_keys };
}

const apiKeySchema = z.object({
  id: z.uuid(),
  prefix: z.string().describe('The non-secret head of the key, to tell keys apart'),
  label: z.string().nullable(),
  createdAt: z.string(),
  lastUsedAt: z.string().nullable(),
  revokedAt: z.string().nullable(),
});

function apiKeyView(row: ApiKeyRow): z.infer<typeof apiKeySchema> {
  return {
    id: row.id,
    prefix: row.key_prefix,
    label: row.label,
    createdAt: row.created_at.toISOString(),
    lastUsedAt: row.last_used_at?.toISOString() ?? null,
    revokedAt: row.revoked_at?.toISOString() ?? null,
  };
}

/** The operator API under /admin/v1, mounted only when ADMIN_TOKEN is set. */
export function adminOrganizationRoutes(organizations: OrganizationService): FastifyPluginAsyncZod {
  return async (app) => {
    app.post(
      '/organizations',
      {
        config: routeConfig,
        schema: {
          tags: ['admin'],
          summary: 'Create an organization and its first API key',
          description:
            'Answers the organization and its first `cv-api-key` secret, shown this once: the server keeps only its hash.',
          security,
          body: z.object({ name: organizationNameSchema }),
          response: {
            201: z.object({
              organizationId: z.uuid(),
              apiKey: z.string().describe('Shown once; only its hash is stored'),
              apiKeyId: z.uuid(),
            }),
            ...errorResponses('standard', [400, 401, 403]),
          },
        },
      },
      async (request, reply) => {
        const created = await organizations.createOrganization(request.body.name);
        return reply.code(201).send(created);
      },
    );

    app.get(
      '/organizations',
      {
        config: routeConfig,
        schema: {
          tags: ['admin'],
          summary: 'List organizations',
          description: 'Every organization with its number of active API keys.',
          security,
          response: {
            200: z.object({ organizations: z.array(organizationSchema) }),
            ...errorResponses('standard', [401, 403]),
          },
        },
      },
      async () => ({ organizations: (await organizations.listOrganizations()).map(organizationView) }),
    );

    app.patch(
      '/organizations/:organizationId',
      {
        config: { ...routeConfig, audit: { action: 'organization.rename', resourceType: 'organization' } },
        schema: {
          tags: ['admin'],
          summary: 'Rename an organization',
          description:
            'Changes the name the operator pages, the console and the audit log show; the id, keys and cases stay. ' +
            'A name empty after trimming or longer than 200 characters is 400; an unknown organization 404.',
          security,
          params: organizationIdParams,
          body: z.object({ name: organizationNameSchema }),
          response: {
            200: z.object({ organization: organizationSchema }),
            ...errorResponses('standard', [400, 401, 403, 404]),
          },
        },
      },
      async (request) => {
        const renamed = await organizations.renameOrganization(request.params.organizationId, request.body.name);
        request.auditOrganizationId = renamed.id;
        return { organization: organizationView(renamed) };
      },
    );

    app.get(
      '/organizations/:organizationId/api-keys',
      {
        config: routeConfig,
        schema: {
          tags: ['admin'],
          summary: "List an organization's API keys (never the secrets)",
          description:
            "Each key's id, label, non-secret prefix, creation, last use and revocation time; the secrets are never shown again.",
          security,
          params: organizationIdParams,
          response: {
            200: z.object({ apiKeys: z.array(apiKeySchema) }),
            ...errorResponses('standard', [401, 403, 404]),
          },
        },
      },
      async (request) => ({
        apiKeys: (await organizations.listApiKeys(request.params.organizationId)).map(apiKeyView),
      }),
    );

    app.post(
      '/organizations/:organizationId/api-keys',
      {
        config: routeConfig,
        schema: {
          tags: ['admin'],
          summary: 'Create another API key for an organization',
          description:
            'A new secret, shown this once; use it to rotate keys without downtime (create, deploy, revoke the old one).',
          security,
          params: organizationIdParams,
          body: z.object({ label: z.string().trim().max(200).optional() }).optional(),
          response: {
            201: z.object({ apiKeyId: z.uuid(), apiKey: z.string() }),
            ...errorResponses('standard', [401, 403, 404]),
          },
        },
      },
      async (request, reply) => {
        const issued = await organizations.createApiKey(request.params.organizationId, request.body?.label ?? null);
        return reply.code(201).send(issued);
      },
    );

    app.delete(
      '/organizations/:organizationId/api-keys/:apiKeyId',
      {
        config: routeConfig,
        schema: {
          tags: ['admin'],
          summary: 'Revoke an API key (takes effect at once)',
          description: 'Requests with the key are refused from the next one on.',
          security,
          params: organizationIdParams.extend({ apiKeyId: apiKeyIdParam }),
          response: { 200: z.object({ apiKey: apiKeySchema }), ...errorResponses('standard', [401, 403, 404]) },
        },
      },
      async (request) => ({
        apiKey: apiKeyView(await organizations.revokeApiKey(request.params.organizationId, request.params.apiKeyId)),
      }),
    );
  };
}
