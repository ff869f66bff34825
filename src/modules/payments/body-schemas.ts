import { z } from 'zod';
import { unstorableText } from '../../db/text.ts';
import { dollarsToCents, MAX_AMOUNT_CENTS } from '../../money.ts';
import { isUuid } from '../../uuid.ts';
import { PAYMENT_STATUSES, type PaymentStatus } from './repository.ts';
import type { CasePaymentInput, PaymentMetadata } from './service.ts';

/**
 * The request bodies of the payment endpoints: each schema is the route's check (fastify-type-provider-zod), its
 * TypeScript type and its OpenAPI description. Every refusal carries the sentence docs/api/payments.md and the
 * published pages give (the payments envelope answers a body's issue as the bare sentence, src/http/envelopes.ts);
 * the first field in a schema's order that fails is the one answered, so fields are listed in the order their
 * messages take precedence.
 */

const OBJECT_REQUIRED = 'Request body must be a JSON object';
const IDEMPOTENCY_KEY = 'Idempotency key must be a non-empty string of at most 255 characters';
const absent = (value: unknown) => value === undefined || value === null;
const statusMessage = `Status must be one of ${PAYMENT_STATUSES.join(', ')}`;

/** A field's problem with its text as stored (NUL, lone surrogates), as `${field} must ...`. */
function storable(field: string) {
  return (value: string, context: z.RefinementCtx) => {
    const problem = unstorableText(value);
    if (problem)
      context.addIssue({ code: 'custom', message: `${field} ${problem[0]!.toLowerCase()}${problem.slice(1)}` });
  };
}

/**
 * A positive dollar amount, a JSON number or a decimal string ("19.99"), in whole cents (at least one) -> cents.
 * `missing` answers an absent amount where it differs from the general refusal.
 */
function dollars(description: string, missing = 'Amount must be a positive number') {
  const positive = 'Amount must be a positive number';
  return z
    .union([z.number(), z.string()], { error: (issue) => (absent(issue.input) ? missing : positive) })
    .transform((given, context) => {
      const value = typeof given === 'string' && /^\s*\d+(\.\d+)?\s*$/.test(given) ? Number(given) : given;
      if (typeof value !== 'number' || !Number.isFinite(value) || value <= 0) {
        context.addIssue({ code: 'custom', message: positive });
        return z.NEVER;
      }
      if (value > MAX_AMOUNT_CENTS / 100) {
        context.addIssue({ code: 'custom', message: `Amount must be at most ${MAX_AMOUNT_CENTS / 100}` });
        return z.NEVER;
      }
      // A positive number with at most two decimals is at least one cent.
      const cents = dollarsToCents(given);
      if (cents === null) {
        context.addIssue({ code: 'custom', message: 'Amount must have at most two decimal places' });
        return z.NEVER;
      }
      return cents;
    })
    .describe(`${description}: dollars, at most two decimals (a numeric string is accepted)`);
}

/** `storable`: also refused when it could not be stored as text (as the confirmation has it). */
const idempotencyKey = (message = IDEMPOTENCY_KEY, storable?: (value: string, context: z.RefinementCtx) => void) =>
  z
    .string({ error: message })
    .max(255, { error: message })
    .refine((key) => key.trim() !== '', { error: message })
    .superRefine((key, context) => storable?.(key, context))
    .nullish()
    .describe(
      'Your key for this request: a retry with the same key and body answers as the first did, and records nothing more',
    );

/** A payment status in any letter case -> the status. */
const paymentStatus = (missing: string) =>
  z
    .string({ error: (issue) => (absent(issue.input) ? missing : statusMessage) })
    .refine((status) => status !== '', { error: missing })
    .refine((status) => status === '' || PAYMENT_STATUSES.includes(status.trim().toUpperCase() as PaymentStatus), {
      error: statusMessage,
    })
    .transform((status) => status.trim().toUpperCase() as PaymentStatus);

