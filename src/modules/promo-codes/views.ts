import { z } from 'zod';
import type { PromoCodeRow } from './repository.ts';

/** A promo code as the admin API and the CLI show it (a flat discount in dollars). */
export const promoView = z.object({
  id: z.uuid(),
  organizationId: z.uuid().nullable().describe('null: a global code'),
  code: z.string(),
  percentDiscount: z.number().nullable(),
  flatDiscount: z.number().nullable().describe('Dollars'),
  productBundleId: z.uuid().nullable(),
  expiresAt: z.string().nullable(),
  maxRedemptions: z.number().nullable(),
  redemptionCount: z.number(),
  disabledAt: z.string().nullable(),
  createdAt: z.string(),
});

export function promoJson(row: PromoCodeRow): z.infer<typeof promoView> {
  return {
    id: row.id,
    organizationId: row.organization_id,
    code: row.code,
    percentDiscount: row.percent_discount === null ? null : Number(row.percent_discount),
    flatDiscount: row.flat_discount_cents === null ? null : row.flat_discount_cents / 100,
    productBundleId: row.product_bundle_id,
    expiresAt: row.expires_at?.toISOString() ?? null,
    maxRedemptions: row.max_redemptions,
    redemptionCount: row.redemption_count,
    disabledAt: row.disabled_at?.toISOString() ?? null,
    createdAt: row.created_at.toISOString(),
  };
}
