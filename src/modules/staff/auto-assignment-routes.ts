import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import type { Database } from '../../db/database.ts';
import { ADMIN_SECURITY, organizationOfAdminPath } from '../../http/admin.ts';
import { ApiError } from '../../http/api-error.ts';
import { errorResponses } from '../../http/envelopes.ts';
import { organizationPathParams } from '../../http/parameters.ts';
import { OrganizationRepository } from '../organizations/repository.ts';
import { AutoAssignmentSettingsRepository } from './auto-assignment.ts';

export const autoAssignmentResponse = z.object({
  organizationId: z.uuid(),
  enabled: z.boolean().describe('Whether new OPEN cases (and ABANDONED ones set to OPEN) are assigned by rotation'),
  maxOpenCases: z
    .number()
    .int()
    .describe('The open cases (ASSIGNED or IN_PROGRESS, not archived) of the organization a provider may hold'),
});

const autoAssignmentBody = z.strictObject({
  enabled: z.boolean({ error: 'Must be true or false' }).optional(),
  maxOpenCases: z
    .number({ error: 'Must be a whole number from 1 to 10000' })
    .int({ error: 'Must be a whole number from 1 to 10000' })
    .min(1, { error: 'Must be a whole number from 1 to 10000' })
    .max(10000, { error: 'Must be a whole number from 1 to 10000' })
    .optional(),
});

const routeConfig = { auth: 'admin', envelope: 'standard' } as const;

/** An organization's auto-assignment settings under /admin/v1 (docs/api/staff.md#auto-assignment). */
export function adminAutoAssignmentRoutes(db: Database): FastifyPluginAsyncZod {
  const settingsOf = async (organizationId: string) => {
    if (!(await new OrganizationRepository(db).exists(organizationId))) {
      throw new ApiError(404, 'Organization not found');
    }
    return new AutoAssignmentSettingsRepository(db, organizationOfAdminPath(organizationId));
  };
  return async (app) => {
    app.get(
      '/organizations/:organizationId/auto-assignment',
      {
        config: routeConfig,
        schema: {
          tags: ['admin'],
          summary: "An organization's auto-assignment settings",
          description:
            'Off by default. When enabled, a new OPEN case (or an ABANDONED one set to OPEN) goes to the next ' +
            'licensed provider of the organization in turn, each holding at most maxOpenCases open cases ' +
            '(docs/api/staff.md#auto-assignment).',
          security: ADMIN_SECURITY,
          params: organizationPathParams,
          response: { 200: autoAssignmentResponse, ...errorResponses('standard', [400, 401, 403, 404]) },
        },
      },
      async (request) => ({
        organizationId: request.params.organizationId,
        ...(await (await settingsOf(request.params.organizationId)).get()),
      }),
    );

    app.patch(
      '/organizations/:organizationId/auto-assignment',
      {
        config: routeConfig,
        schema: {
          tags: ['admin'],
          summary: "Change an organization's auto-assignment settings",
          description:
            'enabled turns the rotation on or off; maxOpenCases (1 to 10000, default 10) caps the open cases a ' +
            'provider holds. Applies to cases opened from then on; cases already waiting stay in the queue.',
          security: ADMIN_SECURITY,
          params: organizationPathParams,
          body: autoAssignmentBody,
          response: { 200: autoAssignmentResponse, ...errorResponses('standard', [400, 401, 403, 404]) },
        },
      },
      async (request) => ({
        organizationId: request.params.organizationId,
        ...(await (await settingsOf(request.params.organizationId)).update(request.body)),
      }),
    );
  };
}