function metadataText(field: 'email' | 'phone') {
  const message = `Metadata ${field} must be a string`;
  return z
    .string({ error: message })
    .max(500, { error: message })
    .superRefine(storable(`Metadata ${field}`))
    .nullish();
}

/** `metadata: {email?, phone?}` of payments/setup and payments/intent: the patient's contact, sent to the gateway. */
const metadata = z
  .object({ email: metadataText('email'), phone: metadataText('phone') }, { error: 'Metadata must be an object' })
  .nullish()
  .transform((given): PaymentMetadata => {
    const result: PaymentMetadata = {};
    if (given?.email) result.email = given.email;
    if (given?.phone) result.phone = given.phone;
    return result;
  })
  .describe("The patient's contact, passed to the gateway");

export const paymentSetupBody = z
  .object({ metadata }, { error: OBJECT_REQUIRED })
  .nullable()
  .describe('Optional: the patient contact the SetupIntent carries');

const wholeCents = 'Amount must be a whole number of cents (e.g. 4500 for $45.00)';
const methodTypes = 'Payment method types must be an array of Stripe payment method types, e.g. ["card", "klarna"]';

export const paymentIntentBody = z
  .object(
    {
      amount: z
        .number({ error: 'Amount must be a positive number' })
        .positive({ error: 'Amount must be a positive number' })
        .int({ error: wholeCents })
        .min(50, { error: 'Amount must be at least 50 cents' })
        .max(MAX_AMOUNT_CENTS, { error: `Amount must be at most ${MAX_AMOUNT_CENTS} cents` })
        .describe('The final amount in whole cents (4500 = $45.00), any promo discount already applied'),
      paymentMethodTypes: z
        .array(z.string({ error: methodTypes }).regex(/^[a-z_]{1,64}$/, { error: methodTypes }), {
          error: methodTypes,
        })
        .max(20, { error: methodTypes })
        .nullish()
        .transform((types) => (types && types.length > 0 ? [...new Set(types)] : undefined))
        .describe('Stripe payment method types, e.g. ["card", "klarna"]'),
      metadata,
    },
    { error: OBJECT_REQUIRED },
  )
  .transform(({ amount, paymentMethodTypes, metadata: contact }) => ({
    amountCents: amount,
    paymentMethodTypes,
    metadata: contact,
  }))
  .describe('A PaymentIntent for an amount in cents');

export const casePaymentCreateBody = z
  .object(
    {
      amount: dollars('The amount'),
      description: z
        .string({ error: 'Description must be a string' })
        .max(1000, { error: 'Description must be at most 1000 characters' })
        .nullish(),
      productId: z
        .string({ error: 'Product ID must be a valid UUID' })
        .refine(isUuid, { error: 'Product ID must be a valid UUID' })
        .nullish()
        .describe('A product of the organization (a UUID)'),
      status: z
        .string({ error: statusMessage })
        .refine((status) => PAYMENT_STATUSES.includes(status.trim().toUpperCase() as PaymentStatus), {
          error: statusMessage,
        })
        .nullish()
        .describe('UNPAID by default (any letter case)'),
      idempotencyKey: idempotencyKey(),
      preauthorize: z
        .boolean({ error: 'Preauthorize must be a boolean' })
        .nullish()
        .describe("true: place a hold on the card the case's intake saved (stripeSetupId or nmiPaymentToken)"),
    },
    { error: OBJECT_REQUIRED },
  )
  .transform((body): CasePaymentInput => ({
    amountCents: body.amount,
    description: body.description && body.description.trim() !== '' ? body.description : null,
    productId: body.productId ? body.productId.toLowerCase() : null,
    status: body.status ? (body.status.trim().toUpperCase() as PaymentStatus) : null,
    idempotencyKey: body.idempotencyKey ?? null,
    preauthorize: body.preauthorize === true,
  }))
  .describe('A payment of a case');

