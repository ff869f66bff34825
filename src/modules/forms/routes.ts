import { z } from 'zod';
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { cursorSchema, limitSchema } from '../../http/pagination.ts';
import type { FormService } from './service.ts';
import { errorResponses } from '../../http/envelopes.ts';
import { PARAMETER_DESCRIPTIONS } from '../../http/parameters.ts';

const routeConfig = { auth: 'apiKey', envelope: 'intake' } as const;
const security = [{ apiKey: [] }];

export const questionSchema = z.object({
  questionId: z.uuid(),
  question: z.string(),
  type: z.string(),
  required: z.boolean(),
  phi: z.boolean(),
  hint: z.string().nullable(),
  placeholder: z.string().nullable(),
  options: z.array(z.string()),
});

export const formSchema = z.object({
  id: z.uuid(),
  title: z.string(),
  description: z.string().nullable(),
  createdAt: z.string(),
  updatedAt: z.string(),
  questions: z.array(questionSchema).describe('The current questions, in form order'),
});

/** GET /api/v1/forms and GET /api/v1/forms/:formId: what form-id mode of POST /api/v1/dynamic-case answers. */
export function formRoutes(forms: FormService): FastifyPluginAsyncZod {
  return async (app) => {
    app.get(
      '/api/v1/forms',
      {
        config: routeConfig,
        schema: {
          tags: ['forms'],
          summary: "List the organization's forms with their current questions",
          description:
            "The forms the organization's cases were created with (Case Create makes a form from `formTitle` the first time a title is sent), oldest first, keyset-paginated with `cursor`. Each question carries the `questionId` that form-id mode of Case Create answers.",
          security,
          querystring: z.object({
            title: z
              .string()
              .max(200)
              .refine((value) => !value.includes('\u0000'), { message: 'Must not contain NUL characters' })
              .optional()
              .describe('Only the form with exactly this title'),
            limit: limitSchema(),
            cursor: cursorSchema,
          }),
          response: {
            200: z.object({
              success: z.literal(true),
              data: z.object({
                forms: z.array(formSchema),
                nextCursor: z.string().nullable().describe('The cursor of the next page; null on the last page'),
              }),
            }),
            ...errorResponses('intake', [400, 401]),
          },
        },
      },
      async (request) => ({
        success: true as const,
        data: await forms.list(request.scope.tenant, request.query),
      }),
    );

    app.get(
      '/api/v1/forms/:formId',
      {
        config: routeConfig,
        schema: {
          tags: ['forms'],
          summary: 'One form with its current questions (their questionId is what form-id mode answers)',
          description:
            "One form of the organization with its current questions in form order. Send their `questionId`s with answers to Case Create in form-id mode. Another organization's form answers 404.",
          security,
          params: z.object({ formId: z.uuid({ error: 'Must be a UUID' }).describe(PARAMETER_DESCRIPTIONS.formId) }),
          response: {
            200: z.object({ success: z.literal(true), data: z.object({ form: formSchema }) }),
            ...errorResponses('intake', [400, 401, 404]),
          },
        },
      },
      async (request) => ({
        success: true as const,
        data: { form: await forms.get(request.scope.tenant, request.params.formId.toLowerCase()) },
      }),
    );
  };
}
