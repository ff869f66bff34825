import { z } from 'zod';
import { ApiError } from './api-error.ts';

/**
 * The pagination every list endpoint shares: `limit` (capped) and an opaque `cursor` that names the
 * position after the last item of the previous page (keyset pagination: stable while rows are added,
 * and as cheap on the thousandth page as on the first).
 */

/** The most items one page may hold. A larger `limit` is a 400, not silently reduced. */
export const MAX_PAGE_SIZE = 100;
/** The page size when `limit` is absent. */
export const DEFAULT_PAGE_SIZE = 25;
/** A cursor is ours and short; anything longer is not one. */
const MAX_CURSOR_LENGTH = 512;

/** The `limit` query parameter: an integer from 1 to `max` (default MAX_PAGE_SIZE). */
export function limitSchema(options: { max?: number; default?: number } = {}) {
  const max = Math.min(options.max ?? MAX_PAGE_SIZE, MAX_PAGE_SIZE);
  const fallback = Math.min(options.default ?? DEFAULT_PAGE_SIZE, max);
  return z.coerce
    .number()
    .int()
    .min(1)
    .max(max)
    .default(fallback)
    .describe(`Items per page, 1 to ${max} (default ${fallback})`);
}

/** The `cursor` query parameter: the `nextCursor` of the previous page. */
export const cursorSchema = z
  .string()
  .min(1)
  .max(MAX_CURSOR_LENGTH)
  .optional()
  .describe('The nextCursor of the previous page; absent for the first page');

/** An opaque cursor for a position (base64url of JSON). Not a secret: it only names a position. */
export function encodeCursor(position: Record<string, string | number>): string {
  return Buffer.from(JSON.stringify(position), 'utf8').toString('base64url');
}

/** The position a cursor names, checked against `schema`; a cursor that is not ours is a 400. */
export function decodeCursor<T>(cursor: string, schema: z.ZodType<T>): T {
  let value: unknown;
  try {
    value = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8'));
  } catch {
    throw new ApiError(400, 'Invalid cursor');
  }
  const parsed = schema.safeParse(value);
  if (!parsed.success) throw new ApiError(400, 'Invalid cursor');
  return parsed.data;
}

/**
 * One page from `limit + 1` rows fetched in order: the extra row, if any, only says that a next page
 * exists, and the cursor names the last row that is returned.
 */
export function toPage<Row>(
  rows: Row[],
  limit: number,
  positionOf: (row: Row) => Record<string, string | number>,
): { items: Row[]; nextCursor: string | null } {
  const items = rows.slice(0, limit);
  const last = items[items.length - 1];
  return { items, nextCursor: rows.length > limit && last !== undefined ? encodeCursor(positionOf(last)) : null };
}
