import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { ADMIN_SECURITY } from '../../http/admin.ts';
import { z } from 'zod';
import { ApiError } from '../../http/api-error.ts';
import { errorResponses } from '../../http/envelopes.ts';
import { STAFF_ROLES } from './roles.ts';
import type { StaffService } from './service.ts';
import { textParam } from '../../http/parameters.ts';

const routeConfig = { auth: 'admin', envelope: 'standard' } as const;
const security = ADMIN_SECURITY;

const name = z.string().trim().min(1).max(100);

export const staffViewSchema = z.object({
  staffId: z.uuid(),
  email: z.string(),
  firstName: z.string(),
  lastName: z.string(),
  role: z.enum(STAFF_ROLES),
  organizationIds: z.array(z.uuid()).nullable().describe('Null: every organization'),
  title: z.string().nullable(),
  npi: z.string().nullable(),
  dea: z.string().nullable(),
  licensedStates: z.array(z.string()),
  totpEnabled: z.boolean(),
  hasPassword: z.boolean(),
  disabled: z.boolean(),
  createdAt: z.string(),
});

export const setPasswordSchema = z
  .object({
    token: z.string().describe('Shown once: the console sets the password with it (POST /staff/v1/auth/set-password)'),
    expiresAt: z.string(),
  })
  .describe('A one-time set-password link, valid 24 hours');

const staffIdParams = z.object({ staffId: textParam('staffId', 100) });

/** The body of staff creation, named in the API reference (src/http/openapi-components.ts). */
export const staffCreateBody = z.strictObject({
  email: z.email().max(254),
  firstName: name,
  lastName: name,
  role: z.enum(STAFF_ROLES),
  organizationIds: z.array(z.string().max(100)).max(1000).optional().describe('Omitted: every organization'),
  password: z.string().max(1000).optional(),
  title: z.string().trim().min(1).max(100).optional(),
  npi: z
    .string()
    .regex(/^\d{10}$/)
    .optional()
    .describe('National Provider Identifier (10 digits)'),
  dea: z
    .string()
    .regex(/^[A-Za-z]{2}\d{7}$/)
    .optional()
    .describe('DEA registration number'),
  licensedStates: z
    .array(z.string().regex(/^[A-Za-z]{2}$/))
    .max(60)
    .optional(),
});

/** The operator's management of staff accounts, under /admin/v1 (ADMIN_TOKEN). */
export function adminStaffRoutes(staff: StaffService): FastifyPluginAsyncZod {
  return async (app) => {
    app.post(
      '/staff',
      {
        config: routeConfig,
        schema: {
          tags: ['admin'],
          summary: 'Create a staff member (ADMIN, PROVIDER or SUPPORT)',
          description: 'Without a password the answer carries a one-time set-password link. See docs/api/staff.md.',
          security,
          body: staffCreateBody,
          response: {
            201: staffViewSchema.extend({ setPassword: setPasswordSchema.nullable() }),
            ...errorResponses('standard', [400, 401, 403, 409]),
          },
        },
      },
      async (request, reply) => {
        const { staff: created, setPassword } = await staff.create(request.body);
        return reply.code(201).send({ ...created, setPassword });
      },
    );

    app.get(
      '/staff',
      {
        config: routeConfig,
        schema: {
          tags: ['admin'],
          summary: 'List staff members',
          description:
            'Every staff account, disabled ones included, oldest first; never a password hash or TOTP secret.',
          security,
          response: { 200: z.object({ staff: z.array(staffViewSchema) }), ...errorResponses('standard', [401, 403]) },
        },
      },
      async () => ({ staff: await staff.list() }),
    );

    app.post(
      '/staff/:staffId/disable',
      {
        config: routeConfig,
        schema: {
          tags: ['admin'],
          summary: 'Disable a staff member and end their sessions',
          description:
            'The member can no longer sign in, and every session ends now; disabling again answers the member as it ' +
            'is. 404 when there is no such staff member.',
          security,
          params: staffIdParams,
          response: { 200: staffViewSchema, ...errorResponses('standard', [401, 403, 404]) },
        },
      },
      async (request) => staff.disable(request.params.staffId),
    );

    app.post(
      '/staff/:staffId/reset-password',
      {
        config: routeConfig,
        schema: {
          tags: ['admin'],
          summary: 'Issue a new one-time set-password link',
          description:
            'The token is shown once and works for 24 hours; the current password keeps working until it is used, ' +
            'which ends every session. 404 for no such member, 409 for a disabled one.',
          security,
          params: staffIdParams,
          response: {
            200: z.object({ setPassword: setPasswordSchema }),
            ...errorResponses('standard', [401, 403, 404, 409]),
          },
        },
      },
      async (request) => {
        const link = await staff.resetPassword(request.params.staffId);
        if (!link) throw new ApiError(404, 'Staff member not found');
        return { setPassword: link };
      },
    );
  };
}
