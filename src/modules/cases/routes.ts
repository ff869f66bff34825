import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import type { IntakeService } from './intake/service.ts';
import { intakeBodySchema, intakeSuccessSchema } from './schemas.ts';
import { errorResponses } from '../../http/envelopes.ts';

/** POST /api/v1/dynamic-case (Case Create endpoint): the case intake. */
export function intakeRoutes(intake: IntakeService): FastifyPluginAsyncZod {
  return async (app) => {
    app.post(
      '/api/v1/dynamic-case',
      {
        config: {
          auth: 'apiKey',
          keyConfirmedByWrite: true, // the intake's statement checks the key (one round trip fewer)
          envelope: 'intake',
          audit: { action: 'case.create', resourceType: 'case' },
          largeBase64: true, // a file's base64 data is decoded from the body's bytes (src/http/large-base64.ts)
        },
        schema: {
          tags: ['cases'],
          summary: 'Create a case with a form submission (form-title or form-id mode)',
          description:
            'Send formTitle (creates or reuses the form with that title) or formId (answers an existing form by ' +
            'questionId); formTitle wins when both are sent. See docs/api/intake.md for every rule.',
          security: [{ apiKey: [] }],
          body: intakeBodySchema,
          response: {
            200: intakeSuccessSchema,
            ...errorResponses('intake', [400, 401, 404, 409, 413], { idempotencyConflict: true }),
          },
        },
      },
      async (request) => {
        const data = await intake.createCase(request.scope, request.body);
        request.auditResourceId = data.caseId;
        return { success: true as const, data };
      },
    );
  };
}
