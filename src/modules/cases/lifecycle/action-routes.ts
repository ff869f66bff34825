import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import type { Scope } from '../../../http/gate.ts';
import { ApiError } from '../../../http/api-error.ts';
import { errorResponses, sendError } from '../../../http/envelopes.ts';
import {
  CASE_ACTIONS,
  CaseNotAccessibleError,
  STATUS_TARGETS,
  checkText,
  type CaseActionService,
  type StatusTarget,
} from './case-actions.ts';
import { textParam } from '../../../http/parameters.ts';

const communicationSchema = z
  .object({
    text: z.string().max(20_000).describe('The comment (required)'),
    isRestricted: z.boolean().optional().describe('Restricted to the clinic (default false)'),
    webhookNotify: z.boolean().optional().describe('Whether the comment webhook is sent (default true)'),
    author: z
      .object({
        email: z.string().max(320),
        firstName: z.string().max(200).optional(),
        lastName: z.string().max(200).optional(),
      })
      .optional()
      .describe('Who wrote it: email (required), firstName, lastName'),
    attachments: z
      .array(
        z.object({
          fileName: z.string().max(1000),
          content: z.string().describe('The file, base64-encoded'),
          isPHI: z.boolean().optional(),
          isRestricted: z.boolean().optional(),
        }),
      )
      .max(100)
      .optional()
      .describe('Files of the comment, sealed like intake files'),
  })
  .describe('ADD_COMMUNICATION: the comment');

export const caseActionBodySchema = z
  .object({
    action: z
      .string()
      .max(64)
      .optional()
      .describe(`Required: ${CASE_ACTIONS.join(' or ')}`),
    status: z.string().max(32).optional().describe('CHANGE_CASE_STATUS: OPEN, CLOSE or REOPEN'),
    reason: z.string().max(2000).optional().describe('CHANGE_CASE_STATUS with CLOSE: kept as the archive note'),
    communication: communicationSchema.optional(),
  })
  .meta({
    examples: [
      { action: 'CHANGE_CASE_STATUS', status: 'CLOSE', reason: 'Patient requested cancellation' },
      {
        action: 'ADD_COMMUNICATION',
        communication: {
          text: 'Patient called to confirm the shipping address.',
          isRestricted: false,
          webhookNotify: true,
          author: { email: 'support@example.com', firstName: 'Sam', lastName: 'Support' },
        },
      },
    ],
  });

/** One schema for both actions (a union would make the serializer drop `data`): `data` is ADD_COMMUNICATION's. */
const caseActionSuccessSchema = z
  .object({
    status: z.literal(200),
    success: z.literal(true),
    message: z.string(),
    data: z
      .object({
        commentId: z.string(),
        attachments: z.array(z.object({ id: z.string(), fileName: z.string() })),
      })
      .optional()
      .describe('ADD_COMMUNICATION: the new comment and its attachments'),
  })
  .meta({ example: { status: 200, success: true, message: 'Case opened successfully' } });

/** POST /api/v1/cases/:caseId: the case actions, dispatched on `action` (docs/api/cases.md). */
export function caseActionRoutes(actions: CaseActionService): FastifyPluginAsyncZod {
  return async (app) => {
    app.post(
      '/api/v1/cases/:caseId',
      {
        config: { auth: 'apiKey', envelope: 'caseRead', audit: { action: 'case.update', resourceType: 'case' } },
        schema: {
          tags: ['cases'],
          summary: 'Change a case: CHANGE_CASE_STATUS (OPEN, CLOSE, REOPEN) or ADD_COMMUNICATION (a comment)',
          description:
            'Dispatched on `action`. A closed case takes REOPEN only. A case of another organization answers 401, ' +
            'as an unknown one does. See docs/api/cases.md.',
          security: [{ apiKey: [] }],
          params: z.object({ caseId: textParam('caseId', 200) }),
          body: caseActionBodySchema,
          response: {
            200: caseActionSuccessSchema,
            ...errorResponses('caseRead', [400, 401]),
          },
        },
      },
      async (request, reply) => {
        request.auditResourceId = request.params.caseId;
        try {
          return await dispatch(request.params.caseId, request.scope, request.body);
        } catch (error) {
          if (error instanceof CaseNotAccessibleError) return sendError(request, reply, 401, error.message);
          throw error;
        }
      },
    );

    async function dispatch(caseId: string, scope: Scope, body: z.infer<typeof caseActionBodySchema>) {
      const action = body.action?.trim().toUpperCase();
      if (!action) throw new ApiError(400, "The 'action' param is required");
      if (action === 'CHANGE_CASE_STATUS') {
        const target = body.status?.trim().toUpperCase();
        if (!target) throw new ApiError(400, "The 'status' param is required");
        if (!(STATUS_TARGETS as readonly string[]).includes(target)) {
          throw new ApiError(400, `Invalid status '${body.status!.slice(0, 32)}': use ${STATUS_TARGETS.join(', ')}`);
        }
        const reason = checkText(body.reason, 'reason', false);
        const message = await actions.changeStatus(scope, caseId, target as StatusTarget, reason);
        return { status: 200 as const, success: true as const, message };
      }
      if (action === 'ADD_COMMUNICATION') {
        if (!body.communication) throw new ApiError(400, "The 'communication' param is required");
        const data = await actions.addCommunication(scope, caseId, body.communication);
        return { status: 200 as const, success: true as const, message: 'Communication added successfully', data };
      }
      throw new ApiError(400, `Invalid action '${body.action!.slice(0, 64)}': use ${CASE_ACTIONS.join(', ')}`);
    }
  };
}
