import { z } from 'zod';
import { documentedBody } from '../../http/documented-body.ts';
import { MAX_AMOUNT_CENTS } from '../../money.ts';
import { PAYMENT_STATUSES } from './repository.ts';

/**
 * The request bodies of the payment endpoints, for the API reference and the typed client. The handlers check
 * them by hand (validation.ts, confirmation.ts) with the messages of docs/api/payments.md; these say the same.
 */

const dollars = (description: string) =>
  z
    .number()
    .positive()
    .max(MAX_AMOUNT_CENTS / 100)
    .describe(`${description}: dollars, at most two decimals (a numeric string is accepted)`);
const idempotencyKey = z
  .string()
  .min(1)
  .max(255)
  .describe(
    'Your key for this request: a retry with the same key and body answers as the first did, and records nothing more',
  );
const metadata = z
  .object({
    email: z.string().max(500).optional(),
    phone: z.string().max(500).optional(),
  })
  .describe("The patient's contact, passed to the gateway");

export const paymentSetupBody = documentedBody(
  z.object({ metadata: metadata.optional() }),
  'Optional: the patient contact the SetupIntent carries',
);

export const paymentIntentBody = documentedBody(
  z.object({
    amount: z
      .number()
      .int()
      .min(50)
      .max(MAX_AMOUNT_CENTS)
      .describe('The final amount in whole cents (4500 = $45.00), any promo discount already applied'),
    paymentMethodTypes: z
      .array(z.string().regex(/^[a-z_]{1,64}$/))
      .max(20)
      .optional()
      .describe('Stripe payment method types, e.g. ["card", "klarna"]'),
    metadata: metadata.optional(),
  }),
  'A PaymentIntent for an amount in cents',
);

export const casePaymentCreateBody = documentedBody(
  z.object({
    amount: dollars('The amount'),
    description: z.string().max(1000).nullable().optional(),
    productId: z.uuid().nullable().optional().describe('A product of the organization'),
    status: z
      .enum(PAYMENT_STATUSES as [string, ...string[]])
      .optional()
      .describe('UNPAID by default (any letter case)'),
    idempotencyKey: idempotencyKey.optional(),
    preauthorize: z
      .boolean()
      .optional()
      .describe("true: place a hold on the card the case's intake saved (stripeSetupId or nmiPaymentToken)"),
  }),
  'A payment of a case',
);

export const paymentCaptureBody = documentedBody(
  z.object({
    amount: dollars('The amount to collect of the hold (the rest is released); all of it when absent').optional(),
  }),
  'Optional: part of the hold to capture',
);

export const paymentRefundBody = documentedBody(
  z.object({
    amount: dollars('The amount to refund; all that is left when absent').optional(),
    idempotencyKey: idempotencyKey.optional(),
  }),
  'Optional: part of the payment to refund',
);

export const paymentConfirmationBody = documentedBody(
  z.object({
    caseId: z.uuid().describe('The case the payment is for'),
    amount: dollars('The amount paid'),
    status: z.enum(PAYMENT_STATUSES as [string, ...string[]]).describe('Any letter case'),
    paymentDate: z.iso.date().describe('YYYY-MM-DD'),
    validUntil: z.iso.date().describe('YYYY-MM-DD, not before paymentDate'),
    description: z.string().max(1000).nullable().optional(),
    decisionId: z.string().max(255).nullable().optional(),
    email: z.string().max(320).nullable().optional().describe('Accepted and checked, not kept'),
    phoneNumber: z.string().max(50).nullable().optional().describe('Accepted and checked, not kept'),
    idempotencyKey: idempotencyKey.optional(),
  }),
  'A payment taken outside this server',
);
