import { z } from 'zod';

/**
 * The path, query and header parameters routes share, each described once: the API reference shows the same
 * words wherever a parameter appears. A route keeps its own validation (several check a value by hand so their
 * error message is the documented one) and takes the description from here:
 * - `*Param` schemas are the ones validated as UUIDs by zod (the admin API's path parameters);
 * - `textParam(name)` is text a handler checks itself, described as `name`.
 */
export const PARAMETER_DESCRIPTIONS = {
  organizationId: 'The organization (its id, a UUID)',
  caseId: 'The case (its id, a UUID)',
  caseIdOrShortId: 'The case: its id (a UUID) or its short id (e.g. ADA-TOSXM, any case)',
  paymentId: 'The payment of the case (its id, a UUID)',
  formId: 'The form (its id, a UUID)',
  bundleId: 'The product bundle (its id, a UUID)',
  apiKeyId: 'The API key (its id, a UUID, not the key)',
  webhookId: 'The webhook endpoint (its id, a UUID)',
  deliveryId: 'The delivery of an event to the webhook endpoint (its id, a UUID)',
  promoCodeId: 'The promo code (its id, a UUID)',
  staffId: 'The staff member (their id, a UUID)',
  assigneeId: 'Only cases assigned to this staff member (their id, a UUID)',
  stripeSignature: "Stripe's signature of the raw body (the `Stripe-Signature` header Stripe sends)",
} as const;

export type ParameterName = keyof typeof PARAMETER_DESCRIPTIONS;

/** Text a handler checks itself, described as the parameter `name`. */
export function textParam(name: ParameterName, max?: number): z.ZodString {
  const text = max === undefined ? z.string() : z.string().max(max);
  return text.describe(PARAMETER_DESCRIPTIONS[name]);
}

export const organizationIdParam = z.uuid().describe(PARAMETER_DESCRIPTIONS.organizationId);
export const apiKeyIdParam = z.uuid().describe(PARAMETER_DESCRIPTIONS.apiKeyId);
export const bundleIdParam = z.uuid().describe(PARAMETER_DESCRIPTIONS.bundleId);
export const webhookIdParam = z.uuid().describe(PARAMETER_DESCRIPTIONS.webhookId);
export const deliveryIdParam = z.uuid().describe(PARAMETER_DESCRIPTIONS.deliveryId);
export const promoCodeIdParam = z.uuid().describe(PARAMETER_DESCRIPTIONS.promoCodeId);

/** `{ organizationId }`: the path of the admin API's routes about one organization. */
export const organizationPathParams = z.object({ organizationId: organizationIdParam });