/** The optional `{amount}` of a capture: dollars, all of the hold when absent. */
export const paymentCaptureBody = z
  .object(
    {
      amount: dollars('The amount to collect of the hold (the rest is released); all of it when absent').nullish(),
    },
    { error: OBJECT_REQUIRED },
  )
  .nullable()
  .transform((body) => ({ amountCents: body?.amount ?? undefined }))
  .describe('Optional: part of the hold to capture');

/** The optional `{amount?, idempotencyKey?}` of a refund: dollars, all that is left when absent. */
export const paymentRefundBody = z
  .object(
    {
      // Checked before the amount, and named as the field is.
      idempotencyKey: idempotencyKey('idempotencyKey must be a non-empty string of at most 255 characters'),
      amount: dollars('The amount to refund; all that is left when absent').nullish(),
    },
    { error: OBJECT_REQUIRED },
  )
  .nullable()
  .transform((body) => ({ amountCents: body?.amount ?? undefined, idempotencyKey: body?.idempotencyKey ?? null }))
  .describe('Optional: part of the payment to refund');

/** `YYYY-MM-DD` naming a real calendar day (from 1900). */
function day(field: string, description = 'YYYY-MM-DD') {
  const format = `${field} must be a date in the format YYYY-MM-DD`;
  return z
    .unknown()
    .refine((value) => !absent(value) && value !== '', { error: `${field} is required`, abort: true })
    .transform((value, context) => {
      const text = typeof value === 'string' ? value.trim() : '';
      const match = /^(\d{4})-(\d{2})-(\d{2})$/.exec(text);
      const date = match ? new Date(Date.UTC(Number(match[1]), Number(match[2]) - 1, Number(match[3]))) : null;
      if (!match || !date || date.toISOString().slice(0, 10) !== text || Number(match[1]) < 1900) {
        context.addIssue({ code: 'custom', message: format });
        return z.NEVER;
      }
      return text;
    })
    .meta({ type: 'string', format: 'date', description });
}

/** Optional text of the confirmation: null when absent or blank. */
function optionalText(field: string, max: number) {
  return z
    .string({ error: `${field} must be a string` })
    .max(max, { error: `${field} must be at most ${max} characters` })
    .superRefine(storable(field))
    .nullish()
    .transform((value) => (value && value.trim() !== '' ? value : null));
}

export const paymentConfirmationBody = z
  .object(
    {
      caseId: z
        .string({ error: (issue) => (absent(issue.input) ? 'caseId is required' : 'Case ID must be a valid UUID') })
        .refine((id) => id !== '', { error: 'caseId is required', abort: true })
        .refine(isUuid, { error: 'Case ID must be a valid UUID' })
        .describe('The case the payment is for (a UUID)'),
      amount: dollars('The amount paid', 'amount is required'),
      status: paymentStatus('status is required').describe('Any letter case'),
      paymentDate: day('paymentDate'),
      validUntil: day('validUntil', 'YYYY-MM-DD, not before paymentDate'),
      description: optionalText('description', 1000),
      decisionId: optionalText('decisionId', 255),
      email: optionalText('email', 320).describe('Accepted and checked, not kept'),
      phoneNumber: optionalText('phoneNumber', 50).describe('Accepted and checked, not kept'),
      idempotencyKey: idempotencyKey(IDEMPOTENCY_KEY, storable('idempotencyKey')),
    },
    { error: OBJECT_REQUIRED },
  )
  .refine((body) => body.validUntil >= body.paymentDate, { error: 'validUntil must not be before paymentDate' })
  .transform((body) => ({
    caseId: body.caseId.toLowerCase(),
    amountCents: body.amount,
    description: body.description,
    status: body.status,
    paymentDate: body.paymentDate,
    validUntil: body.validUntil,
    decisionId: body.decisionId,
    idempotencyKey: body.idempotencyKey ?? null,
  }))
  .describe('A payment taken outside this server');
