import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { ApiError } from '../../http/api-error.ts';
import { errorResponses, sendError } from '../../http/envelopes.ts';
import { textParam } from '../../http/parameters.ts';
import { STAFF_SESSION_COOKIE } from '../../http/gate.ts';
import { staffViewSchema } from './admin-routes.ts';
import { isUuid } from '../../uuid.ts';
import type { StaffService } from './service.ts';

const security = [{ staffSession: [] }];

/**
 * The console's cookie: never readable by scripts, never sent from another site, sent to the staff API and to the
 * admin API (which serves a staff ADMIN of every organization, gate.ts) only: one cookie per path.
 */
function sessionCookies(token: string, maxAgeSeconds: number): string[] {
  return ['/staff', '/admin'].map(
    (path) =>
      `${STAFF_SESSION_COOKIE}=${token}; Path=${path}; HttpOnly; Secure; SameSite=Strict; Max-Age=${maxAgeSeconds}`,
  );
}

/** Sign-in, sign-out, set-password and the second factor of the staff API (docs/api/staff.md). */
// The request bodies, named in the API reference (src/http/openapi-components.ts).
export const staffLoginBody = z.strictObject({
  email: z.string().max(254),
  password: z.string().max(1000),
  totpCode: z.string().max(10).optional().describe('Required once the member turned on the second factor'),
});
export const staffSetPasswordBody = z.strictObject({ token: z.string().max(200), password: z.string().max(1000) });
export const staffTotpRequiredBody = z.strictObject({ required: z.boolean() });
export const staffTotpEnableBody = z.strictObject({ secret: z.string().max(200), code: z.string().max(10) });

