import { z } from 'zod';
import { attachmentSchema, caseObjectSchema } from '../modules/cases/lifecycle/read-schemas.ts';
import {
  intakeBodySchema,
  intakeSuccessSchema,
  questionItemSchema,
  shippingAddressSchema,
} from '../modules/cases/schemas.ts';
import { formSchema, questionSchema } from '../modules/forms/routes.ts';
import { promoView } from '../modules/promo-codes/views.ts';

/**
 * The named component schemas of the OpenAPI document: each schema given an id here is written once under
 * `components.schemas` and referenced where a route uses it, so a generated client has named types. A request
 * body's component carries the suffix `Input` (fastify-type-provider-zod names input and output apart). The
 * error envelopes are named where they are defined (src/http/envelopes.ts).
 */
const COMPONENTS: [z.ZodType, { id: string; description?: string }][] = [
  [intakeBodySchema, { id: 'CaseCreate', description: 'The body of Case Create (POST /api/v1/dynamic-case)' }],
  [intakeSuccessSchema, { id: 'CaseCreated' }],
  [questionItemSchema, { id: 'QuestionAnswer', description: 'One question of a case with its answer' }],
  [shippingAddressSchema, { id: 'ShippingAddress' }],
  [caseObjectSchema, { id: 'Case', description: 'A case as the case detail and the case list show it' }],
  [attachmentSchema, { id: 'CaseAttachment' }],
  [formSchema, { id: 'Form' }],
  [questionSchema, { id: 'FormQuestion' }],
  [promoView, { id: 'PromoCode' }],
];

export function registerComponentSchemas(): void {
  for (const [schema, meta] of COMPONENTS) {
    if (!z.globalRegistry.has(schema)) z.globalRegistry.add(schema, meta);
  }
}
