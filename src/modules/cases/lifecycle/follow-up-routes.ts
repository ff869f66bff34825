import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { ApiError } from '../../../http/api-error.ts';
import { errorResponses } from '../../../http/envelopes.ts';
import type { QuestionRow } from '../../forms/repository.ts';
import type { IntakeService } from '../intake/service.ts';
import { questionItemSchema, type QuestionItem } from '../schemas.ts';
import { isPlainObject } from '../validation.ts';

const required = (param: string) => new ApiError(400, `The '${param}' param is required`);
const fieldRequired = (index: number, field: string) =>
  new ApiError(400, `The 'questions[${index}].${field}' field is required`);

const text = (value: unknown): string | undefined =>
  typeof value === 'string' && value.trim() !== '' ? value.trim() : undefined;

/**
 * The page's body, checked by hand for its own messages ("The 'caseId' param is required",
 * "The 'questions[0].answer' field is required"); the schema describes it and takes any JSON object.
 */
const followUpBodySchema = z
  .looseObject({
    key: z.unknown().optional().describe('The API key, when the cv-api-key header is not sent'),
    caseId: z.unknown().optional().describe('Required: the case to add the form to'),
    formTitle: z.unknown().optional().describe('Required: the form (created, or reused by its title)'),
    formDescription: z.unknown().optional().describe("The form's description"),
    questions: z
      .unknown()
      .optional()
      .describe(
        'Required, at least one: {questionId, question, type, answer, required?, phi?, hint?, placeholder?, options?}; ' +
          'type in any letter case; a questionId of a question of the stored form may stand for question and type',
      ),
  })
  .meta({
    examples: [
      {
        caseId: '3f2504e0-4f89-11d3-9a0c-0305e82c3301',
        formTitle: 'Monthly check-in',
        formDescription: 'How the treatment is going',
        questions: [
          { questionId: 'weight', question: 'What is your current weight?', type: 'text', answer: '172 lbs' },
          {
            questionId: 'side-effects',
            question: 'Any side effects?',
            type: 'multiselect',
            options: ['Nausea', 'Headache', 'None'],
            answer: ['None'],
          },
        ],
      },
    ],
  });

const followUpSuccessSchema = z
  .object({
    status: z.literal(200),
    success: z.literal(true),
    data: z.object({ caseId: z.string(), formResponseId: z.string() }),
  })
  .meta({
    example: {
      status: 200,
      success: true,
      data: { caseId: '3f2504e0-4f89-11d3-9a0c-0305e82c3301', formResponseId: '9b2d6c0e-1c1a-4c55-9d3e-1f0b1a2c3d4e' },
    },
  });

/**
 * The page's question (questionId, question, type, answer, ...) as the intake's form-title question. An item
 * that sends only questionId and answer names a question of the stored form by its id (the `question.id` of
 * the case detail): its text and type are that question's.
 */
function questionsOf(items: unknown[], stored: Map<string, QuestionRow>): QuestionItem[] {
  return items.map((item, index) => {
    if (!isPlainObject(item)) throw fieldRequired(index, 'questionId');
    const questionId = typeof item.questionId === 'number' ? String(item.questionId) : text(item.questionId);
    if (questionId === undefined) throw fieldRequired(index, 'questionId');
    if (item.answer === undefined) throw fieldRequired(index, 'answer');
    const known = stored.get(questionId.toLowerCase());
    const question = text(item.question) ?? known?.question;
    if (question === undefined) throw fieldRequired(index, 'question');
    const type = text(item.type) ?? known?.type;
    if (type === undefined) throw fieldRequired(index, 'type');
    const mapped = {
      question,
      type,
      answer: item.answer,
      required: item.required ?? known?.required ?? false,
      phi: item.phi ?? known?.phi,
      hint: item.hint,
      placeholder: item.placeholder,
      options: item.options ?? known?.options,
    };
    const parsed = questionItemSchema.safeParse(mapped);
    if (!parsed.success) {
      const issue = parsed.error.issues[0]!;
      throw new ApiError(400, `Validation failed: questions.${index}.${issue.path.join('.')}: ${issue.message}`);
    }
    return parsed.data;
  });
}

/** POST /api/v1/customer-dynamic-case-form (Patient Add Form to Case): a follow-up form into a case. */
export function followUpFormRoutes(intake: IntakeService): FastifyPluginAsyncZod {
  return async (app) => {
    app.post(
      '/api/v1/customer-dynamic-case-form',
      {
        config: {
          auth: 'headerOrBodyKey',
          envelope: 'caseForm',
          audit: { action: 'case.respond', resourceType: 'case' },
        },
        schema: {
          tags: ['cases'],
          summary: 'Add a follow-up form (a check-in) to an existing case',
          description:
            'The key in the cv-api-key header or the body `key`. The questions follow the Case Create endpoint ' +
            'rules (types, PHI); the answers show in the case detail. See docs/api/cases.md.',
          body: followUpBodySchema,
          response: { 200: followUpSuccessSchema, ...errorResponses('caseForm', [400]) },
        },
      },
      async (request) => {
        const body = request.body;
        const caseId = typeof body.caseId === 'string' ? body.caseId.trim() : undefined;
        if (!caseId) throw required('caseId');
        request.auditResourceId = caseId;
        const formTitle = text(body.formTitle);
        if (formTitle === undefined) throw required('formTitle');
        if (!Array.isArray(body.questions) || body.questions.length === 0) throw required('questions');
        const needsStored = body.questions.some(
          (item) => isPlainObject(item) && (text(item.question) === undefined || text(item.type) === undefined),
        );
        const stored = needsStored ? await intake.storedQuestions(request.scope.tenant, formTitle) : new Map();
        const questions = questionsOf(body.questions, stored);
        const description = text(body.formDescription);
        const data = await intake.addFormToCase(request.scope, caseId, {
          title: formTitle,
          ...(description === undefined ? {} : { description }),
          questions,
        });
        return { status: 200 as const, success: true as const, data: { caseId, formResponseId: data.formResponseId } };
      },
    );
  };
}
