import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import type { Database } from '../../db/database.ts';
import { ApiError } from '../../http/api-error.ts';
import { OrganizationRepository } from '../organizations/repository.ts';
import { PaymentSettingsRepository } from './approval-charges.ts';
import type { PaymentService } from './service.ts';
import { errorResponses } from '../../http/envelopes.ts';
import { ADMIN_SECURITY, organizationOfAdminPath } from '../../http/admin.ts';
import { GATEWAY_CREDENTIAL_NAMES, gatewayCredentialsBody, type GatewayCredentialStore } from './credentials.ts';
import { organizationPathParams } from '../../http/parameters.ts';

export const credentialView = z.union([
  z.object({ set: z.literal(false) }),
  z.object({
    set: z.literal(true),
    last4: z.string().describe('The last four characters, to tell which key it is'),
    updatedAt: z.string(),
  }),
]);

export const credentialsResponse = z.object({
  organizationId: z.uuid(),
  credentials: z.object(
    Object.fromEntries(GATEWAY_CREDENTIAL_NAMES.map((name) => [name, credentialView])) as Record<
      (typeof GATEWAY_CREDENTIAL_NAMES)[number],
      typeof credentialView
    >,
  ),
});

const organizationParams = organizationPathParams;

/** Operator views of payments, and an organization's own gateway accounts, under /admin/v1. */
export function adminPaymentRoutes(
  db: Database,
  payments: PaymentService,
  credentials: GatewayCredentialStore,
): FastifyPluginAsyncZod {
  const settingsOf = async (organizationId: string) => {
    if (!(await new OrganizationRepository(db).exists(organizationId))) {
      throw new ApiError(404, 'Organization not found');
    }
    return new PaymentSettingsRepository(db, organizationOfAdminPath(organizationId));
  };
  const settingsResponse = z.object({
    organizationId: z.uuid(),
    chargeOnApproval: z.boolean().describe('Whether an approving decision charges the case’s owed payments'),
    releaseOnRejection: z.boolean().describe('Whether a rejecting decision releases the case’s holds'),
  });
  return async (app) => {
    app.get(
      '/organizations/:organizationId/payment-settings',
      {
        config: { auth: 'admin', envelope: 'standard' },
        schema: {
          tags: ['admin'],
          summary: "An organization's payment settings: charge on approval, release on rejection",
          description:
            'chargeOnApproval (default true): an approving decision charges the case’s owed payments with the ' +
            'patient’s saved method, or captures their holds (docs/api/payments.md#charge-on-approval). ' +
            'releaseOnRejection (default true): a rejecting decision releases the case’s holds.',
          security: ADMIN_SECURITY,
          params: organizationParams,
          response: { 200: settingsResponse, ...errorResponses('standard', [400, 401, 403, 404]) },
        },
      },
      async (request) => ({
        organizationId: request.params.organizationId,
        ...(await (await settingsOf(request.params.organizationId)).get()),
      }),
    );

    app.patch(
      '/organizations/:organizationId/payment-settings',
      {
        config: { auth: 'admin', envelope: 'standard' },
        schema: {
          tags: ['admin'],
          summary: "Change an organization's payment settings",
          description:
            'chargeOnApproval false: approvals charge nothing; holds wait for an explicit capture. ' +
            'releaseOnRejection false: rejections release nothing; holds wait for an explicit cancel. Applies to ' +
            'decisions the job has not handled yet.',
          security: ADMIN_SECURITY,
          params: organizationParams,
          body: z.strictObject({
            chargeOnApproval: z.boolean({ error: 'Must be true or false' }).optional(),
            releaseOnRejection: z.boolean({ error: 'Must be true or false' }).optional(),
          }),
          response: { 200: settingsResponse, ...errorResponses('standard', [400, 401, 403, 404]) },
        },
      },
      async (request) => ({
        organizationId: request.params.organizationId,
        ...(await (await settingsOf(request.params.organizationId)).update(request.body)),
      }),
    );

    app.get(
      '/organizations/:organizationId/payment-gateways',
      {
        config: { auth: 'admin', envelope: 'standard' },
        schema: {
          tags: ['admin'],
          summary: "Which of an organization's own gateway credentials are set (never their values)",
          description:
            'For each credential name: `set`, and when set its last four characters and updatedAt, to tell which ' +
            'key is in place before changing it with PATCH. 404 when the organization does not exist.',
          security: ADMIN_SECURITY,
          params: organizationParams,
          response: { 200: credentialsResponse, ...errorResponses('standard', [400, 401, 403, 404]) },
        },
      },
      async (request) => ({
        organizationId: request.params.organizationId,
        credentials: await credentials.describe(organizationOfAdminPath(request.params.organizationId)),
      }),
    );

    app.patch(
      '/organizations/:organizationId/payment-gateways',
      {
        config: { auth: 'admin', envelope: 'standard' },
        schema: {
          tags: ['admin'],
          summary: "Set (a string) or remove (null) an organization's own Stripe or NMI credentials",
          description:
            'Stored sealed with the PHI key and never answered: only whether each is set and its last four ' +
            "characters. Without its own stripeSecretKey or nmiSecurityKey the organization uses the server's account.",
          security: ADMIN_SECURITY,
          params: organizationParams,
          body: gatewayCredentialsBody,
          response: { 200: credentialsResponse, ...errorResponses('standard', [400, 401, 403, 404]) },
        },
      },
      async (request) => ({
        organizationId: request.params.organizationId,
        credentials: await credentials.update(organizationOfAdminPath(request.params.organizationId), request.body),
      }),
    );

    app.get(
      '/payments/holds',
      {
        config: { auth: 'admin', envelope: 'standard' },
        schema: {
          tags: ['admin'],
          summary: 'Open holds (preauthorized, not captured or released), soonest expiry first',
          description:
            'Payments of every organization whose holdStatus is HELD, ordered by captureBefore (holds without one ' +
            'last): capture or cancel them before they expire. withinHours keeps those expiring within that many hours.',
          security: ADMIN_SECURITY,
          querystring: z.object({
            withinHours: z.coerce
              .number()
              .int()
              .positive()
              .max(24 * 90)
              .optional()
              .describe('Only holds expiring within this many hours'),
          }),
          response: {
            200: z.object({
              holds: z.array(
                z.object({
                  paymentId: z.uuid(),
                  organizationId: z.uuid(),
                  caseId: z.uuid(),
                  gateway: z.string().nullable(),
                  amount: z.number().describe('Dollars'),
                  captureBefore: z.string().nullable(),
                  createdAt: z.string(),
                }),
              ),
            }),
            ...errorResponses('standard', [400, 401, 403]),
          },
        },
      },
      async (request) => ({
        holds: (await payments.listHolds(request.query.withinHours ?? null)).map((row) => ({
          paymentId: row.id,
          organizationId: row.organization_id,
          caseId: row.case_id,
          gateway: row.gateway,
          amount: row.amount_cents / 100,
          captureBefore: row.capture_before?.toISOString() ?? null,
          createdAt: row.created_at.toISOString(),
        })),
      }),
    );
  };
}
