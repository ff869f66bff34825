import { ApiError } from './http/api-error.ts';

/**
 * Money: the one place where an amount changes unit. Inside the server every amount is an integer number of
 * cents; the HTTP edge and the operator CLI speak dollars. Amounts are read as decimal text, never multiplied
 * as floating point: 19.99 is 1999 cents, and 5e-324, 1e-9 or 0.1 + 0.2 (0.30000000000000004) are not whole
 * cents at all.
 */

/** The largest amount a payment may have: $1,000,000. */
export const MAX_AMOUNT_CENTS = 100_000_000;

/** The largest amount that fits the database's integer columns. */
const MAX_STORABLE_CENTS = 2_147_483_647;

/**
 * Dollars as a client or an operator writes them, a JSON number (19.99) or a decimal string ("19.99",
 * " 12.50 "), -> integer cents. Null unless it is a non-negative amount with at most two decimals (zeros
 * after them aside: "12.340") that fits the database. A number is read as its shortest decimal form, which
 * is the JSON text that produced it; a number that needs an exponent there (1e-7, 1e21) is never whole cents
 * within range. Callers check their own lower and upper bounds, with their own messages.
 */
export function dollarsToCents(value: number | string): number | null {
  const text = typeof value === 'number' ? (Number.isFinite(value) ? String(value) : '') : value.trim();
  const match = /^(\d+)(?:\.(\d+))?$/.exec(text);
  if (!match) return null;
  const whole = match[1]!;
  const fraction = match[2] ?? '';
  if (/[^0]/.test(fraction.slice(2))) return null;
  const cents = Number(whole) * 100 + Number(fraction.slice(0, 2).padEnd(2, '0'));
  return Number.isSafeInteger(cents) && cents <= MAX_STORABLE_CENTS ? cents : null;
}

/**
 * An optional dollars field of an operator's request or command -> cents: undefined when absent, a 400 that
 * names the field when it is not an amount.
 */
export function optionalDollarsToCents(value: number | string | undefined, field: string): number | undefined {
  if (value === undefined) return undefined;
  const cents = dollarsToCents(value);
  if (cents === null) throw new ApiError(400, `${field} must be an amount in dollars with at most two decimals`);
  return cents;
}

/** Integer cents to a dollar number (100.5 for 10050), as the API's JSON amounts are written. */
export function centsToDollars(cents: number): number {
  return Math.round(cents) / 100;
}

/** Integer cents to a two-decimals string ("99.99"), as bundles, messages and NMI's amounts are written. */
export function centsToDecimalString(cents: number): string {
  const sign = cents < 0 ? '-' : '';
  const absolute = Math.abs(Math.round(cents));
  return `${sign}${Math.floor(absolute / 100)}.${String(absolute % 100).padStart(2, '0')}`;
}
