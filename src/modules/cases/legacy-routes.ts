import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { errorResponses } from '../../http/envelopes.ts';
import type { IntakeService } from './intake/service.ts';
import { intakeBodySchema, intakeSuccessSchema } from './schemas.ts';
import { isPlainObject, validationError } from './validation.ts';

/** A legacy promo code: `{"Promo":"CODE"}` (a plain string is taken too). */
const legacyPromo = z.union([z.string(), z.looseObject({ Promo: z.string() })], {
  error: 'Must be a promo code object, e.g. {"Promo":"Lose10"}',
});

/**
 * The legacy body: the Case Create endpoint's fields with the API key as `key`, and `promoCodes` as a list of
 * `{"Promo":"CODE"}` objects (one revision of the page sends a bare object). Everything else is checked by the
 * intake's own schema, once the promo codes are mapped.
 */
const legacyBodySchema = z
  .looseObject({
    key: z.string().describe('Your cv-api-key'),
    promoCodes: z
      .union([z.array(legacyPromo).max(20, 'At most 20 promo codes'), legacyPromo], {
        error: 'Must be a list of promo code objects, e.g. [{"Promo":"Lose10"}]',
      })
      .nullish()
      .describe('[{"Promo":"CODE"}], or one {"Promo":"CODE"}'),
  })
  .meta({
    examples: [
      {
        key: 'c360_...',
        firstName: 'Jane',
        lastName: 'Test',
        email: 'jane.test@example.com',
        phoneNumber: '+12025550123',
        dob: '2000-01-31',
        gender: 'FEMALE',
        paymentDescription: 'Weight loss program',
        paymentAmount: 0.5,
        shippingAddress: {
          addressLine1: '1 Main St',
          addressLine2: '',
          city: 'Washington',
          state: 'DC',
          country: 'US',
          postalCode: '20001',
        },
        formTitle: 'Weight Loss Intake',
        formDescription: 'Intake form',
        promoCodes: [{ Promo: 'Lose10' }],
        questions: [
          { question: 'Gender', answer: 'Female', options: ['Male', 'Female'], type: 'SINGLESELECT' },
          { question: 'Date of birth', answer: '2000-01-31', required: true, type: 'DATE' },
          { question: 'What is your current weight?', answer: '180 lbs', phi: true, type: 'TEXT' },
        ],
      },
    ],
  });

/**
 * The legacy body as the Case Create endpoint's: no key, promo codes as strings, and a question without
 * `required` not required (the legacy page's examples leave it out; the Case Create endpoint requires it).
 */
function intakeBodyOf(body: z.infer<typeof legacyBodySchema>) {
  const { key: _key, promoCodes, ...rest } = body;
  if (Array.isArray(rest.questions)) {
    rest.questions = rest.questions.map((item: unknown) =>
      isPlainObject(item) && (item.required === undefined || item.required === null)
        ? { ...item, required: false }
        : item,
    );
  }
  const list =
    promoCodes === undefined || promoCodes === null ? [] : Array.isArray(promoCodes) ? promoCodes : [promoCodes];
  const codes = list.map((code) => (typeof code === 'string' ? code : code.Promo));
  const parsed = intakeBodySchema.safeParse({ ...rest, ...(codes.length > 0 ? { promoCodes: codes } : {}) });
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    throw validationError(issue.path.length > 0 ? issue.path.join('.') : '(body)', issue.message);
  }
  return parsed.data;
}

/**
 * POST /handleDynamicCustomerForm: the legacy Cloud Function that POST /api/v1/dynamic-case replaced, kept for
 * storefronts written against it. The same intake (questions, PHI, files, payment fields, idempotency) and the
 * same answers; only the key's place and the promo codes' shape differ (docs/api/intake.md).
 */
export function legacyIntakeRoutes(intake: IntakeService): FastifyPluginAsyncZod {
  return async (app) => {
    app.post(
      '/handleDynamicCustomerForm',
      {
        config: {
          auth: 'bodyKey',
          envelope: 'intake',
          audit: { action: 'case.create', resourceType: 'case' },
          largeBase64: true,
        },
        schema: {
          tags: ['cases'],
          summary: 'Deprecated: POST /api/v1/dynamic-case with the API key in the body as `key`',
          description:
            'The legacy Cloud Function: the Case Create endpoint body, its key as `key`, and promoCodes as ' +
            '[{"Promo":"CODE"}]. The same answers as POST /api/v1/dynamic-case. See docs/api/intake.md.',
          deprecated: true,
          body: legacyBodySchema,
          response: {
            200: intakeSuccessSchema,
            ...errorResponses('intake', [400, 401, 404, 409, 413], { idempotencyConflict: true }),
          },
        },
      },
      async (request) => {
        const data = await intake.createCase(request.scope, intakeBodyOf(request.body));
        request.auditResourceId = data.caseId;
        return { success: true as const, data };
      },
    );
  };
}
