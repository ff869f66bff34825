import { ApiError } from '../../http/api-error.ts';

/** The documented 400 of POST /api/v1/dynamic-case: `Validation failed: <field path>: <message>`. */
export function validationError(fieldPath: string, message: string): ApiError {
  return new ApiError(400, `Validation failed: ${fieldPath}: ${message}`);
}

/** The documented 400 for a required question left unanswered (the Case Create endpoint's "Missing Required Answer"). */
export function answerRequiredError(questionText: string, questionId: string): ApiError {
  return new ApiError(400, `Question '${questionText}' with questionId: ${questionId}: Answer is required`);
}

/**
 * A real calendar date in `YYYY-MM-DD` (proleptic Gregorian), from the year 0100: years 0000-0099 are refused,
 * because JavaScript's Date.UTC reads them as 1900-1999 and a client would see another year.
 * Arithmetic only, with no Date or regular expression: it runs for several fields of every intake.
 */
export function isIsoDate(value: string): boolean {
  if (value.length !== 10 || value.charCodeAt(4) !== 0x2d || value.charCodeAt(7) !== 0x2d) return false;
  const number = (from: number, to: number) => {
    let result = 0;
    for (let index = from; index < to; index++) {
      const digit = value.charCodeAt(index) - 0x30;
      if (digit < 0 || digit > 9) return -1;
      result = result * 10 + digit;
    }
    return result;
  };
  const year = number(0, 4);
  const month = number(5, 7);
  const day = number(8, 10);
  if (year < 100 || month < 1 || month > 12 || day < 1) return false;
  const leap = year % 4 === 0 && (year % 100 !== 0 || year % 400 === 0);
  return day <= (month === 2 ? (leap ? 29 : 28) : [4, 6, 9, 11].includes(month) ? 30 : 31);
}

/** Parses a JSON string, or undefined when it is not JSON. */
export function parseJson(text: string): unknown {
  try {
    return JSON.parse(text) as unknown;
  } catch {
    return undefined;
  }
}

export function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** Short, safe rendering of a client value inside an error message (never more than 60 characters). */
export function quote(value: unknown): string {
  const text = typeof value === 'string' ? value : (JSON.stringify(value) ?? String(value));
  return `'${text.length > 60 ? `${text.slice(0, 57)}...` : text}'`;
}