export function staffAuthRoutes(staff: StaffService): FastifyPluginAsyncZod {
  return async (app) => {
    app.post(
      '/staff/v1/auth/login',
      {
        // No session yet: the route checks the credentials itself (with its own per-account throttle).
        config: { envelope: 'standard' },
        schema: {
          tags: ['staff'],
          summary: 'Sign in: an access token, and the console session cookie',
          description:
            'The session lasts expiresIn seconds (12 hours). A wrong email or password, a disabled account, or a missing ' +
            'or wrong totpCode once the second factor is on is 401; repeated failures from one address to one ' +
            'account are 429 with Retry-After.',
          body: staffLoginBody,
          response: {
            200: z.object({
              accessToken: z.string().describe('Send as Authorization: Bearer'),
              expiresIn: z.number().int().describe('Seconds'),
              csrfToken: z.string().describe('Send as x-csrf-token with cookie-authenticated writes'),
              staff: staffViewSchema,
            }),
            ...errorResponses('standard', [400, 401, 429]),
          },
        },
      },
      async (request, reply) => {
        const outcome = await staff.login({ ...request.body, address: request.ip });
        if (outcome.kind === 'throttled') {
          reply.header('retry-after', String(outcome.retryAfterSeconds));
          return sendError(request, reply, 429, 'Too many failed sign-ins; try again later');
        }
        if (outcome.kind === 'refused') return sendError(request, reply, 401, outcome.message);
        reply.header('set-cookie', sessionCookies(outcome.accessToken, outcome.expiresIn));
        const { accessToken, expiresIn, csrfToken } = outcome;
        return { accessToken, expiresIn, csrfToken, staff: outcome.staff };
      },
    );

    app.post(
      '/staff/v1/auth/logout',
      {
        config: { auth: 'staff', staffPermission: 'session', envelope: 'standard' },
        schema: {
          tags: ['staff'],
          summary: 'Sign out: the session ends for the token and the cookie alike',
          description:
            'Ends the calling session only, and clears the cookie; other sessions of the member stay signed in. With the ' +
            'cookie, send the x-csrf-token from sign-in (else 403).',
          security,
          response: { 200: z.object({ success: z.literal(true) }), ...errorResponses('standard', [401, 403]) },
        },
      },
      async (request, reply) => {
        await staff.logout(request.staff!.sessionId);
        reply.header('set-cookie', sessionCookies('', 0));
        return { success: true as const };
      },
    );

    app.get(
      '/staff/v1/me',
      {
        config: { auth: 'staff', staffPermission: 'session', envelope: 'standard' },
        schema: {
          tags: ['staff'],
          summary: 'The signed-in staff member',
          description:
            'The account of the calling session: role, organizationIds (null for every organization), licensedStates, ' +
            'and whether a password and the second factor are set. Never a password hash or TOTP secret.',
          security,
          response: { 200: staffViewSchema, ...errorResponses('standard', [401, 403]) },
        },
      },
      async (request) => (await staff.get(request.staff!.staffId))!,
    );

    app.post(
      '/staff/v1/auth/set-password',
      {
        // The one-time token is the credential.
        config: { envelope: 'standard' },
        schema: {
          tags: ['staff'],
          summary: 'Set a password with a one-time set-password token (ends every session of the member)',
          description:
            'The token comes from the operator (staff creation without a password, or reset-password) and works once, ' +
            'for 24 hours. A password shorter than 12 characters, or a token invalid, used or expired, is 400.',
          body: staffSetPasswordBody,
          response: { 200: z.object({ success: z.literal(true) }), ...errorResponses('standard', [400]) },
        },
      },
      async (request) => {
        await staff.setPassword(request.body.token, request.body.password);
        return { success: true as const };
      },
    );

    app.put(
      '/staff/v1/organizations/:organizationId/totp-required',
      {
        config: {
          auth: 'staff',
          staffPermission: 'staff.manage',
          envelope: 'standard',
          audit: { action: 'organization.staff_totp', resourceType: 'organization' },
        },
        schema: {
          tags: ['staff'],
          summary: "Require (or stop requiring) a second factor of the organization's staff (ADMIN)",
          description:
            'With it on, a member who works for the organization and has no TOTP signs in, but every route other than ' +
            'their own session routes (me, logout, totp/setup, totp/enable) answers 403 until TOTP is on. An ' +
            'organization the ADMIN does not work for is 404.',
          security,
          params: z.object({ organizationId: textParam('organizationId', 100) }),
          body: staffTotpRequiredBody,
          response: {
            200: z.object({ organizationId: z.uuid(), staffTotpRequired: z.boolean() }),
            ...errorResponses('standard', [400, 401, 403, 404]),
          },
        },
      },
      async (request) => {
        const { organizationId } = request.params;
        const tenant = isUuid(organizationId) ? request.staff!.tenantFor(organizationId) : null;
        if (!tenant || !(await staff.repository.setTotpRequired(tenant.organizationId, request.body.required))) {
          throw new ApiError(404, 'Organization not found');
        }
        request.auditOrganizationId = tenant.organizationId;
        return { organizationId: tenant.organizationId, staffTotpRequired: request.body.required };
      },
    );

    app.post(
      '/staff/v1/auth/totp/setup',
      {
        config: { auth: 'staff', staffPermission: 'session', envelope: 'standard' },
        schema: {
          tags: ['staff'],
          summary: 'A new TOTP secret to load in an authenticator app (stored only once confirmed)',
          description:
            'Answers the secret and an otpauth:// URI (for a QR code); nothing changes until totp/enable confirms it, ' +
            'so calling it again is harmless.',
          security,
          response: {
            200: z.object({ secret: z.string(), otpauthUri: z.string() }),
            ...errorResponses('standard', [401, 403]),
          },
        },
      },
      async (request) => staff.totpSetup(request.staff!.staffId),
    );

    app.post(
      '/staff/v1/auth/totp/enable',
      {
        config: { auth: 'staff', staffPermission: 'session', envelope: 'standard' },
        schema: {
          tags: ['staff'],
          summary: 'Turn the second factor on with a code from the secret of totp/setup',
          description:
            'Send back the secret of totp/setup with a current 6-digit code from the app; a code that does not match ' +
            'is 400. From then on sign-in needs totpCode.',
          security,
          body: staffTotpEnableBody,
          response: { 200: z.object({ totpEnabled: z.literal(true) }), ...errorResponses('standard', [400, 401, 403]) },
        },
      },
      async (request) => {
        await staff.totpEnable(request.staff!.staffId, request.body.secret, request.body.code);
        return { totpEnabled: true as const };
      },
    );
  };
}
