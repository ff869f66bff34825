import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import type { Database } from '../../db/database.ts';
import { ApiError } from '../../http/api-error.ts';
import { errorResponses } from '../../http/envelopes.ts';
import { PatientRepository } from './repository.ts';

const checkUserQuerySchema = z.object({
  email: z.string().max(320).optional().describe('The email to look up (wins over phone-number)'),
  'phone-number': z.string().max(32).optional().describe('E.164, with `+` sent as %2B'),
});

const checkUserSuccessSchema = z
  .object({
    status: z.literal(200),
    success: z.boolean(),
    message: z.string(),
    data: z.object({
      code: z.enum(['EMAIL_EXISTS', 'PHONE_NUMBER_EXISTS', 'USER_NOT_FOUND']),
      createdAt: z.string().optional(),
      existsInCurrentOrganization: z.boolean().optional(),
    }),
  })
  .meta({
    examples: [
      {
        status: 200,
        success: true,
        message: 'Email already exists',
        data: { createdAt: '2024-09-04T12:00:00.000Z', existsInCurrentOrganization: true, code: 'EMAIL_EXISTS' },
      },
      { status: 200, success: false, message: 'User does not exist', data: { code: 'USER_NOT_FOUND' } },
    ],
  });

const present = (value: string | undefined): string | undefined =>
  value === undefined || value.trim() === '' ? undefined : value.trim();

/**
 * GET /api/v1/check-user: whether a user (patient) with this email or phone number exists. Only the calling
 * organization's patients are looked at, so `existsInCurrentOrganization` is true whenever one is found: the
 * patients of another organization are never revealed (docs/api/users.md).
 */
export function userRoutes(db: Database): FastifyPluginAsyncZod {
  return async (app) => {
    app.get(
      '/api/v1/check-user',
      {
        config: { auth: 'apiKey', envelope: 'users', audit: { action: 'patient.check', resourceType: 'patient' } },
        schema: {
          tags: ['users'],
          summary: 'Whether a user with this email or phone number exists',
          description: 'An unknown user is a 200 with success false and code USER_NOT_FOUND. See docs/api/users.md.',
          security: [{ apiKey: [] }],
          querystring: checkUserQuerySchema,
          response: { 200: checkUserSuccessSchema, ...errorResponses('users', [400, 401]) },
        },
      },
      async (request) => {
        const email = present(request.query.email)?.toLowerCase();
        const phoneNumber = present(request.query['phone-number']);
        if (email === undefined && phoneNumber === undefined) {
          throw new ApiError(400, "The 'email' or 'phone-number' param is required");
        }
        const patients = new PatientRepository(db, request.scope.tenant);
        const found = await patients.createdAtOf(email !== undefined ? { email } : { phoneNumber: phoneNumber! });
        if (found === null) {
          return {
            status: 200 as const,
            success: false,
            message: 'User does not exist',
            data: { code: 'USER_NOT_FOUND' as const },
          };
        }
        request.auditResourceId = found.id;
        return {
          status: 200 as const,
          success: true,
          message: email !== undefined ? 'Email already exists' : 'Phone number already exists',
          data: {
            createdAt: found.created_at.toISOString(),
            existsInCurrentOrganization: true,
            code: email !== undefined ? ('EMAIL_EXISTS' as const) : ('PHONE_NUMBER_EXISTS' as const),
          },
        };
      },
    );
  };
}
