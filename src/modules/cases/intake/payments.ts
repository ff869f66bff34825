import { z } from 'zod';
import type { Queryable } from '../../../db/database.ts';
import { dollarsToCents, MAX_AMOUNT_CENTS } from '../../../money.ts';
import { isUuid } from '../../../uuid.ts';
import type { Tenant } from '../../../http/gate.ts';

/**
 * The payment fields of an intake, as validated for shape: amounts in cents, promo codes merged from
 * `promoCodes` and `promoCode`. They are stored on the case row by the intake itself.
 */
export interface IntakePaymentFields {
  amountCents?: number;
  description?: string;
  stripeSetupId?: string;
  stripePaymentId?: string;
  nmiPaymentToken?: string;
  /**
   * With an nmiPaymentToken: true charges the card now (a sale); otherwise the card is only saved in NMI's
   * Customer Vault, as a SetupIntent saves one, and the amount is owed.
   */
  nmiChargeNow?: boolean;
  productBundleId?: string;
  promoCodes: string[];
}

/**
 * The payment seam of POST /api/v1/dynamic-case. The intake validates the request, then calls
 * `prepare` OUTSIDE any transaction (a processor may call Stripe or NMI there and throw an ApiError 4xx
 * on a decline or an unknown intent; nothing has been written yet), then opens the one intake
 * transaction and calls `record` INSIDE it once the case row exists (payment rows written there commit
 * or roll back with the case). A `paymentId` returned by `record` is added to the success body's data.
 * `prepare` resolves to undefined when there is nothing to record: `record` is then not called, and an
 * intake with nothing else to write needs no transaction. An intake without payment fields
 * (`hasPaymentFields`) has nothing to record, and `prepare` is not called for it. A duplicate
 * idempotencyKey is answered 409 before `prepare` is called (when the intake has payment fields; else by
 * the write itself). When the intake fails after `prepare` (its write refused or failed), `abandon` undoes
 * what `prepare` did that no case accounts for; it never throws (what it cannot undo is left to
 * `care360 payments orphans`).
 */
export interface IntakePaymentProcessor {
  prepare(input: {
    tenant: Tenant;
    idempotencyKey?: string;
    payment: IntakePaymentFields;
    patientEmail: string;
  }): Promise<unknown>;
  record(
    tx: Queryable,
    input: { tenant: Tenant; caseId: string; patientId: string; prepared: unknown },
  ): Promise<{ paymentId?: string }>;
  /** Optional: a processor whose `prepare` does nothing to undo has none. */
  abandon?(input: { tenant: Tenant; caseId: string; prepared: unknown }): Promise<void>;
}

/** The default: shape validation only (done by the schema); no gateway call, no payment row. */
export const shapeOnlyPaymentProcessor: IntakePaymentProcessor = {
  prepare: async () => undefined,
  record: async () => ({}),
};

/** True when the intake sent any payment field (an amount, a gateway reference, a bundle or a promo code). */
export function hasPaymentFields(payment: IntakePaymentFields): boolean {
  return (
    payment.amountCents !== undefined ||
    payment.description !== undefined ||
    payment.stripeSetupId !== undefined ||
    payment.stripePaymentId !== undefined ||
    payment.nmiPaymentToken !== undefined ||
    payment.nmiChargeNow !== undefined ||
    payment.productBundleId !== undefined ||
    payment.promoCodes.length > 0
  );
}

/** `paymentAmount` (dollars, a number or a numeric string) -> cents; undefined unless 0.01 to the maximum. */
function paymentAmountCents(value: number | string): number | undefined {
  const cents = dollarsToCents(value);
  return cents !== null && cents >= 1 && cents <= MAX_AMOUNT_CENTS ? cents : undefined;
}

const optionalText = (max: number) =>
  z.string({ error: 'Must be a string' }).max(max, `Must be at most ${max} characters`).nullish();

/**
 * The payment fields' rules that a type and a length do not say, applied by the schema below. An empty string
 * counts as absent.
 */
export const paymentFieldRules = {
  amount: (value: number | string) => paymentAmountCents(value) !== undefined,
  stripeSetupId: (value: string) => value === '' || /^seti_[A-Za-z0-9]+$/.test(value),
  stripePaymentId: (value: string) => value === '' || /^pi_[A-Za-z0-9]+$/.test(value),
  nmiPaymentToken: (value: string) => value === '' || /^[A-Za-z0-9_-]{1,255}$/.test(value),
  productBundleId: (value: string) => value === '' || isUuid(value),
};

/** A string that must satisfy `rule` (one of the rules above). */
const patterned = (rule: (value: string) => boolean, message: string) =>
  z.string({ error: 'Must be a string' }).refine(rule, { message }).nullish();

/** Blank promo codes are ignored. */
const promoCode = z.string({ error: 'Must be a string' }).max(64, 'Must be at most 64 characters');

/** The wire shape of the payment fields (all optional), merged into the intake body schema. */
export const intakePaymentShape = {
  paymentAmount: z
    .union([z.number(), z.string()], { error: 'Must be a positive amount in dollars' })
    .refine(paymentFieldRules.amount, {
      message: `Must be a positive amount in dollars with at most two decimals (at most ${MAX_AMOUNT_CENTS / 100})`,
    })
    .nullish()
    .describe('Amount in US dollars, e.g. 0.5 or 600 (the original, non-discounted amount)'),
  paymentDescription: optionalText(1000),
  stripeSetupId: patterned(paymentFieldRules.stripeSetupId, 'Must be a Stripe SetupIntent id (seti_...)'),
  stripePaymentId: patterned(
    paymentFieldRules.stripePaymentId,
    'Must be a Stripe PaymentIntent id (pi_...), not its client secret',
  ),
  nmiPaymentToken: patterned(paymentFieldRules.nmiPaymentToken, 'Must be an NMI Collect.js payment token'),
  nmiChargeNow: z
    .boolean({ error: 'Must be true or false' })
    .nullish()
    .describe('With nmiPaymentToken: true charges the card at once (a sale); otherwise the card is only saved'),
  productBundleId: patterned(paymentFieldRules.productBundleId, 'Must be a UUID'),
  promoCodes: z.array(promoCode, { error: 'Must be an array of strings' }).max(20, 'At most 20 promo codes').nullish(),
  promoCode: promoCode.nullish(),
};

type PaymentWire = {
  [Key in keyof typeof intakePaymentShape]?: z.infer<(typeof intakePaymentShape)[Key]>;
};

/** Wire fields (already shape-validated) -> the stored form. Empty strings count as absent. */
export function paymentFieldsOf(body: PaymentWire): IntakePaymentFields {
  const present = (value: string | null | undefined) => (value ? value : undefined);
  const codes = [...(body.promoCodes ?? []), ...(body.promoCode ? [body.promoCode] : [])];
  const amount = body.paymentAmount;
  return {
    amountCents: amount === null || amount === undefined ? undefined : paymentAmountCents(amount),
    description: present(body.paymentDescription),
    stripeSetupId: present(body.stripeSetupId),
    stripePaymentId: present(body.stripePaymentId),
    nmiPaymentToken: present(body.nmiPaymentToken),
    ...(body.nmiChargeNow === null || body.nmiChargeNow === undefined ? {} : { nmiChargeNow: body.nmiChargeNow }),
    productBundleId: present(body.productBundleId),
    promoCodes: [...new Set(codes.map((code) => code.trim()).filter((code) => code !== ''))],
  };
}
