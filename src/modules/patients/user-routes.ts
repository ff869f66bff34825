import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import type { Database } from '../../db/database.ts';
import { ApiError } from '../../http/api-error.ts';
import { errorResponses } from '../../http/envelopes.ts';
import type { PhiCipher } from '../../crypto/phi.ts';
import type { IntakePaymentsProcessor } from '../payments/intake-processor.ts';
import { validationError } from '../cases/validation.ts';
import {
  parseData,
  updateEmailDataSchema,
  updatePaymentInfoDataSchema,
  updateProfileDataSchema,
  USER_ACTIONS,
  UserProfileService,
} from './profile-service.ts';
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

const userActionBodySchema = z
  .looseObject({
    action: z
      .string()
      .max(64)
      .optional()
      .describe(`Required: ${USER_ACTIONS.join(' or ')}`),
    data: z
      .unknown()
      .optional()
      .describe(
        'UPDATE_PROFILE: {email (required), firstName, lastName, dob, gender, phoneNumber, address, address2, city, ' +
          'state, country, postalCode, allergies, currentMedications, healthConditions, languagePreferences}. ' +
          'UPDATE_EMAIL: {currentEmail, newEmail}. UPDATE_PAYMENT_INFO: {stripeSetupId or nmiPaymentToken (exactly ' +
          'one), shippingAddress (optional)}, with the user named by `email` at the top level or in data',
      ),
  })
  .meta({
    examples: [
      {
        action: 'UPDATE_PROFILE',
        data: { email: 'john.doe@example.com', phoneNumber: '+11111111111', address: '1 ABC St', address2: null },
      },
      { action: 'UPDATE_EMAIL', data: { currentEmail: 'john.doe@example.com', newEmail: 'doe.john@example.com' } },
      {
        action: 'UPDATE_PAYMENT_INFO',
        email: 'john.doe@example.com',
        data: {
          stripeSetupId: 'seti_1Abc',
          shippingAddress: {
            addressLine1: '1 ABC St',
            addressLine2: '',
            city: 'NYC',
            state: 'NY',
            country: 'US',
            postalCode: '10101',
          },
        },
      },
    ],
  });

const paymentInfoSuccessSchema = z
  .object({
    status: z.literal(200),
    success: z.literal(true),
    data: z.object({ code: z.literal('PAYMENT_SETUP_UPDATED') }),
  })
  .meta({ example: { status: 200, success: true, data: { code: 'PAYMENT_SETUP_UPDATED' } } });

const userObjectSchema = z.object({
  email: z.string(),
  firstName: z.string(),
  lastName: z.string(),
  dob: z.string().nullable(),
  phoneNumber: z.string().nullable(),
  gender: z.string().nullable(),
  address: z.string().nullable(),
  address2: z.string().nullable(),
  city: z.string().nullable(),
  state: z.string().nullable(),
  country: z.string().nullable(),
  postalCode: z.string().nullable(),
});

const userActionSuccessSchema = z.object({
  status: z.literal(200),
  success: z.literal(true),
  message: z.string(),
  data: z.object({ user: userObjectSchema }),
});

const present = (value: string | undefined): string | undefined =>
  value === undefined || value.trim() === '' ? undefined : value.trim();

/**
 * GET /api/v1/check-user: whether a user (patient) with this email or phone number exists. Only the calling
 * organization's patients are looked at, so `existsInCurrentOrganization` is true whenever one is found: the
 * patients of another organization are never revealed (docs/api/users.md).
 */
export function userRoutes(
  db: Database,
  cipher: PhiCipher,
  payments: Pick<IntakePaymentsProcessor, 'replaceSavedMethod'>,
): FastifyPluginAsyncZod {
  const profiles = new UserProfileService(db, cipher);
  return async (app) => {
    app.post(
      '/api/v1/users',
      {
        config: { auth: 'apiKey', envelope: 'users', audit: { action: 'patient.update', resourceType: 'patient' } },
        schema: {
          tags: ['users'],
          summary: "Update a user's profile (UPDATE_PROFILE), email (UPDATE_EMAIL) or saved card (UPDATE_PAYMENT_INFO)",
          description:
            'Name, date of birth and gender are locked once a case of the user is assigned to a provider. ' +
            'The answer carries the user as stored; UPDATE_PAYMENT_INFO answers code PAYMENT_SETUP_UPDATED. ' +
            'See docs/api/users.md.',
          security: [{ apiKey: [] }],
          body: userActionBodySchema,
          response: {
            200: z.union([userActionSuccessSchema, paymentInfoSuccessSchema]),
            ...errorResponses('users', [400, 401, 503]),
          },
        },
      },
      async (request) => {
        const { action, data } = request.body;
        const { tenant } = request.scope;
        if (action === 'UPDATE_PAYMENT_INFO') {
          const input = parseData(updatePaymentInfoDataSchema, data);
          const topLevel = request.body.email;
          const given = input.email ?? (typeof topLevel === 'string' ? topLevel : undefined);
          if (given === undefined) throw validationError('email', 'Required');
          const patients = new PatientRepository(db, tenant);
          const patient = await patients.findByEmail(given.trim().toLowerCase());
          if (!patient) throw new ApiError(400, 'User does not exist');
          request.auditResourceId = patient.id;
          const source =
            input.stripeSetupId !== undefined
              ? { stripeSetupId: input.stripeSetupId.trim() }
              : { nmiPaymentToken: input.nmiPaymentToken!.trim() };
          await payments.replaceSavedMethod(tenant, patient.id, source, async (tx) => {
            if (input.shippingAddress) {
              await new PatientRepository(tx, tenant).updateShippingAddress(patient.id, {
                ...input.shippingAddress,
                addressLine2: input.shippingAddress.addressLine2 ?? undefined,
              });
            }
          });
          return { status: 200 as const, success: true as const, data: { code: 'PAYMENT_SETUP_UPDATED' as const } };
        }
        if (action === 'UPDATE_PROFILE') {
          const updated = await profiles.updateProfile(tenant, parseData(updateProfileDataSchema, data));
          request.auditResourceId = updated.patientId;
          return {
            status: 200 as const,
            success: true as const,
            message: 'Profile updated successfully',
            data: { user: updated.user },
          };
        }
        if (action === 'UPDATE_EMAIL') {
          const updated = await profiles.updateEmail(tenant, parseData(updateEmailDataSchema, data));
          request.auditResourceId = updated.patientId;
          return {
            status: 200 as const,
            success: true as const,
            message: 'Email updated successfully',
            data: { user: updated.user },
          };
        }
        throw new ApiError(
          400,
          action === undefined || action === ''
            ? `The 'action' param is required: one of ${USER_ACTIONS.join(', ')}`
            : `Unknown action ${JSON.stringify(action)}: one of ${USER_ACTIONS.join(', ')}`,
        );
      },
    );

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
