import { z } from 'zod';
import { centsToDecimalString } from '../../money.ts';
import type { ProductBundleRow, ProductRow } from './repository.ts';

/** Product bundles and products as the API and the CLI show them (prices as decimal strings). */
export const bundleView = z.object({
  id: z.uuid(),
  name: z.string(),
  imageUrl: z.string().nullable(),
  description: z.string().nullable(),
  price: z.string().describe('Decimal string, e.g. "99.99"'),
  priceUnit: z.string(),
  initialDiscount: z.string().describe('Decimal string, e.g. "10.00"'),
  isSoldOut: z.boolean(),
  isVisible: z.boolean(),
});

export const productView = z.object({
  id: z.uuid(),
  name: z.string(),
  description: z.string().nullable(),
  price: z.string(),
  priceUnit: z.string(),
});

export function bundleJson(row: ProductBundleRow): z.infer<typeof bundleView> {
  return {
    id: row.id,
    name: row.name,
    imageUrl: row.image_url,
    description: row.description,
    price: centsToDecimalString(row.price_cents),
    priceUnit: row.price_unit,
    initialDiscount: centsToDecimalString(row.initial_discount_cents),
    isSoldOut: row.is_sold_out,
    isVisible: row.is_visible,
  };
}

export function productJson(row: ProductRow): z.infer<typeof productView> {
  return {
    id: row.id,
    name: row.name,
    description: row.description,
    price: centsToDecimalString(row.price_cents),
    priceUnit: row.price_unit,
  };
}
