import { unstorableText } from '../../db/text.ts';
import { ApiError } from '../../http/api-error.ts';
import { dollarsToCents, MAX_AMOUNT_CENTS } from '../../money.ts';
import { isUuid } from '../../uuid.ts';
import { PAYMENT_STATUSES, type PaymentStatus } from './repository.ts';
import type { CasePaymentInput, PaymentMetadata } from './service.ts';

const bad = (message: string) => new ApiError(400, message);

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/**
 * A positive dollar amount, a JSON number or a decimal string ("19.99") as the intake's paymentAmount, in whole
 * cents (at least one), -> cents; `label` starts the messages.
 */
export function parseDollars(given: unknown, label = 'Amount'): number {
  const value = typeof given === 'string' && /^\s*\d+(\.\d+)?\s*$/.test(given) ? Number(given) : given;
  if (typeof value !== 'number' || !Number.isFinite(value) || value <= 0) {
    throw bad(`${label} must be a positive number`);
  }
  if (value > MAX_AMOUNT_CENTS / 100) throw bad(`${label} must be at most ${MAX_AMOUNT_CENTS / 100}`);
  // A positive number with at most two decimals is at least one cent.
  const cents = dollarsToCents(typeof given === 'string' ? given : value);
  if (cents === null) throw bad(`${label} must have at most two decimal places`);
  return cents;
}

/** The body of POST /api/v1/cases/:caseId/payments (seed 000), with the documented 400 messages. */
export function parseCasePaymentBody(body: unknown): CasePaymentInput {
  if (!isObject(body)) throw bad('Request body must be a JSON object');
  const amountCents = parseDollars(body.amount);
  const { description, productId, status, idempotencyKey, preauthorize } = body;
  if (description !== undefined && description !== null && typeof description !== 'string') {
    throw bad('Description must be a string');
  }
  if (typeof description === 'string' && description.length > 1000) {
    throw bad('Description must be at most 1000 characters');
  }
  if (productId !== undefined && productId !== null && !isUuid(productId)) throw bad('Product ID must be a valid UUID');
  let normalizedStatus: PaymentStatus | null = null;
  if (status !== undefined && status !== null) {
    const upper = typeof status === 'string' ? status.trim().toUpperCase() : '';
    if (!PAYMENT_STATUSES.includes(upper as PaymentStatus)) {
      throw bad(`Status must be one of ${PAYMENT_STATUSES.join(', ')}`);
    }
    normalizedStatus = upper as PaymentStatus;
  }
  if (
    idempotencyKey !== undefined &&
    idempotencyKey !== null &&
    (typeof idempotencyKey !== 'string' || idempotencyKey.trim() === '' || idempotencyKey.length > 255)
  ) {
    throw bad('Idempotency key must be a non-empty string of at most 255 characters');
  }
  if (preauthorize !== undefined && preauthorize !== null && typeof preauthorize !== 'boolean') {
    throw bad('Preauthorize must be a boolean');
  }
  return {
    amountCents,
    description: typeof description === 'string' && description.trim() !== '' ? description : null,
    productId: typeof productId === 'string' ? productId.toLowerCase() : null,
    status: normalizedStatus,
    idempotencyKey: typeof idempotencyKey === 'string' ? idempotencyKey : null,
    preauthorize: preauthorize === true,
  };
}

/** The optional `{amount}` of a capture: dollars, all of the hold when absent. */
export function parseCaptureBody(body: unknown): number | undefined {
  if (body === undefined || body === null) return undefined;
  if (!isObject(body)) throw bad('Request body must be a JSON object');
  if (body.amount === undefined || body.amount === null) return undefined;
  return parseDollars(body.amount);
}

/** The optional `{amount?, idempotencyKey?}` of a refund: dollars, all that is left when absent. */
export function parseRefundBody(body: unknown): { amountCents: number | undefined; idempotencyKey: string | null } {
  if (body === undefined || body === null) return { amountCents: undefined, idempotencyKey: null };
  if (!isObject(body)) throw bad('Request body must be a JSON object');
  const { amount, idempotencyKey } = body;
  if (idempotencyKey !== undefined && idempotencyKey !== null) {
    if (typeof idempotencyKey !== 'string' || idempotencyKey.trim() === '' || idempotencyKey.length > 255) {
      throw bad('idempotencyKey must be a non-empty string of at most 255 characters');
    }
  }
  return {
    amountCents: amount === undefined || amount === null ? undefined : parseDollars(amount),
    idempotencyKey: typeof idempotencyKey === 'string' ? idempotencyKey : null,
  };
}

/** `metadata: {email?, phone?}` of payments/setup and payments/intent. */
export function parseMetadata(value: unknown): PaymentMetadata {
  if (value === undefined || value === null) return {};
  if (!isObject(value)) throw bad('Metadata must be an object');
  const result: PaymentMetadata = {};
  for (const field of ['email', 'phone'] as const) {
    const entry = value[field];
    if (entry === undefined || entry === null || entry === '') continue;
    if (typeof entry !== 'string' || entry.length > 500) throw bad(`Metadata ${field} must be a string`);
    // Stored (gateway_intents, the simulated gateway) and sent to Stripe: refused before any of it.
    const problem = unstorableText(entry);
    if (problem) throw bad(`Metadata ${field} ${problem[0]!.toLowerCase()}${problem.slice(1)}`);
    result[field] = entry;
  }
  return result;
}

/** The body of POST /api/v1/payments/intent: amount in cents (4500 for $45.00), as the seed's example. */
export function parseIntentBody(body: unknown): {
  amountCents: number;
  paymentMethodTypes: string[] | undefined;
  metadata: PaymentMetadata;
} {
  if (!isObject(body)) throw bad('Request body must be a JSON object');
  const { amount, paymentMethodTypes } = body;
  if (typeof amount !== 'number' || !Number.isFinite(amount) || amount <= 0) {
    throw bad('Amount must be a positive number');
  }
  if (!Number.isInteger(amount)) throw bad('Amount must be a whole number of cents (e.g. 4500 for $45.00)');
  if (amount < 50) throw bad('Amount must be at least 50 cents');
  if (amount > MAX_AMOUNT_CENTS) throw bad(`Amount must be at most ${MAX_AMOUNT_CENTS} cents`);
  let types: string[] | undefined;
  if (paymentMethodTypes !== undefined && paymentMethodTypes !== null) {
    if (
      !Array.isArray(paymentMethodTypes) ||
      paymentMethodTypes.length > 20 ||
      !paymentMethodTypes.every((type) => typeof type === 'string' && /^[a-z_]{1,64}$/.test(type))
    ) {
      throw bad('Payment method types must be an array of Stripe payment method types, e.g. ["card", "klarna"]');
    }
    types = paymentMethodTypes.length > 0 ? [...new Set(paymentMethodTypes as string[])] : undefined;
  }
  return { amountCents: amount, paymentMethodTypes: types, metadata: parseMetadata(body.metadata) };
}
